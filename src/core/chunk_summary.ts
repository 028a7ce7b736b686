/**
 * Chunk summaries: the statistics storage keeps for each chunk when it cuts it
 * (src/storage/chunk_encoding.ts), so that a query can aggregate a chunk lying inside one bucket
 * and inside the range without decoding it (BucketAccumulator#addChunkSummary, #summaryFits;
 * docs/format/aggregation.md, "Semantics").
 *
 * Storage computes and stores them; they live in core because the accumulator consumes them,
 * `emms/core` exports them, and core imports nothing from storage.
 */
import type { Aggregation } from '../model/api.js';
import { MODE_OF, MODE_RATE, MODE_VALUES } from './aggregate_kernel.js';

/**
 * Statistics of a chunk's points. `mean` and `m2` (Σ(x−mean)²) are what stddev needs;
 * `summarizeChunk` computes all of it.
 */
export interface ChunkSummary {
  minTs: number;
  maxTs: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  firstValue: number;
  lastValue: number;
  mean: number;
  m2: number;
}

/**
 * Whether chunk summaries can stand in for a chunk's points. Percentiles need every value;
 * rate needs consecutive pairs (and a summary drops the pair that straddles its chunk start).
 */
export function summaryUsable(aggregation: Aggregation): boolean {
  return MODE_OF[aggregation] !== MODE_VALUES && MODE_OF[aggregation] !== MODE_RATE;
}

/** Summary of one chunk's points (ascending time), as storage keeps it at cut time. */
export function summarizeChunk(timestamps: Float64Array, values: Float64Array): ChunkSummary {
  const n = values.length;
  if (n === 0 || timestamps.length !== n) {
    throw new RangeError(`summarizeChunk: needs equal, non-zero lengths; got timestamps.length=${timestamps.length}, values.length=${n}`);
  }
  let sum = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    sum += v;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  // Two-pass M2, the formula the kernel uses for each run.
  const mean = sum / n;
  let m2 = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i]! - mean;
    m2 += d * d;
  }
  return {
    minTs: timestamps[0]!, maxTs: timestamps[n - 1]!, count: n, sum, min: lo, max: hi,
    firstValue: values[0]!, lastValue: values[n - 1]!, mean, m2,
  };
}
