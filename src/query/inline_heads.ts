/**
 * The heads' side of an inline aggregation (query_engine.ts): groups answered wholly from
 * memory (chunk rollups and head records, read in the snapshot's synchronous step), and the
 * heads of the other groups copied out before the read awaits.
 */
import type { BucketAccumulator } from '../core/bucket_accumulator.js';
import { summaryUsable } from '../core/chunk_summary.js';
import type { AggregationRead } from '../storage/backend.js';
import { describeSeries, type ChunkRow } from '../storage/chunk_rows.js';
import type { HeadPoints, ReadRange } from '../storage/head.js';
import type { HeadRollups } from '../storage/rollup/head_rollups.js';
import type { SeriesInfo } from '../storage/series_index.js';
import { lendHeadColumn } from './head_task_buffers.js';
import { accumulateSeries, memoryRows, type ChunkAnswers, type PointColumns, type ScratchColumns } from './series_reader.js';

/**
 * Accumulates, synchronously, every group all of whose series memory answers: their chunks
 * from rollups (ChunkAnswers.rowsInMemory, series_reader.ts memoryRows) and their heads
 * through `headRollups`, read where they are instead of copied for a later read. Returns the
 * points scanned and the indexes of the other groups, in order. A group is taken whole or not
 * at all, so each accumulator is fed its series in the same order as on the read path (sums
 * of floats depend on it). Not for rate: its heads take the point path (head_rollups.ts).
 */
export function accumulateFromMemory(
  groups: ReadonlyArray<{ series: readonly SeriesInfo[] }>, accumulators: readonly BucketAccumulator[], heads: ReadonlyMap<number, HeadPoints | undefined>,
  read: AggregationRead, answers: ChunkAnswers | undefined, headRollups: HeadRollups, scratch: ScratchColumns,
): { pointsScanned: number; rest: number[] } {
  const rest: number[] = [];
  const probe = accumulators[0];
  if (answers?.rowsInMemory === undefined || probe === undefined || probe.aggregation === 'rate' || probe.rollupResolutionMs === undefined) {
    return { pointsScanned: 0, rest: groups.map((_, gi) => gi) };
  }
  const useSummaries = summaryUsable(probe.aggregation);
  const decoded = (row: ChunkRow): boolean => !(useSummaries && probe.summaryFits(row.min_ts, row.max_ts));
  let pointsScanned = 0;
  groups.forEach((g, gi) => {
    const rows = g.series.map((s) => memoryRows(answers, s.id, heads.get(s.id)?.minTs, read, false, decoded));
    if (rows.some((r) => r === undefined)) {
      rest.push(gi);
      return;
    }
    const acc = accumulators[gi]!;
    g.series.forEach((s, k) => {
      acc.beginSeries();
      pointsScanned += accumulateSeries(acc, {
        seriesId: s.id, seriesName: describeSeries(s), head: undefined, startMs: read.startMs, endMs: read.endMs, maxChunkId: read.maxChunkId,
      }, { rows: rows[k]!, predecessor: undefined }, answers.answer);
      const head = heads.get(s.id);
      if (head !== undefined) pointsScanned += headRollups.feed(acc, s.id, head, scratch);
    });
  });
  return { pointsScanned, rest };
}

/**
 * The heads' points an inline aggregation reads (sorted, of the range), copied into one pair of
 * pooled columns (head_task_buffers.ts; the caller returns their buffers when the read ended).
 * A fresh pair of arrays per series was zero-filled, page-faulted and counted towards the
 * garbage collector's external memory on the thread that acknowledges ingest: right after a
 * burst the heads hold ~16% of a day, and those copies were ~40% of the 100-series query's
 * main-thread time (bench/fresh_query.bench.ts).
 */
export function copyHeads(
  heads: ReadonlyMap<number, HeadPoints | undefined>, range: ReadRange,
): { bySeries: Map<number, PointColumns | undefined>; timestamps: Float64Array; values: Float64Array } {
  let room = 0;
  for (const head of heads.values()) room += head?.lengthIn(range) ?? 0;
  const timestamps = lendHeadColumn(room);
  const values = lendHeadColumn(room);
  const bySeries = new Map<number, PointColumns | undefined>();
  let at = 0;
  for (const [id, head] of heads) {
    if (head === undefined) {
      bySeries.set(id, undefined);
      continue;
    }
    const n = head.sortedInto(timestamps, values, at, range);
    bySeries.set(id, { timestamps: timestamps.subarray(at, at + n), values: values.subarray(at, at + n) });
    at += n;
  }
  return { bySeries, timestamps, values };
}
