/**
 * Isolation forest on the WASM kernels (build/iforest.wasm): `fitIsolationForest` and the
 * single-thread `scoreIsolationForest`. Large inputs are scored across the worker pool by
 * iforest_parallel.ts. The model layout is iforest_model.ts; results equal iforest_reference.ts.
 */
import { wasmInstance, type ScratchExports, type WasmInstance } from '../core/wasm_instance.js';
import {
  assertFiniteRows,
  averagePathLength,
  averagePathLengthTable,
  resolveForestOptions,
  type IsolationForestModel,
  type IsolationForestOptions,
} from './iforest_model.js';

interface IforestExports extends ScratchExports {
  iforestFit(
    rowsPtr: number, nRows: number, nFeatures: number, nTrees: number, sampleSize: number, depth: number, seed: number,
    cTablePtr: number, featOut: number, thrOut: number, leafOut: number,
  ): number;
  iforestScore(
    rowsPtr: number, nRows: number, nFeatures: number, featPtr: number, thrPtr: number, leafPtr: number,
    nTrees: number, depth: number, cPsi: number, outPtr: number,
  ): number;
}

/** Status codes of assembly/iforest_fit.ts and assembly/iforest_score.ts. */
export const IFOREST_E_ARGS = -1;

export function iforestWasm(): WasmInstance<IforestExports> {
  return wasmInstance<IforestExports>('iforest');
}

function checkRows(rows: Float64Array, nFeatures: number, what: string): number {
  if (!Number.isInteger(nFeatures) || nFeatures < 1) throw new RangeError(`${what}: nFeatures=${nFeatures} must be a positive integer`);
  if (rows.length % nFeatures !== 0) {
    throw new RangeError(`${what}: rows.length=${rows.length} is not a multiple of nFeatures=${nFeatures}`);
  }
  return rows.length / nFeatures;
}

/** Fits a forest on row-major `rows` (nRows × nFeatures) in WASM. */
export function fitIsolationForest(rows: Float64Array, nFeatures: number, options: IsolationForestOptions = {}): IsolationForestModel {
  const nRows = checkRows(rows, nFeatures, 'fitIsolationForest');
  const { trees, sampleSize, depth, seed } = resolveForestOptions(nRows, nFeatures, options);
  assertFiniteRows(rows, nFeatures);
  const wasm = iforestWasm();
  const internal = 2 ** depth - 1;
  const leaves = 2 ** depth;
  try {
    const rowsPtr = wasm.writeF64(rows);
    const cPtr = wasm.writeF64(averagePathLengthTable(sampleSize));
    const featPtr = wasm.alloc(Math.max(trees * internal, 1) * 4);
    const thrPtr = wasm.alloc(Math.max(trees * internal, 1) * 8);
    const leafPtr = wasm.alloc(trees * leaves * 8);
    const status = wasm.exports.iforestFit(rowsPtr, nRows, nFeatures, trees, sampleSize, depth, seed, cPtr, featPtr, thrPtr, leafPtr);
    if (status !== 0) throw new Error(`BUG: iforestFit returned status ${status} for rows=${nRows} features=${nFeatures} trees=${trees} sampleSize=${sampleSize}`);
    const features = wasm.i32().slice(featPtr >>> 2, (featPtr >>> 2) + trees * internal);
    const thresholds = wasm.readF64(thrPtr, trees * internal);
    const leafPaths = wasm.readF64(leafPtr, trees * leaves);
    return { nFeatures, nTrees: trees, sampleSize, depth, features, thresholds, leafPaths };
  } finally {
    wasm.reset();
  }
}

/** Scores rows in WASM on the calling thread, writing into `out` when given. */
export function scoreIsolationForest(model: IsolationForestModel, rows: Float64Array, out?: Float64Array): Float64Array {
  const nRows = checkRows(rows, model.nFeatures, 'scoreIsolationForest');
  const result = out ?? new Float64Array(nRows);
  if (result.length < nRows) throw new RangeError(`scoreIsolationForest: out.length=${result.length} < rows=${nRows}`);
  const cPsi = averagePathLength(model.sampleSize);
  if (!(cPsi > 0)) return result.fill(0.5, 0, nRows);
  const wasm = iforestWasm();
  try {
    const featPtr = wasm.alloc(Math.max(model.features.length, 1) * 4);
    wasm.i32().set(model.features, featPtr >>> 2);
    const thrPtr = wasm.writeF64(model.thresholds);
    const leafPtr = wasm.writeF64(model.leafPaths);
    // Bounded blocks keep WASM memory small whatever the input size.
    const blockRows = Math.max(1, Math.floor((1 << 20) / model.nFeatures));
    const rowsPtr = wasm.alloc(blockRows * model.nFeatures * 8);
    const outPtr = wasm.alloc(blockRows * 8);
    for (let r0 = 0; r0 < nRows; r0 += blockRows) {
      const n = Math.min(blockRows, nRows - r0);
      wasm.f64().set(rows.subarray(r0 * model.nFeatures, (r0 + n) * model.nFeatures), rowsPtr >>> 3);
      const status = wasm.exports.iforestScore(
        rowsPtr, n, model.nFeatures, featPtr, thrPtr, leafPtr, model.nTrees, model.depth, cPsi, outPtr,
      );
      if (status !== 0) throw new Error(`BUG: iforestScore returned status ${status} (trees=${model.nTrees} depth=${model.depth})`);
      result.set(wasm.f64().subarray(outPtr >>> 3, (outPtr >>> 3) + n), r0);
    }
    return result;
  } finally {
    wasm.reset();
  }
}
