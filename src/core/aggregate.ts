/**
 * Bucketed aggregation: the JS side of assembly/aggregate.ts and assembly/percentile.ts.
 *
 * Semantics (docs/format/aggregation.md): buckets are aligned to the Unix epoch
 * (bucket start = floor(ts / intervalMs) · intervalMs), points count when ts ∈ [startMs, endMs),
 * only non-empty buckets are output, each at its bucket start.
 *
 * Lifecycle of a BucketAccumulator (one per result series or group):
 *   new BucketAccumulator(options)
 *   → for each series of the group: beginSeries(), then its points in time order, through any
 *     mix of addPoints / addChunk / addChunkSummary
 *   → optionally toPartial() in a worker and mergePartial() on the other side
 *   → finish() (may be called again; it does not consume the state).
 *
 * Where the state lives: in JS typed arrays, not WASM memory, because every other caller
 * `reset()`s the shared WASM heap between calls. Each call copies its input into WASM, the kernel
 * returns one compact record per non-empty bucket (24 for a day-long chunk and hourly buckets),
 * and the records are merged here; so a call costs O(points) in WASM plus O(buckets touched)
 * here, never O(all buckets). The dense state columns cover only the window of buckets that
 * received data, grown on demand, so memory follows the data, not the query range.
 */
import { AGGREGATIONS, type Aggregation } from '../model/api.js';
import { ChunkDecodeError } from './codec_status.js';
import { wasmInstance, type ScratchExports, type WasmInstance } from './wasm_instance.js';

/** Raw exports of build/emms.wasm used here (assembly/aggregate.ts, assembly/percentile.ts). */
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

const REC_BUCKET = 0;
const REC_COUNT = 1;
const REC_SUM = 2;
const REC_MIN = 3;
const REC_MAX = 4;
const REC_FIRST_TS = 5;
const REC_FIRST_VAL = 6;
const REC_LAST_TS = 7;
const REC_LAST_VAL = 8;
const REC_MEAN = 9;
const REC_M2 = 10;
const REC_INCREASE = 11;
export const REC_FIELDS = 12;

const IO_PREV_TS = 0;
const IO_PREV_VAL = 1;
const IO_HAS_PREV = 2;
const IO_ERROR_INDEX = 3;
const IO_SLICE_START = 4;
const IO_SLICE_END = 5;
export const IO_RECORDS_PTR = 6;
export const IO_VALUES_PTR = 7;
export const IO_FIELDS = 8;

export const E_AGG_UNSORTED = -1001;
export const E_AGG_NAN = -1002;
export const E_AGG_CAPACITY = -1003;

/** Most buckets one accumulator will hold (dense state columns of 8 bytes per bucket each). */
export const MAX_BUCKETS = 10_000_000;

/**
 * Points per kernel call in addPoints: bounds the WASM scratch (16 bytes/point + records) so a
 * 100M-point aggregate() does not grow WASM memory by gigabytes.
 */
const POINTS_PER_CALL = 65_536;

const QUANTILES: Partial<Record<Aggregation, number>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };

const MODE_OF: Record<Aggregation, number> = {
  count: MODE_COUNT, sum: MODE_SUM, avg: MODE_SUM, min: MODE_MIN, max: MODE_MAX,
  first: MODE_FIRST, last: MODE_LAST, stddev: MODE_MOMENTS, rate: MODE_RATE,
  p50: MODE_VALUES, p90: MODE_VALUES, p95: MODE_VALUES, p99: MODE_VALUES,
};

export interface AggregateOptions {
  aggregation: Aggregation;
  /** Bucket width; a positive integer number of milliseconds (see parseInterval). */
  intervalMs: number;
  /** Inclusive start of the range; default: unbounded. */
  startMs?: number;
  /** Exclusive end of the range; default: unbounded. */
  endMs?: number;
}

export interface AggregateResult {
  /** Bucket starts of the non-empty buckets, ascending. */
  timestamps: Float64Array;
  values: Float64Array;
}

