// Exact per-bucket percentiles: linear interpolation between closest ranks, numpy's default
// ("linear" method): sorted x, pos = q·(n−1), x[⌊pos⌋] + (pos−⌊pos⌋)·(x[⌈pos⌉]−x[⌊pos⌋]).
// See docs/format/aggregation.md.
//
// Input: the values of many runs (a run = consecutive values of one bucket, as recorded by
// accumulatePoints) in any bucket order. A counting pass groups them by bucket into one
// contiguous slice each; then each slice is partially ordered by quickselect instead of being
// sorted: only the two order statistics around pos are needed, so the expected cost is O(n)
// rather than O(n log n). Quickselect with median-of-three pivots falls back to heapsort when
// its iteration budget (≈ 2·log2 n) runs out, so adversarial inputs stay O(n log n).

@inline function at(p: usize, i: i32): f64 {
  return load<f64>(p + (<usize>i << 3));
}

@inline function put(p: usize, i: i32, v: f64): void {
  store<f64>(p + (<usize>i << 3), v);
}

@inline function swap(p: usize, i: i32, j: i32): void {
  const t = at(p, i);
  put(p, i, at(p, j));
  put(p, j, t);
}

function insertionSort(p: usize, lo: i32, hi: i32): void {
  for (let i = lo + 1; i <= hi; i++) {
    const v = at(p, i);
    let j = i - 1;
    while (j >= lo && at(p, j) > v) {
      put(p, j + 1, at(p, j));
      j--;
    }
    put(p, j + 1, v);
  }
}

function siftDown(p: usize, lo: i32, root: i32, size: i32): void {
  while (true) {
    let child = 2 * root + 1;
    if (child >= size) return;
    if (child + 1 < size && at(p, lo + child + 1) > at(p, lo + child)) child++;
    if (at(p, lo + root) >= at(p, lo + child)) return;
    swap(p, lo + root, lo + child);
    root = child;
  }
}

function heapSort(p: usize, lo: i32, hi: i32): void {
  const size = hi - lo + 1;
  for (let root = (size >> 1) - 1; root >= 0; root--) siftDown(p, lo, root, size);
  for (let end = size - 1; end > 0; end--) {
    swap(p, lo, lo + end);
    siftDown(p, lo, 0, end);
  }
}

/**
 * Reorders the n values at p so that p[k] is the k-th smallest, everything before it is <= it
 * and everything after it is >= it. Values must not be NaN (the accumulator refuses NaN).
 */
export function selectKth(p: usize, n: i32, k: i32): void {
  selectKthWithBudget(p, n, k, 2 * (32 - clz<i32>(n)) + 4);
}

/**
 * selectKth with an explicit budget of partitioning rounds before the heapsort fallback;
 * exported so tests can force the fallback (budget 0) on ordinary inputs.
 */
export function selectKthWithBudget(p: usize, n: i32, k: i32, budget: i32): void {
  let lo: i32 = 0;
  let hi: i32 = n - 1;
  while (hi > lo) {
    if (hi - lo < 16) {
      insertionSort(p, lo, hi);
      return;
    }
    if (--budget < 0) {
      heapSort(p, lo, hi);
      return;
    }
    const mid = lo + ((hi - lo) >> 1);
    if (at(p, mid) < at(p, lo)) swap(p, mid, lo);
    if (at(p, hi) < at(p, lo)) swap(p, hi, lo);
    if (at(p, hi) < at(p, mid)) swap(p, hi, mid);
    const pivot = at(p, mid);
    // Hoare partition: afterwards [lo, j] <= pivot, [i, hi] >= pivot, (j, i) == pivot.
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (at(p, i) < pivot) i++;
      while (at(p, j) > pivot) j--;
      if (i <= j) {
        swap(p, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else return;
  }
}

/** Percentile q (in [0, 1]) of the n values at p, by linear interpolation. Reorders them. */
export function percentileOf(p: usize, n: i32, q: f64): f64 {
  const pos = q * <f64>(n - 1);
  const lower = <i32>Math.floor(pos);
  selectKth(p, n, lower);
  const below = at(p, lower);
  const frac = pos - <f64>lower;
  if (frac == 0 || lower + 1 >= n) return below;
  // After selection everything past `lower` is >= it; the next order statistic is their min.
  let above = at(p, lower + 1);
  for (let i = lower + 2; i < n; i++) above = min(above, at(p, i));
  return below + frac * (above - below);
}

/**
 * Groups `n` values (at valPtr) by bucket and writes percentile q of each bucket to
 * out[bucket] (nBuckets float64s; buckets without values get NaN). The values come as
 * `nRuns` runs: run r is runCount[r] consecutive values belonging to bucket runBucket[r]
 * (both i32 arrays, bucket numbers relative to the first bucket, in [0, nBuckets)).
 * Returns 0, or -1 when the runs do not add up to n or name a bucket out of range.
 */
export function percentilesByBucket(
  valPtr: usize, n: i32, runBucketPtr: usize, runCountPtr: usize, nRuns: i32,
  nBuckets: i32, q: f64, outPtr: usize,
): i32 {
  const offsets = heap.alloc(<usize>(nBuckets + 1) << 2);
  memory.fill(offsets, 0, <usize>(nBuckets + 1) << 2);
  let total: i32 = 0;
  for (let r = 0; r < nRuns; r++) {
    const b = load<i32>(runBucketPtr + (<usize>r << 2));
    const c = load<i32>(runCountPtr + (<usize>r << 2));
    if (<u32>b >= <u32>nBuckets || c < 0) return -1;
    store<i32>(offsets + (<usize>(b + 1) << 2), load<i32>(offsets + (<usize>(b + 1) << 2)) + c);
    total += c;
  }
  if (total != n) return -1;
  for (let b = 0; b < nBuckets; b++) {
    const here = offsets + (<usize>(b + 1) << 2);
    store<i32>(here, load<i32>(here) + load<i32>(here - 4));
  }
  // Scatter run by run; `cursor` walks each bucket's slice.
  const grouped = heap.alloc(<usize>max(n, 1) << 3);
  const cursor = heap.alloc(<usize>max(nBuckets, 1) << 2);
  memory.copy(cursor, offsets, <usize>nBuckets << 2);
  let src: i32 = 0;
  for (let r = 0; r < nRuns; r++) {
    const b = load<i32>(runBucketPtr + (<usize>r << 2));
    const c = load<i32>(runCountPtr + (<usize>r << 2));
    const dst = load<i32>(cursor + (<usize>b << 2));
    memory.copy(grouped + (<usize>dst << 3), valPtr + (<usize>src << 3), <usize>c << 3);
    store<i32>(cursor + (<usize>b << 2), dst + c);
    src += c;
  }
  for (let b = 0; b < nBuckets; b++) {
    const lo = load<i32>(offsets + (<usize>b << 2));
    const hi = load<i32>(offsets + (<usize>(b + 1) << 2));
    put(outPtr, b, hi > lo ? percentileOf(grouped + (<usize>lo << 3), hi - lo, q) : NaN);
  }
  return 0;
}
