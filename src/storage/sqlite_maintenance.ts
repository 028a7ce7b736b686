/**
 * The SQLite back-end's side of the maintenance commands (src/model/maintainable_storage.ts):
 * cleanup, compaction, reindexing, usage and snapshots over one open SqliteStore, whether it
 * is the running engine's or one opened over a stopped data directory (`openStoppedStore`).
 *
 * Operations that delete or rewrite chunks wait until no query reads in another thread
 * (a worker's snapshot would lose chunks mid-read, as retention knows), then run as one
 * synchronous transaction: no commit interleaves, so flushing the heads first and filtering
 * after sees every point. Ingest acknowledgements wait for that transaction (seconds on a
 * large store); these are operator commands, not background work.
 */
import { existsSync } from 'node:fs';
import type {
  CleanupOutcome, ErasureOutcome, ErasurePreview, ErasureSelection, MaintainableStorage, ReindexOutcome, SeriesProgress, StorageUsage,
} from '../model/maintainable_storage.js';
import { databasePathIn } from '../model/data_directory.js';
import { decodeStored } from './chunk_encoding.js';
import { CorruptChunkError } from './chunk_store.js';
import { TABLE } from './schema.js';
import { snapshotSqliteFile } from './sqlite_snapshot.js';
import { erasePoints, previewErasure, scrubErasedBytes, selectSeriesForErasure } from './point_erasure.js';
import { SqliteStore, databaseFileBytes } from './sqlite_store.js';

/** Longest an operation waits for query workers' reads to finish before giving up. */
const READERS_WAIT_MS = 30_000;
const READERS_POLL_MS = 5;

export class SqliteStorageMaintenance implements MaintainableStorage {
  readonly backend = 'sqlite';

  constructor(readonly store: SqliteStore) {}

  async usage(tenant?: string): Promise<StorageUsage> {
    const { store } = this;
    let points = 0;
    let chunks = 0;
    const countChunks = (sid: number): void => {
      for (const c of store.chunks.chunksOf(sid)) {
        chunks++;
        points += c.count;
      }
    };
    if (tenant === undefined) {
      for (const sid of store.chunks.seriesWithChunks()) countChunks(sid);
      points += store.stats().headPoints;
      return { series: store.catalog.size, points, chunks, bytes: databaseFileBytes(store.path) };
    }
    const names = store.catalog.tenant(tenant);
    for (const [, list] of names.metrics()) {
      for (const info of list) {
        countChunks(info.id);
        points += store.head(info.id)?.length ?? 0;
      }
    }
    return { series: names.size, points, chunks, bytes: databaseFileBytes(store.path) };
  }

  async deleteOlderThan(cutoffMs: number, tenant?: string, progress?: SeriesProgress): Promise<CleanupOutcome> {
    const { store } = this;
    await this.#noReaders();
    store.checkpoint();
    const inScope = this.#scope(tenant);
    const outcome: CleanupOutcome = { pointsDeleted: 0, chunksDeleted: 0, chunksRewritten: 0 };
    const sids = [...store.chunks.seriesWithChunks()].filter(inScope);
    // Overlapping chunks are merged first: a rewritten chunk gets a new (higher) id, which would
    // otherwise let its points outrank a newer chunk's at equal timestamps.
    for (const sid of sids) store.compactSeries(sid, Infinity);
    store.db.transaction(() => {
      for (const [done, sid] of sids.entries()) {
        progress?.(done, sids.length);
        for (const meta of [...store.chunks.chunksOf(sid)]) {
          if (meta.minTs >= cutoffMs) continue;
          if (meta.maxTs < cutoffMs) {
            store.chunks.delete(sid, new Set([meta.id]));
            outcome.chunksDeleted++;
            outcome.pointsDeleted += meta.count;
            continue;
          }
          const decoded = decodeStored(store.chunks.readStored(sid, meta));
          if ('detail' in decoded) throw new Error(`chunk ${meta.id} of series ${sid} cannot be decoded: ${decoded.detail}`);
          let from = 0;
          while (from < decoded.timestamps.length && decoded.timestamps[from]! < cutoffMs) from++;
          store.chunks.delete(sid, new Set([meta.id]));
          store.chunks.write(sid, decoded.timestamps.subarray(from), decoded.values.subarray(from));
          outcome.chunksRewritten++;
          outcome.pointsDeleted += from;
        }
      }
    })();
    progress?.(sids.length, sids.length);
    return outcome;
  }

