// The fused decode-and-aggregate kernel (assembly/decode_aggregate.ts) against the generic path
// (decode, then aggregate the points: what assembly/aggregate_chunk.ts does in one call; bit for
// bit) and the plain-TS reference, on seeded random chunks: constant-delta timestamps (the fast path, both integer-sequence orders), jittered
// timestamps, full-precision floats and counters (fallbacks), every aggregation, ranges and
// intervals that cut chunks anywhere, and several chunks and series per accumulator.
import { describe, expect, it } from 'vitest';
import { AGGREGATIONS, type Aggregation } from '../../src/model/api.js';
import { aggregateInstance } from '../../src/core/aggregate_kernel.js';
import type { AggregateOptions, AggregateResult } from '../../src/core/aggregate_options.js';
import { AggregationInputError, BucketAccumulator } from '../../src/core/bucket_accumulator.js';
import { ChunkDecodeError, decodeChunk, encodeChunk } from '../../src/core/codec.js';
import { aggregateReference, type ReferenceSeries } from '../../src/core/reference/aggregate.js';
import { mulberry32 } from '../../bench/data_shapes.js';

const rng = mulberry32;

/** Standard normal by Box-Muller. */
function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

type Shape = 'walk' | 'spiky' | 'ramp' | 'jitter' | 'fractional' | 'floats' | 'counter' | 'constant';

interface Chunked { chunks: Uint8Array[]; series: ReferenceSeries }

const T0 = Date.UTC(2026, 0, 1, 0, 0, 3);

/**
 * One series cut into chunks. 'walk' (2-decimal random walk, steps N(0,1)), 'spiky' (the same
 * with rare jumps of ±1,000: escaped Huffman residuals) and 'ramp' (accelerating 3-decimal
 * values: order-2 differences) have constant-delta timestamps, 'jitter' 10 s ± 1 s ones,
 * 'fractional' sub-millisecond ones (XOR-coded), all with decimal values: the fused kernel's shapes; floats (XOR-coded) take the generic path, and
 * so do short chunks whose values the codec codes with Rice blocks.
 */
function makeSeries(random: () => number, shape: Shape, chunkCount: number, startTs: number, minPoints = 2): Chunked {
  const chunks: Uint8Array[] = [];
  const allTs: number[] = [];
  const allVs: number[] = [];
  let t = startTs;
  let v = 50;
  let slope = random();
  const stepMs = [1, 10_000, 15_000, 60_000, 7_919][Math.floor(random() * 5)]!;
  for (let c = 0; c < chunkCount; c++) {
    const n = minPoints + Math.floor(random() * (random() < 0.3 ? 40 : 3000));
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ts[i] = t;
      t += shape === 'jitter' ? 9_000 + Math.floor(random() * 2_000) : shape === 'fractional' ? 9_999.75 + random() : stepMs;
      // `+ 0`: a walk through zero would give −0, which only XOR codes.
      if (shape === 'walk' || shape === 'fractional') v = Math.round((v + gaussian(random)) * 100) / 100 + 0;
      else if (shape === 'spiky') v = Math.round((v + gaussian(random) + (random() < 0.002 ? (random() - 0.5) * 2000 : 0)) * 100) / 100 + 0;
      else if (shape === 'ramp') { slope += 0.001 * Math.floor(random() * 3); v = Math.round((v + slope) * 1000) / 1000; }
      else if (shape === 'jitter') v = Math.round((v + gaussian(random)) * 10) / 10 + 0;
      else if (shape === 'floats') v = (random() - 0.3) * 1e6 * random();
      else if (shape === 'counter') v = random() < 0.03 ? Math.floor(random() * 5) : v + Math.floor(random() * 50);
      vs[i] = v;
    }
    // A gap between chunks now and then, so that some buckets stay empty.
    if (random() < 0.3) t += Math.floor(random() * 7_200_000);
    chunks.push(encodeChunk(ts, vs));
    allTs.push(...ts);
    allVs.push(...vs);
  }
  return { chunks, series: { timestamps: Float64Array.from(allTs), values: Float64Array.from(allVs) } };
}

/**
 * `fused`: addChunk (the fused kernel, falling back to the generic one by itself). Otherwise the
 * generic path spelled out: decodeChunk, then addPoints, the same two kernels
 * (assembly/chunk.ts, accumulatePoints) the generic chunk kernel runs in one call.
 */
function run(groups: Chunked[], options: AggregateOptions, fused: boolean): AggregateResult {
  const acc = new BucketAccumulator(options);
  for (const g of groups) {
    acc.beginSeries();
    for (const c of g.chunks) {
      if (fused) acc.addChunk(c);
      else {
        const { timestamps, values } = decodeChunk(c);
        acc.addPoints(timestamps, values);
      }
    }
  }
  return acc.finish();
}

function fallbacks(): number {
  return (aggregateInstance().exports as unknown as { fusedChunkFallbacks(): number }).fusedChunkFallbacks();
}

