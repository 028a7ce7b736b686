/**
 * Chunks: encoded runs of one series' points, one row each in the `chunks` table, with the
 * statistics aligned aggregate queries use instead of decoding (count, sum, min, max, first,
 * last, mean, m2). An in-memory catalogue of every chunk's (id, min_ts, max_ts, count) lets
 * queries plan (inline or workers, overlaps) and compaction choose, without reading SQLite.
 *
 * Precedence: a chunk with a higher id was written later. Where chunks of a series overlap in
 * time, a point of the newer chunk replaces one of an older chunk with the same timestamp; the
 * head (not yet cut) is newer than every chunk of its series.
 */
import type Database from 'better-sqlite3';
import { CHUNK_FORMAT_VERSION, chunkPointCount, decodeChunkRangeInto } from '../core/codec.js';
import { SQL } from './schema.js';
import { CODEC_EMMS_CHUNK, STORED_CHUNK_MAX_POINTS, decodeStored, encodeChunks, type EncodedChunk, type StoredChunk } from './chunk_encoding.js';
import { canonicalTags } from '../model/metric.js';
import type { SeriesInfo } from './series_index.js';

export { CODEC_EMMS_CHUNK, STORED_CHUNK_MAX_POINTS };

export interface ChunkMeta {
  readonly id: number;
  readonly minTs: number;
  readonly maxTs: number;
  readonly count: number;
}

/** A chunk row as read for a query (stats always, data when asked for). */
export interface ChunkRow {
  id: number;
  series_id: number;
  min_ts: number;
  max_ts: number;
  count: number;
  codec: number;
  format_version: number;
  sum: number;
  min: number;
  max: number;
  first: number;
  last: number;
  mean: number;
  m2: number;
  /** Absent or null when the chunk was read without its blob. */
  data?: Uint8Array | null;
}

/** A stored chunk that cannot be decoded; queries touching it fail with this. */
export class CorruptChunkError extends Error {
  constructor(
    readonly seriesId: number,
    readonly seriesName: string,
    readonly chunkId: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`chunk ${chunkId} of series ${seriesId} ${seriesName} cannot be decoded: ${detail}`, options);
    this.name = 'CorruptChunkError';
  }
}

/** `metric{k=v,…}`, the way errors name a series. */
export function describeSeries(info: (Pick<SeriesInfo, 'metricId' | 'tags'> & { canonicalTags?: string }) | undefined): string {
  if (info === undefined) return '(unknown series)';
  return `${info.metricId}{${info.canonicalTags ?? canonicalTags(info.tags)}}`;
}

/** Decodes a chunk row, turning any failure into a CorruptChunkError naming series and chunk. */
export function decodeChunkRow(row: ChunkRow, seriesName: string): { timestamps: Float64Array; values: Float64Array } {
  if (row.data === undefined || row.data === null) throw new Error(`BUG: chunk ${row.id} was read without its data`);
  const decoded = decodeStored({ id: row.id, codec: row.codec, count: row.count, data: row.data });
  if ('detail' in decoded) {
    throw new CorruptChunkError(row.series_id, seriesName, row.id, decoded.detail, decoded.cause === undefined ? undefined : { cause: decoded.cause });
  }
  return decoded;
}

/**
 * decodeChunkRow for readers that concatenate: copies the row's points in [startMs, endMs)
 * into `outTs`/`outVs` from `at` (room for row.count points) and returns how many, with the
 * same checks and the same CorruptChunkError.
 */
export function decodeChunkRowInto(
  row: ChunkRow, seriesName: string, startMs: number, endMs: number, outTs: Float64Array, outVs: Float64Array, at: number,
): number {
  if (row.data === undefined || row.data === null) throw new Error(`BUG: chunk ${row.id} was read without its data`);
  const corrupt = (detail: string, cause?: unknown): CorruptChunkError =>
    new CorruptChunkError(row.series_id, seriesName, row.id, detail, cause === undefined ? undefined : { cause });
  if (row.codec !== CODEC_EMMS_CHUNK) throw corrupt(`codec=${row.codec} is unknown (expected ${CODEC_EMMS_CHUNK})`);
  // The declared count bounds the copy: a chunk holding more points must not write past the room made for it.
  let header: number;
  try {
    header = chunkPointCount(row.data);
  } catch (error) {
    throw corrupt((error as Error).message, error);
  }
  if (header !== row.count) throw corrupt(`it holds ${header} points, its row says count=${row.count}`);
  try {
    return decodeChunkRangeInto(row.data, startMs, endMs, outTs, outVs, at).copied;
  } catch (error) {
    throw corrupt((error as Error).message, error);
  }
}

