/**
 * PromQL conformance against a real Prometheus 2.42: the same points are loaded into both
 * (promql_peers.ts), then every expression of the corpus is evaluated by both as instant
 * queries at three times (on a scrape, between scrapes, and past the data's end, where only
 * the lookback reaches it) and as range queries at two steps, and the answers must agree:
 * same result type, same series (labels), same timestamps, values within 1e-9 relative; and
 * where Prometheus refuses an expression, EMMS refuses it with the same status and error type.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DURATION_S, T0 } from './promql_dataset.js';
import { startPeers, type Peers } from './promql_peers.js';

/** At least 100 expressions, covering each construct of the subset (docs/promql.md). */
export const CORPUS: readonly string[] = [
  // selectors and matchers
  'http_requests_total', 'http_requests_total{code="200"}', 'http_requests_total{code!="200"}', 'http_requests_total{instance=~"i[01]"}',
  'http_requests_total{instance!~"i[01]"}', 'http_requests_total{instance=~"i"}', 'http_requests_total{code=~"2.."}', 'node_cpu_usage',
  'node_cpu_usage offset 5m', 'node_cpu_usage{region="eu"} offset 1h', '{__name__="node_cpu_usage"}', '{__name__=~"node_cpu_usage|temperature"}',
  'temperature', 'queue_depth', '{job="api", code="500"}', 'node_cpu_usage{host=~"h[0-2]", region!="us"}', 'node_cpu_usage offset 2h',
  // range functions
  'rate(http_requests_total[5m])', 'rate(http_requests_total[1m])', 'rate(http_requests_total[10m] offset 10m)', 'irate(http_requests_total[5m])',
  'increase(http_requests_total[5m])', 'increase(http_requests_total[1h])', 'increase(http_requests_total[2h])', 'delta(node_cpu_usage[5m])',
  'delta(temperature[10m])', 'delta(http_requests_total[5m])', 'avg_over_time(node_cpu_usage[10m])', 'min_over_time(node_cpu_usage[10m])',
  'max_over_time(node_cpu_usage[10m])', 'sum_over_time(node_cpu_usage[10m])', 'count_over_time(node_cpu_usage[10m])', 'last_over_time(node_cpu_usage[10m])',
  'quantile_over_time(0.9, node_cpu_usage[10m])', 'quantile_over_time(0.5, node_cpu_usage[30m])', 'quantile_over_time(0, temperature[10m])',
  'quantile_over_time(0.75, http_requests_total[1h])', 'avg_over_time(temperature[3m])', 'count_over_time(queue_depth[5m])', 'rate(queue_depth[5m])',
  'irate(queue_depth[10m])', 'increase(request_duration_seconds_bucket[5m])', 'max_over_time(temperature[1m] offset 30m)',
  'rate(http_requests_total{code="500"}[15m])', 'rate(http_requests_total[30s])', 'last_over_time(temperature[30m])', 'count_over_time(temperature[30m])',
  'min_over_time(temperature[20m])', 'sum_over_time(queue_depth[7m])', 'avg_over_time(http_requests_total[90s])',
  // aggregations
  'sum(http_requests_total)', 'sum by (code) (http_requests_total)', 'sum without (instance) (http_requests_total)', 'avg by (region) (node_cpu_usage)',
  'min by (region) (node_cpu_usage)', 'max(node_cpu_usage)', 'count(node_cpu_usage)', 'count by (region) (node_cpu_usage)', 'topk(2, node_cpu_usage)',
  'bottomk(2, node_cpu_usage)', 'topk by (region) (1, node_cpu_usage)', 'sum by (code) (rate(http_requests_total[5m]))',
  'sum(rate(http_requests_total[5m])) by (instance)', 'avg without (host) (node_cpu_usage)', 'max by (job) (http_requests_total)', 'sum(node_cpu_usage) by ()',
  'topk(3, rate(http_requests_total[5m]))', 'bottomk(1, avg_over_time(node_cpu_usage[10m]))', 'sum by (le) (rate(request_duration_seconds_bucket[5m]))',
  'avg(rate(http_requests_total[5m]))', 'sum without (le) (request_duration_seconds_bucket)', 'count(http_requests_total > 1000)', 'topk(0, node_cpu_usage)',
  'bottomk by (code) (2, increase(http_requests_total[10m]))',
  // histogram_quantile
  'histogram_quantile(0.9, rate(request_duration_seconds_bucket[5m]))', 'histogram_quantile(0.5, sum by (le) (rate(request_duration_seconds_bucket[5m])))',
  'histogram_quantile(0.99, sum by (le, instance) (rate(request_duration_seconds_bucket[10m])))', 'histogram_quantile(0, request_duration_seconds_bucket)',
  'histogram_quantile(1, request_duration_seconds_bucket)', 'histogram_quantile(1.5, request_duration_seconds_bucket)', 'histogram_quantile(0.25, request_duration_seconds_bucket)',
  // arithmetic
  'node_cpu_usage * 2', '2 * node_cpu_usage', 'node_cpu_usage / 3', 'node_cpu_usage % 7', 'node_cpu_usage ^ 2', '100 - node_cpu_usage', '-node_cpu_usage',
  'node_cpu_usage + node_cpu_usage', 'node_cpu_usage - node_cpu_usage offset 5m', 'rate(http_requests_total[5m]) / on(instance, code, job) rate(http_requests_total[10m])',
  'sum by (instance) (rate(http_requests_total{code="500"}[5m])) / sum by (instance) (rate(http_requests_total[5m]))', '1 + 2 * 3', '2 ^ 3 ^ 2', '(1 + 2) * 3',
  '10 % 3', '-2 ^ 2', 'node_cpu_usage / 0', 'sum(node_cpu_usage) / count(node_cpu_usage)', 'avg(node_cpu_usage) - sum(node_cpu_usage) / count(node_cpu_usage)',
  '(node_cpu_usage > 40) * 2', '-(rate(http_requests_total[5m]))', '+node_cpu_usage', 'node_cpu_usage{host="h0"} + on() vector(1)',
  'http_requests_total / ignoring(code) http_requests_total', 'node_cpu_usage - ignoring(region) node_cpu_usage offset 1m',
  // functions
  'time()', 'time() - 60', 'vector(1)', 'vector(time())', 'abs(-node_cpu_usage)', 'abs(node_cpu_usage - 50)', 'clamp_min(node_cpu_usage, 40)',
  'clamp_max(node_cpu_usage, 60)', 'round(node_cpu_usage)', 'round(node_cpu_usage, 0.5)', 'round(node_cpu_usage, 10)', 'round(-node_cpu_usage, 0.1)',
  // comparisons
  'node_cpu_usage > 50', 'node_cpu_usage > bool 50', '50 < node_cpu_usage', '50 < bool node_cpu_usage', 'node_cpu_usage == node_cpu_usage',
  'node_cpu_usage != bool node_cpu_usage offset 1m', 'rate(http_requests_total[5m]) >= 0.5', '1 < bool 2', '2 == bool 2',
  'node_cpu_usage <= on(host, region) node_cpu_usage offset 10m', 'sum(http_requests_total) > bool 1000', 'temperature > 20', 'temperature < bool 21',
  // refused by both
  'rate(node_cpu_usage)', 'sum(node_cpu_usage[5m])', '1 > 2', 'foo{', 'nonexistent_function(node_cpu_usage)',
];

