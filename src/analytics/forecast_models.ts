/**
 * The candidate forecasting models of `forecastAuto` (forecast_auto.ts), each reduced to what
 * selection and calibration need: fit on a head of the history, then walk the whole history
 * and, at chosen origins, predict the next `horizon` points from the state at that origin.
 *
 * - exponential smoothing, error-correction form (Hyndman et al. 2008, ETS(A,Ad,A) / ETS(A,Ad,N)):
 *   additive Holt-Winters with a damped trend when `period` ≥ 2, damped Holt when 0;
 * - linear trend by least squares over the history seen so far (expanding window);
 * - seasonal naive (period m) and naive (m = 1).
 *
 * The trend damping φ is chosen from {0.9, 0.98, 1} (1: Holt's undamped trend, which a filling
 * disk needs). Parameters are fitted by coordinate descent over small grids on the one-step
 * squared error of the head: ~30 passes instead of a full grid's ~100, which is what keeps a
 * 16k-bucket forecast with three candidate periods near 10 ms of CPU.
 */

export interface SmoothingParams {
  alpha: number;
  /** Trend gain as a fraction of alpha (β* = α·beta); 0 = no trend. */
  beta: number;
  gamma: number;
  /** Trend damping; 1 = undamped. */
  phi: number;
}

/** Called at each origin with the predicted values for the next steps (index 0 = one step). */
export type OriginVisitor = (origin: number, predictions: Float64Array) => void;

export interface CandidateModel {
  /** What the forecast reports as its method. */
  readonly method: 'holt_winters' | 'damped_trend' | 'linear' | 'seasonal_naive';
  readonly period: number;
  /** Fits on values[0..headEnd). */
  fit(values: ArrayLike<number>, headEnd: number): void;
  /**
   * Walks values[0..n) once, with the fitted parameters; before observing index o ∈ origins
   * (ascending) calls visit(o, predictions of values[o..o+horizon)). Origin n gives the forecast.
   */
  walk(values: ArrayLike<number>, origins: readonly number[], horizon: number, visit: OriginVisitor): void;
}

const ALPHAS = [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9, 1];
const BETAS = [0, 0.02, 0.1, 0.3];
const GAMMAS = [0.02, 0.1, 0.25, 0.5];
const PHIS = [0.9, 0.98, 1];

interface SmoothingState {
  level: number;
  trend: number;
  seasonal: Float64Array;
}

/** Classical start from the first one or two cycles (or the first few points without season). */
function initialState(y: ArrayLike<number>, m: number): SmoothingState {
  if (m < 2) {
    const k = Math.min(y.length, 10);
    return { level: y[0]!, trend: k > 1 ? (y[k - 1]! - y[0]!) / (k - 1) : 0, seasonal: new Float64Array(1) };
  }
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < m; i++) {
    s1 += y[i]!;
    s2 += y[i + m]!;
  }
  const mean1 = s1 / m;
  const mean2 = s2 / m;
  const seasonal = new Float64Array(m);
  for (let i = 0; i < m; i++) seasonal[i] = (y[i]! - mean1 + y[i + m]! - mean2) / 2;
  // The filter starts at index 0 with the level of cycle 1's middle moved back half a cycle.
  const trend = (mean2 - mean1) / m;
  return { level: mean1 - trend * ((m - 1) / 2) - trend, trend, seasonal };
}

/** One-step squared error of values[from..to) under `p`, starting from the classical state. */
function smoothingSse(y: ArrayLike<number>, m: number, p: SmoothingParams, to: number): number {
  const st = initialState(y, m);
  const seasonal = st.seasonal;
  let { level, trend } = st;
  const seasonalOn = m >= 2;
  const from = seasonalOn ? m : 1;
  const a = p.alpha;
  const b = p.alpha * p.beta;
  const g = p.gamma;
  const phi = p.phi;
  let sse = 0;
  let si = 0;
  for (let t = 0; t < to; t++) {
    const damped = phi * trend;
    const s = seasonalOn ? seasonal[si]! : 0;
    const error = y[t]! - (level + damped + s);
    if (t >= from) sse += error * error;
    level = level + damped + a * error;
    trend = damped + b * error;
    if (seasonalOn) {
      seasonal[si] = s + g * error;
      if (++si === m) si = 0;
    }
  }
  return sse;
}

export class ExponentialSmoothing implements CandidateModel {
  readonly method: 'holt_winters' | 'damped_trend';
  params: SmoothingParams;

