/**
 * Reads one series over [start, end) from chunks plus head points, for raw results or into a
 * BucketAccumulator. Used on the main thread (inline queries) and in query workers (each with
 * its own ChunkSource), so both answer the same. Chunk rows come from the back-end's
 * ChunkSource (backend.ts) in as few calls as possible: an aggregation reads 64 series per
 * call (prefetchAggregation), then accumulates synchronously.
 *
 * Fast path / slow path pair:
 * - readFast: the series' chunks do not overlap one another and the head starts after them
 *   (the normal case: points arrive roughly in order). Chunks are sliced and concatenated, or
 *   handed to the accumulator whole (decoded in WASM, or answered from their stats when they lie
 *   inside one bucket).
 * - readMerged: anything overlaps. Every chunk is decoded, then chunks by age and the head last
 *   are merged, the newest write winning on equal timestamps.
 */
import { CorruptChunkError, decodeChunkRow, decodeChunkRowInto, type ChunkRow } from '../storage/chunk_rows.js';
import type { AggregationRead, ChunkEdge, ChunkSource } from '../storage/backend.js';
import type { PointColumns } from '../storage/head.js';
import { sortDedupLastWins } from '../storage/last_write_wins_sort.js';
import { BucketAccumulator } from '../core/bucket_accumulator.js';
import { lowerBound } from '../core/sorted_search.js';
import { summaryUsable } from '../core/chunk_summary.js';
import type { DecodedChunkCache } from './decoded_chunk_cache.js';

export type { PointColumns };

const NO_POINTS: PointColumns = { timestamps: new Float64Array(0), values: new Float64Array(0) };

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
  return overlapsFrom(rows, head !== undefined && head.timestamps.length > 0 ? head.timestamps[0]! : undefined);
}

