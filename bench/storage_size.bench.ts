/**
 * Storage size of the TSBS devops workload: 24 h = 8.64M points of 1,000 series ingested as
 * 10k-point row batches in time order (as a collector would send them), then stop(); every
 * file left in the data directory counts. Target ≤ 1.2 bytes/point (issue 2).
 *
 * Compares page sizes of the SQLite file (PAGE_SIZE_BYTES in src/storage/schema.ts) and
 * breaks the file down per table/index with SQLite's dbstat: payload bytes, unused bytes in
 * pages, and the pages themselves.
 *
 * `EMMS_BENCH_QUICK=1` (or `--quick`) ingests 2 h with the default page size only;
 * `EMMS_BENCH_PAGE_SIZES=1024` (comma-separated) measures only the page sizes named.
 */
import Database from 'better-sqlite3';
import { TsbsDevopsGenerator, TICKS_PER_DAY } from './workload/tsbs_devops.js';
import { directoryBytes, machineLine, openBenchDatabase, quick } from './workload/embedded_fixture.js';
import { PAGE_SIZE_BYTES, TABLE } from '../src/storage/sqlite/schema.js';

const HOURS = quick ? 2 : 24;
const PAGE_SIZES = process.env.EMMS_BENCH_PAGE_SIZES !== undefined
  ? process.env.EMMS_BENCH_PAGE_SIZES.split(',').map(Number)
  : quick ? [PAGE_SIZE_BYTES] : [...new Set([PAGE_SIZE_BYTES, 4096, 512])];

interface SizeRow { 'page size': number; points: number; files: string; bytes: number; 'bytes/point': string; chunks: number; 'ingest s': string; 'stop s': string }
const sizes: SizeRow[] = [];
const breakdowns: Array<Record<string, string | number>> = [];

async function measure(pageSizeBytes: number): Promise<void> {
  const db = await openBenchDatabase({ queryWorkers: 0 }, { pageSizeBytes });
  try {
    const gen = new TsbsDevopsGenerator();
    const total = (TICKS_PER_DAY / 24) * HOURS * gen.seriesCount;
    let t = performance.now();
    for (let done = 0; done < total; done += 10_000) await db.system.collectMetrics(gen.nextRows(Math.min(10_000, total - done)));
    const ingestS = (performance.now() - t) / 1000;
    t = performance.now();
    await db.system.stop();
    const stopS = (performance.now() - t) / 1000;
    const { files, bytes } = directoryBytes(db.dir);
    const sqlite = new Database(db.path, { readonly: true });
    const chunks = (sqlite.prepare(`SELECT COUNT(*) AS n FROM ${TABLE.chunks}`).get() as { n: number }).n;
    const blobBytes = (sqlite.prepare(`SELECT SUM(LENGTH(data)) AS b FROM ${TABLE.chunks}`).get() as { b: number }).b;
    for (const r of sqlite.prepare('SELECT name, COUNT(*) AS pages, SUM(payload) AS payload, SUM(unused) AS unused, SUM(pgsize) AS bytes FROM dbstat GROUP BY name ORDER BY bytes DESC').all() as Array<{ name: string; pages: number; payload: number; unused: number; bytes: number }>) {
      breakdowns.push({ 'page size': pageSizeBytes, object: r.name, pages: r.pages, bytes: r.bytes, payload: r.payload, unused: r.unused, 'bytes/point': (r.bytes / total).toFixed(4) });
    }
    breakdowns.push({ 'page size': pageSizeBytes, object: '(chunk blobs alone)', pages: 0, bytes: blobBytes, payload: blobBytes, unused: 0, 'bytes/point': (blobBytes / total).toFixed(4) });
    sqlite.close();
    sizes.push({
      'page size': pageSizeBytes, points: total, files: files.join(' '), bytes, 'bytes/point': (bytes / total).toFixed(4), chunks,
      'ingest s': ingestS.toFixed(2), 'stop s': stopS.toFixed(2),
    });
  } finally {
    await db.remove();
  }
}

console.log(machineLine('sizes do not depend on the machine; times are noisy'));
console.log(`workload: TSBS devops cpu-only, 1,000 series, ${HOURS} h; target ≤ 1.2 bytes/point for 24 h`);
for (const pageSize of PAGE_SIZES) await measure(pageSize);
console.table(sizes);
console.table(breakdowns);
