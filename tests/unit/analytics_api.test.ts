import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetricsSystem } from '../../src/index.js';
import type { MetricsSystem } from '../../src/model/api.js';
import { capacity, counterRates, detectAnomalies, findCorrelations, forecast } from '../../src/analytics/analytics_api.js';
import { analyticsRoutes } from '../../src/analytics/analytics_routes.js';
import type { HttpRequest, RouteDefinition } from '../../src/http/route.js';
import { HttpError } from '../../src/http/route.js';
import { SeededRandom } from '../../src/analytics/seeded_random.js';

const HOUR = 3_600_000;
const STEP = 300_000; // 5 minutes
const END = Date.UTC(2026, 0, 15);
const POINTS = 7 * 288; // a week
const START = END - POINTS * STEP;

let dir: string;
let ms: MetricsSystem;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-analytics-'));
  ms = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 });
  await ms.start();
  const rng = new SeededRandom(42);
  const t = Float64Array.from({ length: POINTS }, (_, i) => START + i * STEP);
  const signRate = t.map((_, i) => 100 + 30 * Math.sin((2 * Math.PI * i) / 288) + 2 * rng.normal());
  signRate[POINTS - 20]! += 80; // a burst of signatures at an odd time
  const errors = new Float64Array(POINTS);
  for (let i = 0; i < POINTS; i++) errors[i] = i >= 3 ? 0.5 * signRate[i - 3]! + rng.normal() : 50;
  const partition = t.map((_, i) => 200 + i * 0.25 + rng.normal()); // +3 slots per hour
  // A signature counter: ~10/s, a burst of 5x for one interval near the end, a reset in the middle.
  const signatures = new Float64Array(POINTS);
  let total = 0;
  for (let i = 0; i < POINTS; i++) {
    if (i === 1000) total = 0;
    total += STEP / 1000 * (10 + 0.5 * rng.normal()) * (i === POINTS - 30 ? 5 : 1);
    signatures[i] = Math.round(total);
  }
  await ms.collectSeries([
    { metricId: 'hsm.sign_rate', metricType: 'gauge', tags: { hsm: 'a' }, timestamps: t, values: signRate },
    { metricId: 'kms.errors', metricType: 'gauge', tags: { region: 'eu' }, timestamps: t, values: errors },
    { metricId: 'kms.noise', metricType: 'gauge', tags: { region: 'eu' }, timestamps: t, values: t.map(() => rng.normal()) },
    { metricId: 'hsm.partition_used', metricType: 'gauge', tags: { hsm: 'a' }, timestamps: t, values: partition },
    { metricId: 'kms.signatures_total', metricType: 'counter', tags: { hsm: 'a' }, timestamps: t, values: signatures },
  ]);
});

