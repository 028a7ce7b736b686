/**
 * The functions over range vectors (`rate(x[5m])`, `avg_over_time(x[1h])` …), evaluated for
 * every step over each series' window of points [t - range, t] (both ends inclusive, as in
 * Prometheus 2.x). Each follows Prometheus 2.42's `promql/functions.go` line by line: the
 * extrapolation of rate/increase/delta (extrapolatedRate), counter-reset handling, irate's
 * last two points, Kahan-compensated sums, and quantile's linear interpolation.
 *
 * The window's two ends only move forward as the steps advance, so a series costs one pass
 * over its points plus the work of each window.
 */
import type { RawSeries } from './series_source.js';
import { dropMetricName, mergeSameLabels, newStepSeries, type StepSeries } from './step_values.js';

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
  /**
   * For rate/increase over a series without NaN or ±Inf: resets[k] is the sum of the values
   * before each counter reset at or before point k, so a window's correction is one
   * subtraction instead of a pass over its points.
   */
  resets: Float64Array | undefined;
}

/** Returns the value for the window, or undefined for no sample at this step. */
type WindowFunction = (w: Window) => number | undefined;

function extrapolatedRate(w: Window, isCounter: boolean, isRate: boolean): number | undefined {
  const { ts, vs, lo, hi } = w;
  const n = hi - lo;
  if (n < 2) return undefined;
  const first = vs[lo]!;
  let result = vs[hi - 1]! - first;
  if (isCounter && w.resets !== undefined) {
    result += w.resets[hi - 1]! - w.resets[lo]!;
  } else if (isCounter) {
    let prev = first;
    for (let k = lo + 1; k < hi; k++) {
      const v = vs[k]!;
      if (v < prev) result += prev;
      prev = v;
    }
  }
  let durationToStart = (ts[lo]! - w.rangeStart) / 1000;
  const durationToEnd = (w.rangeEnd - ts[hi - 1]!) / 1000;
  const sampledInterval = (ts[hi - 1]! - ts[lo]!) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (n - 1);
  if (isCounter && result > 0 && first >= 0) {
    // Counters cannot be negative: extrapolate no further back than the counter's zero point.
    const durationToZero = sampledInterval * (first / result);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  const extrapolationThreshold = averageDurationBetweenSamples * 1.1;
  let extrapolateToInterval = sampledInterval;
  extrapolateToInterval += durationToStart < extrapolationThreshold ? durationToStart : averageDurationBetweenSamples / 2;
  extrapolateToInterval += durationToEnd < extrapolationThreshold ? durationToEnd : averageDurationBetweenSamples / 2;
  let factor = extrapolateToInterval / sampledInterval;
  if (isRate) factor /= w.rangeMs / 1000;
  return result * factor;
}

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
  let sum = 0;
  let c = 0;
  for (let k = w.lo; k < w.hi; k++) {
    const inc = w.vs[k]!;
    const t = sum + inc;
    if (Math.abs(sum) >= Math.abs(inc)) c += (sum - t) + inc;
    else c += (inc - t) + sum;
    sum = t;
  }
  return !Number.isFinite(sum) && !Number.isNaN(sum) ? sum : sum + c;
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
  rate: (w) => extrapolatedRate(w, true, true),
  increase: (w) => extrapolatedRate(w, true, false),
  delta: (w) => extrapolatedRate(w, false, false),
  irate: instantRate,
  avg_over_time: avgOverTime,
  sum_over_time: sumOverTime,
  min_over_time: minOverTime,
  max_over_time: maxOverTime,
  count_over_time: (w) => w.hi - w.lo,
  last_over_time: (w) => w.vs[w.hi - 1],
  quantile_over_time: (w) => quantile(w.param, Array.from(w.vs.subarray(w.lo, w.hi))),
};

