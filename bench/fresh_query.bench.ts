/**
 * The 100-series query right after ingest (issue 16's "1 s after ingest ends" row of
 * `npm run bench:peers`, without VictoriaMetrics, so it is cheap to repeat): a real `emms serve`
 * takes the TSBS devops day from bench:peers' own client (msgpack row frames of 10,000 points,
 * 2 connections, 4 in flight each), then the hourly average over the day of cpu.usage_user for
 * every host (100 series, 864,000 points) is timed at 0.5, 1, 2 and 5 s (or --offsets) after the last
 * acknowledgement: RUNS back-to-back queries each, client time and the engine's own
 * (stats.elapsed_ms), with GET /health's storage figures after them.
 *
 *   npm run build:ts && npx tsx bench/fresh_query.bench.ts
 *   npx tsx bench/fresh_query.bench.ts --dist /tmp/a/dist --dist /tmp/b/dist --rounds 2   # A/B, alternating
 *   npx tsx bench/fresh_query.bench.ts --cpu-prof /tmp/prof    # the server's CPU profile (node --cpu-prof)
 *   FRESH_HOURS=6 npx tsx bench/fresh_query.bench.ts           # a quick look
 *   npx tsx bench/fresh_query.bench.ts --offsets 1,5           # the first query at 1 s, as in bench:peers
 *
 * `--dist DIR` runs the server from another compiled tree (a `tsc --outDir` of another src/,
 * placed two levels below a directory with build/ and node_modules/ as the repository has):
 * with two, each round runs both, the second round in the other order. The client shares the
 * machine's cores with the server; the load average is printed with every row.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from './peers/report.js';
import { fileURLToPath } from 'node:url';
import { RECOMMENDED_OLD_SPACE } from '../src/cli/serve_command.js';
import { ingestEmms, timedGet } from './peers/clients.js';
import { PeersWorkload } from './peers/workload.js';

const HOURS = Number(process.env.FRESH_HOURS ?? 24);
/** Queries at each offset: bench:peers times 5 back to back at 1 s. */
const RUNS = 5;
const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

function argValues(name: string): string[] {
  const out: string[] = [];
  process.argv.forEach((a, i) => {
    if (a === name && process.argv[i + 1] !== undefined) out.push(process.argv[i + 1]!);
  });
  return out;
}

const DISTS = argValues('--dist');
if (DISTS.length === 0) DISTS.push(join(REPO_ROOT, 'dist'));
const ROUNDS = Number(argValues('--rounds')[0] ?? 1);
const PROFILE_DIR = argValues('--cpu-prof')[0];
/**
 * Seconds after the last acknowledgement at which queries are timed. `--offsets 1,5` times
 * bench:peers' case, where the query 1 s after ingest is the server's first: the 0.5 s
 * queries of the default warm the JIT and ask for the chunks' rollups.
 */
const OFFSETS_S = (argValues('--offsets')[0] ?? '0.5,1,2,5').split(',').map((x) => {
  const s = Number(x);
  if (!(s >= 0) || !Number.isFinite(s)) throw new Error(`--offsets: ${JSON.stringify(x)} is not a number of seconds ≥ 0`);
  return s;
});

interface Server {
  base: string;
  wsUrl: string;
  /** CPU time the server's main thread has run, in ms (Linux schedstat; NaN elsewhere). */
  mainThreadCpuMs: () => number;
  stop: () => Promise<void>;
}

/**
 * The main thread's CPU time from /proc/<pid>/task/<pid>/schedstat (its first field: ns on
 * the CPU), which, unlike the client's wall time, counts only what the server itself ran: on
 * this shared 2-core machine the load average often passes 5 and a query's wall time then
 * measures the queue for a core more than the query.
 */
function threadCpuMs(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

/** `emms serve` from `dist` as bench/load/built_server.ts starts it, on a free port. */
async function startServer(dist: string, dataDir: string): Promise<Server> {
  const nodeArgs = PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`];
  const proc = spawn(process.execPath, [...nodeArgs, RECOMMENDED_OLD_SPACE, join(dist, 'cli', 'main.js'), 'serve', '--port', '0', '--data', dataDir], {
    cwd: REPO_ROOT, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const base = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m !== null) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`server from ${dist} exited before listening`)));
  });
  return {
    base, wsUrl: `${base.replace('http', 'ws')}/api/v1/stream`,
    mainThreadCpuMs: () => threadCpuMs(proc.pid),
    stop: async () => {
      // SIGINT: the process ends through its shutdown path, so --cpu-prof writes its profile.
      proc.kill('SIGINT');
      await exited;
    },
  };
}

interface Row {
  dist: string;
  'after s': number;
  'client median ms': number;
  'engine median ms': number;
  'engine min ms': number;
  /** The server main thread's CPU time for the first query of the offset, and the median. */
  'cpu first ms': number;
  'cpu median ms': number;
  'cpu each ms': string;
  'head points': number;
  'wal MB': number;
  chunks: number;
  load: string;
}

async function runOnce(dist: string, work: PeersWorkload): Promise<Row[]> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-bench-fresh-'));
  const server = await startServer(dist, dir);
  const rows: Row[] = [];
  try {
    const headers = { authorization: `Bearer ${readFileSync(join(dir, 'admin.token'), 'utf8').trim()}` };
    const url = `${server.base}/api/v1/query?${new URLSearchParams({
      metric_pattern: 'cpu.usage_user', aggregation: 'avg', interval: '1h', start_time: String(work.startMs), end_time: String(work.endMs),
    })}`;
    const ingest = await ingestEmms(server.wsUrl, headers, work);
    if (ingest.points !== work.points) throw new Error(`EMMS acknowledged ${ingest.points} points of ${work.points}`);
    console.log(`${dist}: ingest ${(ingest.pointsPerSecond / 1e6).toFixed(2)} M points/s`);
    for (const offset of OFFSETS_S) {
      const wait = ingest.endedAt + offset * 1000 - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const client: number[] = [];
      const engine: number[] = [];
      const cpu: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const cpuBefore = server.mainThreadCpuMs();
        const r = await timedGet(url, headers);
        cpu.push(server.mainThreadCpuMs() - cpuBefore);
        client.push(r.ms);
        const body = JSON.parse(r.body) as { series: unknown[]; stats: { elapsed_ms: number } };
        if (body.series.length !== 100) throw new Error(`the query returned ${body.series.length} series; expected 100`);
        engine.push(body.stats.elapsed_ms);
      }
      const health = (await (await fetch(`${server.base}/health`, { headers })).json()) as { components: { storage: Record<string, number> } };
      const s = health.components.storage;
      rows.push({
        dist, 'after s': offset, 'client median ms': round(median(client)), 'engine median ms': round(median(engine)), 'engine min ms': round(Math.min(...engine)),
        'cpu first ms': round(cpu[0]!), 'cpu median ms': round(median(cpu)), 'cpu each ms': cpu.map((c) => c.toFixed(1)).join(' '),
        'head points': s.head_points!, 'wal MB': round(s.wal_bytes! / 1e6), chunks: s.chunks!, load: loadavg()[0]!.toFixed(2),
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
  const cpu = cpus();
  console.log(`machine: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores, Node ${process.version}; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const work = new PeersWorkload(HOURS);
  const rows: Row[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const dist of round % 2 === 0 ? DISTS : [...DISTS].reverse()) {
      const own = await runOnce(dist, work);
      console.table(own);
      rows.push(...own);
    }
  }
  console.log(`\n100-series hourly avg over ${HOURS} h after ingesting ${work.points.toLocaleString('en-US')} points, ${RUNS} queries per offset`);
  console.table(rows);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
