// Entry of build/iforest.wasm: isolation-forest fit and score (owned by the analytics engine).
export { scratchAlloc, scratchReset } from "./scratch";
export { iforestFit } from "./iforest_fit";
export { iforestScore } from "./iforest_score";
