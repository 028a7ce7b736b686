/**
 * The storage contract: what the back-end-neutral engine (storage_engine.ts) asks of a
 * database. SQLite (sqlite/), PostgreSQL (postgres/) and Redis (redis/) implement it; nothing
 * above the engine names a back-end.
 *
 * What a back-end stores (the engine decides every value; a back-end never invents ids):
 *   series       id → (tenant, metric id, canonical tags, type)
 *   wal records  id → (created ms, points, bytes)      columnar batches not yet in chunks
 *   chunks       id → (series, min/max ts, count, stats, bytes)   encoded by the WASM codec
 *   marks        series → wal id                        the series' points of records ≤ it are in chunks
 *   meta         key → value                            small flags (an erasure's pending scrub)
 *
 * Lifecycle of a back-end: `open…()` (in backends.ts) → `load()` once → any number of write
 * transactions, one at a time, and of reads from `chunkSource()` at any time → `close()`.
 *
 * Lifecycle of a write transaction: `beginWrite()` → any number of the recording calls (they
 * return nothing and never throw for a database reason: a back-end may run them at once, as
 * SQLite does inside BEGIN, or queue them for `commit()`, as the network back-ends do) →
 * exactly one of `commit()` or `rollback()`. `commit()` resolves once the whole transaction is
 * durable to the back-end's stated durability, and rejects with nothing of it applied. After
 * either, the object is unusable: every call throws. The engine runs one transaction at a time
 * and acknowledges a batch only after the commit holding its record resolved.
 *
 * Reads (`ChunkSource`): each call sees a consistent state of committed chunks, bounded by
 * `maxChunkId` (chunks written after a query copied the heads hold the same points and are
 * skipped). Chunks the bound admits are not deleted while a read is registered with the engine
 * (StorageEngine.beginSnapshotRead), so calls of one query may run as separate statements.
 * Query workers reach the same data through `workerSource()`, a plain object they pass to
 * `openChunkSource()` (chunk_sources.ts) in their own thread.
 */
import type { EncodedChunk } from './chunk_encoding.js';
import type { MetricType } from '../model/metric.js';

export type BackendKind = 'sqlite' | 'postgresql' | 'redis';

/** A series as stored; `canonicalTags` is canonicalTags(tags) (src/model/metric.ts). */
export interface SeriesRow {
  id: number;
  tenant: string;
  metricId: string;
  canonicalTags: string;
  metricType: MetricType;
}

export interface WalRecordRow {
  id: number;
  createdMs: number;
  points: number;
  /** encodeWalRecord's bytes (write_ahead_log.ts). */
  data: Uint8Array;
}

/** A chunk's catalogue entry: what the engine keeps in memory for every chunk. */
export interface ChunkMetaRow {
  id: number;
  seriesId: number;
  minTs: number;
  maxTs: number;
  count: number;
}

/** A chunk row as read for a query: stats always, data when asked for (snake_case: the SQL column names). */
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

/** A series' newest chunk point before a time, or newest of all: what rate's predecessor and latest() need. */
export interface ChunkEdge {
  max_ts: number;
  last: number;
}

/** Everything the engine rebuilds its memory from at open. */
export interface BackendState {
  series: SeriesRow[];
  chunks: ChunkMetaRow[];
  marks: Map<number, number>;
  meta: Map<string, string>;
  /** Write-ahead records, oldest (lowest id) first; read once, after the rest. */
  walRecords(): AsyncIterable<WalRecordRow>;
}

export interface WriteTransaction {
  insertSeries(row: SeriesRow): void;
  /** Removes the series row (its chunks are deleted by deleteChunk). */
  deleteSeries(row: SeriesRow): void;
  appendWalRecord(record: WalRecordRow): void;
  /** Deletes every record with id ≤ walId (Infinity: all). */
  deleteWalRecordsUpTo(walId: number): void;
  /** `chunk.bytes` is the codec's output; the row keeps the stats beside it. */
  insertChunk(id: number, seriesId: number, chunk: EncodedChunk): void;
  deleteChunk(id: number, seriesId: number): void;
  setMark(seriesId: number, walId: number): void;
  /** Deletes every mark with wal id ≤ walId (Infinity: all). */
  deleteMarksUpTo(walId: number): void;
  /** undefined deletes the key. */
  setMeta(key: string, value: string | undefined): void;
  commit(): Promise<void>;
  rollback(): void;
}

/** Which chunks an aggregation reads, and whether it can answer some from their stats alone. */
export interface AggregationRead {
  startMs: number;
  endMs: number;
  maxChunkId: number;
  intervalMs: number;
  /**
   * When true a chunk lying inside [startMs, endMs) and inside one bucket of intervalMs may
   * come without its data (its stats answer it); every other chunk comes with its data.
   */
  summaries: boolean;
}

