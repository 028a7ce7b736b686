// Bucketed aggregation: the WASM path (src/core/bucket_accumulator.ts) against the plain-TS
// reference (src/core/reference/aggregate.ts) on seeded random inputs, plus hand-computed cases.
import { describe, expect, it } from 'vitest';
import { AGGREGATIONS, type Aggregation } from '../../src/model/api.js';
import * as aggregateKernel from '../../src/core/aggregate_kernel.js';
import { aggregateInstance, bucketPercentiles, QUANTILE_OF } from '../../src/core/aggregate_kernel.js';
import { MAX_BUCKETS, type AggregateResult } from '../../src/core/aggregate_options.js';
import { partialTransferList } from '../../src/core/aggregate_partial.js';
import { AggregationInputError, BucketAccumulator, aggregate } from '../../src/core/bucket_accumulator.js';
import { summarizeChunk, summaryUsable } from '../../src/core/chunk_summary.js';
import { ChunkDecodeError, encodeChunk } from '../../src/core/codec.js';
import { aggregateReference, type ReferenceSeries } from '../../src/core/reference/aggregate.js';
import { mulberry32 } from '../../bench/data_shapes.js';

const rng = mulberry32;

const T0 = Date.UTC(2026, 0, 1, 0, 0, 7);

type Shape = 'walk' | 'floats' | 'counter';

function makeSeries(random: () => number, n: number, shape: Shape, startTs = T0): ReferenceSeries & { timestamps: Float64Array; values: Float64Array } {
  const timestamps = new Float64Array(n);
  const values = new Float64Array(n);
  let t = startTs + Math.floor(random() * 5000);
  let v = shape === 'counter' ? Math.floor(random() * 100) : 50;
  for (let i = 0; i < n; i++) {
    // Mostly 10 s steps with jitter, sometimes long gaps, so some buckets stay empty.
    t += random() < 0.02 ? 1 + Math.floor(random() * 600_000) : 9_000 + Math.floor(random() * 2_000);
    timestamps[i] = t;
    if (shape === 'walk') {
      v = Math.round((v + (random() - 0.5) * 4) * 100) / 100;
      values[i] = v;
    } else if (shape === 'floats') {
      values[i] = (random() - 0.3) * 1e6 * random();
    } else {
      // Counter with resets to 0 now and then (a restarted process).
      v = random() < 0.03 ? Math.floor(random() * 5) : v + Math.floor(random() * 50);
      values[i] = v;
    }
  }
  return { timestamps, values };
}

const EXACT: ReadonlySet<Aggregation> = new Set(['count', 'min', 'max', 'first', 'last', 'p50', 'p90', 'p95', 'p99']);

function expectSameResult(actual: AggregateResult, expected: AggregateResult, aggregation: Aggregation): void {
  expect(Array.from(actual.timestamps)).toEqual(Array.from(expected.timestamps));
  if (EXACT.has(aggregation)) {
    expect(Array.from(actual.values)).toEqual(Array.from(expected.values));
    return;
  }
  expect(actual.values.length).toBe(expected.values.length);
  for (let i = 0; i < expected.values.length; i++) {
    const e = expected.values[i]!;
    const a = actual.values[i]!;
    // Summation order differs (runs, then buckets); stddev's formula differs too.
    const scale = aggregation === 'stddev' ? Math.max(1, e) * 1e-7 : Math.max(1, Math.abs(e)) * 1e-10;
    if (!(Math.abs(a - e) <= scale)) expect.fail(`${aggregation} bucket ${i}: got ${a}, expected ${e}`);
  }
}

function shapeFor(aggregation: Aggregation, seed: number): Shape {
  if (aggregation === 'rate') return 'counter';
  return seed % 2 === 0 ? 'walk' : 'floats';
}

