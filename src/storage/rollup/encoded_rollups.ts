/**
 * Rollup records built where chunks are encoded, so that every chunk can land with its
 * rollups and the first query after a burst reads neither SQLite nor decodes (issue 16's
 * "query 1 s after ingest ends": the server's first query used to read ~2,400 chunk rows).
 *
 * The encoder thread (chunk_encode_task.ts) has each chunk's points at hand, sorted and
 * duplicate-free, when it encodes a cut or a compaction merge: `encodeWithRollups` adds the
 * records of every chunk (buildRollupRecords over the very points the chunk holds, so they
 * equal what RollupStore#build makes from the decoded chunk, bit for bit), and
 * `keepEncodedRollups` hands them to the store when the chunk's row has its id, on the
 * writer thread.
 *
 * Building costs the encoder thread (low priority, off the thread that acknowledges batches)
 * ~34 ns a point for both resolutions against ~54 for encoding (best of 15 rounds over 200
 * day-long 10 s series, shared 2-core machine at load average ~14); keeping them costs
 * 30,144 bytes per such series (26 MB for bench:peers' day of 1,000 series right after
 * ingest, within the 64 MiB default budget).
 */
import { buildRollupRecords, ROLLUP_RESOLUTIONS_MS } from '../../core/rollup_records.js';
import { encodeChunks, type EncodedChunk } from '../chunk_encoding.js';
import type { RollupStore } from './rollup_store.js';

/** encodeChunks, each chunk with the rollup records of its points. */
export function encodeWithRollups(timestamps: Float64Array, values: Float64Array): EncodedChunk[] {
  const chunks = encodeChunks(timestamps, values);
  // encodeChunks splits the points in order, one chunk after the other.
  let at = 0;
  for (const chunk of chunks) {
    const end = at + chunk.count;
    if (end > timestamps.length) throw new Error(`BUG: ${timestamps.length} points encoded as chunks of more`);
    const ts = timestamps.subarray(at, end);
    const vs = values.subarray(at, end);
    chunk.rollupRecords = ROLLUP_RESOLUTIONS_MS.map((r) => buildRollupRecords(ts, vs, r));
    at = end;
  }
  return chunks;
}

/**
 * Keeps the encoder-built records of `chunk`, inserted as `chunkId`, and returns whether the
 * chunk had any. A series a query planned over lately (RollupStore#wantsSeries) gets them like
 * any build, evicting the least recently used; any other only while that evicts nothing a
 * query used within WARM_EVICTION_MIN_AGE_MS (RollupStore#acceptsWarming), so that ingest of
 * series nobody reads cannot push out the rollups queries keep reading.
 */
export function keepEncodedRollups(store: RollupStore, seriesId: number, chunkId: number, chunk: EncodedChunk, nowMs: number): boolean {
  const records = chunk.rollupRecords;
  if (records === undefined) return false;
  if (!store.wantsSeries(seriesId, nowMs) && !store.acceptsWarming(nowMs)) return true;
  // Only the stats: the entry must not hold the chunk's bytes.
  store.add(chunkId, {
    minTs: chunk.minTs, maxTs: chunk.maxTs, count: chunk.count, sum: chunk.sum, firstValue: chunk.firstValue, lastValue: chunk.lastValue,
  }, records);
  return true;
}
