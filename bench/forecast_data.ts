/**
 * The series of the rolling-origin forecast benchmark (bench/forecast_accuracy.ts) and of its
 * statsmodels reference (bench/reference/forecast_statsmodels.py), prepared identically for
 * both: the 20 NAB development files resampled onto a regular grid of their median step
 * (bucket means, empty buckets interpolated), plus synthetic series from fixed seeds.
 *
 * Design split, fixed before any figure was looked at: the series marked `design` are the ones
 * the forecaster was developed on (the two the issue names, nyc_taxi, and the seed-1 synthetic
 * set); every other series is held out and reported separately.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { SeededRandom } from '../src/analytics/seeded_random.js';

export interface BenchSeries {
  name: string;
  stepMs: number;
  values: number[];
  design: boolean;
}

const DESIGN = new Set(['rds_cpu_utilization_cc0c53', 'ambient_temperature_system_failure', 'nyc_taxi']);
/** Seasonal naive is exact on these (a constant, a noiseless square wave), so MASE is 0/0. */
const SKIP = new Set(['art_flatline', 'art_daily_perfect_square_wave']);

function parseNab(path: string): { t: number[]; v: number[] } {
  const t: number[] = [];
  const v: number[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n').slice(1)) {
    if (line.trim() === '') continue;
    const [ts, val] = line.split(',');
    t.push(Date.parse(`${ts!.replace(' ', 'T')}Z`));
    v.push(Number(val));
  }
  return { t, v };
}

/** Bucket means on a grid of the median step; empty buckets linearly interpolated. */
export function resample(t: number[], v: number[]): { stepMs: number; values: number[] } {
  const order = t.map((_, i) => i).sort((a, b) => t[a]! - t[b]!);
  const ts = order.map((i) => t[i]!);
  const vs = order.map((i) => v[i]!);
  const diffs = ts.slice(1).map((x, i) => x - ts[i]!).filter((d) => d > 0).sort((a, b) => a - b);
  const stepMs = diffs[diffs.length >> 1]!;
  const n = Math.floor((ts[ts.length - 1]! - ts[0]!) / stepMs) + 1;
  const sum = new Float64Array(n);
  const count = new Float64Array(n);
  for (let i = 0; i < ts.length; i++) {
    const b = Math.min(n - 1, Math.floor((ts[i]! - ts[0]!) / stepMs));
    sum[b] = sum[b]! + vs[i]!;
    count[b] = count[b]! + 1;
  }
  const values: number[] = new Array(n).fill(NaN);
  for (let i = 0; i < n; i++) if (count[i]! > 0) values[i] = sum[i]! / count[i]!;
  let prev = -1;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(values[i])) continue;
    for (let j = prev + 1; j < i; j++) values[j] = prev < 0 ? values[i]! : values[prev]! + ((values[i]! - values[prev]!) * (j - prev)) / (i - prev);
    prev = i;
  }
  return { stepMs, values };
}

export function nabSeries(root: string): BenchSeries[] {
  const out: BenchSeries[] = [];
  for (const dir of readdirSync(root).sort()) {
    const d = join(root, dir);
    if (dir === 'labels' || !existsSync(d) || dir.includes('.')) continue;
    for (const f of readdirSync(d).sort()) {
      if (!f.endsWith('.csv')) continue;
      const name = f.replace(/\.csv$/, '');
      if (SKIP.has(name)) continue;
      const { t, v } = parseNab(join(d, f));
      const r = resample(t, v);
      out.push({ name, stepMs: r.stepMs, values: r.values, design: DESIGN.has(name) });
    }
  }
  return out;
}

/**
 * Shapes a metrics engine sees: daily cycles with noise, growth, a weekly rhythm, a random
 * walk, a filling disk, a level shift. Seed 1 is the design set, seed 2 is held out.
 */
export function syntheticSeries(seed: number): BenchSeries[] {
  const rnd = new SeededRandom(seed);
  const day = 288;
  const n = 14 * day;
  const make = (name: string, f: (i: number, state: { walk: number }) => number): BenchSeries => {
    const state = { walk: 0 };
    const values: number[] = [];
    for (let i = 0; i < n; i++) values.push(f(i, state));
    return { name: `synthetic_s${seed}_${name}`, stepMs: 300_000, values, design: seed === 1 };
  };
  const phase = rnd.uniform() * 2 * Math.PI;
  const amp = 10 + 20 * rnd.uniform();
  return [
    make('daily_noise', (i) => 50 + amp * Math.sin((2 * Math.PI * i) / day + phase) + 3 * rnd.normal()),
    make('daily_trend', (i) => 20 + 0.01 * i + amp * Math.sin((2 * Math.PI * i) / day + phase) + 2 * rnd.normal()),
    make('weekly_daily', (i) => 100 + (Math.floor(i / day) % 7 >= 5 ? -30 : 0) + amp * Math.max(0, Math.sin((2 * Math.PI * i) / day + phase)) + 4 * rnd.normal()),
    make('random_walk', (_, s) => (s.walk += rnd.normal()) + 100),
    make('disk_fill', (i) => 40 + (50 * i) / n + 0.5 * rnd.normal() + 2 * Math.sin((2 * Math.PI * i) / day)),
    make('level_shift', (i) => (i > n * 0.6 ? 70 : 40) + amp * 0.5 * Math.sin((2 * Math.PI * i) / day + phase) + 3 * rnd.normal()),
  ];
}

export function benchSeries(nabRoot: string): BenchSeries[] {
  return [...nabSeries(nabRoot), ...syntheticSeries(1), ...syntheticSeries(2)];
}

/** Origins (training lengths) at 70, 80 and 90% of the series, and the one-day horizon. */
export function splits(s: BenchSeries): { origins: number[]; horizon: number } {
  const horizon = Math.max(1, Math.round(86_400_000 / s.stepMs));
  const n = s.values.length;
  return { origins: [0.7, 0.8, 0.9].map((f) => Math.floor(f * n)).filter((o) => o + 1 <= n), horizon };
}