describe('aggregate() against the reference', () => {
  for (const aggregation of AGGREGATIONS) {
    it(`${aggregation}: random series, intervals not dividing the range, points outside it`, () => {
      for (let seed = 1; seed <= 12; seed++) {
        const random = rng(seed * 7919 + aggregation.length);
        const n = 1 + Math.floor(random() * 3000);
        const s = makeSeries(random, n, shapeFor(aggregation, seed));
        const intervalMs = [1_000, 7_000, 60_000, 300_000, 3_600_000, 86_400_000][seed % 6]!;
        const span = s.timestamps[n - 1]! - s.timestamps[0]!;
        // Some seeds unbounded, others a range that cuts both ends off at unaligned times.
        const options = seed % 3 === 0
          ? { aggregation, intervalMs }
          : {
            aggregation, intervalMs,
            startMs: Math.floor(s.timestamps[0]! + span * random() * 0.3) + 1,
            endMs: Math.floor(s.timestamps[0]! + span * (0.7 + random() * 0.3)) + 3,
          };
        expectSameResult(aggregate(s.timestamps, s.values, options), aggregateReference([s], options), aggregation);
      }
    });
  }

  it('uses one bucket per point when every point has its own bucket', () => {
    const ts = Float64Array.from([T0, T0 + 60_000, T0 + 120_000]);
    const vs = Float64Array.from([3, 1, 2]);
    for (const aggregation of AGGREGATIONS) {
      const got = aggregate(ts, vs, { aggregation, intervalMs: 60_000 });
      const start = Math.floor(T0 / 60_000) * 60_000;
      expect(Array.from(got.timestamps)).toEqual([start, start + 60_000, start + 120_000]);
      const expected = aggregation === 'count' ? [1, 1, 1]
        : aggregation === 'stddev' ? [0, 0, 0]
        : aggregation === 'rate' ? [0, 0, 2 / 60] // 3 → 1 is a reset (+1), 1 → 2 is +1
        : [3, 1, 2];
      if (aggregation === 'rate') expect(Array.from(got.values)).toEqual([0, 1 / 60, 1 / 60]);
      else expect(Array.from(got.values)).toEqual(expected);
    }
  });

  it('returns empty results for empty input and for input outside the range', () => {
    for (const aggregation of AGGREGATIONS) {
      const empty = aggregate(new Float64Array(0), new Float64Array(0), { aggregation, intervalMs: 1000 });
      expect(empty.timestamps.length).toBe(0);
      expect(empty.values.length).toBe(0);
      const outside = aggregate(Float64Array.from([T0, T0 + 1]), Float64Array.from([1, 2]),
        { aggregation, intervalMs: 1000, startMs: T0 + 10, endMs: T0 + 20 });
      expect(outside.timestamps.length).toBe(0);
    }
  });

  it('computes hand-checked numbers for one bucket', () => {
    // Bucket [0, 10 s): values 1, 2, 4, 8 at 1 s … 4 s.
    const ts = Float64Array.from([1000, 2000, 3000, 4000]);
    const vs = Float64Array.from([1, 2, 4, 8]);
    const one = (aggregation: Aggregation): number => aggregate(ts, vs, { aggregation, intervalMs: 10_000 }).values[0]!;
    expect(one('count')).toBe(4);
    expect(one('sum')).toBe(15);
    expect(one('avg')).toBe(3.75);
    expect(one('min')).toBe(1);
    expect(one('max')).toBe(8);
    expect(one('first')).toBe(1);
    expect(one('last')).toBe(8);
    // Population stddev: mean 3.75, squared deviations 7.5625 + 3.0625 + 0.0625 + 18.0625 = 28.75.
    expect(one('stddev')).toBeCloseTo(Math.sqrt(28.75 / 4), 14);
    // numpy.percentile([1, 2, 4, 8], 50) = 3; 90 → pos 2.7 → 4 + 0.7·4 = 6.8.
    expect(one('p50')).toBe(3);
    expect(one('p90')).toBeCloseTo(6.8, 14);
    expect(one('p95')).toBeCloseTo(7.4, 14);
    expect(one('p99')).toBeCloseTo(7.88, 14);
    // Increase 1 + 2 + 4 = 7 over a 10 s bucket.
    expect(one('rate')).toBeCloseTo(0.7, 14);
  });

  it('rate pairs the first point in range with the point before the range, and handles resets', () => {
    const ts = Float64Array.from([0, 10_000, 20_000, 30_000, 40_000]);
    const vs = Float64Array.from([100, 110, 5, 25, 30]);
    // Range starts at 10 s: 100 → 110 (+10) counts in bucket [0, 20 s); 110 → 5 is a reset (+5)
    // and 5 → 25 (+20) in [20 s, 40 s); 25 → 30 (+5) in [40 s, 60 s).
    const got = aggregate(ts, vs, { aggregation: 'rate', intervalMs: 20_000, startMs: 10_000, endMs: 60_000 });
    expect(Array.from(got.timestamps)).toEqual([0, 20_000, 40_000]);
    expect(Array.from(got.values)).toEqual([10 / 20, 25 / 20, 5 / 20]);
  });

  it('percentiles are exact on many duplicates and on large buckets', () => {
    const random = rng(99);
    const n = 20_000;
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ts[i] = T0 + i * 10;
      vs[i] = random() < 0.5 ? Math.floor(random() * 4) : random() * 100;
    }
    for (const aggregation of ['p50', 'p90', 'p95', 'p99'] as const) {
      for (const intervalMs of [100, 86_400_000]) {
        expectSameResult(aggregate(ts, vs, { aggregation, intervalMs }), aggregateReference([{ timestamps: ts, values: vs }], { aggregation, intervalMs }), aggregation);
      }
    }
    // Sorted and reverse-sorted input must not degrade the selection (median-of-three pivots).
    const sorted = Float64Array.from({ length: 50_000 }, (_, i) => i);
    const reversed = sorted.slice().reverse();
    const tsLong = Float64Array.from({ length: 50_000 }, (_, i) => i);
    expect(aggregate(tsLong, sorted, { aggregation: 'p50', intervalMs: 1e9 }).values[0]).toBe(24_999.5);
    expect(aggregate(tsLong, reversed, { aggregation: 'p99', intervalMs: 1e9 }).values[0]).toBeCloseTo(49_499.01, 6);
  });

  it('percentiles computed in several batches of buckets equal one batch', () => {
    const random = rng(17);
    const group = Array.from({ length: 4 }, () => makeSeries(random, 3000, 'floats'));
    const options = { aggregation: 'p95' as const, intervalMs: 600_000 };
    const acc = new BucketAccumulator(options);
    for (const s of group) {
      acc.beginSeries();
      acc.addPoints(s.timestamps, s.values);
    }
    const finished = acc.finish();
    expectSameResult(finished, aggregateReference(group, options), 'p95');
    // The accumulator's runs, fed to the kernel binding in batches of at most `limit` values:
    // buckets hold up to 229 values here (150 typically), so 1 and 50 take one bucket per call
    // (a bucket never splits), 500 two to four.
    const runs = acc.toPartial();
    const buckets = Array.from(runs.runBuckets);
    const lo = Math.min(...buckets);
    const nBuckets = Math.max(...buckets) - lo + 1;
    const whole = bucketPercentiles(runs, lo, nBuckets, QUANTILE_OF.p95!);
    expect(whole.counts.reduce((a, c) => a + c, 0)).toBe(runs.values.length);
    const nonEmpty = Array.from(whole.perBucket).filter((_, b) => whole.counts[b]! > 0);
    expect(nonEmpty).toEqual(Array.from(finished.values));
    for (const limit of [1, 50, 500]) {
      const batched = bucketPercentiles(runs, lo, nBuckets, QUANTILE_OF.p95!, limit);
      expect(Array.from(batched.counts), `limit ${limit}`).toEqual(Array.from(whole.counts));
      const got = Array.from(batched.perBucket).filter((_, b) => whole.counts[b]! > 0);
      expect(got, `limit ${limit}`).toEqual(nonEmpty);
    }
  });

  it('handles inputs longer than one kernel call (block boundaries keep rate pairs and runs)', () => {
    const random = rng(5);
    const s = makeSeries(random, 200_000, 'counter');
    for (const aggregation of ['rate', 'count', 'p90', 'stddev'] as const) {
      const options = { aggregation, intervalMs: 3_600_000, startMs: s.timestamps[1000]!, endMs: s.timestamps[199_000]! };
      expectSameResult(aggregate(s.timestamps, s.values, options), aggregateReference([s], options), aggregation);
    }
  });
});

