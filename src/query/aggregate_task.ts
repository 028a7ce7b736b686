/**
 * Query worker (piscina): decodes and aggregates whole series in WASM over its own read-only
 * connection and returns one partial aggregate per group it touched, never points.
 *
 * The main thread hands over the heads' points of the series (the worker cannot see that
 * memory) and a snapshot bound `maxChunkId`: chunks cut after the heads were copied hold the
 * same points and are skipped. Corrupt chunks come back as data (`corrupt`), because an Error
 * crossing threads loses its class; the main thread rebuilds the CorruptChunkError.
 */
import type Database from 'better-sqlite3';
import { openReaderConnection } from './reader_connection.js';
import { BucketAccumulator } from '../core/bucket_accumulator.js';
import { summaryUsable } from '../core/chunk_summary.js';
import { packPartials, packResults, packedTransferList, resultsTransferList, type PackedPartials, type PackedResults } from './partial_packing.js';
import { CorruptChunkError, type ChunkRow } from '../storage/chunk_store.js';
import { ChunkReader, PREFETCH_SERIES, accumulateSeries } from './series_reader.js';
import type { Aggregation } from '../model/api.js';
import { Piscina, transferableSymbol, valueSymbol } from 'piscina';

export interface AggregateTaskInput {
  dbPath: string;
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
}

const connections = new Map<string, { db: Database.Database; reader: ChunkReader }>();

function readerFor(path: string): ChunkReader {
  let c = connections.get(path);
  if (c === undefined) {
    const db = openReaderConnection(path);
    c = { db, reader: new ChunkReader(db) };
    connections.set(path, c);
  }
  return c.reader;
}

export default function aggregateTask(input: AggregateTaskInput): unknown {
  const reader = readerFor(input.dbPath);
  const options = { aggregation: input.aggregation, intervalMs: input.intervalMs, startMs: input.startMs, endMs: input.endMs };
  const accumulators = new Map<number, BucketAccumulator>();
  let pointsScanned = 0;
  try {
    // One read transaction for the whole task: every series sees the same database state.
    reader.snapshot(() => {
      const summaries = summaryUsable(input.aggregation);
      let prefetched = new Map<number, ChunkRow[]>();
      for (let k = 0; k < input.seriesIds.length; k++) {
        if (k % PREFETCH_SERIES === 0) {
          const slice = Array.from(input.seriesIds.subarray(k, k + PREFETCH_SERIES));
          prefetched = reader.rowsForAggregationMany(slice, input.startMs, input.endMs, input.maxChunkId, input.intervalMs, summaries);
        }
        const group = input.groupOf[k]!;
        let acc = accumulators.get(group);
        if (acc === undefined) {
          acc = new BucketAccumulator(options);
          accumulators.set(group, acc);
        }
        acc.beginSeries();
        const a = input.headOffsets[k]!;
        const b = input.headOffsets[k + 1]!;
        pointsScanned += accumulateSeries(reader, acc, {
          seriesId: input.seriesIds[k]!,
          seriesName: '',
          head: b > a ? { timestamps: input.headTimestamps.subarray(a, b), values: input.headValues.subarray(a, b) } : undefined,
          startMs: input.startMs,
          endMs: input.endMs,
          maxChunkId: input.maxChunkId,
        }, prefetched.get(input.seriesIds[k]!));
      }
    });
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
  const output: AggregateTaskOutput = { partials, finished, pointsScanned };
  const transfer = [...packedTransferList(partials), ...resultsTransferList(finished)];
  // Partials travel in the transfer list, not through structured clone.
  return Piscina.move({
    get [transferableSymbol]() { return transfer; },
    get [valueSymbol]() { return output; },
  } as never);
}
