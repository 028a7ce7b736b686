/**
 * Query results against values computed independently: a naive model of the stored points
 * (a Map per series, last write wins) and plain loops per aggregation. Data arrives out of
 * order, with duplicates, across restarts, with tiny heads so that chunks are cut and overlap.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import { AGGREGATIONS, type Aggregation, type SeriesResult } from '../../src/model/api.js';
import { QueryLimitError } from '../../src/query/errors.js';
import { MetricValidationError, type MetricDataPoint, type Tags } from '../../src/model/metric.js';

const T0 = Date.UTC(2026, 0, 5);
const HOUR = 3_600_000;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface ModelSeries { metricId: string; tags: Tags; points: Map<number, number> }

const SERIES_DEFS: Array<{ metricId: string; tags: Tags }> = [];
for (const metricId of ['svc.latency', 'svc.errors', 'db.latency']) {
  for (const region of ['eu', 'us']) {
    for (const host of ['a', 'b']) SERIES_DEFS.push({ metricId, tags: { region, host } });
  }
}
SERIES_DEFS.push({ metricId: 'svc.latency', tags: { region: 'eu' } }); // lacks `host`

const model = new Map<string, ModelSeries>();
function keyOf(metricId: string, tags: Tags): string {
  return `${metricId}|${Object.keys(tags).sort().map((k) => `${k}=${tags[k]}`).join(',')}`;
}

/** Batches of points: random times over 6 h (distinct per series: + series index ms), some re-sent with new values. */
function makeBatches(seed: number, batches: number, perBatch: number): MetricDataPoint[][] {
  const random = rng(seed);
  const out: MetricDataPoint[][] = [];
  const sent: Array<[number, number]> = [];
  for (let b = 0; b < batches; b++) {
    const batch: MetricDataPoint[] = [];
    for (let i = 0; i < perBatch; i++) {
      let s: number;
      let ts: number;
      if (sent.length > 0 && random() < 0.1) {
        [s, ts] = sent[Math.floor(random() * sent.length)]!; // duplicate timestamp: newest wins
      } else {
        s = Math.floor(random() * SERIES_DEFS.length);
        ts = T0 + Math.floor(random() * 6 * 360) * 10_000 + s;
        sent.push([s, ts]);
      }
      const def = SERIES_DEFS[s]!;
      // Counters for rate must mostly increase; a few drops exercise resets.
      const value = def.metricId === 'svc.errors' ? Math.floor((ts - T0) / 1000) + (random() < 0.05 ? -500 : 0) : Math.round(random() * 10_000) / 100;
      batch.push({ metricId: def.metricId, tags: def.tags, timestamp: ts, value: Math.max(0, value) });
    }
    out.push(batch);
  }
  return out;
}

function applyToModel(batch: MetricDataPoint[]): void {
  for (const p of batch) {
    const k = keyOf(p.metricId, p.tags ?? {});
    let s = model.get(k);
    if (s === undefined) {
      s = { metricId: p.metricId, tags: p.tags ?? {}, points: new Map() };
      model.set(k, s);
    }
    s.points.set(p.timestamp as number, p.value);
  }
}

function sortedPoints(s: ModelSeries): Array<[number, number]> {
  return [...s.points.entries()].sort((a, b) => a[0] - b[0]);
}

function globMatch(pattern: string, id: string): boolean {
  const re = new RegExp('^' + pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('') + '$');
  return re.test(id);
}

function percentile(sorted: number[], q: number): number {
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (pos - lo) * (sorted[hi]! - sorted[lo]!);
}

