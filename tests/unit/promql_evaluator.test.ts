/**
 * The PromQL evaluator in-process over an in-memory SeriesSource: lookback and offsets, the
 * range functions (with values worked out by hand from Prometheus' formulas), aggregations,
 * binary operators and matching, histogram_quantile, the instant functions, and the limits
 * (steps, series, points, deadline). Conformance with a real Prometheus is checked end to end
 * in tests/integration/promql_conformance.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { LabelMatcher } from '../../src/promql/ast.js';
import { PromQLExecutionError, PromQLTimeoutError } from '../../src/promql/errors.js';
import { DEFAULT_EVAL_LIMITS, evaluateMatrixSelector, evaluateRange, stepTimes } from '../../src/promql/evaluator.js';
import { bucketQuantile, parseBucketBound } from '../../src/promql/instant_functions.js';
import { compileMatcher, matchesAll } from '../../src/promql/label_matcher.js';
import type { Labels } from '../../src/promql/name_mapping.js';
import { parsePromQL } from '../../src/promql/parser.js';
import { quantile } from '../../src/query/range_window_functions.js';
import type { RawSeries, SelectLimits, SeriesSource } from '../../src/promql/series_source.js';
import type { StepValue } from '../../src/promql/step_values.js';

class MemorySource implements SeriesSource {
  reads: Array<[number, number]> = [];
  constructor(readonly data: RawSeries[]) {}
  async select(matchers: readonly LabelMatcher[], minMs: number, maxMs: number, limits: SelectLimits): Promise<RawSeries[]> {
    this.reads.push([minMs, maxMs]);
    const compiled = matchers.map(compileMatcher);
    const out = this.data.filter((s) => matchesAll(compiled, s.labels)).map((s) => {
      const keep = Array.from(s.timestamps, (_t, i) => i).filter((i) => s.timestamps[i]! >= minMs && s.timestamps[i]! <= maxMs);
      return { labels: s.labels, timestamps: Float64Array.from(keep, (i) => s.timestamps[i]!), values: Float64Array.from(keep, (i) => s.values[i]!) };
    });
    if (out.length > limits.maxSeries) throw new PromQLExecutionError('too many series');
    if (out.reduce((n, s) => n + s.timestamps.length, 0) > limits.maxPoints) throw new PromQLExecutionError('too many points');
    return out;
  }
  async series(): Promise<Labels[]> {
    return this.data.map((s) => s.labels);
  }
  metricNames(): string[] {
    return [];
  }
}

function series(labels: Labels, points: Array<[number, number]>): RawSeries {
  return { labels, timestamps: Float64Array.from(points, (p) => p[0] * 1000), values: Float64Array.from(points, (p) => p[1]) };
}

/** Every 10 s from 0 to 600 s. */
const every10s = (f: (s: number) => number): Array<[number, number]> => Array.from({ length: 61 }, (_, k) => [k * 10, f(k * 10)]);

const source = new MemorySource([
  series({ __name__: 'up_total', job: 'a', instance: '1' }, every10s((s) => s)),
  series({ __name__: 'up_total', job: 'a', instance: '2' }, every10s((s) => (s < 300 ? s * 2 : s - 300))),
  series({ __name__: 'gauge', job: 'b', host: 'x' }, every10s((s) => Math.sin(s / 100) * 10)),
  series({ __name__: 'gauge', job: 'b', host: 'y' }, every10s(() => NaN)),
  series({ __name__: 'sparse', job: 'c' }, [[0, 1], [100, 2], [500, 3]]),
  series({ __name__: 'h_bucket', le: '1' }, [[0, 2]]),
  series({ __name__: 'h_bucket', le: '2' }, [[0, 6]]),
  series({ __name__: 'h_bucket', le: '+Inf' }, [[0, 8]]),
  series({ __name__: 'h_bucket', le: 'junk' }, [[0, 100]]),
]);

async function at(query: string, timeS: number): Promise<Record<string, number> | number> {
  const { value } = await evaluateRange(parsePromQL(query), source, timeS * 1000, timeS * 1000, 1);
  return flatten(value);
}

