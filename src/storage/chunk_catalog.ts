/**
 * The in-memory catalogue of every chunk's (id, min_ts, max_ts, count), per series: queries
 * plan with it (inline or workers, overlaps) and compaction chooses with it, without asking
 * the back-end. Chunks are encoded runs of one series' points (chunk_encoding.ts) stored with
 * the statistics aligned aggregate queries use instead of decoding.
 *
 * Ids: the catalogue hands them out (one more than the highest so far). Precedence: a chunk
 * with a higher id was written later; where chunks of a series overlap in time, a point of the
 * newer chunk replaces one of an older chunk with the same timestamp; the head (not yet cut)
 * is newer than every chunk of its series.
 *
 * Writes go through a WriteTransaction (backend.ts) and change the catalogue at once; when the
 * transaction fails the engine reloads the catalogue from the back-end (load()).
 */
import { encodeChunks, type EncodedChunk } from './chunk_encoding.js';
import type { ChunkMetaRow, WriteTransaction } from './backend.js';

export interface ChunkMeta {
  readonly id: number;
  readonly minTs: number;
  readonly maxTs: number;
  readonly count: number;
}

export class ChunkCatalog {
  /** Per series, its chunks ordered by (minTs, id). */
  readonly #bySeries = new Map<number, ChunkMeta[]>();
  #chunks = 0;
  #maxId = 0;

  /** Replaces the catalogue by the back-end's (at open, and after a failed write). */
  load(rows: readonly ChunkMetaRow[]): void {
    this.#bySeries.clear();
    this.#chunks = 0;
    for (const { id, seriesId, minTs, maxTs, count } of rows) {
      this.#add(seriesId, { id, minTs, maxTs, count });
      if (id > this.#maxId) this.#maxId = id;
    }
    for (const list of this.#bySeries.values()) list.sort(byMinTsThenId);
  }

  get chunkCount(): number {
    return this.#chunks;
  }

  /** Highest chunk id written so far: a snapshot bound for reads (backend.ts). */
  get maxChunkId(): number {
    return this.#maxId;
  }

  chunksOf(seriesId: number): readonly ChunkMeta[] {
    return this.#bySeries.get(seriesId) ?? EMPTY;
  }

  seriesWithChunks(): IterableIterator<number> {
    return this.#bySeries.keys();
  }

  /** Encodes sorted, duplicate-free points of one series into chunks of at most STORED_CHUNK_MAX_POINTS and inserts them. */
  write(tx: WriteTransaction, seriesId: number, timestamps: Float64Array, values: Float64Array): void {
    for (const chunk of encodeChunks(timestamps, values)) this.insert(tx, seriesId, chunk);
  }

  /** Inserts a chunk encoded elsewhere (the chunk encoder thread) under the next id. */
  insert(tx: WriteTransaction, seriesId: number, c: EncodedChunk): void {
    const id = ++this.#maxId;
    tx.insertChunk(id, seriesId, c);
    const list = this.#add(seriesId, { id, minTs: c.minTs, maxTs: c.maxTs, count: c.count });
    // Keep (minTs, id) order: usually the new chunk is the newest in time and this is a no-op.
    if (list.length > 1 && byMinTsThenId(list[list.length - 2]!, list[list.length - 1]!) > 0) list.sort(byMinTsThenId);
  }

  /** Whether the series still has a chunk with this id. */
  has(seriesId: number, chunkId: number): boolean {
    const list = this.#bySeries.get(seriesId);
    return list !== undefined && list.some((c) => c.id === chunkId);
  }

  /** Deletes chunks of one series (by id). */
  delete(tx: WriteTransaction, seriesId: number, ids: ReadonlySet<number>): void {
    for (const id of ids) tx.deleteChunk(id, seriesId);
    const list = this.#bySeries.get(seriesId);
    if (list === undefined) return;
    const kept = list.filter((c) => !ids.has(c.id));
    this.#chunks -= list.length - kept.length;
    if (kept.length === 0) this.#bySeries.delete(seriesId);
    else this.#bySeries.set(seriesId, kept);
  }

  /**
   * Forgets every chunk with maxTs below `boundMs` without a transaction: the back-end removed
   * them itself (StorageBackend.dropChunksBefore). Returns how many.
   */
  forgetBefore(boundMs: number): number {
    let forgotten = 0;
    for (const [seriesId, list] of this.#bySeries) {
      const kept = list.filter((c) => c.maxTs >= boundMs);
      if (kept.length === list.length) continue;
      forgotten += list.length - kept.length;
      if (kept.length === 0) this.#bySeries.delete(seriesId);
      else this.#bySeries.set(seriesId, kept);
    }
    this.#chunks -= forgotten;
    return forgotten;
  }

  #add(seriesId: number, meta: ChunkMeta): ChunkMeta[] {
    let list = this.#bySeries.get(seriesId);
    if (list === undefined) {
      list = [];
      this.#bySeries.set(seriesId, list);
    }
    list.push(meta);
    this.#chunks++;
    return list;
  }
}

const EMPTY: readonly ChunkMeta[] = Object.freeze([]);

function byMinTsThenId(a: ChunkMeta, b: ChunkMeta): number {
  return a.minTs - b.minTs || a.id - b.id;
}
