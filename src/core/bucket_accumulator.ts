/**
 * Bucketed aggregation: BucketAccumulator, the state that outlives one kernel call, and
 * aggregate(), its one-series form. The kernels and their record layout are bound in
 * src/core/aggregate_kernel.ts; options in aggregate_options.ts; partials in
 * aggregate_partial.ts; chunk summaries in chunk_summary.ts.
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
import type { Aggregation } from '../model/api.js';
import { MAX_BUCKETS, validateAggregateOptions, type AggregateOptions, type AggregateResult } from './aggregate_options.js';
import { ChunkDecodeError } from './codec_status.js';
import type { WasmInstance } from './wasm_instance.js';
import {
  aggregateInstance, bucketPercentiles, E_AGG_NAN, E_AGG_UNSORTED,
  IO_ERROR_INDEX, IO_FIELDS, IO_HAS_PREV, IO_PREV_TS, IO_PREV_VAL, IO_RECORDS_PTR, IO_SLICE_END, IO_SLICE_START, IO_VALUES_PTR,
  MODE_MAX, MODE_MIN, MODE_OF, MODE_RATE, MODE_VALUES, mergeRecord, QUANTILE_OF,
  REC_BUCKET, REC_COUNT, REC_FIELDS, REC_FIRST_TS, REC_FIRST_VAL, REC_INCREASE, REC_LAST_TS, REC_LAST_VAL, REC_M2, REC_MAX,
  REC_MEAN, REC_MIN, REC_SUM,
  type AggregateExports, type ValueRuns,
} from './aggregate_kernel.js';
import type { AggregatePartial } from './aggregate_partial.js';
import { summaryUsable, type ChunkSummary } from './chunk_summary.js';
import { kernelIntervalFor, ROLLUP_RESOLUTIONS_MS } from './rollup_records.js';

/**
 * Points per kernel call in addPoints: bounds the WASM scratch (16 bytes/point + records) so a
 * 100M-point aggregate() does not grow WASM memory by gigabytes.
 */
const POINTS_PER_CALL = 65_536;

/**
 * Which WASM kernel addChunk runs: 'fused' decodes and aggregates in one pass where it can
 * (assembly/decode_aggregate.ts) and falls back to 'generic' by itself; 'generic' decodes into
 * scratch, then aggregates (assembly/aggregate_chunk.ts). Results are bit-identical; 'generic'
 * is there for bench/aggregate.bench.ts to measure what the fused kernel saves.
 */
export type ChunkKernel = 'fused' | 'generic';

