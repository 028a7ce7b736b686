/**
 * Range functions evaluated where the points are read (SeriesSource.selectRange →
 * QueryEngine.rangeFunction, src/query/range_function_query.ts), in the query workers and
 * inline, against the evaluator's own path (select() then range_functions.ts over the raw
 * points), which tests/integration/promql_conformance.test.ts checks against Prometheus.
 * The data has what the read path must get right: more series than one chunk prefetch
 * (PREFETCH_SERIES), chunks and heads, chunks overlapping each other and the head (late
 * points), counter resets, window sums that overflow, and a series with no point in the range. The answers
 * must be the same to the bit, and the selector limits the same.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ColumnarSeries } from '../../src/model/api.js';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import { PromQLExecutionError } from '../../src/promql/errors.js';
import { DEFAULT_EVAL_LIMITS, evaluateRange, type EvalLimits } from '../../src/promql/evaluator.js';
import { parsePromQL } from '../../src/promql/parser.js';
import { EngineSeriesSource, type SeriesSource } from '../../src/promql/series_source.js';
import { labelsKey, type StepValue } from '../../src/promql/step_values.js';
import { PREFETCH_SERIES } from '../../src/query/series_reader.js';

/** 2026-01-01T00:00:00Z. */
const T0 = 1_767_225_600_000;
const HOSTS = PREFETCH_SERIES + 6;
const POINTS = 360;

function dataset(): { first: ColumnarSeries[]; late: ColumnarSeries[] } {
  let seed = 11;
  const rand = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
    return seed / 2_147_483_648;
  };
  const first: ColumnarSeries[] = [];
  const late: ColumnarSeries[] = [];
  for (let h = 0; h < HOSTS; h++) {
    const tags = { host: `h${h}`, region: `r${h % 4}` };
    // Every 10 s for an hour, with jitter; host 3 stops after 20 minutes (nothing in later windows).
    const count = h === 3 ? 120 : POINTS;
    const timestamps = Array.from({ length: count }, (_, k) => T0 + k * 10_000 + Math.floor(rand() * 3000));
    let total = 0;
    const counter = timestamps.map((_, k) => (h % 5 === 0 && k % 97 === 50 ? (total = rand() * 10) : (total += Math.floor(rand() * 1000))));
    // Values near the largest double: window sums that overflow to ±Infinity.
    const gauge = timestamps.map((_, k) => (h === 7 && k % 50 < 2 ? -1.7e308 : h === 8 && k % 60 < 2 ? 1.7e308 : 50 + rand() * 50));
    first.push({ metricId: 'req.total', metricType: 'counter', tags, timestamps, values: counter });
    first.push({ metricId: 'cpu.usage', metricType: 'gauge', tags, timestamps, values: gauge });
    // Late points between earlier ones: for every 10th host, chunks that overlap.
    if (h % 10 === 1) {
      const ts = Array.from({ length: 30 }, (_, k) => T0 + k * 60_000 + 5_000);
      late.push({ metricId: 'cpu.usage', metricType: 'gauge', tags, timestamps: ts, values: ts.map(() => rand() * 100) });
    }
  }
  return { first, late };
}

const EXPRESSIONS = [
  'rate(req_total[5m])', 'increase(req_total[2m])', 'delta(cpu_usage[5m])', 'irate(req_total[1m])', 'sum by (region) (rate(req_total[5m]))',
  'avg_over_time(cpu_usage[10m])', 'sum_over_time(cpu_usage[3m])', 'min_over_time(cpu_usage[5m])', 'max_over_time(cpu_usage[5m])',
  'count_over_time(cpu_usage[5m])', 'last_over_time(cpu_usage[5m])', 'quantile_over_time(0.9, cpu_usage[10m])', 'rate(req_total{region="r1"}[5m])',
  'rate(req_total{host=~"h1.*"}[5m] offset 10m)', 'avg_over_time(cpu_usage{host!="h7"}[30m])', 'rate(req_total[5m]) / rate(req_total[10m])',
];

/** The evaluator's own path: a source without selectRange. */
function withoutPushdown(source: EngineSeriesSource): SeriesSource {
  return { select: (...a) => source.select(...a), series: (...a) => source.series(...a), metricNames: () => source.metricNames() };
}

