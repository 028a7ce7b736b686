/**
 * Reference for assembly/aggregate.ts and assembly/percentile.ts: bucketed aggregation in plain
 * TypeScript, clarity over speed (docs/format/aggregation.md, "Semantics"). Tests compare the
 * WASM path (src/core/bucket_accumulator.ts) against it on random inputs, and
 * bench/aggregate.bench.ts uses it as the baseline. It states the semantics directly: every
 * in-range point is put in an array per bucket, then each bucket is computed from its points.
 */
import type { Aggregation } from '../../model/api.js';

export interface ReferenceSeries {
  timestamps: ArrayLike<number>;
  values: ArrayLike<number>;
}

export interface ReferenceOptions {
  aggregation: Aggregation;
  intervalMs: number;
  startMs?: number;
  endMs?: number;
}

interface BucketPoint {
  ts: number;
  value: number;
  /** Position in feed order, to break timestamp ties like the accumulator does. */
  order: number;
}

/** numpy's default ("linear") percentile of the sorted values. */
export function referencePercentile(sorted: readonly number[], q: number): number {
  const pos = q * (sorted.length - 1);
  const lower = Math.floor(pos);
  const upper = Math.ceil(pos);
  const a = sorted[lower]!;
  const b = sorted[upper]!;
  return lower === upper ? a : a + (pos - lower) * (b - a);
}

/**
 * Aggregates a group of series (each ascending in time) into one result. Points before
 * startMs do not count but a series' last such point is the rate predecessor of its first
 * point in range; rate never pairs points of different series.
 */
export function aggregateReference(
  series: readonly ReferenceSeries[], options: ReferenceOptions,
): { timestamps: Float64Array; values: Float64Array } {
  const { aggregation, intervalMs } = options;
  const startMs = options.startMs ?? -Infinity;
  const endMs = options.endMs ?? Infinity;
  const buckets = new Map<number, { points: BucketPoint[]; increase: number }>();
  let order = 0;
  for (const s of series) {
    for (let i = 0; i < s.values.length; i++) {
      const ts = s.timestamps[i]!;
      const value = s.values[i]!;
      if (ts < startMs || ts >= endMs) continue;
      const start = Math.floor(ts / intervalMs) * intervalMs;
      let bucket = buckets.get(start);
      if (bucket === undefined) {
        bucket = { points: [], increase: 0 };
        buckets.set(start, bucket);
      }
      bucket.points.push({ ts, value, order: order++ });
      if (i > 0) {
        const previous = s.values[i - 1]!;
        bucket.increase += value >= previous ? value - previous : value;
      }
    }
  }
  const starts = [...buckets.keys()].sort((a, b) => a - b);
  const values = starts.map((start) => {
    const { points, increase } = buckets.get(start)!;
    const vs = points.map((p) => p.value);
    const n = vs.length;
    const sum = vs.reduce((a, b) => a + b, 0);
    switch (aggregation) {
      case 'count': return n;
      case 'sum': return sum;
      case 'avg': return sum / n;
      case 'min': return vs.reduce((a, b) => Math.min(a, b));
      case 'max': return vs.reduce((a, b) => Math.max(a, b));
      case 'first': {
        const byTime = [...points].sort((a, b) => a.ts - b.ts || a.order - b.order);
        return byTime[0]!.value;
      }
      case 'last': {
        const byTime = [...points].sort((a, b) => a.ts - b.ts || a.order - b.order);
        return byTime[n - 1]!.value;
      }
      case 'stddev': {
        const mean = sum / n;
        return Math.sqrt(vs.reduce((a, v) => a + (v - mean) ** 2, 0) / n);
      }
      case 'rate': return increase / (intervalMs / 1000);
      case 'p50': return referencePercentile([...vs].sort((a, b) => a - b), 0.5);
      case 'p90': return referencePercentile([...vs].sort((a, b) => a - b), 0.9);
      case 'p95': return referencePercentile([...vs].sort((a, b) => a - b), 0.95);
      case 'p99': return referencePercentile([...vs].sort((a, b) => a - b), 0.99);
    }
  });
  return { timestamps: Float64Array.from(starts), values: Float64Array.from(values) };
}
