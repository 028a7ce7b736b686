/**
 * Clean synthetic series for the false-alarm tests (detect_calibration.test.ts): seasonal,
 * trending and noisy shapes with Gaussian noise and no anomaly, generated from a seed, so the
 * test runs on series no constant of the detector was chosen on.
 */
import { SeededRandom } from '../../src/analytics/seeded_random.js';

export const CLEAN_KINDS = ['seasonal', 'trending', 'noisy'] as const;
export type CleanKind = (typeof CLEAN_KINDS)[number];

const STEP_MS = 300_000;
const T0 = Date.UTC(2024, 0, 1);

export function cleanSeries(kind: CleanKind, seed: number, n: number): { t: Float64Array; v: Float64Array } {
  const rng = new SeededRandom(seed);
  const t = new Float64Array(n);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    t[i] = T0 + i * STEP_MS;
    const day = Math.sin((2 * Math.PI * i) / 288);
    switch (kind) {
      case 'seasonal': // daily and weekly cycles
        v[i] = 100 + 20 * day + 5 * Math.sin((2 * Math.PI * i) / 2016) + 2 * rng.normal();
        break;
      case 'trending': // a steady climb (a filling disk) with a small daily cycle
        v[i] = 50 + 0.01 * i + 2 * day + rng.normal();
        break;
      case 'noisy': // noise as large as the signal
        v[i] = 10 + 3 * day + 3 * rng.normal();
        break;
    }
  }
  return { t, v };
}
