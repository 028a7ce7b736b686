/**
 * The maintenance commands (src/model/maintainable_storage.ts) over one open StorageEngine,
 * whatever its back-end: cleanup, compaction, reindexing, usage, erasure and snapshots, on the
 * running engine or (SQLite) one opened over a stopped data directory (`openStoppedStore`).
 *
 * Operations that delete or rewrite chunks wait until no query reads a snapshot (it would lose
 * chunks mid-read, as retention knows), flush the heads, then rewrite in one write transaction:
 * the engine runs one write at a time, so no commit lands between the flush and the rewrite.
 * Ingest acknowledgements wait for that transaction (seconds on a large store); these are
 * operator commands, not background work.
 *
 * What only SQLite has (file compaction, REINDEX, the file snapshot) is asked of the back-end's
 * optional hooks (backend.ts); a snapshot of a PostgreSQL or Redis store is the database's own
 * tool (pg_dump, an RDB copy).
 */
import { existsSync } from 'node:fs';
import type {
  CleanupOutcome, ErasureOutcome, ErasurePreview, ErasureSelection, MaintainableStorage, ReindexOutcome, SeriesProgress, StorageUsage,
} from '../model/maintainable_storage.js';
import { databasePathIn } from '../model/data_directory.js';
import { CorruptChunkError } from './chunk_rows.js';
import { erasePoints, previewErasure, scrubErasedBytes, selectSeriesForErasure } from './point_erasure.js';
import { StorageEngine } from './storage_engine.js';
import { openBackend } from './backends.js';

/** Longest an operation waits for query workers' reads to finish before giving up. */
const READERS_WAIT_MS = 30_000;
const READERS_POLL_MS = 5;

export class StoreMaintenance implements MaintainableStorage {
  readonly backend: string;

  constructor(readonly store: StorageEngine) {
    this.backend = store.backend.kind;
  }

