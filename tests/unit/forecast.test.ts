import { describe, expect, it } from 'vitest';
import { fitLinear, holtWintersForecast, linearForecast, linearPrediction } from '../../src/analytics/forecast.js';
import { scalingRecommendation, thresholdCrossing } from '../../src/analytics/capacity_planning.js';
import { SeededRandom } from '../../src/analytics/seeded_random.js';

describe('Holt-Winters additive', () => {
  const truth = (t: number): number => 50 + 0.1 * t + 10 * Math.sin((2 * Math.PI * t) / 24);
  const rng = new SeededRandom(21);
  const n = 24 * 12;
  const y = Float64Array.from({ length: n }, (_, t) => truth(t) + 0.5 * rng.normal());

  it('detects the period and recovers trend and seasonality', () => {
    const f = holtWintersForecast(y, 48);
    expect(f.period).toBe(24);
    let absError = 0;
    for (let h = 1; h <= 48; h++) absError += Math.abs(f.mean[h - 1]! - truth(n - 1 + h));
    expect(absError / 48).toBeLessThan(1);
    // Residual σ close to the injected noise σ = 0.5.
    expect(f.residualStd).toBeGreaterThan(0.35);
    expect(f.residualStd).toBeLessThan(0.8);
  });

  it('95% intervals cover about 95% of future noisy values and widen with the horizon', () => {
    let covered = 0;
    const trials = 20;
    for (let k = 0; k < trials; k++) {
      const r = new SeededRandom(100 + k);
      const series = Float64Array.from({ length: n + 24 }, (_, t) => truth(t) + 0.5 * r.normal());
      const f = holtWintersForecast(series.subarray(0, n), 24, { period: 24 });
      for (let h = 0; h < 24; h++) if (series[n + h]! >= f.lower[h]! && series[n + h]! <= f.upper[h]!) covered++;
      expect(f.upper[23]! - f.lower[23]!).toBeGreaterThanOrEqual(f.upper[0]! - f.lower[0]!);
    }
    expect(covered / (trials * 24)).toBeGreaterThan(0.85);
  });

  it('refuses too little data or no seasonality, naming the numbers', () => {
    expect(() => holtWintersForecast(y.subarray(0, 50), 5, { period: 24 })).toThrow('holtWintersForecast: 50 points are fewer than 3 cycles of period 24');
    expect(() => holtWintersForecast(y, 0)).toThrow('horizon=0 must be a positive integer');
  });
});

describe('linear trend', () => {
  it('recovers slope and intercept, with t-based prediction intervals', () => {
    const rng = new SeededRandom(3);
    const x = Float64Array.from({ length: 200 }, (_, i) => i);
    const y = x.map((v) => 3 + 2 * v + rng.normal());
    const fit = fitLinear(x, y);
    expect(fit.slope).toBeCloseTo(2, 1);
    expect(fit.intercept).toBeCloseTo(3, 0);
    expect(fit.residualStd).toBeCloseTo(1, 0);
    const p = linearPrediction(fit, 100);
    // Near the centre the half-width is ≈ 1.97·σ·√(1 + 1/n).
    expect((p.upper - p.lower) / 2).toBeCloseTo(1.972 * fit.residualStd * Math.sqrt(1 + 1 / 200 + (100 - 99.5) ** 2 / fit.sxx), 2);
    const f = linearForecast(x, y, 10, 1);
    expect(f.mean[9]).toBeCloseTo(fit.intercept + fit.slope * 209, 10);
  });
});

describe('capacity planning', () => {
  it('an HSM partition filling by 1 slot per hour from 50 crosses 100 after ~50 hours, inside its range', () => {
    const rng = new SeededRandom(8);
    const x = Float64Array.from({ length: 100 }, (_, i) => i);
    const y = x.map((v) => v - 50 + 0.5 * rng.normal()); // reaches 49 at x = 99
    const f = linearForecast(x, y, 200, 1);
    const c = thresholdCrossing(f, y[99]!, 100);
    expect(c.direction).toBe('rising');
    expect(c.expectedStep).toBeGreaterThanOrEqual(49);
    expect(c.expectedStep).toBeLessThanOrEqual(53);
    expect(c.earliestStep!).toBeLessThanOrEqual(c.expectedStep!);
    expect(c.latestStep!).toBeGreaterThanOrEqual(c.expectedStep!);
    expect(c.probabilityWithinHorizon).toBeGreaterThan(0.99);
    const flat = linearForecast(x, x.map(() => 10 + rng.normal()), 50, 1);
    const never = thresholdCrossing(flat, 10, 100);
    expect(never.expectedStep).toBeUndefined();
    expect(never.probabilityWithinHorizon).toBeLessThan(0.01);
  });

  it('recommends scaling from the forecast upper bound against the capacity', () => {
    const path = (peak: number) => ({ mean: Float64Array.of(peak - 1), lower: Float64Array.of(peak - 2), upper: Float64Array.of(peak), residualStd: 1, method: 'linear' as const, period: 0 });
    expect(scalingRecommendation(path(90), 100)).toMatchObject({ action: 'scale_up', recommendedCapacity: 112.5 });
    expect(scalingRecommendation(path(50), 100).action).toBe('none');
    expect(scalingRecommendation(path(20), 100)).toMatchObject({ action: 'scale_down', recommendedCapacity: 25 });
    expect(() => scalingRecommendation(path(20), 0)).toThrow('capacity=0 must be a positive number');
  });
});
