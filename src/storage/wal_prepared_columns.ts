/**
 * Write-ahead blocks a decode worker made for the columns it decoded (encodeColumnsBlock in
 * write_ahead_log.ts), from the ingest step that receives them (src/ingest/collect_decoded.ts)
 * to the commit that writes the batch's record (StorageEngine.commit).
 *
 * Keyed by the batch's timestamps array: between those two steps the columns pass through the
 * SeriesTable contract (src/model/api.ts), whose collect() takes three arrays and passes them
 * on to the batch unchanged; a public parameter for a block would let any caller of collect()
 * hand in bytes that do not match its points, and replay would restore those instead. Only
 * ingest code registers blocks. A block whose point count differs from the batch is not used,
 * and one never taken (a refused payload) goes with its array.
 */
import type { EncodedColumns } from './write_ahead_log.js';

const prepared = new WeakMap<Float64Array, EncodedColumns>();

/** `columns` holds exactly these `timestamps` and their values, as decoded. */
export function notePreparedColumns(timestamps: Float64Array, columns: EncodedColumns): void {
  if (columns.points === timestamps.length) prepared.set(timestamps, columns);
}

/** The block prepared for `timestamps` when it holds `points` points (then forgotten), else undefined. */
export function takePreparedColumns(timestamps: Float64Array, points: number): EncodedColumns | undefined {
  const columns = prepared.get(timestamps);
  if (columns === undefined) return undefined;
  prepared.delete(timestamps);
  return columns.points === points ? columns : undefined;
}
