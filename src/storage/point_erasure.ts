/**
 * Erasure of selected points and series from the store, whatever its back-end
 * (`DELETE /api/v1/series`, `POST /api/v1/erasure`, tenant deletion), and the scrub that makes
 * the erased bytes leave the back-end.
 *
 * Why rewriting chunks instead of tombstones honoured by replay and reads: the pass first
 * checkpoints (every head and pending cut into chunks, every write-ahead record deleted:
 * StorageEngine.checkpoint), then rewrites the affected chunks and deletes the emptied series'
 * rows in one write transaction. A kill before that transaction commits leaves every point
 * (the checkpoint alone changes no answer); after it, none of the selected ones. Replay has
 * nothing to resurrect: no record older than the erasure survives it. Points written between
 * the checkpoint and the rewrite are in heads and records and are not erased (they arrived
 * after the erasure was asked for). The callers wait until no query reads a snapshot, so a
 * query sees the store before or after.
 *
 * The cost is that ingest acknowledgements wait for the pass (the checkpoint of every head,
 * then the scrub): an operator action, measured in bench/erasure.bench.ts.
 *
 * Scrub: the back-end gives back the space of what was deleted (reclaimDeletedSpace). SQLite
 * leaves deleted content in free pages, in unused parts of live pages and in old frames of the
 * -wal file: `secure_delete` zeroes what the erasure deletes, VACUUM rebuilds the file without
 * free pages or remnants of earlier deletions (write-ahead records deleted by past checkpoints
 * hold the same values), `wal_checkpoint(TRUNCATE)` empties the -wal file. PostgreSQL runs
 * VACUUM FULL; Redis rewrites its append-only file. A flag in `meta`, set in the erasure's
 * transaction and cleared after the scrub, makes the next open() scrub again when a kill came
 * in between.
 */
import type { Tags } from '../model/metric.js';
import { Glob } from '../text/glob.js';
import type { ChunkMeta } from './chunk_catalog.js';
import type { SeriesInfo } from './series_index.js';
import { SCRUB_PENDING_KEY, type StorageEngine } from './storage_engine.js';

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

/**
 * Series of `tenant` the selector names, as src/query/selection.ts selects them (glob over
 * metric ids, exact tag values), ordered by metric id then tags. The glob is compiled here
 * because storage sits below the query layer; callers validate the pattern first for their error.
 */
