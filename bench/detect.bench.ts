/**
 * Streaming detector throughput: points/s and per-update latency of each method over a
 * seasonal 5-minute series (daily cycle, Gaussian noise, a spike every ~2,000 points) from a
 * fixed seed — what one series costs an alert rule or `emms detect`. A detector is warmed on
 * a week of points first, so the timed updates include forest refits and period re-checks at
 * their steady-state rate. `cad` runs in its streaming form (range = the values seen so far);
 * its cost per point grows with its context memory, so it depends on the series more than the
 * others' does (capped by the memory limit in cad_detector.ts; uniform noise is its worst case,
 * ~1k points/s before the issue-17 rewrites, ~3k after the first; the second, an index of the
 * left semi-contexts a step can hold whole, made a step ~3× cheaper again in CPU time on NAB
 * files and this cycle, ~2× on uniform noise, where every step grows new contexts).
 *
 * `auto` is listed once in the streaming table, where it is `ensemble` (alert rules' detector).
 *
 * A second table times what `emms detect` does with the same 20,000 points: one whole-series
 * `detectSeries` run per method, `auto` (there: cad over the series' range, as NAB gives it,
 * detect_series.ts) and `ensemble` (the batch default before) alternating, three rounds, so
 * both see the same minutes of a shared machine; a third row times `auto` over 20,000 points of
 * uniform noise, cad's worst case: every step grows new contexts up to the 20,000 cap. Besides
 * wall time it gives CPU time, which on a shared machine says more.
 *
 * Run: npx tsx bench/detect.bench.ts   (EMMS_BENCH_QUICK=1 or --quick: shorter tasks)
 */
import { cpus } from 'node:os';
import { Bench } from 'tinybench';
import { detectSeries } from '../src/analytics/detect_series.js';
import { createStreamingDetector, DETECTOR_METHODS } from '../src/analytics/streaming_detector.js';
import { SeededRandom } from '../src/analytics/seeded_random.js';

const quick = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');
const POINTS = 20_000;
const STEP_MS = 300_000;
const rng = new SeededRandom(3);
const values = Float64Array.from({ length: POINTS }, (_, i) => 100 + 20 * Math.sin((2 * Math.PI * i) / 288) + 2 * rng.normal() + (i % 1999 === 0 ? 30 : 0));
const BATCH = 1000;

const bench = new Bench({ time: quick ? 200 : 1_500, warmupTime: quick ? 20 : 200 });
// `auto` on a stream is `ensemble` (streaming_detector.ts): timing it twice would say nothing.
for (const method of DETECTOR_METHODS.filter((m) => m !== 'auto')) {
  const detector = createStreamingDetector({ method });
  let i = 0;
  for (; i < 2016; i++) detector.update(i * STEP_MS, values[i]!);
  bench.add(method, () => {
    // 1,000 updates per sample; the detector keeps streaming forward across samples.
    for (let k = 0; k < BATCH; k++, i++) detector.update(i * STEP_MS, values[i % POINTS]!);
  });
}
await bench.run();

const cpu = cpus();
console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, node ${process.version}${quick ? ' (quick mode)' : ''}; ` +
  'one thread; the machine is shared, so figures are noisy');
console.table(bench.tasks.map((task) => {
  const r = task.result;
  if (r.state !== 'completed') return { method: task.name, state: r.state };
  return {
    method: task.name,
    'points/s': Math.round(BATCH / (r.latency.mean / 1000)),
    'µs/point mean': Number(((r.latency.mean * 1000) / BATCH).toFixed(2)),
    'µs/point p99 (of 1,000-point batches)': Number(((r.latency.p99 * 1000) / BATCH).toFixed(2)),
    batches: r.latency.samplesCount,
  };
}));

// Whole-series runs, as `emms detect` on a 20,000-row CSV.
const timestamps = Float64Array.from({ length: POINTS }, (_, i) => i * STEP_MS);
const noise = new SeededRandom(11);
const uniform = Float64Array.from({ length: POINTS }, () => noise.uniform());
const runs = [
  { label: 'auto (= cad over the range), noisy cycle', values, method: 'auto' },
  { label: 'ensemble (the batch auto before), noisy cycle', values, method: 'ensemble' },
  { label: 'auto (= cad over the range), uniform noise', values: uniform, method: 'auto' },
] as const;
const rounds = runs.map(() => [] as number[]);
// CPU time as well as wall time: on a machine shared by several jobs the wall clock mostly
// measures the wait for a core (GC threads add a little CPU time; the run itself is one thread).
const cpuRounds = runs.map(() => [] as number[]);
for (let round = 0; round < (quick ? 1 : 3); round++) {
  runs.forEach((run, k) => {
    const cpu = process.cpuUsage();
    const start = performance.now();
    detectSeries(timestamps, run.values, { method: run.method });
    rounds[k]!.push(performance.now() - start);
    const used = process.cpuUsage(cpu);
    cpuRounds[k]!.push((used.user + used.system) / 1000);
  });
}
console.table(runs.map((run, k) => ({
  'detectSeries (emms detect)': run.label,
  '20,000 points, wall s (each round)': rounds[k]!.map((t) => (t / 1000).toFixed(2)).join(' / '),
  'points/s (best round)': Math.round(POINTS / (Math.min(...rounds[k]!) / 1000)),
  'points per CPU-s (best round)': Math.round(POINTS / (Math.min(...cpuRounds[k]!) / 1000)),
})));