/** Same float64 bits, element by element (so −0 and NaN would be told apart). */
function expectBitsEqual(actual: Float64Array, expected: Float64Array, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  const a = new BigUint64Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new BigUint64Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < e.length; i++) {
    if (a[i] !== e[i]) expect.fail(`${what}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

const EXACT: ReadonlySet<Aggregation> = new Set(['count', 'min', 'max', 'first', 'last', 'p50', 'p90', 'p95', 'p99']);

function expectNearReference(actual: AggregateResult, expected: AggregateResult, aggregation: Aggregation, what: string): void {
  expect(Array.from(actual.timestamps), what).toEqual(Array.from(expected.timestamps));
  if (EXACT.has(aggregation)) {
    expect(Array.from(actual.values), what).toEqual(Array.from(expected.values));
    return;
  }
  for (let i = 0; i < expected.values.length; i++) {
    const e = expected.values[i]!;
    const a = actual.values[i]!;
    const tolerance = aggregation === 'stddev' ? Math.max(1, e) * 1e-7 : Math.max(1, Math.abs(e)) * 1e-10;
    if (!(Math.abs(a - e) <= tolerance)) expect.fail(`${what} bucket ${i}: got ${a}, expected ${e}`);
  }
}

const SHAPES: Shape[] = ['walk', 'spiky', 'ramp', 'jitter', 'fractional', 'floats', 'counter', 'constant'];
const INTERVALS = [1, 1_000, 7_000, 10_000, 60_000, 300_000, 3_600_000, 86_400_000];

describe('fused chunk kernel', () => {
  for (const aggregation of AGGREGATIONS) {
    it(`${aggregation}: equals the generic path bit for bit and the reference, on random chunks`, () => {
      for (let seed = 1; seed <= 16; seed++) {
        const random = rng(seed * 104_729 + aggregation.length * 31 + aggregation.charCodeAt(0));
        const shape = SHAPES[seed % SHAPES.length]!;
        const seriesCount = 1 + Math.floor(random() * 3);
        const groups: Chunked[] = [];
        for (let s = 0; s < seriesCount; s++) {
          groups.push(makeSeries(random, seed % 4 === 0 ? SHAPES[(seed + s) % SHAPES.length]! : shape, 1 + Math.floor(random() * 3), T0 + Math.floor(random() * 100_000)));
        }
        const first = Math.min(...groups.map((g) => g.series.timestamps[0]!));
        const last = Math.max(...groups.map((g) => g.series.timestamps[g.series.timestamps.length - 1]!));
        const span = last - first;
        // Within the accumulator's bucket limit whatever the span.
        const intervalMs = Math.max(INTERVALS[Math.floor(random() * INTERVALS.length)]!, Math.ceil(span / 200_000));
        // Unbounded, bounded at unaligned times inside the data, or a range past the data.
        const kind = seed % 3;
        const options: AggregateOptions = kind === 0
          ? { aggregation, intervalMs: Math.max(intervalMs, 60_000) }
          : kind === 1
            ? { aggregation, intervalMs, startMs: first + Math.floor(span * random() * 0.4) + 0.5, endMs: first + Math.floor(span * (0.6 + random() * 0.3)) + 1 }
            : { aggregation, intervalMs: Math.max(intervalMs, 1_000), startMs: first - 5_000, endMs: last + 1 };
        const what = `seed ${seed} (${shape}, ${seriesCount} series, interval ${options.intervalMs})`;
        const generic = run(groups, options, false);
        const fused = run(groups, options, true);
        expectBitsEqual(fused.timestamps, generic.timestamps, `${what} timestamps`);
        expectBitsEqual(fused.values, generic.values, `${what} values`);
        expectNearReference(fused, aggregateReference(groups.map((g) => g.series), options), aggregation, what);
      }
    });
  }

  it('takes the fast path for decimal chunks (both sequence orders, escapes, jittered times) and falls back for others', () => {
    const random = rng(7);
    for (const aggregation of ['count', 'sum', 'avg', 'min', 'max', 'first', 'last', 'rate'] as const) {
      for (const shape of ['walk', 'spiky', 'ramp', 'jitter', 'fractional'] as const) {
        // Long chunks: the codec picks quotient-Huffman for them (short ones may get Rice blocks).
        const g = makeSeries(random, shape, 3, T0, 2000);
        const before = fallbacks();
        run([g], { aggregation, intervalMs: 3_600_000 }, true);
        expect(fallbacks() - before, `${aggregation} on ${shape}`).toBe(0);
      }
    }
    // Full-precision floats are XOR-coded: the generic path's.
    const floats = makeSeries(random, 'floats', 2, T0);
    const beforeFloats = fallbacks();
    run([floats], { aggregation: 'avg', intervalMs: 3_600_000 }, true);
    expect(fallbacks() - beforeFloats).toBe(2);
    const g = makeSeries(random, 'walk', 1, T0);
    const before = fallbacks();
    run([g], { aggregation: 'stddev', intervalMs: 3_600_000 }, true);
    expect(fallbacks() - before).toBe(1);
  });

  it('reports a corrupt chunk exactly as the generic path does', () => {
    const random = rng(11);
    const g = makeSeries(random, 'walk', 1, T0);
    const bytes = g.chunks[0]!;
    for (let trial = 0; trial < 40; trial++) {
      const bad = bytes.slice(0, trial % 5 === 0 ? bytes.length - 1 - Math.floor(random() * 8) : bytes.length);
      if (bad.length === bytes.length) bad[Math.floor(random() * bad.length)]! ^= 1 << Math.floor(random() * 8);
      const message = (fused: boolean): string => {
        try {
          run([{ chunks: [bad], series: g.series }], { aggregation: 'avg', intervalMs: 60_000 }, fused);
          return 'no error';
        } catch (error) {
          expect(error).toBeInstanceOf(ChunkDecodeError);
          return (error as Error).message;
        }
      };
      expect(message(true)).toBe(message(false));
    }
  });

  it('refuses a chunk that starts before the series\' previous point, like the generic path', () => {
    const random = rng(13);
    const g = makeSeries(random, 'walk', 2, T0);
    const swapped: Chunked = { chunks: [g.chunks[1]!, g.chunks[0]!], series: g.series };
    for (const fused of [true, false]) {
      expect(() => run([swapped], { aggregation: 'sum', intervalMs: 60_000 }, fused)).toThrow(AggregationInputError);
    }
  });
});