/**
 * Statistics of a chunk kept at cut time, so that a chunk lying inside one bucket and inside
 * the range can be aggregated without decoding it (see `summaryUsable`, `summaryFits`).
 * `mean` and `m2` (Σ(x−mean)²) are what stddev needs; `summarizeChunk` computes all of it.
 */
export interface ChunkSummary {
  minTs: number;
  maxTs: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  firstValue: number;
  lastValue: number;
  mean: number;
  m2: number;
}

/**
 * Mergeable state of an accumulator (plain typed arrays: structured-clone friendly). Pass
 * `partialTransferList(p)` as the transfer list (or piscina's move) to send it without copying.
 *
 * Dense columns cover buckets baseBucket … baseBucket + count.length − 1 (bucket number =
 * floor(ts / intervalMs)); `x`/`y` mean, per aggregation: sum/avg → x = sum; min → x = min;
 * max → x = max; first → x = first ts, y = first value; last → x = last ts, y = last value;
 * stddev → x = mean, y = M2; rate → x = increase; count → neither.
 * Percentiles keep the raw values instead: `values` in runs, run r being runCounts[r] values
 * of bucket runBuckets[r].
 */
export interface AggregatePartial {
  aggregation: Aggregation;
  intervalMs: number;
  startMs: number;
  endMs: number;
  baseBucket: number;
  count: Float64Array;
  x: Float64Array;
  y: Float64Array;
  values: Float64Array;
  runBuckets: Float64Array;
  runCounts: Int32Array;
}

/** Buffers of a partial to list in postMessage's / piscina's transfer list. */
export function partialTransferList(p: AggregatePartial): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const a of [p.count, p.x, p.y, p.values, p.runBuckets, p.runCounts]) buffers.add(a.buffer as ArrayBuffer);
  return [...buffers];
}

/**
 * Whether chunk summaries can stand in for a chunk's points. Percentiles need every value;
 * rate needs consecutive pairs (and a summary drops the pair that straddles its chunk start).
 */
export function summaryUsable(aggregation: Aggregation): boolean {
  return MODE_OF[aggregation] !== MODE_VALUES && MODE_OF[aggregation] !== MODE_RATE;
}

/** Summary of one chunk's points (ascending time), as storage keeps it at cut time. */
export function summarizeChunk(timestamps: Float64Array, values: Float64Array): ChunkSummary {
  const n = values.length;
  if (n === 0 || timestamps.length !== n) {
    throw new RangeError(`summarizeChunk: needs equal, non-zero lengths; got timestamps.length=${timestamps.length}, values.length=${n}`);
  }
  let sum = 0;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    sum += v;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  // Two-pass M2, the formula the kernel uses for each run.
  const mean = sum / n;
  let m2 = 0;
  for (let i = 0; i < n; i++) {
    const d = values[i]! - mean;
    m2 += d * d;
  }
  return {
    minTs: timestamps[0]!, maxTs: timestamps[n - 1]!, count: n, sum, min: lo, max: hi,
    firstValue: values[0]!, lastValue: values[n - 1]!, mean, m2,
  };
}

/** Points handed to the accumulator break its input contract (order, NaN). */
export class AggregationInputError extends RangeError {
  constructor(message: string, readonly field: string, readonly index: number, readonly value: number) {
    super(message);
    this.name = 'AggregationInputError';
  }
}

let cachedInstance: WasmInstance<AggregateExports> | undefined;
/** The thread's emms.wasm instance (shared with the codec; every call leaves its heap reset). */
export function aggregateInstance(): WasmInstance<AggregateExports> {
  cachedInstance ??= wasmInstance<AggregateExports>('emms');
  return cachedInstance;
}