function flatten(value: StepValue): Record<string, number> | number {
  if (value.kind === 'scalar') return value.values[0]!;
  if (value.kind === 'string') throw new Error('string');
  const out: Record<string, number> = {};
  for (const s of value.series) if (s.present[0] === 1) out[JSON.stringify(Object.entries(s.labels).sort())] = s.values[0]!;
  return out;
}

const key = (labels: Labels) => JSON.stringify(Object.entries(labels).sort());

describe('selectors', () => {
  it('takes the newest point within the lookback, offsets shift the time', async () => {
    expect(await at('sparse', 100)).toEqual({ [key({ __name__: 'sparse', job: 'c' })]: 2 });
    expect(await at('sparse', 400)).toEqual({ [key({ __name__: 'sparse', job: 'c' })]: 2 });
    // 100 s + 5 m lookback is 400 s, both ends inclusive; at 400.001 s the point is gone.
    expect(await at('sparse', 400.001)).toEqual({});
    expect(await at('sparse offset 100s', 600)).toEqual({ [key({ __name__: 'sparse', job: 'c' })]: 3 });
    expect(await at('up_total{instance="2"}', 605)).toEqual({ [key({ __name__: 'up_total', job: 'a', instance: '2' })]: 300 });
  });

  it('reads each selector once over the span every step needs', async () => {
    const s = new MemorySource(source.data);
    await evaluateRange(parsePromQL('rate(up_total[1m] offset 10s) + sparse'), s, 100_000, 200_000, 10_000);
    expect(s.reads).toEqual([[100_000 - 10_000 - 60_000, 200_000 - 10_000], [100_000 - 300_000, 200_000]]);
  });

  it('returns the raw points of an instant range selector', async () => {
    const raw = await evaluateMatrixSelector(parsePromQL('sparse[200s]') as never, source, 500_000);
    expect(raw.map((r) => Array.from(r.timestamps))).toEqual([[500_000]]);
    const none = await evaluateMatrixSelector(parsePromQL('sparse[10s] offset 1h') as never, source, 500_000);
    expect(none).toEqual([]);
  });
});

