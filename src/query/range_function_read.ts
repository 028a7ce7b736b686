/**
 * Reads series and evaluates a PromQL range function (rate, avg_over_time …) of each at every
 * step, keeping only the step values: the points of one series live only while its function
 * is evaluated. Run on the main thread (small selections) and in query workers
 * (range_function_task.ts) alike, so both answer the same.
 *
 * Chunk rows come PREFETCH_SERIES series per ChunkSource call (one statement or round trip),
 * not one call per series: a series of a day at 10 s is about 9 chunks, and a statement per
 * series was a third of reading them.
 */
import type { ChunkSource } from '../storage/backend.js';
import { evalRangeFunctionOfSeries } from './range_window_functions.js';
import { PREFETCH_SERIES, ScratchColumns, pointsOfRows, type PointColumns } from './series_reader.js';
import { DecodedChunkCache } from './decoded_chunk_cache.js';

/**
 * This thread's decoded chunks (the main thread's, or one query worker's): dashboards re-run
 * the same range queries every refresh, and decoding was the largest part of one
 * (decoded_chunk_cache.ts).
 */
const threadDecodedChunks = new DecodedChunkCache();

/** The function and where it is evaluated: the window of step t is [t - offset - range, t - offset]. */
export interface RangeFunctionSpec {
  func: string;
  /** Evaluation times, epoch ms, ascending. */
  stepsMs: Float64Array;
  rangeMs: number;
  offsetMs: number;
  /** quantile_over_time's φ at each step. */
  param: Float64Array | undefined;
}

/** Which points are read: [startMs, endMs), chunks up to the snapshot bound. */
export interface RangeRead {
  startMs: number;
  endMs: number;
  maxChunkId: number;
  /** Points all the series may hold together; past it the read stops (see RangeOutput.overLimit). */
  maxPoints: number;
}

/** One series to read: its id, its name for error messages, and its head (sorted, newer than every chunk). */
export interface RangeSeries {
  seriesId: number;
  seriesName: string;
  head: PointColumns | undefined;
}

/**
 * Results of series k at row k: `values`/`present` hold steps × series, `points[k]` the points
 * read for series k. `overLimit` is set when the points passed `maxPoints` (the rest unread).
 */
export interface RangeOutput {
  values: Float64Array;
  present: Uint8Array;
  points: Float64Array;
  overLimit: boolean;
}

export function newRangeOutput(series: number, steps: number): RangeOutput {
  return { values: new Float64Array(series * steps), present: new Uint8Array(series * steps), points: new Float64Array(series), overLimit: false };
}

/** Evaluates `spec` over `count` series (`seriesAt(k)`, asked once each, in order) into `out`. */
export async function evaluateRangeSeries(
  source: ChunkSource, count: number, seriesAt: (k: number) => RangeSeries, read: RangeRead, spec: RangeFunctionSpec, out: RangeOutput,
  decoded: DecodedChunkCache = threadDecodedChunks,
): Promise<void> {
  const steps = spec.stepsMs.length;
  // Summaries off: every chunk comes with its data (a network back-end may still leave out
  // the data of a large answer, fetched below), and the interval is not used.
  const rowsRead = { startMs: read.startMs, endMs: read.endMs, maxChunkId: read.maxChunkId, intervalMs: Math.max(1, read.endMs - read.startMs), summaries: false };
  const scratch = new ScratchColumns();
  let total = 0;
  for (let k = 0; k < count; k += PREFETCH_SERIES) {
    const slice: RangeSeries[] = [];
    for (let j = k; j < Math.min(count, k + PREFETCH_SERIES); j++) slice.push(seriesAt(j));
    const bySeries = await source.aggregationRows(slice.map((s) => s.seriesId), rowsRead);
    const missing: number[] = [];
    for (const rows of bySeries.values()) for (const r of rows) if (r.data === null || r.data === undefined) missing.push(r.id);
    if (missing.length > 0) {
      const data = await source.chunkData(missing);
      for (const rows of bySeries.values()) {
        rows.forEach((r, i) => {
          const bytes = r.data === null || r.data === undefined ? data.get(r.id) : undefined;
          if (bytes !== undefined) rows[i] = { ...r, data: bytes };
        });
      }
    }
    for (const [j, s] of slice.entries()) {
      const row = k + j;
      const points = pointsOfRows(bySeries.get(s.seriesId) ?? [], {
        seriesId: s.seriesId, seriesName: s.seriesName, head: s.head, startMs: read.startMs, endMs: read.endMs, maxChunkId: read.maxChunkId,
      }, scratch, decoded);
      const n = points.timestamps.length;
      out.points[row] = n;
      total += n;
      if (total > read.maxPoints) {
        out.overLimit = true;
        return;
      }
      if (n === 0) continue;
      const at = row * steps;
      evalRangeFunctionOfSeries(spec.func, points.timestamps, points.values, spec.stepsMs, spec.rangeMs, spec.offsetMs, spec.param, {
        values: out.values.subarray(at, at + steps), present: out.present.subarray(at, at + steps),
      });
    }
  }
}
