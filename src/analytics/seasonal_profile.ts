/**
 * Streaming seasonal profile: finds the period by autocorrelation over the recent history
 * (re-checked as data arrives) and predicts a point as the median of the same phase over the
 * last SEASONAL_CYCLES cycles — robust to anomalies in up to two earlier cycles, and following
 * slow level changes cycle by cycle: a streaming, robust seasonal decomposition in the spirit of
 * STL (Cleveland et al. 1990). Phases come from timestamps (median step), so gaps and jitter do
 * not shift the phase. Causal: `expected(t)` uses only points passed to `add` before.
 */
import { detectPeriod } from './period_detection.js';
import { RingBuffer } from './surprise.js';

/** Cycles held per phase: the median of 5 ignores up to 2 anomalous cycles. */
export const SEASONAL_CYCLES = 5;
/** History searched for the period; 4032 points = 14 days of 5-minute points. */
const HISTORY_POINTS = 4032;
const RECHECK_EVERY = 1024;
/** First check once two days of 5-minute points (or 576 points of any step) are in. */
const FIRST_CHECK_AT = 576;

const CALENDAR_PERIODS_MS = [3_600_000, 86_400_000, 7 * 86_400_000];

/**
 * Metrics repeat hourly, daily or weekly; a few days of noisy data put the autocorrelation peak
 * a point or two off (287 five-minute steps for a day), and a wrong period drifts the phase by
 * that much every cycle. A period within 2% of a calendar one is snapped to it.
 */
export function snapToCalendar(period: number, stepMs: number): number {
  if (period === 0 || !(stepMs > 0)) return period;
  for (const c of CALENDAR_PERIODS_MS) {
    const points = c / stepMs;
    if (Number.isInteger(points) && Math.abs(period - points) <= 0.02 * points) return points;
  }
  return period;
}

export function median(values: number[]): number {
  values.sort((a, b) => a - b);
  const m = values.length >> 1;
  return values.length % 2 === 1 ? values[m]! : (values[m - 1]! + values[m]!) / 2;
}

export class SeasonalProfile {
  readonly #history = new RingBuffer(HISTORY_POINTS);
  readonly #times = new RingBuffer(HISTORY_POINTS);
  #count = 0;
  #period = 0;
  #stepMs = 1;
  #originMs = 0;
  /** Per phase, the last SEASONAL_CYCLES values (NaN = not seen yet). */
  #phaseValues = new Float64Array(0);
  readonly #scratch: number[] = [];

  /** Period in points, 0 while none is detected. */
  get period(): number {
    return this.#period;
  }

  /** Median of the same phase in the last cycles, or undefined (no period, or < 3 cycles seen). */
  expected(timestampMs: number): number | undefined {
    if (this.#period === 0) return undefined;
    const base = this.#phaseOf(timestampMs) * SEASONAL_CYCLES;
    const seen = this.#scratch;
    seen.length = 0;
    for (let k = 0; k < SEASONAL_CYCLES; k++) {
      const v = this.#phaseValues[base + k]!;
      if (!Number.isNaN(v)) seen.push(v);
    }
    return seen.length >= 3 ? median(seen) : undefined;
  }

  add(timestampMs: number, value: number): void {
    this.#history.push(value);
    this.#times.push(timestampMs);
    this.#count++;
    if (this.#period > 0) this.#shiftIn(timestampMs, value);
    if (this.#count === FIRST_CHECK_AT || (this.#count > FIRST_CHECK_AT && this.#count % RECHECK_EVERY === 0)) this.#recheckPeriod();
  }

  #shiftIn(timestampMs: number, value: number): void {
    const base = this.#phaseOf(timestampMs) * SEASONAL_CYCLES;
    for (let k = 0; k < SEASONAL_CYCLES - 1; k++) this.#phaseValues[base + k] = this.#phaseValues[base + k + 1]!;
    this.#phaseValues[base + SEASONAL_CYCLES - 1] = value;
  }

  #phaseOf(timestampMs: number): number {
    const steps = Math.round((timestampMs - this.#originMs) / this.#stepMs);
    return ((steps % this.#period) + this.#period) % this.#period;
  }

  #recheckPeriod(): void {
    const values = this.#history.toArray();
    const found = detectPeriod(values, { minLag: 4, maxLag: Math.floor(values.length / 2.5), minStrength: 0.3 }).period;
    // Median step of the recent history: robust to gaps and repeated timestamps.
    const times = this.#times.toArray();
    const steps: number[] = [];
    for (let i = 1; i < times.length; i++) if (times[i]! > times[i - 1]!) steps.push(times[i]! - times[i - 1]!);
    const stepMs = steps.length > 0 ? median(steps) : 1;
    const period = snapToCalendar(found, stepMs);
    if (period === this.#period) return;
    this.#period = period;
    if (period === 0) return;
    this.#stepMs = stepMs;
    this.#originMs = times[0]!;
    // Rebuild the phase table from the history, so prediction resumes at once.
    this.#phaseValues = new Float64Array(period * SEASONAL_CYCLES).fill(NaN);
    for (let i = 0; i < values.length; i++) this.#shiftIn(times[i]!, values[i]!);
  }
}