/** Whether chunks overlap one another, or a head starting at headMinTs starts before their end. */
function overlapsFrom(rows: readonly ChunkRow[], headMinTs: number | undefined): boolean {
  let maxSoFar = -Infinity;
  for (const r of rows) {
    if (r.min_ts <= maxSoFar) return true;
    if (r.max_ts > maxSoFar) maxSoFar = r.max_ts;
  }
  return headMinTs !== undefined && headMinTs <= maxSoFar;
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
export async function readSeriesPoints(source: ChunkSource, req: SeriesReadRequest): Promise<PointColumns> {
  return pointsOfRows(await source.rangeRows(req.seriesId, req.startMs, req.endMs, req.maxChunkId), req);
}

/**
 * The series' points in [start, end) from its chunk rows (ChunkSource.rangeRows, or
 * aggregationRows without summaries: every row with its data) and its head. With `scratch`,
 * the points may be views of it, valid until it is used again: a caller that reads series
 * after series into its own scratch allocates (and zeroes) no columns per series. With
 * `decoded`, chunks that overlap nothing come from (and go into) that cache.
 */
export function pointsOfRows(rows: readonly ChunkRow[], req: SeriesReadRequest, scratch?: ScratchColumns, decoded?: DecodedChunkCache): PointColumns {
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
  const { timestamps, values } = scratch === undefined ? { timestamps: new Float64Array(room), values: new Float64Array(room) } : scratch.reserve(room);
  let o = 0;
  if (decoded === undefined) for (const row of rows) o += decodeChunkRowInto(row, req.seriesName, req.startMs, req.endMs, timestamps, values, o);
  else for (const row of rows) o += decoded.copyInto(row, req.seriesName, req.startMs, req.endMs, timestamps, values, o);
  if (fromHead !== undefined) {
    timestamps.set(fromHead.timestamps, o);
    values.set(fromHead.values, o);
    o += fromHead.timestamps.length;
  }
  if (scratch !== undefined) return { timestamps: timestamps.subarray(0, o), values: values.subarray(0, o) };
  return o === room ? { timestamps, values } : { timestamps: timestamps.slice(0, o), values: values.slice(0, o) };
}

/** Columns reused from one series to the next (pointsOfRows); grown as needed, never shrunk. */
export class ScratchColumns {
  #timestamps = new Float64Array(0);
  #values = new Float64Array(0);

  /** Columns with room for at least `n` points (their content is left over from earlier use). */
  reserve(n: number): PointColumns {
    if (this.#timestamps.length < n) {
      const size = Math.max(n, this.#timestamps.length * 2);
      this.#timestamps = new Float64Array(size);
      this.#values = new Float64Array(size);
    }
    return { timestamps: this.#timestamps, values: this.#values };
  }
}

/** Series per prefetch call (ChunkSource.aggregationRows): amortises the statement or round trip, bounds memory. */
export const PREFETCH_SERIES = 64;

/** What accumulateSeries needs of one series beyond its head: its chunk rows (with data where needed) and rate's predecessor. */
export interface PrefetchedSeries {
  rows: ChunkRow[];
  predecessor: ChunkEdge | undefined;
}

/**
 * An interval that puts every chunk inside a read's range into one bucket: a read with
 * summaries on and this interval leaves the data of every such chunk out (backend.ts,
 * AggregationRead), for a reader that fetches the data it needs afterwards (chunkData).
 */
const ONE_BUCKET_INTERVAL_MS = Number.MAX_SAFE_INTEGER;

/**
 * Reads the chunks of up to PREFETCH_SERIES series for an aggregation: their rows, the data of
 * every chunk `needsData(row)` asks for (see accumulateSeries: chunks answered neither by their
 * stats nor by `answers`), the data of every chunk of a series whose chunks overlap (they must
 * be decoded and merged after all), and for rate each series' newest chunk point before the
 * range.
 *
 * `withoutData`: rows are read without data (ONE_BUCKET_INTERVAL_MS) and only what is needed
 * follows: right after ingest the rows' data is in SQLite's write-ahead file, where each 1 KiB
 * page is copied through the page cache, and reading the blobs of chunks that rollups answer
 * was a third of the fresh 100-series query's main-thread time (bench/fresh_query.bench.ts).
 */
export async function prefetchAggregation(
  source: ChunkSource, series: ReadonlyArray<{ seriesId: number; headMinTs: number | undefined }>, read: AggregationRead, isRate: boolean,
  needsData: (row: ChunkRow) => boolean, withoutData = false,
): Promise<Map<number, PrefetchedSeries>> {
  const ids = series.map((s) => s.seriesId);
  const bySeries = await source.aggregationRows(ids, withoutData ? { ...read, summaries: true, intervalMs: ONE_BUCKET_INTERVAL_MS } : read);
  const overlapping = new Set<number>();
  // Rate's predecessor is looked up only where accumulateSeries will use it (a lookup per
  // series costs a statement each in SQLite).
  const needPredecessor: number[] = [];
  for (const { seriesId, headMinTs } of series) {
    const rows = bySeries.get(seriesId) ?? [];
    if (!overlapsFrom(rows, headMinTs)) {
      const first = rows.length > 0 ? rows[0]!.min_ts : headMinTs ?? Infinity;
      if (isRate && first >= read.startMs) needPredecessor.push(seriesId);
      continue;
    }
    if (isRate) needPredecessor.push(seriesId);
    overlapping.add(seriesId);
  }
  await fillData(source, bySeries, rowsWithoutData(bySeries, (seriesId, row) => overlapping.has(seriesId) || needsData(row)));
  const predecessors = needPredecessor.length > 0 ? await source.newestBefore(needPredecessor, read.startMs, read.maxChunkId) : undefined;
  const out = new Map<number, PrefetchedSeries>();
  for (const id of ids) out.set(id, { rows: bySeries.get(id) ?? [], predecessor: predecessors?.get(id) });
  return out;
}

/** Ids of the rows read without data that `wanted(seriesId, row)` asks for. */
function rowsWithoutData(bySeries: ReadonlyMap<number, readonly ChunkRow[]>, wanted: (seriesId: number, row: ChunkRow) => boolean): number[] {
  const missing: number[] = [];
  for (const [seriesId, rows] of bySeries) {
    for (const r of rows) if ((r.data === null || r.data === undefined) && wanted(seriesId, r)) missing.push(r.id);
  }
  return missing;
}

/** Reads the data of chunks `ids` (one chunkData call) into their rows' places in `bySeries`; returns how many it filled. */
async function fillData(source: ChunkSource, bySeries: ReadonlyMap<number, ChunkRow[]>, ids: readonly number[]): Promise<number> {
  if (ids.length === 0) return 0;
  const data = await source.chunkData(ids);
  let filled = 0;
  for (const rows of bySeries.values()) {
    for (let k = 0; k < rows.length; k++) {
      const r = rows[k]!;
      if (r.data !== null && r.data !== undefined) continue;
      const bytes = data.get(r.id);
      if (bytes === undefined) continue;
      rows[k] = { ...r, data: bytes };
      filled++;
    }
  }
  return filled;
}

/** One series of an aggregation and the accumulator of its group. */
export interface SeriesToAccumulate {
  seriesId: number;
  /** For error messages: `metric{tags}` (workers pass '' and the main thread names it). */
  seriesName: string;
  /** Sorted, duplicate-free, newer than every chunk. */
  head: PointColumns | undefined;
  acc: BucketAccumulator;
}

/**
 * Answers a chunk that overlaps nothing else of its series from partials kept elsewhere (the
 * main thread's rollups, src/storage/rollup/rollup_feed.ts) and returns true, or returns false having
 * fed nothing: the chunk is then decoded.
 */
export type ChunkAnswerer = (acc: BucketAccumulator, row: ChunkRow) => boolean;

/**
 * A ChunkAnswerer, and whether it holds a chunk's partials now (`holds`, no side effects; when
 * given, every chunk is read without its data and only chunks it does not hold get theirs).
 * Partials may be dropped while a read waits for its rows (cut landings and the rollup warmer
 * add others, evicting old ones), so holding is checked again right before the synchronous
 * accumulation.
 */
export interface ChunkAnswers {
  answer: ChunkAnswerer;
  holds?: ((row: ChunkRow) => boolean) | undefined;
  /**
   * The series' chunk rows in the read's range (≤ its maxChunkId, (min_ts, id) order) as memory
   * knows them, each one `answer` takes, without data; undefined when memory cannot tell (a
   * chunk without partials). A series whose rows all come from here, overlap nothing and need
   * no rate predecessor is not read from the back-end at all: right after ingest its rows sit
   * in SQLite's write-ahead file, and reading rows there was a third of the fresh 100-series
   * query's main-thread time (bench/fresh_query.bench.ts).
   */
  rowsInMemory?: ((seriesId: number, read: AggregationRead) => ChunkRow[] | undefined) | undefined;
}

/**
 * The aggregation loop of inline queries and query workers alike: series in order, read
 * PREFETCH_SERIES at a time (prefetchAggregation), each fed to its group's accumulator.
 * `seriesAt(k)` is asked once per series, in order. Returns the points scanned.
 */
export async function accumulateSeriesList(
  source: ChunkSource, count: number, seriesAt: (k: number) => SeriesToAccumulate, read: AggregationRead, isRate: boolean,
  answers?: ChunkAnswers,
): Promise<number> {
  let scanned = 0;
  for (let k = 0; k < count; k += PREFETCH_SERIES) {
    const slice: SeriesToAccumulate[] = [];
    for (let j = k; j < Math.min(count, k + PREFETCH_SERIES); j++) slice.push(seriesAt(j));
    // Every accumulator of a query has the same options: one answers for all what accumulateSeries will decode.
    const acc = slice[0]!.acc;
    const useSummaries = summaryUsable(acc.aggregation);
    const decoded = (row: ChunkRow): boolean => !(useSummaries && acc.summaryFits(row.min_ts, row.max_ts));
    const holds = answers?.holds;
    const needsData = (row: ChunkRow): boolean => decoded(row) && holds?.(row) !== true;
    const inMemory = (s: SeriesToAccumulate): ChunkRow[] | undefined => memoryRows(answers, s.seriesId, s.head?.timestamps[0], read, isRate, decoded);
    const fromMemory = new Map<number, ChunkRow[]>();
    for (const s of slice) {
      const rows = inMemory(s);
      if (rows !== undefined) fromMemory.set(s.seriesId, rows);
    }
    const prefetch = (series: readonly SeriesToAccumulate[]): Promise<Map<number, PrefetchedSeries>> => (series.length === 0 ? Promise.resolve(new Map()) :
      prefetchAggregation(source, series.map((s) => ({ seriesId: s.seriesId, headMinTs: s.head?.timestamps[0] })), read, isRate, needsData, holds !== undefined));
    const prefetched = await prefetch(slice.filter((s) => !fromMemory.has(s.seriesId)));
    for (;;) {
      if (holds !== undefined) {
        // Partials dropped during the reads: their chunks' data now, until none is missing.
        const rowsOf = new Map([...prefetched].map(([id, p]) => [id, p.rows]));
        for (let missing = rowsWithoutData(rowsOf, (_, row) => needsData(row)); missing.length > 0; missing = rowsWithoutData(rowsOf, (_, row) => needsData(row))) {
          if (await fillData(source, rowsOf, missing) === 0) break;
        }
      }
      // Series answered from memory whose partials were dropped meanwhile are read after all.
      const lost = slice.filter((s) => fromMemory.has(s.seriesId) && inMemory(s) === undefined);
      if (lost.length === 0) break;
      for (const s of lost) fromMemory.delete(s.seriesId);
      for (const [id, p] of await prefetch(lost)) prefetched.set(id, p);
    }
    // From the last checks above to the accumulation below nothing awaits (a chunk whose data
    // did not come, which a snapshot read rules out, fails there as before).
    for (const s of slice) {
      s.acc.beginSeries();
      const memory = fromMemory.get(s.seriesId);
      scanned += accumulateSeries(s.acc, {
        seriesId: s.seriesId, seriesName: s.seriesName, head: s.head, startMs: read.startMs, endMs: read.endMs, maxChunkId: read.maxChunkId,
      }, memory === undefined ? prefetched.get(s.seriesId)! : { rows: memory, predecessor: undefined }, answers?.answer);
    }
  }
  return scanned;
}

/**
 * The series' rows from memory (ChunkAnswers.rowsInMemory) when they answer it without the
 * back-end: nothing overlaps (that needs the raw merge; `headMinTs`: where the head's points
 * start, or any earlier time), every chunk is decoded rather than summarised (a summary needs
 * the row's stats, `decoded(row)` false), and rate needs no predecessor before the range.
 */
export function memoryRows(
  answers: ChunkAnswers | undefined, seriesId: number, headMinTs: number | undefined, read: AggregationRead, isRate: boolean,
  decoded: (row: ChunkRow) => boolean,
): ChunkRow[] | undefined {
  const rows = answers?.rowsInMemory?.(seriesId, read);
  if (rows === undefined) return undefined;
  if (overlapsFrom(rows, headMinTs)) return undefined;
  if (isRate && (rows.length > 0 ? rows[0]!.min_ts : headMinTs ?? Infinity) >= read.startMs) return undefined;
  for (const row of rows) if (!decoded(row)) return undefined;
  return rows;
}

/**
 * Feeds the series' points to `acc` (after the caller's beginSeries()). Returns the number of
 * points scanned: decoded or summarised. `prefetched`: from prefetchAggregation with the same
 * range, snapshot bound and interval.
 */
export function accumulateSeries(acc: BucketAccumulator, req: SeriesReadRequest, prefetched: PrefetchedSeries, answer?: ChunkAnswerer): number {
  const useSummaries = summaryUsable(acc.aggregation);
  const rows = prefetched.rows;
  const head = req.head;
  const isRate = acc.aggregation === 'rate';
  let scanned = 0;
  if (overlaps(rows, head)) {
    for (const r of rows) if (r.data === null || r.data === undefined) throw new Error(`BUG: chunk ${r.id} of series ${req.seriesId} vanished during a read`);
    const parts = decodeAll(rows, req.seriesName);
    if (head !== undefined) parts.push(head);
    const merged = mergeByAge(parts);
    if (isRate) feedRatePredecessor(acc, prefetched.predecessor, merged.timestamps[0] ?? Infinity);
    acc.addPoints(merged.timestamps, merged.values);
    return merged.timestamps.length;
  }
  if (isRate) {
    const first = rows.length > 0 ? rows[0]!.min_ts : head !== undefined ? head.timestamps[0]! : Infinity;
    if (first >= req.startMs) feedRatePredecessor(acc, prefetched.predecessor, first);
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
    if (answer !== undefined && answer(acc, row)) continue;
    if (row.data === null || row.data === undefined) throw new Error(`BUG: chunk ${row.id} of series ${req.seriesId} was read without its data`);
    try {
      // The first point lets rate sum a chunk's increase as its rollup does (addChunk).
      acc.addChunk(row.data, { ts: row.min_ts, value: row.first });
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
function feedRatePredecessor(acc: BucketAccumulator, prev: ChunkEdge | undefined, firstFedTs: number): void {
  if (prev !== undefined && prev.max_ts < firstFedTs) {
    acc.addPoints(Float64Array.of(prev.max_ts), Float64Array.of(prev.last));
  }
}
