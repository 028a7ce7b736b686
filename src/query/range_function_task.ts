/**
 * Query worker task (piscina, in the query engine's pool): a PromQL range function of whole
 * series, read over the worker's own ChunkSource (range_function_read.ts). Only the step
 * values come back, moved, not cloned: for a day at a 60 s step that is 1,441 values a series
 * instead of its 8,640 points.
 *
 * As in aggregate_task.ts, the main thread hands over the heads' points and the snapshot bound,
 * and a corrupt chunk comes back as data (an Error crossing threads loses its class).
 */
import { Piscina, transferableSymbol, valueSymbol } from 'piscina';
import type { WorkerSourceSpec } from '../storage/backend.js';
import { CorruptChunkError } from '../storage/chunk_rows.js';
import { sourceFor } from './aggregate_task.js';
import { evaluateRangeSeries, newRangeOutput, type RangeFunctionSpec, type RangeOutput, type RangeRead } from './range_function_read.js';

export interface RangeFunctionTaskInput extends RangeFunctionSpec, RangeRead {
  source: WorkerSourceSpec;
  seriesIds: Int32Array;
  /** Head points: series k's are headTimestamps[headOffsets[k] … headOffsets[k+1]). */
  headOffsets: Int32Array;
  headTimestamps: Float64Array;
  headValues: Float64Array;
}

export interface RangeFunctionTaskOutput extends RangeOutput {
  corrupt?: { seriesId: number; chunkId: number; detail: string };
}

export default async function rangeFunctionTask(input: RangeFunctionTaskInput): Promise<unknown> {
  const source = await sourceFor(input.source);
  const out = newRangeOutput(input.seriesIds.length, input.stepsMs.length);
  try {
    // The main thread holds the snapshot bound: chunks up to maxChunkId stay until the task returns.
    await evaluateRangeSeries(source, input.seriesIds.length, (k) => {
      const a = input.headOffsets[k]!;
      const b = input.headOffsets[k + 1]!;
      const head = b > a ? { timestamps: input.headTimestamps.subarray(a, b), values: input.headValues.subarray(a, b) } : undefined;
      return { seriesId: input.seriesIds[k]!, seriesName: '', head };
    }, input, input, out);
  } catch (error) {
    if (error instanceof CorruptChunkError) {
      const detail = error.message.replace(/^.*? cannot be decoded: /, '');
      return { ...newRangeOutput(0, 0), corrupt: { seriesId: error.seriesId, chunkId: error.chunkId, detail } } satisfies RangeFunctionTaskOutput;
    }
    throw error;
  }
  const output: RangeFunctionTaskOutput = out;
  const transfer = [out.values.buffer, out.present.buffer, out.points.buffer];
  return Piscina.move({
    get [transferableSymbol]() { return transfer; },
    get [valueSymbol]() { return output; },
  } as never);
}
