/**
 * When a chunk may be answered from its rollup records, and the answering: the ChunkAnswerer
 * the query engine hands to the series reader (series_reader.ts, accumulateSeries) for chunks
 * that overlap no other chunk or head of their series in the range (overlapping chunks need
 * the raw merge: the newest write wins on equal timestamps).
 *
 * A chunk qualifies when the accumulator runs its kernels at a rollup resolution
 * (BucketAccumulator#rollupResolutionMs: the query's interval is a multiple of 5 min) and every
 * bound of the range that falls inside the chunk is a multiple of that resolution, so each
 * kernel bucket the range touches in the chunk is whole. Its records then equal what decoding
 * the chunk would merge (rollup_records.ts).
 */
import type { BucketAccumulator } from '../../core/bucket_accumulator.js';
import { REC_BUCKET, REC_FIELDS } from '../../core/aggregate_kernel.js';
import type { ChunkRow } from '../chunk_rows.js';
import type { RollupStore } from './rollup_store.js';

/** Whether a chunk spanning [minTs, maxTs] can be answered at `resolutionMs` for [startMs, endMs). */
export function rollupFits(minTs: number, maxTs: number, startMs: number, endMs: number, resolutionMs: number): boolean {
  if (minTs < startMs && startMs % resolutionMs !== 0) return false;
  if (maxTs >= endMs && endMs % resolutionMs !== 0) return false;
  return true;
}

/** First record index (of REC_FIELDS float64s) whose bucket number is ≥ `bucket`. */
function firstRecordFrom(records: Float64Array, bucket: number): number {
  let lo = 0;
  let hi = records.length / REC_FIELDS;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (records[mid * REC_FIELDS + REC_BUCKET]! < bucket) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Feeds the chunk of `row` to `acc` from its rollup records and returns true, or returns false
 * (nothing fed) when it does not qualify or has none; `onMiss(row)` then hears of a chunk that
 * qualified but had no rollups, for building them later.
 */
export function answerFromRollup(store: RollupStore, acc: BucketAccumulator, row: ChunkRow, onMiss?: (row: ChunkRow) => void): boolean {
  const resolutionMs = acc.rollupResolutionMs;
  if (resolutionMs === undefined || !store.enabled) return false;
  const { startMs, endMs } = acc;
  if (!rollupFits(row.min_ts, row.max_ts, startMs, endMs, resolutionMs)) return false;
  const records = store.recordsFor(row, resolutionMs);
  if (records === undefined) {
    onMiss?.(row);
    return false;
  }
  // The buckets inside the range: all of them unless a bound lies inside the chunk.
  const from = row.min_ts < startMs ? firstRecordFrom(records, startMs / resolutionMs) : 0;
  const to = row.max_ts >= endMs ? firstRecordFrom(records, endMs / resolutionMs) : records.length / REC_FIELDS;
  acc.addRollupRecords(records.subarray(from * REC_FIELDS, Math.max(from, to) * REC_FIELDS),
    { ts: row.min_ts, value: row.first }, { ts: row.max_ts, value: row.last });
  return true;
}
