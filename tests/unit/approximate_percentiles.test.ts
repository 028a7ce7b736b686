/**
 * Opt-in approximate percentiles through the storage and query engines
 * (src/query/approximate_percentiles.ts): on random data with gaps, negatives, ties,
 * out-of-order writes (overlapping chunks: last write wins), heads, and erased points, every
 * answer is within the stated bound of the exact percentile of a plain model of the points,
 * over the same buckets as the exact path; a repeated query merges rollup sketches instead
 * of decoding; the parameter is validated (400 naming it) and states method and bound, and
 * without it the answer is the exact path's, byte for byte.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from './sqlite_store_kit.js';
import { SeriesResolver } from '../../src/ingest/series_resolver.js';
import { buildRowBatch } from '../../src/ingest/batch_builder.js';
import { QueryEngine } from '../../src/query/query_engine.js';
import { approximatePercentiles } from '../../src/query/approximate_percentiles.js';
import { erasePoints } from '../../src/storage/point_erasure.js';
import { PERCENTILE_SKETCH_ACCURACY, parsePercentileAccuracy, type AggregatedQuery } from '../../src/model/api.js';
import type { MetricDataPoint } from '../../src/model/metric.js';
import { HttpError } from '../../src/http/route.js';
import { checkerOf } from '../../src/http/strict_params.js';
import { queryFromBody, queryFromSearchParams } from '../../src/server/query_request.js';
import { QUERY_GET_SCHEMA, QUERY_POST_SCHEMA } from '../../src/server/builtin_schemas.js';
import { writeQueryJson } from '../../src/server/query_json_writer.js';
import { mulberry32 } from '../../bench/data_shapes.js';
import { RollupStore } from '../../src/storage/rollup/rollup_store.js';
import { rollupSketchBytes } from '../../src/core/rollup_sketches.js';
import type { ChunkRow } from '../../src/storage/chunk_rows.js';
import { exactAndBound } from './percentile_bound_kit.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 5, 1);
const ALPHA = PERCENTILE_SKETCH_ACCURACY;
const QUANTILE = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 } as const;
const HOSTS = ['a', 'b', 'c'];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-approx-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Per host a value shape: uniform, lognormal-ish with ties, mixed sign with constants. */
function valueFor(host: string, random: () => number): number {
  if (host === 'a') return Math.round(random() * 1e5) / 100;
  if (host === 'b') return random() < 0.3 ? 7 : Math.round(Math.exp(4 * (random() - 0.5)) * 1e4) / 1e4;
  return random() < 0.1 ? 0 : Math.round((random() - 0.6) * 2e4) / 10;
}

type Model = Map<string, Map<number, number>>;

function check(
  result: { series: Array<{ tags: Record<string, string>; timestamps: Float64Array; values: Float64Array }> },
  exact: { series: Array<{ timestamps: Float64Array; values: Float64Array }> },
  model: Model, q: AggregatedQuery & { startTime: number; endTime: number }, intervalMs: number,
): string[] {
  const wrong: string[] = [];
  const quantile = QUANTILE[q.aggregation as keyof typeof QUANTILE];
  if (result.series.length !== exact.series.length) return [`${result.series.length} series vs exact ${exact.series.length}`];
  result.series.forEach((s, k) => {
    const e = exact.series[k]!;
    if (Array.from(s.timestamps).join() !== Array.from(e.timestamps).join()) wrong.push(`${JSON.stringify(q)} series ${k}: other buckets than exact`);
    const hosts = q.groupBy === undefined ? [s.tags.host!] : HOSTS;
    s.timestamps.forEach((bucketStart, b) => {
      const values: number[] = [];
      for (const host of hosts) {
        for (const [ts, v] of model.get(host) ?? []) {
          if (ts >= q.startTime && ts < q.endTime && ts >= bucketStart && ts < bucketStart + intervalMs) values.push(v);
        }
      }
      const sorted = Float64Array.from(values).sort();
      const { exact: x, bound } = exactAndBound(sorted, quantile, ALPHA);
      if (x !== e.values[b]) wrong.push(`${JSON.stringify(q)} bucket ${bucketStart}: model ${x} vs exact path ${e.values[b]}`);
      const err = Math.abs(s.values[b]! - x);
      if (err > bound + 1e-12 * Math.abs(x)) wrong.push(`${JSON.stringify(q)} bucket ${bucketStart}: ${s.values[b]} vs ${x}, error ${err} > ${bound}`);
    });
  });
  return wrong;
}

