/**
 * Alert evaluation: rules × series → cycle time (target: 10,000 rules over 10,000 series in
 * ≤ 1 s per cycle; the seed asks < 5 s for 1,000+ rules).
 *
 * Series: M metric ids (`bench.metric.NNN`) × H hosts, 5 points each at 15 s. Rules, from a
 * fixed seed:
 *   85% `last` on a literal metric id with a threshold (about 1% of series violate),
 *   10% `last` on a regex over 5 metric ids (`bench\.metric\.01[0-4]`),
 *    5% `avg` over a 60 s window on a literal metric id (needs raw points every cycle).
 * So a rule matches H (literal) or 5·H (regex) series. Each timed cycle first moves the
 * newest values of 2% of the series, so transitions (pending/firing/resolved) keep happening.
 *
 * Two data sources: `memory` (an in-process stand-in: the alerting's own cost) and `engine`
 * (the real SQLite engine: adds its latest()/queryMetrics() cost). Reports the cold first
 * cycle (pattern matching is built then), steady cycles p50/p99, (rule, series) pairs per
 * second and heap growth. EMMS_BENCH_QUICK=1 (or --quick): 1,000 × 1,000 only, fewer cycles.
 * `--source=memory` or `--source=engine` runs one data source only.
 *
 * Run: npx tsx bench/alerts.bench.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { Alerting } from '../src/alerts/alerting.js';
import { createMetricsSystem } from '../src/index.js';
import type { MetricsSystem } from '../src/model/api.js';
import type { MetricDataPoint } from '../src/model/metric.js';
import { MemoryMetricsSystem } from '../tests/unit/alerts_memory_system.js';

const quick = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');
const CASES: Array<{ rules: number; series: number }> = quick
  ? [{ rules: 1_000, series: 1_000 }]
  : [{ rules: 1_000, series: 1_000 }, { rules: 10_000, series: 10_000 }];
const METRICS = 100;
const POINTS_PER_SERIES = 5;
const STEP_MS = 15_000;
const T0 = Date.UTC(2026, 0, 1);
const TASK_TIME_MS = quick ? 300 : 3_000;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const metricId = (m: number): string => `bench.metric.${String(m).padStart(3, '0')}`;

function seriesPoints(series: number, t: number, random: () => number): MetricDataPoint[] {
  const hosts = series / METRICS;
  const out: MetricDataPoint[] = [];
  for (let m = 0; m < METRICS; m++) {
    for (let h = 0; h < hosts; h++) {
      for (let k = POINTS_PER_SERIES - 1; k >= 0; k--) {
        out.push({ metricId: metricId(m), tags: { host: `h${h}`, dc: `dc${h % 4}` }, timestamp: t - k * STEP_MS, value: random() * 100 });
      }
    }
  }
  return out;
}

function rules(count: number, random: () => number): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (let i = 0; i < count; i++) {
    const kind = random();
    const m = Math.floor(random() * METRICS);
    const base = { rule_id: `r${i}`, name: `rule ${i}`, threshold_value: 99, comparison: '>', duration_seconds: 30, priority: 'MEDIUM' };
    if (kind < 0.85) out.push({ ...base, metric_pattern: metricId(m).replace(/\./g, '\\.') });
    else if (kind < 0.95) out.push({ ...base, metric_pattern: 'bench\\.metric\\.01[0-4]' });
    else out.push({ ...base, metric_pattern: metricId(m).replace(/\./g, '\\.'), aggregation: 'avg', window_seconds: 60, threshold_value: 90 });
  }
  return out;
}

function pairsOf(ruleSet: Array<Record<string, unknown>>, series: number): number {
  const hosts = series / METRICS;
  return ruleSet.reduce((n, r) => n + ((r.metric_pattern as string).includes('[') ? 5 * hosts : hosts), 0);
}

interface Row {
  source: string;
  rules: number;
  series: number;
  pairs: number;
  coldMs: number;
  p50Ms: number;
  p99Ms: number;
  cycles: number;
  pairsPerSec: number;
  heapMiB: number;
  firing: number;
  transitionsPerCycle: number;
}

async function runCase(source: 'memory' | 'engine', c: { rules: number; series: number }): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-alerts-bench-'));
  const random = rng(42);
  let system: MetricsSystem;
  let memory: MemoryMetricsSystem | null = null;
  if (source === 'memory') {
    memory = new MemoryMetricsSystem(dir);
    system = memory;
  } else {
    system = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 });
    await system.start();
  }
  const points = seriesPoints(c.series, T0, random);
  if (memory) for (const p of points) memory.add(p.metricId, p.tags!, p.timestamp as number, p.value);
  else for (let i = 0; i < points.length; i += 50_000) await system.collectMetrics(points.slice(i, i + 50_000));

  let now = T0;
  const alerting = new Alerting(system, {
    clock: { now: () => now },
    predefinedRules: false,
    // Anomaly rules are not part of this benchmark (see bench/iforest.bench.ts for detectors).
    detectorFactory: () => { throw new Error('no anomaly rules in this benchmark'); },
  });
  alerting.open();
  const ruleSet = rules(c.rules, random);
  for (const r of ruleSet) alerting.addRule('default', r);

  const cold = await alerting.evaluateOnce();
  if (cold.error) throw new Error(cold.error);
  const pairs = pairsOf(ruleSet, c.series);
  const hosts = c.series / METRICS;
  const heapBefore = process.memoryUsage().heapUsed;

  let transitions = 0;
  let timedCycles = 0;
  const bench = new Bench({ time: TASK_TIME_MS, warmupIterations: 1, iterations: 3 });
  bench.add(`${source} ${c.rules}x${c.series}`, async () => {
    now += STEP_MS;
    const moved: MetricDataPoint[] = [];
    for (let i = 0; i < c.series / 50; i++) {
      const m = Math.floor(random() * METRICS);
      const h = Math.floor(random() * hosts);
      moved.push({ metricId: metricId(m), tags: { host: `h${h}`, dc: `dc${h % 4}` }, timestamp: now, value: random() * 101 });
    }
    if (memory) for (const p of moved) memory.add(p.metricId, p.tags!, p.timestamp as number, p.value);
    else await system.collectMetrics(moved);
    const r = await alerting.evaluateOnce();
    if (r.error) throw new Error(r.error);
    transitions += r.transitions;
    timedCycles++;
  });
  await bench.run();
  const task = bench.tasks[0]!;
  const result = task.result as unknown as { latency: { p50: number; p99: number; samplesCount: number } };
  const firing = alerting.status('default').by_state.firing;
  const row: Row = {
    source, rules: c.rules, series: c.series, pairs,
    coldMs: cold.durationMs,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    cycles: result.latency.samplesCount,
    pairsPerSec: pairs / (result.latency.p50 / 1000),
    heapMiB: (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20,
    firing,
    transitionsPerCycle: transitions / Math.max(1, timedCycles),
  };
  await alerting.stop();
  if (source === 'engine') await system.stop();
  rmSync(dir, { recursive: true, force: true });
  return row;
}

const cpu = cpus();
process.stdout.write(`alert evaluation — ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, node ${process.version}${quick ? ' (quick)' : ''}\n`);
process.stdout.write('Timed cycles include ingesting the 2% moved points (memory: trivial; engine: one durable batch).\n\n');
const rows: Row[] = [];
const sourceArg = process.argv.find((a) => a.startsWith('--source='))?.slice('--source='.length);
const sources = (['memory', 'engine'] as const).filter((s) => sourceArg === undefined || s === sourceArg);
for (const c of CASES) for (const source of sources) rows.push(await runCase(source, c));
console.table(rows.map((r) => ({
  source: r.source,
  rules: r.rules,
  series: r.series,
  'rule×series pairs': r.pairs,
  'cold cycle ms': r.coldMs.toFixed(1),
  'cycle p50 ms': r.p50Ms.toFixed(1),
  'cycle p99 ms': r.p99Ms.toFixed(1),
  cycles: r.cycles,
  'pairs/s': Math.round(r.pairsPerSec).toLocaleString('en-US'),
  'heap Δ MiB': r.heapMiB.toFixed(1),
  firing: r.firing,
  'events/cycle': Math.round(r.transitionsPerCycle),
})));
const target = rows.find((r) => r.rules === 10_000 && r.series === 10_000 && r.source === 'memory');
if (target) process.stdout.write(`\n10,000 rules × 10,000 series (alerting alone): p50 ${target.p50Ms.toFixed(0)} ms per cycle — target ≤ 1000 ms: ${target.p50Ms <= 1000 ? 'met' : 'NOT met'}\n`);
