/**
 * Adaptive sampling: a collector's interval shrinks while its series change fast or look
 * anomalous and grows while they are flat, always within [minMs, maxMs]. `boost` pins the
 * interval to its minimum (or a given value) for a while: alert remediation's
 * `enhanced_monitoring` uses it.
 *
 * Change is measured per series as |v − previous| / max(|previous|, 1e-9); "anomalous" is a
 * z-score above `anomalyZ` against an exponentially weighted mean and variance of the series
 * (EWMA weight `alpha`), after `warmupSamples` observations so the first samples do not count.
 */

export interface AdaptiveSamplingOptions {
  minMs: number;
  maxMs: number;
  /** Starting interval; default the geometric middle of the bounds. */
  initialMs?: number;
  /** Largest relative change at or above which the interval halves. Default 0.10. */
  fastChange?: number;
  /** Largest relative change below which the interval grows by `growth`. Default 0.01. */
  flatChange?: number;
  /** Factor the interval grows by while flat. Default 1.5. */
  growth?: number;
  anomalyZ?: number;
  alpha?: number;
  warmupSamples?: number;
}

interface SeriesState {
  last: number;
  mean: number;
  variance: number;
  samples: number;
}

export type IntervalReason = 'initial' | 'fast' | 'anomalous' | 'flat' | 'steady' | 'boosted';

export class AdaptiveInterval {
  readonly minMs: number;
  readonly maxMs: number;
  readonly #fast: number;
  readonly #flat: number;
  readonly #growth: number;
  readonly #z: number;
  readonly #alpha: number;
  readonly #warmup: number;
  readonly #series = new Map<string, SeriesState>();
  #intervalMs: number;
  #boostUntil = 0;
  #boostMs = 0;
  lastReason: IntervalReason = 'initial';

  constructor(options: AdaptiveSamplingOptions) {
    const { minMs, maxMs } = options;
    if (!Number.isFinite(minMs) || minMs <= 0) throw new RangeError(`adaptive sampling minMs=${minMs} must be a positive number of milliseconds`);
    if (!Number.isFinite(maxMs) || maxMs < minMs) throw new RangeError(`adaptive sampling maxMs=${maxMs} must be ≥ minMs=${minMs}`);
    this.minMs = minMs;
    this.maxMs = maxMs;
    this.#intervalMs = clamp(options.initialMs ?? Math.sqrt(minMs * maxMs), minMs, maxMs);
    this.#fast = options.fastChange ?? 0.1;
    this.#flat = options.flatChange ?? 0.01;
    this.#growth = options.growth ?? 1.5;
    this.#z = options.anomalyZ ?? 4;
    this.#alpha = options.alpha ?? 0.2;
    this.#warmup = options.warmupSamples ?? 5;
  }

  /** The interval to wait before the next collection at time `nowMs`. */
  current(nowMs: number): number {
    return nowMs < this.#boostUntil ? this.#boostMs : this.#intervalMs;
  }

  /** Raises the sampling rate to `intervalMs` (default minMs) until `nowMs + durationMs`. */
  boost(nowMs: number, durationMs: number, intervalMs: number = this.minMs): void {
    this.#boostUntil = Math.max(this.#boostUntil, nowMs + durationMs);
    this.#boostMs = clamp(intervalMs, this.minMs, this.maxMs);
  }

  boostedUntil(): number {
    return this.#boostUntil;
  }

  /** Feeds one collection's values (series key → value) and returns the next interval. */
  observe(values: ReadonlyMap<string, number>, nowMs: number): number {
    let maxChange = 0;
    let compared = 0;
    let anomalous = false;
    for (const [key, v] of values) {
      if (!Number.isFinite(v)) continue;
      const s = this.#series.get(key);
      if (s === undefined) {
        this.#series.set(key, { last: v, mean: v, variance: 0, samples: 1 });
        continue;
      }
      compared++;
      const change = Math.abs(v - s.last) / Math.max(Math.abs(s.last), 1e-9);
      if (change > maxChange) maxChange = change;
      const deviation = v - s.mean;
      if (s.samples >= this.#warmup) {
        const sd = Math.sqrt(s.variance);
        // A series flat until now (sd 0) that moves is anomalous; noise below 1e-12 is not.
        if ((sd > 0 && Math.abs(deviation) / sd > this.#z) || (sd === 0 && Math.abs(deviation) > 1e-12 * Math.max(1, Math.abs(s.mean)))) anomalous = true;
      }
      // West's incremental EWMA of mean and variance.
      s.mean += this.#alpha * deviation;
      s.variance = (1 - this.#alpha) * (s.variance + this.#alpha * deviation * deviation);
      s.last = v;
      s.samples++;
    }
    if (compared === 0) {
      // Nothing to compare yet (first sample of every series): keep the interval.
      this.lastReason = 'initial';
    } else if (anomalous) {
      this.#intervalMs = clamp(this.#intervalMs / 2, this.minMs, this.maxMs);
      this.lastReason = 'anomalous';
    } else if (maxChange >= this.#fast) {
      this.#intervalMs = clamp(this.#intervalMs / 2, this.minMs, this.maxMs);
      this.lastReason = 'fast';
    } else if (maxChange < this.#flat) {
      this.#intervalMs = clamp(this.#intervalMs * this.#growth, this.minMs, this.maxMs);
      this.lastReason = 'flat';
    } else {
      this.lastReason = 'steady';
    }
    if (nowMs < this.#boostUntil) this.lastReason = 'boosted';
    return this.current(nowMs);
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
