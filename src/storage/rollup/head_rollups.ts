/**
 * Rollup records of series heads, kept between queries: a head's complete buckets (every
 * bucket before the one holding its last point, which later appends cannot reach) as the
 * kernel would compute them, so that a query over a head merges those records and feeds only
 * the points of its last bucket, instead of copying out and aggregating every head point.
 *
 * Why: right after a burst the heads hold ~16% of a day's points (1.36 M of bench:peers'
 * 8.64 M) in 64-point blocks interleaved across series, and reading them from there was about
 * a third of the fresh 100-series query (bench/fresh_query.bench.ts). A dashboard refreshing
 * while ingest is quiet finds the same heads; one still ingesting finds its old records valid
 * (appends come after them) and feeds the rest as points.
 *
 * Validity: an entry holds the head's generation (HeadPoints.generation, head.ts), which
 * changes whenever points other than appended ones change (sort, cut, clear). Same
 * generation: the points the records were built from are still the head's first ones.
 *
 * Exactness: buildRollupRecords repeats the kernel's arithmetic per bucket
 * (src/core/rollup_records.ts), and the accumulator merges records in bucket order either way,
 * so the answer equals feeding every point, bit for bit, for every aggregation except rate
 * (the kernel folds a head's predecessor pair into its first bucket's record; records keep it
 * apart) and percentiles (no records): callers keep those on the point path. A head longer
 * than one kernel call (65,536 points, whose runs the kernel splits) keeps it too.
 */
import type { BucketAccumulator } from '../../core/bucket_accumulator.js';
import { buildRollupRecords } from '../../core/rollup_records.js';
import { lowerBound } from '../../core/sorted_search.js';
import { spanOf, type HeadPoints, type PointColumns, type ReadRange } from '../head.js';
import { recordsInRange, rollupFits } from './rollup_feed.js';

/** Heads remembered at most, least recently used forgotten first (an entry is ~100 bytes plus its records). */
export const HEAD_ROLLUP_MAX_SERIES = 100_000;
/**
 * Longest head answered from records: BucketAccumulator.addPoints hands the kernel at most
 * 65,536 points per call, splitting a bucket's run where a call ends; records would not.
 */
const MAX_HEAD_POINTS = 65_536;
/** Points past an entry's records from which it is rebuilt (appends kept coming). */
const REBUILD_TAIL_POINTS = 1024;

interface Entry {
  generation: number;
  resolutionMs: number;
  /** REC_FIELDS float64s per complete bucket, ascending. */
  records: Float64Array;
  /** The head's points before this (the start of its last point's bucket) are in the records. */
  upToMs: number;
  /** How many of the head's points that is. */
  points: number;
  first: { ts: number; value: number };
  last: { ts: number; value: number };
}

/** Columns a caller reuses from one head to the next (series_reader.ts ScratchColumns). */
export interface HeadScratch {
  reserve(n: number): PointColumns;
}

export class HeadRollups {
  /** By series id, then resolution; Map order is recency order. */
  readonly #entries = new Map<number, Entry[]>();
  #hits = 0;
  #builds = 0;

  /** Queries that found a head's records (tests, diagnostics). */
  get hits(): number {
    return this.#hits;
  }

  /** Records built from a head's points. */
  get builds(): number {
    return this.#builds;
  }

