/**
 * Seasonal detector: finds the period by autocorrelation over the recent history (re-checked as
 * data arrives), then compares each point with the median of the same phase over the last
 * SEASONAL_CYCLES cycles (robust to anomalies in up to two earlier cycles; the per-phase median
 * tracks slow level changes cycle by cycle) — a streaming, robust seasonal decomposition in the
 * spirit of STL (Cleveland et al. 1990). The residual is scaled by an exponentially weighted mean absolute
 * residual. Phases come from timestamps, so gaps and jitter do not shift the phase.
 */
import { detectPeriod } from './period_detection.js';
import { LongRunSpread, RingBuffer, surpriseOfZ, type SurpriseComponent } from './surprise.js';

/** Cycles held per phase: the median of 5 ignores up to 2 anomalous cycles. */
const SEASONAL_CYCLES = 5;
/** History searched for the period; 4032 points = 14 days of 5-minute points. */
const HISTORY_POINTS = 4032;
const RECHECK_EVERY = 1024;

function median(values: number[]): number {
  values.sort((a, b) => a - b);
  const m = values.length >> 1;
  return values.length % 2 === 1 ? values[m]! : (values[m - 1]! + values[m]!) / 2;
}

export class SeasonalDetector implements SurpriseComponent {
  readonly #history = new RingBuffer(HISTORY_POINTS);
  readonly #times = new RingBuffer(HISTORY_POINTS);
  #count = 0;
  readonly #spread = new LongRunSpread();
  #period = 0;
  #stepMs = 0;
  #originMs = 0;
  /** Per phase, the last SEASONAL_CYCLES values (NaN = not seen yet). */
  #phaseValues = new Float64Array(0);
  #absResidual = 0;
  #residualCount = 0;

  get period(): number {
    return this.#period;
  }

  update(timestampMs: number, value: number): number {
    this.#history.push(value);
    this.#times.push(timestampMs);
    this.#count++;
    this.#spread.add(value);
    if (this.#count === 2 * 288 || this.#count % RECHECK_EVERY === 0) this.#recheckPeriod();
    if (this.#period === 0) return 0;
    const phase = this.#phaseOf(timestampMs);
    const base = phase * SEASONAL_CYCLES;
    const seen: number[] = [];
    for (let k = 0; k < SEASONAL_CYCLES; k++) {
      const v = this.#phaseValues[base + k]!;
      if (!Number.isNaN(v)) seen.push(v);
    }
    let surprise = 0;
    if (seen.length >= 3) {
      const expected = median(seen);
      const residual = value - expected;
      const scale = Math.max(1.2533 * this.#absResidual, this.#spread.floor());
      if (this.#residualCount >= this.#period) surprise = surpriseOfZ(residual / scale);
      // EW mean absolute residual over ~one period; 1.2533·E|r| = σ for a Gaussian residual.
      const alpha = Math.max(2 / (this.#period + 1), 0.002);
      this.#absResidual = this.#residualCount === 0 ? Math.abs(residual) : this.#absResidual + alpha * (Math.abs(residual) - this.#absResidual);
      this.#residualCount++;
    }
    // Shift this phase's cycles and append the new value.
    for (let k = 0; k < SEASONAL_CYCLES - 1; k++) this.#phaseValues[base + k] = this.#phaseValues[base + k + 1]!;
    this.#phaseValues[base + SEASONAL_CYCLES - 1] = value;
    return surprise;
  }

  #phaseOf(timestampMs: number): number {
    const steps = Math.round((timestampMs - this.#originMs) / this.#stepMs);
    return ((steps % this.#period) + this.#period) % this.#period;
  }

  #recheckPeriod(): void {
    const values = this.#history.toArray();
    const { period } = detectPeriod(values, { minLag: 4, maxLag: Math.floor(values.length / 2.5), minStrength: 0.3 });
    if (period === this.#period) return;
    this.#period = period;
    if (period === 0) return;
    // Median step of the recent history: robust to gaps and repeated timestamps.
    const times = this.#times.toArray();
    const steps: number[] = [];
    for (let i = 1; i < times.length; i++) if (times[i]! > times[i - 1]!) steps.push(times[i]! - times[i - 1]!);
    this.#stepMs = steps.length > 0 ? median(steps) : 1;
    this.#originMs = times[0]!;
    // Rebuild the phase table from the history, so detection resumes at once.
    this.#phaseValues = new Float64Array(period * SEASONAL_CYCLES).fill(NaN);
    for (let i = 0; i < values.length; i++) {
      const base = this.#phaseOf(times[i]!) * SEASONAL_CYCLES;
      for (let k = 0; k < SEASONAL_CYCLES - 1; k++) this.#phaseValues[base + k] = this.#phaseValues[base + k + 1]!;
      this.#phaseValues[base + SEASONAL_CYCLES - 1] = values[i]!;
    }
    this.#residualCount = 0;
    this.#absResidual = 0;
  }
}
