/**
 * Query latency on the TSBS devops workload, 24 h = 8.64M points of 1,000 series, loaded and
 * then stopped and restarted (so every point is in compacted chunks, as after a day of
 * running). Target: hourly avg of all 1,000 series over the 24 h ≤ 100 ms median.
 *
 * Cases cross the planner's two paths: the same aggregate with query workers (default: one
 * per CPU; partials merged on the main thread) and inline (queryWorkers: 0), plus raw reads
 * and grouped percentiles. Query workers share the 2 cores with the main thread.
 *
 * `EMMS_BENCH_QUICK=1` (or `--quick`) loads 2 h and runs each task for 300 ms instead of 2 s.
 */
import { Bench } from 'tinybench';
import { TICKS_PER_DAY, TSBS_DEFAULT_START_MS } from './workload/tsbs_devops.js';
import { loadTsbsColumnar, machineLine, openBenchDatabase, quick } from './workload/embedded_fixture.js';
import { EngineMetricsSystem } from '../src/metrics_system.js';
import type { AggregatedQuery, RawQuery } from '../src/model/api.js';

const HOURS = quick ? 2 : 24;
const TASK_TIME_MS = quick ? 300 : 2000;
const START = TSBS_DEFAULT_START_MS;
const END = START + HOURS * 3_600_000;

const db = await openBenchDatabase();
try {
  const loadStarted = performance.now();
  await loadTsbsColumnar(db.system, (TICKS_PER_DAY / 24) * HOURS);
  await db.system.stop();
  await db.system.start();
  const loadSeconds = (performance.now() - loadStarted) / 1000;

  interface Case { name: string; run: (ms: EngineMetricsSystem) => Promise<unknown>; points: number }
  const all = HOURS * 360 * 1000;
  const hourlyAvg: AggregatedQuery = { metricPattern: 'cpu.*', aggregation: 'avg', interval: '1h', startTime: START, endTime: END };
  const withWorkers: Case[] = [
    { name: `avg 1h, all 1000 series, ${HOURS} h (workers)`, run: (ms) => ms.queryAggregated(hourlyAvg), points: all },
    {
      name: `avg 1h, 100 series (cpu.usage_user), ${HOURS} h`,
      run: (ms) => ms.queryAggregated({ ...hourlyAvg, metricPattern: 'cpu.usage_user' }), points: all / 10,
    },
    { name: `max 1d, all 1000 series, ${HOURS} h (chunk stats)`, run: (ms) => ms.queryAggregated({ ...hourlyAvg, aggregation: 'max', interval: '1d' }), points: all },
    {
      name: `p95 1h groupBy region, cpu.usage_user, ${HOURS} h`,
      run: (ms) => ms.queryAggregated({ ...hourlyAvg, metricPattern: 'cpu.usage_user', aggregation: 'p95', groupBy: ['region'] }), points: all / 10,
    },
    {
      name: 'raw 1 h, one series',
      run: (ms) => ms.queryMetrics({ metricPattern: 'cpu.usage_user', tags: { hostname: 'host_7' }, startTime: START + 3_600_000, endTime: START + 2 * 3_600_000 } satisfies RawQuery),
      points: 360,
    },
    { name: `raw ${HOURS} h, one host (10 series)`, run: (ms) => ms.queryMetrics({ metricPattern: 'cpu.*', tags: { hostname: 'host_7' }, startTime: START, endTime: END }), points: HOURS * 3600 },
  ];
  const inlineOnly: Case[] = [
    { name: `avg 1h, all 1000 series, ${HOURS} h (inline, queryWorkers: 0)`, run: (ms) => ms.queryAggregated(hourlyAvg), points: all },
  ];

  const rows: Array<Record<string, string | number>> = [];
  // One engine per database file at a time (src/storage/writer_lock.ts): the inline case runs
  // on a second engine after the first one stopped.
  async function measure(system: EngineMetricsSystem, cases: Case[]): Promise<void> {
    const bench = new Bench({ time: TASK_TIME_MS, warmupTime: quick ? 100 : 500, warmupIterations: 3 });
    for (const c of cases) bench.add(c.name, async () => { await c.run(system); });
    await bench.run();
    bench.tasks.forEach((task, i) => {
      const r = task.result as { latency?: { p50?: number; p99?: number; min?: number; samplesCount?: number } } | undefined;
      const lat = r?.latency;
      const median = lat?.p50 ?? NaN;
      rows.push({
        query: task.name,
        'median ms': median.toFixed(2),
        'p99 ms': (lat?.p99 ?? NaN).toFixed(2),
        'min ms': (lat?.min ?? NaN).toFixed(2),
        samples: lat?.samplesCount ?? 0,
        'points/s scanned': Math.round(cases[i]!.points / (median / 1000)).toLocaleString(),
      });
    });
  }
  await measure(db.system, withWorkers);
  await db.system.stop();
  const inline = new EngineMetricsSystem({ path: db.path, queryWorkers: 0 });
  await inline.start();
  try {
    await measure(inline, inlineOnly);
  } finally {
    await inline.stop();
  }

  console.log(machineLine('query workers and the main thread share the cores; the machine is shared, so figures are noisy'));
  console.log(`workload: TSBS devops cpu-only, 1,000 series, ${HOURS} h = ${all.toLocaleString()} points (loaded in ${loadSeconds.toFixed(1)} s); target: avg 1h over all, 24 h, ≤ 100 ms median`);
  console.table(rows);
} finally {
  await db.remove();
}