/** Points handed to the accumulator break its input contract (order, NaN). */
export class AggregationInputError extends RangeError {
  constructor(message: string, readonly field: string, readonly index: number, readonly value: number) {
    super(message);
    this.name = 'AggregationInputError';
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
  readonly aggregation: Aggregation;
  readonly intervalMs: number;
  readonly startMs: number;
  readonly endMs: number;
  readonly #mode: number;
  /**
   * The interval the kernels bucket by: the coarsest rollup resolution dividing intervalMs
   * (rollup_records.ts), whose records are merged into intervalMs's buckets. The sums then
   * come out the same whether a chunk was decoded or answered from its rollup records.
   * Percentiles keep intervalMs (their runs are grouped per bucket).
   */
  readonly #kernelIntervalMs: number;
  /** Kernel buckets per bucket: intervalMs / #kernelIntervalMs. */
  readonly #subBuckets: number;

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

  /** @param chunkKernel the kernel addChunk runs (see ChunkKernel); production uses the default. */
  constructor(options: AggregateOptions, readonly chunkKernel: ChunkKernel = 'fused') {
    validateAggregateOptions(options);
    this.aggregation = options.aggregation;
    this.intervalMs = options.intervalMs;
    this.startMs = options.startMs ?? -Infinity;
    this.endMs = options.endMs ?? Infinity;
    this.#mode = MODE_OF[this.aggregation];
    this.#kernelIntervalMs = this.#mode === MODE_VALUES ? this.intervalMs : kernelIntervalFor(this.intervalMs);
    this.#subBuckets = this.intervalMs / this.#kernelIntervalMs;
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
          tsPtr, valPtr, ts.length, this.#mode, this.#kernelIntervalMs, this.startMs, this.endMs, ioPtr, outPtr, ts.length,
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
   *
   * `firstPoint`, the chunk's first point (its row's min_ts and first value), makes rate add
   * the pair straddling the chunk's start as a record of its own, ahead of the chunk's records,
   * the way addRollupRecords adds it: a stored chunk's increase then sums the same way whether
   * it was decoded or answered from its rollup. Storage reads pass it (series_reader.ts).
   */
  addChunk(bytes: Uint8Array, firstPoint?: { ts: number; value: number }): void {
    const inst = aggregateInstance();
    const pairFirst = this.#mode === MODE_RATE && firstPoint !== undefined && this.#hasPrev;
    if (pairFirst) this.#checkContinues(firstPoint.ts, 'addChunk');
    const prev = { has: this.#hasPrev, ts: this.#prevTs, value: this.#prevVal };
    try {
      const inPtr = inst.writeBytes(bytes);
      // Without the predecessor, the kernel's first in-range point pairs with nothing (unless
      // the range starts inside the chunk, where its predecessor is in the chunk).
      if (pairFirst) this.#hasPrev = false;
      const ioPtr = this.#writeIo(inst);
      this.#hasPrev = prev.has;
      const kernel = this.chunkKernel === 'fused' ? inst.exports.accumulateChunkFused : inst.exports.accumulateChunk;
      const status = kernel(inPtr, bytes.length, this.#mode, this.#kernelIntervalMs, this.startMs, this.endMs, ioPtr);
      if (status < 0) {
        // Codec statuses are small (-1 … -7, codec_status.ts); the aggregation's start at -1001.
        if (status > E_AGG_UNSORTED) {
          const e = inst.exports;
          throw new ChunkDecodeError(status, { section: e.codecErrorSection(), bit: e.codecErrorBit(), limitBits: e.codecErrorLimitBits() }, bytes);
        }
        this.#throwKernelStatus(inst, status, ioPtr, null, null, 0, 'addChunk');
      }
      if (pairFirst) this.#addPredecessorPair(prev.value, firstPoint.ts, firstPoint.value);
      this.#afterKernel(inst, status, ioPtr, inst.f64()[(ioPtr >>> 3) + IO_RECORDS_PTR]!, null);
    } finally {
      inst.reset();
    }
  }

  /**
   * The resolution of the rollup records addRollupRecords takes (see #kernelIntervalMs);
   * undefined when none fits: percentiles, or an interval no rollup resolution divides.
   */
  get rollupResolutionMs(): number | undefined {
    return this.#mode !== MODE_VALUES && ROLLUP_RESOLUTIONS_MS.includes(this.#kernelIntervalMs) ? this.#kernelIntervalMs : undefined;
  }

  /**
   * Adds a whole chunk of the current series from its rollup records at rollupResolutionMs
   * (rollup_records.ts): `records`, REC_FIELDS float64s each, are the chunk's buckets inside
   * [startMs, endMs), which the caller made sure hold every point of those buckets (the range's
   * bounds inside the chunk are multiples of the resolution). `first` and `last` are the chunk's
   * first and last points. Merges what addChunk(bytes, first) would merge, bit for bit.
   */
  addRollupRecords(records: Float64Array, first: { ts: number; value: number }, last: { ts: number; value: number }): void {
    if (this.rollupResolutionMs === undefined) {
      throw new Error(
        `BUG: addRollupRecords used for aggregation=${this.aggregation}, intervalMs=${this.intervalMs}: ` +
        `percentiles need every value and other intervals no rollup resolution divides; decode the chunk (addChunk)`,
      );
    }
    if (records.length % REC_FIELDS !== 0) {
      throw new Error(`BUG: addRollupRecords: records.length=${records.length} is not a multiple of ${REC_FIELDS}`);
    }
    if (this.#hasPrev) this.#checkContinues(first.ts, 'addRollupRecords');
    if (this.#mode === MODE_RATE && this.#hasPrev) this.#addPredecessorPair(this.#prevVal, first.ts, first.value);
    const n = records.length / REC_FIELDS;
    if (n > 0) {
      const k = this.#subBuckets;
      const lo = records[REC_BUCKET]!;
      const hi = records[(n - 1) * REC_FIELDS + REC_BUCKET]!;
      const firstTs = records[REC_FIRST_TS]!;
      const lastTs = records[(n - 1) * REC_FIELDS + REC_LAST_TS]!;
      if (firstTs < this.startMs || lastTs >= this.endMs) {
        throw new Error(
          `BUG: addRollupRecords: records of points ${firstTs} … ${lastTs} (buckets ${lo} … ${hi} of ${this.#kernelIntervalMs} ms) ` +
          `are not inside [${this.startMs}, ${this.endMs})`,
        );
      }
      this.#ensureWindow(Math.floor(lo / k), Math.floor(hi / k));
      for (let o = 0; o < records.length; o += REC_FIELDS) {
        mergeRecord(this.#mode, records, o, Math.floor(records[o + REC_BUCKET]! / k) - this.#base, this.#count, this.#x, this.#y);
      }
    }
    this.#hasPrev = true;
    this.#prevTs = last.ts;
    this.#prevVal = last.value;
  }

  /** Refuses a chunk starting before the series' previous point (chunks come in time order). */
  #checkContinues(firstTs: number, where: string): void {
    if (this.#hasPrev && firstTs < this.#prevTs) {
      throw new AggregationInputError(
        `${where}: chunk starting at ${firstTs} is before the series' previous point at ${this.#prevTs}; ` +
        `chunks of a series must come in time order (call beginSeries() between series)`,
        'minTs', -1, firstTs,
      );
    }
  }

  /**
   * Rate: the increase from the series' previous point to a chunk's first point, as a record
   * of its own (count 0; the chunk's records count the point), when that point is in range.
   */
  #addPredecessorPair(prevValue: number, ts: number, value: number): void {
    if (!(ts >= this.startMs && ts < this.endMs)) return;
    const bucket = Math.floor(Math.floor(ts / this.#kernelIntervalMs) / this.#subBuckets);
    this.#ensureWindow(bucket, bucket);
    const r = SCRATCH_RECORD;
    r[REC_BUCKET] = bucket;
    r[REC_COUNT] = 0;
    r[REC_INCREASE] = value >= prevValue ? value - prevValue : value;
    this.#mergeRecord(r, 0);
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
    const k = this.#subBuckets;
    if (k !== 1) {
      // Kernel buckets to the interval's: the records are scratch, rewritten in place.
      for (let o = first; o <= last; o += REC_FIELDS) f64[o + REC_BUCKET] = Math.floor(f64[o + REC_BUCKET]! / k);
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
    mergeRecord(this.#mode, rec, o, rec[o + REC_BUCKET]! - this.#base, this.#count, this.#x, this.#y);
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
    const { counts, perBucket } = bucketPercentiles(this.#valueRuns(), lo, nBuckets, QUANTILE_OF[this.aggregation]!);
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

  /** The percentile values held, as runs (views, not copies). */
  #valueRuns(): ValueRuns {
    return {
      values: this.#values.subarray(0, this.#nValues),
      runBuckets: this.#runBuckets.subarray(0, this.#nRuns),
      runCounts: this.#runCounts.subarray(0, this.#nRuns),
    };
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
