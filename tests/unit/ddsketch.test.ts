/**
 * DDSketch (src/core/ddsketch.ts) against exact percentiles on random data: every estimate
 * within the stated bound of the exact path's value (linear interpolation between closest
 * ranks, numpy's default), merges associative and equal to one sketch of all the values,
 * encodings round-tripping, the bin count bounded with the documented collapse, and the
 * rollup sketches of a chunk (src/core/rollup_sketches.ts) merging to the same answer.
 */
import { describe, expect, it } from 'vitest';
import { ByteWriter, DDSketch, encodeSketchOf, SKETCH_MAX_BINS } from '../../src/core/ddsketch.js';
import { aggregate } from '../../src/core/bucket_accumulator.js';
import { buildRollupSketches, ROLLUP_SKETCH_ACCURACY } from '../../src/core/rollup_sketches.js';
import { MAX_QUERY_SKETCHES, SketchAccumulator, SketchBudget } from '../../src/core/sketch_accumulator.js';
import { mulberry32 } from '../../bench/data_shapes.js';
import { exactAndBound } from './percentile_bound_kit.js';

const ALPHA = ROLLUP_SKETCH_ACCURACY;
const QS = [0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1];

/** |estimate − exact| ≤ bound, allowing float rounding of the log/exp (a few ulps of the value). */
function violation(estimate: number, exact: number, bound: number): number {
  const slack = 1e-12 * Math.max(Math.abs(exact), Math.abs(estimate));
  const err = Math.abs(estimate - exact);
  return err <= bound + slack ? 0 : err - bound;
}

type Shape = (random: () => number, n: number) => number[];

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

const SHAPES: Record<string, Shape> = {
  uniform: (r, n) => Array.from({ length: n }, () => r() * 1000),
  lognormal: (r, n) => Array.from({ length: n }, () => Math.exp(2 * gaussian(r))),
  constant: (_r, n) => Array.from({ length: n }, () => 42.5),
  zeros: (_r, n) => Array.from({ length: n }, () => 0),
  negatives: (r, n) => Array.from({ length: n }, () => -Math.exp(3 * gaussian(r))),
  'mixed sign': (r, n) => Array.from({ length: n }, () => gaussian(r) * 100),
  'heavy ties': (r, n) => Array.from({ length: n }, () => [0, 1, 1, 1, 2, -3, 1e6][Math.floor(r() * 7)]!),
  'tiny and huge': (r, n) => Array.from({ length: n }, () => (r() < 0.5 ? 1e-12 : 1e12) * (1 + r())),
  integers: (r, n) => Array.from({ length: n }, () => Math.floor(r() * 20) - 5),
};

