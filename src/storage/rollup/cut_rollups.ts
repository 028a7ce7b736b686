/**
 * Rollups of a landed cut's chunks. Chunks the encoder thread encoded carry their records
 * (encoded_rollups.ts): they are kept for every series, so the first query after ingest finds
 * them. Chunks the writer encoded itself (it does when the encoder falls behind) carry none:
 * for a series a query planned over lately (RollupStore#wantsSeries) they are built here from
 * the points the engine still holds, no decode, as are percentile sketches, which only series
 * an approximate percentile query read get (they cost more than records).
 *
 * A cut whose points arrived in order holds exactly its chunks' points, one chunk after the
 * other (encodeChunks splits them in order); a cut that needed sorting and has no records is
 * left to the warmer (rollup_warmer.ts), which decodes its chunks if a query asks for them.
 */
import type { EncodedChunk } from '../chunk_encoding.js';
import { keepEncodedRollups } from './encoded_rollups.js';
import type { RollupStore } from './rollup_store.js';

/** The part of a cut this needs. */
export interface CutColumns {
  seriesId: number;
  timestamps: Float64Array;
  values: Float64Array;
  inOrder: boolean;
}

/** `chunks[k]` (its `count` points) was inserted under `chunkIds[k]`. */
export function keepCutRollups(store: RollupStore, cut: CutColumns, chunks: readonly EncodedChunk[], chunkIds: readonly number[]): void {
  if (!store.enabled) return;
  const now = Date.now();
  let kept = true;
  chunks.forEach((chunk, k) => {
    kept = keepEncodedRollups(store, cut.seriesId, chunkIds[k]!, chunk, now) && kept;
  });
  // Sketches need the points: built here (replacing the records just kept) when at hand.
  const sketches = store.wantsSketches(cut.seriesId, now);
  if ((kept && !sketches) || !cut.inOrder || !store.wantsSeries(cut.seriesId, now)) return;
  let at = 0;
  chunks.forEach((chunk, k) => {
    const end = at + chunk.count;
    if (end > cut.timestamps.length) throw new Error(`BUG: a cut of ${cut.timestamps.length} points landed as chunks of more`);
    store.build(chunkIds[k]!, cut.timestamps.subarray(at, end), cut.values.subarray(at, end), sketches);
    at = end;
  });
}
