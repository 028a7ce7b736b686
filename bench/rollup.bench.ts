/**
 * Rollups against decoding, side by side in one process on one store: the TSBS devops workload
 * (1,000 series at 10 s) loaded, stopped (compacted) and reopened, then the same aggregated
 * queries through two query engines over the same store, one answering from rollups and one
 * with `rollups: false`, alternated run by run so machine noise hits both alike. Inline
 * (queryWorkers 0) and with 2 workers. Prints medians and p90s, the ratio, the rollup memory
 * per point, how long building rollups takes per point (what a cut landing pays), and checks
 * that both engines answer bit for bit the same. Then approximate percentiles
 * (`percentileAccuracy`, rollup sketches) against the exact path: p99 1 h over 100 series,
 * ms and ratio, the largest error seen against the stated bound, and the sketches' memory.
 *
 *   npx tsx bench/rollup.bench.ts            # 24 h = 8.64 M points
 *   npx tsx bench/rollup.bench.ts --quick    # 2 h
 *
 * Development figures: synthetic TSBS data, the same shape the engine was tuned on.
 */
import { loadavg } from 'node:os';
import { TICKS_PER_DAY, TSBS_DEFAULT_START_MS } from './workload/tsbs_devops.js';
import { loadTsbsColumnar, machineLine, openBenchDatabase, percentile, quick } from './workload/embedded_fixture.js';
import { StorageEngine } from '../src/storage/storage_engine.js';
import { SqliteBackend } from '../src/storage/sqlite/sqlite_backend.js';
import { QueryEngine } from '../src/query/query_engine.js';
import { buildRollupRecords, ROLLUP_RESOLUTIONS_MS } from '../src/core/rollup_records.js';
import { buildRollupSketches } from '../src/core/rollup_sketches.js';
import type { AggregatedQuery, SeriesResult } from '../src/model/api.js';

const HOURS = quick ? 2 : 24;
const RUNS = quick ? 10 : 30;
const START = TSBS_DEFAULT_START_MS;
const END = START + HOURS * 3_600_000;

function same(a: SeriesResult[], b: SeriesResult[]): boolean {
  return a.length === b.length && a.every((s, k) => s.timestamps.length === b[k]!.timestamps.length &&
    s.values.every((v, i) => Object.is(v, b[k]!.values[i]) && s.timestamps[i] === b[k]!.timestamps[i]));
}

