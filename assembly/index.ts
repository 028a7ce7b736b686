// Entry of build/emms.wasm: every kernel of the core module, re-exported.
// One module so that a chunk decoded into WASM memory is aggregated in place, without a copy
// back to JS (see docs/format/ and src/core/).
export { scratchAlloc, scratchReset } from "./scratch";
export { accumulatePoints } from "./aggregate";
export { percentilesByBucket } from "./percentile";
