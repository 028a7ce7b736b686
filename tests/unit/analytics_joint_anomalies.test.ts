import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetricsSystem } from '../../src/index.js';
import type { MetricsSystem } from '../../src/model/api.js';
import { detectJointAnomalies } from '../../src/analytics/joint_anomalies.js';
import { jointWindowScores } from '../../src/analytics/joint_window_scores.js';
import { analyticsRoutes } from '../../src/analytics/analytics_routes.js';
import { HttpError, type HttpRequest } from '../../src/http/route.js';
import { checkRequest } from '../../src/http/strict_params.js';
import { SeededRandom } from '../../src/analytics/seeded_random.js';

const STEP = 300_000;
const END = Date.UTC(2026, 0, 15);
const POINTS = 4 * 288;
const START = END - POINTS * STEP;
/** Where host a's CPU runs high while its network stays low, for three buckets. */
const INJECT = POINTS - 100;

/** CPU and network move together (network ≈ 2 × CPU); memory is independent. */
function host(rng: SeededRandom, inject: boolean): { cpu: Float64Array; net: Float64Array; mem: Float64Array } {
  const cpu = new Float64Array(POINTS);
  const net = new Float64Array(POINTS);
  const mem = new Float64Array(POINTS);
  for (let i = 0; i < POINTS; i++) {
    cpu[i] = 50 + 20 * Math.sin((2 * Math.PI * i) / 288) + 3 * rng.normal();
    net[i] = 2 * cpu[i]! + 4 * rng.normal();
    mem[i] = 60 + 5 * rng.normal();
  }
  if (inject) {
    for (let i = INJECT; i < INJECT + 3; i++) {
      cpu[i] = 62;
      net[i] = 70;
    }
  }
  return { cpu, net, mem };
}

function robustZ(values: Float64Array, at: number): number {
  const sorted = Float64Array.from(values).sort();
  const med = sorted[sorted.length >> 1]!;
  const mad = Float64Array.from(values, (v) => Math.abs(v - med)).sort()[values.length >> 1]! * 1.4826;
  return Math.abs(values[at]! - med) / mad;
}

describe('jointWindowScores', () => {
  it('flags a joint anomaly that no single series shows, and nothing on a clean entity', () => {
    const rng = new SeededRandom(7);
    const a = host(rng, true);
    // Each series alone stays well inside its own range at the injection.
    for (const s of [a.cpu, a.net]) for (let i = INJECT; i < INJECT + 3; i++) expect(robustZ(s, i)).toBeLessThan(1.5);
    const flagged = jointWindowScores([a.cpu, a.net, a.mem]).anomalies;
    expect(flagged.some((i) => i >= INJECT && i <= INJECT + 4)).toBe(true);
    expect(flagged.filter((i) => i < INJECT || i > INJECT + 4).length).toBeLessThanOrEqual(1);
    const b = host(rng, false);
    expect(jointWindowScores([b.cpu, b.net, b.mem]).anomalies.length).toBeLessThanOrEqual(1);
  });

  it('refuses mismatched or too wide input, and says nothing about too few rows', () => {
    expect(() => jointWindowScores([new Float64Array(10), new Float64Array(9)])).toThrow(/series 1 has 9 points/);
    expect(() => jointWindowScores(Array.from({ length: 200 }, () => new Float64Array(10)))).toThrow(/200 series; at most 128/);
    expect(() => jointWindowScores([new Float64Array(20)], { windowPoints: 0 })).toThrow(/windowPoints=0/);
    expect(() => jointWindowScores([new Float64Array(20)], { sensitivity: 2 })).toThrow(/sensitivity=2/);
    expect(() => jointWindowScores([])).toThrow(/at least one series/);
    expect(jointWindowScores([new Float64Array(5)]).anomalies).toEqual([]);
  });
});

