/**
 * Ingest batches for the settle tests that drive the engine directly: `perSeries` points of
 * each series from point index `from`, every 10 s from `t0`, value = value(series, index).
 */
import type { IngestBatch } from '../../src/storage/ingest_batch.js';

export function seriesBatch(ids: readonly number[], from: number, perSeries: number, t0: number, value: (s: number, k: number) => number): IngestBatch {
  const n = ids.length * perSeries;
  const b: IngestBatch = { seriesIds: new Uint32Array(n), timestamps: new Float64Array(n), values: new Float64Array(n), length: n };
  let o = 0;
  for (const [s, id] of ids.entries()) {
    for (let k = from; k < from + perSeries; k++, o++) {
      b.seriesIds[o] = id;
      b.timestamps[o] = t0 + k * 10_000;
      b.values[o] = value(s, k);
    }
  }
  return b;
}
