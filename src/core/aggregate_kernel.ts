/**
 * The JS binding of the aggregation kernels in build/emms.wasm (assembly/aggregate.ts,
 * assembly/aggregate_chunk.ts, assembly/decode_aggregate.ts, assembly/percentile.ts): their
 * exports, the constants they share with JS (modes, record fields, IO slots, statuses), and
 * the batched percentile call. Semantics and layouts: docs/format/aggregation.md ("How the
 * kernel works"). The state that outlives a call is BucketAccumulator's
 * (src/core/bucket_accumulator.ts).
 */
import type { Aggregation } from '../model/api.js';
import { wasmInstance, type ScratchExports, type WasmInstance } from './wasm_instance.js';

/** Raw exports of build/emms.wasm used for aggregation. */
export interface AggregateExports extends ScratchExports {
  accumulatePoints(
    tsPtr: number, valPtr: number, n: number, mode: number,
    intervalMs: number, startMs: number, endMs: number,
    ioPtr: number, outPtr: number, cap: number,
  ): number;
  accumulateChunk(
    inPtr: number, inLen: number, mode: number,
    intervalMs: number, startMs: number, endMs: number, ioPtr: number,
  ): number;
  /** accumulateChunk's fast path (assembly/decode_aggregate.ts); falls back to it by itself. */
  accumulateChunkFused(
    inPtr: number, inLen: number, mode: number,
    intervalMs: number, startMs: number, endMs: number, ioPtr: number,
  ): number;
  codecErrorSection(): number;
  codecErrorBit(): number;
  codecErrorLimitBits(): number;
  percentilesByBucket(
    valPtr: number, n: number, runBucketPtr: number, runCountPtr: number, nRuns: number,
    nBuckets: number, q: number, outPtr: number,
  ): number;
}

// Kernel modes, record fields, IO slots and statuses: mirrors of the constants in
// assembly/aggregate.ts (tests/unit/aggregate.test.ts checks the exported ones agree).
export const MODE_COUNT = 0;
export const MODE_SUM = 1;
export const MODE_MIN = 2;
export const MODE_MAX = 3;
export const MODE_FIRST = 4;
export const MODE_LAST = 5;
export const MODE_MOMENTS = 6;
export const MODE_RATE = 7;
export const MODE_VALUES = 8;

export const REC_BUCKET = 0;
export const REC_COUNT = 1;
export const REC_SUM = 2;
export const REC_MIN = 3;
export const REC_MAX = 4;
export const REC_FIRST_TS = 5;
export const REC_FIRST_VAL = 6;
export const REC_LAST_TS = 7;
export const REC_LAST_VAL = 8;
export const REC_MEAN = 9;
export const REC_M2 = 10;
export const REC_INCREASE = 11;
export const REC_FIELDS = 12;

export const IO_PREV_TS = 0;
export const IO_PREV_VAL = 1;
export const IO_HAS_PREV = 2;
export const IO_ERROR_INDEX = 3;
export const IO_SLICE_START = 4;
export const IO_SLICE_END = 5;
export const IO_RECORDS_PTR = 6;
export const IO_VALUES_PTR = 7;
export const IO_FIELDS = 8;

export const E_AGG_UNSORTED = -1001;
export const E_AGG_NAN = -1002;
export const E_AGG_CAPACITY = -1003;

/** The kernel mode computing each aggregation (avg is a sum divided at the end, percentiles keep values). */
export const MODE_OF: Readonly<Record<Aggregation, number>> = {
  count: MODE_COUNT, sum: MODE_SUM, avg: MODE_SUM, min: MODE_MIN, max: MODE_MAX,
  first: MODE_FIRST, last: MODE_LAST, stddev: MODE_MOMENTS, rate: MODE_RATE,
  p50: MODE_VALUES, p90: MODE_VALUES, p95: MODE_VALUES, p99: MODE_VALUES,
};

/** The quantile of each percentile aggregation. */
export const QUANTILE_OF: Readonly<Partial<Record<Aggregation, number>>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

/**
 * Most values copied into WASM per percentilesByBucket call (32 MiB of float64s). WASM memory
 * never shrinks, so this bounds what one huge percentile query leaves behind on its thread.
 */
export const PERCENTILE_VALUES_PER_CALL = 4_194_304;

/**
 * Merges the record at rec[o …] into slot `slot` of an accumulator's dense columns (count, x, y;
 * what x and y hold per mode: AggregatePartial in src/core/aggregate_partial.ts).
 */