describe('DDSketch', () => {
  it('answers every quantile within the stated bound of the exact (interpolated) percentile', () => {
    const random = mulberry32(16);
    const wrong: string[] = [];
    let checked = 0;
    for (const [name, shape] of Object.entries(SHAPES)) {
      for (const n of [1, 2, 3, 10, 101, 1000, 20_000]) {
        const values = shape(random, n);
        const sketch = new DDSketch(ALPHA);
        for (const v of values) sketch.add(v);
        const sorted = Float64Array.from(values).sort();
        expect(sketch.count).toBe(n);
        for (const q of QS) {
          const { exact, bound } = exactAndBound(sorted, q, ALPHA);
          const estimate = sketch.quantile(q);
          checked++;
          if (violation(estimate, exact, bound) > 0) wrong.push(`${name} n=${n} q=${q}: ${estimate} vs exact ${exact} (bound ${bound})`);
          // Where the two order statistics do not straddle zero, the bound is α·|exact|.
          const pos = q * (n - 1);
          if (sorted[Math.floor(pos)]! * sorted[Math.ceil(pos)]! >= 0 && violation(estimate, exact, ALPHA * Math.abs(exact)) > 0) {
            wrong.push(`${name} n=${n} q=${q}: relative error ${Math.abs(estimate - exact) / Math.abs(exact)}`);
          }
        }
        for (let r = 0; r < n; r += Math.max(1, Math.floor(n / 50))) {
          if (violation(sketch.valueAtRank(r), sorted[r]!, ALPHA * Math.abs(sorted[r]!)) > 0) wrong.push(`${name} n=${n} rank ${r}`);
        }
      }
    }
    expect(wrong).toEqual([]);
    expect(checked).toBe(Object.keys(SHAPES).length * 7 * QS.length);
  });

  it('uses the exact path\'s quantile definition: same buckets, estimates within the bound of aggregate()', () => {
    const random = mulberry32(7);
    const n = 5000;
    const timestamps = Float64Array.from({ length: n }, (_, i) => i * 1000);
    const values = Float64Array.from({ length: n }, () => Math.exp(gaussian(random)) * (random() < 0.2 ? -1 : 1));
    for (const [aggregation, q] of [['p50', 0.5], ['p90', 0.9], ['p95', 0.95], ['p99', 0.99]] as const) {
      const exact = aggregate(timestamps, values, { aggregation, intervalMs: 600_000 });
      const acc = new SketchAccumulator(600_000, -Infinity, Infinity, q);
      acc.addPoints(timestamps, values);
      const approx = acc.finish();
      expect(Array.from(approx.timestamps)).toEqual(Array.from(exact.timestamps));
      approx.timestamps.forEach((ts, b) => {
        const inBucket = values.filter((_, i) => Math.floor(timestamps[i]! / 600_000) * 600_000 === ts).sort();
        const ref = exactAndBound(inBucket, q, ALPHA);
        expect(ref.exact).toBe(exact.values[b]);
        expect(violation(approx.values[b]!, ref.exact, ref.bound)).toBe(0);
      });
    }
  });

  it('merges associatively and commutatively into the sketch of all values', () => {
    const random = mulberry32(99);
    const parts = [SHAPES['mixed sign']!(random, 700), SHAPES.lognormal!(random, 300), SHAPES['heavy ties']!(random, 500), [0, -0, 5]];
    const sketchOf = (values: number[]): DDSketch => {
      const s = new DDSketch(ALPHA);
      for (const v of values) s.add(v);
      return s;
    };
    const whole = sketchOf(parts.flat()).encode();
    const [a, b, c, d] = parts.map(sketchOf) as [DDSketch, DDSketch, DDSketch, DDSketch];
    const left = sketchOf([]);
    for (const p of [a, b, c, d]) left.merge(p);
    const ab = sketchOf(parts[0]!);
    ab.merge(b);
    const cd = sketchOf(parts[2]!);
    cd.merge(d);
    ab.merge(cd);
    const reversed = sketchOf(parts[3]!);
    for (const p of [c, b, a]) reversed.merge(p);
    expect(left.encode()).toEqual(whole);
    expect(ab.encode()).toEqual(whole);
    expect(reversed.encode()).toEqual(whole);
    for (const q of QS) expect(ab.quantile(q)).toBe(sketchOf(parts.flat()).quantile(q));
    expect(() => a.merge(new DDSketch(0.02))).toThrow(/relativeAccuracy=0.02/);
  });

  it('round-trips its encoding compactly and refuses truncated bytes', () => {
    const random = mulberry32(3);
    for (const [name, shape] of Object.entries(SHAPES)) {
      const s = new DDSketch(ALPHA);
      for (const v of shape(random, 2000)) s.add(v);
      const bytes = s.encode();
      const back = DDSketch.decode(bytes, ALPHA);
      expect(back.encode(), name).toEqual(bytes);
      expect(back.count).toBe(s.count);
      expect(back.min).toBe(s.min);
      expect(back.max).toBe(s.max);
      for (const q of QS) expect(back.quantile(q), `${name} q=${q}`).toBe(s.quantile(q));
      // Header (count, flag, zeros, min, max) plus about two bytes a bin.
      expect(bytes.length, name).toBeLessThanOrEqual(24 + 6 * s.binCount);
      expect(() => DDSketch.decode(bytes.subarray(0, bytes.length - 1), ALPHA), name).toThrow(RangeError);
    }
    expect(new DDSketch(ALPHA).encode()).toEqual(Uint8Array.of(0));
    expect(DDSketch.decode(Uint8Array.of(0), ALPHA).quantile(0.5)).toBeNaN();
  });

  it('encodes a run of values without a sketch object byte for byte as the sketch would (collapse included)', () => {
    const random = mulberry32(11);
    const collapsing = Array.from({ length: 500 }, (_, i) => 10 ** (-40 + (80 * i) / 500));
    for (const [name, values] of [...Object.entries(SHAPES).map(([k, shape]) => [k, shape(random, 777)] as const), ['collapsing', collapsing] as const, ['empty', []] as const]) {
      const s = new DDSketch(ALPHA);
      for (const v of values) s.add(v);
      const w = new ByteWriter();
      const padded = Float64Array.from([123, ...values, 456]);
      encodeSketchOf(padded, 1, padded.length - 1, ALPHA, w);
      expect(w.finish(), name).toEqual(s.encode());
    }
    expect(() => encodeSketchOf(Float64Array.of(1, NaN), 0, 2, ALPHA, new ByteWriter())).toThrow(/value=NaN/);
  });

  it('refuses NaN and infinities, like the exact path, and bad parameters', () => {
    const s = new DDSketch(ALPHA);
    expect(() => s.add(NaN)).toThrow(/value=NaN must be a finite number/);
    expect(() => s.add(Infinity)).toThrow(/value=Infinity/);
    expect(() => s.add(-Infinity)).toThrow(/value=-Infinity/);
    expect(s.count).toBe(0);
    expect(() => new DDSketch(0)).toThrow(/relativeAccuracy=0/);
    expect(() => new DDSketch(1)).toThrow(/relativeAccuracy=1/);
    expect(() => s.quantile(1.5)).toThrow(/q=1.5/);
  });

  it('bounds its bins by collapsing the lowest magnitudes, keeping the bound for the others', () => {
    const s = new DDSketch(ALPHA);
    // Magnitudes from 1e-40 to 1e40: more than SKETCH_MAX_BINS bins of γ ≈ 1.0202 apart.
    const values: number[] = [];
    for (let e = -40; e <= 40; e += 0.01) values.push(10 ** e);
    for (const v of values) s.add(v);
    expect(s.collapsed).toBe(true);
    expect(s.binCount).toBeLessThanOrEqual(SKETCH_MAX_BINS);
    const sorted = Float64Array.from(values).sort();
    // Kept: values within γ^SKETCH_MAX_BINS of the largest.
    const keptFrom = s.max / s.gamma ** (SKETCH_MAX_BINS - 1);
    for (const q of [0.5, 0.9, 0.99, 1]) {
      const { exact, bound } = exactAndBound(sorted, q, ALPHA);
      if (exact >= keptFrom) expect(violation(s.quantile(q), exact, bound), `q=${q}`).toBe(0);
    }
    // Below the fold magnitudes are overestimated: they answer the lowest bin kept.
    expect(s.quantile(0)).toBeGreaterThan(s.min);
    expect(s.quantile(0)).toBeLessThanOrEqual(keptFrom * s.gamma);
    expect(s.quantile(0.01)).toBeGreaterThanOrEqual(sorted[Math.floor(0.01 * (sorted.length - 1))]!);
    const merged = DDSketch.decode(s.encode(), ALPHA);
    expect(merged.collapsed).toBe(true);
  });

  it('refuses a query needing more bucket sketches than MAX_QUERY_SKETCHES, naming the parameter', () => {
    const budget = new SketchBudget();
    budget.left = 3;
    const acc = new SketchAccumulator(1000, -Infinity, Infinity, 0.5, budget);
    acc.addPoints(Float64Array.of(0, 1000, 2000), Float64Array.of(1, 2, 3));
    expect(() => acc.addPoints(Float64Array.of(3000), Float64Array.of(4))).toThrow(
      expect.objectContaining({ field: 'percentileAccuracy', message: expect.stringContaining(`more than ${MAX_QUERY_SKETCHES} non-empty buckets`) }),
    );
  });

  it('merges a chunk\'s rollup sketches into the same estimates as its points', () => {
    const random = mulberry32(5);
    const n = 8640;
    const timestamps = Float64Array.from({ length: n }, (_, i) => 1_780_000_000_000 + i * 10_000 + Math.floor(random() * 9000));
    const values = Float64Array.from(SHAPES['mixed sign']!(random, n));
    const sketches = buildRollupSketches(timestamps, values, 300_000);
    expect(sketches.buckets.length).toBe(289);
    const fromRollups = new SketchAccumulator(3_600_000, -Infinity, Infinity, 0.99);
    fromRollups.addRollupSketches(sketches, 300_000, -Infinity, Infinity);
    const fromPoints = new SketchAccumulator(3_600_000, -Infinity, Infinity, 0.99);
    fromPoints.addPoints(timestamps, values);
    expect(fromRollups.finish()).toEqual(fromPoints.finish());
    expect(fromRollups.mergedSketches).toBe(289);
  });
});
