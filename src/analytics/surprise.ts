/**
 * The common currency of the streaming detectors: a *surprise* is −log10 of a tail probability
 * (surprise 6 = an event this extreme has probability 1e-6 under the detector's model of the
 * recent past). Components report surprises so the ensemble can compare a z-score, a CUSUM
 * statistic and an isolation-forest score on one scale.
 */
import { normalUpperTail } from './normal_distribution.js';

/** One causal component of the ensemble. `update` sees each point once, in arrival order, with a time that never goes back. */
export interface SurpriseComponent {
  update(timestampMs: number, value: number): number;
}

/** Surprise of a two-sided standard-normal deviation |z|. */
export function surpriseOfZ(z: number): number {
  const a = Math.abs(z);
  if (!(a > 0)) return 0;
  if (a < 7) return Math.max(0, -Math.log10(2 * normalUpperTail(a)));
  // Beyond z ≈ 7, the asymptotic tail 2φ(z)/z, in logs so it never underflows to +∞ surprise.
  return (0.5 * a * a + Math.log(a * Math.sqrt(Math.PI / 2))) / Math.LN10;
}

/** Fixed-capacity ring of the latest numbers. */
export class RingBuffer {
  readonly #data: Float64Array;
  #next = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    this.#data = new Float64Array(capacity);
  }
  push(v: number): void {
    this.#data[this.#next] = v;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }
  get size(): number {
    return this.#size;
  }
  /** i = 0 is the oldest held value. */
  at(i: number): number {
    return this.#data[(this.#next - this.#size + i + this.capacity) % this.capacity]!;
  }
  /** Largest held value (−∞ when empty); scans storage order, no index arithmetic per value. */
  max(): number {
    let m = -Infinity;
    const data = this.#data;
    for (let i = 0; i < this.#size; i++) if (data[i]! > m) m = data[i]!;
    return m;
  }
  /** Newest-last copy. */
  toArray(): Float64Array {
    const out = new Float64Array(this.#size);
    for (let i = 0; i < this.#size; i++) out[i] = this.at(i);
    return out;
  }
}

/**
 * Empirical tail calibration: surprise of x = −log10 of the fraction of the last `capacity`
 * values at least as large as x (with one pseudo-count), so a component whose raw score has no
 * known distribution (an isolation-forest score) still speaks in probabilities. The window is
 * also kept sorted, so a query is a binary search and an update one short memmove (a linear
 * count per point made this the hot spot of the `auto` detector, bench/detect.bench.ts).
 */
export class EmpiricalTail {
  readonly #history: RingBuffer;
  readonly #sorted: Float64Array;
  #size = 0;

  constructor(capacity: number) {
    this.#history = new RingBuffer(capacity);
    this.#sorted = new Float64Array(capacity);
  }

  /** First index in the sorted window whose value is ≥ x. */
  #lowerBound(x: number): number {
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#sorted[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  surpriseAndAdd(x: number): number {
    const n = this.#size;
    const atLeast = n - this.#lowerBound(x);
    if (this.#history.size === this.#history.capacity) {
      // Drop the oldest value from the sorted window.
      const at = this.#lowerBound(this.#history.at(0));
      this.#sorted.copyWithin(at, at + 1, this.#size);
      this.#size--;
    }
    this.#history.push(x);
    const at = this.#lowerBound(x);
    this.#sorted.copyWithin(at + 1, at, this.#size);
    this.#sorted[at] = x;
    this.#size++;
    return -Math.log10((atLeast + 1) / (n + 1));
  }
}

/**
 * Long-run spread of a series (exponentially weighted std over ~`window` points), used as a floor
 * under the short-run scales: a series that sat flat for an hour must not call a change of 0.1%
 * of its usual range a one-in-a-trillion event. SCALE_FLOOR_FRACTION of the long-run spread is
 * the smallest scale any component divides by.
 */
export const SCALE_FLOOR_FRACTION = 0.02;

export class LongRunSpread {
  readonly #alpha: number;
  #mean = 0;
  #variance = 0;
  #count = 0;
  constructor(window = 2000) {
    this.#alpha = 2 / (window + 1);
  }
  add(value: number): void {
    this.#count++;
    if (this.#count === 1) {
      this.#mean = value;
      return;
    }
    const alpha = Math.max(this.#alpha, 1 / this.#count);
    const diff = value - this.#mean;
    const incr = alpha * diff;
    this.#mean += incr;
    this.#variance = (1 - alpha) * (this.#variance + diff * incr);
  }
  /** The smallest scale to divide by; never 0 (relative epsilon on the level for constant series). */
  floor(): number {
    return Math.max(SCALE_FLOOR_FRACTION * Math.sqrt(this.#variance), 1e-9 * (Math.abs(this.#mean) + 1));
  }
}

/**
 * Novelty of a surprise relative to the component's own recent history: S / (R + 1), where R is
 * the larger of a slowly decaying maximum of earlier surprises (half-life NOVELTY_HALF_LIFE
 * points) and NOVELTY_LOG_FLOOR·log10(n) for the n points seen (up to NOVELTY_FLOOR_POINTS): the
 * expected largest surprise among n calibrated points grows like log10 n, so this is a
 * multiple-testing correction. A series whose model is merely imperfect (heavy tails, bursty
 * tweets) keeps producing large raw surprises; only what exceeds its own record is news.
 * Measured on the NAB development files (bench/nab_score.ts): standard score 30 → 45 for the
 * z-score alone. The constants are the same for every series (no per-file tuning).
 */
export const NOVELTY_HALF_LIFE = 10_000;
export const NOVELTY_LOG_FLOOR = 1.5;
export const NOVELTY_FLOOR_POINTS = 1000;

export class NoveltyNormaliser {
  static readonly #decay = Math.pow(0.5, 1 / NOVELTY_HALF_LIFE);
  #record = 0;
  #count = 0;
  #floor = 0;
  readonly #pending: RingBuffer | undefined;

  /**
   * `lag` > 0: a surprise joins the record only `lag` points later, so the points of one event
   * are judged against what came before the event, not against each other (a CUSUM statistic
   * that grows for ten points would otherwise be compared with its own previous step).
   */
  constructor(lag = 0) {
    this.#pending = lag > 0 ? new RingBuffer(lag) : undefined;
  }

  normalise(surprise: number): number {
    // Constant once NOVELTY_FLOOR_POINTS are in: computed only while it still grows.
    if (this.#count <= NOVELTY_FLOOR_POINTS) this.#floor = NOVELTY_LOG_FLOOR * Math.log10(this.#count + 1);
    const floor = this.#floor;
    const novelty = surprise / (Math.max(this.#record, floor) + 1);
    let joining = surprise;
    const pending = this.#pending;
    if (pending !== undefined) {
      joining = pending.size === pending.capacity ? pending.at(0) : 0;
      pending.push(surprise);
    }
    this.#record = Math.max(this.#record * NoveltyNormaliser.#decay, joining);
    this.#count++;
    return novelty;
  }
}

