import { describe, expect, it } from 'vitest';
import { alignOnTimestamps, averageRanks, bestLagCorrelation, pearson, spearman } from '../../src/analytics/correlation.js';
import { SeededRandom } from '../../src/analytics/seeded_random.js';

describe('correlation cores', () => {
  it('Pearson matches a hand-computed value', () => {
    // x = 1..5, y = 2,4,5,4,5: sxy = 6, sxx = 10, syy = 6 → r = 6/√60.
    expect(pearson([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])).toBeCloseTo(6 / Math.sqrt(60), 12);
    expect(pearson([1, 2, 3], [5, 5, 5])).toBeNaN();
  });

  it('Spearman uses average ranks and sees monotonic non-linear relations', () => {
    expect(Array.from(averageRanks([10, 20, 20, 5]))).toEqual([2, 3.5, 3.5, 1]);
    const x = Array.from({ length: 50 }, (_, i) => i + 1);
    const y = x.map((v) => Math.exp(v / 5));
    expect(spearman(x, y)).toBeCloseTo(1, 12);
    expect(pearson(x, y)).toBeLessThan(0.8);
    // With ties: scipy.stats.spearmanr([1,2,3,4,5],[2,4,5,4,5]) = 0.7378647873726218.
    expect(spearman([1, 2, 3, 4, 5], [2, 4, 5, 4, 5])).toBeCloseTo(0.7378647873726218, 12);
  });

  it('finds the lag by which a secondary series follows the primary', () => {
    const rng = new SeededRandom(17);
    const primary = Float64Array.from({ length: 300 }, () => rng.normal());
    const secondary = new Float64Array(300);
    for (let t = 0; t < 300; t++) secondary[t] = (t >= 4 ? -2 * primary[t - 4]! : 0) + 0.3 * rng.normal();
    const best = bestLagCorrelation(primary, secondary, 10, 'pearson');
    expect(best.lag).toBe(4);
    expect(best.r).toBeLessThan(-0.9);
    const led = bestLagCorrelation(secondary, primary, 10, 'spearman');
    expect(led.lag).toBe(-4);
    expect(bestLagCorrelation(primary, secondary, 0, 'pearson').lag).toBe(0);
  });

  it('aligns on shared bucket timestamps only', () => {
    const a = { timestamps: [0, 60, 120, 180], values: [1, 2, NaN, 4] };
    const b = { timestamps: [60, 120, 180, 240], values: [20, 30, 40, 50] };
    const j = alignOnTimestamps(a, b);
    expect(Array.from(j.timestamps)).toEqual([60, 180]);
    expect(Array.from(j.x)).toEqual([2, 4]);
    expect(Array.from(j.y)).toEqual([20, 40]);
  });
});