/** Series sorted by labels; values as bit patterns, so NaN and -0 compare exactly. */
function canonical(v: StepValue): unknown {
  if (v.kind !== 'vector') return v;
  return v.series.map((s) => ({
    labels: labelsKey(s.labels), present: Array.from(s.present),
    bits: Array.from(s.values, (x, i) => (s.present[i] === 1 ? Buffer.from(Float64Array.of(x).buffer).toString('hex') : '')),
  })).sort((a, b) => (a.labels < b.labels ? -1 : 1));
}

const dirs: string[] = [];
let workers: EngineMetricsSystem;
let inline: EngineMetricsSystem;

async function engine(queryWorkers: number): Promise<EngineMetricsSystem> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-range-pushdown-'));
  dirs.push(dir);
  // Small heads: the hour of points is cut into several chunks a series, and the late points
  // land in chunks that overlap older ones; the last points stay in the heads.
  const e = new EngineMetricsSystem({ path: join(dir, 'r.db'), queryWorkers }, { rangeWorkerMinPoints: 0, headCutPoints: 64 });
  await e.start();
  const { first, late } = dataset();
  await e.collectSeries(first);
  await e.collectSeries(late);
  return e;
}

beforeAll(async () => {
  [workers, inline] = await Promise.all([engine(2), engine(0)]);
}, 60_000);

afterAll(async () => {
  await Promise.all([workers?.stop(), inline?.stop()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('range functions evaluated where the points are read', () => {
  const start = T0 + 15 * 60_000;
  const end = T0 + 65 * 60_000;

  it.each(EXPRESSIONS)('%s: the same as over the raw points, in workers and inline', async (q) => {
    const expr = parsePromQL(q);
    for (const system of [workers, inline]) {
      const source = new EngineSeriesSource(system);
      for (const step of [30_000, 60_000, 7 * 60_000]) {
        const expected = await evaluateRange(expr, withoutPushdown(source), start, end, step);
        const actual = await evaluateRange(expr, source, start, end, step);
        expect(canonical(actual.value)).toEqual(canonical(expected.value));
        if (actual.value.kind === 'vector') expect(actual.value.series.length).toBeGreaterThan(0);
      }
    }
  });

  it('an instant query answers the same too', async () => {
    const expr = parsePromQL('rate(req_total[5m])');
    const source = new EngineSeriesSource(workers);
    for (const t of [T0 + 60_000, T0 + 25 * 60_000, T0 + 61 * 60_000]) {
      const expected = await evaluateRange(expr, withoutPushdown(source), t, t, 1);
      expect(canonical((await evaluateRange(expr, source, t, t, 1)).value)).toEqual(canonical(expected.value));
    }
  });

  it('keeps the selector limits: series per selector and points per query', async () => {
    const expr = parsePromQL('sum(rate(req_total[5m]))');
    for (const system of [workers, inline]) {
      const source = new EngineSeriesSource(system);
      const limits = (l: Partial<EvalLimits>): EvalLimits => ({ ...DEFAULT_EVAL_LIMITS, ...l });
      await expect(evaluateRange(expr, source, start, end, 60_000, limits({ maxSeriesPerSelector: HOSTS - 1 })))
        .rejects.toThrow(new PromQLExecutionError(`a selector matched more than ${HOSTS - 1} series; narrow it with more label matchers`));
      // Within limits exactly at the number of series and points the read needs.
      const ok = await evaluateRange(expr, source, start, end, 60_000, limits({ maxSeriesPerSelector: HOSTS }));
      expect(ok.value.kind).toBe('vector');
      const selector = parsePromQL('req_total');
      if (selector.kind !== 'vector_selector') throw new Error('BUG: not a selector');
      const raw = await source.select(selector.matchers, start - 5 * 60_000, end, { maxSeries: Infinity, maxPoints: Infinity });
      const needed = raw.reduce((n, s) => n + s.timestamps.length, 0);
      await expect(evaluateRange(expr, source, start, end, 60_000, limits({ maxPointsRead: needed }))).resolves.toBeDefined();
      await expect(evaluateRange(expr, source, start, end, 60_000, limits({ maxPointsRead: needed - 1 })))
        .rejects.toThrow(new PromQLExecutionError(`a selector read more than ${needed - 1} points; shorten the range or narrow the selector`));
    }
  });
});
