/**
 * Rollup records against the kernels: a series of encoded chunks fed through addChunk (the raw
 * path, WASM: fused for decimal values, generic for XOR) and through addRollupRecords (built in
 * TS by buildRollupRecords) must give bit-identical results for every aggregation rollups serve,
 * for intervals that are multiples of 5 min and 1 h and ranges whose bounds fall on, off and
 * inside chunks. Both are also checked against a plain-loop reference over the points.
 */
import { describe, expect, it } from 'vitest';
import { BucketAccumulator } from '../../src/core/bucket_accumulator.js';
import { encodeChunk } from '../../src/core/codec.js';
import { buildRollupRecords, kernelIntervalFor } from '../../src/core/rollup_records.js';
import { REC_FIELDS } from '../../src/core/aggregate_kernel.js';
import { summarizeChunk } from '../../src/core/chunk_summary.js';
import { answerFromRollup } from '../../src/storage/rollup/rollup_feed.js';
import { RollupStore } from '../../src/storage/rollup/rollup_store.js';
import type { ChunkRow } from '../../src/storage/backend.js';
import type { Aggregation } from '../../src/model/api.js';
import { mulberry32 } from '../../bench/data_shapes.js';

const MIN = 60_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 4, 11);
const ROLLUP_AGGREGATIONS: Aggregation[] = ['count', 'sum', 'avg', 'min', 'max', 'first', 'last', 'stddev', 'rate'];

const rng = mulberry32;

interface Chunk { ts: Float64Array; vs: Float64Array; bytes: Uint8Array }

type ValueKind = 'decimal' | 'float' | 'counter';

/** Disjoint chunks of one series, in time order, with gaps (some longer than an hour) between and inside them. */
function makeChunks(random: () => number, kind: ValueKind, chunks: number): Chunk[] {
  const out: Chunk[] = [];
  let t = T0 + Math.floor(random() * 7) * 1000;
  let counter = 0;
  for (let c = 0; c < chunks; c++) {
    const n = 1 + Math.floor(random() * 900);
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      t += random() < 0.02 ? Math.floor(random() * 2 * HOUR) : 1000 + Math.floor(random() * 20_000);
      ts[i] = t;
      if (kind === 'decimal') vs[i] = Math.round((random() - 0.3) * 1e6) / 100;
      else if (kind === 'float') vs[i] = (random() - 0.5) * 1e3 * Math.exp(random() * 10);
      else {
        counter = random() < 0.03 ? Math.floor(random() * 50) : counter + random() * 100;
        vs[i] = counter;
      }
    }
    out.push({ ts, vs, bytes: encodeChunk(ts, vs) });
    t += random() < 0.3 ? Math.floor(random() * 3 * HOUR) : 1;
  }
  return out;
}

/** A chunk's row as a query reads it: stats from summarizeChunk, as storage writes them. */
function rowOf(id: number, c: Chunk): ChunkRow {
  const s = summarizeChunk(c.ts, c.vs);
  return {
    id, series_id: 1, min_ts: s.minTs, max_ts: s.maxTs, count: s.count, codec: 1, format_version: 1,
    sum: s.sum, min: s.min, max: s.max, first: s.firstValue, last: s.lastValue, mean: s.mean, m2: s.m2, data: c.bytes,
  };
}

/** Feeds the chunks decoded (the raw path) or, where they fit, from their rollups (answerFromRollup over a RollupStore). */
function run(chunks: Chunk[], aggregation: Aggregation, intervalMs: number, startMs: number, endMs: number, store: RollupStore | undefined): { ts: number[]; vs: number[]; fromRollups: number } {
  const acc = new BucketAccumulator({
    aggregation, intervalMs, startMs: Number.isFinite(startMs) ? startMs : undefined, endMs: Number.isFinite(endMs) ? endMs : undefined,
  });
  let fromRollups = 0;
  acc.beginSeries();
  chunks.forEach((c, id) => {
    const row = rowOf(id + 1, c);
    // Storage feeds the chunks overlapping the range.
    if (row.max_ts < startMs || row.min_ts >= endMs) return;
    if (store !== undefined && answerFromRollup(store, acc, row)) {
      fromRollups++;
      return;
    }
    acc.addChunk(c.bytes, { ts: row.min_ts, value: row.first });
  });
  const r = acc.finish();
  return { ts: Array.from(r.timestamps), vs: Array.from(r.values), fromRollups };
}

/** Plain loops over the points (pairs across chunks included): every aggregation per bucket start. */
function reference(ts: number[], vs: number[], intervalMs: number, startMs: number, endMs: number): Map<number, Record<string, number>> {
  const buckets = new Map<number, number[]>();
  const increase = new Map<number, number>();
  for (let i = 0; i < ts.length; i++) {
    if (ts[i]! < startMs || ts[i]! >= endMs) continue;
    const b = Math.floor(ts[i]! / intervalMs) * intervalMs;
    if (!buckets.has(b)) buckets.set(b, []);
    buckets.get(b)!.push(vs[i]!);
    if (i > 0) increase.set(b, (increase.get(b) ?? 0) + (vs[i]! >= vs[i - 1]! ? vs[i]! - vs[i - 1]! : vs[i]!));
  }
  const out = new Map<number, Record<string, number>>();
  for (const [b, v] of buckets) {
    const n = v.length;
    const sum = v.reduce((x, y) => x + y, 0);
    const mean = sum / n;
    out.set(b, {
      count: n, sum, avg: mean, min: Math.min(...v), max: Math.max(...v), first: v[0]!, last: v[n - 1]!,
      stddev: Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / n), rate: (increase.get(b) ?? 0) / (intervalMs / 1000),
    });
  }
  return out;
}

