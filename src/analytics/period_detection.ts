/**
 * Seasonal period by autocorrelation: the lag (in points) of the strongest local maximum of the
 * sample autocorrelation function, preferring a whole fraction of it (within 3%) whose
 * autocorrelation is within 10% of the best, so that a daily cycle is not reported as its
 * weekly multiple. Used by the seasonal detector and by
 * Holt-Winters forecasting. The ACF comes from an FFT (fft_autocorrelation.ts), so detection is
 * O(n log n): 16k buckets cost ~2 ms where the direct sum cost ~75 ms.
 */
import { autocorrelationFft } from './fft_autocorrelation.js';

export interface DetectedPeriod {
  /** Period in points; 0 when no seasonality is found. */
  period: number;
  /** Autocorrelation at that lag, in [-1, 1]. */
  strength: number;
}

export interface PeriodOptions {
  minLag?: number;
  /** Default: a third of the input. */
  maxLag?: number;
  /** Minimal autocorrelation to call a lag seasonal. Default 0.3. */
  minStrength?: number;
}

export function autocorrelation(values: ArrayLike<number>, lag: number, mean: number, variance: number): number {
  const n = values.length;
  if (lag >= n || variance <= 0) return 0;
  let s = 0;
  for (let i = lag; i < n; i++) s += (values[i]! - mean) * (values[i - lag]! - mean);
  return s / (n * variance);
}

export function detectPeriod(values: ArrayLike<number>, options: PeriodOptions = {}): DetectedPeriod {
  const n = values.length;
  const minLag = Math.max(2, options.minLag ?? 2);
  const maxLag = Math.min(options.maxLag ?? Math.floor(n / 3), Math.floor(n / 2));
  const minStrength = options.minStrength ?? 0.3;
  if (maxLag <= minLag + 1) return { period: 0, strength: 0 };
  // Remove the least-squares line first: a trend correlates with itself at every lag and would
  // swamp the seasonal peaks (a growing series with a daily cycle reported no period or a wrong one).
  const detrended = new Float64Array(n);
  const mx = (n - 1) / 2;
  let my = 0;
  for (let i = 0; i < n; i++) my += values[i]!;
  my /= n;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < n; i++) {
    sxy += (i - mx) * (values[i]! - my);
    sxx += (i - mx) ** 2;
  }
  const slope = sxx > 0 ? sxy / sxx : 0;
  for (let i = 0; i < n; i++) detrended[i] = values[i]! - my - slope * (i - mx);
  let variance = 0;
  for (let i = 0; i < n; i++) variance += detrended[i]! ** 2;
  if (!(variance / n > 1e-300)) return { period: 0, strength: 0 };
  const acf = autocorrelationFft(detrended, maxLag + 1);
  const peaks: Array<{ lag: number; r: number }> = [];
  // A smooth series correlates with itself at short lags; peaks count only once the ACF has
  // first dropped below zero (a trend that never does has no period).
  let firstDip = minLag;
  while (firstDip <= maxLag && acf[firstDip]! > 0) firstDip++;
  for (let lag = firstDip; lag <= maxLag; lag++) {
    const r = acf[lag]!;
    if (r >= minStrength && r > acf[lag - 1]! && r >= acf[lag + 1]!) peaks.push({ lag, r });
  }
  if (peaks.length === 0) return { period: 0, strength: 0 };
  let best = peaks[0]!;
  for (const p of peaks) if (p.r > best.r) best = p;
  // Noise makes small local maxima next to the true peak, so a shorter lag is preferred only
  // when it is a whole fraction of the best one (a daily peak under a weekly one).
  for (let k = Math.floor(best.lag / minLag); k >= 2; k--) {
    const target = best.lag / k;
    const tolerance = Math.max(1, 0.03 * target);
    let fundamental: { lag: number; r: number } | undefined;
    for (const p of peaks) {
      if (Math.abs(p.lag - target) <= tolerance && p.r >= 0.9 * best.r && (fundamental === undefined || p.r > fundamental.r)) fundamental = p;
    }
    if (fundamental !== undefined) return { period: refineLag(values, fundamental.lag), strength: fundamental.r };
  }
  return { period: refineLag(values, best.lag), strength: best.r };
}

/** Differences compared per candidate lag: the newest few cycles say as much as all of them. */
const REFINE_POINTS = 16_384;

/**
 * The biased ACF leans towards shorter lags (fewer products at long lags), which turns a
 * 288-point day into 287; the lag with the least mean absolute difference x[i] − x[i−lag]
 * within ±3% is the precise one. Only the newest REFINE_POINTS differences are compared, which
 * keeps this step linear in the lag range rather than in the history.
 */
function refineLag(values: ArrayLike<number>, lag: number): number {
  const n = values.length;
  const from = Math.max(0, n - REFINE_POINTS);
  const tolerance = Math.max(1, Math.round(0.03 * lag));
  let bestLag = lag;
  let bestDiff = Infinity;
  for (let l = Math.max(2, lag - tolerance); l <= Math.min(n - 1, lag + tolerance); l++) {
    let d = 0;
    const start = Math.max(l, from);
    for (let i = start; i < n; i++) d += Math.abs(values[i]! - values[i - l]!);
    d /= n - start;
    if (d < bestDiff) {
      bestDiff = d;
      bestLag = l;
    }
  }
  return bestLag;
}
