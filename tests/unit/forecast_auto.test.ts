import { describe, expect, it } from 'vitest';
import { forecastAuto } from '../../src/analytics/forecast_auto.js';
import { autocorrelationFft } from '../../src/analytics/fft_autocorrelation.js';
import { autocorrelation, detectPeriod } from '../../src/analytics/period_detection.js';
import { ExponentialSmoothing, LinearTrend, SeasonalNaive } from '../../src/analytics/forecast_models.js';
import { SeededRandom } from '../../src/analytics/seeded_random.js';

const DAY_5M = 288;

function daily(n: number, seed: number, noise = 2, trend = 0): Float64Array {
  const rng = new SeededRandom(seed);
  return Float64Array.from({ length: n }, (_, i) => 50 + trend * i + 20 * Math.sin((2 * Math.PI * i) / DAY_5M) + noise * rng.normal());
}

describe('FFT autocorrelation', () => {
  it('equals the direct sum at every lag', () => {
    const rng = new SeededRandom(1);
    const x = Float64Array.from({ length: 1000 }, () => rng.normal());
    let mean = 0;
    for (const v of x) mean += v;
    mean /= x.length;
    const centred = x.map((v) => v - mean);
    let variance = 0;
    for (const v of centred) variance += v * v;
    variance /= x.length;
    const fast = autocorrelationFft(centred, 400);
    for (const lag of [0, 1, 7, 288, 400]) expect(fast[lag]).toBeCloseTo(autocorrelation(centred, lag, 0, variance), 9);
    expect(Array.from(autocorrelationFft(new Float64Array(10), 3))).toEqual([0, 0, 0, 0]);
  });

  it('finds a daily period in 16k buckets', () => {
    expect(detectPeriod(daily(16_000, 2)).period).toBe(DAY_5M);
  });
});

describe('forecastAuto', () => {
  it('continues a daily cycle with Holt-Winters and intervals that cover held-out points', () => {
    const all = daily(12 * DAY_5M, 3);
    const train = all.subarray(0, 11 * DAY_5M);
    const f = forecastAuto(train, DAY_5M, { stepMs: 300_000 });
    expect(f.period).toBe(DAY_5M);
    expect(['holt_winters', 'seasonal_naive']).toContain(f.method);
    expect(f.intervalSource).toBe('empirical');
    let covered = 0;
    let absError = 0;
    for (let h = 0; h < DAY_5M; h++) {
      const y = all[train.length + h]!;
      if (y >= f.lower[h]! && y <= f.upper[h]!) covered++;
      absError += Math.abs(y - f.mean[h]!);
    }
    expect(covered / DAY_5M).toBeGreaterThan(0.85);
    expect(absError / DAY_5M).toBeLessThan(4);
    expect(f.candidates.length).toBeGreaterThan(3);
  });

  it('uses the calendar day when autocorrelation finds no period (an hourly daily cycle under heavy noise)', () => {
    const rng = new SeededRandom(5);
    const hourly = Float64Array.from({ length: 24 * 20 }, (_, i) => 20 + 3 * Math.sin((2 * Math.PI * i) / 24) + 4 * rng.normal() + 0.02 * i);
    const f = forecastAuto(hourly, 24, { stepMs: 3_600_000 });
    expect(f.candidates.some((c) => c.period === 24 && c.method === 'holt_winters')).toBe(true);
  });

  it('degrades instead of throwing: holt_winters on a short series says it fell back', () => {
    const rng = new SeededRandom(6);
    const short = Float64Array.from({ length: 60 }, (_, i) => 10 + 0.5 * i + rng.normal());
    const f = forecastAuto(short, 12, { method: 'holt_winters', stepMs: 300_000 });
    expect(f.method).not.toBe('holt_winters');
    expect(f.requestedMethod).toBe('holt_winters');
    expect(f.fallback).toMatch(/holt_winters needs three cycles/);
    expect(f.mean[11]).toBeGreaterThan(f.mean[0]!);
    const tiny = forecastAuto([1, 2, 3, 4, 5], 3, { method: 'holt_winters' });
    expect(tiny.method).toBe('linear');
    expect(tiny.intervalSource).toBe('model');
    expect(tiny.fallback).toMatch(/too few/);
    expect(forecastAuto([1, 2, 3, 4, 5], 1, { method: 'linear' }).fallback).toBeUndefined();
    const naive = forecastAuto(short, 5, { method: 'seasonal_naive' });
    expect(naive.fallback).toMatch(/no season/);
    expect(naive.method).toBe('seasonal_naive');
  });

  it('follows a filling disk with a line and refuses what it cannot use', () => {
    const rng = new SeededRandom(7);
    const fill = Float64Array.from({ length: 500 }, (_, i) => 40 + 0.1 * i + 0.2 * rng.normal());
    const f = forecastAuto(fill, 100, { method: 'linear' });
    expect(f.method).toBe('linear');
    expect(f.mean[99]).toBeCloseTo(40 + 0.1 * 599, 0);
    expect(f.lower[99]).toBeLessThan(f.mean[99]!);
    expect(f.upper[99]).toBeGreaterThan(f.mean[99]!);
    // Intervals widen with the horizon, past the calibrated ones too.
    expect(f.upper[99]! - f.lower[99]!).toBeGreaterThanOrEqual(f.upper[0]! - f.lower[0]!);
    const long = forecastAuto(fill, 3000, { method: 'damped_trend' });
    expect(long.upper[2999]! - long.lower[2999]!).toBeGreaterThan(long.upper[100]! - long.lower[100]!);
    expect(() => forecastAuto(fill, 0)).toThrow(/horizon=0/);
    expect(() => forecastAuto(fill, 5, { coverage: 1 })).toThrow(/coverage=1/);
    expect(() => forecastAuto([1, 2], 5)).toThrow(/at least 3 points/);
  });

  it('candidate models predict what they should from a given origin', () => {
    const y = Float64Array.from({ length: 40 }, (_, i) => (i % 4) + 0.5 * i);
    const seen: number[][] = [];
    new SeasonalNaive(4).walk(y, [40], 4, (_, p) => seen.push(Array.from(p)));
    expect(seen[0]).toEqual([y[36], y[37], y[38], y[39]]);
    new LinearTrend().walk(Float64Array.from({ length: 10 }, (_, i) => 2 * i + 1), [10], 2, (_, p) => seen.push(Array.from(p)));
    expect(seen[1]![0]).toBeCloseTo(21, 9);
    expect(seen[1]![1]).toBeCloseTo(23, 9);
    const hw = new ExponentialSmoothing(4);
    hw.fit(y, 32);
    expect(hw.params.alpha).toBeGreaterThan(0);
    hw.walk(y, [40], 4, (_, p) => seen.push(Array.from(p)));
    for (let h = 0; h < 4; h++) expect(Math.abs(seen[2]![h]! - (((40 + h) % 4) + 0.5 * (40 + h)))).toBeLessThan(1.5);
  });
});