  async #bytes(): Promise<number> {
    return (await this.store.backend.size()).bytes;
  }

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
      return { series: store.catalog.size, points, chunks, bytes: await this.#bytes() };
    }
    const names = store.catalog.tenant(tenant);
    for (const [, list] of names.metrics()) {
      for (const info of list) {
        countChunks(info.id);
        points += store.head(info.id)?.length ?? 0;
      }
    }
    return { series: names.size, points, chunks, bytes: await this.#bytes() };
  }

  async deleteOlderThan(cutoffMs: number, tenant?: string, progress?: SeriesProgress): Promise<CleanupOutcome> {
    const { store } = this;
    await this.#noReaders();
    await store.checkpoint();
    const inScope = this.#scope(tenant);
    const outcome: CleanupOutcome = { pointsDeleted: 0, chunksDeleted: 0, chunksRewritten: 0 };
    const sids = [...store.chunks.seriesWithChunks()].filter(inScope);
    // Overlapping chunks are merged first: a rewritten chunk gets a new (higher) id, which would
    // otherwise let its points outrank a newer chunk's at equal timestamps.
    for (const sid of sids) await store.compactSeries(sid, Infinity);
    // The straddling chunks' points are read before the transaction (reads are asynchronous for
    // network back-ends); nothing else writes them meanwhile: background compaction plans only
    // after a checkpoint, and the heads were just flushed.
    const straddling = new Map<number, { timestamps: Float64Array; values: Float64Array }>();
    for (const sid of sids) {
      for (const meta of store.chunks.chunksOf(sid)) {
        if (meta.minTs < cutoffMs && meta.maxTs >= cutoffMs) straddling.set(meta.id, await store.chunkPoints(sid, meta));
      }
    }
    await store.write((tx) => {
      for (const [done, sid] of sids.entries()) {
        progress?.(done, sids.length);
        for (const meta of [...store.chunks.chunksOf(sid)]) {
          if (meta.minTs >= cutoffMs) continue;
          if (meta.maxTs < cutoffMs) {
            store.chunks.delete(tx, sid, new Set([meta.id]));
            outcome.chunksDeleted++;
            outcome.pointsDeleted += meta.count;
            continue;
          }
          const decoded = straddling.get(meta.id);
          if (decoded === undefined) throw new Error(`chunk ${meta.id} of series ${sid} appeared during the cleanup; run it again`);
          let from = 0;
          while (from < decoded.timestamps.length && decoded.timestamps[from]! < cutoffMs) from++;
          store.chunks.delete(tx, sid, new Set([meta.id]));
          store.chunks.write(tx, sid, decoded.timestamps.subarray(from), decoded.values.subarray(from));
          outcome.chunksRewritten++;
          outcome.pointsDeleted += from;
        }
      }
    }, undefined, { deletesChunks: true });
    progress?.(sids.length, sids.length);
    return outcome;
  }

  async compact(progress?: SeriesProgress): Promise<void> {
    const { store } = this;
    await this.#noReaders();
    await store.checkpoint();
    const sids = [...store.chunks.seriesWithChunks()];
    for (const [done, sid] of sids.entries()) {
      progress?.(done, sids.length);
      try {
        await store.compactSeries(sid, 2);
      } catch (error) {
        // As compactAll: a chunk that does not decode stays as it is; queries report it.
        if (!(error instanceof CorruptChunkError)) throw error;
      }
    }
    progress?.(sids.length, sids.length);
    store.backend.returnFreeSpace?.();
  }

  async reindex(): Promise<ReindexOutcome> {
    const { store } = this;
    await this.#noReaders();
    await store.backend.rebuildIndexes?.();
    await store.reloadFromBackend();
    // The catalogue was loaded from the back-end; a chunk naming a series that does not exist
    // was never written by this engine. A series created since the last commit has no row yet,
    // but it has no chunk either: chunks land only for series whose first record was committed.
    const orphans: Array<[number, number]> = [];
    for (const sid of store.chunks.seriesWithChunks()) {
      if (store.catalog.get(sid) === undefined) for (const c of store.chunks.chunksOf(sid)) orphans.push([sid, c.id]);
    }
    if (orphans.length > 0) {
      await store.write((tx) => {
        for (const [sid, id] of orphans) store.chunks.delete(tx, sid, new Set([id]));
      }, undefined, { deletesChunks: true });
    }
    return { series: store.catalog.size, chunks: store.chunks.chunkCount, orphanChunksDeleted: orphans.length };
  }

  async snapshot(destinationPath: string): Promise<void> {
    const backend = this.store.backend;
    if (backend.snapshotTo === undefined) {
      throw new Error(`a ${backend.kind} store is backed up with the database's own tools (pg_dump, a Redis RDB/AOF copy), not by emms backup`);
    }
    await backend.snapshotTo(destinationPath);
  }

  async previewErasure(tenant: string, selection: ErasureSelection): Promise<ErasurePreview> {
    const selected = await previewErasure(this.store, tenant, selection);
    let points = 0;
    for (const s of selected) points += s.points;
    return { series: selected.map((s) => ({ metricId: s.series.metricId, tags: s.series.tags, points: s.points })), points };
  }

  async erase(tenant: string, selection: ErasureSelection): Promise<ErasureOutcome> {
    const { store } = this;
    await this.#noReaders();
    const counts = await erasePoints(store, selectSeriesForErasure(store, tenant, selection), selection);
    const scrub = await scrubErasedBytes(store);
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
export async function openStoppedStore(dataDir: string): Promise<StorageEngine> {
  const path = databasePathIn(dataDir);
  if (!existsSync(path)) throw new Error(`${dataDir} holds no ${path.slice(dataDir.length + 1)}: not an EMMS data directory`);
  try {
    return await StorageEngine.open({ backend: await openBackend({ type: 'sqlite', path }), chunkEncoding: 'inline' });
  } catch (error) {
    const message = (error as Error).message;
    if (/open for writing by process/.test(message)) throw new Error(`${message}, or run the command against it with --url`);
    throw error;
  }
}
