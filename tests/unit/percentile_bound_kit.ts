/**
 * The exact percentile definition of the exact path (assembly/percentile.ts: linear
 * interpolation between closest ranks) and the bound DDSketch states for it
 * (src/core/ddsketch.ts, file comment), for tests of approximate percentiles.
 */

/** Exact value at q of ascending `sorted`, and α·((1 − f)·|x_⌊pos⌋| + f·|x_⌈pos⌉|). */
export function exactAndBound(sorted: Float64Array | number[], q: number, alpha: number): { exact: number; bound: number } {
  const n = sorted.length;
  const pos = q * (n - 1);
  const lo = Math.floor(pos);
  const f = pos - lo;
  const hi = f > 0 ? lo + 1 : lo;
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return { exact: a + f * (b - a), bound: alpha * ((1 - f) * Math.abs(a) + f * Math.abs(b)) };
}
