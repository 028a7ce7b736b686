/**
 * `createStreamingDetector`: the causal, incremental anomaly scorer behind alert rules, the
 * `detectAnomalies` API and `emms detect` (contract: streaming_detector_contract.ts).
 *
 * Each component reports a surprise (−log10 of a tail probability, surprise.ts) for the newest
 * point given only earlier points: EWMA z-score (spikes), seasonal same-phase comparison (broken
 * rhythm), CUSUM (level shifts), windowed-feature isolation forest (odd shapes: variance bursts,
 * unusual differences). Each surprise is turned into a novelty — how far it exceeds that
 * component's own recent record (NoveltyNormaliser, surprise.ts) — and `auto` sums the
 * weighted novelties of all four (summing rewards agreement: measured better than the maximum
 * on NAB). The score is N / (N + N½) in [0, 1), N½ the decision level below, damped when
 * it does not beat the last 100 scores (one alert per event);
 * `sensitivity` s maps to the threshold 0.95 − 0.9·s (s = 0.5: score 0.5, novelty N½).
 */
import type {
  AnomalyVerdict,
  DetectorMethod,
  StreamingDetector,
  StreamingDetectorOptions,
} from './streaming_detector_contract.js';
import { CusumDetector } from './cusum_detector.js';
import { EwmaZScoreDetector } from './ewma_zscore_detector.js';
import { SeasonalDetector } from './seasonal_detector.js';
import { NoveltyNormaliser, RingBuffer, type SurpriseComponent } from './surprise.js';
import { WindowedIforestDetector } from './windowed_iforest_detector.js';

export type { AnomalyVerdict, DetectorMethod, StreamingDetector, StreamingDetectorOptions };

export const DETECTOR_METHODS: readonly DetectorMethod[] = ['auto', 'iforest', 'zscore', 'seasonal', 'changepoint'];

/** Decision threshold on the [0, 1] score for a sensitivity in [0, 1]. */
export function thresholdForSensitivity(sensitivity: number): number {
  return 0.95 - 0.9 * sensitivity;
}

export function validateDetectorOptions(options: StreamingDetectorOptions): { method: DetectorMethod; sensitivity: number } {
  const method = options.method ?? 'auto';
  const sensitivity = options.sensitivity ?? 0.5;
  if (!DETECTOR_METHODS.includes(method)) {
    throw new RangeError(`options.method=${JSON.stringify(method)} must be one of ${DETECTOR_METHODS.join(', ')}`);
  }
  if (typeof sensitivity !== 'number' || !(sensitivity >= 0 && sensitivity <= 1)) {
    throw new RangeError(`options.sensitivity=${String(sensitivity)} must be a number in [0, 1]`);
  }
  return { method, sensitivity };
}

/**
 * Weight of each component's novelty in the sum, by position in componentsFor's list. The
 * seasonal component counts 0.3 in `auto`: at weight 1 it lowered the NAB standard score from
 * 59.7 to 48.7, at 0.3 it raised it to 61.2 (bench/nab_score.ts) — seasonal residuals of real
 * series are noisy, but they add the evidence the others lack when a rhythm breaks.
 */
function weightsFor(method: DetectorMethod): number[] {
  return method === 'auto' ? [1, 1, 1, 0.3] : [1];
}

/**
 * Novelty at which the score is 0.5 (the decision level of sensitivity 0.5). One component:
 * 1, i.e. the surprise beats the component's recent record. `auto` sums 3.3 weighted novelties,
 * so its level is higher. NAB's threshold sweep puts the standard-profile optimum on the
 * development files at score 0.43–0.44 (N ≈ 1.3, sensitivity ≈ 0.57), which flags 1–2 points per
 * 2,000 on clean synthetic series; 1.7 keeps the default (0.5) a little more conservative, as
 * alerts page people. NAB scores do not depend on this level (the sweep picks its own).
 */
const HALF_SCORE_NOVELTY = 1;
const AUTO_HALF_SCORE_NOVELTY = 1.7;

/**
 * Re-alert suppression: a score that does not beat every score of the previous
 * REFRACTORY_POINTS points is multiplied by REFRACTORY_DAMPING, so one event raises one alert
 * (and the next only if it is stronger). Measured on NAB's development files: standard score
 * 61.8 → 64.7 with 100 points (118 → 99 false positives, no window lost); 300 points lost windows.
 */
const REFRACTORY_POINTS = 100;
const REFRACTORY_DAMPING = 0.3;

function componentsFor(method: DetectorMethod, seed: number): SurpriseComponent[] {
  switch (method) {
    case 'zscore':
      return [new EwmaZScoreDetector()];
    case 'seasonal':
      return [new SeasonalDetector()];
    case 'changepoint':
      return [new CusumDetector()];
    case 'iforest':
      return [new WindowedIforestDetector(seed)];
    case 'auto':
      return [new EwmaZScoreDetector(), new CusumDetector(), new WindowedIforestDetector(seed), new SeasonalDetector()];
  }
}

class EnsembleDetector implements StreamingDetector {
  readonly #components: SurpriseComponent[];
  readonly #novelty: NoveltyNormaliser[];
  readonly #weights: number[];
  readonly #halfScore: number;
  readonly #threshold: number;
  readonly #recentScores = new RingBuffer(REFRACTORY_POINTS);
  #count = 0;
  #lastTimestamp = -Infinity;

  constructor(method: DetectorMethod, sensitivity: number, seed: number) {
    this.#components = componentsFor(method, seed);
    this.#novelty = this.#components.map(() => new NoveltyNormaliser());
    this.#weights = weightsFor(method);
    this.#halfScore = method === 'auto' ? AUTO_HALF_SCORE_NOVELTY : HALF_SCORE_NOVELTY;
    this.#threshold = thresholdForSensitivity(sensitivity);
  }

  get count(): number {
    return this.#count;
  }

  update(timestampMs: number, value: number): AnomalyVerdict {
    if (!Number.isFinite(timestampMs)) throw new RangeError(`update: timestampMs=${timestampMs} must be a finite epoch-millisecond time`);
    if (timestampMs < this.#lastTimestamp) {
      throw new RangeError(`update: timestampMs=${timestampMs} is older than the previous point (${this.#lastTimestamp}); feed points in time order`);
    }
    this.#lastTimestamp = timestampMs;
    this.#count++;
    // A missing value (NaN) carries no evidence; it is neither scored nor learnt from.
    if (!Number.isFinite(value)) return { score: 0, isAnomaly: false };
    let novelty = 0;
    for (let k = 0; k < this.#components.length; k++) {
      novelty += this.#weights[k]! * this.#novelty[k]!.normalise(this.#components[k]!.update(timestampMs, value));
    }
    const raw = novelty / (novelty + this.#halfScore);
    let recentMax = 0;
    for (let i = 0; i < this.#recentScores.size; i++) recentMax = Math.max(recentMax, this.#recentScores.at(i));
    this.#recentScores.push(raw);
    const score = raw > recentMax ? raw : raw * REFRACTORY_DAMPING;
    return { score, isAnomaly: score >= this.#threshold };
  }
}

/** Beyond the contract: the seed of the windowed isolation forest (default 1), for repeatable runs. */
export interface SeededDetectorOptions extends StreamingDetectorOptions {
  seed?: number;
}

export function createStreamingDetector(options: SeededDetectorOptions = {}): StreamingDetector {
  const { method, sensitivity } = validateDetectorOptions(options);
  const seed = options.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`options.seed=${seed} must be an integer in [0, 2^32)`);
  return new EnsembleDetector(method, sensitivity, seed);
}
