/**
 * Seasonal detector: the residual of a point against its seasonal profile (same-phase median
 * of the last cycles, seasonal_profile.ts), scaled by an exponentially weighted mean absolute
 * residual over about one period. Quiet until a period is found.
 */
import { SeasonalProfile } from './seasonal_profile.js';
import { LongRunSpread, surpriseOfZ, type SurpriseComponent } from './surprise.js';

export class SeasonalDetector implements SurpriseComponent {
  readonly #profile = new SeasonalProfile();
  readonly #spread = new LongRunSpread();
  #absResidual = 0;
  #residualCount = 0;

  get period(): number {
    return this.#profile.period;
  }

  update(timestampMs: number, value: number): number {
    let surprise = 0;
    const period = this.#profile.period;
    const expected = this.#profile.expected(timestampMs);
    if (expected !== undefined) {
      const residual = value - expected;
      // 1.2533·E|r| = σ for a Gaussian residual.
      const scale = Math.max(1.2533 * this.#absResidual, this.#spread.floor());
      if (this.#residualCount >= Math.min(period, 100)) surprise = surpriseOfZ(residual / scale);
      const alpha = Math.max(2 / (period + 1), 0.002);
      // Huber-style: a residual counts at most 2× the current scale, so a broken rhythm does not
      // inflate the scale (and hide itself) within a few dozen points.
      const clipped = this.#residualCount === 0 ? Math.abs(residual) : Math.min(Math.abs(residual), 2 * this.#absResidual + this.#spread.floor());
      this.#absResidual = this.#residualCount === 0 ? clipped : this.#absResidual + alpha * (clipped - this.#absResidual);
      this.#residualCount++;
    }
    this.#profile.add(timestampMs, value);
    this.#spread.add(value);
    return surprise;
  }
}
