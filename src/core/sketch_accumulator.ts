/**
 * Approximate percentiles per bucket: a DDSketch (ddsketch.ts) for each non-empty bucket of
 * the query's interval, fed from raw points (heads, decoded chunks) and from rollup sketches
 * (rollup_sketches.ts) alike, so each bucket's answer is one estimate over all its points.
 * Buckets are the exact path's: epoch-aligned, points counted when ts ∈ [startMs, endMs),
 * only non-empty buckets output (docs/format/aggregation.md).
 */
import { MetricValidationError } from '../model/metric.js';
import type { AggregateResult } from './aggregate_options.js';
import { DDSketch } from './ddsketch.js';
import { firstSketchFrom, ROLLUP_SKETCH_ACCURACY, type RollupSketches } from './rollup_sketches.js';

/**
 * Most bucket sketches one query may hold (over all its groups): each costs ~0.3–1 KiB where
 * the exact path holds 8 bytes a point, so a fine interval over many series is refused
 * rather than allowed to take gigabytes. As many as query.max_points' default answers.
 */
export const MAX_QUERY_SKETCHES = 1_000_000;

/** The sketches a query may still create, shared by its groups' accumulators. */
export class SketchBudget {
  left = MAX_QUERY_SKETCHES;
}

export class SketchAccumulator {
  readonly #sketches = new Map<number, DDSketch>();
  /** Sketches merged from rollups and points added raw, for stats and tests. */
  mergedSketches = 0;
  addedPoints = 0;

  constructor(
    readonly intervalMs: number, readonly startMs: number, readonly endMs: number, readonly quantile: number,
    readonly budget = new SketchBudget(),
  ) {
    if (!(intervalMs > 0)) throw new RangeError(`SketchAccumulator: intervalMs=${intervalMs} must be positive`);
    if (!(quantile >= 0 && quantile <= 1)) throw new RangeError(`SketchAccumulator: quantile=${quantile} must be in [0, 1]`);
  }

  #sketchOf(bucket: number): DDSketch {
    let s = this.#sketches.get(bucket);
    if (s === undefined) {
      if (--this.budget.left < 0) {
        throw new MetricValidationError(
          `percentileAccuracy: the query has more than ${MAX_QUERY_SKETCHES} non-empty buckets over its series or groups, ` +
          `each needing a sketch; use a longer interval, fewer series, or exact percentiles (leave percentileAccuracy out)`,
          -1, 'percentileAccuracy', undefined,
        );
      }
      s = new DDSketch(ROLLUP_SKETCH_ACCURACY);
      this.#sketches.set(bucket, s);
    }
    return s;
  }

  /** Adds the points in [startMs, endMs); any order (a sketch does not care). */
  addPoints(timestamps: Float64Array, values: Float64Array): void {
    if (timestamps.length !== values.length) {
      throw new RangeError(`addPoints: timestamps.length=${timestamps.length} must equal values.length=${values.length}`);
    }
    let bucket = NaN;
    let sketch: DDSketch | undefined;
    for (let i = 0; i < timestamps.length; i++) {
      const ts = timestamps[i]!;
      if (!(ts >= this.startMs && ts < this.endMs)) continue;
      const b = Math.floor(ts / this.intervalMs);
      if (b !== bucket) {
        bucket = b;
        sketch = this.#sketchOf(b);
      }
      sketch!.add(values[i]!);
      this.addedPoints++;
    }
  }

  /**
   * Merges a chunk's rollup sketches at `resolutionMs` (which divides intervalMs) for the
   * resolution buckets in [fromBucket, toBucket): the caller made sure each is whole and
   * inside the range.
   */
  addRollupSketches(s: RollupSketches, resolutionMs: number, fromBucket: number, toBucket: number): void {
    const per = this.intervalMs / resolutionMs;
    if (!Number.isInteger(per)) throw new Error(`BUG: resolution ${resolutionMs} ms does not divide interval ${this.intervalMs} ms`);
    const end = firstSketchFrom(s, toBucket);
    for (let k = firstSketchFrom(s, fromBucket); k < end; k++) {
      const at = k === 0 ? 0 : s.ends[k - 1]!;
      const next = this.#sketchOf(Math.floor(s.buckets[k]! / per)).mergeEncoded(s.bytes, at);
      if (next !== s.ends[k]) throw new Error(`BUG: rollup sketch ${k} decoded to byte ${next}, expected ${s.ends[k]}`);
      this.mergedSketches++;
    }
  }

  finish(): AggregateResult {
    const buckets = [...this.#sketches.keys()].filter((b) => this.#sketches.get(b)!.count > 0).sort((a, b) => a - b);
    const timestamps = new Float64Array(buckets.length);
    const values = new Float64Array(buckets.length);
    buckets.forEach((b, i) => {
      timestamps[i] = b * this.intervalMs;
      values[i] = this.#sketches.get(b)!.quantile(this.quantile);
    });
    return { timestamps, values };
  }
}
