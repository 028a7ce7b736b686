/**
 * Backup and restore throughput on the 24 h TSBS devops data set (100 hosts x 10 metrics x
 * 8,640 ticks of 10 s = 8.64M points; bench/workload/tsbs_devops.ts):
 *
 *   1. online backup of the running engine right after ingest (heads and write-ahead records
 *      still in the file: the largest snapshot), through MaintainableStorage.snapshot;
 *   2. backup of the stopped data directory (every point in packed chunks);
 *   3. restore of each archive into an empty directory (checksums verified), then the
 *      restored store is opened and its points counted.
 *
 * Points/s is the data set's points over the wall time; MB/s is the data files' bytes
 * (uncompressed) over the wall time, and the archive's own size is shown beside them.
 *
 *   npx tsx bench/backup.bench.ts            (24 h)
 *   npx tsx bench/backup.bench.ts --quick    (2 h)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineMetricsSystem } from '../src/metrics_system.js';
import { createBackup, type BackupResult } from '../src/maintenance/backup.js';
import { restoreBackup } from '../src/maintenance/restore.js';
import { TICKS_PER_DAY, TsbsDevopsGenerator } from './workload/tsbs_devops.js';
import { loadTsbsColumnar, machineLine, openBenchDatabase, quick } from './workload/embedded_fixture.js';

const HOURS = quick ? 2 : 24;
const ticks = (TICKS_PER_DAY / 24) * HOURS;
const points = ticks * new TsbsDevopsGenerator().seriesCount;

interface Row { step: string; points: number; 'data MB': string; 'archive MB': string; seconds: string; 'points/s': string; 'MB/s': string }
const rows: Row[] = [];

function row(step: string, seconds: number, dataBytes: number, archiveBytes: number): void {
  rows.push({
    step, points, 'data MB': (dataBytes / 1e6).toFixed(1), 'archive MB': (archiveBytes / 1e6).toFixed(1), seconds: seconds.toFixed(2),
    'points/s': Math.round(points / seconds).toLocaleString('en-US'), 'MB/s': (dataBytes / 1e6 / seconds).toFixed(1),
  });
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t = performance.now();
  const value = await run();
  return { value, seconds: (performance.now() - t) / 1000 };
}

async function restoreAndCount(step: string, backup: BackupResult, scratch: string): Promise<void> {
  const target = join(scratch, `${step}-restored`);
  const r = await timed(() => restoreBackup({ input: backup.output, dataDir: target }));
  row(`restore (${step})`, r.seconds, r.value.dataBytes, backup.bytes);
  const system = new EngineMetricsSystem({ path: join(target, 'metrics.db'), queryWorkers: 0 });
  await system.start();
  const usage = await system.maintenance().usage();
  await system.stop();
  if (usage.points !== points) throw new Error(`restored ${step} holds ${usage.points} points, expected ${points}`);
}

const db = await openBenchDatabase({ queryWorkers: 0 });
const scratch = mkdtempSync(join(tmpdir(), 'emms-backup-bench-'));
try {
  const load = await timed(() => loadTsbsColumnar(db.system, ticks));
  console.log(`loaded ${points.toLocaleString('en-US')} points in ${load.seconds.toFixed(1)} s`);
  const online = await timed(() => createBackup({ dataDir: db.dir, output: join(scratch, 'online.tar.gz'), storage: db.system.maintenance() }));
  row('backup, running engine', online.seconds, online.value.dataBytes, online.value.bytes);
  await db.system.stop();
  const stopped = await timed(() => createBackup({ dataDir: db.dir, output: join(scratch, 'stopped.tar.gz') }));
  row('backup, stopped directory', stopped.seconds, stopped.value.dataBytes, stopped.value.bytes);
  await restoreAndCount('online', online.value, scratch);
  await restoreAndCount('stopped', stopped.value, scratch);
  console.table(rows);
  console.log(machineLine('2 cores shared with other work (load average above 10 while measured): figures are noisy, take them as lower bounds'));
} finally {
  await db.remove();
  rmSync(scratch, { recursive: true, force: true });
}
