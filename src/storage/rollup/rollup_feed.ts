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
  acc.addRollupRecords(recordsInRange(records, row.min_ts, row.max_ts, startMs, endMs, resolutionMs),
    { ts: row.min_ts, value: row.first }, { ts: row.max_ts, value: row.last });
  return true;
}

/**
 * The records (of points spanning [minTs, maxTs], fitting the range: rollupFits) of the buckets
 * inside [startMs, endMs): all of them unless a bound lies inside the span.
 */
export function recordsInRange(records: Float64Array, minTs: number, maxTs: number, startMs: number, endMs: number, resolutionMs: number): Float64Array {
  const from = minTs < startMs ? firstRecordFrom(records, startMs / resolutionMs) : 0;
  const to = maxTs >= endMs ? firstRecordFrom(records, endMs / resolutionMs) : records.length / REC_FIELDS;
  return records.subarray(from * REC_FIELDS, Math.max(from, to) * REC_FIELDS);
}

/** The part of a catalogue chunk (chunk_catalog.ts ChunkMeta) rowsFromRollups needs. */
interface CatalogChunk {
  readonly id: number;
  readonly minTs: number;
  readonly maxTs: number;
  readonly count: number;
}

/**
 * The rows of a series' catalogue chunks overlapping [startMs, endMs) with id ≤ maxChunkId, in
 * the catalogue's (min_ts, id) order, as answerFromRollup takes them: stats from the rollup
 * entries, no data. Undefined when a chunk has no entry (or one of other points) or does not
 * fit the range at `resolutionMs`: the series is then read from the back-end.
 *
 * Only the fields answerFromRollup and the series reader's order checks read are filled; the
 * summary's (min, max, mean, m2) and the codec are NaN, since these rows are never summarised
 * or decoded (series_reader.ts memoryRows).
 */
export function rowsFromRollups(
  store: RollupStore, seriesId: number, chunks: readonly CatalogChunk[], read: { startMs: number; endMs: number; maxChunkId: number }, resolutionMs: number,
): ChunkRow[] | undefined {
  const { startMs, endMs, maxChunkId } = read;
  const rows: ChunkRow[] = [];
  for (const c of chunks) {
    if (c.maxTs < startMs || c.minTs >= endMs || c.id > maxChunkId) continue;
    if (!rollupFits(c.minTs, c.maxTs, startMs, endMs, resolutionMs)) return undefined;
    const e = store.heldStats(c.id);
    if (e === undefined || e.minTs !== c.minTs || e.maxTs !== c.maxTs || e.count !== c.count) return undefined;
    rows.push({
      id: c.id, series_id: seriesId, min_ts: e.minTs, max_ts: e.maxTs, count: e.count, sum: e.sum, first: e.firstValue, last: e.lastValue,
      codec: NaN, format_version: NaN, min: NaN, max: NaN, mean: NaN, m2: NaN, data: null,
    });
  }
  return rows;
}