export function selectSeriesForErasure(store: StorageEngine, tenant: string, selector: PointSelector): SeriesInfo[] {
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

async function decodedPoints(store: StorageEngine, seriesId: number, meta: ChunkMeta): Promise<{ timestamps: Float64Array; values: Float64Array }> {
  try {
    return await store.chunkPoints(seriesId, meta);
  } catch (error) {
    throw new Error(`${(error as Error).message}; run emms reindex or restore it before erasing`, { cause: error });
  }
}

/** What an erasure with this selector would delete: each series and its points in range, changing nothing. */
export async function previewErasure(store: StorageEngine, tenant: string, selector: PointSelector): Promise<SelectedSeries[]> {
  const [startMs, endMs] = rangeOf(selector);
  const out: SelectedSeries[] = [];
  for (const series of selectSeriesForErasure(store, tenant, selector)) {
    let points = 0;
    for (const meta of store.chunks.chunksOf(series.id)) {
      if (!overlaps(meta, startMs, endMs)) continue;
      if (inside(meta, startMs, endMs)) points += meta.count;
      else for (const t of (await decodedPoints(store, series.id, meta)).timestamps) if (t >= startMs && t < endMs) points++;
    }
    const head = store.head(series.id);
    if (head !== undefined) for (const t of head.sorted().timestamps) if (t >= startMs && t < endMs) points++;
    out.push({ series, points });
  }
  return out;
}

/**
 * Deletes the selected points of `series` (every point in [startMs, endMs)) durably, and the
 * rows of series left without points (see the file comment); the caller makes sure no
 * snapshot reader runs. Call scrubErasedBytes afterwards.
 */
export async function erasePoints(store: StorageEngine, series: readonly SeriesInfo[], selector: Pick<PointSelector, 'startMs' | 'endMs'>): Promise<PointErasureCounts> {
  const [startMs, endMs] = rangeOf(selector);
  const counts: PointErasureCounts = { series: series.length, pointsDeleted: 0, chunksDeleted: 0, chunksRewritten: 0, seriesRemoved: 0 };
  if (series.length === 0) return counts;
  const restore = store.backend.beginSecureDelete?.() ?? (() => undefined);
  try {
    await store.checkpoint();
    // Overlapping chunks are merged first: a rewritten chunk gets a new (higher) id, which would
    // otherwise let its older points outrank a newer chunk's at equal timestamps.
    for (const s of series) await store.compactSeries(s.id, Infinity);
    // Chunks straddling the range are read before the transaction (network back-ends read asynchronously).
    const straddling = new Map<number, { timestamps: Float64Array; values: Float64Array }>();
    for (const s of series) {
      for (const meta of store.chunks.chunksOf(s.id)) {
        if (overlaps(meta, startMs, endMs) && !inside(meta, startMs, endMs)) straddling.set(meta.id, await decodedPoints(store, s.id, meta));
      }
    }
    const removed = await store.write((tx) => {
      const emptied: number[] = [];
      for (const s of series) {
        for (const meta of [...store.chunks.chunksOf(s.id)]) {
          if (!overlaps(meta, startMs, endMs)) continue;
          if (inside(meta, startMs, endMs)) {
            store.chunks.delete(tx, s.id, new Set([meta.id]));
            counts.chunksDeleted++;
            counts.pointsDeleted += meta.count;
            continue;
          }
          const points = straddling.get(meta.id);
          if (points === undefined) throw new Error(`chunk ${meta.id} of series ${s.id} appeared during the erasure; run it again`);
          const { timestamps, values } = points;
          const keptTs: number[] = [];
          const keptValues: number[] = [];
          for (let i = 0; i < timestamps.length; i++) {
            if (timestamps[i]! >= startMs && timestamps[i]! < endMs) continue;
            keptTs.push(timestamps[i]!);
            keptValues.push(values[i]!);
          }
          if (keptTs.length === timestamps.length) continue;
          store.chunks.delete(tx, s.id, new Set([meta.id]));
          if (keptTs.length > 0) store.chunks.write(tx, s.id, Float64Array.from(keptTs), Float64Array.from(keptValues));
          counts.chunksRewritten++;
          counts.pointsDeleted += timestamps.length - keptTs.length;
        }
        // A series with points written since the checkpoint keeps its row.
        if (store.chunks.chunksOf(s.id).length === 0 && store.head(s.id) === undefined) {
          tx.deleteSeries({ id: s.id, tenant: s.tenant, metricId: s.metricId, canonicalTags: s.canonicalTags, metricType: s.metricType });
          emptied.push(s.id);
        }
      }
      tx.setMeta(SCRUB_PENDING_KEY, String(Date.now()));
      return emptied;
    }, undefined, { deletesChunks: true });
    store.catalog.remove(removed);
    counts.seriesRemoved = removed.length;
    return counts;
  } finally {
    restore();
  }
}

/**
 * Makes the back-end hold none of the erased bytes (SQLite: VACUUM and an emptied -wal file),
 * then clears the pending flag. Commits wait meanwhile.
 */
export async function scrubErasedBytes(store: StorageEngine): Promise<ScrubOutcome> {
  const started = performance.now();
  let complete = true;
  try {
    await store.finishErasureScrub();
  } catch (error) {
    // The flag stays set: the next open() scrubs again (SQLite: a reader kept the -wal file from being emptied).
    complete = false;
    if (store.backend.kind !== 'sqlite') throw error;
  }
  return { complete, durationMs: Math.round(performance.now() - started), fileBytesAfter: (await store.backend.size()).bytes };
}