function validateOptions(options: AggregateOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`options must be an object with aggregation and intervalMs; got ${String(options)}`);
  }
  const { aggregation, intervalMs } = options;
  if (!(AGGREGATIONS as readonly unknown[]).includes(aggregation)) {
    throw new RangeError(`options.aggregation=${JSON.stringify(aggregation)} must be one of ${AGGREGATIONS.join(', ')}`);
  }
  if (typeof intervalMs !== 'number' || !Number.isSafeInteger(intervalMs) || intervalMs <= 0) {
    throw new RangeError(`options.intervalMs=${String(intervalMs)} must be a positive integer number of milliseconds`);
  }
  const startMs = options.startMs ?? -Infinity;
  const endMs = options.endMs ?? Infinity;
  if (options.startMs !== undefined && (typeof options.startMs !== 'number' || !Number.isFinite(options.startMs))) {
    throw new RangeError(`options.startMs=${String(options.startMs)} must be a finite epoch-millisecond time`);
  }
  if (options.endMs !== undefined && (typeof options.endMs !== 'number' || !Number.isFinite(options.endMs))) {
    throw new RangeError(`options.endMs=${String(options.endMs)} must be a finite epoch-millisecond time`);
  }
  if (endMs < startMs) {
    throw new RangeError(`options.endMs=${endMs} must not be before options.startMs=${startMs}`);
  }
  if (Number.isFinite(startMs) && Number.isFinite(endMs)) {
    const buckets = Math.floor((endMs - 1) / intervalMs) - Math.floor(startMs / intervalMs) + 1;
    if (buckets > MAX_BUCKETS) {
      throw new RangeError(
        `options.intervalMs=${intervalMs} over [options.startMs=${startMs}, options.endMs=${endMs}) makes ${buckets} buckets; ` +
        `at most ${MAX_BUCKETS} (use a longer interval or a shorter range)`,
      );
    }
  }
}

/** Grows `a` into `grown` (same or larger size) at `offset`, filling the rest with `fill`. */
function regrow(a: Float64Array, grown: Float64Array, offset: number, fill: number): Float64Array {
  if (fill !== 0) grown.fill(fill);
  grown.set(a, offset);
  return grown;
}

const EMPTY_F64 = new Float64Array(0);
const EMPTY_I32 = new Int32Array(0);
/** One record for addChunkSummary/mergePartial: used synchronously, so one per thread suffices. */
const SCRATCH_RECORD = new Float64Array(REC_FIELDS);

export class BucketAccumulator {
  /**
   * Most values copied into WASM per percentile batch in finish() (32 MiB of float64s). WASM
   * memory never shrinks, so this bounds what one huge percentile query leaves behind on its
   * thread. Tests lower it to exercise batching.
   */
  static percentileValuesPerCall = 4_194_304;

  /**
   * Whether addChunk takes the fused decode-and-aggregate fast path (assembly/decode_aggregate.ts),
   * which falls back to the generic kernel for chunks and aggregations it does not handle. Tests
   * switch it off to compare both paths on the same chunks.
   */
  static fusedChunkKernel = true;

  readonly aggregation: Aggregation;
  readonly intervalMs: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly #mode: number;

  // Dense state window: index i is bucket #base + i. Empty until the first point.
  #base = 0;
  // Empty arrays are shared (EMPTY_*): a query makes one accumulator per series, and the
  // allocations showed in profiles. Every growth replaces them, none is written in place.
  #count: Float64Array = EMPTY_F64;
  #x: Float64Array = EMPTY_F64;
  #y: Float64Array = EMPTY_F64;
  readonly #xFill: number;

  // Percentiles: raw values in runs (see AggregatePartial).
  #values: Float64Array = EMPTY_F64;
  #nValues = 0;
  #runBuckets: Float64Array = EMPTY_F64;
  #runCounts: Int32Array = EMPTY_I32;
  #nRuns = 0;

  // The series' previous point: rate predecessor and order check. Reset by beginSeries().
  #hasPrev = false;
  #prevTs = 0;
  #prevVal = 0;

  constructor(options: AggregateOptions) {
    validateOptions(options);
    this.aggregation = options.aggregation;
    this.intervalMs = options.intervalMs;
    this.startMs = options.startMs ?? -Infinity;
    this.endMs = options.endMs ?? Infinity;
    this.#mode = MODE_OF[this.aggregation];
    this.#xFill = this.#mode === MODE_MIN ? Infinity : this.#mode === MODE_MAX ? -Infinity : 0;
  }

  /** Starts the next series of the group: rate never pairs points of different series. */
  beginSeries(): void {
    this.#hasPrev = false;
  }