describe('range functions', () => {
  it('extrapolates rate and increase as Prometheus does, with counter resets', async () => {
    // instance 1: +1/s, 7 points 240..300 s within [240, 300]: no extrapolation needed at the ends.
    const r = (await at('rate(up_total{instance="1"}[1m])', 300)) as Record<string, number>;
    expect(Object.values(r)).toEqual([1]);
    // instance 2 resets at 300 s (from 580 to 0): increase over [250, 310] counts 580 + the rise.
    const inc = (await at('increase(up_total{instance="2"}[1m])', 310)) as Record<string, number>;
    expect(Object.values(inc)[0]).toBeCloseTo(((580 - 500) + 10 + 0) * (60 / 60), 9);
    // Fewer than two points: no value.
    expect(await at('rate(sparse[1m])', 100)).toEqual({});
    // Start extrapolation capped at the counter's zero point: values 0,10 at 0 s/10 s over [−50, 10].
    const zero = (await at('increase(up_total{instance="1"}[1m])', 10)) as Record<string, number>;
    expect(Object.values(zero)[0]).toBeCloseTo(10, 9);
  });

  it('takes the point-by-point reset loop for counters holding infinities', async () => {
    const inf = new MemorySource([series({ __name__: 'c' }, [[0, 1], [10, Infinity], [20, 5]])]);
    const { value } = await evaluateRange(parsePromQL('increase(c[1m])'), inf, 20_000, 20_000, 1);
    expect(value.kind === 'vector' && value.series[0]!.values[0]).toBe(Infinity);
    const nan = new MemorySource([series({ __name__: 'c' }, [[0, NaN], [10, 2], [20, 4]])]);
    const sum = await evaluateRange(parsePromQL('sum_over_time(c[1m])'), nan, 20_000, 20_000, 1);
    expect(sum.value.kind === 'vector' && sum.value.series[0]!.values[0]).toBeNaN();
  });

  it('computes irate from the last two points and delta without reset handling', async () => {
    expect(Object.values((await at('irate(up_total{instance="2"}[1m])', 300)) as object)).toEqual([0 / 10 + 0]);
    expect(Object.values((await at('irate(up_total{instance="2"}[1m])', 310)) as object)).toEqual([1]);
    expect(Object.values((await at('delta(sparse[10m])', 500)) as object)[0]).toBeCloseTo((3 - 1) * ((500 + 100) / 500), 9);
  });

  it('aggregates over time: avg, min, max, sum, count, last, quantile', async () => {
    const q = async (f: string) => Object.values((await at(`${f}(sparse[10m])`, 500)) as object)[0];
    expect(await q('avg_over_time')).toBe(2);
    expect(await q('min_over_time')).toBe(1);
    expect(await q('max_over_time')).toBe(3);
    expect(await q('sum_over_time')).toBe(6);
    expect(await q('count_over_time')).toBe(3);
    expect(await q('last_over_time')).toBe(3);
    expect(Object.values((await at('quantile_over_time(0.25, sparse[10m])', 500)) as object)[0]).toBe(1.5);
    expect(Object.keys((await at('last_over_time(sparse[10m])', 500)) as object)[0]).toContain('__name__');
    expect(Object.keys((await at('avg_over_time(sparse[10m])', 500)) as object)[0]).not.toContain('__name__');
  });

  it('handles NaN and infinities as Go does', () => {
    expect(quantile(0.5, [NaN, 1, 2])).toBe(1);
    expect(quantile(-1, [1])).toBe(-Infinity);
    expect(quantile(2, [1])).toBe(Infinity);
    expect(quantile(0.5, [])).toBeNaN();
  });

  it('keeps infinite means infinite in avg_over_time', async () => {
    const inf = new MemorySource([series({ __name__: 'x', k: 'x' }, [[0, Infinity], [10, 1], [20, Infinity]]), series({ __name__: 'y', k: 'y' }, [[0, Infinity], [10, -Infinity]])]);
    const { value } = await evaluateRange(parsePromQL('avg_over_time({__name__=~"x|y"}[1m])'), inf, 20_000, 20_000, 1);
    expect(value.kind === 'vector' && value.series.map((s) => s.values[0])).toEqual([Infinity, NaN]);
  });

  it('fails when dropping the name makes two series one at the same step', async () => {
    await expect(at('rate({__name__=~"up_total|sparse", job=~"a|c"}[10m])', 600)).resolves.toBeDefined();
    const twins = new MemorySource([series({ __name__: 'a', k: 'v' }, every10s((s) => s)), series({ __name__: 'b', k: 'v' }, every10s((s) => s))]);
    await expect(evaluateRange(parsePromQL('rate({k="v"}[1m])'), twins, 300_000, 300_000, 1)).rejects.toThrow(/same labelset/);
    await expect(evaluateRange(parsePromQL('-{k="v"}'), twins, 300_000, 300_000, 1)).rejects.toThrow(/same labelset/);
  });
});

describe('aggregations', () => {
  it('sums, averages, counts and picks extremes per group', async () => {
    expect(await at('sum(up_total)', 200)).toEqual({ '[]': 600 });
    expect(await at('avg by (job) (up_total)', 200)).toEqual({ [key({ job: 'a' })]: 300 });
    expect(await at('count without (instance) (up_total)', 200)).toEqual({ [key({ job: 'a' })]: 2 });
    expect(await at('max(up_total)', 200)).toEqual({ '[]': 400 });
    expect(await at('min(up_total)', 200)).toEqual({ '[]': 200 });
    // min/max let a number replace a NaN, whichever comes first.
    expect(await at('max(gauge)', 0)).toEqual({ '[]': 0 });
    expect(await at('min by (job) (gauge)', 100)).toEqual({ [key({ job: 'b' })]: Math.sin(1) * 10 });
  });

  it('keeps the labels of the top and bottom k, NaN ranked last', async () => {
    expect(await at('topk(1, up_total)', 200)).toEqual({ [key({ __name__: 'up_total', job: 'a', instance: '2' })]: 400 });
    expect(await at('bottomk(1, up_total)', 200)).toEqual({ [key({ __name__: 'up_total', job: 'a', instance: '1' })]: 200 });
    expect(Object.keys((await at('topk(1, gauge)', 100)) as object)[0]).toContain('"x"');
    expect(Object.keys((await at('bottomk(1, gauge)', 100)) as object)[0]).toContain('"x"');
    expect(await at('topk(0, up_total)', 200)).toEqual({});
  });
});

