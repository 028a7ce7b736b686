/**
 * The decision stage shared by every streaming detector method (streaming_detector.ts) and by
 * the NAB cross-validation (bench/nab_score.ts, which feeds it cached component surprises so a
 * grid of candidates costs one pass of the expensive components): per-component novelty, their
 * sum N, the score N / (N + N½), re-alert damping, and the calibrated sensitivity → threshold map.
 */
import type { DetectorMethod } from './streaming_detector_contract.js';
import { NoveltyNormaliser, RingBuffer } from './surprise.js';

/**
 * Novelty sum at which the score is 0.5 (the decision level of sensitivity 0.5). One component:
 * 1, i.e. the surprise beats the component's recent record. `ensemble` (five components; `auto`
 * on a stream): measured on a calibration set of clean series (NAB's two anomaly-free
 * development files and synthetic seasonal, trending and noisy series of seeds 101–103,
 * tests/unit/detect_clean_series.ts),
 * where after the first day (LEARNING_POINTS) the sum exceeds 2.67 at a rate of 1 point in
 * 10,000 (2.76 with the contextual component at 16 bins, order 2); 3.2 leaves a margin for
 * series noisier than those. The test
 * (detect_calibration.test.ts) checks other seeds.
 */
export const HALF_SCORE_NOVELTY = 1;
export const AUTO_HALF_SCORE_NOVELTY = 3.2;

/**
 * On that calibration set, the clean-series rate of novelty sums above a level falls tenfold
 * for every 0.44–0.53 added to the level (1e-3 at 2.23, 1e-4 at 2.67–2.76): 1.9–2.3 decades per
 * unit of N; the lower slope moves the threshold further per unit of sensitivity, the safe side.
 */
const DECADES_PER_NOVELTY = 1.9;

/**
 * Sensitivity s asks for a false-alarm rate on clean series of 10^(−4 + 2.5·(s − 0.5)): 1 in
 * 10,000 points at s = 0.5, 1 in 1,000 at s = 0.9 (the rates a pager can live with), 1 in
 * 180,000 at s = 0 and 1 in 560 at s = 1. Through the measured tail above that is a novelty
 * sum of N½·x with x = 1 − 2.5·(s − 0.5) / (1.9·N½), i.e. the score threshold x / (1 + x).
 * The single-component methods keep their former, uncalibrated map 0.95 − 0.9·s (the same 0.5
 * at s = 0.5), so their alert rules behave as before.
 *
 * `cad` scores CAD OSE's own anomaly value in [0, 1]. Measured on the same calibration set over
 * each series' own range (as detectSeries runs it), after the first day: scores ≥ 0.95 occur at
 * 0.92 per 10,000 points, ≥ 0.75 (CAD's own base threshold) at 3.5, ≥ 0.6 at 12.5. So s = 0.5
 * asks for 0.95 and s = 0.9 for 0.75, linearly (0.5 per unit of s), capped at 1 below s = 0.4.
 * Over the range seen so far (a stream) no score on that set reached 0.8.
 */
export function thresholdForSensitivity(sensitivity: number, method: DetectorMethod = 'auto'): number {
  if (method === 'cad') return Math.min(1, 0.95 - 0.5 * (sensitivity - 0.5));
  // `auto` here is the stream's (the ensemble); detectSeries passes the method it resolved.
  if (method !== 'auto' && method !== 'ensemble') return 0.95 - 0.9 * sensitivity;
  const x = 1 - (2.5 * (sensitivity - 0.5)) / (DECADES_PER_NOVELTY * AUTO_HALF_SCORE_NOVELTY);
  return x / (1 + x);
}

/**
 * No alarm before the detector has seen one day of 5-minute points: the first change a
 * constant series ever makes is infinitely surprising, the components' records of their own
 * surprises are still short, and the contextual model fixes its bins only then. Measured: with
 * 100 points instead, the clean series of the calibration test raise 3 alarms per 10,000 at
 * sensitivity 0.5 instead of 0.3. Scores are still reported (NAB scores them after its own
 * probation period).
 */
export const LEARNING_POINTS = 288;

/**
 * Re-alert suppression: a score that does not beat every score of the previous
 * REFRACTORY_POINTS points is multiplied by REFRACTORY_DAMPING, so one event raises one alert
 * (and the next only if it is stronger). 100 points is a third of a day of 5-minute points, the
 * span in which a repeated alert about one incident is noise to whoever is paged. (Both values
 * were once measured on NAB's development files: standard 61.8 → 64.7, 118 → 99 false
 * positives; a leak the cross-validation cannot remove, said in bench/nab_score.ts.)
 */
const REFRACTORY_POINTS = 100;
const REFRACTORY_DAMPING = 0.3;

/**
 * A component's surprise joins its record (NoveltyNormaliser) only after the same span, so the
 * points of one event are judged against what came before it. Without the lag a sustained
 * 5σ level shift was never flagged at the calibrated threshold: each point of the growing CUSUM
 * run was compared with the previous point's surprise, and looked like no news.
 */
export const NOVELTY_LAG_POINTS = REFRACTORY_POINTS;

export class NoveltyEnsemble {
  readonly #novelty: NoveltyNormaliser[];
  readonly #halfScore: number;
  readonly #recentScores = new RingBuffer(REFRACTORY_POINTS);

  constructor(components: number, halfScore: number, lag: number) {
    this.#novelty = Array.from({ length: components }, () => new NoveltyNormaliser(lag));
    this.#halfScore = halfScore;
  }

  /** Score in [0, 1] of one point from its components' surprises (same order every call). */
  score(surprises: ArrayLike<number>): number {
    let novelty = 0;
    for (let k = 0; k < this.#novelty.length; k++) novelty += this.#novelty[k]!.normalise(surprises[k]!);
    // An infinite novelty (∞/∞ would be NaN) is the strongest evidence there is, not none.
    const raw = novelty === Infinity ? 1 : novelty / (novelty + this.#halfScore);
    const recentMax = Math.max(0, this.#recentScores.max());
    this.#recentScores.push(raw);
    return raw > recentMax ? raw : raw * REFRACTORY_DAMPING;
  }
}
