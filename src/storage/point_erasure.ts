/**
 * Erasure of selected points and series from the SQLite store (`DELETE /api/v1/series`,
 * `POST /api/v1/erasure`, tenant deletion), and the scrub that makes the erased bytes leave the
 * files.
 *
 * Why one synchronous pass instead of tombstones honoured by replay and reads: the engine's
 * writer is this thread, so a pass that runs without yielding sees no commit in between.
 * It first checkpoints (every head and pending cut into chunks, every write-ahead record
 * deleted: SqliteStore.checkpoint), then rewrites the affected chunks and deletes the
 * emptied series' rows in one transaction. A kill before that transaction commits leaves every
 * point (the checkpoint alone changes no answer); after it, none of the selected ones. Replay
 * has nothing to resurrect: no record older than the erasure survives it. The callers wait
 * until no query worker reads a snapshot, so a query sees the store before or after.
 *
 * The cost is that ingest acknowledgements wait for the pass (the checkpoint of every head,
 * then the scrub): an operator action, measured in bench/erasure.bench.ts.
 *
 * Scrub: SQLite leaves deleted content in free pages, in unused parts of live pages and in old
 * frames of the -wal file. `secure_delete` zeroes what the erasure deletes; VACUUM rebuilds the
 * file without free pages or remnants of earlier deletions (write-ahead records deleted by
 * past checkpoints hold the same values); `wal_checkpoint(TRUNCATE)` empties the -wal file.
 * A flag in `meta`, set in the erasure's transaction and cleared after the scrub, makes the
 * next open() scrub again when a kill came in between.
 */
import type Database from 'better-sqlite3';
import type { Tags } from '../model/metric.js';
import { Glob } from '../text/glob.js';
import { decodeStored } from './chunk_encoding.js';
import type { ChunkMeta } from './chunk_store.js';
import { SQL } from './schema.js';
import type { SeriesInfo } from './series_index.js';
import type { SqliteStore } from './sqlite_store.js';

/** Which points: series of one tenant by metric glob and exact tags, and a time range [startMs, endMs). */
export interface PointSelector {
  metricPattern: string;
  tags?: Tags | undefined;
  startMs?: number | undefined;
  endMs?: number | undefined;
}

export interface SelectedSeries {
  series: SeriesInfo;
  /** Points in the range (chunks not yet merged may count an overwritten point twice). */
  points: number;
}

export interface PointErasureCounts {
  series: number;
  pointsDeleted: number;
  chunksDeleted: number;
  chunksRewritten: number;
  /** Series left without points and removed (their names and tags are gone too). */
  seriesRemoved: number;
}

export interface ScrubOutcome {
  /** False when a reader kept the -wal file from being emptied; the next open() scrubs again. */
  complete: boolean;
  durationMs: number;
  fileBytesAfter: number;
}

/** Times a busy `wal_checkpoint(TRUNCATE)` is retried (each waits the connection's busy timeout). */
const TRUNCATE_ATTEMPTS = 5;

/**
 * Series of `tenant` the selector names, as src/query/selection.ts selects them (glob over
 * metric ids, exact tag values), ordered by metric id then tags. The glob is compiled here
 * because storage sits below the query layer; callers validate the pattern first for their error.
 */
export function selectSeriesForErasure(store: SqliteStore, tenant: string, selector: PointSelector): SeriesInfo[] {
  const glob = Glob.compile(selector.metricPattern);
  const index = store.catalog.tenant(tenant);
  const filters = Object.entries(selector.tags ?? {});
  const out: SeriesInfo[] = [];
  for (const [metricId, list] of glob.isLiteral ? [[selector.metricPattern, index.seriesOfMetric(selector.metricPattern)] as const] : index.metrics()) {
    if (!glob.isLiteral && !glob.matches(metricId)) continue;
    for (const s of list) if (filters.every(([k, v]) => s.tags[k] === v)) out.push(s);
  }
  out.sort((a, b) => (a.metricId < b.metricId ? -1 : a.metricId > b.metricId ? 1 : a.canonicalTags < b.canonicalTags ? -1 : a.canonicalTags > b.canonicalTags ? 1 : 0));
  return out;
}

function rangeOf(selector: Pick<PointSelector, 'startMs' | 'endMs'>): [number, number] {
  return [selector.startMs ?? -Infinity, selector.endMs ?? Infinity];
}

function inside(meta: ChunkMeta, startMs: number, endMs: number): boolean {
  return meta.minTs >= startMs && meta.maxTs < endMs;
}

function overlaps(meta: ChunkMeta, startMs: number, endMs: number): boolean {
  return meta.maxTs >= startMs && meta.minTs < endMs;
}

function decodedPoints(store: SqliteStore, seriesId: number, meta: ChunkMeta): { timestamps: Float64Array; values: Float64Array } {
  const decoded = decodeStored(store.chunks.readStored(seriesId, meta));
  if ('detail' in decoded) throw new Error(`chunk ${meta.id} of series ${seriesId} cannot be decoded (${decoded.detail}); run emms reindex or restore it before erasing`);
  return decoded;
}

