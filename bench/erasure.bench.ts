/**
 * What an erasure costs on a store of a few million points: the TSBS devops set (100 hosts x
 * 10 metrics, one point per 10 s; bench/workload/tsbs_devops.ts), 8 h by default = 2.88M points.
 *
 *   1. one whole series, right after ingest (heads and write-ahead records still in the file:
 *      the erasure's checkpoint flushes every head first);
 *   2. half the time range of another series, once everything is in packed chunks;
 *   3. a subject: every series of one host (10 series), by tag.
 *
 * Each row splits the pass into the deletion (checkpoint, chunk rewrite, commit: what makes it
 * durable) and the scrub (VACUUM and an emptied -wal file: what makes the bytes leave the disk).
 * Ingest acknowledgements wait for both on a running server (src/storage/point_erasure.ts).
 *
 *   npx tsx bench/erasure.bench.ts            (8 h, 2.88M points)
 *   npx tsx bench/erasure.bench.ts --quick    (2 h, 0.72M points)
 */
import type { StoreMaintenance } from '../src/storage/store_maintenance.js';
import { erasePoints, scrubErasedBytes, selectSeriesForErasure } from '../src/storage/point_erasure.js';
import { databaseFileBytes } from '../src/storage/sqlite/sqlite_backend.js';
import type { ErasureSelection } from '../src/model/maintainable_storage.js';
import { TICKS_PER_DAY, TSBS_DEFAULT_START_MS, TsbsDevopsGenerator } from './workload/tsbs_devops.js';
import { loadTsbsColumnar, machineLine, openBenchDatabase, quick } from './workload/embedded_fixture.js';

const HOURS = quick ? 2 : 8;
const ticks = (TICKS_PER_DAY / 24) * HOURS;
const points = ticks * new TsbsDevopsGenerator().seriesCount;

interface Row { erasure: string; series: number; 'points deleted': number; 'deletion ms': number; 'scrub ms': number; 'file MB before': string; 'file MB after': string }
const rows: Row[] = [];

const db = await openBenchDatabase({ queryWorkers: 0 });
try {
  const t0 = performance.now();
  await loadTsbsColumnar(db.system, ticks);
  console.log(`loaded ${points.toLocaleString('en-US')} points in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const store = (db.system.maintenance() as StoreMaintenance).store;

  const erase = async (label: string, selection: ErasureSelection): Promise<void> => {
    const before = databaseFileBytes(store.location);
    const d0 = performance.now();
    const counts = await erasePoints(store, selectSeriesForErasure(store, 'default', selection), selection);
    const d1 = performance.now();
    const scrub = await scrubErasedBytes(store);
    rows.push({
      erasure: label, series: counts.series, 'points deleted': counts.pointsDeleted, 'deletion ms': Math.round(d1 - d0), 'scrub ms': scrub.durationMs,
      'file MB before': (before / 1e6).toFixed(1), 'file MB after': (scrub.fileBytesAfter / 1e6).toFixed(1),
    });
  };

  await erase('one series, right after ingest', { metricPattern: 'cpu.usage_user', tags: { hostname: 'host_1' } });
  await db.system.settle();
  const midMs = TSBS_DEFAULT_START_MS + (HOURS / 2) * 3_600_000;
  await erase('half of one series, packed chunks', { metricPattern: 'cpu.usage_system', tags: { hostname: 'host_2' }, startMs: midMs });
  await erase('subject: one host (10 series)', { metricPattern: '*', tags: { hostname: 'host_3' } });
  console.table(rows);
  console.log(machineLine('2 cores shared with other helpers\' builds and tests while measured: figures are noisy, take them as upper bounds'));
} finally {
  await db.remove();
}
