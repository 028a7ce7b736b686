/**
 * Rollups of a landed cut's chunks, from the points the engine still holds for it: no decode.
 * Only for series a query planned over lately (RollupStore#wantsSeries): ingest of series
 * nobody reads does not pay for building.
 *
 * A cut whose points arrived in order holds exactly its chunks' points, one chunk after the
 * other (encodeChunks splits them in order); a cut that needed sorting is left to the warmer
 * (rollup_warmer.ts), which decodes its chunks if a query asks for them.
 */
import type { RollupStore } from './rollup_store.js';

/** The part of a cut this needs. */
export interface CutColumns {
  seriesId: number;
  timestamps: Float64Array;
  values: Float64Array;
  inOrder: boolean;
}

/** `chunks[k]` (its `count` points) was inserted under `chunkIds[k]`. */
export function buildCutRollups(store: RollupStore, cut: CutColumns, chunks: ReadonlyArray<{ count: number }>, chunkIds: readonly number[]): void {
  const now = Date.now();
  if (!cut.inOrder || !store.wantsSeries(cut.seriesId, now)) return;
  // Sketches only for series approximate percentile queries read: they cost more than records.
  const sketches = store.wantsSketches(cut.seriesId, now);
  let at = 0;
  chunks.forEach((chunk, k) => {
    const end = at + chunk.count;
    if (end > cut.timestamps.length) throw new Error(`BUG: a cut of ${cut.timestamps.length} points landed as chunks of more`);
    store.build(chunkIds[k]!, cut.timestamps.subarray(at, end), cut.values.subarray(at, end), sketches);
    at = end;
  });
}
