/**
 * Query latency against time since ingest ended (issue 16, "settle when ingest goes quiet"):
 * a real `emms serve` from dist/ takes the TSBS devops workload (100 hosts × 10 cpu metrics,
 * 10 s interval; 24 h = 8.64 M points) over the columnar WebSocket stream, then nothing; at
 * 1, 5, 15, 30 and 60 s after the last acknowledgement the 24 h hourly average of one metric
 * for every host (100 series, 864,000 raw points) is timed, with the storage figures of
 * GET /health at that moment and where the data directory's bytes are (what `du` shows a
 * user): the database file, its free pages (PRAGMA freelist_count), the -wal and -shm files,
 * and bytes/point of the whole directory; the last row is the same after a clean stop. Run
 * twice: settling on (the default policy) and off (EMMS_SETTLE_CHECK_INTERVAL_MS=1e9: the
 * check never comes, as before the policy existed).
 *
 *   npm run build:ts && npx tsx bench/settle.bench.ts            # 24 h of data, both modes
 *   npx tsx bench/settle.bench.ts --mode on --quick              # 6 h of data, settling on only
 *   npx tsx bench/settle.bench.ts --offsets 1,15,60,120          # other times after ingest (s)
 *   npx tsx bench/settle.bench.ts --mode on --offsets 1 --resume-at 20 [--resume-rate 500000]
 *
 * `--resume-at S`: after the last offset, at S s after the burst, ingest resumes for 10 s at
 * `--resume-rate` points/s (load generator: rows, 4 connections of 100 new hosts, 64 frames in
 * flight) and its acknowledgement latencies are printed: what settling's background work
 * (cutting, packing, returning free space) costs a client whose load comes back meanwhile.
 *
 * The client (this process) shares the machine's cores with the server.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { databasePathIn } from '../src/model/data_directory.js';
import { median } from './peers/report.js';
import { TSBS_DEFAULT_START_MS } from './workload/tsbs_devops.js';
import { streamTsbsColumns } from './load/tsbs_column_stream.js';
import { runLoadGenerator, startServerProcess } from './load/server_process.js';
import { acksSentBetween, describe, readAckLog, summarize } from './load/latency_stats.js';

const QUICK = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');
const HOURS = QUICK ? 6 : 24;
const HOUR_MS = 3_600_000;
const offsetsArg = process.argv.indexOf('--offsets');
const OFFSETS_S = offsetsArg >= 0 ? process.argv[offsetsArg + 1]!.split(',').map(Number) : [1, 5, 15, 30, 60];
/** Queries timed at each offset (their median is reported); ~1 s of queries at most. */
const RUNS = 15;
const modeArg = process.argv.indexOf('--mode');
const resumeArg = process.argv.indexOf('--resume-at');
const RESUME_AT_S = resumeArg >= 0 ? Number(process.argv[resumeArg + 1]) : undefined;
const resumeRateArg = process.argv.indexOf('--resume-rate');
const RESUME_RATE = resumeRateArg >= 0 ? Number(process.argv[resumeRateArg + 1]) : 500_000;
const RESUME_SECONDS = 10;
const MODES = modeArg >= 0 ? [process.argv[modeArg + 1] as 'on' | 'off'] : (['off', 'on'] as const);

interface Row extends SizeColumns {
  mode: string;
  'after s': number | string;
  'client median ms': number;
  'engine median ms': number;
  /** The least of the runs: on a shared machine the least disturbed by other work. */
  'engine min ms': number;
  'head points': number;
  'wal MB': number;
  chunks: number;
  settled: boolean;
}

