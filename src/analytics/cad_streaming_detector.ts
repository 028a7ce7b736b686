/**
 * The `cad` method behind the StreamingDetector contract: CAD OSE's contextual detector
 * (cad_detector.ts) with published constants. Its score is CAD's own anomaly value in [0, 1];
 * sensitivity maps to a threshold on it (novelty_ensemble.ts, thresholdForSensitivity).
 *
 * CAD reads values only, so timestamps matter only for their order (arrival order, as every
 * method). Without a known range (`cad.range`) the quantisation range is the minimum and maximum
 * of the values seen so far (cad_detector.ts); `detectSeries`, which holds the whole series,
 * passes the series' own range instead, as NAB does for every detector.
 */
import { CadDetector, type CadOptions } from './cad_detector.js';
import { LEARNING_POINTS, thresholdForSensitivity } from './novelty_ensemble.js';
import type { AnomalyVerdict, StreamingDetector } from './streaming_detector_contract.js';

export class CadStreamingDetector implements StreamingDetector {
  readonly #cad: CadDetector;
  readonly #threshold: number;
  #count = 0;

  constructor(sensitivity: number, options: CadOptions = {}) {
    this.#cad = new CadDetector(options);
    this.#threshold = thresholdForSensitivity(sensitivity, 'cad');
  }

  get count(): number {
    return this.#count;
  }

  update(timestampMs: number, value: number): AnomalyVerdict {
    if (!Number.isFinite(timestampMs)) throw new RangeError(`update: timestampMs=${timestampMs} must be a finite epoch-millisecond time`);
    this.#count++;
    // A missing value (NaN) carries no evidence; it is neither scored nor learnt from.
    if (!Number.isFinite(value)) return { score: 0, isAnomaly: false };
    const score = this.#cad.update(value);
    return { score, isAnomaly: this.#count > LEARNING_POINTS && score >= this.#threshold };
  }
}
