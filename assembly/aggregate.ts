// Bucketed aggregation of one series' points: count, sum, min, max, first, last, mean/M2
// (for avg and stddev) and counter increase (for rate), per epoch-aligned time bucket.
// Semantics and the record layout below: docs/format/aggregation.md.
//
// Points of a series are sorted by time, so the points of one bucket are a contiguous run.
// The kernel walks the runs and writes one compact RECORD per non-empty bucket instead of
// updating a dense per-bucket state array: the heap is reset between calls (scratch.ts), so
// the accumulator's state lives in JS (src/core/bucket_accumulator.ts) and merges these few records
// (a 8,640-point chunk of 10 s samples makes 24 hourly records) instead of copying a whole
// state array in and out of WASM memory for every chunk.
//
// Each run is summarised by tight per-field loops over contiguous memory. Mean and M2 use the
// two-pass formula (sum → mean, then Σ(x−mean)²), which avoids Welford's division per point and
// is at least as accurate; runs are merged later with Chan et al.'s pairwise formula.

// Aggregation modes: which record fields a call computes. Mirrored in src/core/aggregate_kernel.ts.
export const MODE_COUNT: i32 = 0;
export const MODE_SUM: i32 = 1; // sum and avg
export const MODE_MIN: i32 = 2;
export const MODE_MAX: i32 = 3;
export const MODE_FIRST: i32 = 4;
export const MODE_LAST: i32 = 5;
export const MODE_MOMENTS: i32 = 6; // stddev: mean and M2
export const MODE_RATE: i32 = 7; // counter increase
export const MODE_VALUES: i32 = 8; // percentiles: counts only; the caller keeps the value slice

// Record: REC_FIELDS float64s per non-empty bucket. Only the fields of the call's mode are
// written (plus REC_BUCKET and REC_COUNT, always).
export const REC_BUCKET: i32 = 0; // bucket number = floor(ts / intervalMs)
export const REC_COUNT: i32 = 1;
export const REC_SUM: i32 = 2;
export const REC_MIN: i32 = 3;
export const REC_MAX: i32 = 4;
export const REC_FIRST_TS: i32 = 5;
export const REC_FIRST_VAL: i32 = 6;
export const REC_LAST_TS: i32 = 7;
export const REC_LAST_VAL: i32 = 8;
export const REC_MEAN: i32 = 9;
export const REC_M2: i32 = 10;
export const REC_INCREASE: i32 = 11;
export const REC_FIELDS: i32 = 12;

// IO block: IO_FIELDS float64s the caller passes by pointer, read and written by the kernel.
export const IO_PREV_TS: i32 = 0; // in/out: the series' previous point (rate pairs, order check)
export const IO_PREV_VAL: i32 = 1;
export const IO_HAS_PREV: i32 = 2; // 0 or 1
export const IO_ERROR_INDEX: i32 = 3; // out: index of the offending point on E_AGG_UNSORTED / E_AGG_NAN
export const IO_SLICE_START: i32 = 4; // out: in-range points are [start, end) of the input
export const IO_SLICE_END: i32 = 5;
export const IO_RECORDS_PTR: i32 = 6; // out (chunk kernel): where the records were written
export const IO_VALUES_PTR: i32 = 7; // out (chunk kernel): where the decoded values are
export const IO_FIELDS: i32 = 8;

// Statuses. Far from the codec's small negative codes so the wrapper can tell them apart.
export const E_AGG_UNSORTED: i32 = -1001; // a timestamp is smaller than its predecessor's (or NaN)
export const E_AGG_NAN: i32 = -1002; // a value is NaN
export const E_AGG_CAPACITY: i32 = -1003; // more records than the output region holds

@inline function f64At(base: usize, index: i32): f64 {
  return load<f64>(base + (<usize>index << 3));
}

@inline function setField(rec: usize, field: i32, value: f64): void {
  store<f64>(rec + (<usize>field << 3), value);
}