/** What an erasure with this selector would delete: each series and its points in range, changing nothing. */
export function previewErasure(store: SqliteStore, tenant: string, selector: PointSelector): SelectedSeries[] {
  const [startMs, endMs] = rangeOf(selector);
  return selectSeriesForErasure(store, tenant, selector).map((series) => {
    let points = 0;
    for (const meta of store.chunks.chunksOf(series.id)) {
      if (!overlaps(meta, startMs, endMs)) continue;
      if (inside(meta, startMs, endMs)) points += meta.count;
      else for (const t of decodedPoints(store, series.id, meta).timestamps) if (t >= startMs && t < endMs) points++;
    }
    const head = store.head(series.id);
    if (head !== undefined) for (const t of head.sorted().timestamps) if (t >= startMs && t < endMs) points++;
    return { series, points };
  });
}

/**
 * Deletes the selected points of `series` (every point in [startMs, endMs)) durably, and the
 * rows of series left without points. Synchronous from start to end (see the file comment);
 * the caller makes sure no snapshot reader runs. Call scrubErasedBytes afterwards.
 */
export function erasePoints(store: SqliteStore, series: readonly SeriesInfo[], selector: Pick<PointSelector, 'startMs' | 'endMs'>): PointErasureCounts {
  const [startMs, endMs] = rangeOf(selector);
  const counts: PointErasureCounts = { series: series.length, pointsDeleted: 0, chunksDeleted: 0, chunksRewritten: 0, seriesRemoved: 0 };
  if (series.length === 0) return counts;
  const { db } = store;
  const restore = secureDelete(db);
  try {
    store.checkpoint();
    // Overlapping chunks are merged first: a rewritten chunk gets a new (higher) id, which would
    // otherwise let its older points outrank a newer chunk's at equal timestamps.
    for (const s of series) store.compactSeries(s.id, Infinity);
    const removed: number[] = [];
    const deleteSeries = db.prepare(SQL.deleteSeries);
    const erase = db.transaction(() => {
      for (const s of series) {
        for (const meta of [...store.chunks.chunksOf(s.id)]) {
          if (!overlaps(meta, startMs, endMs)) continue;
          if (inside(meta, startMs, endMs)) {
            store.chunks.delete(s.id, new Set([meta.id]));
            counts.chunksDeleted++;
            counts.pointsDeleted += meta.count;
            continue;
          }
          const { timestamps, values } = decodedPoints(store, s.id, meta);
          const keptTs: number[] = [];
          const keptValues: number[] = [];
          for (let i = 0; i < timestamps.length; i++) {
            if (timestamps[i]! >= startMs && timestamps[i]! < endMs) continue;
            keptTs.push(timestamps[i]!);
            keptValues.push(values[i]!);
          }
          if (keptTs.length === timestamps.length) continue;
          store.chunks.delete(s.id, new Set([meta.id]));
          if (keptTs.length > 0) store.chunks.write(s.id, Float64Array.from(keptTs), Float64Array.from(keptValues));
          counts.chunksRewritten++;
          counts.pointsDeleted += timestamps.length - keptTs.length;
        }
        if (store.chunks.chunksOf(s.id).length === 0) {
          deleteSeries.run(s.tenant, s.metricId, s.canonicalTags);
          removed.push(s.id);
        }
      }
      db.prepare(SQL.markScrubPending).run(String(Date.now()));
    });
    try {
      erase();
    } catch (error) {
      // Rolled back (disk full, a chunk that does not decode): the in-memory chunk catalogue
      // already dropped what the transaction deleted, so it is read again from the file.
      store.chunks.load(db);
      throw error;
    }
    store.catalog.remove(removed);
    counts.seriesRemoved = removed.length;
    return counts;
  } finally {
    restore();
  }
}

/**
 * Makes the file hold none of the erased bytes: VACUUM (no free pages, no remnants in live
 * pages) and an emptied -wal file, then clears the pending flag. Synchronous: commits wait.
 */
export function scrubErasedBytes(store: SqliteStore): ScrubOutcome {
  const started = performance.now();
  const { db } = store;
  const restore = secureDelete(db);
  let complete: boolean;
  try {
    truncateWal(db);
    db.exec('VACUUM');
    complete = truncateWal(db);
    if (complete) {
      db.prepare(SQL.clearScrubPending).run();
      complete = truncateWal(db);
    }
  } finally {
    restore();
  }
  return { complete, durationMs: Math.round(performance.now() - started), fileBytesAfter: store.stats().diskBytes };
}

/** At open: scrubs when an erasure was killed between its deletion and its scrub. */
export function resumeErasureScrub(store: SqliteStore): void {
  if (store.db.prepare(SQL.readScrubPending).get() !== undefined) scrubErasedBytes(store);
}

/** Turns secure_delete on for this connection; returns what puts the previous setting back. */
function secureDelete(db: Database.Database): () => void {
  const previous = db.pragma('secure_delete', { simple: true }) as number;
  db.pragma('secure_delete = ON');
  return () => {
    db.pragma(`secure_delete = ${previous === 1 ? 'ON' : 'OFF'}`);
  };
}

/** `wal_checkpoint(TRUNCATE)` until it was not kept busy by a reader; whether it succeeded. */
export function truncateWal(db: Database.Database): boolean {
  for (let attempt = 0; attempt < TRUNCATE_ATTEMPTS; attempt++) {
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
    if (result === undefined || result.busy === 0) return true;
  }
  return false;
}