/** Naive aggregation of a group of model series. */
function naiveAggregate(series: ModelSeries[], aggregation: Aggregation, intervalMs: number, start: number, end: number): Map<number, number> {
  const buckets = new Map<number, { vals: number[]; ts: number[]; increase: number }>();
  for (const s of series) {
    const pts = sortedPoints(s);
    for (let i = 0; i < pts.length; i++) {
      const [ts, v] = pts[i]!;
      if (ts < start || ts >= end) continue;
      const b = Math.floor(ts / intervalMs) * intervalMs;
      let e = buckets.get(b);
      if (e === undefined) buckets.set(b, (e = { vals: [], ts: [], increase: 0 }));
      e.vals.push(v);
      e.ts.push(ts);
      if (i > 0) {
        const prev = pts[i - 1]![1];
        e.increase += v >= prev ? v - prev : v;
      }
    }
  }
  const out = new Map<number, number>();
  for (const [b, e] of buckets) {
    const n = e.vals.length;
    const sum = e.vals.reduce((x, y) => x + y, 0);
    const order = e.ts.map((t, i) => [t, e.vals[i]!] as const).sort((x, y) => x[0] - y[0]);
    const sorted = [...e.vals].sort((x, y) => x - y);
    let v: number;
    switch (aggregation) {
      case 'count': v = n; break;
      case 'sum': v = sum; break;
      case 'avg': v = sum / n; break;
      case 'min': v = sorted[0]!; break;
      case 'max': v = sorted[n - 1]!; break;
      case 'first': v = order[0]![1]; break;
      case 'last': v = order[n - 1]![1]; break;
      case 'stddev': { const m = sum / n; v = Math.sqrt(e.vals.reduce((a, x) => a + (x - m) ** 2, 0) / n); break; }
      case 'rate': v = e.increase / (intervalMs / 1000); break;
      case 'p50': v = percentile(sorted, 0.5); break;
      case 'p90': v = percentile(sorted, 0.9); break;
      case 'p95': v = percentile(sorted, 0.95); break;
      case 'p99': v = percentile(sorted, 0.99); break;
    }
    out.set(b, v);
  }
  return out;
}

function expectClose(actual: number, expected: number, what: string): void {
  const tolerance = 1e-9 * Math.max(1, Math.abs(expected));
  if (!(Math.abs(actual - expected) <= tolerance)) throw new Error(`${what}: got ${actual}, expected ${expected}`);
}

function checkAggregate(result: SeriesResult, expected: Map<number, number>, what: string): void {
  expect([...result.timestamps], what).toEqual([...expected.keys()].sort((a, b) => a - b));
  result.timestamps.forEach((t, i) => expectClose(result.values[i]!, expected.get(t)!, `${what} @${t}`));
}

let dir: string;
let ms: EngineMetricsSystem;

async function restart(): Promise<void> {
  await ms.stop();
  await ms.start();
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-query-'));
  // Tiny heads: chunks get cut mid-batch and out-of-order points make chunks overlap.
  ms = new EngineMetricsSystem({ path: join(dir, 'q.db'), queryWorkers: 2 }, { headCutPoints: 40 });
  await ms.start();
  const batches = makeBatches(7, 12, 250);
  for (let b = 0; b < batches.length; b++) {
    await ms.collectMetrics(batches[b]!);
    applyToModel(batches[b]!);
    if (b === 5) await restart(); // half the data in compacted chunks, half in heads and fresh cuts
  }
});

