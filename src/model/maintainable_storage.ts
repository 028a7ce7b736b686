/**
 * What the maintenance commands (backup, cleanup, compact, reindex: src/maintenance/) need
 * from the storage engine, whatever its back-end (src/storage/store_maintenance.ts), so the
 * commands, their routes and their reports stay back-end neutral.
 *
 * Every operation works on a running engine (ingest continues; the operation waits for
 * readers in other threads where it must) and on a store opened over a stopped data directory.
 */

/** How much a store (or one tenant of it) holds; printed before and after each operation. */
export interface StorageUsage {
  series: number;
  /** Points in chunks and not yet cut (heads); overwritten duplicates count until compaction merges them. */
  points: number;
  chunks: number;
  /** Bytes of the back-end's files (for SQLite: database, -wal, -shm). */
  bytes: number;
}

export interface CleanupOutcome {
  /** Points with a timestamp before the cutoff that were deleted. */
  pointsDeleted: number;
  chunksDeleted: number;
  /** Chunks holding points on both sides of the cutoff, rewritten with the newer ones only. */
  chunksRewritten: number;
}

export interface ReindexOutcome {
  series: number;
  chunks: number;
  /** Chunks naming a series that does not exist: never written by this engine, deleted. */
  orphanChunksDeleted: number;
}

/** Points to erase: one tenant's series by metric glob and exact tags, in [startMs, endMs) (default all time). */
export interface ErasureSelection {
  metricPattern: string;
  tags?: Readonly<Record<string, string>> | undefined;
  startMs?: number | undefined;
  endMs?: number | undefined;
}

export interface ErasurePreview {
  series: Array<{ metricId: string; tags: Readonly<Record<string, string>>; points: number }>;
  points: number;
}

export interface ErasureOutcome {
  series: number;
  pointsDeleted: number;
  chunksDeleted: number;
  chunksRewritten: number;
  /** Series left without points: their rows (names, tags) are deleted too. */
  seriesRemoved: number;
  /** The rewrite of the files that removes the erased bytes from free pages and the -wal file. */
  scrub: { complete: boolean; durationMs: number; fileBytesAfter: number };
}

/** Called as an operation advances: `done` of `total` series. */
export type SeriesProgress = (done: number, total: number) => void;

export interface MaintainableStorage {
  /** Back-end name, recorded in backup manifests (`sqlite`). */
  readonly backend: string;
  /** Usage of the whole store, or of one tenant's series (bytes are the whole store's either way). */
  usage(tenant?: string): Promise<StorageUsage>;
  /**
   * Deletes every point with a timestamp before `cutoffMs` (of one tenant, or of all), rewriting
   * chunks that straddle the cutoff. Points not yet cut into chunks are flushed first.
   */
  deleteOlderThan(cutoffMs: number, tenant?: string, progress?: SeriesProgress): Promise<CleanupOutcome>;
  /** Flushes heads, merges small and overlapping chunks, returns free space to the file system. */
  compact(progress?: SeriesProgress): Promise<void>;
  /** Rebuilds the back-end's indexes and in-memory catalogues from the stored data. */
  reindex(): Promise<ReindexOutcome>;
  /**
   * Writes a consistent copy of the store to `destinationPath` (a file for SQLite): every
   * write acknowledged before the call is in it, and nothing half-written. Ingest continues.
   */
  snapshot(destinationPath: string): Promise<void>;
  /** What `erase` would delete, changing nothing. */
  previewErasure?(tenant: string, selection: ErasureSelection): Promise<ErasurePreview>;
  /**
   * Deletes the selected points durably (acknowledged = survives a kill) and scrubs the files
   * so that the erased bytes are in none of them (src/storage/point_erasure.ts).
   */
  erase?(tenant: string, selection: ErasureSelection): Promise<ErasureOutcome>;
}