/**
 * Expressions whose answers differ on purpose, with the reason (docs/promql.md). Empty: every
 * difference found so far was a bug and was fixed.
 */
export const DELIBERATE_DIFFERENCES: Readonly<Record<string, string>> = {};

interface Answer {
  status: number;
  body: any;
}

async function ask(base: string, path: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await fetch(`${base}${path}?${new URLSearchParams(params)}`, { headers });
  return { status: r.status, body: await r.json() };
}

function sameNumber(a: string, b: string): boolean {
  if (a === b) return true;
  const x = Number(a === '+Inf' ? 'Infinity' : a === '-Inf' ? '-Infinity' : a);
  const y = Number(b === '+Inf' ? 'Infinity' : b === '-Inf' ? '-Infinity' : b);
  if (Number.isNaN(x) || Number.isNaN(y)) return Number.isNaN(x) && Number.isNaN(y);
  if (!Number.isFinite(x) || !Number.isFinite(y)) return x === y;
  return Math.abs(x - y) <= 1e-9 * Math.max(Math.abs(x), Math.abs(y)) || Math.abs(x - y) < 1e-12;
}

function byLabels(result: any[]): Map<string, any> {
  return new Map(result.map((r) => [JSON.stringify(Object.entries(r.metric).sort()), r]));
}

