/**
 * Scores of `ensemble` (`auto` on a stream) on every NAB file for each candidate of the
 * cross-validation grid, computed the fast way: the four expensive components (z-score, CUSUM, windowed isolation forest,
 * seasonal) run once per seed, and only the cheap contextual component runs once per
 * candidate; the shared decision stage (src/analytics/novelty_ensemble.ts) then combines them.
 * The result is checked, for one candidate, against `detectSeries` — the `emms detect` code
 * path — so the cache cannot drift from what ships.
 */
import { ContextDetector, type ContextOptions } from '../src/analytics/context_detector.js';
import { detectSeries } from '../src/analytics/detect_series.js';
import { AUTO_HALF_SCORE_NOVELTY, NOVELTY_LAG_POINTS, NoveltyEnsemble } from '../src/analytics/novelty_ensemble.js';
import { createComponents } from '../src/analytics/streaming_detector.js';
import type { NabFile } from './nab_score.js';

/** Per file, per component (all of `ensemble`'s but the last, contextual one), one surprise per row. */
export function baseSurprises(files: readonly NabFile[], seed: number): Float64Array[][] {
  return files.map((f) => {
    const components = createComponents('ensemble', seed, {}).slice(0, -1);
    const out = components.map(() => new Float64Array(f.values.length));
    let last = -Infinity;
    for (let i = 0; i < f.values.length; i++) {
      last = Math.max(last, f.timestamps[i]!);
      for (let k = 0; k < components.length; k++) out[k]![i] = components[k]!.update(last, f.values[i]!);
    }
    return out;
  });
}

export function contextSurprises(files: readonly NabFile[], context: ContextOptions): Float64Array[] {
  return files.map((f) => {
    const d = new ContextDetector(context);
    let last = -Infinity;
    return Float64Array.from(f.values, (v, i) => d.update((last = Math.max(last, f.timestamps[i]!)), v));
  });
}

/** `ensemble`'s score per row of one file from cached component surprises. */
export function combine(base: readonly Float64Array[], context: Float64Array): Float64Array {
  const ensemble = new NoveltyEnsemble(base.length + 1, AUTO_HALF_SCORE_NOVELTY, NOVELTY_LAG_POINTS);
  const row = new Float64Array(base.length + 1);
  return Float64Array.from(context, (c, i) => {
    for (let k = 0; k < base.length; k++) row[k] = base[k]![i]!;
    row[base.length] = c;
    return ensemble.score(row);
  });
}

/** Throws unless the cached path gives `detectSeries`' scores, bit for bit, on every file. */
export function checkAgainstDetectSeries(files: readonly NabFile[], seed: number, context: ContextOptions, cached: readonly Float64Array[]): void {
  files.forEach((f, i) => {
    const direct = detectSeries(f.timestamps, f.values, { method: 'ensemble', seed, context }).scores;
    const at = direct.findIndex((s, j) => s !== cached[i]![j]);
    if (at >= 0) throw new Error(`nab_auto_candidates: ${f.name} row ${at}: cached ${cached[i]![at]} ≠ detectSeries ${direct[at]}`);
  });
}
