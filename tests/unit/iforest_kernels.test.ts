import { afterAll, describe, expect, it } from 'vitest';
import { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import { fitIsolationForest, scoreIsolationForest } from '../../src/analytics/iforest_wasm.js';
import { fitIsolationForestReference, scoreIsolationForestReference } from '../../src/analytics/iforest_reference.js';
import { averagePathLength, depthLimit } from '../../src/analytics/iforest_model.js';
import { scoreIsolationForestParallel } from '../../src/analytics/iforest_parallel.js';
import { SeededRandom } from '../../src/analytics/seeded_random.js';

function randomRows(seed: number, rows: number, dims: number, constantColumns: number[] = []): Float64Array {
  const rng = new SeededRandom(seed);
  const out = new Float64Array(rows * dims);
  for (let i = 0; i < rows; i++) {
    for (let f = 0; f < dims; f++) out[i * dims + f] = constantColumns.includes(f) ? 3.25 : rng.normal() * (f + 1);
  }
  return out;
}

describe('isolation-forest model conventions', () => {
  it('c(n) matches scikit-learn _average_path_length', () => {
    // sklearn.ensemble._iforest._average_path_length: 2(ln(n-1) + γ) - 2(n-1)/n; c(256) evaluated in Python.
    expect(averagePathLength(0)).toBe(0);
    expect(averagePathLength(1)).toBe(0);
    expect(averagePathLength(2)).toBe(1);
    expect(averagePathLength(3)).toBeCloseTo(2 * (Math.log(2) + 0.5772156649015329) - 4 / 3, 14);
    expect(averagePathLength(256)).toBeCloseTo(10.244770920119917, 12);
  });

  it('depth limit is ceil(log2(max(psi, 2)))', () => {
    expect([1, 2, 3, 128, 129, 256, 257].map(depthLimit)).toEqual([1, 1, 2, 7, 8, 8, 9]);
  });

  it('caps the sub-sample at the row count (wine-sized input: 129 rows -> depth 8)', () => {
    const model = fitIsolationForest(randomRows(1, 129, 13), 13, { seed: 3 });
    expect(model.sampleSize).toBe(129);
    expect(model.depth).toBe(8);
  });

  it('rejects bad options and shapes, naming the value', () => {
    const rows = randomRows(1, 10, 2);
    expect(() => fitIsolationForest(rows, 2, { trees: 0 })).toThrow(/options.trees=0 must be an integer in \[1, 10000\]/);
    expect(() => fitIsolationForest(rows, 2, { sampleSize: 1.5 })).toThrow(/options.sampleSize=1.5/);
    expect(() => fitIsolationForest(rows, 3)).toThrow(/rows.length=20 is not a multiple of nFeatures=3/);
    const bad = rows.slice();
    bad[5] = NaN;
    expect(() => fitIsolationForest(bad, 2)).toThrow(/rows\[2\]\[1\]=NaN must be a finite number/);
  });
});

describe('WASM kernels equal the TypeScript reference', () => {
  const shapes = [
    { rows: 1000, dims: 8, seed: 11, trees: 100, sampleSize: 256, constant: [] as number[] },
    { rows: 77, dims: 3, seed: 12, trees: 20, sampleSize: 256, constant: [1] },
    { rows: 3000, dims: 1, seed: 13, trees: 10, sampleSize: 64, constant: [] },
    { rows: 400, dims: 30, seed: 14, trees: 50, sampleSize: 512, constant: [0, 7, 29] },
    { rows: 5, dims: 2, seed: 15, trees: 5, sampleSize: 256, constant: [0, 1] },
  ];
  for (const s of shapes) {
    it(`fit is bit-identical and scores agree (${s.rows}x${s.dims}, ${s.trees} trees, psi ${s.sampleSize})`, () => {
      const rows = randomRows(s.seed, s.rows, s.dims, s.constant);
      const opts = { trees: s.trees, sampleSize: s.sampleSize, seed: s.seed * 7 };
      const wasm = fitIsolationForest(rows, s.dims, opts);
      const ref = fitIsolationForestReference(rows, s.dims, opts);
      expect(Array.from(wasm.features)).toEqual(Array.from(ref.features));
      expect(Array.from(wasm.thresholds)).toEqual(Array.from(ref.thresholds));
      expect(Array.from(wasm.leafPaths)).toEqual(Array.from(ref.leafPaths));
      const a = scoreIsolationForest(wasm, rows);
      const b = scoreIsolationForestReference(ref, rows);
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-12);
    });
  }

  it('never splits on a constant feature', () => {
    const model = fitIsolationForest(randomRows(3, 500, 4, [0, 2]), 4, { trees: 30, seed: 9 });
    for (let i = 0; i < model.features.length; i++) {
      if (Number.isFinite(model.thresholds[i]!)) expect([1, 3]).toContain(model.features[i]);
    }
  });

  it('an all-constant input gives every row the same score', () => {
    const rows = new Float64Array(200 * 3).fill(7);
    const scores = scoreIsolationForest(fitIsolationForest(rows, 3), rows);
    expect(new Set(scores).size).toBe(1);
  });

  it('isolates an obvious outlier first', () => {
    const rows = randomRows(5, 2000, 4);
    rows.set([40, -40, 40, -40], 1234 * 4);
    const scores = scoreIsolationForest(fitIsolationForest(rows, 4, { seed: 2 }), rows);
    let best = 0;
    for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
    expect(best).toBe(1234);
    expect(scores[1234]).toBeGreaterThan(0.7);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const rows = randomRows(6, 300, 3);
    const a = fitIsolationForest(rows, 3, { seed: 1 });
    const b = fitIsolationForest(rows, 3, { seed: 1 });
    const c = fitIsolationForest(rows, 3, { seed: 2 });
    expect(Array.from(a.thresholds)).toEqual(Array.from(b.thresholds));
    expect(Array.from(a.thresholds)).not.toEqual(Array.from(c.thresholds));
  });
});

describe('parallel scoring over the piscina pool', () => {
  const pool = new Piscina({
    filename: fileURLToPath(new URL('../../src/analytics/iforest_score_task.ts', import.meta.url)),
    maxThreads: 2,
    minThreads: 0,
    execArgv: ['--import', 'tsx'],
  });
  afterAll(async () => {
    await pool.destroy();
  });

  it('gives the same scores as the single-thread kernel, in row order', async () => {
    const rows = randomRows(8, 10_003, 8);
    const model = fitIsolationForest(rows, 8, { seed: 4 });
    const single = scoreIsolationForest(model, rows);
    const parallel = await scoreIsolationForestParallel(model, rows, { pool, minRowsForPool: 0, sliceRows: 1024 });
    expect(Array.from(parallel)).toEqual(Array.from(single));
  });
});
