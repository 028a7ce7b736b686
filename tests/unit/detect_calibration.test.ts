import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { detectSeries } from '../../src/analytics/detect_series.js';
import { LEARNING_POINTS, thresholdForSensitivity } from '../../src/analytics/novelty_ensemble.js';
import { parseSeriesCsv } from '../../src/analytics/series_csv.js';
import { CLEAN_KINDS, cleanSeries } from './detect_clean_series.js';

// The detector's calibration constants (novelty_ensemble.ts) were measured on seeds 101–103;
// these seeds were not looked at while choosing them.
const TEST_SEEDS = [1, 2, 3];
const POINTS = 10_000;

function nabClean(name: string): { t: Float64Array; v: Float64Array } {
  const path = fileURLToPath(new URL(`../fixtures/nab/artificialNoAnomaly/${name}.csv`, import.meta.url));
  const table = parseSeriesCsv(readFileSync(path, 'utf8'), name);
  return { t: table.timestamps, v: table.values };
}

/**
 * False alarms on clean series of each method: `auto` (over a whole series, detectSeries, this is
 * `cad`), `ensemble` (alert rules' `auto`), whose constants were measured on other seeds, and
 * `cad`, whose thresholds (0.95, and CAD's own base threshold 0.75 for 0.9) were not
 * chosen on any of these. cad measured 0.92 per 10,000 at 0.5 when this was written (all 9
 * alarms on the trending series, 3 per seed) and 3.4 at 0.9: little room at 0.5, so a change
 * that adds a false alarm shows here.
 */
describe.each(['auto', 'ensemble', 'cad'] as const)('calibrated sensitivity of %s on clean series it was not tuned on', (method) => {
  it('sensitivity 0.5 raises at most 1 alarm per 10,000 points, 0.9 at most 10', () => {
    const sets = [
      { name: 'art_daily_perfect_square_wave', ...nabClean('art_daily_perfect_square_wave') },
      { name: 'art_flatline', ...nabClean('art_flatline') },
      ...CLEAN_KINDS.flatMap((kind) => TEST_SEEDS.map((seed) => ({ name: `${kind} seed ${seed}`, ...cleanSeries(kind, seed, POINTS) }))),
    ];
    let points = 0;
    const alarms = { 0.5: 0, 0.9: 0 };
    const perSeries: string[] = [];
    // Sensitivity changes only the threshold, so 0.9's alarms follow from the same scores.
    for (const s of sets) {
      const run = detectSeries(s.t, s.v, { method, sensitivity: 0.5 });
      expect(run.method).toBe(method === 'auto' ? 'cad' : method);
      expect(run.threshold).toBe(thresholdForSensitivity(0.5, run.method));
      const at09 = thresholdForSensitivity(0.9, run.method);
      let a05 = 0;
      let a09 = 0;
      run.scores.forEach((score, i) => {
        a05 += run.isAnomaly[i]!;
        if (i >= LEARNING_POINTS && score >= at09) a09++;
      });
      points += s.v.length;
      alarms[0.5] += a05;
      alarms[0.9] += a09;
      perSeries.push(`${s.name}: ${a05}/${a09}`);
    }
    const per10k = (n: number): number => (n / points) * 10_000;
    expect(per10k(alarms[0.5]), perSeries.join(', ')).toBeLessThanOrEqual(1);
    expect(per10k(alarms[0.9]), perSeries.join(', ')).toBeLessThanOrEqual(10);
  }, 300_000);
});

describe('the sensitivity map', () => {
  it('the sensitivity → threshold map falls monotonically inside (0, 1)', () => {
    let previous = Infinity;
    for (let s = 0; s <= 1.0001; s += 0.1) {
      const th = thresholdForSensitivity(Math.min(s, 1));
      expect(th).toBeLessThan(previous);
      expect(th).toBeGreaterThan(0);
      expect(th).toBeLessThan(1);
      previous = th;
    }
  });
});
