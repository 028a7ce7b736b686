/**
 * The PromQL functions over range vectors (`rate(x[5m])`, `avg_over_time(x[1h])` …) applied to
 * one series' points at every step, over the window [t - offset - range, t - offset] (both
 * ends inclusive, as in Prometheus 2.x). Each follows Prometheus 2.42's `promql/functions.go`
 * line by line: the extrapolation of rate/increase/delta (extrapolatedRate), counter-reset
 * handling, irate's last two points, Kahan-compensated sums, and quantile's linear
 * interpolation.
 *
 * The window's two ends only move forward as the steps advance, so a series costs one pass
 * over its points plus the work of each window. rate, increase, delta and sum/avg_over_time
 * do not even re-read the window: window_kernels.ts finds each window's ends and counter
 * resets (rate) or keeps its sum up to date as points enter and leave (sum/avg).
 *
 * It lives with the query engine, below PromQL, because the engine runs it next to the chunks
 * (range_function_read.ts, on the main thread or in a query worker) and returns only step
 * values; src/promql/range_functions.ts names the result series.
 */
import { neumaierSum, rateKernel, sumKernel, type RateKind, type StepOutput } from './window_kernels.js';

/** One window: points lo..hi-1 of ts/vs, inside [rangeStart, rangeEnd]. */
interface Window {
  ts: Float64Array;
  vs: Float64Array;
  lo: number;
  hi: number;
  rangeStart: number;
  rangeEnd: number;
  rangeMs: number;
  /** quantile_over_time's φ at this step. */
  param: number;
}

/** Returns the value for the window, or undefined for no sample at this step. */
type WindowFunction = (w: Window) => number | undefined;

function instantRate(w: Window): number | undefined {
  if (w.hi - w.lo < 2) return undefined;
  const last = w.vs[w.hi - 1]!;
  const previous = w.vs[w.hi - 2]!;
  const result = last < previous ? last : last - previous;
  const sampledIntervalMs = w.ts[w.hi - 1]! - w.ts[w.hi - 2]!;
  if (sampledIntervalMs === 0) return undefined;
  return result / (sampledIntervalMs / 1000);
}

/*
 * avg and sum use Neumaier's compensated summation, Prometheus' kahanSumInc, written out inline:
 * returning the (sum, compensation) pair as an array allocated once per point and made
 * avg_over_time over 24 h of 100 series at a 60 s step take 2 s instead of 0.2 s.
 */

function avgOverTime(w: Window): number {
  let mean = 0;
  let count = 0;
  let c = 0;
  for (let k = w.lo; k < w.hi; k++) {
    const v = w.vs[k]!;
    count++;
    if (!Number.isFinite(mean) && !Number.isNaN(mean)) {
      // An infinite mean stays what it is unless an Inf of the other sign or a NaN arrives
      // (Inf - Inf would turn it into NaN below).
      if (!Number.isFinite(v) && !Number.isNaN(v) && (mean > 0) === (v > 0)) continue;
      if (Number.isFinite(v)) continue;
    }
    const inc = v / count - mean / count;
    const t = mean + inc;
    if (Math.abs(mean) >= Math.abs(inc)) c += (mean - t) + inc;
    else c += (inc - t) + mean;
    mean = t;
  }
  return !Number.isFinite(mean) && !Number.isNaN(mean) ? mean : mean + c;
}

function sumOverTime(w: Window): number {
  return neumaierSum(w.vs, w.lo, w.hi);
}

function minOverTime(w: Window): number {
  let min = w.vs[w.lo]!;
  for (let k = w.lo; k < w.hi; k++) {
    const v = w.vs[k]!;
    if (v < min || Number.isNaN(min)) min = v;
  }
  return min;
}

function maxOverTime(w: Window): number {
  let max = w.vs[w.lo]!;
  for (let k = w.lo; k < w.hi; k++) {
    const v = w.vs[k]!;
    if (v > max || Number.isNaN(max)) max = v;
  }
  return max;
}

