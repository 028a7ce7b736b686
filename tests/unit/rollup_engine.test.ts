/**
 * Rollups through the storage and query engines: the same queries answered with rollups and
 * without (QueryEngine `rollups: false`) must agree bit for bit, on random data with gaps,
 * counter resets, out-of-order writes and duplicate timestamps (overlapping chunks: last write
 * wins), before and after compaction, an erasure and retention, which must also drop the
 * rollups of the chunks they delete. Counts are checked against a plain model of the points.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StorageEngine } from '../../src/storage/storage_engine.js';
import { openSqliteStore } from './sqlite_store_kit.js';
import { SeriesResolver } from '../../src/ingest/series_resolver.js';
import { buildRowBatch } from '../../src/ingest/batch_builder.js';
import { QueryEngine } from '../../src/query/query_engine.js';
import { erasePoints } from '../../src/storage/point_erasure.js';
import type { Aggregation, SeriesResult } from '../../src/model/api.js';
import type { MetricDataPoint } from '../../src/model/metric.js';
import { mulberry32 } from '../../bench/data_shapes.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 5, 1);
const AGGREGATIONS: Aggregation[] = ['count', 'sum', 'avg', 'min', 'max', 'first', 'last', 'stddev', 'rate'];

const rng = mulberry32;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-rollup-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const HOSTS = ['a', 'b', 'c', 'd'];

/**
 * Two days of 10–40 s points per host for a gauge and a counter, with gaps of up to 3 h and
 * counter resets, sent in time order; then late batches: older points re-sent with new values
 * (duplicate timestamps) and points filling gaps, which land as chunks overlapping older ones.
 */
function workload(random: () => number): { inOrder: MetricDataPoint[][]; late: MetricDataPoint[][] } {
  const perHost: MetricDataPoint[][][] = [];
  const sent: MetricDataPoint[] = [];
  for (const host of HOSTS) {
    const inOrder: MetricDataPoint[][] = [];
    perHost.push(inOrder);
    let t = T0 + Math.floor(random() * 5000);
    let counter = 0;
    let batch: MetricDataPoint[] = [];
    while (t < T0 + 2 * DAY) {
      t += random() < 0.002 ? Math.floor(random() * 3 * HOUR) : 10_000 + Math.floor(random() * 30_000);
      counter = random() < 0.002 ? Math.floor(random() * 10) : counter + Math.floor(random() * 500) / 10;
      const gauge: MetricDataPoint = { metricId: 'cpu.load', tags: { host }, timestamp: t, value: Math.round((random() * 100 - 20) * 1000) / 1000 };
      const count: MetricDataPoint = { metricId: 'net.bytes', tags: { host }, timestamp: t, value: counter };
      batch.push(gauge, count);
      sent.push(gauge);
      if (batch.length >= 400) {
        inOrder.push(batch);
        batch = [];
      }
    }
    if (batch.length > 0) inOrder.push(batch);
  }
  // Hosts side by side, as agents send them: every host's first day comes before the second.
  const inOrder: MetricDataPoint[][] = [];
  for (let k = 0; k < Math.max(...perHost.map((b) => b.length)); k++) for (const b of perHost) if (k < b.length) inOrder.push(b[k]!);
  const late: MetricDataPoint[][] = [];
  for (let b = 0; b < 3; b++) {
    const batch: MetricDataPoint[] = [];
    for (let i = 0; i < 150; i++) {
      const p = sent[Math.floor(random() * sent.length)]!;
      batch.push(random() < 0.5
        ? { ...p, value: Math.round(random() * 1e5) / 100 }
        : { ...p, timestamp: (p.timestamp as number) + 1 + Math.floor(random() * 9000), value: Math.round(random() * 1e5) / 100 });
    }
    late.push(batch);
  }
  return { inOrder, late };
}

/** Every value bit for bit (Object.is: -0 and NaN included). */
function sameSeries(a: SeriesResult[], b: SeriesResult[]): string | undefined {
  if (a.length !== b.length) return `${a.length} series vs ${b.length}`;
  for (let s = 0; s < a.length; s++) {
    const x = a[s]!;
    const y = b[s]!;
    if (x.metricId !== y.metricId || JSON.stringify(x.tags) !== JSON.stringify(y.tags)) return `series ${s} differs`;
    if (x.timestamps.length !== y.timestamps.length) return `series ${s}: ${x.timestamps.length} buckets vs ${y.timestamps.length}`;
    for (let i = 0; i < x.timestamps.length; i++) {
      if (x.timestamps[i] !== y.timestamps[i] || !Object.is(x.values[i], y.values[i])) {
        return `series ${s} bucket ${x.timestamps[i]}: ${x.values[i]} vs ${y.timestamps[i]} ${y.values[i]}`;
      }
    }
  }
  return undefined;
}

interface Query { metricPattern: string; aggregation: Aggregation; interval: string; startTime: number; endTime: number; groupBy?: string[] }