export function mergeRecord(
  mode: number, rec: Float64Array, o: number, slot: number, count: Float64Array, x: Float64Array, y: Float64Array,
): void {
  const c = rec[o + REC_COUNT]!;
  const before = count[slot]!;
  count[slot] = before + c;
  switch (mode) {
    case MODE_SUM:
      x[slot]! += rec[o + REC_SUM]!;
      break;
    case MODE_MIN:
      if (rec[o + REC_MIN]! < x[slot]!) x[slot] = rec[o + REC_MIN]!;
      break;
    case MODE_MAX:
      if (rec[o + REC_MAX]! > x[slot]!) x[slot] = rec[o + REC_MAX]!;
      break;
    case MODE_FIRST:
      // Strictly earlier: on a tie the value fed first stays.
      if (before === 0 || rec[o + REC_FIRST_TS]! < x[slot]!) {
        x[slot] = rec[o + REC_FIRST_TS]!;
        y[slot] = rec[o + REC_FIRST_VAL]!;
      }
      break;
    case MODE_LAST:
      // Not earlier: on a tie the value fed last wins, as a later point of a series does.
      if (before === 0 || rec[o + REC_LAST_TS]! >= x[slot]!) {
        x[slot] = rec[o + REC_LAST_TS]!;
        y[slot] = rec[o + REC_LAST_VAL]!;
      }
      break;
    case MODE_MOMENTS: {
      // Chan, Golub & LeVeque's pairwise update of mean and M2.
      const mean = rec[o + REC_MEAN]!;
      const m2 = rec[o + REC_M2]!;
      if (before === 0) {
        x[slot] = mean;
        y[slot] = m2;
      } else {
        const total = before + c;
        const delta = mean - x[slot]!;
        x[slot]! += (delta * c) / total;
        y[slot]! += m2 + (delta * delta * before * c) / total;
      }
      break;
    }
    case MODE_RATE:
      x[slot]! += rec[o + REC_INCREASE]!;
      break;
    default: // MODE_COUNT: count only
  }
}

let cachedInstance: WasmInstance<AggregateExports> | undefined;
/** The thread's emms.wasm instance (shared with the codec; every call leaves its heap reset). */
export function aggregateInstance(): WasmInstance<AggregateExports> {
  cachedInstance ??= wasmInstance<AggregateExports>('emms');
  return cachedInstance;
}

/** Raw values grouped in runs: run r is runCounts[r] consecutive values of bucket runBuckets[r]. */
export interface ValueRuns {
  values: Float64Array;
  runBuckets: Float64Array;
  runCounts: Int32Array;
}

/**
 * The q-quantile of every bucket lo … lo + nBuckets − 1 (bucket numbers) of the runs, indexed
 * from lo, and the number of values per bucket (a bucket without values has no meaningful
 * quantile: callers leave it out). Calls the kernel on batches of whole buckets holding at most
 * `valuesPerCall` values (one bucket may hold more and then goes alone); the batch size does
 * not change the result.
 */
export function bucketPercentiles(
  runs: ValueRuns, lo: number, nBuckets: number, q: number, valuesPerCall = PERCENTILE_VALUES_PER_CALL,
): { counts: Float64Array; perBucket: Float64Array } {
  const counts = new Float64Array(nBuckets);
  for (let r = 0; r < runs.runCounts.length; r++) counts[runs.runBuckets[r]! - lo]! += runs.runCounts[r]!;
  const perBucket = new Float64Array(nBuckets);
  for (let b0 = 0; b0 < nBuckets;) {
    let total = counts[b0]!;
    let b1 = b0 + 1;
    while (b1 < nBuckets && total + counts[b1]! <= valuesPerCall) total += counts[b1++]!;
    percentilesOfBatch(runs, lo, b0, b1, total, nBuckets, q, perBucket);
    b0 = b1;
  }
  return { counts, perBucket };
}

/** Percentiles of buckets lo+b0 … lo+b1−1 (holding `total` values) into perBucket[b0 … b1−1]. */
function percentilesOfBatch(
  runs: ValueRuns, lo: number, b0: number, b1: number, total: number, nBuckets: number, q: number, perBucket: Float64Array,
): void {
  const inst = aggregateInstance();
  const nRuns = runs.runCounts.length;
  try {
    const everything = b0 === 0 && b1 === nBuckets;
    const valPtr = inst.alloc(Math.max(total, 1) * 8);
    const runBucketPtr = inst.alloc(Math.max(nRuns, 1) * 4);
    const runCountPtr = inst.alloc(Math.max(nRuns, 1) * 4);
    const outPtr = inst.alloc((b1 - b0) * 8);
    const f64 = inst.f64();
    const i32 = inst.i32();
    if (everything) f64.set(runs.values, valPtr >>> 3);
    let batchRuns = 0;
    let copied = 0;
    let start = 0; // offset of run r's values in runs.values
    for (let r = 0; r < nRuns; r++) {
      const bucket = runs.runBuckets[r]! - lo;
      const count = runs.runCounts[r]!;
      if (bucket >= b0 && bucket < b1) {
        if (!everything) f64.set(runs.values.subarray(start, start + count), (valPtr >>> 3) + copied);
        i32[(runBucketPtr >>> 2) + batchRuns] = bucket - b0;
        i32[(runCountPtr >>> 2) + batchRuns] = count;
        batchRuns++;
        copied += count;
      }
      start += count;
    }
    const status = inst.exports.percentilesByBucket(valPtr, copied, runBucketPtr, runCountPtr, batchRuns, b1 - b0, q, outPtr);
    if (status < 0 || copied !== total) {
      throw new Error(`BUG: percentilesByBucket returned ${status} for ${copied} values (expected ${total}) in ${batchRuns} runs`);
    }
    perBucket.set(inst.f64().subarray(outPtr >>> 3, (outPtr >>> 3) + (b1 - b0)), b0);
  } finally {
    inst.reset();
  }
}