afterAll(async () => {
  await ms.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('raw queries', () => {
  const cases: Array<{ pattern: string; tags?: Tags; start: number; end: number }> = [
    { pattern: '*', start: 0, end: T0 + 24 * HOUR },
    { pattern: 'svc.*', start: T0 + HOUR, end: T0 + 3 * HOUR },
    { pattern: 'svc.latency', tags: { region: 'eu' }, start: T0, end: T0 + 6 * HOUR },
    { pattern: '???.latency', tags: { host: 'b' }, start: T0 + 1234, end: T0 + 5 * HOUR + 17 },
    { pattern: 'nothing.*', start: 0, end: T0 + 24 * HOUR },
  ];
  it.each(cases)('$pattern $tags [$start, $end) equals the naive model, sorted, last write wins', async ({ pattern, tags, start, end }) => {
    const result = await ms.queryMetrics({ metricPattern: pattern, tags, startTime: start, endTime: end });
    const expected = [...model.values()]
      .filter((s) => globMatch(pattern, s.metricId) && Object.entries(tags ?? {}).every(([k, v]) => s.tags[k] === v))
      .map((s) => ({ s, pts: sortedPoints(s).filter(([t]) => t >= start && t < end) }))
      .filter((e) => e.pts.length > 0);
    expect(result.length).toBe(expected.length);
    for (const { s, pts } of expected) {
      const r = result.find((x) => x.metricId === s.metricId && keyOf(x.metricId, x.tags) === keyOf(s.metricId, s.tags));
      expect(r, keyOf(s.metricId, s.tags)).toBeDefined();
      expect([...r!.timestamps]).toEqual(pts.map((p) => p[0]));
      expect([...r!.values]).toEqual(pts.map((p) => p[1]));
    }
  });

  it('takes Date and ISO-8601 times, and refuses bad ones naming the parameter', async () => {
    const a = await ms.queryMetrics({ metricPattern: 'svc.*', startTime: new Date(T0 + HOUR), endTime: new Date(T0 + 2 * HOUR).toISOString() });
    const b = await ms.queryMetrics({ metricPattern: 'svc.*', startTime: T0 + HOUR, endTime: T0 + 2 * HOUR });
    expect(a).toEqual(b);
    await expect(ms.queryMetrics({ metricPattern: 'svc.*', startTime: 'yesterday' })).rejects.toThrow(/startTime="yesterday"/);
    await expect(ms.queryMetrics({ metricPattern: 'svc.*', endTime: Number.NaN })).rejects.toThrow(/endTime=NaN/);
    await expect(ms.queryMetrics({ metricPattern: '' })).rejects.toThrow(/metricPattern=""/);
  });

  it('refuses queries over maxSeries / maxPoints with a QueryLimitError', async () => {
    await expect(ms.queryMetrics({ metricPattern: '*', maxSeries: 2 })).rejects.toBeInstanceOf(QueryLimitError);
    await expect(ms.queryMetrics({ metricPattern: '*', startTime: 0, endTime: T0 + 24 * HOUR, maxPoints: 10 })).rejects.toThrow(/maxPoints=10/);
    const ok = await ms.queryMetrics({ metricPattern: 'svc.latency', tags: { region: 'eu', host: 'a' }, startTime: 0, endTime: T0 + 24 * HOUR, maxPoints: 100_000, maxSeries: 1 });
    expect(ok.length).toBe(1);
  });
});

describe('aggregated queries', () => {
  const start = T0 + 30 * 60_000;
  const end = T0 + 5 * HOUR;

  it.each(AGGREGATIONS.map((a) => [a]))('%s per series matches the naive computation', async (aggregation) => {
    const pattern = aggregation === 'rate' ? 'svc.errors' : '*';
    const result = await ms.queryAggregated({ metricPattern: pattern, aggregation, interval: '30m', startTime: start, endTime: end });
    const expectedSeries = [...model.values()].filter((s) => globMatch(pattern, s.metricId));
    let compared = 0;
    for (const s of expectedSeries) {
      const expected = naiveAggregate([s], aggregation, 30 * 60_000, start, end);
      const r = result.find((x) => keyOf(x.metricId, x.tags) === keyOf(s.metricId, s.tags));
      if (expected.size === 0) {
        expect(r).toBeUndefined();
        continue;
      }
      checkAggregate(r!, expected, `${aggregation} ${keyOf(s.metricId, s.tags)}`);
      compared++;
    }
    expect(compared).toBeGreaterThan(0);
  });

  it.each([['avg'], ['sum'], ['max'], ['p90'], ['count'], ['stddev']] as Array<[Aggregation]>)('groupBy region: %s over every raw point of the group', async (aggregation) => {
    const result = await ms.queryAggregated({ metricPattern: '*.latency', aggregation, interval: '1h', startTime: start, endTime: end, groupBy: ['region'] });
    expect(result.map((r) => r.tags)).toEqual([{ region: 'eu' }, { region: 'us' }]);
    for (const r of result) {
      // Two metric ids in each group: the result is named by the pattern.
      expect(r.metricId).toBe('*.latency');
      const members = [...model.values()].filter((s) => globMatch('*.latency', s.metricId) && s.tags.region === r.tags.region);
      checkAggregate(r, naiveAggregate(members, aggregation, HOUR, start, end), `${aggregation} ${r.tags.region}`);
    }
  });

  it('groupBy [] merges every selected series; a single shared metric id names the group', async () => {
    const all = await ms.queryAggregated({ metricPattern: 'svc.latency', aggregation: 'count', interval: '1d', startTime: 0, endTime: T0 + 24 * HOUR, groupBy: [] });
    expect(all.length).toBe(1);
    expect(all[0]!.metricId).toBe('svc.latency');
    expect(all[0]!.tags).toEqual({});
    const members = [...model.values()].filter((s) => s.metricId === 'svc.latency');
    checkAggregate(all[0]!, naiveAggregate(members, 'count', 86_400_000, 0, T0 + 24 * HOUR), 'count all');
  });

  it('groupBy a key some series lack leaves it out of that group\'s tags', async () => {
    const result = await ms.queryAggregated({ metricPattern: 'svc.latency', aggregation: 'count', interval: '1d', startTime: 0, endTime: T0 + 24 * HOUR, groupBy: ['host'] });
    expect(result.map((r) => r.tags)).toEqual(expect.arrayContaining([{ host: 'a' }, { host: 'b' }, {}]));
    expect(result.length).toBe(3);
  });

  it('fans out to workers with the same answer as inline', async () => {
    const forced = new EngineMetricsSystem({ path: join(dir, 'q.db'), queryWorkers: 2 }, { workerMinPoints: 1, headCutPoints: 40 });
    await ms.stop();
    await forced.start();
    try {
      // Points still in heads must reach the workers too.
      const extra = makeBatches(99, 1, 200)[0]!;
      await forced.collectMetrics(extra);
      applyToModel(extra);
      for (const aggregation of ['avg', 'p95', 'rate', 'last'] as Aggregation[]) {
        const q = { metricPattern: '*', aggregation, interval: '20m', startTime: start, endTime: end };
        const viaWorkers = await forced.queryWithStats(q);
        expect(viaWorkers.stats.pointsScanned).toBeGreaterThan(0);
        for (const s of model.values()) {
          const expected = naiveAggregate([s], aggregation, 20 * 60_000, start, end);
          const r = viaWorkers.series.find((x) => keyOf(x.metricId, x.tags) === keyOf(s.metricId, s.tags));
          if (expected.size === 0) continue;
          if (aggregation === 'rate' && s.metricId !== 'svc.errors') continue;
          checkAggregate(r!, expected, `workers ${aggregation} ${keyOf(s.metricId, s.tags)}`);
        }
      }
      // Groups whose series land in different workers merge their partials on the main thread.
      for (const aggregation of ['p90', 'stddev', 'count'] as Aggregation[]) {
        const grouped = await forced.queryAggregated({ metricPattern: '*', aggregation, interval: '1h', startTime: start, endTime: end, groupBy: ['region'] });
        expect(grouped.map((g) => g.tags)).toEqual([{ region: 'eu' }, { region: 'us' }]);
        for (const g of grouped) {
          const members = [...model.values()].filter((s) => s.tags.region === g.tags.region);
          checkAggregate(g, naiveAggregate(members, aggregation, HOUR, start, end), `workers grouped ${aggregation} ${g.tags.region}`);
        }
      }
    } finally {
      await forced.stop();
      await ms.start();
    }
  });

  it('counts returned buckets against maxPoints and selected series against maxSeries', async () => {
    const q = { metricPattern: '*', aggregation: 'count' as const, interval: '10m', startTime: start, endTime: end };
    const all = await ms.queryAggregated(q);
    const buckets = all.reduce((n, s) => n + s.timestamps.length, 0);
    await expect(ms.queryAggregated({ ...q, maxPoints: buckets - 1 })).rejects.toBeInstanceOf(QueryLimitError);
    expect((await ms.queryAggregated({ ...q, maxPoints: buckets })).length).toBe(all.length);
    await expect(ms.queryAggregated({ ...q, groupBy: [], maxSeries: 3 })).rejects.toThrow(/maxSeries=3/);
    await expect(ms.queryAggregated({ ...q, maxSeries: -1 })).rejects.toThrow(/maxSeries=-1 must be a non-negative integer/);
  });

  it('refuses unknown aggregations and intervals naming the parameter', async () => {
    await expect(ms.queryAggregated({ metricPattern: '*', aggregation: 'median' as Aggregation, interval: '1h' })).rejects.toThrow(/aggregation="median"/);
    await expect(ms.queryAggregated({ metricPattern: '*', aggregation: 'avg', interval: '1 hour' })).rejects.toBeInstanceOf(MetricValidationError);
    await expect(ms.queryAggregated({ metricPattern: '*', aggregation: 'avg', interval: '0s' })).rejects.toThrow(/interval="0s"/);
    await expect(ms.queryAggregated({ metricPattern: '*', aggregation: 'avg', interval: '1h', groupBy: 'region' as unknown as string[] })).rejects.toThrow(/groupBy/);
  });
});

describe('latest and listSeries', () => {
  it('latest returns each series\' newest point', async () => {
    const latest = await ms.latest('svc.*');
    for (const l of latest) {
      const s = model.get(keyOf(l.metricId, l.tags))!;
      const pts = sortedPoints(s);
      expect([l.timestamp, l.value]).toEqual(pts[pts.length - 1]);
    }
    expect(latest.length).toBe([...model.values()].filter((s) => s.metricId.startsWith('svc.')).length);
  });

  it('listSeries filters by pattern and tags', async () => {
    const list = await ms.listSeries('*', { region: 'us' });
    expect(list.length).toBe(6);
    expect(list.every((s) => s.tags.region === 'us' && s.metricType === 'gauge')).toBe(true);
  });
});

describe('defaults and health', () => {
  it('an aggregated query without startTime starts at the first stored point', async () => {
    const r = await ms.queryAggregated({ metricPattern: 'svc.latency', aggregation: 'count', interval: '1m' });
    const total = r.reduce((n, s) => n + s.values.reduce((a, b) => a + b, 0), 0);
    const expected = [...model.values()].filter((s) => s.metricId === 'svc.latency').reduce((n, s) => n + s.points.size, 0);
    expect(total).toBe(expected);
  });

  it('checkWritable passes on a running engine and stats count what is stored', () => {
    expect(() => ms.checkWritable()).not.toThrow();
    const stats = ms.stats();
    expect(stats.series).toBe(model.size);
    expect(stats.diskBytes).toBeGreaterThan(0);
  });
});

describe('inline aggregated reads on their own connection', () => {
  it('see every acknowledged point, while ingest cuts heads and checkpoints between queries', async () => {
    const path = join(dir, 'inline.db');
    const sys = new EngineMetricsSystem({ path, queryWorkers: 0 }, { headCutPoints: 20, walCheckpointBytes: 4000 });
    await sys.start();
    const stored = new Map<string, number>();
    try {
      const q = { metricPattern: 'inl.*', aggregation: 'sum' as const, interval: '1h', startTime: T0, endTime: T0 + HOUR, groupBy: [] };
      for (let round = 0; round < 6; round++) {
        // New points and rewrites of stored ones: cut chunks, overlapping chunks and heads.
        const points = Array.from({ length: 250 }, (_, i) => ({
          metricId: `inl.m${i % 5}`, value: round * 1000 + i, timestamp: T0 + ((i * 13 + round * 37) % 900) * 1000,
        }));
        await sys.collectMetrics(points);
        for (const p of points) stored.set(`${p.metricId}@${p.timestamp}`, p.value);
        const [r] = await sys.queryAggregated(q);
        expect(r!.values[0], `round ${round}`).toBe([...stored.values()].reduce((a, b) => a + b, 0));
      }
    } finally {
      await sys.stop();
    }
  });
});

describe('snapshot isolation of worker queries', () => {
  it('a query fanned out to workers sees the data of its start, while ingest cuts heads and checkpoints underneath', async () => {
    const path = join(dir, 'snap.db');
    const sys = new EngineMetricsSystem({ path, queryWorkers: 2 }, { workerMinPoints: 1, headCutPoints: 20, walCheckpointBytes: 4000 });
    await sys.start();
    const stored = new Map<string, number>();
    const ingest = async (points: MetricDataPoint[]): Promise<void> => {
      await sys.collectMetrics(points);
      for (const p of points) stored.set(`${p.metricId}@${String(p.timestamp)}`, p.value);
    };
    const storedSum = (): number => [...stored.values()].reduce((a, b) => a + b, 0);
    try {
      await ingest(Array.from({ length: 600 }, (_, i) => ({ metricId: `snap.m${i % 6}`, value: i, timestamp: T0 + i * 1000 })));
      const q = { metricPattern: 'snap.*', aggregation: 'sum' as const, interval: '1h', startTime: T0, endTime: T0 + HOUR, groupBy: [] };
      await sys.queryAggregated(q); // starts the worker threads
      for (let round = 1; round <= 4; round++) {
        const expectedAtStart = storedSum();
        const pending = sys.queryAggregated(q);
        // New timestamps in the range and rewrites of stored ones, cutting heads and triggering
        // checkpoints while the workers read: none of it may leak into `pending`.
        await ingest(Array.from({ length: 300 }, (_, i) => ({ metricId: `snap.m${i % 6}`, value: round * 1000 + i, timestamp: T0 + ((i * 7) % 600) * 1000 + (i % 2) * round * 100 })));
        const [r] = await pending;
        expect(r!.values[0], `round ${round}`).toBe(expectedAtStart);
        await new Promise((resolve) => setImmediate(resolve));
      }
      const [after] = await sys.queryAggregated(q);
      expect(after!.values[0]).toBe(storedSum());
    } finally {
      await sys.stop();
    }
  });
});