  /**
   * Adds points of the current series: ascending time (ties allowed, kept in input order),
   * continuing after the series' earlier points, no NaN values. Points before startMs are not
   * counted but the last of them is the rate predecessor of the first point in range (so for
   * rate, storage feeds the chunk holding startMs, or the newest point before it).
   */
  addPoints(timestamps: Float64Array, values: Float64Array): void {
    if (timestamps.length !== values.length) {
      throw new RangeError(`addPoints: timestamps.length=${timestamps.length} must equal values.length=${values.length}`);
    }
    const inst = aggregateInstance();
    try {
      for (let offset = 0; offset < timestamps.length; offset += POINTS_PER_CALL) {
        const end = Math.min(offset + POINTS_PER_CALL, timestamps.length);
        const ts = timestamps.subarray(offset, end);
        const vals = values.subarray(offset, end);
        const ioPtr = this.#writeIo(inst);
        const tsPtr = inst.writeF64(ts);
        const valPtr = inst.writeF64(vals);
        const outPtr = inst.alloc(Math.max(ts.length, 1) * REC_FIELDS * 8);
        const status = inst.exports.accumulatePoints(
          tsPtr, valPtr, ts.length, this.#mode, this.intervalMs, this.startMs, this.endMs, ioPtr, outPtr, ts.length,
        );
        if (status < 0) this.#throwKernelStatus(inst, status, ioPtr, timestamps, values, offset, 'addPoints');
        this.#afterKernel(inst, status, ioPtr, outPtr, vals);
        inst.reset();
      }
    } finally {
      inst.reset();
    }
  }