function sameBits(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
}

describe('kernelIntervalFor', () => {
  it('picks the coarsest rollup resolution dividing the interval', () => {
    expect(kernelIntervalFor(HOUR)).toBe(HOUR);
    expect(kernelIntervalFor(24 * HOUR)).toBe(HOUR);
    expect(kernelIntervalFor(15 * MIN)).toBe(5 * MIN);
    expect(kernelIntervalFor(90 * MIN)).toBe(5 * MIN);
    expect(kernelIntervalFor(7 * MIN)).toBe(7 * MIN);
    expect(kernelIntervalFor(1000)).toBe(1000);
  });
});

describe('buildRollupRecords', () => {
  it('refuses bad input with the field and value', () => {
    expect(() => buildRollupRecords(new Float64Array(2), new Float64Array(1), HOUR)).toThrow(/timestamps.length=2 must equal values.length=1/);
    expect(() => buildRollupRecords(new Float64Array(1), new Float64Array(1), 0)).toThrow(/resolutionMs=0/);
  });

  it('gives one record per non-empty bucket with every field', () => {
    const ts = Float64Array.of(T0, T0 + 1000, T0 + HOUR + 5, T0 + HOUR + 6);
    const vs = Float64Array.of(5, 3, 1, 4);
    const r = buildRollupRecords(ts, vs, HOUR);
    expect(r.length).toBe(2 * REC_FIELDS);
    // bucket, count, sum, min, max, firstTs, firstVal, lastTs, lastVal, mean, M2, increase
    expect(Array.from(r.subarray(0, REC_FIELDS))).toEqual([T0 / HOUR, 2, 8, 3, 5, T0, 5, T0 + 1000, 3, 4, 2, 3]);
    // The second bucket's increase starts with the pair straddling its start (3 → 1: a reset).
    expect(Array.from(r.subarray(REC_FIELDS))).toEqual([T0 / HOUR + 1, 2, 5, 1, 4, T0 + HOUR + 5, 1, T0 + HOUR + 6, 4, 2.5, 4.5, 1 + 3]);
  });
});

describe('rollup path equals the raw path bit for bit', () => {
  const intervals = [5 * MIN, 15 * MIN, HOUR, 2 * HOUR, 24 * HOUR];
  for (const kind of ['decimal', 'float', 'counter'] as const) {
    it(`${kind} values: every rollup aggregation, interval and range`, () => {
      const random = rng(kind.length * 7919);
      for (let round = 0; round < 3; round++) {
        const chunks = makeChunks(random, kind, 12);
        const store = new RollupStore();
        chunks.forEach((c, id) => store.build(id + 1, c.ts, c.vs));
        const all = chunks.flatMap((c) => Array.from(c.ts));
        const allValues = chunks.flatMap((c) => Array.from(c.vs));
        const lo = all[0]!;
        const hi = all[all.length - 1]!;
        let usedRollups = 0;
        const wrong: string[] = [];
        for (const intervalMs of intervals) {
          const resolution = kernelIntervalFor(intervalMs);
          const mid = lo + Math.floor(random() * (hi - lo));
          const ranges: Array<[number, number]> = [
            [-Infinity, Infinity],
            [Math.floor(lo / HOUR) * HOUR, hi + 1],
            // Bounds on the resolution inside chunks, and bounds off it.
            [Math.floor(mid / resolution) * resolution, Math.ceil((mid + (hi - mid) / 2) / resolution) * resolution],
            [mid + 17, hi - 1234],
          ];
          for (const [startMs, endMs] of ranges) {
            const ref = reference(all, allValues, intervalMs, startMs, endMs);
            for (const aggregation of ROLLUP_AGGREGATIONS) {
              const raw = run(chunks, aggregation, intervalMs, startMs, endMs, undefined);
              const fast = run(chunks, aggregation, intervalMs, startMs, endMs, store);
              usedRollups += fast.fromRollups;
              const where = `${kind} round ${round} ${aggregation} interval ${intervalMs} [${startMs}, ${endMs})`;
              if (!sameBits(fast.ts, raw.ts) || !sameBits(fast.vs, raw.vs)) {
                const k = fast.vs.findIndex((v, i) => !Object.is(v, raw.vs[i]) || fast.ts[i] !== raw.ts[i]);
                wrong.push(`${where}: bucket ${fast.ts[k]} rollups ${fast.vs[k]}, raw bucket ${raw.ts[k]} ${raw.vs[k]}`);
              }
              // And both are right, against plain loops. Rate over a range starting inside the
              // data: the runs see rate's predecessor only from the chunk holding the start, so
              // the first bucket is compared only when the range starts before the data.
              if (raw.ts.length !== ref.size) wrong.push(`${where}: ${raw.ts.length} buckets, reference ${ref.size}`);
              raw.ts.forEach((b, k) => {
                if (aggregation === 'rate' && k === 0 && startMs > lo) return;
                const want = ref.get(b)?.[aggregation] ?? NaN;
                if (!(Math.abs(raw.vs[k]! - want) <= 1e-9 * Math.max(1, Math.abs(want)))) wrong.push(`${where} bucket ${b}: ${raw.vs[k]} want ${want}`);
              });
            }
          }
        }
        expect(wrong).toEqual([]);
        expect(usedRollups).toBeGreaterThan(0);
      }
    });
  }
});
