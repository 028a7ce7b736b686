/**
 * Sliding-window kernels for the range functions that dominate dashboards: rate, increase and
 * delta, and sum/avg_over_time. Each walks one series' points once for all steps: the window
 * [t - range, t] of step t only moves forward, so points enter at its right end and leave at
 * its left end, and a series costs O(points + steps) instead of O(steps × window) (a 1 h window
 * at a 60 s step re-reads every point 60 times), with no allocation per step or per series.
 *
 * The answers are Prometheus 2.42's (`promql/functions.go`), to within 1e-9 relative at worst
 * and, for rate/increase/delta, bit for bit: see each kernel for how.
 */

/** Where a kernel writes: a value and a presence flag per step. */
export interface StepOutput {
  readonly values: Float64Array;
  readonly present: Uint8Array;
}

/** `rate`, `increase` or `delta`. */
export type RateKind = 'rate' | 'increase' | 'delta';

/**
 * Prometheus' extrapolatedRate once the window's raw change is known: extrapolates to the
 * window's ends (at most half an average sample interval past the first and last points, and
 * for counters no further back than the zero point), per second for rate.
 */
export function extrapolate(
  result: number, first: number, firstTs: number, lastTs: number, count: number,
  rangeStart: number, rangeEnd: number, rangeMs: number, isCounter: boolean, isRate: boolean,
): number {
  let durationToStart = (firstTs - rangeStart) / 1000;
  const durationToEnd = (rangeEnd - lastTs) / 1000;
  const sampledInterval = (lastTs - firstTs) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (count - 1);
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
  if (isRate) factor /= rangeMs / 1000;
  return result * factor;
}

/**
 * Where a series' counter resets are: index k when vs[k] < vs[k - 1] (NaN compares false both
 * ways, as in Prometheus' loop, so it is never a reset). One per thread, reused from series to
 * series (the kernel is synchronous), grown as needed and never shrunk: at most 4 bytes per
 * point of the largest series read, and nearly every counter has no reset at all.
 */
export class ResetPositions {
  at = new Int32Array(64);
  count = 0;

  /**
   * Finds the resets of vs[0..n). Fast path / slow path: four points a turn while none of
   * them is below its predecessor (a counter without resets, nearly every series), then one
   * by one from the first block that holds a reset (or a NaN) to the end, which also takes the
   * last n mod 4 points. Both compare the same pairs, so they find the same resets; the fast
   * loop took 0.50 ns a point where the one-by-one loop took 0.80 (bench/rate_reset_scan.bench.ts),
   * the scan being a third of the rate kernel's time over a day of 10 s points at a 60 s step.
   */
  scan(vs: Float64Array, n: number): void {
    let count = 0;
    let at = this.at;
    let previous = n > 0 ? vs[0]! : 0;
    let k = 1;
    for (; k + 3 < n; k += 4) {
      const a = vs[k]!;
      const b = vs[k + 1]!;
      const c = vs[k + 2]!;
      const d = vs[k + 3]!;
      // `!(x >= y)` rather than `x < y`: NaN makes the block leave the fast path, where the
      // one-by-one loop then compares exactly as before (a NaN is never a reset there).
      if (!(a >= previous && b >= a && c >= b && d >= c)) break;
      previous = d;
    }
    for (; k < n; k++) {
      const v = vs[k]!;
      if (v < previous) {
        if (count === at.length) {
          const grown = new Int32Array(count * 2);
          grown.set(at);
          this.at = at = grown;
        }
        at[count++] = k;
      }
      previous = v;
    }
    this.count = count;
  }
}

const resetPositions = new ResetPositions();

/*
 * A window's ends, step after step: at regular sampling and a regular step both move by the
 * same number of points each time, so the last move is tried first (two comparisons); where
 * the guess is wrong, the timestamps are walked one by one from where the end was. Either way
 * the answer is the one index the sorted timestamps allow, so the guess changes no result.
 */

