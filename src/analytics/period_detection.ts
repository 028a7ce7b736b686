/**
 * Seasonal period by autocorrelation: the lag (in points) of the strongest local maximum of the
 * sample autocorrelation function, preferring the shortest lag within 10% of the best so that a
 * daily cycle is not reported as its weekly multiple. Used by the seasonal detector and by
 * Holt-Winters forecasting.
 */

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
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i]!;
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (values[i]! - mean) ** 2;
  variance /= n;
  if (variance <= 0) return { period: 0, strength: 0 };
  const acf = new Float64Array(maxLag + 2);
  for (let lag = minLag - 1; lag <= maxLag + 1; lag++) acf[lag] = autocorrelation(values, lag, mean, variance);
  const peaks: Array<{ lag: number; r: number }> = [];
  for (let lag = minLag; lag <= maxLag; lag++) {
    const r = acf[lag]!;
    if (r >= minStrength && r > acf[lag - 1]! && r >= acf[lag + 1]!) peaks.push({ lag, r });
  }
  if (peaks.length === 0) return { period: 0, strength: 0 };
  const best = Math.max(...peaks.map((p) => p.r));
  const chosen = peaks.find((p) => p.r >= 0.9 * best)!;
  return { period: chosen.lag, strength: chosen.r };
}