describe('binary operators', () => {
  it('computes scalar arithmetic and comparisons', async () => {
    expect(await at('2 ^ 3 ^ 2', 0)).toBe(512);
    expect(await at('7 % 4 - 1 / 4 * 2', 0)).toBe(2.5);
    expect(await at('1 < bool 2', 0)).toBe(1);
    expect(await at('2 != bool 2', 0)).toBe(0);
    expect(await at('time() + 1', 50)).toBe(51);
    expect(await at('-time()', 50)).toBe(-50);
  });

  it('applies vector-scalar operators, dropping the name for arithmetic and bool', async () => {
    expect(await at('up_total{instance="1"} * 2', 100)).toEqual({ [key({ job: 'a', instance: '1' })]: 200 });
    expect(await at('up_total > 250', 200)).toEqual({ [key({ __name__: 'up_total', job: 'a', instance: '2' })]: 400 });
    expect(await at('300 < up_total', 200)).toEqual({ [key({ __name__: 'up_total', job: 'a', instance: '2' })]: 400 });
    expect(await at('up_total >= bool 300', 200)).toEqual({ [key({ job: 'a', instance: '1' })]: 0, [key({ job: 'a', instance: '2' })]: 1 });
    expect(await at('300 <= bool up_total', 200)).toEqual({ [key({ job: 'a', instance: '1' })]: 0, [key({ job: 'a', instance: '2' })]: 1 });
  });

  it('matches vectors one-to-one, with on and ignoring', async () => {
    expect(await at('up_total - up_total offset 10s', 200)).toEqual({ [key({ job: 'a', instance: '1' })]: 10, [key({ job: 'a', instance: '2' })]: 20 });
    expect(await at('up_total{instance="1"} + on(job) up_total{instance="2"}', 200)).toEqual({ [key({ job: 'a' })]: 600 });
    expect(await at('up_total{instance="1"} / ignoring(instance) up_total{instance="2"}', 200)).toEqual({ [key({ job: 'a' })]: 0.5 });
    expect(await at('up_total == up_total', 200)).toEqual({
      [key({ __name__: 'up_total', job: 'a', instance: '1' })]: 200, [key({ __name__: 'up_total', job: 'a', instance: '2' })]: 400,
    });
    expect(await at('up_total < bool on(instance, job) up_total offset 10s', 200)).toEqual({ [key({ job: 'a', instance: '1' })]: 0, [key({ job: 'a', instance: '2' })]: 0 });
    expect(await at('up_total > up_total offset 10s', 200)).toEqual({
      [key({ __name__: 'up_total', job: 'a', instance: '1' })]: 200, [key({ __name__: 'up_total', job: 'a', instance: '2' })]: 400,
    });
    expect(await at('up_total != up_total', 200)).toEqual({});
  });

  it('refuses many-to-one and many-to-many matches', async () => {
    await expect(at('up_total / on(job) up_total{instance="1"}', 200)).rejects.toThrow(/many-to-one matching must be explicit/);
    await expect(at('up_total{instance="1"} / on(job) up_total', 200)).rejects.toThrow(/many-to-many matching not allowed/);
  });
});