afterAll(async () => {
  await ms.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('engine-backed analytics API', () => {
  it('detectAnomalies flags the burst in the last hours and returns every point', async () => {
    const r = await detectAnomalies(ms, { metricPattern: 'hsm.sign_rate', windowHours: 6 * 24, sensitivity: 0.5, endTime: END });
    expect(r.series).toHaveLength(1);
    const s = r.series[0]!;
    // The day before the window is warm-up: learnt from, not reported.
    expect(s.timestamps.length).toBe(POINTS - 288);
    expect(s.timestamps[0]).toBe(END - 6 * 24 * HOUR);
    expect(s.scores.length).toBe(POINTS - 288);
    expect(s.anomalyTimestamps).toContain(START + (POINTS - 20) * STEP);
    expect(s.anomalies.length).toBeLessThan(5);
  });

  it('detectAnomalies scores counters on their rate: the burst, not the reset or the growth', async () => {
    const r = await detectAnomalies(ms, { metricPattern: 'kms.signatures_total', windowHours: 6 * 24, endTime: END });
    const s = r.series[0]!;
    expect(s.scoredOn).toBe('rate');
    expect(s.anomalyTimestamps).toEqual([START + (POINTS - 30) * STEP]);
    expect(Array.from(counterRates([0, 1000, 2000, 2000, 4000], [5, 15, 3, 4, 10]))).toEqual([NaN, 10, 3, NaN, 3]);
  });

  it('findCorrelations ranks the lagged follower first and filters the noise', async () => {
    const r = await findCorrelations(ms, {
      primaryMetric: 'hsm.sign_rate', secondaryPatterns: ['kms.*'], correlationThreshold: 0.5,
      interval: '5m', maxLag: 6, windowHours: 7 * 24, endTime: END,
    });
    expect(r.pairs.map((p) => p.metricId)).toEqual(['kms.errors']);
    expect(r.pairs[0]!.lag).toBe(3);
    expect(r.pairs[0]!.lagMs).toBe(3 * STEP);
    expect(r.pairs[0]!.r).toBeGreaterThan(0.9);
  });

  it('forecast continues the daily cycle with intervals', async () => {
    const r = await forecast(ms, { metricPattern: 'hsm.sign_rate', horizon: '12h', interval: '1h', endTime: END, lookback: '7d' });
    const s = r.series[0]!;
    expect(s.method).toBe('holt_winters');
    expect(s.period).toBe(24);
    expect(s.points).toHaveLength(12);
    for (const p of s.points) {
      const hourIndex = (p.timestamp - START) / STEP + 6; // bucket centre, in 5-minute steps
      const truth = 100 + 30 * Math.sin((2 * Math.PI * hourIndex) / 288);
      expect(Math.abs(p.value - truth)).toBeLessThan(10);
      expect(p.lower).toBeLessThan(p.value);
      expect(p.upper).toBeGreaterThan(p.value);
    }
  });

  it('capacity predicts when the partition reaches its limit, with a range', async () => {
    // Last value ≈ 200 + 2015·0.25 ≈ 704; +3 per hour → 1000 in ≈ 99 h ≈ 4.1 days.
    const r = await capacity(ms, { metricPattern: 'hsm.partition_used', limit: 1000, horizon: '30d', interval: '1h', endTime: END });
    const s = r.series[0]!;
    expect(s.direction).toBe('rising');
    expect(s.daysToLimit!).toBeGreaterThan(3.7);
    expect(s.daysToLimit!).toBeLessThan(4.5);
    expect(s.earliestTime!).toBeLessThanOrEqual(s.expectedTime!);
    expect(s.latestTime!).toBeGreaterThanOrEqual(s.expectedTime!);
    expect(s.recommendation.action).toBe('scale_up');
  });

  it('validates requests, naming the field and value', async () => {
    await expect(detectAnomalies(ms, { metricPattern: 'x', windowHours: 1, sensitivity: 2 })).rejects.toThrow('sensitivity=2 must be a number in [0, 1]');
    await expect(forecast(ms, { metricPattern: 'x', horizon: 'soon', interval: '1h' })).rejects.toThrow(/horizon="soon" must be a duration/);
  });

  it('forecast with method holt_winters on too short a history falls back and says so', async () => {
    const r = await forecast(ms, { metricPattern: 'hsm.partition_used', horizon: '6h', interval: '1h', endTime: END, lookback: '30h', method: 'holt_winters' });
    const s = r.series[0]!;
    expect(s.method).not.toBe('holt_winters');
    expect(s.fallback).toMatch(/holt_winters needs three cycles/);
    expect(s.points).toHaveLength(6);
    expect(s.points[5]!.value).toBeGreaterThan(s.lastValue);
  });
});

describe('HTTP routes /api/v1/analytics/*', () => {
  let routes: RouteDefinition[];
  beforeAll(() => {
    routes = analyticsRoutes(ms);
  });
  const call = async (method: 'GET' | 'POST', path: string, query: string, body?: unknown, tenant = ms.tenant): Promise<{ status: number; body: Record<string, unknown> }> => {
    const route = routes.find((r) => r.method === method && r.pattern === path)!;
    expect(route.access).toBe('reader');
    const principal = { id: 'ak_test', kind: 'api_key', role: 'reader', tenant } as const;
    const req: HttpRequest = { method, path, params: {}, query: new URLSearchParams(query), headers: {}, body, remoteAddress: '127.0.0.1', principal };
    try {
      const res = await route.handler(req);
      return { status: res.status ?? 200, body: JSON.parse(JSON.stringify(res.body)) as Record<string, unknown> };
    } catch (err) {
      if (err instanceof HttpError) return { status: err.status, body: err.body };
      throw err;
    }
  };

  it('mounts GET and POST for the five endpoints', () => {
    expect(routes.map((r) => `${r.method} ${r.pattern}`).sort()).toEqual([
      'GET /api/v1/analytics/anomalies', 'GET /api/v1/analytics/capacity', 'GET /api/v1/analytics/correlations', 'GET /api/v1/analytics/forecast',
      'GET /api/v1/analytics/joint_anomalies',
      'POST /api/v1/analytics/anomalies', 'POST /api/v1/analytics/capacity', 'POST /api/v1/analytics/correlations', 'POST /api/v1/analytics/forecast',
      'POST /api/v1/analytics/joint_anomalies',
    ]);
  });

  it('answers in snake_case from a GET query string', async () => {
    const r = await call('GET', '/api/v1/analytics/anomalies', `metric_pattern=hsm.sign_rate&window_hours=24&end_time=${END}&tag.hsm=a`);
    expect(r.status).toBe(200);
    const series = r.body.series as Array<Record<string, unknown>>;
    expect(series[0]!.metric_id).toBe('hsm.sign_rate');
    expect((series[0]!.anomaly_timestamps as number[])).toContain(START + (POINTS - 20) * STEP);
  });

  it("sees only the caller's tenant", async () => {
    const query = `metric_pattern=hsm.sign_rate&window_hours=24&end_time=${END}`;
    expect(((await call('GET', '/api/v1/analytics/anomalies', query)).body.series as unknown[]).length).toBe(1);
    expect((await call('GET', '/api/v1/analytics/anomalies', query, undefined, 'other-tenant')).body.series).toEqual([]);
  });

  it('answers a POST body', async () => {
    const r = await call('POST', '/api/v1/analytics/correlations', '', {
      primary_metric: 'hsm.sign_rate', secondary_patterns: ['kms.*'], correlation_threshold: 0.5, max_lag: 6, window_hours: 168, end_time: END,
    });
    expect(r.status).toBe(200);
    expect((r.body.pairs as Array<Record<string, unknown>>)[0]).toMatchObject({ metric_id: 'kms.errors', lag: 3, lag_ms: 900_000 });
    const c = await call('POST', '/api/v1/analytics/capacity', '', { metric_pattern: 'hsm.partition_used', limit: 1000, end_time: END });
    expect((c.body.series as Array<Record<string, unknown>>)[0]!.recommendation).toMatchObject({ action: 'scale_up' });
    const f = await call('GET', '/api/v1/analytics/forecast', `metric_pattern=hsm.partition_used&horizon=6h&interval=1h&end_time=${END}`);
    expect(((f.body.series as Array<Record<string, unknown>>)[0]!.points as unknown[]).length).toBe(6);
  });

  it('refuses bad parameters with 400 naming the snake_case field', async () => {
    const missing = await call('GET', '/api/v1/analytics/anomalies', 'metric_pattern=x');
    expect(missing).toEqual({ status: 400, body: { error: 'window_hours is required' } });
    const bad = await call('GET', '/api/v1/analytics/anomalies', 'metric_pattern=x&window_hours=1&sensitivity=3');
    expect(bad.status).toBe(400);
    expect(bad.body.error).toBe('sensitivity=3 must be a number in [0, 1]');
    const camel = await call('POST', '/api/v1/analytics/correlations', '', { primary_metric: 'x', secondary_patterns: ['y'], correlation_threshold: 5 });
    expect(camel.body).toMatchObject({ field: 'correlation_threshold', error: 'correlation_threshold=5 must be a number in [0, 1]' });
    expect((await call('POST', '/api/v1/analytics/forecast', '', [1, 2])).status).toBe(400);
  });
});
