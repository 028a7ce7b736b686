/**
 * Reads one series over [start, end) from chunks plus head points, for raw results or into a
 * BucketAccumulator. Used on the main thread (inline queries) and in query workers (each with
 * its own read-only connection), so both answer the same.
 *
 * Fast path / slow path pair:
 * - readFast: the series' chunks do not overlap one another and the head starts after them
 *   (the normal case: points arrive roughly in order). Chunks are sliced and concatenated, or
 *   handed to the accumulator whole (decoded in WASM, or answered from their stats when they lie
 *   inside one bucket).
 * - readMerged: anything overlaps. Every chunk is decoded, then chunks by age and the head last
 *   are merged, the newest write winning on equal timestamps.
 */
import type Database from 'better-sqlite3';
import { SQL } from '../storage/schema.js';
import { CorruptChunkError, decodeChunkRow, decodeChunkRowInto, type ChunkRow } from '../storage/chunk_store.js';
import { sortDedupLastWins, type PointColumns } from '../storage/head.js';
import { BucketAccumulator } from '../core/bucket_accumulator.js';
import { lowerBound } from '../core/sorted_search.js';
import { summaryUsable } from '../core/chunk_summary.js';

export type { PointColumns };

const NO_POINTS: PointColumns = { timestamps: new Float64Array(0), values: new Float64Array(0) };

/** Prepared statements of one connection. */
export class ChunkReader {
  readonly #withData: Database.Statement;
  readonly #forAggregation: Database.Statement;
  readonly #forAggregationMany: Database.Statement;
  readonly #data: Database.Statement;
  readonly #newestBefore: Database.Statement;
  readonly #db: Database.Database;

  constructor(db: Database.Database) {
    this.#db = db;
    this.#withData = db.prepare(SQL.chunksInRange);
    this.#forAggregation = db.prepare(SQL.chunksForAggregation);
    this.#forAggregationMany = db.prepare(SQL.chunksForAggregationMany);
    this.#data = db.prepare(SQL.chunkData);
    this.#newestBefore = db.prepare(SQL.newestChunkBefore);
  }

  /** Runs `fn` in one read transaction: every statement inside sees the same database state. */
  snapshot(fn: () => void): void {
    this.#db.transaction(fn)();
  }

  /** Chunks overlapping [start, end), by (min_ts, id), with their data. */
  rows(seriesId: number, startMs: number, endMs: number, maxChunkId: number): ChunkRow[] {
    return inMinTsOrder(this.#withData.all(seriesId, startMs, endMs, maxChunkId) as ChunkRow[]);
  }

  /** Same, with data only for chunks that do not fit one bucket of `intervalMs` (when `summaries`). */
  rowsForAggregation(seriesId: number, startMs: number, endMs: number, maxChunkId: number, intervalMs: number, summaries: boolean): ChunkRow[] {
    return inMinTsOrder(this.#forAggregation.all(
      summaries ? 1 : 0, startMs, endMs, intervalMs, intervalMs, seriesId, startMs, endMs, maxChunkId,
    ) as ChunkRow[]);
  }

  /**
   * rowsForAggregation of several series in one statement, by series id. Callers pass a
   * bounded slice (PREFETCH_SERIES) so the blobs held at once stay small.
   */
  rowsForAggregationMany(seriesIds: readonly number[], startMs: number, endMs: number, maxChunkId: number, intervalMs: number, summaries: boolean): Map<number, ChunkRow[]> {
    const rows = this.#forAggregationMany.all(
      summaries ? 1 : 0, startMs, endMs, intervalMs, intervalMs, JSON.stringify(seriesIds), startMs, endMs, maxChunkId,
    ) as ChunkRow[];
    const bySeries = new Map<number, ChunkRow[]>();
    for (const id of seriesIds) bySeries.set(id, []);
    for (const row of rows) bySeries.get(row.series_id)?.push(row);
    for (const list of bySeries.values()) inMinTsOrder(list);
    return bySeries;
  }

  data(row: ChunkRow): Uint8Array {
    const r = this.#data.get(row.id) as { codec: number; data: Uint8Array } | undefined;
    if (r === undefined) throw new Error(`BUG: chunk ${row.id} of series ${row.series_id} vanished during a read`);
    return r.data;
  }

  newestBefore(seriesId: number, timeMs: number, maxChunkId: number): { max_ts: number; last: number } | undefined {
    return this.#newestBefore.get(seriesId, timeMs, maxChunkId) as { max_ts: number; last: number } | undefined;
  }
}

/** Rows come in max_ts order (schema.ts); readers need (min_ts, id) order. */
function inMinTsOrder(rows: ChunkRow[]): ChunkRow[] {
  for (let k = 1; k < rows.length; k++) {
    const a = rows[k - 1]!;
    const b = rows[k]!;
    if (a.min_ts > b.min_ts || (a.min_ts === b.min_ts && a.id > b.id)) {
      return rows.sort((x, y) => x.min_ts - y.min_ts || x.id - y.id);
    }
  }
  return rows;
}

export interface SeriesReadRequest {
  seriesId: number;
  /** For error messages: `metric{tags}`. */
  seriesName: string;
  /** The head's points, sorted and duplicate-free; newer than every chunk. */
  head: PointColumns | undefined;
  startMs: number;
  endMs: number;
  /** Chunks with a higher id are ignored (written after the head snapshot was taken). */
  maxChunkId: number;
}

function overlaps(rows: readonly ChunkRow[], head: PointColumns | undefined): boolean {
  let maxSoFar = -Infinity;
  for (const r of rows) {
    if (r.min_ts <= maxSoFar) return true;
    if (r.max_ts > maxSoFar) maxSoFar = r.max_ts;
  }
  return head !== undefined && head.timestamps.length > 0 && head.timestamps[0]! <= maxSoFar;
}