describe('BucketAccumulator', () => {
  it('aggregates several series of a group, with beginSeries between them', () => {
    for (const aggregation of AGGREGATIONS) {
      for (let seed = 1; seed <= 4; seed++) {
        const random = rng(seed * 31 + aggregation.length);
        const group = Array.from({ length: 2 + seed }, () =>
          makeSeries(random, 50 + Math.floor(random() * 800), shapeFor(aggregation, seed)));
        const options = { aggregation, intervalMs: 600_000, startMs: T0 + 100_000, endMs: T0 + 5_000_000 };
        const acc = new BucketAccumulator(options);
        for (const s of group) {
          acc.beginSeries();
          // Feed each series in pieces, as chunks arrive.
          const cut = Math.floor(s.values.length / 3);
          acc.addPoints(s.timestamps.subarray(0, cut), s.values.subarray(0, cut));
          acc.addPoints(s.timestamps.subarray(cut), s.values.subarray(cut));
        }
        expectSameResult(acc.finish(), aggregateReference(group, options), aggregation);
      }
    }
  });

  it('breaks timestamp ties across the series of a group like the reference (first: fed first; last: fed last)', () => {
    const grid = Float64Array.from({ length: 500 }, (_, i) => T0 + i * 10_000);
    const group = [11, 22, 33].map((seed) => {
      const random = rng(seed);
      return { timestamps: grid, values: Float64Array.from(grid, () => Math.round(random() * 1000)) };
    });
    for (const aggregation of AGGREGATIONS) {
      const options = { aggregation, intervalMs: 120_000 };
      const acc = new BucketAccumulator(options);
      for (const s of group) {
        acc.beginSeries();
        acc.addPoints(s.timestamps, s.values);
      }
      expectSameResult(acc.finish(), aggregateReference(group, options), aggregation);
    }
  });

  it('merges partials: two accumulators merged equal one accumulator over all series', () => {
    for (const aggregation of AGGREGATIONS) {
      const random = rng(1234 + aggregation.length);
      const group = Array.from({ length: 6 }, (_, k) =>
        makeSeries(random, 300 + Math.floor(random() * 500), shapeFor(aggregation, k), T0 + k * 400_000));
      const options = { aggregation, intervalMs: 300_000, startMs: T0, endMs: T0 + 8_000_000 };
      const whole = new BucketAccumulator(options);
      const left = new BucketAccumulator(options);
      const right = new BucketAccumulator(options);
      group.forEach((s, k) => {
        whole.beginSeries();
        whole.addPoints(s.timestamps, s.values);
        const half = k % 2 === 0 ? left : right;
        half.beginSeries();
        half.addPoints(s.timestamps, s.values);
      });
      const merged = new BucketAccumulator(options);
      // Through structured cloning with transfer, as between piscina workers.
      const partial = left.toPartial();
      const cloned = structuredClone(partial, { transfer: partialTransferList(partial) });
      merged.mergePartial(cloned);
      merged.mergePartial(right.toPartial());
      expectSameResult(merged.finish(), whole.finish(), aggregation);
      expectSameResult(merged.finish(), aggregateReference(group, options), aggregation);
    }
  });

  it('chunk summaries give the same result as the points (for the aggregations they serve)', () => {
    const usable = AGGREGATIONS.filter(summaryUsable);
    expect(usable).toEqual(['count', 'sum', 'min', 'max', 'first', 'last', 'avg', 'stddev']);
    for (const aggregation of usable) {
      const random = rng(77 + aggregation.length);
      const group = Array.from({ length: 3 }, () => makeSeries(random, 2000, 'walk'));
      const intervalMs = 3_600_000;
      const options = { aggregation, intervalMs, startMs: T0 + 1_000_000, endMs: T0 + 15_000_000 };
      const viaPoints = new BucketAccumulator(options);
      const viaSummaries = new BucketAccumulator(options);
      let summaries = 0;
      for (const s of group) {
        viaPoints.beginSeries();
        viaPoints.addPoints(s.timestamps, s.values);
        viaSummaries.beginSeries();
        for (let i = 0; i < s.values.length; i += 60) {
          const ts = s.timestamps.subarray(i, i + 60);
          const vs = s.values.subarray(i, i + 60);
          if (viaSummaries.summaryFits(ts[0]!, ts[ts.length - 1]!)) {
            viaSummaries.addChunkSummary(summarizeChunk(ts, vs));
            summaries++;
          } else {
            viaSummaries.addPoints(ts, vs);
          }
        }
      }
      expect(summaries).toBeGreaterThan(10);
      expectSameResult(viaSummaries.finish(), viaPoints.finish(), aggregation);
    }
  });

  it('refuses chunk summaries for percentiles and rate, and summaries that do not fit', () => {
    const summary = summarizeChunk(Float64Array.from([T0, T0 + 1000]), Float64Array.from([1, 2]));
    for (const aggregation of ['p50', 'p99', 'rate'] as const) {
      const acc = new BucketAccumulator({ aggregation, intervalMs: 3_600_000 });
      expect(acc.summaryFits(summary.minTs, summary.maxTs)).toBe(false);
      expect(() => acc.addChunkSummary(summary)).toThrow(/^BUG: addChunkSummary used for aggregation=/);
    }
    const acc = new BucketAccumulator({ aggregation: 'avg', intervalMs: 1000, startMs: T0 - 10_000, endMs: T0 + 10_000 });
    expect(() => acc.addChunkSummary(summary)).toThrow(/BUG: addChunkSummary: chunk \[minTs=\d+, maxTs=\d+\] count=2 is not inside one bucket/);
  });

  it('refuses points out of time order and NaN values, naming the index and value', () => {
    const acc = new BucketAccumulator({ aggregation: 'sum', intervalMs: 1000 });
    expect(() => acc.addPoints(Float64Array.from([1, 3, 2]), Float64Array.from([1, 1, 1])))
      .toThrow(/addPoints: timestamps\[2\]=2 is before the point preceding it/);
    expect(() => acc.addPoints(Float64Array.from([1, 2]), Float64Array.from([1, NaN])))
      .toThrow(/addPoints: values\[1\]=NaN/);
    const series = new BucketAccumulator({ aggregation: 'rate', intervalMs: 1000 });
    series.addPoints(Float64Array.from([5000]), Float64Array.from([1]));
    let error: unknown;
    try {
      series.addPoints(Float64Array.from([4000]), Float64Array.from([1]));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AggregationInputError);
    expect((error as AggregationInputError).message).toMatch(/previous point at 5000.*beginSeries/);
    // After beginSeries an earlier point is a new series, not a disorder.
    series.beginSeries();
    series.addPoints(Float64Array.from([4000]), Float64Array.from([1]));
    expect(Array.from(series.finish().timestamps)).toEqual([4000, 5000]);
    expect(() => acc.addPoints(new Float64Array(2), new Float64Array(1)))
      .toThrow('addPoints: timestamps.length=2 must equal values.length=1');
  });

  it('validates options, naming the option and the value', () => {
    const ok = { aggregation: 'avg' as Aggregation, intervalMs: 1000 };
    expect(() => new BucketAccumulator({ ...ok, aggregation: 'median' as Aggregation }))
      .toThrow('options.aggregation="median" must be one of count, sum, min, max, first, last, avg, stddev, p50, p90, p95, p99, rate');
    expect(() => new BucketAccumulator({ ...ok, intervalMs: 1.5 })).toThrow('options.intervalMs=1.5 must be a positive integer number of milliseconds');
    expect(() => new BucketAccumulator({ ...ok, intervalMs: 0 })).toThrow('options.intervalMs=0 must be');
    expect(() => new BucketAccumulator({ ...ok, startMs: NaN })).toThrow('options.startMs=NaN must be a finite epoch-millisecond time');
    expect(() => new BucketAccumulator({ ...ok, endMs: Infinity })).toThrow('options.endMs=Infinity must be a finite');
    expect(() => new BucketAccumulator({ ...ok, startMs: 10, endMs: 5 })).toThrow('options.endMs=5 must not be before options.startMs=10');
    expect(() => new BucketAccumulator({ ...ok, intervalMs: 1, startMs: 0, endMs: 86_400_000 }))
      .toThrow(`options.intervalMs=1 over [options.startMs=0, options.endMs=86400000) makes 86400000 buckets; at most ${MAX_BUCKETS}`);
    // Unbounded range: the bound applies to the span of the data instead.
    const acc = new BucketAccumulator({ ...ok, intervalMs: 1 });
    expect(() => acc.addPoints(Float64Array.from([0, 20_000_000]), Float64Array.from([1, 2])))
      .toThrow(/options.intervalMs=1: the data spans 20000001 buckets/);
  });

  it('grows its bucket window in both directions as series restart from earlier times', () => {
    const acc = new BucketAccumulator({ aggregation: 'count', intervalMs: 1000 });
    const later = Float64Array.from({ length: 100 }, (_, i) => 1_000_000 + i * 1000);
    const earlier = Float64Array.from({ length: 100 }, (_, i) => i * 1000);
    acc.addPoints(later, new Float64Array(100));
    acc.beginSeries();
    acc.addPoints(earlier, new Float64Array(100));
    acc.beginSeries();
    acc.addPoints(Float64Array.from([5_000_000]), Float64Array.from([1]));
    const got = acc.finish();
    expect(got.timestamps.length).toBe(201);
    expect(got.timestamps[0]).toBe(0);
    expect(got.timestamps[100]).toBe(1_000_000);
    expect(got.timestamps[200]).toBe(5_000_000);
    expect(Array.from(got.values).every((v) => v === 1)).toBe(true);
  });
});