function queries(random: () => number): Query[] {
  const out: Query[] = [];
  const intervals: Array<[string, number]> = [['5m', 5 * MIN], ['15m', 15 * MIN], ['1h', HOUR], ['6h', 6 * HOUR], ['1d', DAY]];
  for (const [interval, ms] of intervals) {
    const mid = T0 + Math.floor(random() * 2 * DAY);
    const ranges: Array<[number, number]> = [
      [T0 - DAY, T0 + 3 * DAY],
      // Bounds on 5 min / 1 h inside chunks.
      [Math.floor(mid / (5 * MIN)) * 5 * MIN, Math.floor(mid / HOUR) * HOUR + 7 * HOUR],
      // Off the resolutions: edge chunks are decoded.
      [mid + 1234, mid + 17 * HOUR + 5],
    ];
    for (const [startTime, endTime] of ranges) {
      for (const aggregation of AGGREGATIONS) {
        const metricPattern = aggregation === 'rate' ? 'net.bytes' : 'cpu.load';
        out.push({ metricPattern, aggregation, interval, startTime, endTime });
        if (ms >= HOUR) out.push({ metricPattern: '*', aggregation, interval, startTime, endTime, groupBy: [] });
      }
    }
  }
  return out;
}

/** Compares the two engines on every `every`-th query from `offset` (stages share the load). */
async function compareAll(raw: QueryEngine, fast: QueryEngine, qs: Query[], stage: string, every = 1, offset = 0): Promise<void> {
  const wrong: string[] = [];
  for (let k = offset; k < qs.length; k += every) {
    const q = qs[k]!;
    const a = await fast.aggregated('default', q);
    const b = await raw.aggregated('default', q);
    const diff = sameSeries(a.series, b.series);
    if (diff !== undefined) wrong.push(`${stage} ${JSON.stringify(q)}: ${diff}`);
  }
  expect(wrong).toEqual([]);
}

function pointsIn(store: StorageEngine): number {
  let n = 0;
  for (const sid of store.chunks.seriesWithChunks()) for (const c of store.chunks.chunksOf(sid)) n += c.count;
  return n;
}

