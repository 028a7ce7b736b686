/**
 * Isolation-forest scoring and fitting: WASM on one thread, WASM across the piscina pool (every
 * core; the target is ≥ 1,000,000 rows/s for 8-dimensional rows and 100 trees on a 2-core
 * machine; scikit-learn 1.2.1 scores ~30,000 rows per CPU-second here), and the plain-TS
 * reference. Rows are Gaussian blobs plus 1% uniform outliers from a fixed seed; scores are
 * checked against the reference before timing. Then, when ../shared/data/iforest is present
 * (or IFOREST_DATA points at it), the ROC AUC averaged over 5 seeds on every shared set next to
 * scikit-learn's (reference_auc.json).
 *
 * Run: npx tsx bench/iforest.bench.ts   (EMMS_BENCH_QUICK=1 or --quick: 100k rows, short tasks, small sets only)
 */
import { cpus } from 'node:os';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { fitIsolationForest, scoreIsolationForest } from '../src/analytics/iforest_wasm.js';
import { fitIsolationForestReference, scoreIsolationForestReference } from '../src/analytics/iforest_reference.js';
import { closeIforestPool, iforestPool, scoreIsolationForestParallel } from '../src/analytics/iforest_parallel.js';
import { SeededRandom } from '../src/analytics/seeded_random.js';
import { parseNumericCsv, readCsvText } from '../src/analytics/numeric_csv.js';
import { rocAuc } from '../src/analytics/roc_auc.js';

const quick = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');
const ROWS = quick ? 100_000 : 1_000_000;
const DIMS = 8;
const TASK_TIME_MS = quick ? 200 : 2_000;

function blobs(rows: number, seed: number): Float64Array {
  const rng = new SeededRandom(seed);
  const out = new Float64Array(rows * DIMS);
  const centres = Array.from({ length: 3 }, () => Array.from({ length: DIMS }, () => rng.uniform() * 20 - 10));
  for (let i = 0; i < rows; i++) {
    const outlier = rng.uniform() < 0.01;
    const c = centres[i % 3]!;
    for (let f = 0; f < DIMS; f++) out[i * DIMS + f] = outlier ? rng.uniform() * 24 - 12 : c[f]! + rng.normal();
  }
  return out;
}

const train = blobs(20_000, 7);
const rows = blobs(ROWS, 8);
const model = fitIsolationForest(train, DIMS, { trees: 100, sampleSize: 256, seed: 1 });
const refModel = fitIsolationForestReference(train, DIMS, { trees: 100, sampleSize: 256, seed: 1 });

// Check before timing: WASM = reference on a slice, pool = single thread on everything.
const check = rows.subarray(0, 1000 * DIMS);
const a = scoreIsolationForest(model, check);
const b = scoreIsolationForestReference(refModel, check);
for (let i = 0; i < 1000; i++) if (Math.abs(a[i]! - b[i]!) > 1e-12) throw new Error(`BUG: WASM score ${a[i]} != reference ${b[i]} at row ${i}`);
const single = scoreIsolationForest(model, rows);
const pooled = await scoreIsolationForestParallel(model, rows, { minRowsForPool: 0 });
for (let i = 0; i < ROWS; i++) if (single[i] !== pooled[i]) throw new Error(`BUG: pool score differs at row ${i}`);

// Few iterations: one pass over 1M rows is ~1 s, and tinybench's default of 64 runs would take minutes.
const bench = new Bench({ time: TASK_TIME_MS, iterations: quick ? 3 : 8, warmupIterations: 1, warmupTime: 0 });
const rowsOf = new Map<string, number>();
rowsOf.set(`score WASM, pool of ${iforestPool().maxThreads} threads`, ROWS);
bench.add(`score WASM, pool of ${iforestPool().maxThreads} threads`, async () => {
  await scoreIsolationForestParallel(model, rows, { minRowsForPool: 0 });
});
rowsOf.set('score WASM, 1 thread', ROWS);
bench.add('score WASM, 1 thread', () => {
  scoreIsolationForest(model, rows, single);
});
const refRows = rows.subarray(0, Math.min(ROWS, 100_000) * DIMS);
rowsOf.set('score TS reference, 1 thread', refRows.length / DIMS);
bench.add('score TS reference, 1 thread', () => {
  scoreIsolationForestReference(refModel, refRows);
});
rowsOf.set('fit WASM (100 trees, psi 256)', 256 * 100);
bench.add('fit WASM (100 trees, psi 256)', () => {
  fitIsolationForest(train, DIMS, { trees: 100, sampleSize: 256, seed: 2 });
});
rowsOf.set('fit TS reference (100 trees, psi 256)', 256 * 100);
bench.add('fit TS reference (100 trees, psi 256)', () => {
  fitIsolationForestReference(train, DIMS, { trees: 100, sampleSize: 256, seed: 2 });
});
await bench.run();