export interface ChunkSource {
  /**
   * Chunks of each series overlapping [startMs, endMs) with id ≤ maxChunkId, each series' in
   * (min_ts, id) order; every id asked for is a key (with [] when it has none).
   */
  aggregationRows(seriesIds: readonly number[], read: AggregationRead): Promise<Map<number, ChunkRow[]>>;
  /** One series' chunks overlapping [startMs, endMs), ≤ maxChunkId, (min_ts, id) order, with data. */
  rangeRows(seriesId: number, startMs: number, endMs: number, maxChunkId: number): Promise<ChunkRow[]>;
  /** The data of chunks read without it. */
  chunkData(ids: readonly number[]): Promise<Map<number, Uint8Array>>;
  /** Per series, its chunks' newest point before timeMs (ties: the higher chunk id), ≤ maxChunkId. */
  newestBefore(seriesIds: readonly number[], timeMs: number, maxChunkId: number): Promise<Map<number, ChunkEdge>>;
  /** Per series, its chunks' newest point (ties: the higher chunk id). */
  newest(seriesIds: readonly number[]): Promise<Map<number, ChunkEdge>>;
  close(): Promise<void>;
}

/**
 * How a query worker opens its own ChunkSource (chunk_sources.ts): plain data, cloned to the
 * worker. Carries secrets (a database URL's password) only inside the process.
 */
export type WorkerSourceSpec =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgresql'; url: string; schema: string; statementTimeoutMs: number }
  | { kind: 'redis'; url: string; prefix: string };

/** What the engine reports and tests read: sizes as the back-end counts them. */
export interface BackendSize {
  /** Bytes the back-end holds for this store (file sizes, relation sizes, or memory used by its keys). */
  bytes: number;
}

/** Space a store holds that no data uses (StorageBackend.freeSpace). */
export interface FreeSpace {
  /** Bytes no data uses (SQLite: free pages, and what the file and its -wal file take beyond the pages in use). */
  freeBytes: number;
  /** Everything the store takes, free bytes included. */
  storeBytes: number;
}

/** One step of giving free space back: more to do, waiting for the back-end's own background work, or done. */
export type FreeSpaceStep = 'more' | 'wait' | 'done';

export interface StorageBackend {
  readonly kind: BackendKind;
  /** Where the data is, for messages and /health, with any password redacted. */
  readonly location: string;
  load(): Promise<BackendState>;
  beginWrite(): WriteTransaction;
  /** Reads for this thread. */
  chunkSource(): ChunkSource;
  workerSource(): WorkerSourceSpec;
  /** Throws when the back-end cannot take a write (a real one-row write, committed). */
  checkWritable(): Promise<void>;
  size(): Promise<BackendSize>;
  /** Called after each committed ingest transaction (SQLite watches its -wal file). */
  afterCommit?(): void;
  /**
   * Makes the storage give back the space of deleted rows, so that erased bytes are gone from
   * it (SQLite: secure_delete and VACUUM; PostgreSQL: VACUUM of the chunk and record tables).
   */
  reclaimDeletedSpace(): Promise<void>;
  /** The last failure of the back-end's own background work (SQLite's -wal checkpointer), for /health. */
  readonly lastError?: string | undefined;
  /**
   * Optional maintenance hooks, for back-ends that have such a thing (SQLite does):
   * - beginSecureDelete: deleted content is overwritten from now until the returned function
   *   is called (an erasure's transaction);
   * - returnFreeSpace: gives free pages back to the file system (after compaction);
   * - rebuildIndexes: rebuilds the back-end's own indexes (`emms reindex`);
   * - snapshotTo: writes a consistent copy of the store to a file (`emms backup`); a back-end
   *   without it is backed up with its database's own tools.
   */
  beginSecureDelete?(): () => void;
  /**
   * Retention by whole time ranges, for a back-end that partitions chunks by time
   * (PostgreSQL drops month partitions instead of deleting rows, which leaves no dead rows to
   * vacuum): removes every chunk whose max_ts lies below a boundary ≤ cutoffMs and returns that
   * boundary. The engine calls it with the oldest cutoff of every tenant, outside any write
   * transaction, while no other write or snapshot read runs; chunks between the boundary and
   * each tenant's cutoff are deleted one by one as usual.
   */
  dropChunksBefore?(cutoffMs: number): Promise<number>;
  returnFreeSpace?(): void;
  /**
   * Giving free space back while the store runs, for a back-end whose deleted rows keep their
   * space (SQLite; settling calls them once the engine settled, settle_policy.ts decides
   * when): how much there is, and one step of returning it that ends near `deadline`
   * (performance.now()). The engine calls a step only between its writes.
   */
  freeSpace?(): FreeSpace;
  returnFreeSpaceStep?(deadline: number): FreeSpaceStep;
  rebuildIndexes?(): Promise<void>;
  snapshotTo?(destinationPath: string): Promise<void>;
  /** At a clean stop, after the engine's last checkpoint and compaction. */
  close(options?: { compact: boolean }): Promise<void>;
  /** Closes without any more writes: what a killed process leaves (crash tests). */
  abandon(): Promise<void>;
}

/** Stored chunk bytes for compaction (the encoder thread merges them). */
export interface StoredChunkBytes {
  id: number;
  codec: number;
  count: number;
  data: Uint8Array;
}
