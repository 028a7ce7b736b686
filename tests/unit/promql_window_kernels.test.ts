/**
 * The sliding-window kernels (src/query/window_kernels.ts), the column-wise aggregation and
 * the byte-level matrix JSON, each against a plain reference written straight from Prometheus
 * 2.42's `promql/functions.go` and `engine.go` (a window at a time, no sliding state) on
 * seeded random series: irregular gaps (including gaps longer than the window), counter
 * resets, NaN (how a staleness marker reads) and ±Inf, huge values that cancel, and several
 * ranges, steps and offsets. rate/increase/delta must agree bit for bit, sums within 1e-12
 * relative (the conformance test allows 1e-9 against a real Prometheus).
 */
import { describe, expect, it } from 'vitest';
import { evalAggregation } from '../../src/promql/aggregation.js';
import { formatSampleTime, formatSampleValue } from '../../src/promql/api_values.js';
import { evalRangeFunction } from '../../src/promql/range_functions.js';
import { renderMatrix, renderRaw } from '../../src/promql/result_json.js';
import type { RawSeries } from '../../src/promql/series_source.js';
import { newStepSeries, type StepSeries } from '../../src/promql/step_values.js';
import { neumaierSum, rateKernel, sumKernel, type RateKind } from '../../src/query/window_kernels.js';
import { mulberry32 } from '../../bench/data_shapes.js';

type Shape = 'counter' | 'gauge' | 'special' | 'cancelling';

/** A series of ~n points from 0 s, 1–30 s apart with occasional long gaps. */
function randomSeries(rand: () => number, n: number, shape: Shape): { ts: Float64Array; vs: Float64Array } {
  const ts = new Float64Array(n);
  const vs = new Float64Array(n);
  let t = Math.floor(rand() * 20_000);
  let counter = rand() * 1000;
  for (let k = 0; k < n; k++) {
    t += rand() < 0.05 ? 300_000 + Math.floor(rand() * 2_000_000) : 1000 + Math.floor(rand() * 29_000);
    ts[k] = t;
    const r = rand();
    switch (shape) {
      case 'counter':
        counter = r < 0.03 ? rand() * 50 : counter + rand() * 100;
        vs[k] = counter;
        break;
      case 'gauge':
        vs[k] = (rand() - 0.5) * 200;
        break;
      case 'special':
        vs[k] = r < 0.05 ? NaN : r < 0.07 ? Infinity : r < 0.09 ? -Infinity : r < 0.15 ? counter-- : counter + rand() * 10;
        break;
      case 'cancelling':
        // Huge values entering and leaving next to small ones: the running sum must not keep their rounding.
        vs[k] = r < 0.05 ? (rand() < 0.5 ? 1e15 : -1e15) * (1 + rand()) : r < 0.1 ? 1e-3 * rand() : (rand() - 0.5) * 10;
        break;
    }
  }
  return { ts, vs };
}

/**
 * A counter scraped every 10 s on the second (the window's ends then move by the same number
 * of points step after step, as the kernel guesses), with resets, a NaN, a repeated value and
 * two stretches missing.
 */
function regularCounter(rand: () => number, n: number): { ts: Float64Array; vs: Float64Array } {
  const ts: number[] = [];
  const vs: number[] = [];
  let counter = 0;
  for (let k = 0; k < n; k++) {
    if ((k >= 100 && k < 130) || (k >= 250 && k < 253)) continue;
    ts.push(1_000_000 + k * 10_000);
    counter = k % 97 === 96 ? rand() * 5 : k % 41 === 40 ? counter : counter + Math.floor(rand() * 1000);
    vs.push(k === 200 ? NaN : counter);
  }
  return { ts: Float64Array.from(ts), vs: Float64Array.from(vs) };
}