describe('approximate percentiles in the engine', () => {
  it('stay within the stated bound of the exact percentile through rollups, overlaps, heads and erasure', async () => {
    const random = mulberry32(1616);
    const store = await openSqliteStore({ path: join(dir, 'a.db'), headCutPoints: 500, chunkEncoding: 'inline', settle: { checkIntervalMs: 3_600_000 } });
    const engine = new QueryEngine(store, { workers: 0 });
    try {
      const resolver = new SeriesResolver(store.catalog.tenant('default'));
      const model: Model = new Map(HOSTS.map((h) => [h, new Map()]));
      const commit = async (batch: MetricDataPoint[]): Promise<void> => {
        await store.commit([buildRowBatch(batch, resolver, T0)]);
        for (const p of batch) model.get(p.tags!.host!)!.set(p.timestamp as number, p.value);
      };
      // Two days of 10–40 s points, gaps of up to 3 h.
      const sent: MetricDataPoint[] = [];
      for (const host of HOSTS) {
        let t = T0 + Math.floor(random() * 5000);
        let batch: MetricDataPoint[] = [];
        while (t < T0 + 2 * DAY) {
          t += random() < 0.003 ? Math.floor(random() * 3 * HOUR) : 10_000 + Math.floor(random() * 30_000);
          const p = { metricId: 'lat', tags: { host }, timestamp: t, value: valueFor(host, random) };
          batch.push(p);
          sent.push(p);
          if (batch.length >= 300) {
            await commit(batch);
            batch = [];
          }
        }
        await commit(batch);
      }
      await store.checkpoint();

      const queries: Array<AggregatedQuery & { startTime: number; endTime: number }> = [];
      const intervals: Array<[string, number]> = [['5m', 5 * MIN], ['1h', HOUR], ['6h', 6 * HOUR], ['7m', 7 * MIN]];
      for (const [interval] of intervals) {
        for (const aggregation of ['p50', 'p99'] as const) {
          queries.push({ metricPattern: 'lat', aggregation, interval, startTime: T0 - DAY, endTime: T0 + 3 * DAY, percentileAccuracy: 0.01 });
          // Bounds inside chunks, on the hour, and off every resolution.
          queries.push({ metricPattern: 'lat', aggregation, interval, startTime: T0 + 5 * HOUR, endTime: T0 + 29 * HOUR, percentileAccuracy: 0.05, groupBy: [] });
          queries.push({ metricPattern: 'lat', aggregation, interval, startTime: T0 + 5 * HOUR + 1234, endTime: T0 + 20 * HOUR + 7, percentileAccuracy: 0.01 });
        }
      }
      const intervalOf = new Map(intervals);
      const runAll = async (stage: string): Promise<void> => {
        const wrong: string[] = [];
        for (const q of queries) {
          const approx = await engine.aggregated('default', q);
          expect(approx.stats.percentile).toEqual({ method: 'ddsketch', relativeError: ALPHA });
          const { percentileAccuracy: _, ...exactQuery } = q;
          const exact = await engine.aggregated('default', exactQuery);
          expect(exact.stats.percentile).toBeUndefined();
          wrong.push(...check(approx, exact, model, q, intervalOf.get(q.interval)!).map((w) => `${stage}: ${w}`));
        }
        expect(wrong).toEqual([]);
      };

      await runAll('first read (decodes, builds sketches)');
      const hits = store.rollups.stats().hits;
      const bytes = store.rollups.stats().bytes;
      await runAll('second read (merges sketches)');
      expect(store.rollups.stats().hits).toBeGreaterThan(hits);
      // Now the chunks are answered from their sketches: nothing of theirs is added as points.
      const [lat] = [...store.catalog.tenant('default').metrics()].map(([, list]) => list);
      const { maxChunkId } = store.beginSnapshotRead();
      try {
        const read = { aggregation: 'p99' as const, intervalMs: HOUR, startMs: T0 - DAY, endMs: T0 + 3 * DAY, maxChunkId };
        const outcome = await approximatePercentiles(store.chunkSource, store.rollups, 1, lat!.map((s) => ({ seriesId: s.id, seriesName: 'lat', head: undefined, group: 0 })), read);
        expect(outcome.sketchesMerged).toBeGreaterThan(3 * 40);
        expect(outcome.pointsScanned).toBe([...model.values()].reduce((n, m) => n + m.size, 0));
      } finally {
        store.endSnapshotRead();
      }
      expect(bytes).toBeGreaterThan(0);
      expect(store.rollups.stats().bytes).toBeLessThanOrEqual(store.rollups.stats().budgetBytes);

      // Late writes: values rewritten at old timestamps and points between: overlapping chunks, and heads.
      for (let b = 0; b < 3; b++) {
        const batch: MetricDataPoint[] = [];
        for (let i = 0; i < 200; i++) {
          const p = sent[Math.floor(random() * sent.length)]!;
          batch.push(random() < 0.5
            ? { ...p, value: valueFor(p.tags!.host!, random) }
            : { ...p, timestamp: (p.timestamp as number) + 1 + Math.floor(random() * 9000), value: valueFor(p.tags!.host!, random) });
        }
        await commit(batch);
      }
      await runAll('overlapping, heads');
      await store.checkpoint();
      await runAll('overlapping, checkpointed');

      // Deleted points.
      const series = [...store.catalog.tenant('default').metrics()].flatMap(([, list]) => list);
      const erase = { startMs: T0 + 10 * HOUR + 123, endMs: T0 + 14 * HOUR };
      await erasePoints(store, series, erase);
      for (const m of model.values()) for (const ts of [...m.keys()]) if (ts >= erase.startMs && ts < erase.endMs) m.delete(ts);
      await runAll('erased');
      await store.compactAll();
      await runAll('compacted');
    } finally {
      await engine.close();
      await store.close();
    }
  }, 120_000);
});