describe('instant functions', () => {
  it('computes abs, clamps, round and vector', async () => {
    expect(await at('abs(-up_total{instance="1"})', 100)).toEqual({ [key({ job: 'a', instance: '1' })]: 100 });
    expect(await at('clamp_min(up_total{instance="1"}, 150)', 100)).toEqual({ [key({ job: 'a', instance: '1' })]: 150 });
    expect(await at('clamp_max(up_total{instance="1"}, 50)', 100)).toEqual({ [key({ job: 'a', instance: '1' })]: 50 });
    expect(await at('round(gauge{host="x"})', 100)).toEqual({ [key({ job: 'b', host: 'x' })]: 8 });
    expect(await at('round(gauge{host="x"}, 0.5)', 100)).toEqual({ [key({ job: 'b', host: 'x' })]: 8.5 });
    expect(await at('vector(3)', 100)).toEqual({ '[]': 3 });
  });

  it('estimates quantiles from histogram buckets', async () => {
    // Buckets 1:2, 2:6, +Inf:8; the `le="junk"` series is skipped. Rank 0.5*8 = 4 falls in (1, 2].
    expect(await at('histogram_quantile(0.5, h_bucket)', 0)).toEqual({ '[]': 1.5 });
    expect(await at('histogram_quantile(0.9, h_bucket)', 0)).toEqual({ '[]': 2 });
    expect(await at('histogram_quantile(0.1, h_bucket)', 0)).toEqual({ '[]': 0.4 });
    expect(bucketQuantile(NaN, [{ upperBound: Infinity, count: 1 }])).toBeNaN();
    expect(bucketQuantile(-0.1, [{ upperBound: Infinity, count: 1 }])).toBe(-Infinity);
    expect(bucketQuantile(1.1, [{ upperBound: Infinity, count: 1 }])).toBe(Infinity);
    expect(bucketQuantile(0.5, [{ upperBound: 1, count: 1 }])).toBeNaN();
    expect(bucketQuantile(0.5, [{ upperBound: Infinity, count: 1 }])).toBeNaN();
    expect(bucketQuantile(0.5, [{ upperBound: 1, count: 0 }, { upperBound: Infinity, count: 0 }])).toBeNaN();
    expect(bucketQuantile(0.5, [{ upperBound: -1, count: 5 }, { upperBound: Infinity, count: 6 }])).toBe(-1);
    // Equal bounds merge, and counts are forced monotonic.
    expect(bucketQuantile(0.5, [{ upperBound: 1, count: 1 }, { upperBound: 1, count: 1 }, { upperBound: 2, count: 1 }, { upperBound: Infinity, count: 4 }])).toBe(1);
    expect(parseBucketBound('+Inf')).toBe(Infinity);
    expect(parseBucketBound('-inf')).toBe(-Infinity);
    expect(parseBucketBound('NaN')).toBeNaN();
    expect(parseBucketBound('1e-3')).toBe(0.001);
    expect(parseBucketBound(' 1')).toBeUndefined();
    expect(parseBucketBound(undefined)).toBeUndefined();
  });
});

describe('limits', () => {
  it('bounds steps, series, points and time', async () => {
    expect(() => stepTimes(0, 11_000_000, 1000, 11_000)).toThrow(/exceeded maximum resolution of 11000/);
    expect(Array.from(stepTimes(0, 25, 10, 100))).toEqual([0, 10, 20]);
    await expect(evaluateRange(parsePromQL('up_total'), source, 0, 0, 1, { ...DEFAULT_EVAL_LIMITS, maxSeriesPerSelector: 1 })).rejects.toThrow(PromQLExecutionError);
    await expect(evaluateRange(parsePromQL('up_total'), source, 0, 600_000, 1000, { ...DEFAULT_EVAL_LIMITS, maxPointsRead: 10 })).rejects.toThrow(/too many points/);
    await expect(evaluateRange(parsePromQL('sum(rate(up_total[10m])) + sum(gauge)'), source, 0, 600_000, 100, { ...DEFAULT_EVAL_LIMITS, timeoutMs: -1 })).rejects.toThrow(PromQLTimeoutError);
  });

  it('evaluates a range query step by step', async () => {
    const { steps, value } = await evaluateRange(parsePromQL('sparse'), source, 0, 600_000, 100_000);
    expect(Array.from(steps)).toEqual([0, 100_000, 200_000, 300_000, 400_000, 500_000, 600_000]);
    expect(value.kind === 'vector' && Array.from(value.series[0]!.present)).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(value.kind === 'vector' && Array.from(value.series[0]!.values)).toEqual([1, 2, 2, 2, 2, 3, 3]);
  });
});