  async compact(progress?: SeriesProgress): Promise<void> {
    const { store } = this;
    await this.#noReaders();
    store.checkpoint();
    const sids = [...store.chunks.seriesWithChunks()];
    for (const [done, sid] of sids.entries()) {
      progress?.(done, sids.length);
      try {
        store.compactSeries(sid, 2);
      } catch (error) {
        // As compactAll: a chunk that does not decode stays as it is; queries report it.
        if (!(error instanceof CorruptChunkError)) throw error;
      }
    }
    progress?.(sids.length, sids.length);
    // auto_vacuum=INCREMENTAL (database.ts): free pages go back to the file system without
    // rewriting the file; a stopped store's close() runs a full VACUUM where it pays.
    store.db.pragma('incremental_vacuum');
    store.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  async reindex(): Promise<ReindexOutcome> {
    const { store } = this;
    await this.#noReaders();
    store.db.exec('REINDEX');
    const orphans = store.db
      .prepare(`SELECT id, series_id FROM ${TABLE.chunks} WHERE series_id NOT IN (SELECT id FROM ${TABLE.series})`)
      .raw()
      .all() as Array<[number, number]>;
    // A series created since the last commit has no row yet, but it has no chunk either:
    // chunks land only for series whose first record was committed.
    const deleteChunk = store.db.prepare(`DELETE FROM ${TABLE.chunks} WHERE id = ?`);
    store.db.transaction(() => {
      for (const [id] of orphans) deleteChunk.run(id);
    })();
    store.chunks.load(store.db);
    return { series: store.catalog.size, chunks: store.chunks.chunkCount, orphanChunksDeleted: orphans.length };
  }

  async snapshot(destinationPath: string): Promise<void> {
    await snapshotSqliteFile(this.store.path, destinationPath);
  }

  async previewErasure(tenant: string, selection: ErasureSelection): Promise<ErasurePreview> {
    const selected = previewErasure(this.store, tenant, selection);
    let points = 0;
    for (const s of selected) points += s.points;
    return { series: selected.map((s) => ({ metricId: s.series.metricId, tags: s.series.tags, points: s.points })), points };
  }

  async erase(tenant: string, selection: ErasureSelection): Promise<ErasureOutcome> {
    const { store } = this;
    await this.#noReaders();
    // From here to the end without a pause: no query starts and no commit lands in between.
    const counts = erasePoints(store, selectSeriesForErasure(store, tenant, selection), selection);
    const scrub = scrubErasedBytes(store);
    return { ...counts, scrub };
  }

  /** Whether a series id belongs to the operation's scope. */
  #scope(tenant: string | undefined): (sid: number) => boolean {
    if (tenant === undefined) return () => true;
    return (sid) => this.store.catalog.get(sid)?.tenant === tenant;
  }

  async #noReaders(): Promise<void> {
    const deadline = Date.now() + READERS_WAIT_MS;
    while (this.store.snapshotReaders > 0) {
      if (Date.now() > deadline) throw new Error(`queries kept reading for ${READERS_WAIT_MS} ms; try again when the load is lower`);
      await new Promise((resolve) => setTimeout(resolve, READERS_POLL_MS));
    }
  }
}

/**
 * Opens the store of a stopped data directory for a maintenance command. Refuses a directory
 * without a database (a typo must not create an empty one) and one a server has open (the
 * writer lock says which process).
 */
export function openStoppedStore(dataDir: string): SqliteStore {
  const path = databasePathIn(dataDir);
  if (!existsSync(path)) throw new Error(`${dataDir} holds no ${path.slice(dataDir.length + 1)}: not an EMMS data directory`);
  try {
    return SqliteStore.open({ path, chunkEncoding: 'inline' });
  } catch (error) {
    const message = (error as Error).message;
    if (/open for writing by process/.test(message)) throw new Error(`${message}, or run the command against it with --url`);
    throw error;
  }
}

export { databaseFileBytes };
