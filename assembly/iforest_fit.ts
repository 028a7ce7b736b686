// Isolation-forest fit (Liu, Ting, Zhou 2008) with scikit-learn's conventions; model layout and
// conventions are documented in src/analytics/iforest_model.ts, and this kernel must stay
// operation-for-operation equal to fitIsolationForestReference in src/analytics/iforest_reference.ts
// (tests/unit/iforest_kernels.test.ts compares the arrays exactly).
import { rngSeed, rngBelow, rngUniform } from "./iforest_random";

export const IFOREST_OK: i32 = 0;
export const IFOREST_E_ARGS: i32 = -1;

// Per-call state, set by iforestFit (module globals keep the recursive builder's signature short).
let gRows: usize = 0;
let gFeatures: i32 = 0;
let gDepth: i32 = 0;
let gInternal: i32 = 0;
let gLeaves: i32 = 0;
let gWork: usize = 0;
let gCand: usize = 0;
let gFeatOut: usize = 0;
let gThrOut: usize = 0;
let gLeafOut: usize = 0;
let gCTable: usize = 0;

@inline
function rowValue(row: i32, f: i32): f64 {
  return load<f64>(gRows + ((<usize>row * <usize>gFeatures + <usize>f) << 3));
}

function buildNode(t: i32, node: i32, level: i32, start: i32, end: i32): void {
  const count = end - start;
  if (level < gDepth && count > 1) {
    for (let f = 0; f < gFeatures; f++) store<i32>(gCand + (<usize>f << 2), f);
    let nCand = gFeatures;
    while (nCand > 0) {
      const k = rngBelow(nCand);
      const f = load<i32>(gCand + (<usize>k << 2));
      let lo = Infinity;
      let hi = -Infinity;
      for (let i = start; i < end; i++) {
        const v = rowValue(load<i32>(gWork + (<usize>i << 2)), f);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      if (hi > lo) {
        let thr = lo + rngUniform() * (hi - lo);
        if (thr >= hi) thr = lo;
        let mid = start;
        for (let i = start; i < end; i++) {
          const r = load<i32>(gWork + (<usize>i << 2));
          if (rowValue(r, f) <= thr) {
            store<i32>(gWork + (<usize>i << 2), load<i32>(gWork + (<usize>mid << 2)));
            store<i32>(gWork + (<usize>mid << 2), r);
            mid++;
          }
        }
        const at = <usize>(t * gInternal + node);
        store<i32>(gFeatOut + (at << 2), f);
        store<f64>(gThrOut + (at << 3), thr);
        buildNode(t, 2 * node + 1, level + 1, start, mid);
        buildNode(t, 2 * node + 2, level + 1, mid, end);
        return;
      }
      store<i32>(gCand + (<usize>k << 2), load<i32>(gCand + (<usize>(nCand - 1) << 2)));
      nCand--;
    }
  }
  const span = 1 << (gDepth - level);
  const first = (node + 1) * span - 1 - gInternal;
  const value = <f64>level + load<f64>(gCTable + (<usize>count << 3));
  const base = gLeafOut + (<usize>(t * gLeaves + first) << 3);
  for (let j = 0; j < span; j++) store<f64>(base + (<usize>j << 3), value);
}

/**
 * Fits `nTrees` trees on `nRows` × `nFeatures` float64 rows (row-major at rowsPtr).
 * `sampleSize` ≤ nRows and `depth` = ceil(log2(max(sampleSize, 2))) are resolved by the caller;
 * cTablePtr holds c(0..sampleSize). Outputs: featOut (i32 × nTrees·(2^depth−1)), thrOut
 * (f64, same count), leafOut (f64 × nTrees·2^depth). Returns IFOREST_OK or IFOREST_E_ARGS.
 */
export function iforestFit(
  rowsPtr: usize, nRows: i32, nFeatures: i32, nTrees: i32, sampleSize: i32, depth: i32, seed: u32,
  cTablePtr: usize, featOut: usize, thrOut: usize, leafOut: usize,
): i32 {
  if (nRows < 1 || nFeatures < 1 || nTrees < 1 || sampleSize < 1 || sampleSize > nRows || depth < 0 || depth > 24) return IFOREST_E_ARGS;
  gRows = rowsPtr;
  gFeatures = nFeatures;
  gDepth = depth;
  gInternal = (1 << depth) - 1;
  gLeaves = 1 << depth;
  gFeatOut = featOut;
  gThrOut = thrOut;
  gLeafOut = leafOut;
  gCTable = cTablePtr;
  const perm = heap.alloc(<usize>nRows << 2);
  gWork = heap.alloc(<usize>sampleSize << 2);
  gCand = heap.alloc(<usize>nFeatures << 2);
  for (let i = 0; i < nRows; i++) store<i32>(perm + (<usize>i << 2), i);
  const totalInternal = nTrees * gInternal;
  for (let i = 0; i < totalInternal; i++) {
    store<i32>(featOut + (<usize>i << 2), 0);
    store<f64>(thrOut + (<usize>i << 3), Infinity);
  }
  rngSeed(seed);
  for (let t = 0; t < nTrees; t++) {
    for (let i = 0; i < sampleSize; i++) {
      const j = i + rngBelow(nRows - i);
      const a = load<i32>(perm + (<usize>i << 2));
      const b = load<i32>(perm + (<usize>j << 2));
      store<i32>(perm + (<usize>i << 2), b);
      store<i32>(perm + (<usize>j << 2), a);
      store<i32>(gWork + (<usize>i << 2), b);
    }
    buildNode(t, 0, 0, 0, sampleSize);
  }
  return IFOREST_OK;
}