  /**
   * Decodes an encoded chunk (src/core/codec.ts) of the current series and adds its points, in
   * one WASM call: no decoded point comes back to JS. Same contract as addPoints. Throws
   * ChunkDecodeError for bytes that are not a valid chunk (and then adds nothing).
   */
  addChunk(bytes: Uint8Array): void {
    const inst = aggregateInstance();
    try {
      const inPtr = inst.writeBytes(bytes);
      const ioPtr = this.#writeIo(inst);
      const kernel = BucketAccumulator.fusedChunkKernel ? inst.exports.accumulateChunkFused : inst.exports.accumulateChunk;
      const status = kernel(inPtr, bytes.length, this.#mode, this.intervalMs, this.startMs, this.endMs, ioPtr);
      if (status < 0) {
        // Codec statuses are small (-1 … -7, codec_status.ts); the aggregation's start at -1001.
        if (status > E_AGG_UNSORTED) {
          const e = inst.exports;
          throw new ChunkDecodeError(status, { section: e.codecErrorSection(), bit: e.codecErrorBit(), limitBits: e.codecErrorLimitBits() }, bytes);
        }
        this.#throwKernelStatus(inst, status, ioPtr, null, null, 0, 'addChunk');
      }
      this.#afterKernel(inst, status, ioPtr, inst.f64()[(ioPtr >>> 3) + IO_RECORDS_PTR]!, null);
    } finally {
      inst.reset();
    }
  }

  /** Whether `addChunkSummary` may take a chunk spanning [minTs, maxTs]. */
  summaryFits(minTs: number, maxTs: number): boolean {
    return summaryUsable(this.aggregation) && minTs >= this.startMs && maxTs < this.endMs &&
      Math.floor(minTs / this.intervalMs) === Math.floor(maxTs / this.intervalMs);
  }

  /**
   * Adds a whole chunk of the current series from its summary, without decoding it. Only for
   * chunks inside one bucket and inside the range (`summaryFits`), and aggregations for which
   * `summaryUsable` holds; anything else is a caller bug.
   */
  addChunkSummary(s: ChunkSummary): void {
    if (!summaryUsable(this.aggregation)) {
      throw new Error(`BUG: addChunkSummary used for aggregation=${this.aggregation}; decode the chunk (addChunk) instead`);
    }
    if (!(s.count >= 1) || !this.summaryFits(s.minTs, s.maxTs) || !(s.minTs <= s.maxTs)) {
      throw new Error(
        `BUG: addChunkSummary: chunk [minTs=${s.minTs}, maxTs=${s.maxTs}] count=${s.count} is not inside one bucket of ` +
        `intervalMs=${this.intervalMs} within [${this.startMs}, ${this.endMs}); check summaryFits() first`,
      );
    }
    if (this.#hasPrev && s.minTs < this.#prevTs) {
      throw new AggregationInputError(
        `addChunkSummary: chunk minTs=${s.minTs} is before the series' previous point at ${this.#prevTs}; ` +
        `chunks of a series must come in time order (call beginSeries() between series)`,
        'minTs', -1, s.minTs,
      );
    }
    const bucket = Math.floor(s.minTs / this.intervalMs);
    this.#ensureWindow(bucket, bucket);
    const r = SCRATCH_RECORD;
    r[REC_BUCKET] = bucket;
    r[REC_COUNT] = s.count;
    r[REC_SUM] = s.sum;
    r[REC_MIN] = s.min;
    r[REC_MAX] = s.max;
    r[REC_FIRST_TS] = s.minTs;
    r[REC_FIRST_VAL] = s.firstValue;
    r[REC_LAST_TS] = s.maxTs;
    r[REC_LAST_VAL] = s.lastValue;
    r[REC_MEAN] = s.mean;
    r[REC_M2] = s.m2;
    this.#mergeRecord(r, 0);
    this.#hasPrev = true;
    this.#prevTs = s.maxTs;
    this.#prevVal = s.lastValue;
  }

  /** A copy of the state, to send to another thread and `mergePartial` there. */
  toPartial(): AggregatePartial {
    return {
      aggregation: this.aggregation,
      intervalMs: this.intervalMs,
      startMs: this.startMs,
      endMs: this.endMs,
      baseBucket: this.#base,
      count: this.#count.slice(),
      x: this.#x.slice(),
      y: this.#y.slice(),
      values: this.#values.slice(0, this.#nValues),
      runBuckets: this.#runBuckets.slice(0, this.#nRuns),
      runCounts: this.#runCounts.slice(0, this.#nRuns),
    };
  }

  /** Merges another accumulator's partial (same aggregation, interval and range) into this one. */
  mergePartial(p: AggregatePartial): void {
    if (p.aggregation !== this.aggregation || p.intervalMs !== this.intervalMs ||
        p.startMs !== this.startMs || p.endMs !== this.endMs) {
      throw new Error(
        `BUG: mergePartial: partial (aggregation=${p.aggregation}, intervalMs=${p.intervalMs}, range [${p.startMs}, ${p.endMs})) ` +
        `does not match the accumulator (aggregation=${this.aggregation}, intervalMs=${this.intervalMs}, range [${this.startMs}, ${this.endMs}))`,
      );
    }
    if (this.#mode === MODE_VALUES) {
      this.#appendValues(p.values);
      for (let r = 0; r < p.runCounts.length; r++) this.#appendRun(p.runBuckets[r]!, p.runCounts[r]!);
      return;
    }
    const r = SCRATCH_RECORD;
    let lo = -1;
    let hi = -1;
    for (let i = 0; i < p.count.length; i++) {
      if (p.count[i]! > 0) {
        if (lo < 0) lo = i;
        hi = i;
      }
    }
    if (lo < 0) return;
    this.#ensureWindow(p.baseBucket + lo, p.baseBucket + hi);
    for (let i = lo; i <= hi; i++) {
      const c = p.count[i]!;
      if (c === 0) continue;
      r[REC_BUCKET] = p.baseBucket + i;
      r[REC_COUNT] = c;
      const x = p.x[i] ?? 0;
      const y = p.y[i] ?? 0;
      // Spread x/y back into the record fields the mode reads (see AggregatePartial).
      r[REC_SUM] = x; r[REC_MIN] = x; r[REC_MAX] = x; r[REC_INCREASE] = x;
      r[REC_FIRST_TS] = x; r[REC_FIRST_VAL] = y; r[REC_LAST_TS] = x; r[REC_LAST_VAL] = y;
      r[REC_MEAN] = x; r[REC_M2] = y;
      this.#mergeRecord(r, 0);
    }
  }

  /** The aggregate of every non-empty bucket, ascending. */
  finish(): AggregateResult {
    if (this.#mode === MODE_VALUES) return this.#finishPercentiles();
    const n = this.#count.length;
    let nonEmpty = 0;
    for (let i = 0; i < n; i++) if (this.#count[i]! > 0) nonEmpty++;
    const timestamps = new Float64Array(nonEmpty);
    const values = new Float64Array(nonEmpty);
    const seconds = this.intervalMs / 1000;
    let o = 0;
    for (let i = 0; i < n; i++) {
      const c = this.#count[i]!;
      if (c === 0) continue;
      timestamps[o] = (this.#base + i) * this.intervalMs;
      const x = this.#x[i]!;
      switch (this.aggregation) {
        case 'count': values[o] = c; break;
        case 'avg': values[o] = x / c; break;
        case 'stddev': values[o] = Math.sqrt(Math.max(0, this.#y[i]!) / c); break;
        case 'rate': values[o] = x / seconds; break;
        case 'first': case 'last': values[o] = this.#y[i]!; break;
        default: values[o] = x; // sum, min, max
      }
      o++;
    }
    return { timestamps, values };
  }

  #writeIo(inst: WasmInstance<AggregateExports>): number {
    const ioPtr = inst.alloc(IO_FIELDS * 8);
    const f64 = inst.f64();
    const o = ioPtr >>> 3;
    f64[o + IO_PREV_TS] = this.#prevTs;
    f64[o + IO_PREV_VAL] = this.#prevVal;
    f64[o + IO_HAS_PREV] = this.#hasPrev ? 1 : 0;
    return ioPtr;
  }

  /** Merges the kernel's records and takes over its IO block; `values` = the call's values. */
  #afterKernel(inst: WasmInstance<AggregateExports>, records: number, ioPtr: number, outPtr: number, values: Float64Array | null): void {
    const f64 = inst.f64();
    const io = ioPtr >>> 3;
    this.#hasPrev = f64[io + IO_HAS_PREV] === 1;
    this.#prevTs = f64[io + IO_PREV_TS]!;
    this.#prevVal = f64[io + IO_PREV_VAL]!;
    if (records === 0) return;
    const first = outPtr >>> 3;
    const last = first + (records - 1) * REC_FIELDS;
    if (this.#mode === MODE_VALUES) {
      const start = f64[io + IO_SLICE_START]!;
      const end = f64[io + IO_SLICE_END]!;
      // Values of the call live in JS (addPoints) or in WASM memory (addChunk).
      this.#appendValues(values !== null
        ? values.subarray(start, end)
        : f64.subarray((f64[io + IO_VALUES_PTR]! >>> 3) + start, (f64[io + IO_VALUES_PTR]! >>> 3) + end));
      for (let o = first; o <= last; o += REC_FIELDS) this.#appendRun(f64[o + REC_BUCKET]!, f64[o + REC_COUNT]!);
      return;
    }
    this.#ensureWindow(f64[first + REC_BUCKET]!, f64[last + REC_BUCKET]!);
    for (let o = first; o <= last; o += REC_FIELDS) this.#mergeRecord(f64, o);
  }

  #throwKernelStatus(
    inst: WasmInstance<AggregateExports>, status: number, ioPtr: number,
    timestamps: Float64Array | null, values: Float64Array | null, offset: number, where: string,
  ): never {
    const local = inst.f64()[(ioPtr >>> 3) + IO_ERROR_INDEX]!;
    const index = offset + local;
    const what = timestamps === null ? `decoded point ${index}` : `timestamps[${index}]`;
    if (status === E_AGG_UNSORTED) {
      const t = timestamps?.[index] ?? NaN;
      throw new AggregationInputError(
        `${where}: ${what}${timestamps === null ? '' : `=${t}`} is before the point preceding it` +
        `${local === 0 && this.#hasPrev ? ` (the series' previous point at ${this.#prevTs})` : ''}; ` +
        `points of a series must be in ascending time order (call beginSeries() between series)`,
        'timestamps', index, t,
      );
    }
    if (status === E_AGG_NAN) {
      throw new AggregationInputError(
        `${where}: ${timestamps === null ? `decoded point ${index} has value NaN` : `values[${index}]=NaN`}; ` +
        `aggregation needs numeric values`,
        'values', index, values?.[index] ?? NaN,
      );
    }
    throw new Error(`BUG: ${where}: aggregation kernel returned status ${status}`);
  }

  /** Makes the dense window cover buckets lo … hi (bucket numbers), growing it geometrically. */
  #ensureWindow(lo: number, hi: number): void {
    const size = this.#count.length;
    if (size > 0 && lo >= this.#base && hi < this.#base + size) return;
    const newLo = size > 0 ? Math.min(lo, this.#base) : lo;
    const newHi = size > 0 ? Math.max(hi, this.#base + size - 1) : hi;
    const span = newHi - newLo + 1;
    if (span > MAX_BUCKETS) {
      throw new RangeError(
        `options.intervalMs=${this.intervalMs}: the data spans ${span} buckets ` +
        `(${newLo * this.intervalMs} … ${newHi * this.intervalMs}); at most ${MAX_BUCKETS} (use a longer interval or a shorter range)`,
      );
    }
    // Double on growth so feeding series after series costs amortised O(1) per bucket.
    const newSize = Math.min(Math.max(span, 2 * size, 16), MAX_BUCKETS);
    // Extend on the side that grew: leftwards when an earlier bucket arrived, else rightwards.
    const newBase = size > 0 && lo < this.#base ? newHi - newSize + 1 : newLo;
    const offset = size > 0 ? this.#base - newBase : 0;
    // The three columns share one allocation.
    const buffer = new ArrayBuffer(newSize * 24);
    this.#count = regrow(this.#count, new Float64Array(buffer, 0, newSize), offset, 0);
    this.#x = regrow(this.#x, new Float64Array(buffer, newSize * 8, newSize), offset, this.#xFill);
    this.#y = regrow(this.#y, new Float64Array(buffer, newSize * 16, newSize), offset, 0);
    this.#base = newBase;
  }

  /** Merges one record (at rec[o …]) into its bucket; the window already covers it. */
  #mergeRecord(rec: Float64Array, o: number): void {
    const slot = rec[o + REC_BUCKET]! - this.#base;
    const c = rec[o + REC_COUNT]!;
    const before = this.#count[slot]!;
    this.#count[slot] = before + c;
    const x = this.#x;
    const y = this.#y;
    switch (this.#mode) {
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

  #appendValues(src: Float64Array): void {
    const need = this.#nValues + src.length;
    if (need > this.#values.length) {
      const grown = new Float64Array(Math.max(need, 2 * this.#values.length, 1024));
      grown.set(this.#values.subarray(0, this.#nValues));
      this.#values = grown;
    }
    this.#values.set(src, this.#nValues);
    this.#nValues = need;
  }

  #appendRun(bucket: number, count: number): void {
    // Consecutive runs of one bucket (a bucket split across chunks) collapse into one.
    if (this.#nRuns > 0 && this.#runBuckets[this.#nRuns - 1] === bucket) {
      this.#runCounts[this.#nRuns - 1]! += count;
      return;
    }
    if (this.#nRuns === this.#runCounts.length) {
      const size = Math.max(2 * this.#nRuns, 64);
      const buckets = new Float64Array(size);
      buckets.set(this.#runBuckets);
      const counts = new Int32Array(size);
      counts.set(this.#runCounts);
      this.#runBuckets = buckets;
      this.#runCounts = counts;
    }
    this.#runBuckets[this.#nRuns] = bucket;
    this.#runCounts[this.#nRuns] = count;
    this.#nRuns++;
  }

  #finishPercentiles(): AggregateResult {
    const nRuns = this.#nRuns;
    if (nRuns === 0) return { timestamps: new Float64Array(0), values: new Float64Array(0) };
    let lo = Infinity;
    let hi = -Infinity;
    for (let r = 0; r < nRuns; r++) {
      const b = this.#runBuckets[r]!;
      if (b < lo) lo = b;
      if (b > hi) hi = b;
    }
    const nBuckets = hi - lo + 1;
    if (nBuckets > MAX_BUCKETS) {
      throw new RangeError(
        `options.intervalMs=${this.intervalMs}: the data spans ${nBuckets} buckets; at most ${MAX_BUCKETS} (use a longer interval or a shorter range)`,
      );
    }
    const counts = new Float64Array(nBuckets);
    for (let r = 0; r < nRuns; r++) counts[this.#runBuckets[r]! - lo]! += this.#runCounts[r]!;
    const perBucket = new Float64Array(nBuckets);
    // Batches of whole buckets holding at most percentileValuesPerCall values (one bucket may
    // hold more): WASM memory never shrinks, so this bounds what a huge query leaves behind.
    const limit = BucketAccumulator.percentileValuesPerCall;
    for (let b0 = 0; b0 < nBuckets;) {
      let total = counts[b0]!;
      let b1 = b0 + 1;
      while (b1 < nBuckets && total + counts[b1]! <= limit) total += counts[b1++]!;
      this.#percentilesOfBatch(lo, b0, b1, total, nBuckets, perBucket);
      b0 = b1;
    }
    let nonEmpty = 0;
    for (let b = 0; b < nBuckets; b++) if (counts[b]! > 0) nonEmpty++;
    const timestamps = new Float64Array(nonEmpty);
    const values = new Float64Array(nonEmpty);
    let o = 0;
    for (let b = 0; b < nBuckets; b++) {
      if (counts[b] === 0) continue;
      timestamps[o] = (lo + b) * this.intervalMs;
      values[o] = perBucket[b]!;
      o++;
    }
    return { timestamps, values };
  }

  /** Percentiles of buckets lo+b0 … lo+b1−1 (holding `total` values) into perBucket[b0 … b1−1]. */
  #percentilesOfBatch(lo: number, b0: number, b1: number, total: number, nBuckets: number, perBucket: Float64Array): void {
    const inst = aggregateInstance();
    try {
      const everything = b0 === 0 && b1 === nBuckets;
      const valPtr = inst.alloc(Math.max(total, 1) * 8);
      const runBucketPtr = inst.alloc(Math.max(this.#nRuns, 1) * 4);
      const runCountPtr = inst.alloc(Math.max(this.#nRuns, 1) * 4);
      const outPtr = inst.alloc((b1 - b0) * 8);
      const f64 = inst.f64();
      const i32 = inst.i32();
      if (everything) f64.set(this.#values.subarray(0, this.#nValues), valPtr >>> 3);
      let runs = 0;
      let copied = 0;
      let start = 0; // offset of run r's values in #values
      for (let r = 0; r < this.#nRuns; r++) {
        const bucket = this.#runBuckets[r]! - lo;
        const count = this.#runCounts[r]!;
        if (bucket >= b0 && bucket < b1) {
          if (!everything) f64.set(this.#values.subarray(start, start + count), (valPtr >>> 3) + copied);
          i32[(runBucketPtr >>> 2) + runs] = bucket - b0;
          i32[(runCountPtr >>> 2) + runs] = count;
          runs++;
          copied += count;
        }
        start += count;
      }
      const status = inst.exports.percentilesByBucket(
        valPtr, copied, runBucketPtr, runCountPtr, runs, b1 - b0, QUANTILES[this.aggregation]!, outPtr,
      );
      if (status < 0 || copied !== total) {
        throw new Error(`BUG: percentilesByBucket returned ${status} for ${copied} values (expected ${total}) in ${runs} runs`);
      }
      perBucket.set(inst.f64().subarray(outPtr >>> 3, (outPtr >>> 3) + (b1 - b0)), b0);
    } finally {
      inst.reset();
    }
  }
}

/**
 * Aggregates one series (timestamps ascending) per bucket: the standalone form of
 * BucketAccumulator. Without startMs/endMs every point counts.
 */
export function aggregate(timestamps: Float64Array, values: Float64Array, options: AggregateOptions): AggregateResult {
  const acc = new BucketAccumulator(options);
  acc.addPoints(timestamps, values);
  return acc.finish();
}