  constructor(readonly period: number) {
    this.method = period >= 2 ? 'holt_winters' : 'damped_trend';
    this.params = { alpha: 0.2, beta: 0.02, gamma: period >= 2 ? 0.1 : 0, phi: 0.98 };
  }

  fit(values: ArrayLike<number>, headEnd: number): void {
    const m = this.period;
    const grids: Array<[keyof SmoothingParams, readonly number[]]> = [['alpha', ALPHAS], ['beta', BETAS], ['phi', PHIS]];
    if (m >= 2) grids.push(['gamma', GAMMAS]);
    let best = this.params;
    let bestSse = smoothingSse(values, m, best, headEnd);
    for (let round = 0; round < 2; round++) {
      let improved = false;
      // The second round revisits only the levels' gains, to which the error is most sensitive.
      for (const [key, grid] of round === 0 ? grids : grids.filter(([k]) => k === 'alpha' || k === 'gamma')) {
        for (const v of grid) {
          if (v === best[key]) continue;
          const trial = { ...best, [key]: v };
          const sse = smoothingSse(values, m, trial, headEnd);
          if (sse < bestSse) {
            bestSse = sse;
            best = trial;
            improved = true;
          }
        }
      }
      if (!improved) break;
    }
    this.params = best;
  }

  walk(y: ArrayLike<number>, origins: readonly number[], horizon: number, visit: OriginVisitor): void {
    const m = this.period;
    const seasonalOn = m >= 2;
    const st = initialState(y, m);
    const seasonal = st.seasonal;
    let { level, trend } = st;
    const { alpha: a, gamma: g, phi } = this.params;
    const b = this.params.alpha * this.params.beta;
    const out = new Float64Array(horizon);
    let next = 0;
    let si = 0;
    const n = y.length;
    for (let t = 0; t <= n; t++) {
      while (next < origins.length && origins[next] === t) {
        let damp = 0;
        let pow = 1;
        let slot = si;
        for (let h = 0; h < horizon; h++) {
          pow *= phi;
          damp += pow;
          out[h] = level + damp * trend + (seasonalOn ? seasonal[slot]! : 0);
          if (++slot === m) slot = 0;
        }
        visit(t, out);
        next++;
      }
      if (t === n) break;
      const damped = phi * trend;
      const s = seasonalOn ? seasonal[si]! : 0;
      const error = y[t]! - (level + damped + s);
      level = level + damped + a * error;
      trend = damped + b * error;
      if (seasonalOn) {
        seasonal[si] = s + g * error;
        if (++si === m) si = 0;
      }
    }
  }
}

/** Least-squares line through everything seen before the origin (sums kept as it walks). */
export class LinearTrend implements CandidateModel {
  readonly method = 'linear' as const;
  readonly period = 0;

  fit(): void {
    // Nothing to fit ahead: the line is refitted at every origin from running sums.
  }

  walk(y: ArrayLike<number>, origins: readonly number[], horizon: number, visit: OriginVisitor): void {
    const out = new Float64Array(horizon);
    let sx = 0;
    let sy = 0;
    let sxx = 0;
    let sxy = 0;
    let next = 0;
    for (let t = 0; t <= y.length; t++) {
      while (next < origins.length && origins[next] === t) {
        const k = t;
        const denom = k * sxx - sx * sx;
        const slope = k >= 2 && denom > 0 ? (k * sxy - sx * sy) / denom : 0;
        const intercept = k > 0 ? (sy - slope * sx) / k : 0;
        for (let h = 0; h < horizon; h++) out[h] = intercept + slope * (t + h);
        visit(t, out);
        next++;
      }
      if (t === y.length) break;
      const v = y[t]!;
      sx += t;
      sy += v;
      sxx += t * t;
      sxy += t * v;
    }
  }
}

/** Repeats the last cycle (period m), or the last value (m = 1). */
export class SeasonalNaive implements CandidateModel {
  readonly method = 'seasonal_naive' as const;

  constructor(readonly period: number) {}

  fit(): void {
    // No parameters.
  }

  walk(y: ArrayLike<number>, origins: readonly number[], horizon: number, visit: OriginVisitor): void {
    const m = Math.max(1, this.period);
    const out = new Float64Array(horizon);
    for (const t of origins) {
      for (let h = 0; h < horizon; h++) {
        const back = t + h - m * (Math.floor(h / m) + 1);
        out[h] = y[Math.max(0, back)]!;
      }
      visit(t, out);
    }
  }
}