/** The first index from `from` on whose timestamp is past `limit` (ts[k] > limit), guessing `from + move`. */
function firstAfter(ts: Float64Array, from: number, move: number, limit: number): number {
  const n = ts.length;
  const guess = from + move;
  if (move > 0 && guess <= n && ts[guess - 1]! <= limit && (guess === n || ts[guess]! > limit)) return guess;
  let k = from;
  while (k < n && ts[k]! <= limit) k++;
  return k;
}

/** The first index from `from` on whose timestamp is at or past `limit` (ts[k] >= limit), guessing `from + move`. */
function firstAtOrAfter(ts: Float64Array, from: number, move: number, limit: number): number {
  const n = ts.length;
  const guess = from + move;
  if (move > 0 && guess <= n && ts[guess - 1]! < limit && (guess === n || ts[guess]! >= limit)) return guess;
  let k = from;
  while (k < n && ts[k]! < limit) k++;
  return k;
}

/**
 * rate/increase/delta of one series at every step. Returns whether any step has a value.
 *
 * The window's two ends are found by walking the timestamps alone. Counter resets are found
 * first, in one pass over the values (ResetPositions), so a window holds a reset exactly when
 * the next reset after its first point comes before its end: a window without one, nearly
 * every window, needs no correction, and a window with some adds each reset's previous value
 * in Prometheus' own order (`last - first`, then the resets from oldest to newest), so the
 * result is bit for bit Prometheus'. Resets are not counted as points enter and leave the
 * window: that put bookkeeping on every point of both walks, and the kernel was a fifth of
 * bench/promql_vs_victoriametrics.ts's rate query CPU (in-process profile). A running sum of
 * the corrections would be cheaper still but lose digits once a large counter has reset and
 * left the window.
 */
export function rateKernel(
  kind: RateKind, ts: Float64Array, vs: Float64Array, steps: Float64Array, rangeMs: number, offsetMs: number, out: StepOutput,
): boolean {
  const isCounter = kind !== 'delta';
  const isRate = kind === 'rate';
  const n = ts.length;
  const { values, present } = out;
  const resets = resetPositions;
  if (isCounter) resets.scan(vs, n);
  const resetCount = isCounter ? resets.count : 0;
  const resetAt = resets.at;
  /** The first reset after the window's first point (resetAt[nextReset] > lo). */
  let nextReset = 0;
  let lo = 0;
  let hi = 0;
  /** Where the window's ends were a step earlier: how far they moved is the guess for the next step. */
  let previousLo = 0;
  let previousHi = 0;
  let any = false;
  for (let i = 0; i < steps.length; i++) {
    const rangeEnd = steps[i]! - offsetMs;
    const rangeStart = rangeEnd - rangeMs;
    const nextHi = firstAfter(ts, hi, hi - previousHi, rangeEnd);
    previousHi = hi;
    hi = nextHi;
    const nextLo = firstAtOrAfter(ts, lo, lo - previousLo, rangeStart);
    previousLo = lo;
    lo = nextLo;
    if (hi - lo < 2) continue;
    const first = vs[lo]!;
    let result = vs[hi - 1]! - first;
    while (nextReset < resetCount && resetAt[nextReset]! <= lo) nextReset++;
    for (let r = nextReset; r < resetCount && resetAt[r]! < hi; r++) result += vs[resetAt[r]! - 1]!;
    values[i] = extrapolate(result, first, ts[lo]!, ts[hi - 1]!, hi - lo, rangeStart, rangeEnd, rangeMs, isCounter, isRate);
    present[i] = 1;
    any = true;
  }
  return any;
}

/** 2^-53: the relative rounding error of one float64 operation. */
const UNIT_ROUNDOFF = 2 ** -53;
/** How far (relative) the running sum may have drifted before a window is re-added from scratch. */
const DRIFT_TOLERANCE = 1e-13;

/**
 * Prometheus' compensated sum (kahanSumInc, Neumaier's variant) of points lo..hi-1, in its
 * order: used where a window's own values cancel so much that only the same arithmetic as
 * Prometheus' gives the same digits.
 */
