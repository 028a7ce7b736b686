/**
 * Contextual detector: how unexpected is the newest value given the few values before it, under
 * an adaptive n-gram model of the series' own history. The idea is CAD OSE's (Contextual
 * Anomaly Detector, NAB's second-best entry): a series is a sequence of coarse symbols, a
 * recurring pattern (a daily ramp, a regular burst) is learnt as a context it has seen, and what
 * is anomalous is a symbol that has not followed this context before — so the score falls on
 * patterns that repeat and rises on new ones, whatever the series' scale or shape.
 *
 * Our formulation is a plain Markov model with back-off smoothing (as in PPM text compression):
 * values are cut into `bins` equal-width bins of the range seen in the first WARMUP_POINTS
 * points (the bins stay fixed afterwards, so a new level is a new symbol, and new symbols are
 * news), the context is the previous `order` symbols, and the surprise is −log10 of
 *   P(s | ctx) = (n(ctx, s) + P0(s)) / (n(ctx) + 1),  P0(s) = (n(s) + 1/bins) / (n + 1),
 * i.e. one pseudo-observation drawn from the order-0 model, which is itself smoothed by one
 * pseudo-observation spread over the bins. No constant beyond `bins` and `order` (chosen by
 * cross-validation inside training folds, bench/nab_score.ts) and the warm-up of one day.
 */
import type { SurpriseComponent } from './surprise.js';

/** One day of 5-minute points: enough to see a series' ordinary range before fixing the bins. */
export const CONTEXT_WARMUP_POINTS = 288;
/**
 * Counts kept before the model forgets everything and starts learning again. A series with a
 * slowly drifting level keeps minting new symbols; this bounds the memory (two maps of at most
 * this many numbers) of a detector that may run for years inside an alert rule.
 */
const MAX_CONTEXTS = 1 << 16;

export interface ContextOptions {
  /** Equal-width bins over the warm-up range. Default 32: the candidate NAB_CV=1 picks on all 20 development files. */
  bins?: number;
  /** Previous symbols that form the context. Default 3 (chosen the same way). */
  order?: number;
}

/** 32-bit mix of a running hash and one symbol (murmur3 finaliser constants). */
function mix(h: number, symbol: number): number {
  let k = Math.imul(symbol | 0, 0xcc9e2d51);
  k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  h ^= k;
  h = Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64;
  return h | 0;
}

export class ContextDetector implements SurpriseComponent {
  readonly #bins: number;
  readonly #order: number;
  #count = 0;
  #min = Infinity;
  #max = -Infinity;
  #width = 0;
  /** n(ctx, s) keyed by a hash of (ctx, s); n(ctx) keyed by a hash of ctx (collisions merge counts, rarely). */
  readonly #pairCounts = new Map<number, number>();
  readonly #contextCounts = new Map<number, number>();
  /**
   * n(s) for the symbols of the warm-up range and one range either side (where a healthy series
   * stays) in an array, the rare others in a map: the map lookups were most of this component's cost.
   */
  readonly #nearCounts: Float64Array;
  readonly #farCounts = new Map<number, number>();
  #symbolTotal = 0;
  readonly #previous: Int32Array;
  #held = 0;

  constructor(options: ContextOptions = {}) {
    this.#bins = options.bins ?? 32;
    this.#order = options.order ?? 3;
    if (!Number.isInteger(this.#bins) || this.#bins < 2) throw new RangeError(`ContextDetector: bins=${this.#bins} must be an integer ≥ 2`);
    if (!Number.isInteger(this.#order) || this.#order < 1 || this.#order > 8) {
      throw new RangeError(`ContextDetector: order=${this.#order} must be an integer in [1, 8]`);
    }
    this.#previous = new Int32Array(this.#order);
    this.#nearCounts = new Float64Array(3 * this.#bins);
  }

  #symbolCount(symbol: number): number {
    const i = symbol + this.#bins;
    return i >= 0 && i < this.#nearCounts.length ? this.#nearCounts[i]! : (this.#farCounts.get(symbol) ?? 0);
  }

  #countSymbol(symbol: number): void {
    const i = symbol + this.#bins;
    if (i >= 0 && i < this.#nearCounts.length) this.#nearCounts[i]!++;
    else this.#farCounts.set(symbol, (this.#farCounts.get(symbol) ?? 0) + 1);
  }

  update(_timestampMs: number, value: number): number {
    this.#count++;
    if (this.#count <= CONTEXT_WARMUP_POINTS) {
      this.#min = Math.min(this.#min, value);
      this.#max = Math.max(this.#max, value);
      return 0;
    }
    if (this.#width === 0) {
      // A constant warm-up (a flat line) still needs a bin width: a relative epsilon of its level.
      this.#width = this.#max > this.#min ? (this.#max - this.#min) / this.#bins : 1e-9 * (Math.abs(this.#min) + 1);
    }
    // Clamped to ±2^30 bins so a wild value cannot overflow the 32-bit symbol.
    const symbol = Math.max(-(2 ** 30), Math.min(2 ** 30, Math.floor((value - this.#min) / this.#width)));
    let surprise = 0;
    if (this.#held === this.#order) {
      let ctx = 0x9747b28c;
      for (let i = 0; i < this.#order; i++) ctx = mix(ctx, this.#previous[i]!);
      const pair = mix(ctx, symbol);
      const n0 = this.#symbolCount(symbol);
      const p0 = (n0 + 1 / this.#bins) / (this.#symbolTotal + 1);
      const nCtx = this.#contextCounts.get(ctx) ?? 0;
      const nPair = this.#pairCounts.get(pair) ?? 0;
      surprise = -Math.log10((nPair + p0) / (nCtx + 1));
      if (this.#pairCounts.size >= MAX_CONTEXTS) this.#forget();
      this.#pairCounts.set(pair, nPair + 1);
      this.#contextCounts.set(ctx, nCtx + 1);
    }
    if (this.#farCounts.size >= MAX_CONTEXTS) this.#forget();
    this.#countSymbol(symbol);
    this.#symbolTotal++;
    // Shift the context window left by one symbol.
    if (this.#held < this.#order) this.#previous[this.#held++] = symbol;
    else {
      this.#previous.copyWithin(0, 1);
      this.#previous[this.#order - 1] = symbol;
    }
    return surprise;
  }

  #forget(): void {
    this.#pairCounts.clear();
    this.#contextCounts.clear();
    this.#nearCounts.fill(0);
    this.#farCounts.clear();
    this.#symbolTotal = 0;
  }
}