/** Where the data directory's bytes are (MB = 1e6 bytes). */
interface SizeColumns {
  'dir MB': number;
  'db MB': number;
  'free MB': number;
  'wal file MB': number;
  'shm MB': number;
  'B/pt': number;
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function directoryBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += directoryBytes(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

/** The size columns; free pages read through a read-only connection of this process (closed at once). */
function sizeColumns(dir: string, points: number): SizeColumns {
  const path = databasePathIn(dir);
  // Files first: opening the database may create a -shm file of its own.
  const dirBytes = directoryBytes(dir);
  const sizes = { 'dir MB': round(dirBytes / 1e6), 'db MB': round(fileBytes(path) / 1e6), 'wal file MB': round(fileBytes(path + '-wal') / 1e6), 'shm MB': round(fileBytes(path + '-shm') / 1e6) };
  let freeBytes = 0;
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    freeBytes = (db.pragma('freelist_count', { simple: true }) as number) * (db.pragma('page_size', { simple: true }) as number);
  } finally {
    db.close();
  }
  return { ...sizes, 'free MB': round(freeBytes / 1e6), 'B/pt': round(dirBytes / points, 3) };
}

async function runMode(mode: 'on' | 'off'): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-bench-settle-'));
  const env: Record<string, string> = mode === 'off' ? { EMMS_SETTLE_CHECK_INTERVAL_MS: '1000000000' } : {};
  const server = await startServerProcess(dir, env);
  const headers = { authorization: `Bearer ${readFileSync(server.adminTokenFile, 'utf8').trim()}` };
  const rows: Row[] = [];
  try {
    const loaded = await streamTsbsColumns(server.wsUrl, headers, { hours: HOURS });
    const ended = performance.now();
    console.log(`settling ${mode}: ${loaded.points.toLocaleString('en-US')} points in ${loaded.seconds.toFixed(1)} s`);
    const start = TSBS_DEFAULT_START_MS;
    const aggUrl = `${server.base}/api/v1/query?${new URLSearchParams({
      metric_pattern: 'cpu.usage_user', aggregation: 'avg', interval: '1h', start_time: String(start), end_time: String(start + HOURS * HOUR_MS),
    })}`;
    for (const offset of OFFSETS_S) {
      const wait = ended + offset * 1000 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const client: number[] = [];
      const engine: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now();
        const body = (await (await fetch(aggUrl, { headers })).json()) as { series: unknown[]; stats: { elapsed_ms: number } };
        client.push(performance.now() - t);
        engine.push(body.stats.elapsed_ms);
        if (body.series.length !== 100) throw new Error(`aggregate query returned ${body.series.length} series; expected 100`);
      }
      const health = (await (await fetch(`${server.base}/health`, { headers })).json()) as { components: { storage: Record<string, number | boolean> } };
      const s = health.components.storage;
      rows.push({
        mode, 'after s': offset, 'client median ms': round(median(client)), 'engine median ms': round(median(engine)), 'engine min ms': round(Math.min(...engine)),
        'head points': s.head_points as number, 'wal MB': round((s.wal_bytes as number) / 1e6), chunks: s.chunks as number, settled: s.settled === true,
        ...sizeColumns(dir, loaded.points),
      });
    }
    if (RESUME_AT_S !== undefined) {
      const wait = ended + RESUME_AT_S * 1000 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const log = join(dir, 'resume-acks.csv');
      const r = await runLoadGenerator([
        '--url', server.wsUrl, '--token-file', server.adminTokenFile, '--seconds', String(RESUME_SECONDS), '--form', 'rows',
        '--connections', '4', '--window', '64', '--rate', String(RESUME_RATE), '--latency-log', log,
      ]);
      const acks = readAckLog(log);
      const first = Math.min(...acks.map((a) => a.sentEpochMs));
      console.log(`settling ${mode}: ingest resumed ${RESUME_AT_S} s after the burst for ${RESUME_SECONDS} s at ${RESUME_RATE.toLocaleString('en-US')} points/s ` +
        `(${(r.pointsPerSecond / 1e6).toFixed(2)} M achieved); acks overall ${describe(summarize(acks.map((a) => a.latencyMs)))}; ` +
        `first second ${describe(summarize(acksSentBetween(acks, first, first + 1000)))}`);
    }
    await server.stop();
    rows.push({
      mode, 'after s': 'stopped', 'client median ms': NaN, 'engine median ms': NaN, 'engine min ms': NaN, 'head points': NaN, 'wal MB': NaN, chunks: NaN, settled: true,
      ...sizeColumns(dir, loaded.points),
    });
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const mode of MODES) {
    const modeRows = await runMode(mode);
    // Printed as each mode ends, so one run's figures survive the other's failure.
    console.table(modeRows);
    rows.push(...modeRows);
  }
  const cpu = cpus();
  console.log(`\nEMMS ${HOURS} h hourly avg of 100 series against time since ingest ended (${QUICK ? 'quick' : 'full'} run, ${RUNS} queries per point)`);
  console.log(`machine: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores, Node ${process.version}; client and server share these cores`);
  console.table(rows);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
