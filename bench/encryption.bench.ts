/**
 * The cost of encryption at rest (issue 14 targets: ingest and the 24 h hourly query within
 * 10 % of the figures without it, bytes per point within 3 %), measured against real
 * `emms serve` processes (from dist/, as `npm start` runs it) in one run, in the order
 * off, on, off, on (ABAB), so that a drift of the machine's load shows in both arms alike:
 *   - ingest: the TSBS devops workload (100 hosts × 10 cpu metrics, 10 s interval) over the
 *     columnar WebSocket stream, points/s acknowledged;
 *   - query: the standard 24 h hourly avg of 100 series (bench/server_query.bench.ts), median
 *     of the client's latency and of the server's own stats.elapsed_ms;
 *   - bytes/point: metrics.db (+ -wal) after the server stopped (heads flushed, compacted);
 *   - data-key rotation: `emms encryption rotate-data` on the encrypted directory (PRAGMA rekey
 *     rewrites every page), in MB/s.
 *
 *   npm run build:ts && npx tsx bench/encryption.bench.ts        # 24 h of data per run
 *   EMMS_BENCH_QUICK=1 npx tsx bench/encryption.bench.ts          # 6 h of data per run
 *
 * Client and server share the machine's cores; on a machine shared with other work the figures
 * are noisy: compare the ratios of one run, and re-run on a quiet machine before quoting them.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeNewMasterKeyFile } from '../src/crypto/master_key.js';
import { builtServerArgs } from './load/built_server.js';
import { startServerProcess } from './load/server_process.js';
import { TICKS_PER_HOUR, streamTsbsColumns } from './load/tsbs_column_stream.js';
import { TSBS_DEFAULT_START_MS } from './workload/tsbs_devops.js';

const QUICK = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');
const HOURS = QUICK ? 6 : 24;
const QUERY_RUNS = QUICK ? 40 : 100;
const HOUR_MS = 3_600_000;
const ORDER = ['off', 'on', 'off', 'on'] as const;

interface RunResult {
  mode: 'off' | 'on';
  pointsPerSecond: number;
  queryMedianMs: number;
  serverMedianMs: number;
  bytesPerPoint: number;
  rekeyMBps?: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function storeBytes(dir: string): number {
  return readdirSync(dir).filter((n) => n === 'metrics.db' || n === 'metrics.db-wal').reduce((n, name) => n + statSync(join(dir, name)).size, 0);
}

async function oneRun(mode: 'off' | 'on', keyFile: string): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), `emms-bench-enc-${mode}-`));
  const env: Record<string, string> = mode === 'on' ? { EMMS_ENCRYPTION_KEY_FILE: keyFile } : {};
  const server = await startServerProcess(dir, env);
  try {
    const headers = { authorization: `Bearer ${readFileSync(server.adminTokenFile, 'utf8').trim()}` };
    const loaded = await streamTsbsColumns(server.wsUrl, headers, { hours: HOURS });
    const start = TSBS_DEFAULT_START_MS;
    const aggUrl = `${server.base}/api/v1/query?${new URLSearchParams({ metric_pattern: 'cpu.usage_user', aggregation: 'avg', interval: '1h', start_time: String(start), end_time: String(start + HOURS * HOUR_MS) })}`;
    const check = (await (await fetch(aggUrl, { headers })).json()) as { series: Array<{ points: unknown[] }> };
    if (check.series.length !== 100 || check.series.some((s) => s.points.length !== HOURS)) throw new Error(`aggregate query returned ${check.series.length} series; expected 100 × ${HOURS} buckets`);
    const client: number[] = [];
    const serverSide: number[] = [];
    for (let i = 0; i < QUERY_RUNS; i++) {
      const t0 = performance.now();
      const body = (await (await fetch(aggUrl, { headers })).json()) as { stats: { elapsed_ms: number } };
      client.push(performance.now() - t0);
      serverSide.push(body.stats.elapsed_ms);
    }
    await server.stop();
    const result: RunResult = {
      mode, pointsPerSecond: loaded.points / loaded.seconds, queryMedianMs: median(client), serverMedianMs: median(serverSide),
      bytesPerPoint: storeBytes(dir) / loaded.points,
    };
    if (mode === 'on') {
      const rotate = spawnSync(process.execPath, [...builtServerArgs(), 'encryption', 'rotate-data', '--data', dir], { env: { ...process.env, ...env }, encoding: 'utf8' });
      const m = /(\d+) bytes rewritten in (\d+) ms/.exec(rotate.stdout);
      if (rotate.status !== 0 || m === null) throw new Error(`rotate-data failed: ${rotate.stdout} ${rotate.stderr}`);
      result.rekeyMBps = Number(m[1]) / 1e6 / (Number(m[2]) / 1000);
    }
    return result;
  } finally {
    await server.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const keyDir = mkdtempSync(join(tmpdir(), 'emms-bench-enc-key-'));
  const keyFile = join(keyDir, 'master.key');
  writeNewMasterKeyFile(keyFile);
  const results: RunResult[] = [];
  try {
    for (const mode of ORDER) results.push(await oneRun(mode, keyFile));
  } finally {
    rmSync(keyDir, { recursive: true, force: true });
  }
  const cpu = cpus();
  console.log(`\nEncryption at rest: cost, ${QUICK ? 'quick' : 'full'} run (${HOURS} h TSBS devops per run, ${(100 * 10 * HOURS * TICKS_PER_HOUR).toLocaleString('en-US')} points), order ${ORDER.join(', ')}`);
  console.log(`machine: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores, Node ${process.version}; client and server share these cores; NOISY if the machine is shared`);
  console.table(results.map((r) => ({
    encryption: r.mode,
    'ingest M points/s': Number((r.pointsPerSecond / 1e6).toFixed(3)),
    [`${HOURS} h hourly avg, median ms`]: Number(r.queryMedianMs.toFixed(2)),
    'server elapsed ms': Number(r.serverMedianMs.toFixed(2)),
    'bytes/point': Number(r.bytesPerPoint.toFixed(4)),
    'rekey MB/s': r.rekeyMBps === undefined ? '' : Number(r.rekeyMBps.toFixed(1)),
  })));
  const mean = (mode: 'off' | 'on', f: (r: RunResult) => number): number => {
    const xs = results.filter((r) => r.mode === mode).map(f);
    return xs.reduce((a, b) => a + b, 0) / xs.length;
  };
  const ratio = (f: (r: RunResult) => number): string => `${((mean('on', f) / mean('off', f) - 1) * 100).toFixed(1)} %`;
  console.log(`on vs off (means of the two runs each): ingest ${ratio((r) => r.pointsPerSecond)} (target ≥ -10 %), ` +
    `query ${ratio((r) => r.queryMedianMs)} client / ${ratio((r) => r.serverMedianMs)} server (target ≤ +10 %), bytes/point ${ratio((r) => r.bytesPerPoint)} (target ≤ +3 %)`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
