// Entry of build/emms.wasm: every kernel of the core module, re-exported.
// One module so that a chunk decoded into WASM memory is aggregated in place, without a copy
// back to JS (see docs/format/ and src/core/).
export { scratchAlloc, scratchReset } from "./scratch";
export { encodeChunk, decodeChunk, chunkPointCount, maxEncodedBytes, codecErrorSection, codecErrorBit, codecErrorLimitBits } from "./chunk";
export {
  accumulatePoints,
  MODE_COUNT, MODE_SUM, MODE_MIN, MODE_MAX, MODE_FIRST, MODE_LAST, MODE_MOMENTS, MODE_RATE, MODE_VALUES,
  REC_FIELDS, IO_FIELDS, IO_RECORDS_PTR, IO_VALUES_PTR, E_AGG_UNSORTED, E_AGG_NAN, E_AGG_CAPACITY,
} from "./aggregate";
export { percentilesByBucket, selectKthWithBudget } from "./percentile";
export { accumulateChunk } from "./aggregate_chunk";
export { accumulateChunkFused, fusedChunkFallbacks } from "./decode_aggregate";
