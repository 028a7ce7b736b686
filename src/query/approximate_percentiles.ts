/**
 * Percentile queries that opted into an approximation (AggregatedQuery.percentileAccuracy):
 * each group's buckets get a DDSketch (src/core/sketch_accumulator.ts) fed from the rollup
 * sketches of chunks they fit (merged, not decoded) and from the raw points of everything
 * else (chunks without sketches, chunks overlapping others, heads), so a bucket's answer is
 * one estimate over all its points. docs/format/aggregation.md, "Approximate percentiles".
 *
 * A chunk that fits the rollup resolution but has no sketches yet is decoded (the query needs
 * its values anyway) and its rollups are built with sketches on the spot: the next query over
 * it merges them. Runs on the main thread, like every query rollups answer.
 */
import { QUANTILE_OF } from '../core/aggregate_kernel.js';
import type { AggregateResult } from '../core/aggregate_options.js';
import { kernelIntervalFor, ROLLUP_RESOLUTIONS_MS } from '../core/rollup_records.js';
import { SketchAccumulator, SketchBudget } from '../core/sketch_accumulator.js';
import type { Aggregation } from '../model/api.js';
import type { ChunkSource } from '../storage/backend.js';
import { decodeChunkRow, type ChunkRow } from '../storage/chunk_rows.js';
import type { PointColumns } from '../storage/head.js';
import { rollupFits } from '../storage/rollup/rollup_feed.js';
import type { RollupStore } from '../storage/rollup/rollup_store.js';
import { PREFETCH_SERIES, pointsOfRows } from './series_reader.js';

export interface ApproximateSeries {
  seriesId: number;
  seriesName: string;
  /** Head points in range, sorted and duplicate-free (copied before the snapshot bound). */
  head: PointColumns | undefined;
  group: number;
}

export interface ApproximateRead {
  aggregation: Aggregation;
  intervalMs: number;
  startMs: number;
  endMs: number;
  maxChunkId: number;
}

export interface ApproximateOutcome {
  results: AggregateResult[];
  pointsScanned: number;
  /** Rollup bucket sketches merged (chunks not decoded). */
  sketchesMerged: number;
}

/** Whether chunks overlap one another or the head (then the newest write wins: decode and merge). */
function overlapping(rows: readonly ChunkRow[], head: PointColumns | undefined): boolean {
  let maxSoFar = -Infinity;
  for (const r of rows) {
    if (r.min_ts <= maxSoFar) return true;
    if (r.max_ts > maxSoFar) maxSoFar = r.max_ts;
  }
  return head !== undefined && head.timestamps.length > 0 && head.timestamps[0]! <= maxSoFar;
}

export async function approximatePercentiles(
  source: ChunkSource, rollups: RollupStore | undefined, groups: number, series: readonly ApproximateSeries[], read: ApproximateRead,
): Promise<ApproximateOutcome> {
  const q = QUANTILE_OF[read.aggregation];
  if (q === undefined) throw new Error(`BUG: approximatePercentiles for aggregation=${read.aggregation}`);
  const { startMs, endMs, intervalMs, maxChunkId } = read;
  const budget = new SketchBudget();
  const accs = Array.from({ length: groups }, () => new SketchAccumulator(intervalMs, startMs, endMs, q, budget));
  const kernel = kernelIntervalFor(intervalMs);
  const resolutionMs = rollups?.enabled === true && ROLLUP_RESOLUTIONS_MS.includes(kernel) ? kernel : undefined;
  let pointsScanned = 0;
  for (let k = 0; k < series.length; k += PREFETCH_SERIES) {
    const slice = series.slice(k, k + PREFETCH_SERIES);
    const bySeries = await source.aggregationRows(slice.map((s) => s.seriesId), { startMs, endMs, maxChunkId, intervalMs, summaries: false });
    for (const s of slice) {
      const acc = accs[s.group]!;
      const rows = bySeries.get(s.seriesId) ?? [];
      if (overlapping(rows, s.head)) {
        const points = pointsOfRows(rows, { seriesId: s.seriesId, seriesName: s.seriesName, head: s.head, startMs, endMs, maxChunkId });
        acc.addPoints(points.timestamps, points.values);
        pointsScanned += points.timestamps.length;
        continue;
      }
      for (const row of rows) {
        pointsScanned += row.count;
        if (resolutionMs !== undefined && rollupFits(row.min_ts, row.max_ts, startMs, endMs, resolutionMs)) {
          let sketches = rollups!.sketchesFor(row, resolutionMs);
          if (sketches === undefined) {
            const points = decodeChunkRow(row, s.seriesName);
            rollups!.build(row.id, points.timestamps, points.values, true);
            sketches = rollups!.sketchesFor(row, resolutionMs);
            if (sketches === undefined) {
              // Not kept (bigger than the budget, or stats that do not match the row): use the points.
              acc.addPoints(points.timestamps, points.values);
              continue;
            }
          }
          // Whole resolution buckets inside the range (rollupFits: bounds inside the chunk are multiples).
          const from = row.min_ts < startMs ? startMs / resolutionMs : -Infinity;
          const to = row.max_ts >= endMs ? endMs / resolutionMs : Infinity;
          acc.addRollupSketches(sketches, resolutionMs, from, to);
          continue;
        }
        const points = decodeChunkRow(row, s.seriesName);
        acc.addPoints(points.timestamps, points.values);
      }
      if (s.head !== undefined) {
        acc.addPoints(s.head.timestamps, s.head.values);
        pointsScanned += s.head.timestamps.length;
      }
    }
  }
  return {
    results: accs.map((a) => a.finish()),
    pointsScanned,
    sketchesMerged: accs.reduce((n, a) => n + a.mergedSketches, 0),
  };
}
