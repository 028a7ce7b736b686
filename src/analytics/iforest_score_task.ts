/**
 * Piscina worker: scores one slice of rows with the WASM isolation forest
 * (src/analytics/iforest_wasm.ts). The model's arrays arrive over SharedArrayBuffers (shared,
 * not copied, by every task of one call); the rows arrive as a transferred Float64Array and the
 * scores go back the same way (piscina `move`), so no slice is structured-cloned.
 */
import { move } from 'piscina';
import { scoreIsolationForest } from './iforest_wasm.js';
import type { IsolationForestModel } from './iforest_model.js';

export interface IforestScoreTask {
  model: IsolationForestModel;
  rows: Float64Array;
}

export default function iforestScoreTask(task: IforestScoreTask): Float64Array {
  const scores = scoreIsolationForest(task.model, task.rows);
  return move(scores) as Float64Array;
}
