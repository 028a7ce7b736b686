/**
 * Z-score against exponentially weighted mean and variance (West 1979 incremental form): the
 * cheapest detector, good at spikes. The point is compared to statistics of the points before
 * it, then folded in, so a spike cannot hide itself.
 */
import { LongRunSpread, surpriseOfZ, type SurpriseComponent } from './surprise.js';

export interface EwmaZScoreOptions {
  /** Effective window in points; alpha = 2 / (window + 1). Default 288 (one day of 5-minute points). */
  window?: number;
  /** Points before any surprise is reported. Default 30. */
  warmup?: number;
}

export class EwmaZScoreDetector implements SurpriseComponent {
  readonly #alpha: number;
  readonly #warmup: number;
  #mean = 0;
  #variance = 0;
  #count = 0;
  readonly #spread = new LongRunSpread();

  constructor(options: EwmaZScoreOptions = {}) {
    const window = options.window ?? 288;
    this.#alpha = 2 / (window + 1);
    this.#warmup = options.warmup ?? 30;
  }

  update(_timestampMs: number, value: number): number {
    let surprise = 0;
    if (this.#count === 0) {
      this.#mean = value;
    } else {
      const diff = value - this.#mean;
      const scale = Math.max(Math.sqrt(this.#variance), this.#spread.floor());
      if (this.#count >= this.#warmup) surprise = surpriseOfZ(diff / scale);
      const incr = this.#alpha * diff;
      this.#mean += incr;
      this.#variance = (1 - this.#alpha) * (this.#variance + diff * incr);
    }
    this.#count++;
    this.#spread.add(value);
    return surprise;
  }
}