/** First index with ts[k] >= x (or > x when `after`). */
function bound(ts: Float64Array, x: number, after: boolean): number {
  let lo = 0;
  let hi = ts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ts[mid]! < x || (after && ts[mid] === x)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Points of [end - range, end], both ends inclusive. */
function windowOf(ts: Float64Array, vs: Float64Array, end: number, rangeMs: number): { t: number[]; v: number[] } {
  const a = bound(ts, end - rangeMs, false);
  const b = bound(ts, end, true);
  return { t: Array.from(ts.subarray(a, b)), v: Array.from(vs.subarray(a, b)) };
}

/** Prometheus 2.42 extrapolatedRate (promql/functions.go), as written there. */
function referenceRate(kind: RateKind, t: number[], v: number[], rangeStart: number, rangeEnd: number): number | undefined {
  if (t.length < 2) return undefined;
  const isCounter = kind !== 'delta';
  const isRate = kind === 'rate';
  let resultValue = v[v.length - 1]! - v[0]!;
  if (isCounter) {
    let lastValue = 0;
    for (const x of v) {
      if (x < lastValue) resultValue += lastValue;
      lastValue = x;
    }
  }
  let durationToStart = (t[0]! - rangeStart) / 1000;
  const durationToEnd = (rangeEnd - t[t.length - 1]!) / 1000;
  const sampledInterval = (t[t.length - 1]! - t[0]!) / 1000;
  const averageDurationBetweenSamples = sampledInterval / (t.length - 1);
  if (isCounter && resultValue > 0 && v[0]! >= 0) {
    const durationToZero = sampledInterval * (v[0]! / resultValue);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  const extrapolationThreshold = averageDurationBetweenSamples * 1.1;
  let extrapolateToInterval = sampledInterval;
  extrapolateToInterval += durationToStart < extrapolationThreshold ? durationToStart : averageDurationBetweenSamples / 2;
  extrapolateToInterval += durationToEnd < extrapolationThreshold ? durationToEnd : averageDurationBetweenSamples / 2;
  // 2.40 and later scale by one factor (it also multiplies native histograms).
  let factor = extrapolateToInterval / sampledInterval;
  if (isRate) factor /= (rangeEnd - rangeStart) / 1000;
  return resultValue * factor;
}

/** Prometheus' avg_over_time: the running mean with Kahan compensation. */
function referenceAvg(v: number[]): number {
  let mean = 0;
  let c = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    const count = i + 1;
    if (!Number.isFinite(mean) && !Number.isNaN(mean)) {
      if (!Number.isFinite(x) && !Number.isNaN(x) && (mean > 0) === (x > 0)) continue;
      if (Number.isFinite(x)) continue;
    }
    const inc = x / count - mean / count;
    const t = mean + inc;
    if (Math.abs(mean) >= Math.abs(inc)) c += (mean - t) + inc;
    else c += (inc - t) + mean;
    mean = t;
  }
  return !Number.isFinite(mean) && !Number.isNaN(mean) ? mean : mean + c;
}

/** The exact sum of floats, rounded once: integer arithmetic on their mantissas. */
function exactSum(v: number[]): number {
  const parts = v.map(decompose);
  const lowest = Math.min(...parts.map(([, e]) => e));
  let total = 0n;
  for (const [m, e] of parts) total += m << BigInt(e - lowest);
  // Number(bigint) rounds to nearest; the power of two is exact here (no subnormal results).
  return Number(total) * 2 ** lowest;
}

/** x = m × 2^e with m an integer (exact for every finite double). */
function decompose(x: number): [bigint, number] {
  if (x === 0) return [0n, 0];
  let e = 0;
  let m = x;
  while (!Number.isInteger(m)) {
    m *= 2;
    e--;
  }
  return [BigInt(m), e];
}

function relClose(a: number, b: number, rel: number): boolean {
  if (Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b))) return true;
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b));
}

function stepsOf(from: number, count: number, stepMs: number): Float64Array {
  return Float64Array.from({ length: count }, (_, i) => from + i * stepMs);
}

const CASES: Array<{ rangeMs: number; stepMs: number; offsetMs: number }> = [
  { rangeMs: 300_000, stepMs: 60_000, offsetMs: 0 },
  { rangeMs: 3_600_000, stepMs: 60_000, offsetMs: 0 },
  { rangeMs: 60_000, stepMs: 300_000, offsetMs: 0 },
  { rangeMs: 120_000, stepMs: 15_000, offsetMs: 600_000 },
  { rangeMs: 1_000, stepMs: 7_000, offsetMs: -30_000 },
];

