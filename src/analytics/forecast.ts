/**
 * Forecasting cores over plain arrays: Holt-Winters additive (seasonal period detected by
 * autocorrelation, or given) and ordinary-least-squares linear trend, each with prediction
 * intervals. The engine-backed `forecast` API (analytics_api.ts) feeds them aggregated buckets.
 *
 * Holt-Winters: Holt (1957), Winters (1960); the error-correction form and the h-step variance
 * of ETS(A,A,A) follow Hyndman, Koehler, Ord & Snyder, "Forecasting with Exponential Smoothing"
 * (2008), table 6.1 class 1: Var(h) = σ²·[1 + Σ_{j=1}^{h−1} (α + αβj + γ·[j mod m = 0])²].
 */
import { detectPeriod } from './period_detection.js';
import { normalQuantile } from './normal_distribution.js';

/** The models a forecast can come from (forecast_auto.ts chooses among them). */
export type ForecastModelName = 'holt_winters' | 'linear' | 'damped_trend' | 'seasonal_naive';

export interface ForecastPath {
  /** Predicted value at each step 1..horizon after the last observation. */
  mean: Float64Array;
  lower: Float64Array;
  upper: Float64Array;
  /** Standard deviation of one-step-ahead errors on the fitted data. */
  residualStd: number;
  method: ForecastModelName;
  /** Seasonal period in steps (0 for a non-seasonal fit). */
  period: number;
}

export interface HoltWintersParams {
  alpha: number;
  beta: number;
  gamma: number;
}

/** Two-sided coverage of the prediction intervals, e.g. 0.95. */
function zFor(coverage: number): number {
  if (!(coverage > 0 && coverage < 1)) throw new RangeError(`coverage=${coverage} must be in (0, 1)`);
  return normalQuantile(0.5 + coverage / 2);
}

interface HwState {
  level: number;
  trend: number;
  seasonal: Float64Array;
  sse: number;
  count: number;
}

function runHoltWinters(y: ArrayLike<number>, m: number, p: HoltWintersParams): HwState {
  const n = y.length;
  // Classical start: level = mean of cycle 1, trend = mean change per step between cycles 1 and 2,
  // seasonal = cycle 1 minus its mean.
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < m; i++) {
    s1 += y[i]!;
    s2 += y[i + m]!;
  }
  let level = s1 / m;
  let trend = (s2 - s1) / (m * m);
  const seasonal = new Float64Array(m);
  for (let i = 0; i < m; i++) seasonal[i] = y[i]! - level;
  let sse = 0;
  let count = 0;
  for (let t = m; t < n; t++) {
    const si = t % m;
    const predicted = level + trend + seasonal[si]!;
    const error = y[t]! - predicted;
    if (t >= 2 * m) {
      sse += error * error;
      count++;
    }
    const newLevel = level + trend + p.alpha * error;
    trend += p.alpha * p.beta * error;
    seasonal[si] = seasonal[si]! + p.gamma * error;
    level = newLevel;
  }
  return { level, trend, seasonal, sse, count };
}

const ALPHAS = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9];
const BETAS = [0, 0.01, 0.05, 0.1, 0.3];
const GAMMAS = [0.01, 0.05, 0.1, 0.2, 0.4];

/**
 * Fits additive Holt-Winters by grid search on one-step squared error (the grid is coarse on
 * purpose: the likelihood surface is flat near its optimum and a fine search overfits) and
 * forecasts `horizon` steps with `coverage` prediction intervals. Needs ≥ 3 full cycles.
 */
