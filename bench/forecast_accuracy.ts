/**
 * Rolling-origin forecast benchmark: origins at 70/80/90% of each series, a one-day horizon,
 * MASE scaled by the in-sample mean absolute error of the seasonal-naive (one day) forecast.
 * Compares EMMS `forecastAuto`, the previous EMMS `auto` (detected period → Holt-Winters, else
 * a line), seasonal naive, and statsmodels Holt-Winters from reference data computed once
 * (bench/reference/forecast_statsmodels.py). Also reports 95% interval coverage and the time
 * of one forecast of 16k buckets.
 *
 *   npx tsx bench/forecast_accuracy.ts            # NAB_ROOT=/work/shared/data/nab by default
 *
 * Series marked design were looked at while developing; the held-out rows are the result.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { forecastAuto } from '../src/analytics/forecast_auto.js';
import { holtWintersForecast, linearForecast } from '../src/analytics/forecast.js';
import { detectPeriod } from '../src/analytics/period_detection.js';
import { benchSeries, splits, type BenchSeries } from './forecast_data.js';

const root = process.env.NAB_ROOT ?? '/work/shared/data/nab';
const reference = JSON.parse(readFileSync(new URL('./reference/forecast_statsmodels.json', import.meta.url), 'utf8')) as {
  statsmodels: string;
  series: Record<string, Array<{ origin: number; model: string; forecast: number[] }>>;
};

function previousAuto(train: Float64Array, horizon: number): Float64Array {
  const period = detectPeriod(train).period;
  if (period >= 2 && train.length >= 3 * period) return holtWintersForecast(train, horizon, { period }).mean;
  return linearForecast(Float64Array.from(train, (_, i) => i), train, horizon, 1).mean;
}

function seasonalNaive(train: Float64Array, m: number, horizon: number): Float64Array {
  const out = new Float64Array(horizon);
  for (let h = 0; h < horizon; h++) out[h] = train[train.length - m + (h % m)]!;
  return out;
}

function mae(actual: ArrayLike<number>, f: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < actual.length; i++) s += Math.abs(actual[i]! - f[i]!);
  return s / actual.length;
}

interface Row {
  name: string;
  design: boolean;
  emms: number;
  before: number;
  snaive: number;
  statsmodels: number;
  covered: number;
  total: number;
  chosen: string;
}

function evaluate(s: BenchSeries): Row {
  const { origins, horizon } = splits(s);
  const all = Float64Array.from(s.values);
  const sums = { emms: 0, before: 0, snaive: 0, statsmodels: 0 };
  let covered = 0;
  let total = 0;
  const chosen: string[] = [];
  const ref = reference.series[s.name];
  if (ref === undefined) throw new Error(`no statsmodels reference for ${s.name}: rerun bench/reference/forecast_statsmodels.py`);
  origins.forEach((origin, k) => {
    const train = all.subarray(0, origin);
    const h = Math.min(horizon, all.length - origin);
    const actual = all.subarray(origin, origin + h);
    const m = train.length > horizon ? horizon : 1;
    let scale = 0;
    for (let i = m; i < train.length; i++) scale += Math.abs(train[i]! - train[i - m]!);
    scale /= train.length - m;
    const f = forecastAuto(train, h, { stepMs: s.stepMs });
    const label = (m: string, p: number): string => `${m}${p ? `/${p}` : ''}`;
    chosen.push(label(f.method, f.period) + (f.combinedWith ? `+${label(f.combinedWith.method, f.combinedWith.period)}` : ''));
    for (let i = 0; i < h; i++) if (actual[i]! >= f.lower[i]! && actual[i]! <= f.upper[i]!) covered++;
    total += h;
    sums.emms += mae(actual, f.mean) / scale;
    sums.before += mae(actual, previousAuto(train, h)) / scale;
    sums.snaive += mae(actual, seasonalNaive(train, m, h)) / scale;
    sums.statsmodels += mae(actual, ref[k]!.forecast) / scale;
  });
  const k = origins.length;
  return { name: s.name, design: s.design, emms: sums.emms / k, before: sums.before / k, snaive: sums.snaive / k, statsmodels: sums.statsmodels / k, covered, total, chosen: chosen.join(' ') };
}

function timing(series: BenchSeries[]): { medianMs: number; p90Ms: number; cpuMedianMs: number; buckets: number } {
  const longest = series.reduce((a, b) => (b.values.length > a.values.length ? b : a));
  const values = Float64Array.from(longest.values.slice(-16_000));
  const horizon = Math.round(86_400_000 / longest.stepMs);
  for (let i = 0; i < 5; i++) forecastAuto(values, horizon, { stepMs: longest.stepMs });
  const times: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < 30; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    forecastAuto(values, horizon, { stepMs: longest.stepMs });
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  times.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);
  // On a shared machine the wall time includes waiting for a core; the CPU time does not.
  return { medianMs: times[15]!, p90Ms: times[27]!, cpuMedianMs: cpu[15]!, buckets: values.length };
}

const fmt = (x: number): string => x.toFixed(3);
const series = benchSeries(root);
const rows = series.map(evaluate);
console.log(`statsmodels ${reference.statsmodels}; machine: 2 cores shared with other work (noisy)\n`);
console.log('| series | set | EMMS auto | EMMS before | seasonal naive | statsmodels HW | 95% coverage | chosen (70/80/90%) |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.name} | ${r.design ? 'design' : 'held-out'} | ${fmt(r.emms)} | ${fmt(r.before)} | ${fmt(r.snaive)} | ${fmt(r.statsmodels)} | ${(100 * r.covered / r.total).toFixed(1)}% | ${r.chosen} |`);
}
for (const [label, subset] of [['held-out', rows.filter((r) => !r.design)], ['design', rows.filter((r) => r.design)], ['all', rows]] as const) {
  const mean = (f: (r: Row) => number): number => subset.reduce((a, r) => a + f(r), 0) / subset.length;
  const cov = subset.reduce((a, r) => a + r.covered, 0) / subset.reduce((a, r) => a + r.total, 0);
  console.log(`| **mean, ${label} (${subset.length})** | | ${fmt(mean((r) => r.emms))} | ${fmt(mean((r) => r.before))} | ${fmt(mean((r) => r.snaive))} | ${fmt(mean((r) => r.statsmodels))} | ${(100 * cov).toFixed(1)}% | ratio EMMS/statsmodels ${fmt(mean((r) => r.emms) / mean((r) => r.statsmodels))} |`);
}
const t = timing(series);
console.log(`\nforecastAuto on ${t.buckets} buckets, horizon one day: wall median ${t.medianMs.toFixed(2)} ms, p90 ${t.p90Ms.toFixed(2)} ms; CPU median ${t.cpuMedianMs.toFixed(2)} ms; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores`);
