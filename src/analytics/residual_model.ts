/**
 * One-step-ahead prediction shared by the `auto` ensemble: the better (lower recent mean
 * absolute error) of a fast exponentially weighted level and the seasonal profile
 * (seasonal_profile.ts). The components then test what the prediction does not explain:
 * spikes in the residual, level changes and odd shapes in the deseasonalised series. Without
 * it a daily swing would look like variance and hide a spike or a shift inside it.
 */
import { SeasonalProfile } from './seasonal_profile.js';
import { LongRunSpread } from './surprise.js';

/** Fast level: alpha 0.3 follows a smooth series within ~3 points. */
const LEVEL_ALPHA = 0.3;
/** Prediction errors are compared over ~200 points. */
const ERROR_ALPHA = 0.01;
/** Switch predictor only when the other is clearly better (hysteresis: no flapping). */
const SWITCH_RATIO = 0.8;

export interface ResidualView {
  /** value − prediction. */
  residual: number;
  /** σ-equivalent scale of recent residuals (never 0). */
  scale: number;
  /** value minus the seasonal prediction when the profile is in use, else the value. */
  deseasonalised: number;
  /** Points since the deseasonalised series last changed definition (0 = just switched). */
  sinceSwitch: number;
  /** Points with a residual so far. */
  count: number;
}

export class ResidualModel {
  readonly #profile = new SeasonalProfile();
  readonly #spread = new LongRunSpread();
  #level = 0;
  #count = 0;
  #errorLevel = 0;
  #errorSeasonal = Infinity;
  #useSeasonal = false;
  #sinceSwitch = 0;
  readonly #view: ResidualView = { residual: 0, scale: 1, deseasonalised: 0, sinceSwitch: 0, count: 0 };

  /** Predicts, reports the residual view for `value`, then learns from it. The view is reused. */
  update(timestampMs: number, value: number): ResidualView {
    const seasonal = this.#profile.expected(timestampMs);
    const levelPred = this.#count === 0 ? value : this.#level;
    if (seasonal === undefined) {
      if (this.#useSeasonal) this.#switch(false);
      this.#errorSeasonal = Infinity;
    } else if (this.#errorSeasonal === Infinity) {
      this.#errorSeasonal = this.#errorLevel;
    }
    const useSeasonal = this.#useSeasonal && seasonal !== undefined;
    const prediction = useSeasonal ? seasonal : levelPred;
    const residual = value - prediction;
    const error = useSeasonal ? this.#errorSeasonal : this.#errorLevel;
    const v = this.#view;
    v.residual = residual;
    v.scale = Math.max(1.2533 * error, this.#spread.floor());
    v.deseasonalised = useSeasonal ? value - seasonal : value;
    v.sinceSwitch = this.#sinceSwitch++;
    v.count = this.#count;

    // Learn.
    this.#errorLevel = this.#count === 0 ? 0 : this.#errorLevel + ERROR_ALPHA * (Math.abs(value - levelPred) - this.#errorLevel);
    if (seasonal !== undefined) {
      this.#errorSeasonal += ERROR_ALPHA * (Math.abs(value - seasonal) - this.#errorSeasonal);
      if (!this.#useSeasonal && this.#errorSeasonal < SWITCH_RATIO * this.#errorLevel) this.#switch(true);
      else if (this.#useSeasonal && this.#errorLevel < SWITCH_RATIO * this.#errorSeasonal) this.#switch(false);
    }
    this.#level = this.#count === 0 ? value : this.#level + LEVEL_ALPHA * (value - this.#level);
    this.#count++;
    this.#profile.add(timestampMs, value);
    this.#spread.add(value);
    return v;
  }

  #switch(toSeasonal: boolean): void {
    this.#useSeasonal = toSeasonal;
    this.#sinceSwitch = 0;
  }
}
