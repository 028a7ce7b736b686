/**
 * Partial transport: an accumulator's state as plain typed arrays, to aggregate series in
 * worker threads and merge the results on the calling thread (BucketAccumulator#toPartial,
 * #mergePartial; src/query/partial_packing.ts packs several into one transfer).
 * Layout: docs/format/aggregation.md ("State and partials").
 */
import type { Aggregation } from '../model/api.js';

/**
 * Mergeable state of an accumulator (plain typed arrays: structured-clone friendly). Pass
 * `partialTransferList(p)` as the transfer list (or piscina's move) to send it without copying.
 *
 * Dense columns cover buckets baseBucket … baseBucket + count.length − 1 (bucket number =
 * floor(ts / intervalMs)); `x`/`y` mean, per aggregation: sum/avg → x = sum; min → x = min;
 * max → x = max; first → x = first ts, y = first value; last → x = last ts, y = last value;
 * stddev → x = mean, y = M2; rate → x = increase; count → neither.
 * Percentiles keep the raw values instead: `values` in runs, run r being runCounts[r] values
 * of bucket runBuckets[r].
 */
export interface AggregatePartial {
  aggregation: Aggregation;
  intervalMs: number;
  startMs: number;
  endMs: number;
  baseBucket: number;
  count: Float64Array;
  x: Float64Array;
  y: Float64Array;
  values: Float64Array;
  runBuckets: Float64Array;
  runCounts: Int32Array;
}

/** Buffers of a partial to list in postMessage's / piscina's transfer list. */
export function partialTransferList(p: AggregatePartial): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const a of [p.count, p.x, p.y, p.values, p.runBuckets, p.runCounts]) buffers.add(a.buffer as ArrayBuffer);
  return [...buffers];
}