describe('rollups in the engine', () => {
  it('answer exactly as decoding does, through overlaps, compaction, erasure and retention', async () => {
    const random = rng(20260601);
    // No settling on its own (checked hourly): the test compacts when it means to, so which
    // chunks hold rollups at each step does not depend on the machine's speed.
    const store = await openSqliteStore({
      path: join(dir, 'r.db'), headCutPoints: 700, chunkEncoding: 'inline', retentionDays: 1, settle: { checkIntervalMs: 3_600_000 },
    });
    const raw = new QueryEngine(store, { workers: 0, rollups: false });
    const fast = new QueryEngine(store, { workers: 0 });
    try {
      const resolver = new SeriesResolver(store.catalog.tenant('default'));
      const { inOrder, late } = workload(random);
      const model = new Map<string, Map<number, number>>();
      const commit = async (batch: MetricDataPoint[]): Promise<void> => {
        await store.commit([buildRowBatch(batch, resolver, T0)]);
        for (const p of batch) {
          const k = `${p.metricId}|${p.tags!.host}`;
          if (!model.has(k)) model.set(k, new Map());
          model.get(k)!.set(p.timestamp as number, p.value);
        }
      };
      // Half the data, then a query over every series: from then on their in-order cuts get
      // rollups when they land.
      const half = Math.floor(inOrder.length / 2);
      for (const batch of inOrder.slice(0, half)) await commit(batch);
      await fast.aggregated('default', { metricPattern: '*', aggregation: 'sum', interval: '1h', startTime: T0, endTime: T0 + 3 * DAY });
      await fast.rollupWarmer.idle();
      // From here only cut landings build (no query runs until the check): settling may pack
      // the new chunks afterwards, so count builds rather than look for the chunks.
      const builtBefore = store.rollups.stats().built;
      for (const batch of inOrder.slice(half)) await commit(batch);
      await store.settle();
      expect(store.rollups.stats().built).toBeGreaterThan(builtBefore);
      const qs = queries(random);
      const hits0 = store.rollups.stats().hits;
      await compareAll(raw, fast, qs, 'in order', 2, 0);
      expect(store.rollups.stats().hits).toBeGreaterThan(hits0);

      // Late writes: overlapping chunks and heads (last write wins needs the raw merge there).
      for (const batch of late) await commit(batch);
      await store.checkpoint();
      await store.settle();
      await compareAll(raw, fast, qs, 'overlapping', 3, 0);
      await fast.rollupWarmer.idle();
      await compareAll(raw, fast, qs, 'overlapping, warmed', 3, 1);

      // The count over everything equals the model's point count (last write wins).
      const all = await fast.aggregated('default', { metricPattern: '*', aggregation: 'count', interval: '1d', startTime: T0 - DAY, endTime: T0 + 3 * DAY, groupBy: [] });
      let modelPoints = 0;
      for (const m of model.values()) modelPoints += m.size;
      expect(all.series[0]!.values.reduce((x, y) => x + y, 0)).toBe(modelPoints);

      // Compaction replaces chunks: their rollups go, the new chunks get theirs from the warmer.
      const before = new Set<number>();
      for (const sid of store.chunks.seriesWithChunks()) for (const c of store.chunks.chunksOf(sid)) if (store.rollups.has(c.id)) before.add(c.id);
      expect(before.size).toBeGreaterThan(0);
      await store.compactAll();
      const after = new Set<number>();
      for (const sid of store.chunks.seriesWithChunks()) for (const c of store.chunks.chunksOf(sid)) after.add(c.id);
      for (const id of before) if (!after.has(id)) expect(store.rollups.has(id), `rollup of deleted chunk ${id}`).toBe(false);
      await compareAll(raw, fast, qs, 'compacted', 3, 2);
      await fast.rollupWarmer.idle();
      const hits1 = store.rollups.stats().hits;
      await compareAll(raw, fast, qs, 'compacted, warmed', 2, 1);
      expect(store.rollups.stats().hits).toBeGreaterThan(hits1);

      // An erasure rewrites the chunks straddling its range and deletes those inside.
      const series = [...store.catalog.tenant('default').metrics()].flatMap(([, list]) => list);
      await erasePoints(store, series, { startMs: T0 + 20 * HOUR + 123, endMs: T0 + 27 * HOUR });
      await compareAll(raw, fast, qs, 'erased', 3, 0);
      await fast.rollupWarmer.idle();
      await compareAll(raw, fast, qs, 'erased, warmed', 3, 1);
      const erased = await fast.aggregated('default', { metricPattern: '*', aggregation: 'count', interval: '5m', startTime: T0 + 20 * HOUR + 123, endTime: T0 + 27 * HOUR, groupBy: [] });
      expect(erased.series).toEqual([]);

      // A third day of one metric, then retention (one day) at 6 h after it drops the chunks
      // ending before (net.bytes: all of them), and their rollups.
      const day3: MetricDataPoint[] = [];
      for (const host of HOSTS) for (let t = T0 + 2 * DAY + 5000; t < T0 + 3 * DAY; t += 15_000) day3.push({ metricId: 'cpu.load', tags: { host }, timestamp: t, value: Math.round(random() * 1e4) / 100 });
      await commit(day3);
      await store.checkpoint();
      await store.settle();
      await compareAll(raw, fast, qs, 'third day', 3, 1);
      await fast.rollupWarmer.idle();
      const held = new Map<number, number>();
      for (const sid of store.chunks.seriesWithChunks()) for (const c of store.chunks.chunksOf(sid)) if (store.rollups.has(c.id)) held.set(c.id, c.maxTs);
      const cutoff = T0 + 3 * DAY + 6 * HOUR - DAY;
      expect([...held.values()].some((maxTs) => maxTs < cutoff)).toBe(true);
      const pointsBefore = pointsIn(store);
      await store.applyRetention(T0 + 3 * DAY + 6 * HOUR);
      expect(pointsIn(store)).toBeLessThan(pointsBefore);
      for (const [id, maxTs] of held) if (maxTs < cutoff) expect(store.rollups.has(id), `rollup of dropped chunk ${id}`).toBe(false);
      await compareAll(raw, fast, qs, 'retention', 3, 2);
      const stats = store.rollups.stats();
      expect(stats.bytes).toBeGreaterThan(0);
      expect(stats.bytes).toBeLessThanOrEqual(stats.budgetBytes);
      expect(stats.misses).toBeGreaterThan(0);
    } finally {
      await fast.close();
      await raw.close();
      await store.close();
    }
  }, 60_000);

  it('stays within its byte budget, least recently used out first, and misses fall back to decoding', async () => {
    const random = rng(7);
    const store = await openSqliteStore({ path: join(dir, 'b.db'), headCutPoints: 500, chunkEncoding: 'inline', rollupBudgetBytes: 40_000 });
    const raw = new QueryEngine(store, { workers: 0, rollups: false });
    const fast = new QueryEngine(store, { workers: 0 });
    try {
      const resolver = new SeriesResolver(store.catalog.tenant('default'));
      const { inOrder } = workload(random);
      for (const [k, batch] of inOrder.entries()) {
        await store.commit([buildRowBatch(batch, resolver, T0)]);
        // Queried early on: the rest of the cuts build rollups as they land.
        if (k === 2) await fast.aggregated('default', { metricPattern: '*', aggregation: 'avg', interval: '1h', startTime: T0, endTime: T0 + 3 * DAY });
      }
      await store.settle();
      const stats = store.rollups.stats();
      expect(stats.built).toBeGreaterThan(stats.chunks);
      expect(stats.evicted).toBeGreaterThan(0);
      expect(stats.bytes).toBeLessThanOrEqual(40_000);
      await compareAll(raw, fast, queries(random).slice(0, 40), 'small budget');
    } finally {
      await fast.close();
      await raw.close();
      await store.close();
    }
  }, 60_000);
});
