/**
 * Query latency against time since ingest ended (issue 16, "settle when ingest goes quiet"):
 * a real `emms serve` from dist/ takes the TSBS devops workload (100 hosts × 10 cpu metrics,
 * 10 s interval; 24 h = 8.64 M points) over the columnar WebSocket stream, then nothing; at
 * 1, 5, 15, 30 and 60 s after the last acknowledgement the 24 h hourly average of one metric
 * for every host (100 series, 864,000 raw points) is timed, with the storage figures of
 * GET /health at that moment. Run twice: settling on (the default policy) and off
 * (EMMS_SETTLE_CHECK_INTERVAL_MS=1e9: the check never comes, as before the policy existed).
 *
 *   npm run build:ts && npx tsx bench/settle.bench.ts            # 24 h of data, both modes
 *   npx tsx bench/settle.bench.ts --mode on --quick              # 6 h of data, settling on only
 *
 * The client (this process) shares the machine's cores with the server.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './peers/report.js';
import { TSBS_DEFAULT_START_MS } from './workload/tsbs_devops.js';
import { streamTsbsColumns } from './load/tsbs_column_stream.js';
import { startServerProcess } from './load/server_process.js';

const QUICK = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');
const HOURS = QUICK ? 6 : 24;
const HOUR_MS = 3_600_000;
const OFFSETS_S = [1, 5, 15, 30, 60];
/** Queries timed at each offset (their median is reported); ~1 s of queries at most. */
const RUNS = 15;
const modeArg = process.argv.indexOf('--mode');
const MODES = modeArg >= 0 ? [process.argv[modeArg + 1] as 'on' | 'off'] : (['off', 'on'] as const);

interface Row {
  mode: string;
  'after s': number;
  'client median ms': number;
  'engine median ms': number;
  /** The least of the runs: on a shared machine the least disturbed by other work. */
  'engine min ms': number;
  'head points': number;
  'wal MB': number;
  chunks: number;
  settled: boolean;
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
      });
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

const round = (x: number): number => Math.round(x * 100) / 100;

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
