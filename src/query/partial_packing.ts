/**
 * Packs many partial aggregates (one per result group) into six typed arrays, so a worker's
 * answer crosses threads as six transferred buffers instead of six per group: a query without
 * groupBy over 1,000 series has 1,000 groups.
 *
 * Layout: for group k, `lengths` holds 4 numbers (dense bucket count, values, runs, baseBucket)
 * and each column holds the groups' slices back to back in group order.
 */
import type { AggregatePartial } from '../core/aggregate_partial.js';
import type { AggregateResult } from '../core/aggregate_options.js';
import type { Aggregation } from '../model/api.js';

export interface PackedPartials {
  aggregation: Aggregation;
  intervalMs: number;
  startMs: number;
  endMs: number;
  groups: Int32Array;
  /** Per group: dense length, values length, runs length, baseBucket. */
  lengths: Float64Array;
  count: Float64Array;
  x: Float64Array;
  y: Float64Array;
  values: Float64Array;
  runBuckets: Float64Array;
  runCounts: Int32Array;
}

const FIELDS = 4;

export function packPartials(groups: readonly number[], partials: readonly AggregatePartial[], template: Omit<AggregatePartial, 'baseBucket' | 'count' | 'x' | 'y' | 'values' | 'runBuckets' | 'runCounts'>): PackedPartials {
  let dense = 0;
  let nValues = 0;
  let runs = 0;
  for (const p of partials) {
    dense += p.count.length;
    nValues += p.values.length;
    runs += p.runCounts.length;
  }
  const packed: PackedPartials = {
    aggregation: template.aggregation, intervalMs: template.intervalMs, startMs: template.startMs, endMs: template.endMs,
    groups: Int32Array.from(groups),
    lengths: new Float64Array(partials.length * FIELDS),
    count: new Float64Array(dense), x: new Float64Array(dense), y: new Float64Array(dense),
    values: new Float64Array(nValues), runBuckets: new Float64Array(runs), runCounts: new Int32Array(runs),
  };
  let d = 0;
  let v = 0;
  let r = 0;
  partials.forEach((p, k) => {
    packed.lengths[k * FIELDS] = p.count.length;
    packed.lengths[k * FIELDS + 1] = p.values.length;
    packed.lengths[k * FIELDS + 2] = p.runCounts.length;
    packed.lengths[k * FIELDS + 3] = p.baseBucket;
    packed.count.set(p.count, d);
    packed.x.set(p.x, d);
    packed.y.set(p.y, d);
    d += p.count.length;
    packed.values.set(p.values, v);
    v += p.values.length;
    packed.runBuckets.set(p.runBuckets, r);
    packed.runCounts.set(p.runCounts, r);
    r += p.runCounts.length;
  });
  return packed;
}

export function packedTransferList(p: PackedPartials): ArrayBuffer[] {
  return [p.groups, p.lengths, p.count, p.x, p.y, p.values, p.runBuckets, p.runCounts].map((a) => a.buffer as ArrayBuffer);
}

/** Calls `each(group, partial)` with views into the packed arrays (no copies). */
export function forEachPartial(p: PackedPartials, each: (group: number, partial: AggregatePartial) => void): void {
  let d = 0;
  let v = 0;
  let r = 0;
  for (let k = 0; k < p.groups.length; k++) {
    const dense = p.lengths[k * FIELDS]!;
    const nValues = p.lengths[k * FIELDS + 1]!;
    const runs = p.lengths[k * FIELDS + 2]!;
    each(p.groups[k]!, {
      aggregation: p.aggregation, intervalMs: p.intervalMs, startMs: p.startMs, endMs: p.endMs,
      baseBucket: p.lengths[k * FIELDS + 3]!,
      count: p.count.subarray(d, d + dense), x: p.x.subarray(d, d + dense), y: p.y.subarray(d, d + dense),
      values: p.values.subarray(v, v + nValues),
      runBuckets: p.runBuckets.subarray(r, r + runs), runCounts: p.runCounts.subarray(r, r + runs),
    });
    d += dense;
    v += nValues;
    r += runs;
  }
}

/** Finished results of the groups a task owned wholly: columns back to back in group order. */
export interface PackedResults {
  groups: Int32Array;
  /** Group k's points are timestamps[offsets[k] … offsets[k+1]). */
  offsets: Int32Array;
  timestamps: Float64Array;
  values: Float64Array;
}

export function packResults(groups: readonly number[], results: readonly AggregateResult[]): PackedResults {
  const offsets = new Int32Array(results.length + 1);
  results.forEach((r, k) => {
    offsets[k + 1] = offsets[k]! + r.timestamps.length;
  });
  const total = offsets[results.length]!;
  const packed: PackedResults = { groups: Int32Array.from(groups), offsets, timestamps: new Float64Array(total), values: new Float64Array(total) };
  results.forEach((r, k) => {
    packed.timestamps.set(r.timestamps, offsets[k]!);
    packed.values.set(r.values, offsets[k]!);
  });
  return packed;
}

export function resultsTransferList(p: PackedResults): ArrayBuffer[] {
  return [p.groups, p.offsets, p.timestamps, p.values].map((a) => a.buffer as ArrayBuffer);
}

/** Calls `each(group, result)` with views into the packed arrays. */
export function forEachResult(p: PackedResults, each: (group: number, result: AggregateResult) => void): void {
  for (let k = 0; k < p.groups.length; k++) {
    const a = p.offsets[k]!;
    const b = p.offsets[k + 1]!;
    each(p.groups[k]!, { timestamps: p.timestamps.subarray(a, b), values: p.values.subarray(a, b) });
  }
}