function sliceRange(p: PointColumns, startMs: number, endMs: number): PointColumns {
  const a = lowerBound(p.timestamps, startMs);
  const b = lowerBound(p.timestamps, endMs);
  return { timestamps: p.timestamps.subarray(a, b), values: p.values.subarray(a, b) };
}

/** Merges parts given oldest first: sorted by time, the newest write winning on equal times. */
function mergeByAge(parts: readonly PointColumns[]): PointColumns {
  let total = 0;
  for (const p of parts) total += p.timestamps.length;
  const ts = new Float64Array(total);
  const vs = new Float64Array(total);
  let o = 0;
  for (const p of parts) {
    ts.set(p.timestamps, o);
    vs.set(p.values, o);
    o += p.timestamps.length;
  }
  return sortDedupLastWins(ts, vs);
}

function decodeAll(rows: readonly ChunkRow[], seriesName: string): PointColumns[] {
  const byAge = [...rows].sort((a, b) => a.id - b.id);
  return byAge.map((r) => decodeChunkRow(r, seriesName));
}

/** The series' points in [start, end), ascending, one per timestamp. */
export function readSeriesPoints(reader: ChunkReader, req: SeriesReadRequest): PointColumns {
  const rows = reader.rows(req.seriesId, req.startMs, req.endMs, req.maxChunkId);
  const head = req.head;
  if (rows.length === 0 && head === undefined) return NO_POINTS;
  if (overlaps(rows, head)) {
    const parts = decodeAll(rows, req.seriesName);
    if (head !== undefined) parts.push(head);
    const merged = mergeByAge(parts);
    const r = sliceRange(merged, req.startMs, req.endMs);
    return { timestamps: r.timestamps.slice(), values: r.values.slice() };
  }
  // In order and disjoint: each chunk's in-range points go straight from the decoder into
  // the result (room for every point; only the first and last chunk can come up short).
  const fromHead = head === undefined ? undefined : sliceRange(head, req.startMs, req.endMs);
  let room = fromHead?.timestamps.length ?? 0;
  for (const row of rows) room += row.count;
  const timestamps = new Float64Array(room);
  const values = new Float64Array(room);
  let o = 0;
  for (const row of rows) o += decodeChunkRowInto(row, req.seriesName, req.startMs, req.endMs, timestamps, values, o);
  if (fromHead !== undefined) {
    timestamps.set(fromHead.timestamps, o);
    values.set(fromHead.values, o);
    o += fromHead.timestamps.length;
  }
  return o === room ? { timestamps, values } : { timestamps: timestamps.slice(0, o), values: values.slice(0, o) };
}

/** Series per prefetch statement (rowsForAggregationMany): amortises the statement, bounds memory. */
export const PREFETCH_SERIES = 64;

/**
 * Feeds the series' points to `acc` (after the caller's beginSeries()). Returns the number of
 * points scanned: decoded or summarised. `prefetched`: the series' rows from
 * rowsForAggregationMany, read with the same range, snapshot bound and interval.
 */
export function accumulateSeries(reader: ChunkReader, acc: BucketAccumulator, req: SeriesReadRequest, prefetched?: ChunkRow[]): number {
  const useSummaries = summaryUsable(acc.aggregation);
  const rows = prefetched ?? reader.rowsForAggregation(req.seriesId, req.startMs, req.endMs, req.maxChunkId, acc.intervalMs, useSummaries);
  const head = req.head;
  const isRate = acc.aggregation === 'rate';
  let scanned = 0;
  if (overlaps(rows, head)) {
    const withData = rows.map((r) => (r.data === null || r.data === undefined ? { ...r, data: reader.data(r) } : r));
    const parts = decodeAll(withData, req.seriesName);
    if (head !== undefined) parts.push(head);
    const merged = mergeByAge(parts);
    if (isRate) feedRatePredecessor(reader, acc, req, merged.timestamps[0] ?? Infinity);
    acc.addPoints(merged.timestamps, merged.values);
    return merged.timestamps.length;
  }
  if (isRate) {
    const first = rows.length > 0 ? rows[0]!.min_ts : head !== undefined ? head.timestamps[0]! : Infinity;
    if (first >= req.startMs) feedRatePredecessor(reader, acc, req, first);
  }
  for (const row of rows) {
    scanned += row.count;
    if (useSummaries && acc.summaryFits(row.min_ts, row.max_ts)) {
      acc.addChunkSummary({
        minTs: row.min_ts, maxTs: row.max_ts, count: row.count, sum: row.sum, min: row.min, max: row.max,
        firstValue: row.first, lastValue: row.last, mean: row.mean, m2: row.m2,
      });
      continue;
    }
    const data = row.data === null || row.data === undefined ? reader.data(row) : row.data;
    try {
      acc.addChunk(data);
    } catch (cause) {
      throw new CorruptChunkError(req.seriesId, req.seriesName, row.id, (cause as Error).message, { cause });
    }
  }
  if (head !== undefined) {
    acc.addPoints(head.timestamps, head.values);
    scanned += head.timestamps.length;
  }
  return scanned;
}

/** Rate's predecessor: the newest point before the range, when no fed chunk holds one. */
function feedRatePredecessor(reader: ChunkReader, acc: BucketAccumulator, req: SeriesReadRequest, firstFedTs: number): void {
  const prev = reader.newestBefore(req.seriesId, req.startMs, req.maxChunkId);
  if (prev !== undefined && prev.max_ts < firstFedTs) {
    acc.addPoints(Float64Array.of(prev.max_ts), Float64Array.of(prev.last));
  }
}