describe('detectJointAnomalies over the engine', () => {
  let dir: string;
  let ms: MetricsSystem;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'emms-joint-'));
    ms = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 });
    await ms.start();
    const rng = new SeededRandom(11);
    const t = Float64Array.from({ length: POINTS }, (_, i) => START + i * STEP);
    const batch = [];
    for (const [name, inject] of [['a', true], ['b', false]] as const) {
      const h = host(rng, inject);
      batch.push(
        { metricId: 'system.cpu', metricType: 'gauge' as const, tags: { host: name }, timestamps: t, values: h.cpu },
        { metricId: 'system.net', metricType: 'gauge' as const, tags: { host: name }, timestamps: t, values: h.net },
        { metricId: 'system.mem', metricType: 'gauge' as const, tags: { host: name }, timestamps: t, values: h.mem },
      );
    }
    await ms.collectSeries(batch);
  });

  afterAll(async () => {
    await ms.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('groups system.* by host, aligns them and flags only host a at the injection', async () => {
    const r = await detectJointAnomalies(ms, { metricPattern: 'system.*', entityTags: ['host'], windowHours: 72, warmupHours: 24, endTime: END });
    expect(r.entities.map((e) => e.entity.host).sort()).toEqual(['a', 'b']);
    const a = r.entities.find((e) => e.entity.host === 'a')!;
    expect(a.series.map((s) => s.metricId)).toEqual(['system.cpu', 'system.mem', 'system.net']);
    const injectedAt = START + INJECT * STEP;
    expect(a.anomalyTimestamps.some((t) => t >= injectedAt && t <= injectedAt + 4 * STEP)).toBe(true);
    expect(a.anomalyTimestamps.filter((t) => t < injectedAt || t > injectedAt + 4 * STEP).length).toBeLessThanOrEqual(1);
    const b = r.entities.find((e) => e.entity.host === 'b')!;
    expect(b.anomalies.length).toBeLessThanOrEqual(1);
    expect(a.timestamps[0]).toBeGreaterThanOrEqual(r.startTime);
  });

  it('validates the request, naming the field', async () => {
    await expect(detectJointAnomalies(ms, { metricPattern: '', windowHours: 1 })).rejects.toThrow(/metricPattern/);
    await expect(detectJointAnomalies(ms, { metricPattern: 'system.*', windowHours: 1, interval: 'soon' })).rejects.toThrow(/interval="soon"/);
    await expect(detectJointAnomalies(ms, { metricPattern: 'system.*', windowHours: 1, windowPoints: 1.5 })).rejects.toThrow(/windowPoints/);
    await expect(detectJointAnomalies(ms, { metricPattern: 'system.*', windowHours: 1, entityTags: [''] })).rejects.toThrow(/entityTags/);
  });

  it('answers GET and POST /api/v1/analytics/joint_anomalies in snake_case, with a schema', async () => {
    const routes = analyticsRoutes(ms).filter((r) => r.pattern === '/api/v1/analytics/joint_anomalies');
    expect(routes.map((r) => r.method).sort()).toEqual(['GET', 'POST']);
    for (const r of routes) expect(r.schema?.responses[200]).toBeDefined();
    const principal = { id: 'ak_test', kind: 'api_key', role: 'reader', tenant: ms.tenant } as const;
    const get = routes.find((r) => r.method === 'GET')!;
    const q = new URLSearchParams({ metric_pattern: 'system.*', entity_tags: 'host', window_hours: '72', warmup_hours: '24', end_time: String(END) });
    const req: HttpRequest = { method: 'GET', path: get.pattern, params: {}, query: q, headers: {}, body: undefined, remoteAddress: '127.0.0.1', principal };
    const body = JSON.parse(JSON.stringify((await get.handler(req)).body)) as { entities: Array<{ entity: { host: string }; anomaly_timestamps: number[]; scores: Array<number | null> }> };
    expect(body.entities).toHaveLength(2);
    expect(body.entities.find((e) => e.entity.host === 'a')!.anomaly_timestamps.length).toBeGreaterThan(0);
    expect(() => checkRequest(get, q, undefined)).not.toThrow();
    expect(() => checkRequest(get, new URLSearchParams('metric_pattern=system.*&window_hour=1'), undefined)).toThrow(/did you mean window_hours/);
    const post = routes.find((r) => r.method === 'POST')!;
    expect(() => checkRequest(post, new URLSearchParams(), { metric_pattern: 'system.*', window_hours: 72, entity_tags: ['host'], tags: { dc: 'eu' } })).not.toThrow();
    const bad: HttpRequest = { ...req, method: 'POST', query: new URLSearchParams(), body: { metric_pattern: 'system.*', window_hours: 72, sensitivity: 3 } };
    await expect(post.handler(bad)).rejects.toSatisfy((e: unknown) => e instanceof HttpError && e.status === 400 && /sensitivity=3/.test(e.message));
  });
});
