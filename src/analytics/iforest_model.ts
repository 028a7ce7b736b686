/**
 * The isolation-forest model shared by the WASM kernels (assembly/iforest_fit.ts,
 * assembly/iforest_score.ts) and the TypeScript reference (iforest_reference.ts).
 *
 * Liu, Ting, Zhou, "Isolation Forest", ICDM 2008, https://doi.org/10.1109/ICDM.2008.17, with
 * scikit-learn's conventions (sklearn/ensemble/_iforest.py): sub-sample ψ = min(sampleSize, rows)
 * drawn without replacement, depth limit ceil(log2(max(ψ, 2))), splits drawn only on a feature
 * that varies within the node, threshold uniform in [min, max), `x <= threshold` goes left,
 * a leaf adds c(n) for the n training rows it holds, and s(x) = 2^(−E[h(x)] / c(ψ)).
 * Unlike sklearn, inputs stay float64 (sklearn casts to float32): the ROC AUCs on the shared
 * anchor sets match sklearn's within the README margins anyway (bench/iforest.bench.ts).
 *
 * Layout: every tree is a complete binary tree of depth `depth`, so scoring walks exactly
 * `depth` levels without a branch on "is this a leaf" (measured the faster form in
 * bench/iforest.bench.ts). A leaf above the bottom level becomes a chain of always-left nodes
 * (feature 0, threshold +Infinity) and its path length is stored in every bottom slot below it.
 *
 *   features[t * internal + i]   Int32   split feature of internal node i of tree t (i < 2^depth − 1)
 *   thresholds[t * internal + i] Float64 split value; children of i are 2i+1 (x <= thr) and 2i+2
 *   leafPaths[t * leaves + j]    Float64 depth of the leaf + c(n) for bottom slot j (j < 2^depth)
 */

export interface IsolationForestModel {
  readonly nFeatures: number;
  readonly nTrees: number;
  /** ψ actually used: min(requested sample size, training rows). */
  readonly sampleSize: number;
  readonly depth: number;
  readonly features: Int32Array;
  readonly thresholds: Float64Array;
  readonly leafPaths: Float64Array;
}

export interface IsolationForestOptions {
  /** Default 100. */
  trees?: number;
  /** Default 256; capped at the number of rows, as scikit-learn does. */
  sampleSize?: number;
  /** Default 1. */
  seed?: number;
}

/** Larger ψ makes 2^depth-slot trees: 2^14 slots × 100 trees is ~20 MB, the most we accept. */
export const MAX_SAMPLE_SIZE = 16384;
export const MAX_TREES = 10000;

const EULER_GAMMA = 0.5772156649015329;

/** Average path length of an unsuccessful BST search among n points: c(n) of the paper (sklearn's _average_path_length). */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0;
  if (n === 2) return 1;
  return 2 * (Math.log(n - 1) + EULER_GAMMA) - (2 * (n - 1)) / n;
}

/** c(0..n) precomputed so WASM and TS use the very same values (their Math.log may differ by an ulp). */
export function averagePathLengthTable(n: number): Float64Array {
  const table = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) table[i] = averagePathLength(i);
  return table;
}

export function depthLimit(sampleSize: number): number {
  let depth = 0;
  while (2 ** depth < Math.max(sampleSize, 2)) depth++;
  return depth;
}

export interface ResolvedForestOptions {
  trees: number;
  sampleSize: number;
  depth: number;
  seed: number;
}

/** Validates options against the data shape; errors name the option, the value and the range. */
export function resolveForestOptions(nRows: number, nFeatures: number, options: IsolationForestOptions): ResolvedForestOptions {
  const trees = options.trees ?? 100;
  const requested = options.sampleSize ?? 256;
  const seed = options.seed ?? 1;
  if (!Number.isInteger(nRows) || nRows < 1) throw new RangeError(`iforest: rows=${nRows} must be a positive integer (nothing to fit)`);
  if (!Number.isInteger(nFeatures) || nFeatures < 1) throw new RangeError(`iforest: features=${nFeatures} must be a positive integer`);
  if (!Number.isInteger(trees) || trees < 1 || trees > MAX_TREES) throw new RangeError(`iforest: options.trees=${trees} must be an integer in [1, ${MAX_TREES}]`);
  if (!Number.isInteger(requested) || requested < 1 || requested > MAX_SAMPLE_SIZE) {
    throw new RangeError(`iforest: options.sampleSize=${requested} must be an integer in [1, ${MAX_SAMPLE_SIZE}]`);
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`iforest: options.seed=${seed} must be an integer in [0, 2^32)`);
  const sampleSize = Math.min(requested, nRows);
  return { trees, sampleSize, depth: depthLimit(sampleSize), seed };
}

/** Throws on NaN/±Infinity: a split over a non-finite value is meaningless (sklearn refuses them too). */
export function assertFiniteRows(rows: Float64Array, nFeatures: number): void {
  for (let i = 0; i < rows.length; i++) {
    const v = rows[i]!;
    if (!Number.isFinite(v)) {
      throw new RangeError(`iforest: rows[${Math.floor(i / nFeatures)}][${i % nFeatures}]=${v} must be a finite number`);
    }
  }
}

export function scoreFromMeanPath(meanPath: number, sampleSize: number): number {
  const c = averagePathLength(sampleSize);
  // ψ = 1: c(1) = 0 and every tree is one leaf, so no point is more isolated than another: 0.5.
  return c > 0 ? 2 ** (-meanPath / c) : 0.5;
}