export function neumaierSum(vs: Float64Array, lo: number, hi: number): number {
  let sum = 0;
  let c = 0;
  for (let k = lo; k < hi; k++) {
    const inc = vs[k]!;
    const t = sum + inc;
    if (Math.abs(sum) >= Math.abs(inc)) c += (sum - t) + inc;
    else c += (inc - t) + sum;
    sum = t;
  }
  return !Number.isFinite(sum) && !Number.isNaN(sum) ? sum : sum + c;
}

/**
 * sum_over_time (or avg_over_time, the sum over the count) of one series at every step.
 * Only for series whose values are all finite: Inf - Inf would not take an infinity back out
 * of the window.
 *
 * Exactness: the window's sum is held as a double-double (hi, lo): each point entering or
 * leaving is added to hi with Knuth's TwoSum, which is exact, and its rounding error goes
 * into lo. The only rounding left is in lo, at most 2^-53 × |lo| per operation, so the kernel
 * keeps that bound (`drift`). Where it is not far below 1e-13 of the window's sum (a huge
 * value left the window, or the window's values cancel), the window is re-added from scratch;
 * if its own values still cancel, it takes Prometheus' compensated sum in Prometheus' order.
 * So every window is within ~1e-13 relative of the exact sum, where Prometheus' Kahan sum also
 * is (both are then well within the 1e-9 the conformance test allows), or equal to Prometheus'.
 * Kahan/Neumaier alone on a sliding sum would not do: its compensation is only exact while
 * values are added, and the error of removals accumulates over a whole day of points.
 */
export function sumKernel(
  average: boolean, ts: Float64Array, vs: Float64Array, steps: Float64Array, rangeMs: number, offsetMs: number, out: StepOutput,
): boolean {
  const n = ts.length;
  let lo = 0;
  let hi = 0;
  let sumHi = 0;
  let sumLo = 0;
  let drift = 0;
  let any = false;
  const { values, present } = out;
  for (let i = 0; i < steps.length; i++) {
    const rangeEnd = steps[i]! - offsetMs;
    const rangeStart = rangeEnd - rangeMs;
    while (hi < n && ts[hi]! <= rangeEnd) {
      const x = vs[hi]!;
      const s = sumHi + x;
      const bv = s - sumHi;
      sumLo += (sumHi - (s - bv)) + (x - bv);
      sumHi = s;
      drift += Math.abs(sumLo);
      hi++;
    }
    // lo never passes hi: a point before rangeStart is before rangeEnd, so it has entered.
    while (lo < n && ts[lo]! < rangeStart) {
      const x = -vs[lo]!;
      const s = sumHi + x;
      const bv = s - sumHi;
      sumLo += (sumHi - (s - bv)) + (x - bv);
      sumHi = s;
      drift += Math.abs(sumLo);
      lo++;
    }
    if (hi === lo) {
      // An empty window: the next one starts from an exact zero.
      sumHi = 0;
      sumLo = 0;
      drift = 0;
      continue;
    }
    let sum = sumHi + sumLo;
    if (drift * UNIT_ROUNDOFF > DRIFT_TOLERANCE * Math.abs(sum)) {
      sumHi = 0;
      sumLo = 0;
      drift = 0;
      for (let k = lo; k < hi; k++) {
        const x = vs[k]!;
        const s = sumHi + x;
        const bv = s - sumHi;
        sumLo += (sumHi - (s - bv)) + (x - bv);
        sumHi = s;
        drift += Math.abs(sumLo);
      }
      sum = sumHi + sumLo;
      if (drift * UNIT_ROUNDOFF > DRIFT_TOLERANCE * Math.abs(sum)) sum = neumaierSum(vs, lo, hi);
    }
    values[i] = average ? sum / (hi - lo) : sum;
    present[i] = 1;
    any = true;
  }
  return any;
}
