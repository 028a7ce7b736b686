/**
 * What a bucketed aggregation is asked for (aggregation, interval, range), its result, and the
 * checks every entry point applies to the options (docs/format/aggregation.md, "Semantics").
 */
import { AGGREGATIONS, type Aggregation } from '../model/api.js';

export interface AggregateOptions {
  aggregation: Aggregation;
  /** Bucket width; a positive integer number of milliseconds (see parseInterval). */
  intervalMs: number;
  /** Inclusive start of the range; default: unbounded. */
  startMs?: number;
  /** Exclusive end of the range; default: unbounded. */
  endMs?: number;
}

export interface AggregateResult {
  /** Bucket starts of the non-empty buckets, ascending. */
  timestamps: Float64Array;
  values: Float64Array;
}

/** Most buckets one accumulator will hold (dense state columns of 8 bytes per bucket each). */
export const MAX_BUCKETS = 10_000_000;

/** Throws TypeError/RangeError naming the option and its value, or the bucket count past MAX_BUCKETS. */
export function validateAggregateOptions(options: AggregateOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`options must be an object with aggregation and intervalMs; got ${String(options)}`);
  }
  const { aggregation, intervalMs } = options;
  if (!(AGGREGATIONS as readonly unknown[]).includes(aggregation)) {
    throw new RangeError(`options.aggregation=${JSON.stringify(aggregation)} must be one of ${AGGREGATIONS.join(', ')}`);
  }
  if (typeof intervalMs !== 'number' || !Number.isSafeInteger(intervalMs) || intervalMs <= 0) {
    throw new RangeError(`options.intervalMs=${String(intervalMs)} must be a positive integer number of milliseconds`);
  }
  const startMs = options.startMs ?? -Infinity;
  const endMs = options.endMs ?? Infinity;
  if (options.startMs !== undefined && (typeof options.startMs !== 'number' || !Number.isFinite(options.startMs))) {
    throw new RangeError(`options.startMs=${String(options.startMs)} must be a finite epoch-millisecond time`);
  }
  if (options.endMs !== undefined && (typeof options.endMs !== 'number' || !Number.isFinite(options.endMs))) {
    throw new RangeError(`options.endMs=${String(options.endMs)} must be a finite epoch-millisecond time`);
  }
  if (endMs < startMs) {
    throw new RangeError(`options.endMs=${endMs} must not be before options.startMs=${startMs}`);
  }
  if (Number.isFinite(startMs) && Number.isFinite(endMs)) {
    const buckets = Math.floor((endMs - 1) / intervalMs) - Math.floor(startMs / intervalMs) + 1;
    if (buckets > MAX_BUCKETS) {
      throw new RangeError(
        `options.intervalMs=${intervalMs} over [options.startMs=${startMs}, options.endMs=${endMs}) makes ${buckets} buckets; ` +
        `at most ${MAX_BUCKETS} (use a longer interval or a shorter range)`,
      );
    }
  }
}
