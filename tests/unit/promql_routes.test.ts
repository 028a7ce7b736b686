/**
 * The Prometheus-compatible routes and EMMS's own listing routes in-process, over a real
 * engine (SQLite in a temp dir, queries inline): parameters from the query string and from
 * form POSTs, Prometheus' success and error envelopes, tenant scoping, the name mapping with
 * colliding ids, and the API's value syntax (times, durations, Go float formatting).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpError, type HttpMethod, type HttpRequest, type RouteDefinition } from '../../src/http/route.js';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import { formatSampleValue, formatScalarValue, parseApiDuration, parseApiTime } from '../../src/promql/api_values.js';
import { DEFAULT_EVAL_LIMITS } from '../../src/promql/evaluator.js';
import { METRIC_ID_LABEL, PromNameMap, promLabelName, promMetricName } from '../../src/promql/name_mapping.js';
import { prometheusApiRoutes } from '../../src/promql/prometheus_routes.js';
import { MAX_LISTING_LIMIT, seriesListingRoutes } from '../../src/promql/series_listing_routes.js';
import { sanitizeLabelName, sanitizeMetricName } from '../../src/server/prometheus_text.js';
import { principal } from './route_test_kit.js';

let dir: string;
let engine: EngineMetricsSystem;
let routes: RouteDefinition[];
const T = 1_767_225_600_000;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-promql-routes-'));
  engine = new EngineMetricsSystem({ path: join(dir, 'p.db'), queryWorkers: 0 });
  await engine.start();
  const ts = Array.from({ length: 41 }, (_, k) => T + k * 15_000);
  await engine.collectSeries([
    { metricId: 'cpu.user', metricType: 'gauge', tags: { host: 'a', region: 'eu' }, timestamps: ts, values: ts.map((_, k) => k) },
    { metricId: 'cpu.user', metricType: 'gauge', tags: { host: 'b', region: 'us' }, timestamps: ts, values: ts.map((_, k) => 2 * k) },
    { metricId: 'cpu_user', metricType: 'gauge', tags: { host: 'a', region: 'eu' }, timestamps: ts, values: ts.map(() => 7) },
    { metricId: 'req.total', metricType: 'counter', tags: { code: '200', __raw: 'x' }, timestamps: ts, values: ts.map((_, k) => k * 10) },
  ]);
  await engine.forTenant('other').collectSeries([{ metricId: 'secret.metric', tags: { host: 'z' }, timestamps: ts, values: ts.map(() => 1) }]);
  routes = [...prometheusApiRoutes(engine), ...seriesListingRoutes(engine)];
});

afterAll(async () => {
  await engine?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function call(method: HttpMethod, url: string, opts: { tenant?: string; form?: Record<string, string | string[]>; contentType?: string; routes?: RouteDefinition[] } = {}): Promise<{ status: number; body: any }> {
  const u = new URL(url, 'http://x');
  const candidates = opts.routes ?? routes;
  const route = candidates.find((r) => r.method === method && new RegExp(`^${r.pattern.replace(/:\w+/g, '([^/]+)')}$`).test(u.pathname));
  if (route === undefined) return { status: 404, body: undefined };
  const m = new RegExp(`^${route.pattern.replace(/:\w+/g, '([^/]+)')}$`).exec(u.pathname)!;
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(opts.form ?? {})) for (const x of [v].flat()) form.append(k, x);
  const req: HttpRequest = {
    method, path: u.pathname, params: m[1] === undefined ? {} : { name: decodeURIComponent(m[1]) }, query: u.searchParams,
    headers: opts.form === undefined ? {} : { 'content-type': opts.contentType ?? 'application/x-www-form-urlencoded; charset=utf-8' },
    body: undefined, remoteAddress: '127.0.0.1', principal: principal('reader', opts.tenant ?? 'default'),
  };
  if (route.bodyFormat === 'raw') req.rawBody = new TextEncoder().encode(form.toString());
  try {
    const res = await route.handler(req);
    // Matrices come pre-serialised, as the server sends them.
    const text = res.body instanceof Uint8Array ? new TextDecoder().decode(res.body) : res.body;
    const body = typeof text === 'string' && res.contentType === 'application/json' ? JSON.parse(text) : text;
    return { status: res.status ?? 200, body };
  } catch (err) {
    if (err instanceof HttpError) return { status: err.status, body: err.body };
    throw err;
  }
}

const t = (offsetS: number) => String(T / 1000 + offsetS);

describe('name mapping', () => {
  it('agrees with /federate and makes colliding ids distinct', () => {
    for (const id of ['cpu.user', 'a-b.c', '9lives', 'x:y']) expect(promMetricName(id)).toBe(sanitizeMetricName(id));
    for (const key of ['host', '__name__', '_x', '9k']) expect(promLabelName(key)).toBe(sanitizeLabelName(key));
    const map = new PromNameMap(['cpu.user', 'cpu_user', 'mem']);
    expect(map.names()).toEqual(['cpu_user', 'mem']);
    expect(map.idsOf('cpu_user')).toEqual(['cpu.user', 'cpu_user']);
    expect(map.labelsOf('cpu.user', { host: 'a', empty: '' })).toEqual({ __name__: 'cpu_user', host: 'a', [METRIC_ID_LABEL]: 'cpu.user' });
    expect(map.labelsOf('mem', {})).toEqual({ __name__: 'mem' });
  });
});

describe('query and query_range', () => {
  it('answers an instant vector query, ids colliding on one name kept apart', async () => {
    const r = await call('GET', `/prometheus/api/v1/query?query=${encodeURIComponent('cpu_user{host="a"}')}&time=${t(600)}`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      status: 'success',
      data: {
        resultType: 'vector',
        result: [
          { metric: { __name__: 'cpu_user', emms_metric_id: 'cpu.user', host: 'a', region: 'eu' }, value: [T / 1000 + 600, '40'] },
          { metric: { __name__: 'cpu_user', emms_metric_id: 'cpu_user', host: 'a', region: 'eu' }, value: [T / 1000 + 600, '7'] },
        ],
      },
    });
    const one = await call('GET', `/prometheus/api/v1/query?query=${encodeURIComponent('cpu_user{emms_metric_id="cpu_user"}')}&time=${t(600)}`);
    expect(one.body.data.result).toHaveLength(1);
  });

  it('takes form POSTs, as Grafana sends them, and answers matrices sorted by labels', async () => {
    const r = await call('POST', '/prometheus/api/v1/query_range', { form: { query: 'sum by (region) (cpu_user{emms_metric_id="cpu.user"})', start: t(0), end: t(60), step: '30s' } });
    expect(r.body.data).toEqual({
      resultType: 'matrix',
      result: [
        { metric: { region: 'eu' }, values: [[T / 1000, '0'], [T / 1000 + 30, '2'], [T / 1000 + 60, '4']] },
        { metric: { region: 'us' }, values: [[T / 1000, '0'], [T / 1000 + 30, '4'], [T / 1000 + 60, '8']] },
      ],
    });
    const scalar = await call('POST', '/prometheus/api/v1/query_range', { form: { query: 'time()', start: t(0), end: t(10), step: '10' } });
    expect(scalar.body.data.result).toEqual([{ metric: {}, values: [[T / 1000, String(T / 1000)], [T / 1000 + 10, String(T / 1000 + 10)]] }]);
  });

  it('answers scalars, strings and range selectors in an instant query', async () => {
    expect((await call('GET', `/prometheus/api/v1/query?query=1e21&time=${t(0)}`)).body.data).toEqual({ resultType: 'scalar', result: [T / 1000, '1000000000000000000000'] });
    expect((await call('GET', `/prometheus/api/v1/query?query=%22hi%22&time=${t(0)}`)).body.data).toEqual({ resultType: 'string', result: [T / 1000, 'hi'] });
    const raw = await call('GET', `/prometheus/api/v1/query?query=${encodeURIComponent('req_total[30s]')}&time=${t(30)}`);
    expect(raw.body.data).toEqual({ resultType: 'matrix', result: [{ metric: { __name__: 'req_total', _raw: 'x', code: '200' }, values: [[T / 1000, '0'], [T / 1000 + 15, '10'], [T / 1000 + 30, '20']] }] });
    const now = await call('GET', '/prometheus/api/v1/query?query=vector(1)');
    expect(Math.abs(now.body.data.result[0].value[0] - Date.now() / 1000)).toBeLessThan(60);
  });

  it('answers errors in Prometheus shape with its status codes', async () => {
    const cases: Array<[string, number, string, RegExp]> = [
      ['/query?query=rate(', 400, 'bad_data', /parse error/],
      ['/query', 400, 'bad_data', /no expression found/],
      [`/query?query=1&time=yesterday`, 400, 'bad_data', /invalid parameter "time": cannot parse "yesterday" to a valid timestamp/],
      ['/query?query=deriv(cpu_user[5m])', 422, 'execution', /function "deriv"/],
      [`/query?query=cpu_user/ignoring(emms_metric_id)cpu_user&time=${t(0)}`, 422, 'execution', /many-to-/],
      [`/query_range?query=cpu_user&start=${t(60)}&end=${t(0)}&step=1`, 400, 'bad_data', /end timestamp must not be before start time/],
      [`/query_range?query=cpu_user&start=${t(0)}&end=${t(60)}&step=-1`, 400, 'bad_data', /zero or negative/],
      [`/query_range?query=cpu_user&start=${t(0)}&end=${t(60)}&step=fast`, 400, 'bad_data', /invalid parameter "step"/],
      [`/query_range?query=cpu_user&start=${t(0)}&end=${t(600000)}&step=1`, 400, 'bad_data', /exceeded maximum resolution of 11,000/],
      [`/query_range?query=cpu_user[5m]&start=${t(0)}&end=${t(60)}&step=1`, 400, 'bad_data', /invalid expression type "range vector" for range query/],
      [`/query_range?query=%22s%22&start=${t(0)}&end=${t(60)}&step=1`, 400, 'bad_data', /invalid expression type "string"/],
      [`/query?query=1&timeout=1e30`, 400, 'bad_data', /overflows int64/],
    ];
    for (const [path, status, errorType, message] of cases) {
      const r = await call('GET', `/prometheus/api/v1${path}`);
      expect([path, r.status, r.body.status, r.body.errorType]).toEqual([path, status, 'error', errorType]);
      expect(r.body.error).toMatch(message);
    }
    const wrongType = await call('POST', '/prometheus/api/v1/query', { form: { query: '1' }, contentType: 'application/json' });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error).toMatch(/application\/x-www-form-urlencoded/);
  });

  it('honours a shorter timeout and answers 503 when it passes', async () => {
    const timedOut = prometheusApiRoutes(engine, { ...DEFAULT_EVAL_LIMITS, timeoutMs: -1 });
    const r = await call('GET', `/prometheus/api/v1/query_range?query=${encodeURIComponent('sum(cpu_user)')}&start=${t(0)}&end=${t(600)}&step=1`, { routes: timedOut });
    expect(r.status).toBe(503);
    expect(r.body.errorType).toBe('timeout');
    const ok = await call('GET', `/prometheus/api/v1/query?query=1&timeout=5s`);
    expect(ok.status).toBe(200);
  });

  it('never shows one tenant another tenant\'s series', async () => {
    const mine = await call('GET', `/prometheus/api/v1/query?query=secret_metric&time=${t(60)}`);
    expect(mine.body.data.result).toEqual([]);
    const theirs = await call('GET', `/prometheus/api/v1/query?query=secret_metric&time=${t(60)}`, { tenant: 'other' });
    expect(theirs.body.data.result).toHaveLength(1);
    expect((await call('GET', '/prometheus/api/v1/label/__name__/values', { tenant: 'other' })).body.data).toEqual(['secret_metric']);
  });
});

describe('series, labels, label values, metadata, exemplars, build info', () => {
  it('lists series for match[] selectors, as a union', async () => {
    const r = await call('GET', `/prometheus/api/v1/series?match[]=${encodeURIComponent('cpu_user{region="us"}')}&match[]=req_total&start=${t(0)}`);
    expect(r.body).toEqual({
      status: 'success',
      data: [{ __name__: 'cpu_user', emms_metric_id: 'cpu.user', host: 'b', region: 'us' }, { __name__: 'req_total', _raw: 'x', code: '200' }],
    });
    expect((await call('GET', '/prometheus/api/v1/series')).body.error).toBe('no match[] parameter provided');
    expect((await call('GET', '/prometheus/api/v1/series?match[]=rate(x[5m])')).body.error).toMatch(/not a series selector/);
    expect((await call('GET', '/prometheus/api/v1/series?match[]=x&end=soon')).status).toBe(400);
  });

  it('lists label names and values, filtered by match[]', async () => {
    expect((await call('GET', '/prometheus/api/v1/labels')).body.data).toEqual(['__name__', '_raw', 'code', 'emms_metric_id', 'host', 'region']);
    expect((await call('POST', '/prometheus/api/v1/labels', { form: { 'match[]': 'req_total' } })).body.data).toEqual(['__name__', '_raw', 'code']);
    expect((await call('GET', '/prometheus/api/v1/label/__name__/values')).body.data).toEqual(['cpu_user', 'req_total']);
    expect((await call('GET', '/prometheus/api/v1/label/host/values')).body.data).toEqual(['a', 'b']);
    expect((await call('GET', `/prometheus/api/v1/label/__name__/values?match[]=${encodeURIComponent('{host="b"}')}`)).body.data).toEqual(['cpu_user']);
    const bad = await call('GET', '/prometheus/api/v1/label/1bad/values');
    expect([bad.status, bad.body.error]).toEqual([400, 'invalid label name: "1bad"']);
  });

  it('describes metrics from their EMMS type, honouring limit and metric', async () => {
    const all = await call('GET', '/prometheus/api/v1/metadata');
    expect(all.body.data).toEqual({
      cpu_user: [{ type: 'gauge', help: 'EMMS metric cpu.user', unit: '' }],
      req_total: [{ type: 'counter', help: 'EMMS metric req.total', unit: '' }],
    });
    expect(Object.keys((await call('GET', '/prometheus/api/v1/metadata?limit=1')).body.data)).toHaveLength(1);
    expect(Object.keys((await call('GET', '/prometheus/api/v1/metadata?metric=req_total')).body.data)).toEqual(['req_total']);
    expect((await call('GET', '/prometheus/api/v1/metadata?limit=x')).status).toBe(400);
  });

  it('answers exemplars (none) and build info', async () => {
    expect((await call('GET', '/prometheus/api/v1/query_exemplars?query=cpu_user')).body).toEqual({ status: 'success', data: [] });
    expect((await call('GET', '/prometheus/api/v1/query_exemplars')).status).toBe(400);
    expect((await call('GET', '/prometheus/api/v1/status/buildinfo')).body.data.version).toBe('2.42.0');
  });

  it('gives every route a schema', () => {
    for (const r of routes) expect(r.schema?.responses[200], `${r.method} ${r.pattern}`).toBeDefined();
  });
});

describe('EMMS /api/v1/series and /api/v1/labels', () => {
  it('lists series by glob and tags, bounded by limit', async () => {
    const r = await call('GET', '/api/v1/series?match=cpu*&tag.region=eu');
    expect(r.body).toEqual({
      series: [
        { metric_id: 'cpu.user', metric_type: 'gauge', tags: { host: 'a', region: 'eu' } },
        { metric_id: 'cpu_user', metric_type: 'gauge', tags: { host: 'a', region: 'eu' } },
      ],
      truncated: false,
    });
    const limited = await call('GET', '/api/v1/series?limit=1');
    expect(limited.body.series).toHaveLength(1);
    expect(limited.body.truncated).toBe(true);
    expect((await call('GET', '/api/v1/series', { tenant: 'other' })).body.series.map((s: { metric_id: string }) => s.metric_id)).toEqual(['secret.metric']);
  });

  it('lists tag keys with their values', async () => {
    expect((await call('GET', '/api/v1/labels')).body).toEqual({ labels: { __raw: ['x'], code: ['200'], host: ['a', 'b'], region: ['eu', 'us'] }, truncated: false });
    expect((await call('GET', '/api/v1/labels?match=cpu.user&limit=1')).body).toEqual({ labels: { host: ['a'] }, truncated: true });
  });

  it('refuses bad and unknown parameters by name', async () => {
    for (const [url, parameter] of [
      ['/api/v1/series?limit=0', 'limit'], [`/api/v1/series?limit=${MAX_LISTING_LIMIT + 1}`, 'limit'], ['/api/v1/labels?limit=abc', 'limit'],
      ['/api/v1/series?tag.=x', 'tag.'], ['/api/v1/series?metric_pattern=x', 'metric_pattern'], [`/api/v1/series?match=${'*'.repeat(600)}`, 'match'],
    ] as const) {
      const r = await call('GET', url);
      expect([url, r.status, r.body.parameter]).toEqual([url, 400, parameter]);
    }
  });
});

describe('API value syntax', () => {
  it('parses times and durations as Prometheus does', () => {
    expect(parseApiTime('t', '1767225600.1234')).toBe(1_767_225_600_123);
    expect(parseApiTime('t', '-1.5')).toBe(-1500);
    expect(parseApiTime('t', '2026-01-01T00:00:00.5Z')).toBe(1_767_225_600_500);
    expect(() => parseApiTime('t', 'NaN')).toThrow(/cannot parse "NaN"/);
    expect(parseApiDuration('step', '15')).toBe(15_000);
    expect(parseApiDuration('step', '0.0015')).toBe(1);
    expect(parseApiDuration('step', '1h30m')).toBe(5_400_000);
    expect(parseApiDuration('step', '250ms')).toBe(250);
    expect(() => parseApiDuration('step', '')).toThrow(/cannot parse "" to a valid duration/);
    expect(() => parseApiDuration('step', 'Inf')).toThrow(/overflows/);
  });

  it('prints values as Go does', () => {
    expect(['1', '0.1', '5e-07', '1e+21', '-1.5e-10', 'NaN', '+Inf', '-Inf', '-0', '123456789'].map((x) => x)).toEqual(
      [1, 0.1, 5e-7, 1e21, -1.5e-10, NaN, Infinity, -Infinity, -0, 123456789].map(formatSampleValue),
    );
    expect([1e21, 1.5e-7, -2.5e25, 1234.5, NaN].map(formatScalarValue)).toEqual(['1000000000000000000000', '0.00000015', '-25000000000000000000000000', '1234.5', 'NaN']);
  });
});