describe('rollup sketches in the rollup store', () => {
  it('are counted in the byte budget, kept only when asked for, and evicted with their entry', () => {
    const n = 8640;
    const ts = Float64Array.from({ length: n }, (_, i) => T0 + i * 10_000);
    const vs = Float64Array.from({ length: n }, (_, i) => Math.round(Math.sin(i / 40) * 1e4) / 100);
    const row = (id: number): ChunkRow => ({
      id, series_id: 1, min_ts: ts[0]!, max_ts: ts[n - 1]!, count: n, sum: vs.reduce((a, b) => a + b, 0), first: vs[0]!, last: vs[n - 1]!,
    } as ChunkRow);
    const probe = new RollupStore();
    probe.build(1, ts, vs);
    const recordsOnly = probe.stats().bytes;
    expect(probe.sketchesFor(row(1), HOUR)).toBeUndefined();
    probe.build(1, ts, vs, true);
    const withSketches = probe.stats().bytes;
    const sketches = [probe.sketchesFor(row(1), HOUR)!, probe.sketchesFor(row(1), 5 * MIN)!];
    expect(sketches[0]!.buckets.length).toBe(24);
    expect(sketches[1]!.buckets.length).toBe(288);
    expect(withSketches - recordsOnly).toBe(rollupSketchBytes(sketches[0]!) + rollupSketchBytes(sketches[1]!));
    // A budget for two such entries: the third evicts the least recently used.
    const store = new RollupStore(2 * withSketches + 10);
    for (const id of [1, 2, 3]) store.build(id, ts, vs, true);
    expect(store.stats()).toMatchObject({ chunks: 2, evicted: 1 });
    expect(store.stats().bytes).toBeLessThanOrEqual(store.budgetBytes);
    expect(store.sketchesFor(row(1), HOUR)).toBeUndefined();
    expect(store.sketchesFor(row(3), HOUR)).toBeDefined();
    // Cuts of a series get sketches only while an approximate query read it lately.
    store.noteQueried(7, 1_000);
    expect(store.wantsSketches(7, 2_000)).toBe(false);
    store.noteQueried(7, 1_000, true);
    expect(store.wantsSketches(7, 2_000)).toBe(true);
    expect(store.wantsSketches(7, 1_000 + 11 * MIN)).toBe(false);
  });
});