/** Undefined when the answers agree, else what differs. */
export function difference(prom: Answer, emms: Answer): string | undefined {
  if (prom.status !== 200 || emms.status !== 200) {
    if (prom.status !== emms.status) return `status ${prom.status} (${prom.body.error}) vs ${emms.status} (${emms.body.error ?? ''})`;
    return prom.body.errorType === emms.body.errorType ? undefined : `errorType ${prom.body.errorType} vs ${emms.body.errorType}`;
  }
  const p = prom.body.data;
  const e = emms.body.data;
  if (p.resultType !== e.resultType) return `resultType ${p.resultType} vs ${e.resultType}`;
  if (p.resultType === 'scalar') return p.result[0] === e.result[0] && sameNumber(p.result[1], e.result[1]) ? undefined : `scalar ${p.result} vs ${e.result}`;
  const pm = byLabels(p.result);
  const em = byLabels(e.result);
  for (const k of pm.keys()) if (!em.has(k)) return `series ${k} missing from EMMS`;
  for (const k of em.keys()) if (!pm.has(k)) return `series ${k} only in EMMS`;
  for (const [k, ps] of pm) {
    const es = em.get(k);
    const pv: [number, string][] = p.resultType === 'vector' ? [ps.value] : ps.values;
    const ev: [number, string][] = p.resultType === 'vector' ? [es.value] : es.values;
    if (pv.length !== ev.length) return `series ${k}: ${pv.length} vs ${ev.length} samples (first times ${pv[0]?.[0]} vs ${ev[0]?.[0]})`;
    for (let i = 0; i < pv.length; i++) {
      if (pv[i]![0] !== ev[i]![0] || !sameNumber(pv[i]![1], ev[i]![1])) return `series ${k} sample ${i}: ${JSON.stringify(pv[i])} vs ${JSON.stringify(ev[i])}`;
    }
  }
  return undefined;
}

/** Instant query times: on a scrape, between scrapes, and 3 minutes past the data's end. */
const INSTANT_TIMES = [T0 + 1800, T0 + 3607.5, T0 + DURATION_S + 180];
/** Range queries: 60 s steps over all data plus 10 minutes, and 37 s steps (never on a scrape) over the gap. */
const RANGES = [
  { start: T0 + 600, end: T0 + DURATION_S + 600, step: '60' },
  { start: T0 + 2900, end: T0 + 4500, step: '37s' },
];

describe('PromQL conformance with Prometheus 2.42', () => {
  let peers: Peers;
  beforeAll(async () => {
    peers = await startPeers();
  }, 120_000);
  afterAll(async () => {
    await peers?.close();
  });

  it(`agrees on ${CORPUS.length} expressions, instant and range`, async () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(100);
    const failures: string[] = [];
    let evaluations = 0;
    let passed = 0;
    let deliberate = 0;
    let nonEmpty = 0;
    let refused = 0;
    for (const query of CORPUS) {
      const requests: Array<[string, Record<string, string>]> = [
        ...INSTANT_TIMES.map((t): [string, Record<string, string>] => ['/api/v1/query', { query, time: String(t) }]),
        ...RANGES.map((r): [string, Record<string, string>] => ['/api/v1/query_range', { query, start: String(r.start), end: String(r.end), step: r.step }]),
      ];
      for (const [path, params] of requests) {
        evaluations++;
        const prom = await ask(peers.prometheus.base, path, params);
        const emms = await ask(`${peers.emms.base}/prometheus`, path, params, peers.auth);
        const diff = difference(prom, emms);
        if (prom.status !== 200) refused++;
        else if (prom.body.data.resultType === 'scalar' || prom.body.data.result.length > 0) nonEmpty++;
        if (diff === undefined) passed++;
        else if (DELIBERATE_DIFFERENCES[query] !== undefined) deliberate++;
        else failures.push(`${path} ${JSON.stringify(params)}: ${diff}`);
      }
    }
    console.log(`PromQL conformance: ${CORPUS.length} expressions, ${evaluations} evaluations: ${passed} agree, ${deliberate} deliberately different, ${failures.length} differ; ${nonEmpty} with data, ${refused} refused by both`);
    expect(failures).toEqual([]);
    // A corpus that mostly compared empty answers would prove nothing.
    expect(nonEmpty).toBeGreaterThan(0.85 * evaluations);
    expect(refused).toBe(6 * 5);
  }, 180_000);
});