export function holtWintersForecast(
  values: ArrayLike<number>,
  horizon: number,
  options: { period?: number; coverage?: number; params?: HoltWintersParams } = {},
): ForecastPath & { params: HoltWintersParams } {
  const n = values.length;
  const m = options.period ?? detectPeriod(values).period;
  if (!Number.isInteger(horizon) || horizon < 1) throw new RangeError(`horizon=${horizon} must be a positive integer`);
  if (!Number.isInteger(m) || m < 2) throw new RangeError(`holtWintersForecast: period=${m} must be an integer ≥ 2 (no seasonality found)`);
  if (n < 3 * m) throw new RangeError(`holtWintersForecast: ${n} points are fewer than 3 cycles of period ${m}`);
  let best: { params: HoltWintersParams; state: HwState } | undefined;
  const grid = options.params !== undefined ? [options.params] : ALPHAS.flatMap((alpha) => BETAS.flatMap((beta) => GAMMAS.map((gamma) => ({ alpha, beta, gamma }))));
  for (const params of grid) {
    const state = runHoltWinters(values, m, params);
    if (best === undefined || state.sse < best.state.sse) best = { params, state };
  }
  const { params, state } = best!;
  const sigma = Math.sqrt(state.sse / Math.max(1, state.count));
  const z = zFor(options.coverage ?? 0.95);
  const mean = new Float64Array(horizon);
  const lower = new Float64Array(horizon);
  const upper = new Float64Array(horizon);
  let varianceSum = 0;
  for (let h = 1; h <= horizon; h++) {
    if (h > 1) {
      const j = h - 1;
      const c = params.alpha + params.alpha * params.beta * j + (j % m === 0 ? params.gamma : 0);
      varianceSum += c * c;
    }
    const f = state.level + h * state.trend + state.seasonal[(n + h - 1) % m]!;
    const half = z * sigma * Math.sqrt(1 + varianceSum);
    mean[h - 1] = f;
    lower[h - 1] = f - half;
    upper[h - 1] = f + half;
  }
  return { mean, lower, upper, residualStd: sigma, method: 'holt_winters', period: m, params };
}

export interface LinearFit {
  intercept: number;
  /** Change per unit of x. */
  slope: number;
  residualStd: number;
  n: number;
  meanX: number;
  sxx: number;
}

/** Ordinary least squares y = intercept + slope·x. */
export function fitLinear(x: ArrayLike<number>, y: ArrayLike<number>): LinearFit {
  const n = x.length;
  if (n !== y.length) throw new RangeError(`fitLinear: x.length=${n} differs from y.length=${y.length}`);
  if (n < 3) throw new RangeError(`fitLinear: needs at least 3 points; got ${n}`);
  let mx = 0;
  let my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (x[i]! - mx) ** 2;
    sxy += (x[i]! - mx) * (y[i]! - my);
  }
  if (sxx === 0) throw new RangeError('fitLinear: every x is the same; no trend can be fitted');
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  let sse = 0;
  for (let i = 0; i < n; i++) sse += (y[i]! - intercept - slope * x[i]!) ** 2;
  return { intercept, slope, residualStd: Math.sqrt(sse / (n - 2)), n, meanX: mx, sxx };
}

/** Student-t quantile via the Cornish-Fisher expansion around the normal one (good for ν ≥ 3). */
function tQuantile(p: number, dof: number): number {
  const z = normalQuantile(p);
  const z3 = z ** 3;
  const z5 = z ** 5;
  return z + (z3 + z) / (4 * dof) + (5 * z5 + 16 * z3 + 3 * z) / (96 * dof * dof);
}

/** Mean and prediction interval of a linear fit at x0 (a new observation, not the mean line). */
export function linearPrediction(fit: LinearFit, x0: number, coverage = 0.95): { mean: number; lower: number; upper: number } {
  zFor(coverage);
  const t = tQuantile(0.5 + coverage / 2, Math.max(1, fit.n - 2));
  const mean = fit.intercept + fit.slope * x0;
  const half = t * fit.residualStd * Math.sqrt(1 + 1 / fit.n + (x0 - fit.meanX) ** 2 / fit.sxx);
  return { mean, lower: mean - half, upper: mean + half };
}

/** Linear-trend forecast at `horizon` steps of size `step` after the last x. */
export function linearForecast(x: ArrayLike<number>, y: ArrayLike<number>, horizon: number, step: number, coverage = 0.95): ForecastPath & { fit: LinearFit } {
  if (!Number.isInteger(horizon) || horizon < 1) throw new RangeError(`horizon=${horizon} must be a positive integer`);
  const fit = fitLinear(x, y);
  const last = x[x.length - 1]!;
  const mean = new Float64Array(horizon);
  const lower = new Float64Array(horizon);
  const upper = new Float64Array(horizon);
  for (let h = 1; h <= horizon; h++) {
    const p = linearPrediction(fit, last + h * step, coverage);
    mean[h - 1] = p.mean;
    lower[h - 1] = p.lower;
    upper[h - 1] = p.upper;
  }
  return { mean, lower, upper, residualStd: fit.residualStd, method: 'linear', period: 0, fit };
}
