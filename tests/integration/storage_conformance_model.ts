/**
 * The storage conformance suite's expectations, computed without the engine: a plain map of
 * every series' points, updated in write order (a later write of a timestamp replaces the
 * earlier one), and the aggregates of its buckets computed point by point. Answers are
 * compared whole, and a mismatch is reported at its first differing point (a diff of
 * 100,000-element arrays would drown it).
 */
import { canonicalTags, type MetricDataPoint, type Tags } from '../../src/model/metric.js';
import type { SeriesResult } from '../../src/model/api.js';

/** `metric{k=v,…}`: how the suite names a series (the same form the engine's errors use). */
export function seriesKey(metricId: string, tags: Tags = {}): string {
  return `${metricId}{${canonicalTags(tags)}}`;
}

export interface ExpectedSeries {
  metricId: string;
  tags: Tags;
  timestamps: number[];
  values: number[];
}

/** The aggregations the suite checks; each has an unambiguous definition over points. */
export type CheckedAggregation = 'count' | 'sum' | 'min' | 'max' | 'first' | 'last' | 'avg';
export const CHECKED_AGGREGATIONS: readonly CheckedAggregation[] = ['count', 'sum', 'min', 'max', 'first', 'last', 'avg'];

export class ExpectedPoints {
  readonly #series = new Map<string, { metricId: string; tags: Tags; points: Map<number, number> }>();

  /** Applies points in order, as one acknowledged write (later ones win on equal timestamps). */
  write(points: readonly MetricDataPoint[]): void {
    for (const p of points) this.put(p.metricId, p.tags ?? {}, p.timestamp as number, p.value);
  }

  put(metricId: string, tags: Tags, timestamp: number, value: number): void {
    const key = seriesKey(metricId, tags);
    let s = this.#series.get(key);
    if (s === undefined) {
      s = { metricId, tags: { ...tags }, points: new Map() };
      this.#series.set(key, s);
    }
    s.points.set(timestamp, value);
  }

  /** Drops the points of one series in [startMs, endMs); the series goes when none is left. */
  erase(metricId: string, tags: Tags, startMs = -Infinity, endMs = Infinity): void {
    const key = seriesKey(metricId, tags);
    const s = this.#series.get(key);
    if (s === undefined) return;
    for (const t of [...s.points.keys()]) if (t >= startMs && t < endMs) s.points.delete(t);
    if (s.points.size === 0) this.#series.delete(key);
  }

  /** Every series selected, its points in [startMs, endMs) in time order; series without any are left out (as the engine does). */
  raw(select: (metricId: string, tags: Tags) => boolean, startMs = -Infinity, endMs = Infinity): Map<string, ExpectedSeries> {
    const out = new Map<string, ExpectedSeries>();
    for (const [key, s] of this.#series) {
      if (!select(s.metricId, s.tags)) continue;
      const timestamps = [...s.points.keys()].filter((t) => t >= startMs && t < endMs).sort((a, b) => a - b);
      if (timestamps.length === 0) continue;
      out.set(key, { metricId: s.metricId, tags: s.tags, timestamps, values: timestamps.map((t) => s.points.get(t)!) });
    }
    return out;
  }

  /** Series keys with at least one point. */
  keys(select: (metricId: string, tags: Tags) => boolean = () => true): string[] {
    return [...this.#series.entries()].filter(([, s]) => select(s.metricId, s.tags)).map(([k]) => k).sort();
  }
}

/**
 * The aggregate of each epoch-aligned bucket of `intervalMs` holding points, from the points
 * of one or more series (merged, as groupBy [] does). `first`/`last` are only defined for one
 * series (several may share the first timestamp).
 */
export function expectedBuckets(series: readonly ExpectedSeries[], aggregation: CheckedAggregation, intervalMs: number): { timestamps: number[]; values: number[] } {
  if ((aggregation === 'first' || aggregation === 'last') && series.length !== 1) throw new Error(`BUG: ${aggregation} over ${series.length} series is ambiguous`);
  const buckets = new Map<number, { count: number; sum: number; min: number; max: number; first: number; last: number }>();
  for (const s of series) {
    s.timestamps.forEach((t, i) => {
      const v = s.values[i]!;
      const start = Math.floor(t / intervalMs) * intervalMs;
      const b = buckets.get(start);
      // Timestamps are ascending per series: the first seen is the bucket's first, the latest its last.
      if (b === undefined) buckets.set(start, { count: 1, sum: v, min: v, max: v, first: v, last: v });
      else {
        b.count++;
        b.sum += v;
        b.min = Math.min(b.min, v);
        b.max = Math.max(b.max, v);
        b.last = v;
      }
    });
  }
  const timestamps = [...buckets.keys()].sort((a, b) => a - b);
  const values = timestamps.map((t) => {
    const b = buckets.get(t)!;
    return aggregation === 'avg' ? b.sum / b.count : b[aggregation];
  });
  return { timestamps, values };
}

function firstDifference(label: string, actualTs: ArrayLike<number>, actualVs: ArrayLike<number>, expectedTs: readonly number[], expectedVs: readonly number[], approximate: boolean): string | undefined {
  const n = Math.max(actualTs.length, expectedTs.length);
  for (let i = 0; i < n; i++) {
    const at = actualTs[i];
    const av = actualVs[i];
    const et = expectedTs[i];
    const ev = expectedVs[i];
    const sameValue = av !== undefined && ev !== undefined && (approximate ? Math.abs(av - ev) <= 1e-9 * Math.max(1, Math.abs(ev)) : av === ev);
    if (at !== et || !sameValue) {
      return `${label}: first difference at point ${i} of ${actualTs.length} returned / ${expectedTs.length} expected: `
        + `got (${at === undefined ? '-' : new Date(at).toISOString()}, ${av}), expected (${et === undefined ? '-' : new Date(et).toISOString()}, ${ev})`;
    }
  }
  return undefined;
}

/**
 * Throws unless `actual` holds exactly the expected series (matched by metric and tags), each
 * with exactly the expected points. `approximate` allows a relative 1e-9 (an average computed
 * in another order).
 */
export function assertSeriesEqual(label: string, actual: readonly SeriesResult[], expected: ReadonlyMap<string, { timestamps: readonly number[]; values: readonly number[] }>, approximate = false): void {
  const actualKeys = actual.map((s) => seriesKey(s.metricId, s.tags)).sort();
  const expectedKeys = [...expected.keys()].sort();
  if (actualKeys.join('\n') !== expectedKeys.join('\n')) {
    throw new Error(`${label}: series returned [${actualKeys.join(', ')}], expected [${expectedKeys.join(', ')}]`);
  }
  for (const s of actual) {
    const key = seriesKey(s.metricId, s.tags);
    const e = expected.get(key)!;
    const problem = firstDifference(`${label} ${key}`, s.timestamps, s.values, e.timestamps, e.values, approximate);
    if (problem !== undefined) throw new Error(problem);
  }
}

/** Resolves once `condition` holds, checking every `everyMs`; rejects naming `what` after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