/**
 * sum/avg/count_over_time through prefix sums: O(points + steps) per series instead of
 * O(steps × window) (a 1 h window at a 60 s step re-adds each point 60 times; 24 h of 100
 * series took ~0.5 s that way). The prefix sums are kept in double-double (a value and its
 * rounding error, Knuth's TwoSum), so a window's sum is exact to ~1e-30 of the running total:
 * as close to the true sum as Prometheus' own compensated sum, within the 1e-9 of the
 * conformance test. Series holding NaN or ±Inf take the direct loop, whose IEEE semantics
 * (Inf - Inf) the prefix differences would not keep.
 */
class PrefixSums {
  readonly hi: Float64Array;
  readonly lo: Float64Array;

  constructor(vs: Float64Array) {
    this.hi = new Float64Array(vs.length + 1);
    this.lo = new Float64Array(vs.length + 1);
    let hi = 0;
    let lo = 0;
    for (let k = 0; k < vs.length; k++) {
      const v = vs[k]!;
      const t = hi + v;
      const bv = t - hi;
      lo += (hi - (t - bv)) + (v - bv);
      hi = t;
      this.hi[k + 1] = hi;
      this.lo[k + 1] = lo;
    }
  }

  /** Sum of points a..b-1. */
  sum(a: number, b: number): number {
    const x = this.hi[b]!;
    const y = -this.hi[a]!;
    const d = x + y;
    const bv = d - x;
    const err = (x - (d - bv)) + (y - bv);
    return d + (err + (this.lo[b]! - this.lo[a]!));
  }
}

const PREFIX_FUNCTIONS: Readonly<Record<string, (p: PrefixSums, lo: number, hi: number) => number>> = {
  sum_over_time: (p, lo, hi) => p.sum(lo, hi),
  avg_over_time: (p, lo, hi) => p.sum(lo, hi) / (hi - lo),
};

function resetPrefix(vs: Float64Array): Float64Array {
  const out = new Float64Array(vs.length);
  for (let k = 1; k < vs.length; k++) out[k] = out[k - 1]! + (vs[k]! < vs[k - 1]! ? vs[k - 1]! : 0);
  return out;
}

function allFinite(vs: Float64Array): boolean {
  for (let k = 0; k < vs.length; k++) if (!Number.isFinite(vs[k]!)) return false;
  return true;
}

export function isRangeFunction(name: string): boolean {
  return WINDOW_FUNCTIONS[name] !== undefined;
}

/**
 * Applies `func` to every series' window at every step. `stepsMs` are the evaluation times;
 * the window of step t is [t - offset - range, t - offset]. `param` is quantile_over_time's φ.
 */
export function evalRangeFunction(
  func: string, input: readonly RawSeries[], stepsMs: Float64Array, rangeMs: number, offsetMs: number,
  param: Float64Array | undefined, checkDeadline: () => void,
): StepSeries[] {
  const fn = WINDOW_FUNCTIONS[func];
  if (fn === undefined) throw new Error(`BUG: ${func} is not a range function`);
  const out: StepSeries[] = [];
  const w: Window = { ts: new Float64Array(0), vs: new Float64Array(0), lo: 0, hi: 0, rangeStart: 0, rangeEnd: 0, rangeMs, param: NaN, resets: undefined };
  for (const s of input) {
    checkDeadline();
    // last_over_time acts like an offset and keeps the metric name; the others drop it.
    const result = newStepSeries(func === 'last_over_time' ? s.labels : dropMetricName(s.labels), stepsMs.length);
    const ts = s.timestamps;
    const n = ts.length;
    w.ts = ts;
    w.vs = s.values;
    const prefixFn = PREFIX_FUNCTIONS[func];
    const finite = allFinite(s.values);
    const prefix = prefixFn !== undefined && finite ? new PrefixSums(s.values) : undefined;
    w.resets = (func === 'rate' || func === 'increase') && finite ? resetPrefix(s.values) : undefined;
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
      const v = prefix !== undefined ? prefixFn!(prefix, lo, hi) : fn(w);
      if (v === undefined) continue;
      result.values[i] = v;
      result.present[i] = 1;
      any = true;
    }
    if (any) out.push(result);
  }
  return mergeSameLabels(out);
}
