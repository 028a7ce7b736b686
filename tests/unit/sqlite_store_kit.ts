/**
 * Opens the storage engine over a SQLite file for tests that drive the engine directly
 * (commit, checkpoint, compaction) rather than through a MetricsSystem.
 */
import { StorageEngine, type StoreOptions } from '../../src/storage/storage_engine.js';
import { SqliteBackend, type SqliteBackendOptions } from '../../src/storage/sqlite/sqlite_backend.js';
import { readSeriesPoints, type PointColumns } from '../../src/query/series_reader.js';

export type SqliteStoreOptions = Omit<StoreOptions, 'backend'> & SqliteBackendOptions;

export function openSqliteStore(options: SqliteStoreOptions): Promise<StorageEngine> {
  const { path, durability, pageSizeBytes, ...engine } = options;
  return StorageEngine.open({ ...engine, backend: SqliteBackend.open({ path, durability, pageSizeBytes }) });
}

/** A series' committed chunk points in [startMs, endMs) merged with its head, as a query reads them. */
export async function readStoredPoints(store: StorageEngine, seriesId: number, startMs = -Infinity, endMs = Infinity): Promise<PointColumns> {
  const { maxChunkId } = store.beginSnapshotRead();
  try {
    return await readSeriesPoints(store.chunkSource, { seriesId, seriesName: `series ${seriesId}`, head: store.head(seriesId)?.sorted(), startMs, endMs, maxChunkId });
  } finally {
    store.endSnapshotRead();
  }
}
