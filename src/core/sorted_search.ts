/**
 * Binary search on ascending timestamp columns, shared by the chunk codec's range decode, the
 * query reader's head slicing and the alert windows.
 */

/** First index with a[i] >= x (a.length when none). */
export function lowerBound(a: Float64Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