const cpu = cpus();
console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, node ${process.version}${quick ? ' (quick mode)' : ''}; ` +
  'the machine is shared with other work, so figures are noisy');
console.log(`data: ${ROWS.toLocaleString('en')} rows x ${DIMS} dims (${DIMS * 8} B/row), 100 trees, depth 8; fit rows = sub-sampled rows used`);
console.table(bench.tasks.map((task) => {
  const r = task.result;
  if (r.state !== 'completed') return { task: task.name, state: r.state };
  const n = rowsOf.get(task.name)!;
  return {
    task: task.name,
    'rows/s': Math.round(n / (r.latency.mean / 1000)),
    'mean ms': Number(r.latency.mean.toFixed(2)),
    'p50 ms': Number(r.latency.p50.toFixed(2)),
    'p99 ms': Number(r.latency.p99.toFixed(2)),
    runs: r.latency.samplesCount,
  };
}));
await closeIforestPool();

// Quality against scikit-learn on the shared sets.
const here = dirname(fileURLToPath(import.meta.url));
const dataDir = [process.env.IFOREST_DATA, join(here, '../../shared/data/iforest'), join(here, '../tests/fixtures/iforest')]
  .find((d) => d !== undefined && existsSync(join(d, 'reference_auc.json')));
if (dataDir !== undefined) {
  const reference = JSON.parse(readFileSync(join(dataDir, 'reference_auc.json'), 'utf8')) as {
    datasets: Record<string, { file: string; auc_mean: number; auc_std: number; suggested_margin_mean_of_5_runs?: number }>;
  };
  const table: Array<Record<string, string | number>> = [];
  for (const [name, ref] of Object.entries(reference.datasets)) {
    const path = join(dataDir, ref.file);
    if (!existsSync(path) || (quick && ['metrics_windows', 'gauss_blobs'].includes(name))) continue;
    const t = parseNumericCsv(readCsvText(path), ref.file);
    const dims = t.columns.length - 1;
    const x = new Float64Array(t.nRows * dims);
    const y = new Float64Array(t.nRows);
    for (let i = 0; i < t.nRows; i++) {
      x.set(t.rows.subarray(i * (dims + 1), i * (dims + 1) + dims), i * dims);
      y[i] = t.rows[i * (dims + 1) + dims]!;
    }
    const aucs: number[] = [];
    const t0 = performance.now();
    for (let seed = 0; seed < 5; seed++) aucs.push(rocAuc(scoreIsolationForest(fitIsolationForest(x, dims, { seed }), x), y));
    const mean = aucs.reduce((s, v) => s + v, 0) / 5;
    // reference_auc.json omits the margin for metrics_windows; the README's table gives 0.02.
    const margin = ref.suggested_margin_mean_of_5_runs ?? 0.02;
    table.push({
      dataset: name,
      'rows x dims': `${t.nRows} x ${dims}`,
      'emms AUC (5 seeds)': Number(mean.toFixed(4)),
      'sklearn AUC': `${ref.auc_mean.toFixed(4)} ± ${ref.auc_std.toFixed(4)}`,
      margin,
      within: mean >= ref.auc_mean - margin ? 'yes' : 'NO',
      'fit+score ms per seed': Number(((performance.now() - t0) / 5).toFixed(1)),
    });
  }
  console.log(`ROC AUC on ${dataDir}:`);
  console.table(table);
}
