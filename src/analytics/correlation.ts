/**
 * Correlation cores over plain arrays: Pearson, Spearman (Pearson of average ranks), the best
 * lag within a bound, and the join of two bucketed series on shared bucket timestamps.
 */

export type CorrelationMethod = 'pearson' | 'spearman';

export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  const n = x.length;
  if (n !== y.length) throw new RangeError(`pearson: x.length=${n} differs from y.length=${y.length}`);
  if (n < 3) return NaN;
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  // A constant series has no correlation with anything: NaN, filtered out by callers.
  if (sxx === 0 || syy === 0) return NaN;
  return Math.max(-1, Math.min(1, sxy / Math.sqrt(sxx * syy)));
}

/** 1-based average ranks (ties share the mean of their positions). */
export function averageRanks(values: ArrayLike<number>): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => values[a]! - values[b]!);
  const ranks = new Float64Array(n);
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && values[order[j + 1]!] === values[order[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]!] = rank;
    i = j + 1;
  }
  return ranks;
}

export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  return pearson(averageRanks(x), averageRanks(y));
}

export function correlate(x: ArrayLike<number>, y: ArrayLike<number>, method: CorrelationMethod): number {
  return method === 'pearson' ? pearson(x, y) : spearman(x, y);
}

export interface LaggedCorrelation {
  r: number;
  /**
   * Steps by which the secondary series lags the primary: r = corr(primary[t], secondary[t + lag]).
   * Positive = the secondary moves after the primary.
   */
  lag: number;
  /** Pairs the correlation was computed over. */
  n: number;
}

/** Correlation at every lag in [−maxLag, maxLag]; the strongest |r| wins (ties: the smallest |lag|). */
export function bestLagCorrelation(primary: ArrayLike<number>, secondary: ArrayLike<number>, maxLag: number, method: CorrelationMethod): LaggedCorrelation {
  const n = primary.length;
  if (n !== secondary.length) throw new RangeError(`bestLagCorrelation: lengths differ (${n} vs ${secondary.length})`);
  if (!Number.isInteger(maxLag) || maxLag < 0) throw new RangeError(`maxLag=${maxLag} must be a non-negative integer`);
  let best: LaggedCorrelation = { r: NaN, lag: 0, n: 0 };
  const lags = [0];
  for (let k = 1; k <= maxLag; k++) lags.push(k, -k);
  for (const lag of lags) {
    const len = n - Math.abs(lag);
    // Short overlaps give spurious |r| near 1; demand at least 10 pairs.
    if (len < 10) continue;
    const a = lag >= 0 ? sliceOf(primary, 0, len) : sliceOf(primary, -lag, n);
    const b = lag >= 0 ? sliceOf(secondary, lag, n) : sliceOf(secondary, 0, len);
    const r = correlate(a, b, method);
    if (!Number.isNaN(r) && (Number.isNaN(best.r) || Math.abs(r) > Math.abs(best.r) + 1e-12)) best = { r, lag, n: len };
  }
  return best;
}

function sliceOf(values: ArrayLike<number>, start: number, end: number): Float64Array {
  const out = new Float64Array(end - start);
  for (let i = start; i < end; i++) out[i - start] = values[i]!;
  return out;
}

/**
 * Aligns two bucketed series on the buckets both have: filling a gap would invent data,
 * so a bucket missing from either side is dropped from both.
 */
export function alignOnTimestamps(
  a: { timestamps: ArrayLike<number>; values: ArrayLike<number> },
  b: { timestamps: ArrayLike<number>; values: ArrayLike<number> },
): { timestamps: Float64Array; x: Float64Array; y: Float64Array } {
  const ts: number[] = [];
  const xs: number[] = [];
  const ys: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.timestamps.length && j < b.timestamps.length) {
    const ta = a.timestamps[i]!;
    const tb = b.timestamps[j]!;
    if (ta === tb) {
      if (Number.isFinite(a.values[i]!) && Number.isFinite(b.values[j]!)) {
        ts.push(ta);
        xs.push(a.values[i]!);
        ys.push(b.values[j]!);
      }
      i++;
      j++;
    } else if (ta < tb) i++;
    else j++;
  }
  return { timestamps: Float64Array.from(ts), x: Float64Array.from(xs), y: Float64Array.from(ys) };
}
