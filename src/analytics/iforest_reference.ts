/**
 * Plain-TypeScript isolation forest: the reference the WASM kernels are tested against (same
 * random stream, same arithmetic, so the fitted arrays are identical), and the scorer used where
 * a forest is tiny (the streaming detector scores one point at a time). Layout and conventions:
 * iforest_model.ts.
 */
import { SeededRandom } from './seeded_random.js';
import {
  averagePathLengthTable,
  resolveForestOptions,
  scoreFromMeanPath,
  type IsolationForestModel,
  type IsolationForestOptions,
} from './iforest_model.js';

/** Fits on `rows` (row-major, nRows × nFeatures). */
export function fitIsolationForestReference(rows: Float64Array, nFeatures: number, options: IsolationForestOptions = {}): IsolationForestModel {
  const nRows = rows.length / nFeatures;
  const { trees, sampleSize, depth, seed } = resolveForestOptions(nRows, nFeatures, options);
  const internal = 2 ** depth - 1;
  const leaves = 2 ** depth;
  const features = new Int32Array(trees * internal);
  const thresholds = new Float64Array(trees * internal).fill(Infinity);
  const leafPaths = new Float64Array(trees * leaves);
  const cTable = averagePathLengthTable(sampleSize);
  const rng = new SeededRandom(seed);
  const perm = new Int32Array(nRows);
  for (let i = 0; i < nRows; i++) perm[i] = i;
  const work = new Int32Array(sampleSize);
  const candidates = new Int32Array(nFeatures);

  const build = (t: number, node: number, level: number, start: number, end: number): void => {
    const count = end - start;
    if (level < depth && count > 1) {
      for (let f = 0; f < nFeatures; f++) candidates[f] = f;
      let nCand = nFeatures;
      while (nCand > 0) {
        const k = rng.below(nCand);
        const f = candidates[k]!;
        let lo = Infinity;
        let hi = -Infinity;
        for (let i = start; i < end; i++) {
          const v = rows[work[i]! * nFeatures + f]!;
          if (v < lo) lo = v;
          if (v > hi) hi = v;
        }
        if (hi > lo) {
          let thr = lo + rng.uniform() * (hi - lo);
          if (thr >= hi) thr = lo;
          // Partition work[start, end) so rows with x <= thr come first.
          let mid = start;
          for (let i = start; i < end; i++) {
            const r = work[i]!;
            if (rows[r * nFeatures + f]! <= thr) {
              work[i] = work[mid]!;
              work[mid] = r;
              mid++;
            }
          }
          features[t * internal + node] = f;
          thresholds[t * internal + node] = thr;
          build(t, 2 * node + 1, level + 1, start, mid);
          build(t, 2 * node + 2, level + 1, mid, end);
          return;
        }
        // Constant in this node: never draw it again here.
        candidates[k] = candidates[nCand - 1]!;
        nCand--;
      }
    }
    // Leaf: every bottom slot below it holds its path length.
    const span = 2 ** (depth - level);
    const first = (node + 1) * span - 1 - internal;
    const value = level + cTable[count]!;
    leafPaths.fill(value, t * leaves + first, t * leaves + first + span);
  };

  for (let t = 0; t < trees; t++) {
    // Partial Fisher–Yates: the first ψ entries become a uniform sample without replacement.
    for (let i = 0; i < sampleSize; i++) {
      const j = i + rng.below(nRows - i);
      const a = perm[i]!;
      perm[i] = perm[j]!;
      perm[j] = a;
      work[i] = perm[i]!;
    }
    build(t, 0, 0, 0, sampleSize);
  }
  return { nFeatures, nTrees: trees, sampleSize, depth, features, thresholds, leafPaths };
}

/** Mean path length E[h(x)] of one row starting at `offset` of `rows`. */
export function meanPathLength(model: IsolationForestModel, rows: ArrayLike<number>, offset: number): number {
  const internal = 2 ** model.depth - 1;
  const leaves = internal + 1;
  let sum = 0;
  for (let t = 0; t < model.nTrees; t++) {
    const base = t * internal;
    let node = 0;
    for (let level = 0; level < model.depth; level++) {
      const f = model.features[base + node]!;
      node = 2 * node + (rows[offset + f]! > model.thresholds[base + node]! ? 2 : 1);
    }
    sum += model.leafPaths[t * leaves + node - internal]!;
  }
  return sum / model.nTrees;
}

/** s(x) for every row: in (0, 1], higher = more anomalous. */
export function scoreIsolationForestReference(model: IsolationForestModel, rows: Float64Array): Float64Array {
  const n = rows.length / model.nFeatures;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = scoreFromMeanPath(meanPathLength(model, rows, i * model.nFeatures), model.sampleSize);
  return out;
}