describe('rateKernel', () => {
  it('is bit for bit Prometheus\' extrapolatedRate for rate, increase and delta, with resets, gaps, NaN and Inf', () => {
    const rand = mulberry32(19);
    let compared = 0;
    for (const shape of ['counter', 'gauge', 'special', 'regular counter'] as const) {
      for (let trial = 0; trial < 3; trial++) {
        const { ts, vs } = shape === 'regular counter' ? regularCounter(rand, 400) : randomSeries(rand, 250, shape);
        for (const { rangeMs, stepMs, offsetMs } of CASES) {
          const steps = stepsOf(ts[0]! - 100_000, Math.ceil((ts[ts.length - 1]! - ts[0]! + 200_000) / stepMs), stepMs);
          for (const kind of ['rate', 'increase', 'delta'] as const) {
            const out = newStepSeries({}, steps.length);
            rateKernel(kind, ts, vs, steps, rangeMs, offsetMs, out);
            for (let i = 0; i < steps.length; i++) {
              const end = steps[i]! - offsetMs;
              const w = windowOf(ts, vs, end, rangeMs);
              const want = referenceRate(kind, w.t, w.v, end - rangeMs, end);
              // Plain checks: an expect() per window would take most of the test's time.
              if (out.present[i] !== (want === undefined ? 0 : 1)) throw new Error(`${kind} ${shape} step ${i}: presence ${out.present[i]}`);
              if (want === undefined) continue;
              if (!Object.is(out.values[i], want) && !(Number.isNaN(want) && Number.isNaN(out.values[i]!))) {
                throw new Error(`${kind} ${shape} step ${i}: ${out.values[i]} != ${want}`);
              }
              compared++;
            }
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(10_000);
  });

  it('finds a reset or a NaN at every place of the reset scan\'s four-point blocks and of its tail', () => {
    // 14 points: blocks at 1–4, 5–8, 9–12 and a tail of 13; one window holds them all.
    const ts = Float64Array.from({ length: 14 }, (_, k) => 1_000_000 + k * 10_000);
    const steps = Float64Array.of(ts[13]!);
    let compared = 0;
    for (const odd of [(v: number) => v / 3, () => NaN]) {
      for (let at = 1; at < 14; at++) {
        const vs = Float64Array.from({ length: 14 }, (_, k) => (k === at ? odd(100 + 10 * k) : 100 + 10 * k));
        const out = newStepSeries({}, 1);
        rateKernel('increase', ts, vs, steps, 200_000, 0, out);
        const want = referenceRate('increase', Array.from(ts), Array.from(vs), steps[0]! - 200_000, steps[0]!);
        expect(out.present[0]).toBe(1);
        expect(Object.is(out.values[0], want) || (Number.isNaN(want) && Number.isNaN(out.values[0]!))).toBe(true);
        compared++;
      }
    }
    expect(compared).toBe(26);
  });
});

describe('sumKernel', () => {
  it('matches the exact window sum within 1e-12 (sum) and Prometheus\' running mean (avg), also when huge values cancel', () => {
    const rand = mulberry32(7);
    let compared = 0;
    for (const shape of ['counter', 'gauge', 'cancelling'] as const) {
      for (let trial = 0; trial < 3; trial++) {
        const { ts, vs } = randomSeries(rand, 300, shape);
        for (const { rangeMs, stepMs, offsetMs } of CASES) {
          const steps = stepsOf(ts[0]! - 100_000, Math.ceil((ts[ts.length - 1]! - ts[0]! + 200_000) / stepMs), stepMs);
          const sums = newStepSeries({}, steps.length);
          const avgs = newStepSeries({}, steps.length);
          sumKernel(false, ts, vs, steps, rangeMs, offsetMs, sums);
          sumKernel(true, ts, vs, steps, rangeMs, offsetMs, avgs);
          for (let i = 0; i < steps.length; i++) {
            const w = windowOf(ts, vs, steps[i]! - offsetMs, rangeMs);
            if (sums.present[i] !== (w.v.length > 0 ? 1 : 0)) throw new Error(`sum ${shape} step ${i}: presence ${sums.present[i]}`);
            if (w.v.length === 0) continue;
            const exact = exactSum(w.v);
            const prometheus = neumaierSum(Float64Array.from(w.v), 0, w.v.length);
            // Where Prometheus' own Kahan sum is off the exact one (the window cancels), the kernel gives Prometheus'.
            const sumOk = relClose(sums.values[i]!, exact, 1e-12) || Object.is(sums.values[i], prometheus);
            if (!sumOk) throw new Error(`sum ${shape} step ${i}: ${sums.values[i]} vs exact ${exact}, Prometheus ${prometheus}`);
            if (shape !== 'cancelling' && !relClose(avgs.values[i]!, referenceAvg(w.v), 1e-12)) throw new Error(`avg ${shape} step ${i}: ${avgs.values[i]} vs ${referenceAvg(w.v)}`);
            compared++;
          }
        }
      }
    }
    expect(compared).toBeGreaterThan(5_000);
  });

  it('gives back a window\'s sum exactly after a 1e15 value has passed through it', () => {
    const ts = Float64Array.from({ length: 200 }, (_, k) => k * 10_000);
    const vs = Float64Array.from({ length: 200 }, (_, k) => (k === 50 ? 1e15 : 0.1 * k));
    const steps = stepsOf(0, 200, 10_000);
    const out = newStepSeries({}, steps.length);
    sumKernel(false, ts, vs, steps, 60_000, 0, out);
    for (let i = 60; i < 200; i++) expect(out.values[i]).toBe(exactSum(Array.from(vs.subarray(i - 6, i + 1))));
  });
});

describe('evalRangeFunction over the kernels', () => {
  it('falls back to the window-at-a-time sums for series with NaN or Inf, as Prometheus computes them', () => {
    const rand = mulberry32(3);
    const { ts, vs } = randomSeries(rand, 400, 'special');
    const input: RawSeries[] = [{ labels: { __name__: 'x', a: '1' }, timestamps: ts, values: vs }];
    const steps = stepsOf(ts[0]!, 300, 60_000);
    const [avg] = evalRangeFunction('avg_over_time', input, steps, 600_000, 0, undefined, () => undefined);
    const [sum] = evalRangeFunction('sum_over_time', input, steps, 600_000, 0, undefined, () => undefined);
    const [rate] = evalRangeFunction('rate', input, steps, 600_000, 0, undefined, () => undefined);
    expect(avg!.labels).toEqual({ a: '1' });
    for (let i = 0; i < steps.length; i++) {
      const w = windowOf(ts, vs, steps[i]!, 600_000);
      if (w.v.length === 0) continue;
      expect(relClose(avg!.values[i]!, referenceAvg(w.v), 0)).toBe(true);
      expect(relClose(sum!.values[i]!, neumaierSum(Float64Array.from(w.v), 0, w.v.length), 0)).toBe(true);
      const r = referenceRate('rate', w.t, w.v, steps[i]! - 600_000, steps[i]!);
      expect(rate!.present[i]).toBe(r === undefined ? 0 : 1);
      if (r !== undefined) expect(relClose(rate!.values[i]!, r, 0)).toBe(true);
    }
  });
});

describe('evalAggregation, column by column', () => {
  it('equals a step-by-step fold in input order for sum, avg, min, max and count, with gaps and NaN', () => {
    const rand = mulberry32(11);
    const steps = 500;
    const input: StepSeries[] = Array.from({ length: 12 }, (_, k) => {
      const s = newStepSeries({ __name__: 'm', g: `g${k % 3}`, k: String(k) }, steps);
      for (let i = 0; i < steps; i++) {
        if (rand() < 0.2) continue;
        const r = rand();
        s.values[i] = r < 0.03 ? NaN : r < 0.04 ? Infinity : r < 0.05 ? -Infinity : (rand() - 0.5) * 1e6;
        s.present[i] = 1;
      }
      return s;
    });
    for (const op of ['sum', 'avg', 'min', 'max', 'count'] as const) {
      const got = evalAggregation(op, input, ['g'], false, undefined, steps);
      for (const group of got) {
        const members = input.filter((s) => s.labels.g === group.labels.g);
        for (let i = 0; i < steps; i++) {
          const present = members.filter((s) => s.present[i] === 1).map((s) => s.values[i]!);
          expect(group.present[i]).toBe(present.length > 0 ? 1 : 0);
          if (present.length === 0) continue;
          let want = op === 'count' ? 1 : present[0]!;
          for (let m = 1; m < present.length; m++) {
            const v = present[m]!;
            if (op === 'sum') want += v;
            else if (op === 'count') want++;
            else if (op === 'min') want = want > v || Number.isNaN(want) ? v : want;
            else if (op === 'max') want = want < v || Number.isNaN(want) ? v : want;
            else if (Number.isFinite(want) || Number.isNaN(want) || !(Number.isFinite(v) || (!Number.isNaN(v) && (want > 0) === (v > 0)))) {
              want += v / (m + 1) - want / (m + 1);
            }
          }
          expect(Object.is(group.values[i], want) || (Number.isNaN(want) && Number.isNaN(group.values[i]!))).toBe(true);
        }
      }
    }
  });
});

describe('matrix JSON bytes', () => {
  it('are the JSON.stringify of the Prometheus matrix, envelope included, for every kind of value', () => {
    const steps = stepsOf(1_767_225_600_123, 40, 15_500);
    const specials = [0, -0, NaN, Infinity, -Infinity, 5e-7, -1.5e-10, 1e21, 123456789, 0.1, 1 / 3, 1e-6, -2.5e300];
    const rand = mulberry32(5);
    const series: StepSeries[] = ['b', 'a', 'ü'].map((name, k) => {
      const s = newStepSeries({ name, k: `"${k}"\n` }, steps.length);
      for (let i = 0; i < steps.length; i++) {
        if (rand() < 0.3) continue;
        // Runs of one value exercise the reuse of the previous value's text.
        s.values[i] = rand() < 0.3 && i > 0 ? s.values[i - 1]! : specials[Math.floor(rand() * specials.length)]!;
        s.present[i] = 1;
      }
      return s;
    });
    series.push(newStepSeries({ name: 'empty' }, steps.length));
    const text = new TextDecoder().decode(renderMatrix({ kind: 'vector', series }, steps, { head: '{"status":"success","data":', tail: '}' }));
    const result = series
      .filter((s) => s.present.some((p) => p === 1))
      .sort((a, b) => (a.labels.k! < b.labels.k! ? -1 : 1))
      .map((s) => ({
        metric: { k: s.labels.k, name: s.labels.name },
        values: Array.from(steps, (t, i) => [formatSampleTime(t), formatSampleValue(s.values[i]!)]).filter((_, i) => s.present[i] === 1),
      }));
    expect(text).toBe(JSON.stringify({ status: 'success', data: { resultType: 'matrix', result } }));
    expect(text).toContain('"-0"');
    const raw = new TextDecoder().decode(renderRaw([{ labels: { a: 'x' }, timestamps: Float64Array.of(1000, 2500), values: Float64Array.of(-0, 1e-7) }]));
    expect(raw).toBe('{"resultType":"matrix","result":[{"metric":{"a":"x"},"values":[[1,"-0"],[2.5,"1e-07"]]}]}');
  });

  it('grows its buffer past the first guess', () => {
    const steps = stepsOf(0, 3, 1000);
    const s = newStepSeries({ long: 'x'.repeat(20_000) }, 3);
    s.present.fill(1);
    const text = new TextDecoder().decode(renderMatrix({ kind: 'vector', series: [s] }, steps));
    expect(JSON.parse(text).result[0].metric.long).toHaveLength(20_000);
  });
});
