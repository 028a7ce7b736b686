/**
 * A/B of two builds on bench:peers' EMMS ingest alone (bench/peers.bench.ts: TSBS devops, 100
 * hosts × 10 metrics, msgpack row frames of 10,000 points, 2 connections, 4 in flight), the
 * builds alternated run by run so both see the same minutes of a shared machine. Prints, per
 * run, points/s, the server's CPU per point (every thread) and its main thread's CPU per point:
 * the thread that acknowledges every batch, and the figure to compare when other work shares
 * the cores (points/s then mostly measures the neighbours).
 *
 *   npx tsc -p tsconfig.build.json --outDir dist_base     # on the baseline sources
 *   npm run build:ts                                      # the candidate, in dist/
 *   npx tsx bench/peers_ingest_ab.bench.ts dist_base dist [--hours 12] [--rounds 3]
 *
 * A build directory must sit in the repository root, as dist/ does: the server finds its WASM
 * modules and package.json relative to itself.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RECOMMENDED_OLD_SPACE } from '../src/cli/serve_command.js';
import { PeersWorkload } from './peers/workload.js';
import { ingestEmms } from './peers/clients.js';
import { processCpuSeconds } from './load/server_process.js';

const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer; got ${process.argv[i + 1]}`);
  return value;
}

/** CPU seconds of one thread of `pid` (the main thread's id is the pid), from /proc. */
function threadCpuSeconds(pid: number, tid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface RunResult {
  build: string;
  pointsPerSecond: number;
  serverUsPerPoint: number;
  mainUsPerPoint: number;
  loadBefore: number;
  loadAfter: number;
}

async function runOnce(build: string, work: PeersWorkload): Promise<RunResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'emms-peers-ab-'));
  const proc = spawn(process.execPath, [RECOMMENDED_OLD_SPACE, join(REPO_ROOT, build, 'cli', 'main.js'), 'serve', '--port', '0', '--data', dataDir], {
    cwd: REPO_ROOT, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  try {
    const base = await new Promise<string>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`${build}: the server did not listen within 120 s`)), 120_000);
      proc.stdout!.on('data', (d: Buffer) => {
        out = (out + d.toString()).slice(-4096);
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m !== null) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      void exited.then(() => reject(new Error(`${build}: the server exited before listening`)));
    });
    const headers = { authorization: `Bearer ${readFileSync(join(dataDir, 'admin.token'), 'utf8').trim()}` };
    const pid = proc.pid!;
    const [cpu0, main0, loadBefore] = [processCpuSeconds(pid), threadCpuSeconds(pid, pid), loadavg()[0]!];
    const r = await ingestEmms(`${base.replace('http', 'ws')}/api/v1/stream`, headers, work);
    const [cpu, main] = [processCpuSeconds(pid) - cpu0, threadCpuSeconds(pid, pid) - main0];
    return { build, pointsPerSecond: r.pointsPerSecond, serverUsPerPoint: (cpu / r.points) * 1e6, mainUsPerPoint: (main / r.points) * 1e6, loadBefore, loadAfter: loadavg()[0]! };
  } finally {
    proc.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const builds = process.argv.slice(2, 4);
  if (builds.length !== 2 || builds.some((b) => b.startsWith('--'))) throw new Error('usage: peers_ingest_ab.bench.ts BASELINE_BUILD_DIR CANDIDATE_BUILD_DIR [--hours H] [--rounds N]');
  for (const b of builds) if (!existsSync(join(REPO_ROOT, b, 'cli', 'main.js'))) throw new Error(`${b}/cli/main.js is missing: build it first (see the file comment)`);
  const hours = option('hours', 12);
  const rounds = option('rounds', 3);
  const work = new PeersWorkload(hours);
  console.log(`${new Date().toISOString()}: ${work.points.toLocaleString('en-US')} points per run, ${rounds} round(s), builds alternated (the first build first in odd rounds)`);
  const results: RunResult[] = [];
  for (let round = 0; round < rounds; round++) {
    for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
      const r = await runOnce(build!, work);
      results.push(r);
      console.log(`${r.build.padEnd(16)} ${(r.pointsPerSecond / 1e6).toFixed(3)} M points/s, server ${r.serverUsPerPoint.toFixed(3)} µs/point, main thread ${r.mainUsPerPoint.toFixed(3)} µs/point, load ${r.loadBefore.toFixed(1)} → ${r.loadAfter.toFixed(1)}`);
    }
  }
  for (const build of builds) {
    const mine = results.filter((r) => r.build === build);
    console.log(`median ${build!.padEnd(9)} ${(median(mine.map((r) => r.pointsPerSecond)) / 1e6).toFixed(3)} M points/s, server ${median(mine.map((r) => r.serverUsPerPoint)).toFixed(3)} µs/point, main thread ${median(mine.map((r) => r.mainUsPerPoint)).toFixed(3)} µs/point`);
  }
}

main().catch((error: unknown) => {
  console.error((error as Error).message);
  process.exitCode = 1;
});
