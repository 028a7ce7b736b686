/**
 * Rollup records: one chunk's partial aggregates per bucket of a coarse resolution (5 min,
 * 1 h), in the kernel's record layout (REC_FIELDS float64s per non-empty bucket, every field
 * filled: src/core/aggregate_kernel.ts). A query whose interval is a multiple of a resolution
 * merges these records instead of decoding the chunk (src/storage/rollup/, docs/format/aggregation.md,
 * "Rollups").
 *
 * Why the results can be exact: BucketAccumulator runs its kernels at the coarsest resolution
 * dividing the query's interval (`kernelIntervalFor`) and merges the sub-bucket records into
 * the interval's buckets, so the raw path adds the very partials built here, in the same order.
 * `buildRollupRecords` repeats the kernel's arithmetic per run operation for operation (sum from
 * 0 in time order, the mean from that sum, two-pass M2, IEEE min/max, counter increase pair by
 * pair), so each record is bit-identical to the one the kernel computes for the same points.
 * The first bucket's increase leaves out the pair with the chunk's predecessor: that pair
 * depends on the query (range, neighbouring chunks), and the accumulator adds it as a record
 * of its own on both paths (BucketAccumulator#addChunk's `firstPoint`).
 */
import {
  REC_BUCKET, REC_COUNT, REC_FIELDS, REC_FIRST_TS, REC_FIRST_VAL, REC_INCREASE, REC_LAST_TS, REC_LAST_VAL, REC_M2, REC_MAX,
  REC_MEAN, REC_MIN, REC_SUM,
} from './aggregate_kernel.js';

/** Rollup resolutions, coarsest first: 1 h and 5 min. */
export const ROLLUP_RESOLUTIONS_MS: readonly number[] = Object.freeze([3_600_000, 300_000]);

/**
 * The interval the kernels run at for a query interval: the coarsest rollup resolution
 * dividing it, else the interval itself. Buckets are epoch-aligned, so each bucket of the
 * interval is a whole number of such sub-buckets.
 */
export function kernelIntervalFor(intervalMs: number): number {
  for (const r of ROLLUP_RESOLUTIONS_MS) if (intervalMs % r === 0) return r;
  return intervalMs;
}

/**
 * The records of one chunk's points (ascending time, duplicate-free, no NaN) at `resolutionMs`:
 * REC_FIELDS float64s per non-empty bucket, ascending. The first bucket's increase has no
 * predecessor pair (see the file comment).
 */
export function buildRollupRecords(timestamps: Float64Array, values: Float64Array, resolutionMs: number): Float64Array {
  const n = timestamps.length;
  if (values.length !== n) {
    throw new RangeError(`buildRollupRecords: timestamps.length=${n} must equal values.length=${values.length}`);
  }
  if (!(resolutionMs > 0) || !Number.isInteger(resolutionMs)) {
    throw new RangeError(`buildRollupRecords: resolutionMs=${resolutionMs} must be a positive integer`);
  }
  if (n === 0) return new Float64Array(0);
  // At most one record per bucket the chunk spans (fewer when it has gaps).
  const cap = Math.min(n, Math.floor(timestamps[n - 1]! / resolutionMs) - Math.floor(timestamps[0]! / resolutionMs) + 1);
  const out = new Float64Array(cap * REC_FIELDS);
  let o = 0;
  let i = 0;
  while (i < n) {
    // The kernel's run boundary: every point before the bucket's end (assembly/aggregate.ts).
    const bucket = Math.floor(timestamps[i]! / resolutionMs);
    const bucketEnd = (bucket + 1) * resolutionMs;
    let sum = 0;
    let lo = values[i]!;
    let hi = lo;
    let increase = 0;
    // The chunk's first point pairs with nothing here; a later run starts with the pair
    // straddling its bucket start, as in the kernel.
    let before = i === 0 ? values[0]! : values[i - 1]!;
    let j = i;
    do {
      const v = values[j]!;
      sum += v;
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      if (j > 0) increase += v >= before ? v - before : v;
      before = v;
      j++;
    } while (j < n && timestamps[j]! < bucketEnd);
    const count = j - i;
    const mean = sum / count;
    let m2 = 0;
    for (let k = i; k < j; k++) {
      const d = values[k]! - mean;
      m2 += d * d;
    }
    out[o + REC_BUCKET] = bucket;
    out[o + REC_COUNT] = count;
    out[o + REC_SUM] = sum;
    out[o + REC_MIN] = lo;
    out[o + REC_MAX] = hi;
    out[o + REC_FIRST_TS] = timestamps[i]!;
    out[o + REC_FIRST_VAL] = values[i]!;
    out[o + REC_LAST_TS] = timestamps[j - 1]!;
    out[o + REC_LAST_VAL] = values[j - 1]!;
    out[o + REC_MEAN] = mean;
    out[o + REC_M2] = m2;
    out[o + REC_INCREASE] = increase;
    o += REC_FIELDS;
    i = j;
  }
  return o === out.length ? out : out.slice(0, o);
}