export class ChunkStore {
  readonly #insert: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #data: Database.Statement;
  /** Per series, its chunks ordered by (minTs, id). */
  readonly #catalog = new Map<number, ChunkMeta[]>();
  #chunks = 0;
  #maxId = 0;

  constructor(db: Database.Database) {
    this.#insert = db.prepare(SQL.insertChunk);
    this.#delete = db.prepare(SQL.deleteChunk);
    this.#data = db.prepare(SQL.chunkData);
  }

  /** Loads the catalogue (at start). */
  load(db: Database.Database): void {
    this.#catalog.clear();
    this.#chunks = 0;
    const rows = db.prepare(SQL.allChunkMeta).raw().iterate() as IterableIterator<[number, number, number, number, number]>;
    for (const [id, seriesId, minTs, maxTs, count] of rows) {
      this.#addToCatalog(seriesId, { id, minTs, maxTs, count });
      if (id > this.#maxId) this.#maxId = id;
    }
    for (const list of this.#catalog.values()) list.sort(byMinTsThenId);
  }

  get chunkCount(): number {
    return this.#chunks;
  }

  /** Highest chunk id written so far: a snapshot bound for readers in other threads. */
  get maxChunkId(): number {
    return this.#maxId;
  }

  chunksOf(seriesId: number): readonly ChunkMeta[] {
    return this.#catalog.get(seriesId) ?? EMPTY;
  }

  seriesWithChunks(): IterableIterator<number> {
    return this.#catalog.keys();
  }

  /**
   * Encodes sorted, duplicate-free points of one series into chunks of at most
   * STORED_CHUNK_MAX_POINTS and inserts them. Call inside the caller's transaction.
   */
  write(seriesId: number, timestamps: Float64Array, values: Float64Array): void {
    for (const chunk of encodeChunks(timestamps, values)) this.insert(seriesId, chunk);
  }

  /** Inserts a chunk encoded elsewhere (the chunk encoder thread). Call inside the caller's transaction. */
  insert(seriesId: number, c: EncodedChunk): void {
    const info = this.#insert.run(
      seriesId, c.minTs, c.maxTs, c.count, CODEC_EMMS_CHUNK, CHUNK_FORMAT_VERSION,
      c.sum, c.min, c.max, c.firstValue, c.lastValue, c.mean, c.m2, c.bytes,
    );
    const id = Number(info.lastInsertRowid);
    if (id > this.#maxId) this.#maxId = id;
    const list = this.#addToCatalog(seriesId, { id, minTs: c.minTs, maxTs: c.maxTs, count: c.count });
    // Keep (minTs, id) order: usually the new chunk is the newest in time and this is a no-op.
    if (list.length > 1 && byMinTsThenId(list[list.length - 2]!, list[list.length - 1]!) > 0) list.sort(byMinTsThenId);
  }

  /** Whether the series still has a chunk with this id. */
  has(seriesId: number, chunkId: number): boolean {
    const list = this.#catalog.get(seriesId);
    return list !== undefined && list.some((c) => c.id === chunkId);
  }

  /** A chunk's stored bytes, undecoded (compaction in the encoder thread decodes them). */
  readStored(seriesId: number, meta: ChunkMeta): StoredChunk {
    const row = this.#data.get(meta.id) as { codec: number; data: Uint8Array } | undefined;
    if (row === undefined) throw new Error(`BUG: chunk ${meta.id} of series ${seriesId} is in the catalogue but not in the database`);
    return { id: meta.id, codec: row.codec, count: meta.count, data: row.data };
  }

  /** Deletes chunks of one series (by id). Call inside the caller's transaction. */
  delete(seriesId: number, ids: ReadonlySet<number>): void {
    for (const id of ids) this.#delete.run(id);
    const list = this.#catalog.get(seriesId);
    if (list === undefined) return;
    const kept = list.filter((c) => !ids.has(c.id));
    this.#chunks -= list.length - kept.length;
    if (kept.length === 0) this.#catalog.delete(seriesId);
    else this.#catalog.set(seriesId, kept);
  }

  #addToCatalog(seriesId: number, meta: ChunkMeta): ChunkMeta[] {
    let list = this.#catalog.get(seriesId);
    if (list === undefined) {
      list = [];
      this.#catalog.set(seriesId, list);
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
