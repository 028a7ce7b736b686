/**
 * A SeriesTable (src/model/api.ts) over `MetricsSystem.collectSeries`, for engines that do not
 * offer `createSeriesTable` (test doubles, other implementations): each run of consecutive
 * points of one series becomes one ColumnarSeries. The embedded engine's own table
 * (src/ingest/resolved_series_table.ts) is the fast path; this one keeps the server working
 * with any MetricsSystem.
 */
import type { ColumnarSeries, MetricsSystem, SeriesIdentity, SeriesTable } from '../model/api.js';

export class CollectSeriesTable implements SeriesTable {
  readonly #engine: Pick<MetricsSystem, 'collectSeries'>;
  readonly #identities: SeriesIdentity[] = [];

  constructor(engine: Pick<MetricsSystem, 'collectSeries'>) {
    this.#engine = engine;
  }

  get size(): number {
    return this.#identities.length;
  }

  add(series: SeriesIdentity): number {
    return this.#identities.push(series) - 1;
  }

  collect(seriesOf: Int32Array, timestamps: Float64Array, values: Float64Array): Promise<{ accepted: number }> {
    const series: ColumnarSeries[] = [];
    const n = seriesOf.length;
    for (let start = 0; start < n;) {
      const local = seriesOf[start]!;
      let end = start + 1;
      while (end < n && seriesOf[end] === local) end++;
      const d = this.#identities[local];
      if (d === undefined) {
        return Promise.reject(new Error(`BUG: series number ${local} is beyond this table of ${this.#identities.length}`));
      }
      series.push({ metricId: d.metricId, metricType: d.metricType, tags: d.tags, timestamps: timestamps.subarray(start, end), values: values.subarray(start, end) });
      start = end;
    }
    return this.#engine.collectSeries(series);
  }
}
