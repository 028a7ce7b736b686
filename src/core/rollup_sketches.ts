/**
 * Rollup sketches: one chunk's DDSketch (ddsketch.ts) per non-empty bucket of a rollup
 * resolution, encoded back to back, kept next to its rollup records (src/storage/rollup/
 * rollup_store.ts) for percentile queries that opted into an approximation. A query merges
 * the sketches of the buckets it covers instead of decoding the chunk (docs/format/aggregation.md,
 * "Approximate percentiles").
 *
 * All rollup sketches share one relative accuracy, ROLLUP_SKETCH_ACCURACY: sketches merge only
 * with sketches of the same α, and one α means a query over any mix of chunks, rollups and
 * heads is one consistent estimate.
 */
import { PERCENTILE_SKETCH_ACCURACY } from '../model/api.js';
import { ByteWriter, encodeSketchOf } from './ddsketch.js';

/** α of every sketch the engine builds (see ddsketch.ts for what the bound is relative to). */
export const ROLLUP_SKETCH_ACCURACY = PERCENTILE_SKETCH_ACCURACY;

export interface RollupSketches {
  /** Bucket number (floor(ts / resolution)) of each sketch, ascending. */
  buckets: Float64Array;
  /** Sketch k is bytes[ends[k − 1] … ends[k]) (from 0 for k = 0). */
  ends: Uint32Array;
  bytes: Uint8Array;
}

/** What a chunk's sketches hold in memory, for the rollup budget. */
export function rollupSketchBytes(s: RollupSketches): number {
  return s.buckets.byteLength + s.ends.byteLength + s.bytes.byteLength;
}

/** The sketches of one chunk's points (ascending time, finite values) at `resolutionMs`. */
export function buildRollupSketches(timestamps: Float64Array, values: Float64Array, resolutionMs: number): RollupSketches {
  const n = timestamps.length;
  if (values.length !== n) throw new RangeError(`buildRollupSketches: timestamps.length=${n} must equal values.length=${values.length}`);
  if (!(resolutionMs > 0) || !Number.isInteger(resolutionMs)) {
    throw new RangeError(`buildRollupSketches: resolutionMs=${resolutionMs} must be a positive integer`);
  }
  const buckets: number[] = [];
  const ends: number[] = [];
  const out = new ByteWriter();
  let i = 0;
  while (i < n) {
    const bucket = Math.floor(timestamps[i]! / resolutionMs);
    const bucketEnd = (bucket + 1) * resolutionMs;
    let j = i;
    while (j < n && timestamps[j]! < bucketEnd) j++;
    encodeSketchOf(values, i, j, ROLLUP_SKETCH_ACCURACY, out);
    buckets.push(bucket);
    ends.push(out.length);
    i = j;
  }
  return { buckets: Float64Array.from(buckets), ends: Uint32Array.from(ends), bytes: out.finish() };
}

/** Index of the first sketch whose bucket is ≥ `bucket`. */
export function firstSketchFrom(s: RollupSketches, bucket: number): number {
  let lo = 0;
  let hi = s.buckets.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (s.buckets[mid]! < bucket) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
