/**
 * Scores large inputs across the piscina pool (src/analytics/iforest_score_task.ts): rows are cut
 * into slices, each slice is copied once into its own buffer and transferred to a worker, and
 * the model is shared through SharedArrayBuffers. Below PARALLEL_MIN_ROWS the call stays on the
 * calling thread, where a worker round trip would cost more than the scoring.
 */
import type { Piscina } from 'piscina';
import { availableParallelism } from 'node:os';
import { createWorkerPool } from '../workers/pool_factory.js';
import { scoreIsolationForest } from './iforest_wasm.js';
import type { IsolationForestModel } from './iforest_model.js';
import type { IforestScoreTask } from './iforest_score_task.js';

/** ~50 ms of scoring on one core (8 dims, 100 trees): smaller inputs gain nothing from workers. */
export const PARALLEL_MIN_ROWS = 50_000;
/** Slice size: large enough to amortise a message, small enough to balance 2–8 workers. */
const SLICE_ROWS = 65_536;

let sharedPool: Piscina | undefined;

/** The process-wide scoring pool (created on first use; threads start lazily and idle out). */
export function iforestPool(): Piscina {
  sharedPool ??= createWorkerPool(import.meta.url, './iforest_score_task', { maxThreads: availableParallelism() });
  return sharedPool;
}

/** Closes the shared pool (tests, CLI exit). */
export async function closeIforestPool(): Promise<void> {
  const pool = sharedPool;
  sharedPool = undefined;
  if (pool !== undefined) await pool.destroy();
}

function shareInt32(src: Int32Array): Int32Array {
  const out = new Int32Array(new SharedArrayBuffer(Math.max(src.byteLength, 4)), 0, src.length);
  out.set(src);
  return out;
}
function shareFloat64(src: Float64Array): Float64Array {
  const out = new Float64Array(new SharedArrayBuffer(Math.max(src.byteLength, 8)), 0, src.length);
  out.set(src);
  return out;
}

/** The model with its arrays on SharedArrayBuffers, so every task of a call shares one copy. */
export function shareModel(model: IsolationForestModel): IsolationForestModel {
  return {
    ...model,
    features: shareInt32(model.features),
    thresholds: shareFloat64(model.thresholds),
    leafPaths: shareFloat64(model.leafPaths),
  };
}

export interface ParallelScoreOptions {
  pool?: Piscina;
  /** Default PARALLEL_MIN_ROWS. */
  minRowsForPool?: number;
  sliceRows?: number;
}

export async function scoreIsolationForestParallel(
  model: IsolationForestModel,
  rows: Float64Array,
  options: ParallelScoreOptions = {},
): Promise<Float64Array> {
  const nF = model.nFeatures;
  if (rows.length % nF !== 0) throw new RangeError(`scoreIsolationForestParallel: rows.length=${rows.length} is not a multiple of nFeatures=${nF}`);
  const nRows = rows.length / nF;
  if (nRows < (options.minRowsForPool ?? PARALLEL_MIN_ROWS)) return scoreIsolationForest(model, rows);
  const pool = options.pool ?? iforestPool();
  const shared = shareModel(model);
  const sliceRows = options.sliceRows ?? SLICE_ROWS;
  const out = new Float64Array(nRows);
  const pending: Promise<void>[] = [];
  for (let r0 = 0; r0 < nRows; r0 += sliceRows) {
    const n = Math.min(sliceRows, nRows - r0);
    const slice = rows.slice(r0 * nF, (r0 + n) * nF);
    const task: IforestScoreTask = { model: shared, rows: slice };
    pending.push(
      (pool.run(task, { transferList: [slice.buffer] }) as Promise<Float64Array>).then((scores) => {
        out.set(scores, r0);
      }),
    );
  }
  await Promise.all(pending);
  return out;
}