  /**
   * Feeds the series' head to `acc` for its range, after the chunks of the series (the caller's
   * beginSeries() and chunk rows came first): its complete buckets from records where the range
   * allows (its bounds inside them are multiples of the resolution), the rest as points. Returns
   * the points a read of the range copies (HeadPoints.lengthIn), as the point path counts them.
   * `acc` must not be rate or a percentile (see the file comment).
   */
  feed(acc: BucketAccumulator, seriesId: number, head: HeadPoints, scratch: HeadScratch): number {
    const range: ReadRange = { startMs: acc.startMs, endMs: acc.endMs };
    const resolutionMs = acc.rollupResolutionMs;
    if (resolutionMs === undefined || acc.aggregation === 'rate') {
      throw new Error(`BUG: HeadRollups.feed used for aggregation=${acc.aggregation}, intervalMs=${acc.intervalMs}; feed the head's points`);
    }
    // Sorts an out-of-order head first (which changes its generation).
    const inRange = head.lengthIn(range);
    const generation = head.generation;
    if (generation === undefined || head.length > MAX_HEAD_POINTS) return feedPoints(acc, head, range, scratch);
    let entry = this.#entry(seriesId, generation, resolutionMs);
    let fresh: PointColumns | undefined;
    if (entry === undefined || head.length - entry.points > REBUILD_TAIL_POINTS) {
      const { timestamps, values } = scratch.reserve(head.length);
      const n = head.sortedInto(timestamps, values, 0);
      fresh = { timestamps: timestamps.subarray(0, n), values: values.subarray(0, n) };
      entry = this.#build(seriesId, generation, resolutionMs, fresh);
    } else {
      this.#hits++;
    }
    if (entry === undefined || !rollupFits(entry.first.ts, entry.last.ts, range.startMs, range.endMs, resolutionMs)) {
      if (fresh === undefined) return feedPoints(acc, head, range, scratch);
      feedColumns(acc, spanOf(fresh, range));
      return inRange;
    }
    acc.addRollupRecords(recordsInRange(entry.records, entry.first.ts, entry.last.ts, range.startMs, range.endMs, resolutionMs), entry.first, entry.last);
    // The points from the records' end on (a read range that starts later starts there). None
    // when the range ends before that: records a query over a later range built reach past it.
    const tailRange = { startMs: Math.max(range.startMs, entry.upToMs), endMs: range.endMs };
    if (tailRange.startMs >= tailRange.endMs) return inRange;
    const tail = fresh === undefined ? sortedTail(head, tailRange, scratch) : spanOf(fresh, tailRange);
    const from = lowerBound(tail.timestamps, entry.upToMs);
    feedColumns(acc, { timestamps: tail.timestamps.subarray(from), values: tail.values.subarray(from) });
    return inRange;
  }

  #entry(seriesId: number, generation: number, resolutionMs: number): Entry | undefined {
    const list = this.#entries.get(seriesId);
    if (list === undefined) return undefined;
    if (list[0]!.generation !== generation) {
      this.#entries.delete(seriesId);
      return undefined;
    }
    this.#entries.delete(seriesId);
    this.#entries.set(seriesId, list);
    return list.find((e) => e.resolutionMs === resolutionMs);
  }

  /** Records of the head's complete buckets (sorted, duplicate-free points), kept; undefined when it has none. */
  #build(seriesId: number, generation: number, resolutionMs: number, points: PointColumns): Entry | undefined {
    const { timestamps, values } = points;
    const n = timestamps.length;
    if (n === 0) return undefined;
    const upToMs = Math.floor(timestamps[n - 1]! / resolutionMs) * resolutionMs;
    const k = lowerBound(timestamps, upToMs);
    if (k === 0) return undefined;
    this.#builds++;
    const entry: Entry = {
      generation, resolutionMs, upToMs, points: k, records: buildRollupRecords(timestamps.subarray(0, k), values.subarray(0, k), resolutionMs),
      first: { ts: timestamps[0]!, value: values[0]! }, last: { ts: timestamps[k - 1]!, value: values[k - 1]! },
    };
    const list = (this.#entries.get(seriesId) ?? []).filter((e) => e.generation === generation && e.resolutionMs !== resolutionMs);
    list.push(entry);
    this.#entries.delete(seriesId);
    this.#entries.set(seriesId, list);
    if (this.#entries.size > HEAD_ROLLUP_MAX_SERIES) {
      for (const oldest of this.#entries.keys()) {
        this.#entries.delete(oldest);
        break;
      }
    }
    return entry;
  }
}

function feedColumns(acc: BucketAccumulator, points: PointColumns): void {
  if (points.timestamps.length > 0) acc.addPoints(points.timestamps, points.values);
}

/** The head's points a read of `range` needs, fed as points (the path without records). */
function feedPoints(acc: BucketAccumulator, head: HeadPoints, range: ReadRange, scratch: HeadScratch): number {
  const points = sortedTail(head, range, scratch);
  feedColumns(acc, points);
  return points.timestamps.length;
}

function sortedTail(head: HeadPoints, range: ReadRange, scratch: HeadScratch): PointColumns {
  const { timestamps, values } = scratch.reserve(head.lengthIn(range));
  const n = head.sortedInto(timestamps, values, 0, range);
  return { timestamps: timestamps.subarray(0, n), values: values.subarray(0, n) };
}