describe('the percentile_accuracy parameter', () => {
  const limits = { maxSeries: 10, maxPoints: 1000 };

  it('is read from the query string and the body, and validated with a 400 naming it', () => {
    const get = queryFromSearchParams(new URLSearchParams('metric_pattern=x&aggregation=p99&interval=1h&percentile_accuracy=0.02'), limits);
    expect(get).toMatchObject({ aggregation: 'p99', percentileAccuracy: 0.02 });
    expect(queryFromBody({ metric_pattern: 'x', aggregation: 'p50', interval: '1h', percentile_accuracy: 0.01 }, limits)).toMatchObject({ percentileAccuracy: 0.01 });
    expect(queryFromSearchParams(new URLSearchParams('metric_pattern=x&aggregation=p99&interval=1h'), limits)).not.toHaveProperty('percentileAccuracy');
    const refused = (make: () => unknown): HttpError => {
      try {
        make();
      } catch (err) {
        return err as HttpError;
      }
      throw new Error('not refused');
    };
    for (const [text, message] of [
      ['0.001', /percentile_accuracy=0\.001 must be a number in \[0\.01, 1\)/],
      ['1', /percentile_accuracy=1 must be a number in \[0\.01, 1\)/],
      ['abc', /percentile_accuracy="abc" must be a number/],
      ['NaN', /percentile_accuracy="NaN" must be a number/],
    ] as const) {
      const e = refused(() => queryFromSearchParams(new URLSearchParams(`metric_pattern=x&aggregation=p90&interval=1h&percentile_accuracy=${text}`), limits));
      expect(e).toBeInstanceOf(HttpError);
      expect(e.status).toBe(400);
      expect(e.message).toMatch(message);
      expect(e.body).toMatchObject({ parameter: 'percentile_accuracy' });
    }
    const avg = refused(() => queryFromBody({ metric_pattern: 'x', aggregation: 'avg', interval: '1h', percentile_accuracy: 0.01 }, limits));
    expect(avg.status).toBe(400);
    expect(avg.message).toMatch(/percentile_accuracy=0\.01 applies to p50, p90, p95, p99 only, not aggregation=avg/);
    const raw = refused(() => queryFromSearchParams(new URLSearchParams('metric_pattern=x&percentile_accuracy=0.01'), limits));
    expect(raw.body).toMatchObject({ parameter: 'percentile_accuracy' });
    expect(() => parsePercentileAccuracy('0.01', 'p99')).toThrow(/percentileAccuracy="0\.01" must be a number/);
  });

  it('is part of the strict route schemas (a typo gets a hint; a bad value is refused before the handler)', () => {
    expect(checkerOf(QUERY_GET_SCHEMA).check(new URLSearchParams('metric_pattern=x&aggregation=p99&interval=1h&percentile_accuracy=0.01'), undefined, false)).toEqual([]);
    const typo = checkerOf(QUERY_GET_SCHEMA).check(new URLSearchParams('metric_pattern=x&percentile_acuracy=0.01'), undefined, false);
    expect(typo[0]).toMatchObject({ name: 'percentile_acuracy', problem: 'unknown', did_you_mean: 'percentile_accuracy' });
    const low = checkerOf(QUERY_POST_SCHEMA).check(new URLSearchParams(''), { metric_pattern: 'x', percentile_accuracy: 0 }, true);
    expect(low).toMatchObject([{ name: 'percentile_accuracy', problem: 'invalid' }]);
  });

  it('states method and bound in the response only when used: otherwise the bytes are unchanged', () => {
    const series = [{ metricId: 'm', metricType: 'gauge' as const, tags: {}, timestamps: Float64Array.of(0, 3_600_000), values: Float64Array.of(1.5, 2) }];
    const plain = writeQueryJson(series, { series: 1, pointsScanned: 10, elapsedMs: 1.25 }).toString('utf8');
    expect(plain).toBe(JSON.stringify({ series: [{ metric_id: 'm', metric_type: 'gauge', tags: {}, points: [[0, 1.5], [3_600_000, 2]] }], stats: { series: 1, points_scanned: 10, elapsed_ms: 1.25 } }));
    const approx = JSON.parse(writeQueryJson(series, { series: 1, pointsScanned: 10, elapsedMs: 1.25, percentile: { method: 'ddsketch', relativeError: 0.01 } }).toString('utf8'));
    expect(approx.stats.percentile).toEqual({ method: 'ddsketch', relative_error: 0.01 });
  });
});
