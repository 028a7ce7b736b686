/**
 * Capacity planning over a forecast path: when does the series cross a limit ("this HSM
 * partition fills in 9 days ± 2"), and should capacity change. The crossing of the mean path is
 * the estimate; the crossings of the interval bounds give its range: the pessimistic bound
 * crosses first, the optimistic one last (or never within the horizon).
 */
import type { ForecastPath } from './forecast.js';

export interface ThresholdCrossing {
  /** 'rising' when the limit is above the last value (filling up), 'falling' when below. */
  direction: 'rising' | 'falling';
  /** Steps (1-based) until the mean path reaches the limit, or undefined within the horizon. */
  expectedStep: number | undefined;
  /** Steps until the pessimistic interval bound reaches it: the earliest plausible crossing. */
  earliestStep: number | undefined;
  /** Steps until the optimistic bound reaches it; undefined = not within the horizon. */
  latestStep: number | undefined;
  /** Chance the limit is reached within the horizon, from the last step's predictive normal. */
  probabilityWithinHorizon: number;
}

function firstStep(path: Float64Array, reached: (v: number) => boolean): number | undefined {
  for (let i = 0; i < path.length; i++) if (reached(path[i]!)) return i + 1;
  return undefined;
}

export function thresholdCrossing(forecast: ForecastPath, lastValue: number, limit: number, coverage = 0.95): ThresholdCrossing {
  if (!Number.isFinite(limit)) throw new RangeError(`limit=${limit} must be a finite number`);
  const direction = limit >= lastValue ? 'rising' : 'falling';
  const reached = direction === 'rising' ? (v: number): boolean => v >= limit : (v: number): boolean => v <= limit;
  const pessimistic = direction === 'rising' ? forecast.upper : forecast.lower;
  const optimistic = direction === 'rising' ? forecast.lower : forecast.upper;
  const h = forecast.mean.length - 1;
  // Predictive σ at the horizon, recovered from the interval width.
  const z = quantileForCoverage(coverage);
  const sigma = (forecast.upper[h]! - forecast.lower[h]!) / (2 * z);
  const distance = direction === 'rising' ? forecast.mean[h]! - limit : limit - forecast.mean[h]!;
  const probabilityWithinHorizon = sigma > 0 ? normalCdf(distance / sigma) : distance >= 0 ? 1 : 0;
  return {
    direction,
    expectedStep: firstStep(forecast.mean, reached),
    earliestStep: firstStep(pessimistic, reached),
    latestStep: firstStep(optimistic, reached),
    probabilityWithinHorizon,
  };
}

function normalCdf(z: number): number {
  // Abramowitz–Stegun 7.1.26 through erf; ample for a displayed probability.
  const t = 1 / (1 + 0.3275911 * (Math.abs(z) / Math.SQRT2));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-(z * z) / 2);
  return z >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y);
}

function quantileForCoverage(coverage: number): number {
  // Inverse of normalCdf by bisection: called once per request.
  let lo = 0;
  let hi = 10;
  const target = 0.5 + coverage / 2;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (normalCdf(mid) < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export interface ScalingRecommendation {
  action: 'scale_up' | 'scale_down' | 'none';
  /** Peak of the upper bound over the horizon, as a fraction of the capacity. */
  peakUtilisation: number;
  /** Capacity that keeps the upper bound at TARGET_UTILISATION; equal to capacity for 'none'. */
  recommendedCapacity: number;
  reason: string;
}

/** Headroom policy: keep the pessimistic peak at or under 80% of capacity… */
export const TARGET_UTILISATION = 0.8;
/** …and release capacity only when even that peak stays under 30% of it. */
export const SCALE_DOWN_UTILISATION = 0.3;

export function scalingRecommendation(forecast: ForecastPath, capacity: number): ScalingRecommendation {
  if (!(capacity > 0)) throw new RangeError(`capacity=${capacity} must be a positive number`);
  let peak = -Infinity;
  for (const v of forecast.upper) peak = Math.max(peak, v);
  const peakUtilisation = peak / capacity;
  const needed = peak / TARGET_UTILISATION;
  if (peakUtilisation > TARGET_UTILISATION) {
    return {
      action: 'scale_up',
      peakUtilisation,
      recommendedCapacity: needed,
      reason: `forecast upper bound peaks at ${(100 * peakUtilisation).toFixed(0)}% of capacity (target ≤ ${100 * TARGET_UTILISATION}%)`,
    };
  }
  if (peakUtilisation < SCALE_DOWN_UTILISATION) {
    return {
      action: 'scale_down',
      peakUtilisation,
      recommendedCapacity: Math.max(needed, 0),
      reason: `forecast upper bound stays under ${(100 * peakUtilisation).toFixed(0)}% of capacity`,
    };
  }
  return { action: 'none', peakUtilisation, recommendedCapacity: capacity, reason: 'forecast stays within the headroom policy' };
}
