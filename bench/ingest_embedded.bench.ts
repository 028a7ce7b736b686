/**
 * Embedded durable ingest on the TSBS devops workload (bench/workload/tsbs_devops.ts): every
 * call's promise resolves only after its batch is committed to SQLite, so points/s here are
 * durable points/s (SIGKILL-safe, see src/storage/database.ts for power loss).
 *
 * Scenarios:
 * - rows, 10k per batch: collectMetrics with TSBS row objects, awaited one after another (the
 *   issue's target: ≥ 1,000,000 points/s). Generating the rows is not timed.
 * - columnar: collectSeries, 1,000 series × 36 points per call.
 * - small concurrent batches: 100-point batches, 32 in flight (group commit at work).
 *
 * `EMMS_BENCH_QUICK=1` (or `--quick`) ingests 1 h of the workload (360k points) instead of 6 h.
 */
import { TsbsDevopsGenerator, TICKS_PER_DAY } from './workload/tsbs_devops.js';
import type { MetricDataPoint } from '../src/model/metric.js';
import { machineLine, openBenchDatabase, percentile, quick } from './workload/embedded_fixture.js';

const HOURS = quick ? 1 : 6;
const TICKS = (TICKS_PER_DAY / 24) * HOURS;

interface Row { scenario: string; points: number; 'points/s': number; 'batch p50 ms': string; 'batch p99 ms': string; 'heap MB': string }
const rows: Row[] = [];

function record(scenario: string, points: number, seconds: number, latencies: number[]): void {
  latencies.sort((a, b) => a - b);
  rows.push({
    scenario, points, 'points/s': Math.round(points / seconds),
    'batch p50 ms': percentile(latencies, 0.5).toFixed(2), 'batch p99 ms': percentile(latencies, 0.99).toFixed(2),
    'heap MB': (process.memoryUsage().heapUsed / 2 ** 20).toFixed(0),
  });
}

async function rowBatches(batchSize: number): Promise<void> {
  const db = await openBenchDatabase({ queryWorkers: 0 });
  try {
    const gen = new TsbsDevopsGenerator();
    const total = TICKS * gen.seriesCount;
    const latencies: number[] = [];
    let busy = 0;
    for (let done = 0; done < total; done += batchSize) {
      const batch = gen.nextRows(Math.min(batchSize, total - done));
      const t = performance.now();
      await db.system.collectMetrics(batch);
      const dt = performance.now() - t;
      busy += dt;
      latencies.push(dt);
    }
    record(`rows, ${batchSize} per batch, sequential`, total, busy / 1000, latencies);
  } finally {
    await db.remove();
  }
}

async function columnar(): Promise<void> {
  const db = await openBenchDatabase({ queryWorkers: 0 });
  try {
    const gen = new TsbsDevopsGenerator();
    const latencies: number[] = [];
    let busy = 0;
    const ticksPerCall = 36;
    for (let done = 0; done < TICKS; done += ticksPerCall) {
      const series = gen.nextColumns(Math.min(ticksPerCall, TICKS - done));
      const t = performance.now();
      await db.system.collectSeries(series);
      const dt = performance.now() - t;
      busy += dt;
      latencies.push(dt);
    }
    record(`columnar, 1000 series x ${ticksPerCall} points per call`, TICKS * gen.seriesCount, busy / 1000, latencies);
  } finally {
    await db.remove();
  }
}

async function smallConcurrent(batchSize: number, inFlight: number): Promise<void> {
  const db = await openBenchDatabase({ queryWorkers: 0 });
  try {
    const gen = new TsbsDevopsGenerator();
    // A tenth of the volume: small batches cost more per point and the run should stay short.
    const total = Math.floor((TICKS * gen.seriesCount) / 10);
    const batches: MetricDataPoint[][] = [];
    for (let done = 0; done < total; done += batchSize) batches.push(gen.nextRows(batchSize));
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(Array.from({ length: inFlight }, async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        const t = performance.now();
        await db.system.collectMetrics(batch);
        latencies.push(performance.now() - t);
      }
    }));
    const seconds = (performance.now() - started) / 1000;
    record(`rows, ${batchSize} per batch, ${inFlight} in flight`, batches.length * batchSize, seconds, latencies);
  } finally {
    await db.remove();
  }
}

console.log(machineLine('embedded engine, one process; the machine is shared, so figures are noisy'));
console.log(`workload: TSBS devops cpu-only, 1,000 series, ${HOURS} h = ${(TICKS * 1000).toLocaleString()} points per scenario; target: rows, 10k per batch ≥ 1,000,000 durable points/s`);
await rowBatches(10_000);
await columnar();
await smallConcurrent(100, 32);
console.table(rows);
