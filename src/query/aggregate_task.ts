/**
 * Query worker (piscina): decodes and aggregates whole series in WASM over its own ChunkSource
 * (a read-only SQLite connection, or a PostgreSQL or Redis client: chunk_sources.ts) and
 * returns one partial aggregate per group it touched, never points.
 *
 * The main thread hands over the heads' points of the series (the worker cannot see that
 * memory) and a snapshot bound `maxChunkId`: chunks cut after the heads were copied hold the
 * same points and are skipped. Corrupt chunks come back as data (`corrupt`), because an Error
 * crossing threads loses its class; the main thread rebuilds the CorruptChunkError.
 */
import { BucketAccumulator } from '../core/bucket_accumulator.js';
import { summaryUsable } from '../core/chunk_summary.js';
import { packPartials, packResults, packedTransferList, resultsTransferList, type PackedPartials, type PackedResults } from './partial_packing.js';
import { CorruptChunkError } from '../storage/chunk_rows.js';
import { accumulateSeriesList } from './series_reader.js';
import { openChunkSource, sourceKey } from '../storage/chunk_sources.js';
import type { ChunkSource, WorkerSourceSpec } from '../storage/backend.js';
import type { Aggregation } from '../model/api.js';
import { Piscina, transferableSymbol, valueSymbol } from 'piscina';

export interface AggregateTaskInput {
  source: WorkerSourceSpec;
  aggregation: Aggregation;
  intervalMs: number;
  startMs: number;
  endMs: number;
  maxChunkId: number;
  /** Series to read, grouped: every series of one group that this task owns is contiguous. */
  seriesIds: Int32Array;
  /** Group (result) index of each series. */
  groupOf: Int32Array;
  /** Head points: series k's are headTimestamps[headOffsets[k] … headOffsets[k+1]). */
  headOffsets: Int32Array;
  headTimestamps: Float64Array;
  headValues: Float64Array;
  /** Groups all of whose series are in this task: finished here, returned as results. */
  finishGroups?: Int32Array;
}

export interface AggregateTaskOutput {
  /** A partial per group shared with other tasks; undefined when it failed on a corrupt chunk. */
  partials?: PackedPartials;
  /** The result of each group in `finishGroups`. */
  finished?: PackedResults;
  pointsScanned: number;
  corrupt?: { seriesId: number; chunkId: number; detail: string };
  /** The head columns' buffers, handed back for the next query (head_task_buffers.ts). */
  headBuffers?: ArrayBuffer[];
}

/** One source per store, kept for the worker's life (opening one is a file open or a connection). */
const sources = new Map<string, Promise<ChunkSource>>();

export function sourceFor(spec: WorkerSourceSpec): Promise<ChunkSource> {
  const key = sourceKey(spec);
  let source = sources.get(key);
  if (source === undefined) {
    source = openChunkSource(spec);
    sources.set(key, source);
    source.catch(() => sources.delete(key));
  }
  return source;
}

export default async function aggregateTask(input: AggregateTaskInput): Promise<unknown> {
  const source = await sourceFor(input.source);
  const options = { aggregation: input.aggregation, intervalMs: input.intervalMs, startMs: input.startMs, endMs: input.endMs };
  const accumulators = new Map<number, BucketAccumulator>();
  let pointsScanned = 0;
  const headOf = (k: number): { timestamps: Float64Array; values: Float64Array } | undefined => {
    const a = input.headOffsets[k]!;
    const b = input.headOffsets[k + 1]!;
    return b > a ? { timestamps: input.headTimestamps.subarray(a, b), values: input.headValues.subarray(a, b) } : undefined;
  };
  const read = { startMs: input.startMs, endMs: input.endMs, maxChunkId: input.maxChunkId, intervalMs: input.intervalMs, summaries: summaryUsable(input.aggregation) };
  try {
    // The main thread holds the snapshot bound: chunks up to maxChunkId stay until the task returns.
    pointsScanned = await accumulateSeriesList(source, input.seriesIds.length, (k) => {
      const group = input.groupOf[k]!;
      let acc = accumulators.get(group);
      if (acc === undefined) {
        acc = new BucketAccumulator(options);
        accumulators.set(group, acc);
      }
      return { seriesId: input.seriesIds[k]!, seriesName: '', head: headOf(k), acc };
    }, read, input.aggregation === 'rate');
  } catch (error) {
    if (error instanceof CorruptChunkError) {
      const detail = error.message.replace(/^.*? cannot be decoded: /, '');
      return { pointsScanned, corrupt: { seriesId: error.seriesId, chunkId: error.chunkId, detail } };
    }
    throw error;
  }
  const finish = new Set(input.finishGroups ?? []);
  const partialGroups: number[] = [];
  const partialStates = [];
  const finishedGroups: number[] = [];
  const finishedResults = [];
  for (const [group, acc] of accumulators) {
    if (finish.has(group)) {
      finishedGroups.push(group);
      finishedResults.push(acc.finish());
    } else {
      partialGroups.push(group);
      partialStates.push(acc.toPartial());
    }
  }
  const partials = packPartials(partialGroups, partialStates, options);
  const finished = packResults(finishedGroups, finishedResults);
  const headBuffers = [input.headTimestamps.buffer as ArrayBuffer, input.headValues.buffer as ArrayBuffer];
  const output: AggregateTaskOutput = { partials, finished, pointsScanned, headBuffers };
  const transfer = [...packedTransferList(partials), ...resultsTransferList(finished), ...headBuffers];
  // Partials travel in the transfer list, not through structured clone.
  return Piscina.move({
    get [transferableSymbol]() { return transfer; },
    get [valueSymbol]() { return output; },
  } as never);
}
