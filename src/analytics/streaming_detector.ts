/**
 * `createStreamingDetector`: the causal, incremental anomaly scorer behind alert rules, the
 * `detectAnomalies` API and `emms detect` (contract: streaming_detector_contract.ts).
 *
 * Each component reports a surprise (−log10 of a tail probability, surprise.ts) for the newest
 * point given only earlier points: EWMA z-score (spikes), seasonal same-phase comparison (broken
 * rhythm), CUSUM (level shifts), windowed-feature isolation forest (odd shapes: variance bursts,
 * unusual differences) and, in `ensemble`, the contextual n-gram model (context_detector.ts: a
 * value that has not followed the values before it). Each surprise is turned into a novelty — how far
 * it exceeds that component's own recent record (NoveltyNormaliser, surprise.ts), which is what
 * HTM's anomaly likelihood does with a fitted Gaussian (we measured the Gaussian version worse:
 * surprises are heavy-tailed) — and `ensemble` sums the novelties of all five with equal weights
 * (summing rewards agreement; equal, because any other weighting was fitted to NAB's files).
 * The score is N / (N + N½) in [0, 1), damped when it does not beat the last 100 scores (one
 * alert per event); `sensitivity` maps to a threshold calibrated to a false-alarm rate on clean
 * series (novelty_ensemble.ts), and no alarm is raised in the first day of points.
 *
 * `auto` here, on a stream, is `ensemble`. CAD (`cad`) scores better on unseen series, but only
 * with the series' value range known before its first point (bench/nab_score.ts, NAB_CV=1:
 * pooled held-out standard 68.3 over the file's range, 47.1 over the range seen so far); a stream
 * has no such range, so its `auto` stays the ensemble, and detect_series.ts, which holds the
 * whole series, resolves `auto` to `cad` instead.
 *
 * Points are scored in arrival order. A point whose timestamp is older than the previous one
 * (a clock correction) is scored as if it arrived at the previous timestamp: every component
 * sees time move forward, and no row is refused or dropped.
 */
import type {
  AnomalyVerdict,
  DetectorMethod,
  StreamingDetector,
  StreamingDetectorOptions,
} from './streaming_detector_contract.js';
import type { CadOptions } from './cad_detector.js';
import { CadStreamingDetector } from './cad_streaming_detector.js';
import { ContextDetector, type ContextOptions } from './context_detector.js';
import { CusumDetector } from './cusum_detector.js';
import { EwmaZScoreDetector } from './ewma_zscore_detector.js';
import { SeasonalDetector } from './seasonal_detector.js';
import { AUTO_HALF_SCORE_NOVELTY, HALF_SCORE_NOVELTY, LEARNING_POINTS, NOVELTY_LAG_POINTS, NoveltyEnsemble, thresholdForSensitivity } from './novelty_ensemble.js';
import type { SurpriseComponent } from './surprise.js';
import { WindowedIforestDetector } from './windowed_iforest_detector.js';

export type { AnomalyVerdict, DetectorMethod, StreamingDetector, StreamingDetectorOptions };

export const DETECTOR_METHODS: readonly DetectorMethod[] = ['auto', 'ensemble', 'iforest', 'zscore', 'seasonal', 'changepoint', 'cad'];

/** The methods built from surprise components and the novelty ensemble (`cad` is a model of its own, cad_detector.ts). */
export type EnsembleMethod = Exclude<DetectorMethod, 'cad' | 'auto'>;

/** What `auto` runs on a stream (module comment); every other method is itself. */
export function streamMethod(method: DetectorMethod): Exclude<DetectorMethod, 'auto'> {
  return method === 'auto' ? 'ensemble' : method;
}

export { thresholdForSensitivity };

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


/** The components of a method, in the order the ensemble sums them (`ensemble`'s contextual one last). */
export function createComponents(method: EnsembleMethod, seed: number, context: ContextOptions): SurpriseComponent[] {
  switch (method) {
    case 'zscore':
      return [new EwmaZScoreDetector()];
    case 'seasonal':
      return [new SeasonalDetector()];
    case 'changepoint':
      return [new CusumDetector()];
    case 'iforest':
      return [new WindowedIforestDetector(seed)];
    case 'ensemble':
      return [new EwmaZScoreDetector(), new CusumDetector(), new WindowedIforestDetector(seed), new SeasonalDetector(), new ContextDetector(context)];
  }
}

class EnsembleDetector implements StreamingDetector {
  readonly #components: SurpriseComponent[];
  readonly #ensemble: NoveltyEnsemble;
  readonly #surprises: Float64Array;
  readonly #threshold: number;
  #count = 0;
  #lastTimestamp = -Infinity;

  constructor(method: EnsembleMethod, sensitivity: number, seed: number, context: ContextOptions) {
    this.#components = createComponents(method, seed, context);
    // The single-component methods keep their former decision stage (no lag, their own N½).
    this.#ensemble = method === 'ensemble'
      ? new NoveltyEnsemble(this.#components.length, AUTO_HALF_SCORE_NOVELTY, NOVELTY_LAG_POINTS)
      : new NoveltyEnsemble(1, HALF_SCORE_NOVELTY, 0);
    this.#surprises = new Float64Array(this.#components.length);
    this.#threshold = thresholdForSensitivity(sensitivity, method);
  }

  get count(): number {
    return this.#count;
  }

  update(timestampMs: number, value: number): AnomalyVerdict {
    if (!Number.isFinite(timestampMs)) throw new RangeError(`update: timestampMs=${timestampMs} must be a finite epoch-millisecond time`);
    // Arrival order: a step back in time is scored at the latest time seen (module comment).
    const t = Math.max(timestampMs, this.#lastTimestamp);
    this.#lastTimestamp = t;
    this.#count++;
    // A missing value (NaN) carries no evidence; it is neither scored nor learnt from.
    if (!Number.isFinite(value)) return { score: 0, isAnomaly: false };
    for (let k = 0; k < this.#components.length; k++) this.#surprises[k] = this.#components[k]!.update(t, value);
    const score = this.#ensemble.score(this.#surprises);
    return { score, isAnomaly: this.#count > LEARNING_POINTS && score >= this.#threshold };
  }
}

/** Beyond the contract: the seed of the windowed isolation forest (default 1), for repeatable runs. */
export interface SeededDetectorOptions extends StreamingDetectorOptions {
  seed?: number;
  /** Bins and order of `ensemble`'s contextual component; the bench's cross-validation varies them. */
  context?: ContextOptions;
  /** `cad` only: a known value range (detectSeries passes the series'), and the rest period. */
  cad?: CadOptions;
}

export function createStreamingDetector(options: SeededDetectorOptions = {}): StreamingDetector {
  const { sensitivity } = validateDetectorOptions(options);
  const method = streamMethod(options.method ?? 'auto');
  const seed = options.seed ?? 1;
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError(`options.seed=${seed} must be an integer in [0, 2^32)`);
  if (method === 'cad') return new CadStreamingDetector(sensitivity, options.cad);
  return new EnsembleDetector(method, sensitivity, seed, options.context ?? {});
}