/** First index in [lo, hi) whose timestamp is >= bound (timestamps ascending). */
function lowerBound(tsPtr: usize, lo: i32, hi: i32, bound: f64): i32 {
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (f64At(tsPtr, mid) < bound) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Accumulates `n` points (timestamps at `tsPtr`, values at `valPtr`, ascending time) of one
 * series into records at `outPtr` (capacity `cap` records), one per non-empty bucket of
 * [startMs, endMs). Points before startMs only serve as the rate predecessor; the last point
 * of the input becomes the IO block's previous point. Returns the number of records or a
 * negative status.
 */
export function accumulatePoints(
  tsPtr: usize, valPtr: usize, n: i32, mode: i32,
  intervalMs: f64, startMs: f64, endMs: f64,
  ioPtr: usize, outPtr: usize, cap: i32,
): i32 {
  const hasPrev = f64At(ioPtr, IO_HAS_PREV) != 0;
  let prevTs = f64At(ioPtr, IO_PREV_TS);
  let prevVal = f64At(ioPtr, IO_PREV_VAL);

  // Validation pass: cheap next to the work below, and it lets the loops below trust the order.
  let lastTs = hasPrev ? prevTs : -Infinity;
  for (let i = 0; i < n; i++) {
    const t = f64At(tsPtr, i);
    if (!(t >= lastTs)) {
      store<f64>(ioPtr + (<usize>IO_ERROR_INDEX << 3), <f64>i);
      return E_AGG_UNSORTED;
    }
    const v = f64At(valPtr, i);
    if (v != v) {
      store<f64>(ioPtr + (<usize>IO_ERROR_INDEX << 3), <f64>i);
      return E_AGG_NAN;
    }
    lastTs = t;
  }

  const first = lowerBound(tsPtr, 0, n, startMs);
  const end = lowerBound(tsPtr, first, n, endMs);
  // The rate predecessor of the first in-range point: the point just before the range in this
  // input, else the series' previous point from an earlier call.
  let havePred = hasPrev;
  if (first > 0) {
    havePred = true;
    prevTs = f64At(tsPtr, first - 1);
    prevVal = f64At(valPtr, first - 1);
  }

  let records: i32 = 0;
  let i = first;
  while (i < end) {
    const bucket = Math.floor(f64At(tsPtr, i) / intervalMs);
    const bucketEnd = (bucket + 1) * intervalMs;
    let j = i + 1;
    while (j < end && f64At(tsPtr, j) < bucketEnd) j++;
    if (records >= cap) return E_AGG_CAPACITY;
    const rec = outPtr + (<usize>records * <usize>REC_FIELDS << 3);
    setField(rec, REC_BUCKET, bucket);
    setField(rec, REC_COUNT, <f64>(j - i));
    if (mode == MODE_SUM) {
      let sum: f64 = 0;
      for (let k = i; k < j; k++) sum += f64At(valPtr, k);
      setField(rec, REC_SUM, sum);
    } else if (mode == MODE_MIN) {
      let lo = f64At(valPtr, i);
      for (let k = i + 1; k < j; k++) lo = min(lo, f64At(valPtr, k));
      setField(rec, REC_MIN, lo);
    } else if (mode == MODE_MAX) {
      let hi = f64At(valPtr, i);
      for (let k = i + 1; k < j; k++) hi = max(hi, f64At(valPtr, k));
      setField(rec, REC_MAX, hi);
    } else if (mode == MODE_FIRST) {
      setField(rec, REC_FIRST_TS, f64At(tsPtr, i));
      setField(rec, REC_FIRST_VAL, f64At(valPtr, i));
    } else if (mode == MODE_LAST) {
      setField(rec, REC_LAST_TS, f64At(tsPtr, j - 1));
      setField(rec, REC_LAST_VAL, f64At(valPtr, j - 1));
    } else if (mode == MODE_MOMENTS) {
      let sum: f64 = 0;
      for (let k = i; k < j; k++) sum += f64At(valPtr, k);
      const mean = sum / <f64>(j - i);
      let m2: f64 = 0;
      for (let k = i; k < j; k++) {
        const d = f64At(valPtr, k) - mean;
        m2 += d * d;
      }
      setField(rec, REC_MEAN, mean);
      setField(rec, REC_M2, m2);
    } else if (mode == MODE_RATE) {
      let increase: f64 = 0;
      let k = i;
      if (i == first) {
        // Pairs with the predecessor from before the range (or from the previous call).
        const v = f64At(valPtr, i);
        if (havePred) increase += v >= prevVal ? v - prevVal : v;
        k = i + 1;
      }
      let before = f64At(valPtr, k - 1);
      for (; k < j; k++) {
        const v = f64At(valPtr, k);
        // A drop is a counter reset: the counter restarted from 0 and rose to v.
        increase += v >= before ? v - before : v;
        before = v;
      }
      setField(rec, REC_INCREASE, increase);
    }
    records++;
    i = j;
  }

  store<f64>(ioPtr + (<usize>IO_SLICE_START << 3), <f64>first);
  store<f64>(ioPtr + (<usize>IO_SLICE_END << 3), <f64>end);
  if (n > 0) {
    store<f64>(ioPtr + (<usize>IO_PREV_TS << 3), f64At(tsPtr, n - 1));
    store<f64>(ioPtr + (<usize>IO_PREV_VAL << 3), f64At(valPtr, n - 1));
    store<f64>(ioPtr + (<usize>IO_HAS_PREV << 3), 1);
  }
  return records;
}
