/**
 * Child process of durability_sigkill.test.ts: ingests batches forever and prints
 * `ack <kind> <n>` after each batch's promise resolved. The parent SIGKILLs it at some point
 * and checks that every batch it saw acknowledged is in the database.
 *
 * Usage: node --import tsx tests/integration/durability_child.ts <database path> [first round]
 */
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import type { MetricDataPoint } from '../../src/model/metric.js';

export const DURABILITY_T0 = Date.UTC(2026, 3, 1);
export const BIG_SERIES = 20;
export const BIG_POINTS_PER_SERIES = 100;
export const SMALL_PER_ROUND = 10;

export function bigBatch(round: number): MetricDataPoint[] {
  const points: MetricDataPoint[] = [];
  for (let k = 0; k < BIG_POINTS_PER_SERIES; k++) {
    for (let s = 0; s < BIG_SERIES; s++) {
      points.push({ metricId: 'dur.big', tags: { s: String(s) }, timestamp: DURABILITY_T0 + round * BIG_POINTS_PER_SERIES + k, value: round * 1000 + k });
    }
  }
  return points;
}

export function smallPoint(round: number, j: number): MetricDataPoint {
  return { metricId: 'dur.small', timestamp: DURABILITY_T0 + round * SMALL_PER_ROUND + j, value: round, metricType: 'counter' };
}

async function main(path: string, firstRound: number): Promise<void> {
  // Small heads so that chunks are cut (and head marks written) while the child runs.
  const ms = new EngineMetricsSystem({ path, queryWorkers: 0 }, { headCutPoints: 300 });
  await ms.start();
  for (let round = firstRound; ; round++) {
    await ms.collectMetrics(bigBatch(round));
    process.stdout.write(`ack big ${round}\n`);
    // Concurrent single points: group commit puts them in one transaction.
    await Promise.all(Array.from({ length: SMALL_PER_ROUND }, (_, j) => ms.collectMetric(smallPoint(round, j))));
    process.stdout.write(`ack small ${round}\n`);
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main(process.argv[2]!, Number(process.argv[3] ?? 0)).catch((error: unknown) => {
    process.stderr.write(`${String((error as Error).stack ?? error)}\n`);
    process.exit(1);
  });
}