/** φ-quantile with linear interpolation between the closest ranks (Prometheus `quantile`). */
export function quantile(q: number, values: number[]): number {
  if (values.length === 0) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  // Go sorts NaN first (its Less is a < b || isNaN(a)).
  values.sort((a, b) => (Number.isNaN(a) ? (Number.isNaN(b) ? 0 : -1) : Number.isNaN(b) ? 1 : a - b));
  const n = values.length;
  const rank = q * (n - 1);
  const lowerIndex = Math.max(0, Math.floor(rank));
  const upperIndex = Math.min(n - 1, lowerIndex + 1);
  const weight = rank - Math.floor(rank);
  return values[lowerIndex]! * (1 - weight) + values[upperIndex]! * weight;
}

const WINDOW_FUNCTIONS: Readonly<Record<string, WindowFunction>> = {
  irate: instantRate,
  avg_over_time: avgOverTime,
  sum_over_time: sumOverTime,
  min_over_time: minOverTime,
  max_over_time: maxOverTime,
  count_over_time: (w) => w.hi - w.lo,
  last_over_time: (w) => w.vs[w.hi - 1],
  quantile_over_time: (w) => quantile(w.param, Array.from(w.vs.subarray(w.lo, w.hi))),
};

const RATE_KINDS: ReadonlySet<string> = new Set<RateKind>(['rate', 'increase', 'delta']);

function allFinite(vs: Float64Array): boolean {
  for (let k = 0; k < vs.length; k++) if (!Number.isFinite(vs[k]!)) return false;
  return true;
}

export function isRangeFunction(name: string): boolean {
  return WINDOW_FUNCTIONS[name] !== undefined || RATE_KINDS.has(name);
}

/**
 * `func` over one series' points (ascending epoch ms) at every step, written into `out` (a
 * value and a presence flag per step, all absent on entry). Returns whether any step has a
 * value. What query workers run (range_function_read.ts) and what PromQL's own evaluation runs, so both answer the same.
 */
export function evalRangeFunctionOfSeries(
  func: string, ts: Float64Array, vs: Float64Array, stepsMs: Float64Array, rangeMs: number, offsetMs: number,
  param: Float64Array | undefined, out: StepOutput,
): boolean {
  if (RATE_KINDS.has(func)) {
    // NaN and ±Inf need no other path here: the kernel's arithmetic is the per-window one.
    return rateKernel(func as RateKind, ts, vs, stepsMs, rangeMs, offsetMs, out);
  }
  const sumLike = func === 'sum_over_time' || func === 'avg_over_time';
  if (sumLike && allFinite(vs)) return sumKernel(func === 'avg_over_time', ts, vs, stepsMs, rangeMs, offsetMs, out);
  const fn = WINDOW_FUNCTIONS[func];
  if (fn === undefined) throw new Error(`BUG: ${func} is not a range function`);
  const w: Window = { ts, vs, lo: 0, hi: 0, rangeStart: 0, rangeEnd: 0, rangeMs, param: NaN };
  const n = ts.length;
  let lo = 0;
  let hi = 0;
  let any = false;
  for (let i = 0; i < stepsMs.length; i++) {
    const rangeEnd = stepsMs[i]! - offsetMs;
    const rangeStart = rangeEnd - rangeMs;
    while (hi < n && ts[hi]! <= rangeEnd) hi++;
    while (lo < n && ts[lo]! < rangeStart) lo++;
    if (hi <= lo) continue;
    w.lo = lo;
    w.hi = hi;
    w.rangeStart = rangeStart;
    w.rangeEnd = rangeEnd;
    if (param !== undefined) w.param = param[i]!;
    const v = fn(w);
    if (v === undefined) continue;
    out.values[i] = v;
    out.present[i] = 1;
    any = true;
  }
  return any;
}
