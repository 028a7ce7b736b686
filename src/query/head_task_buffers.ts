/**
 * Buffers for the head points an aggregation hands to its query workers (query_engine.ts
 * #task), lent with the task and handed back with its answer (aggregate_task.ts), so the next
 * query reuses them. A dashboard whose range reaches into the heads copies up to ~6.5 MB of
 * head points per 100-series query; fresh buffers for each were zero-filled and page-faulted
 * on the thread that acknowledges ingest, and counted as external memory towards its garbage
 * collections (#task's own time was 1.5 s of that thread's 48 s in
 * bench/concurrent_users.bench.ts, its copying 2.3 s).
 *
 * Sizes round up to a power of two of at least MIN_BYTES, so queries of similar size share
 * buffers. Bounded: past POOL_BYTES a returned buffer is left to the collector.
 */
import { BufferPool } from '../workers/buffer_pool.js';

const MIN_BYTES = 64 * 1024;
const POOL_BYTES = 64 * 1024 * 1024;

const pool = new BufferPool<ArrayBuffer>(POOL_BYTES);

function isPooledSize(bytes: number): boolean {
  return bytes >= MIN_BYTES && (bytes & (bytes - 1)) === 0;
}

/** A column of `length` float64s over a pooled (or new) buffer; its old contents stay until overwritten. */
export function lendHeadColumn(length: number): Float64Array {
  const need = length * Float64Array.BYTES_PER_ELEMENT;
  let bytes = MIN_BYTES;
  while (bytes < need) bytes *= 2;
  return new Float64Array(pool.take(bytes) ?? new ArrayBuffer(bytes), 0, length);
}

/** Takes back a buffer lendHeadColumn() gave out, once no thread reads it (the task answered). */
export function returnHeadBuffer(buffer: ArrayBuffer): void {
  if (isPooledSize(buffer.byteLength)) pool.give(buffer);
}