const db = await openBenchDatabase({ queryWorkers: 0 });
try {
  await loadTsbsColumnar(db.system, (TICKS_PER_DAY / 24) * HOURS);
  await db.system.stop();
  const store = await StorageEngine.open({ backend: SqliteBackend.open({ path: db.path }) });
  try {
    const cases: Array<{ name: string; query: AggregatedQuery }> = [
      { name: `avg 1h, 100 series (cpu.usage_user), ${HOURS} h`, query: { metricPattern: 'cpu.usage_user', aggregation: 'avg', interval: '1h', startTime: START, endTime: END } },
      { name: `avg 1h, 1,000 series (cpu.*), ${HOURS} h`, query: { metricPattern: 'cpu.*', aggregation: 'avg', interval: '1h', startTime: START, endTime: END } },
      { name: `rate 5m, 100 series, ${HOURS} h`, query: { metricPattern: 'cpu.usage_user', aggregation: 'rate', interval: '5m', startTime: START, endTime: END } },
      { name: `stddev 15m, 100 series, ${HOURS} h`, query: { metricPattern: 'cpu.usage_user', aggregation: 'stddev', interval: '15m', startTime: START, endTime: END } },
    ];
    console.log(machineLine(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at start`));
    for (const workers of [0, 2]) {
      const fast = new QueryEngine(store, { workers });
      const raw = new QueryEngine(store, { workers, rollups: false });
      try {
        for (const c of cases) {
          // The first query misses and hands the chunks to the warmer; wait for it.
          const first = await fast.aggregated('default', c.query);
          await fast.rollupWarmer.idle();
          const check = await raw.aggregated('default', c.query);
          if (!same(first.series, check.series)) throw new Error(`${c.name}: the engines disagree`);
          const t = { fast: [] as number[], raw: [] as number[] };
          for (let r = 0; r < RUNS; r++) {
            for (const [name, engine] of r % 2 === 0 ? [['fast', fast], ['raw', raw]] as const : [['raw', raw], ['fast', fast]] as const) {
              const started = performance.now();
              const answer = await engine.aggregated('default', c.query);
              t[name].push(performance.now() - started);
              if (name === 'fast' && !same(answer.series, check.series)) throw new Error(`${c.name}: rollup answer changed`);
            }
          }
          const f = t.fast.sort((a, b) => a - b);
          const w = t.raw.sort((a, b) => a - b);
          const row = (xs: number[]): string => `median ${percentile(xs, 0.5).toFixed(2)} ms, p90 ${percentile(xs, 0.9).toFixed(2)} ms`;
          console.log(`${c.name}, workers ${workers}: rollups ${row(f)}; decoding ${row(w)}; ratio ${(percentile(f, 0.5) / percentile(w, 0.5)).toFixed(2)}×`);
        }
      } finally {
        await fast.close();
        await raw.close();
      }
    }
    const sketchCase = `p99 1h, 100 series (cpu.usage_user), ${HOURS} h`;
    const exactQuery: AggregatedQuery = { metricPattern: 'cpu.usage_user', aggregation: 'p99', interval: '1h', startTime: START, endTime: END };
    const sketchQuery: AggregatedQuery = { ...exactQuery, percentileAccuracy: 0.01 };
    const engine = new QueryEngine(store, { workers: 0 });
    try {
      const bytesBefore = store.rollups.stats().bytes;
      // The first approximate query decodes the chunks and keeps their sketches.
      const firstStarted = performance.now();
      await engine.aggregated('default', sketchQuery);
      const firstMs = performance.now() - firstStarted;
      const sketchBytes = store.rollups.stats().bytes - bytesBefore;
      const exact = (await engine.aggregated('default', exactQuery)).series;
      const approx = (await engine.aggregated('default', sketchQuery)).series;
      let worst = 0;
      exact.forEach((s, k) => s.values.forEach((v, i) => {
        worst = Math.max(worst, Math.abs(approx[k]!.values[i]! - v) / Math.abs(v));
      }));
      const t = { sketch: [] as number[], exact: [] as number[] };
      // CPU time too (inline and synchronous SQLite: the process's CPU is the query's): less noisy than wall time on a shared machine.
      const cpuMs = { sketch: [] as number[], exact: [] as number[] };
      for (let r = 0; r < RUNS; r++) {
        for (const name of r % 2 === 0 ? ['sketch', 'exact'] as const : ['exact', 'sketch'] as const) {
          const started = performance.now();
          const cpuStarted = process.cpuUsage();
          await engine.aggregated('default', name === 'sketch' ? sketchQuery : exactQuery);
          t[name].push(performance.now() - started);
          const used = process.cpuUsage(cpuStarted);
          cpuMs[name].push((used.user + used.system) / 1000);
        }
      }
      const cs = cpuMs.sketch.sort((a, b) => a - b);
      const ce = cpuMs.exact.sort((a, b) => a - b);
      const sk = t.sketch.sort((a, b) => a - b);
      const ex = t.exact.sort((a, b) => a - b);
      const row = (xs: number[]): string => `median ${percentile(xs, 0.5).toFixed(2)} ms, p90 ${percentile(xs, 0.9).toFixed(2)} ms`;
      console.log(`${sketchCase}, inline: sketches ${row(sk)}; exact ${row(ex)}; ratio ${(percentile(sk, 0.5) / percentile(ex, 0.5)).toFixed(2)}×; ` +
        `CPU median ${percentile(cs, 0.5).toFixed(2)} ms vs ${percentile(ce, 0.5).toFixed(2)} ms (ratio ${(percentile(cs, 0.5) / percentile(ce, 0.5)).toFixed(2)}×); ` +
        `first sketch query (decodes, builds) ${firstMs.toFixed(1)} ms; largest relative error ${(worst * 100).toFixed(3)} % (bound 1 %); ` +
        `sketch memory ${sketchBytes} bytes (${(sketchBytes / (HOURS * 360 * 100)).toFixed(2)} bytes/point), load average ${loadavg()[0]!.toFixed(2)}`);
    } finally {
      await engine.close();
    }
    const stats = store.rollups.stats();
    const points = HOURS * 360 * 1000;
    console.log(`rollup memory: ${stats.bytes} bytes for ${stats.chunks} chunks (${(stats.bytes / points).toFixed(2)} bytes/point of ${points}), hits ${stats.hits}, misses ${stats.misses}`);
    // What a cut landing pays: both resolutions of 4,096 points (a head cut).
    const n = 4096;
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ts[i] = START + i * 10_000;
      vs[i] = Math.round(Math.sin(i / 50) * 10_000) / 100;
    }
    const reps = 2000;
    const started = performance.now();
    for (let r = 0; r < reps; r++) for (const res of ROLLUP_RESOLUTIONS_MS) buildRollupRecords(ts, vs, res);
    const ns = ((performance.now() - started) * 1e6) / (reps * n);
    console.log(`building rollups: ${ns.toFixed(1)} ns/point (both resolutions), load average ${loadavg()[0]!.toFixed(2)}`);
    // Warmed up first, and CPU time beside wall time: on a loaded machine the wall clock mostly measures waiting.
    for (let r = 0; r < 20; r++) for (const res of ROLLUP_RESOLUTIONS_MS) buildRollupSketches(ts, vs, res);
    const sketchStarted = performance.now();
    const sketchCpu = process.cpuUsage();
    for (let r = 0; r < reps / 10; r++) for (const res of ROLLUP_RESOLUTIONS_MS) buildRollupSketches(ts, vs, res);
    const cpu = process.cpuUsage(sketchCpu);
    const sketchNs = ((performance.now() - sketchStarted) * 1e6) / ((reps / 10) * n);
    const sketchCpuNs = ((cpu.user + cpu.system) * 1e3) / ((reps / 10) * n);
    console.log(`building rollup sketches: ${sketchNs.toFixed(1)} ns/point wall, ${sketchCpuNs.toFixed(1)} ns/point CPU (both resolutions), load average ${loadavg()[0]!.toFixed(2)}`);
  } finally {
    await store.close();
  }
} finally {
  await db.remove();
}
