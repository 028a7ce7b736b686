/**
 * Decoded chunks of recent range-function reads (PromQL rate, avg_over_time …), one cache per
 * thread, bounded by bytes, least recently used out first.
 *
 * Why: a dashboard re-runs the same range queries every refresh, and decoding was the largest
 * part of one. In process, `sum by (region) (rate(net_bytes_total[5m]))` over 100 series of a
 * day at 10 s (bench/promql_vs_victoriametrics.ts's data, one thread, CPU profile of 200
 * queries): 9.2 ms a query in the WASM decoder, 1.0 ms copying out of this cache instead; the
 * fastest query went from 13.0 to 7.6 ms. Rollups cannot answer these queries: their windows
 * move with every step.
 *
 * Exact by construction: an entry is used only when the row's bytes are the very bytes it was
 * decoded from (compared in full, ~1.5 KB a chunk, so a chunk id that a rewrite or a rowid
 * reuse gave to other data is decoded again), and decoding is a pure function of the bytes.
 * A chunk that fails to decode is never cached, so it fails the same way every time.
 */
import { lowerBound } from '../core/sorted_search.js';
import { decodeChunkRowInto, type ChunkRow } from '../storage/chunk_rows.js';

/**
 * Bytes of decoded points (16 a point, plus the encoded bytes kept to check against) one
 * thread's cache holds: 2M points, the main thread's and one worker's share of a day of 200
 * series at 10 s. The main thread and each query worker have one: 3 × 32 MiB at most with the
 * 2 workers of a 2-core machine, all of it off the V8 heap (typed arrays).
 */
export const DECODED_CHUNK_CACHE_BYTES = 32 * 1024 * 1024;

/** Per-entry bookkeeping (Map slot, entry object, typed-array headers), counted against the bound. */
const ENTRY_OVERHEAD_BYTES = 256;

interface DecodedChunk {
  /** The encoded bytes it was decoded from (a copy: the row's buffer belongs to the reader). */
  encoded: Uint8Array;
  timestamps: Float64Array;
  values: Float64Array;
  bytes: number;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

export class DecodedChunkCache {
  /** Map order is use order: the first key is the least recently used. */
  readonly #entries = new Map<number, DecodedChunk>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  constructor(readonly maxBytes: number = DECODED_CHUNK_CACHE_BYTES) {
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`DecodedChunkCache: maxBytes must be a non-negative integer; got ${maxBytes}`);
  }

  /**
   * decodeChunkRowInto through the cache: copies the row's points in [startMs, endMs) into
   * `outTs`/`outVs` from `at` (room for row.count points) and returns how many, with the same
   * checks and the same CorruptChunkError.
   */
  copyInto(row: ChunkRow, seriesName: string, startMs: number, endMs: number, outTs: Float64Array, outVs: Float64Array, at: number): number {
    const data = row.data;
    if (data === undefined || data === null) throw new Error(`BUG: chunk ${row.id} was read without its data`);
    let entry = this.#entries.get(row.id);
    if (entry !== undefined && sameBytes(entry.encoded, data)) {
      this.#hits++;
      // Most recently used: to the end of the map's order.
      this.#entries.delete(row.id);
      this.#entries.set(row.id, entry);
    } else {
      this.#misses++;
      if (entry !== undefined) this.#remove(row.id, entry);
      const bytes = row.count * 16 + data.length + ENTRY_OVERHEAD_BYTES;
      // Too large to keep: decoded straight into the caller's columns, as without a cache.
      if (bytes > this.maxBytes) return decodeChunkRowInto(row, seriesName, startMs, endMs, outTs, outVs, at);
      const timestamps = new Float64Array(row.count);
      const values = new Float64Array(row.count);
      const n = decodeChunkRowInto(row, seriesName, -Infinity, Infinity, timestamps, values, 0);
      if (n !== row.count) throw new Error(`BUG: chunk ${row.id} decoded ${n} points, its checked header says ${row.count}`);
      entry = { encoded: new Uint8Array(data), timestamps, values, bytes };
      this.#insert(row.id, entry);
    }
    const a = lowerBound(entry.timestamps, startMs);
    const b = lowerBound(entry.timestamps, endMs);
    outTs.set(entry.timestamps.subarray(a, b), at);
    outVs.set(entry.values.subarray(a, b), at);
    return b - a;
  }

  /** Entries, bytes held, and lookups answered from the cache or decoded since it was made. */
  stats(): { entries: number; bytes: number; hits: number; misses: number } {
    return { entries: this.#entries.size, bytes: this.#bytes, hits: this.#hits, misses: this.#misses };
  }

  #insert(id: number, entry: DecodedChunk): void {
    this.#entries.set(id, entry);
    this.#bytes += entry.bytes;
    for (const [oldest, old] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#remove(oldest, old);
    }
  }

  #remove(id: number, entry: DecodedChunk): void {
    this.#entries.delete(id);
    this.#bytes -= entry.bytes;
  }
}
