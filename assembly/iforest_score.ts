// Isolation-forest scoring: s(x) = 2^(−E[h(x)] / c(ψ)) over a model in the complete-tree layout of
// src/analytics/iforest_model.ts (reference: scoreIsolationForestReference).
//
// Tree-major over blocks of rows: one tree (≈5 KB at depth 8) stays in L1 while a block of rows
// walks it, and every walk is exactly `depth` branch-free levels, so the CPU overlaps the walks
// of consecutive rows. BLOCK_ROWS = 256 keeps a block of 8-dimensional rows (16 KB) in L1 too.

const BLOCK_ROWS: i32 = 256;

export const IFOREST_SCORE_OK: i32 = 0;
export const IFOREST_SCORE_E_ARGS: i32 = -1;

/**
 * Scores `nRows` rows (row-major f64 at rowsPtr) and writes one f64 score per row at outPtr.
 * `cPsi` = c(ψ) of the model (> 0), computed by the caller.
 */
export function iforestScore(
  rowsPtr: usize, nRows: i32, nFeatures: i32,
  featPtr: usize, thrPtr: usize, leafPtr: usize, nTrees: i32, depth: i32, cPsi: f64,
  outPtr: usize,
): i32 {
  if (nRows < 0 || nFeatures < 1 || nTrees < 1 || depth < 0 || depth > 24 || !(cPsi > 0)) return IFOREST_SCORE_E_ARGS;
  const internal = (1 << depth) - 1;
  const leaves = 1 << depth;
  const rowBytes = <usize>nFeatures << 3;
  for (let i = 0; i < nRows; i++) store<f64>(outPtr + (<usize>i << 3), 0);
  for (let b0 = 0; b0 < nRows; b0 += BLOCK_ROWS) {
    const b1 = min(b0 + BLOCK_ROWS, nRows);
    for (let t = 0; t < nTrees; t++) {
      const feat = featPtr + (<usize>(t * internal) << 2);
      const thr = thrPtr + (<usize>(t * internal) << 3);
      const leaf = leafPtr + (<usize>(t * leaves) << 3);
      let r = b0;
      // Eight independent walks per iteration: each level is a load→compare→index chain, and
      // interleaving the chains hides its latency. Measured on one core, 8 dims, 100 trees:
      // 1 row at a time 0.46 M rows/s, 4 rows 0.82, 8 rows 1.17 (4 and 8 back to back, same load).
      for (; r + 8 <= b1; r += 8) {
        const row0 = rowsPtr + <usize>r * rowBytes;
        const row1 = row0 + rowBytes;
        const row2 = row1 + rowBytes;
        const row3 = row2 + rowBytes;
        const row4 = row3 + rowBytes;
        const row5 = row4 + rowBytes;
        const row6 = row5 + rowBytes;
        const row7 = row6 + rowBytes;
        let n0: i32 = 0, n1: i32 = 0, n2: i32 = 0, n3: i32 = 0, n4: i32 = 0, n5: i32 = 0, n6: i32 = 0, n7: i32 = 0;
        for (let level = 0; level < depth; level++) {
          const f0 = load<i32>(feat + (<usize>n0 << 2));
          const f1 = load<i32>(feat + (<usize>n1 << 2));
          const f2 = load<i32>(feat + (<usize>n2 << 2));
          const f3 = load<i32>(feat + (<usize>n3 << 2));
          const f4 = load<i32>(feat + (<usize>n4 << 2));
          const f5 = load<i32>(feat + (<usize>n5 << 2));
          const f6 = load<i32>(feat + (<usize>n6 << 2));
          const f7 = load<i32>(feat + (<usize>n7 << 2));
          n0 = 2 * n0 + 1 + <i32>(load<f64>(row0 + (<usize>f0 << 3)) > load<f64>(thr + (<usize>n0 << 3)));
          n1 = 2 * n1 + 1 + <i32>(load<f64>(row1 + (<usize>f1 << 3)) > load<f64>(thr + (<usize>n1 << 3)));
          n2 = 2 * n2 + 1 + <i32>(load<f64>(row2 + (<usize>f2 << 3)) > load<f64>(thr + (<usize>n2 << 3)));
          n3 = 2 * n3 + 1 + <i32>(load<f64>(row3 + (<usize>f3 << 3)) > load<f64>(thr + (<usize>n3 << 3)));
          n4 = 2 * n4 + 1 + <i32>(load<f64>(row4 + (<usize>f4 << 3)) > load<f64>(thr + (<usize>n4 << 3)));
          n5 = 2 * n5 + 1 + <i32>(load<f64>(row5 + (<usize>f5 << 3)) > load<f64>(thr + (<usize>n5 << 3)));
          n6 = 2 * n6 + 1 + <i32>(load<f64>(row6 + (<usize>f6 << 3)) > load<f64>(thr + (<usize>n6 << 3)));
          n7 = 2 * n7 + 1 + <i32>(load<f64>(row7 + (<usize>f7 << 3)) > load<f64>(thr + (<usize>n7 << 3)));
        }
        const o = outPtr + (<usize>r << 3);
        store<f64>(o, load<f64>(o) + load<f64>(leaf + (<usize>(n0 - internal) << 3)));
        store<f64>(o + 8, load<f64>(o + 8) + load<f64>(leaf + (<usize>(n1 - internal) << 3)));
        store<f64>(o + 16, load<f64>(o + 16) + load<f64>(leaf + (<usize>(n2 - internal) << 3)));
        store<f64>(o + 24, load<f64>(o + 24) + load<f64>(leaf + (<usize>(n3 - internal) << 3)));
        store<f64>(o + 32, load<f64>(o + 32) + load<f64>(leaf + (<usize>(n4 - internal) << 3)));
        store<f64>(o + 40, load<f64>(o + 40) + load<f64>(leaf + (<usize>(n5 - internal) << 3)));
        store<f64>(o + 48, load<f64>(o + 48) + load<f64>(leaf + (<usize>(n6 - internal) << 3)));
        store<f64>(o + 56, load<f64>(o + 56) + load<f64>(leaf + (<usize>(n7 - internal) << 3)));
      }
      for (; r < b1; r++) {
        const row = rowsPtr + <usize>r * rowBytes;
        let node: i32 = 0;
        for (let level = 0; level < depth; level++) {
          const f = load<i32>(feat + (<usize>node << 2));
          node = 2 * node + 1 + <i32>(load<f64>(row + (<usize>f << 3)) > load<f64>(thr + (<usize>node << 3)));
        }
        const o = outPtr + (<usize>r << 3);
        store<f64>(o, load<f64>(o) + load<f64>(leaf + (<usize>(node - internal) << 3)));
      }
    }
  }
  const scale = -1.0 / (<f64>nTrees * cPsi);
  for (let i = 0; i < nRows; i++) {
    const o = outPtr + (<usize>i << 3);
    store<f64>(o, Math.pow(2.0, load<f64>(o) * scale));
  }
  return IFOREST_SCORE_OK;
}