describe('BucketAccumulator.addChunk (decode and aggregate in WASM)', () => {
  function chunked(s: { timestamps: Float64Array; values: Float64Array }, size: number): Uint8Array[] {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < s.values.length; i += size) {
      chunks.push(encodeChunk(s.timestamps.subarray(i, i + size), s.values.subarray(i, i + size)));
    }
    return chunks;
  }

  it('equals the addPoints path and the reference, for every aggregation', () => {
    for (const aggregation of AGGREGATIONS) {
      const random = rng(4242 + aggregation.length);
      const group = Array.from({ length: 3 }, (_, k) => makeSeries(random, 1500 + k * 400, shapeFor(aggregation, k)));
      const options = { aggregation, intervalMs: 900_000, startMs: T0 + 1_234_567, endMs: T0 + 14_000_000 };
      const viaChunks = new BucketAccumulator(options);
      const viaPoints = new BucketAccumulator(options);
      for (const s of group) {
        viaChunks.beginSeries();
        for (const bytes of chunked(s, 250)) viaChunks.addChunk(bytes);
        viaPoints.beginSeries();
        for (let i = 0; i < s.values.length; i += 250) {
          viaPoints.addPoints(s.timestamps.subarray(i, i + 250), s.values.subarray(i, i + 250));
        }
      }
      const got = viaChunks.finish();
      const want = viaPoints.finish();
      // Same kernel over the same points in the same calls: bit-identical.
      expect(Array.from(got.timestamps)).toEqual(Array.from(want.timestamps));
      expect(Array.from(got.values)).toEqual(Array.from(want.values));
      expectSameResult(got, aggregateReference(group, options), aggregation);
    }
  });

  it('handles empty chunks and chunks wholly outside the range', () => {
    const acc = new BucketAccumulator({ aggregation: 'p90', intervalMs: 60_000, startMs: T0, endMs: T0 + 600_000 });
    acc.addChunk(encodeChunk(new Float64Array(0), new Float64Array(0)));
    acc.addChunk(encodeChunk(Float64Array.from([T0 - 5000, T0 - 1]), Float64Array.from([1, 2])));
    acc.addChunk(encodeChunk(Float64Array.from([T0 + 600_000]), Float64Array.from([3])));
    expect(acc.finish().timestamps.length).toBe(0);
  });

  it('throws ChunkDecodeError on bytes that are not a chunk, and adds nothing', () => {
    const s = makeSeries(rng(3), 100, 'walk');
    const good = encodeChunk(s.timestamps, s.values);
    const acc = new BucketAccumulator({ aggregation: 'sum', intervalMs: 60_000 });
    const corrupted = good.slice();
    corrupted[Math.floor(corrupted.length / 2)]! ^= 0x10;
    expect(() => acc.addChunk(corrupted)).toThrow(ChunkDecodeError);
    expect(() => acc.addChunk(good.subarray(0, 5))).toThrow(ChunkDecodeError);
    expect(() => acc.addChunk(new Uint8Array(0))).toThrow(ChunkDecodeError);
    expect(acc.finish().timestamps.length).toBe(0);
    acc.addChunk(good);
    expect(acc.finish()).toEqual(aggregate(s.timestamps, s.values, { aggregation: 'sum', intervalMs: 60_000 }));
  });

  it('refuses a chunk that goes back in time within a series', () => {
    const acc = new BucketAccumulator({ aggregation: 'rate', intervalMs: 60_000 });
    acc.addChunk(encodeChunk(Float64Array.from([T0 + 10_000]), Float64Array.from([1])));
    expect(() => acc.addChunk(encodeChunk(Float64Array.from([T0]), Float64Array.from([1]))))
      .toThrow(/addChunk: decoded point 0 is before the point preceding it \(the series' previous point at \d+\)/);
  });
});

describe('kernel contract', () => {
  it('quickselect and its heapsort fallback place the k-th smallest value (assembly/percentile.ts)', () => {
    const inst = aggregateInstance();
    const select = (inst.exports as unknown as { selectKthWithBudget(p: number, n: number, k: number, budget: number): void }).selectKthWithBudget;
    const random = rng(8);
    for (const n of [1, 2, 15, 16, 17, 100, 1000, 5000]) {
      for (const budget of [0, 1, 100]) {
        const values = Float64Array.from({ length: n }, () => (random() < 0.3 ? Math.floor(random() * 5) : random() * 1000));
        const sorted = Array.from(values).sort((a, b) => a - b);
        for (const k of [0, n >> 1, n - 1]) {
          try {
            const ptr = inst.writeF64(values);
            select(ptr, n, k, budget);
            const after = inst.readF64(ptr, n);
            expect(after[k]).toBe(sorted[k]);
            expect(Array.from(after.subarray(0, k)).every((v) => v <= sorted[k]!)).toBe(true);
            expect(Array.from(after.subarray(k + 1)).every((v) => v >= sorted[k]!)).toBe(true);
            expect(Array.from(after).sort((a, b) => a - b)).toEqual(sorted);
          } finally {
            inst.reset();
          }
        }
      }
    }
  });

  it('the JS mirrors of the kernel constants equal the exports of build/emms.wasm', () => {
    const exports = aggregateInstance().exports as unknown as Record<string, WebAssembly.Global>;
    const names = [
      'MODE_COUNT', 'MODE_SUM', 'MODE_MIN', 'MODE_MAX', 'MODE_FIRST', 'MODE_LAST', 'MODE_MOMENTS', 'MODE_RATE',
      'MODE_VALUES', 'REC_FIELDS', 'IO_FIELDS', 'IO_RECORDS_PTR', 'IO_VALUES_PTR', 'E_AGG_UNSORTED', 'E_AGG_NAN', 'E_AGG_CAPACITY',
    ] as const;
    for (const name of names) {
      expect({ name, value: exports[name]?.value }).toEqual({ name, value: aggregateKernel[name] });
    }
  });
});
