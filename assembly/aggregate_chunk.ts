// Decode-and-aggregate of one encoded chunk in a single call from JS: the chunk codec
// (assembly/chunk.ts, docs/format/chunk.md) decodes into heap scratch, and accumulatePoints
// (assembly/aggregate.ts, docs/format/aggregation.md) turns the points into bucket records
// right there, so no decoded point crosses back to JS (for percentiles, the wrapper copies the
// in-range value slice it needs out of the scratch).
import { chunkPointCount, decodeChunk } from "./chunk";
import { accumulatePoints, IO_RECORDS_PTR, IO_VALUES_PTR, REC_FIELDS } from "./aggregate";

/**
 * Decodes the chunk of inLen bytes at inPtr and accumulates its points like accumulatePoints
 * does. The records' and the decoded values' addresses are written to the IO block
 * (IO_RECORDS_PTR, IO_VALUES_PTR). Returns the number of records, a codec status (-1 … -99,
 * assembly/codec_status.ts) or an aggregation status (E_AGG_*). Scratch is freed by the
 * caller's heap reset.
 */
export function accumulateChunk(
  inPtr: usize, inLen: i32, mode: i32,
  intervalMs: f64, startMs: f64, endMs: f64, ioPtr: usize,
): i32 {
  const n = chunkPointCount(inPtr, inLen);
  if (n < 0) return n;
  const room = <usize>max(n, 1);
  const tsPtr = heap.alloc(room << 3);
  const valPtr = heap.alloc(room << 3);
  const decoded = decodeChunk(inPtr, inLen, tsPtr, valPtr, n);
  if (decoded < 0) return decoded;
  const recordsPtr = heap.alloc(room * <usize>REC_FIELDS << 3);
  store<f64>(ioPtr + (<usize>IO_RECORDS_PTR << 3), <f64>recordsPtr);
  store<f64>(ioPtr + (<usize>IO_VALUES_PTR << 3), <f64>valPtr);
  return accumulatePoints(tsPtr, valPtr, decoded, mode, intervalMs, startMs, endMs, ioPtr, recordsPtr, decoded);
}
