/**
 * Functions over instant vectors and scalars: abs, clamp_min, clamp_max, round, vector, time
 * and histogram_quantile, per step, as in Prometheus 2.42's `promql/functions.go` and
 * `quantile.go` (bucketQuantile: buckets sorted by `le`, equal bounds merged, counts forced
 * monotonic, linear interpolation inside the bucket, NaN without a `+Inf` bucket).
 */
import type { Labels } from './name_mapping.js';
import { dropMetricName, labelsKey, mergeSameLabels, newStepSeries, type StepSeries } from './step_values.js';

type Elementwise = (v: number, arg: number) => number;

const ELEMENTWISE: Readonly<Record<string, Elementwise>> = {
  abs: (v) => Math.abs(v),
  // Go's math.Max/Min, like JS's, return NaN when either side is NaN.
  clamp_min: (v, min) => Math.max(v, min),
  clamp_max: (v, max) => Math.min(v, max),
  round: (v, toNearest) => {
    // Prometheus divides by the inverse to reduce float error for fractional steps.
    const inverse = 1 / toNearest;
    return Math.floor(v * inverse + 0.5) / inverse;
  },
};

export function isElementwiseFunction(name: string): boolean {
  return ELEMENTWISE[name] !== undefined;
}

/** abs/clamp_min/clamp_max/round over a vector; `arg` is the scalar argument per step (round defaults to 1). */
export function evalElementwise(func: string, input: readonly StepSeries[], arg: Float64Array | undefined): StepSeries[] {
  const fn = ELEMENTWISE[func];
  if (fn === undefined) throw new Error(`BUG: ${func} is not elementwise`);
  const out = input.map((s) => {
    const r = newStepSeries(dropMetricName(s.labels), s.values.length);
    for (let i = 0; i < s.values.length; i++) {
      if (s.present[i] === 0) continue;
      r.values[i] = fn(s.values[i]!, arg === undefined ? 1 : arg[i]!);
      r.present[i] = 1;
    }
    return r;
  });
  return mergeSameLabels(out);
}

interface Bucket {
  upperBound: number;
  count: number;
}

/** Go's strconv.ParseFloat for the `le` values exposition formats write; undefined when not a number. */
export function parseBucketBound(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim() === text ? text : '';
  if (/^[+-]?(inf|infinity)$/i.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(t)) return NaN;
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return undefined;
  return Number(t);
}

export function bucketQuantile(q: number, buckets: Bucket[]): number {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  buckets.sort((a, b) => a.upperBound - b.upperBound);
  if (buckets[buckets.length - 1]!.upperBound !== Infinity) return NaN;
  const merged: Bucket[] = [];
  for (const b of buckets) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.upperBound === b.upperBound) last.count += b.count;
    else merged.push({ ...b });
  }
  let max = -Infinity;
  for (const b of merged) {
    if (b.count > max) max = b.count;
    else b.count = max;
  }
  if (merged.length < 2) return NaN;
  const observations = merged[merged.length - 1]!.count;
  if (observations === 0) return NaN;
  let rank = q * observations;
  let b = 0;
  while (b < merged.length - 1 && !(merged[b]!.count >= rank)) b++;
  if (b === merged.length - 1) return merged[merged.length - 2]!.upperBound;
  if (b === 0 && merged[0]!.upperBound <= 0) return merged[0]!.upperBound;
  let bucketStart = 0;
  const bucketEnd = merged[b]!.upperBound;
  let count = merged[b]!.count;
  if (b > 0) {
    bucketStart = merged[b - 1]!.upperBound;
    count -= merged[b - 1]!.count;
    rank -= merged[b - 1]!.count;
  }
  return bucketStart + (bucketEnd - bucketStart) * (rank / count);
}

export function evalHistogramQuantile(q: Float64Array, input: readonly StepSeries[]): StepSeries[] {
  const groups = new Map<string, { labels: Labels; members: Array<{ s: StepSeries; le: number }> }>();
  for (const s of input) {
    const le = parseBucketBound(s.labels.le);
    if (le === undefined) continue;
    const { le: _le, ...rest } = dropMetricName(s.labels);
    const key = labelsKey(rest);
    let g = groups.get(key);
    if (g === undefined) {
      g = { labels: rest, members: [] };
      groups.set(key, g);
    }
    g.members.push({ s, le });
  }
  const out: StepSeries[] = [];
  for (const g of groups.values()) {
    const r = newStepSeries(g.labels, q.length);
    let any = false;
    for (let i = 0; i < q.length; i++) {
      const buckets: Bucket[] = [];
      for (const m of g.members) if (m.s.present[i] === 1) buckets.push({ upperBound: m.le, count: m.s.values[i]! });
      if (buckets.length === 0) continue;
      r.values[i] = bucketQuantile(q[i]!, buckets);
      r.present[i] = 1;
      any = true;
    }
    if (any) out.push(r);
  }
  return out;
}

/** vector(s): one series without labels. */
export function evalVector(scalar: Float64Array): StepSeries[] {
  const r = newStepSeries({}, scalar.length);
  r.values.set(scalar);
  r.present.fill(1);
  return [r];
}

/** time(): the evaluation time in seconds. */
export function evalTime(stepsMs: Float64Array): Float64Array {
  return stepsMs.map((t) => t / 1000);
}
