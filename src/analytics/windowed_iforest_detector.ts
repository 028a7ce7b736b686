/**
 * Isolation forest over windowed features, retrained on a sliding window: each point becomes
 * (value, first difference, distance from the mean of the previous FEATURE_WINDOW points, std of
 * those points), the forest is refitted every RETRAIN_EVERY points on the last TRAIN_WINDOW
 * feature rows, and a point's forest score is calibrated against the scores of recent points
 * (EmpiricalTail), since raw isolation scores have no fixed scale across series. Small forests
 * (50 trees, ψ = 256) are fitted with the TypeScript reference: a fit takes ~1 ms, cheaper
 * than a WASM round trip for one point at a time.
 */
import { fitIsolationForestReference, meanPathLength } from './iforest_reference.js';
import { scoreFromMeanPath, type IsolationForestModel } from './iforest_model.js';
import { EmpiricalTail, RingBuffer, type SurpriseComponent } from './surprise.js';

const FEATURE_WINDOW = 12;
const FEATURES = 4;
const TRAIN_WINDOW = 2048;
const RETRAIN_EVERY = 256;
const MIN_TRAIN_ROWS = 256;

export class WindowedIforestDetector implements SurpriseComponent {
  readonly #recent = new RingBuffer(FEATURE_WINDOW);
  readonly #train = new Float64Array(TRAIN_WINDOW * FEATURES);
  #trainRows = 0;
  #trainNext = 0;
  #sinceFit = 0;
  #model: IsolationForestModel | undefined;
  // Empirical rather than Gaussian calibration of the forest score: measured 59.7 vs 55.1 NAB
  // standard score for the auto ensemble (a fitted Gaussian tail over-rates routine highs).
  readonly #tail = new EmpiricalTail(1024);
  readonly #row = new Float64Array(FEATURES);
  #fits = 0;
  readonly #seed: number;

  constructor(seed = 1) {
    this.#seed = seed;
  }

  update(_timestampMs: number, value: number): number {
    let surprise = 0;
    if (this.#recent.size === FEATURE_WINDOW) {
      let mean = 0;
      for (let i = 0; i < FEATURE_WINDOW; i++) mean += this.#recent.at(i);
      mean /= FEATURE_WINDOW;
      let variance = 0;
      for (let i = 0; i < FEATURE_WINDOW; i++) variance += (this.#recent.at(i) - mean) ** 2;
      const row = this.#row;
      row[0] = value;
      row[1] = value - this.#recent.at(FEATURE_WINDOW - 1);
      row[2] = value - mean;
      row[3] = Math.sqrt(variance / FEATURE_WINDOW);
      if (this.#model !== undefined) {
        const s = scoreFromMeanPath(meanPathLength(this.#model, row, 0), this.#model.sampleSize);
        surprise = this.#tail.surpriseAndAdd(s);
      }
      this.#train.set(row, this.#trainNext * FEATURES);
      this.#trainNext = (this.#trainNext + 1) % TRAIN_WINDOW;
      this.#trainRows = Math.min(this.#trainRows + 1, TRAIN_WINDOW);
      this.#sinceFit++;
      if (this.#trainRows >= MIN_TRAIN_ROWS && (this.#model === undefined || this.#sinceFit >= RETRAIN_EVERY)) {
        this.#model = fitIsolationForestReference(this.#train.subarray(0, this.#trainRows * FEATURES), FEATURES, {
          trees: 50,
          sampleSize: 256,
          seed: (this.#seed + this.#fits++) >>> 0,
        });
        this.#sinceFit = 0;
      }
    }
    this.#recent.push(value);
    return surprise;
  }
}
