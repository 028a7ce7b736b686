/**
 * A real `emms serve` process for the server benchmarks (started from dist/ as `npm start`
 * does, see built_server.ts), and the load generator run as a process of its own, so client
 * and server compete for the cores as they would on a real machine.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtServerArgs } from './built_server.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const LOAD_GENERATOR = fileURLToPath(new URL('./ingest_load.ts', import.meta.url));
/**
 * A server that has not listened by then is killed and reported: a start waiting forever (a
 * database lock another node holds, say) would otherwise hang the whole benchmark.
 */
const DEFAULT_START_TIMEOUT_MS = 180_000;

export interface LoadResult {
  form: string;
  connections: number;
  points: number;
  seconds: number;
  pointsPerSecond: number;
  ackP50Ms: number;
  ackP99Ms: number;
  /** Percentiles of frames sent after the first second (warm-up left out). */
  steadyAckP50Ms: number;
  steadyAckP99Ms: number;
  clientCpuSeconds: number;
  closedEarly: string[];
}

export interface ServerProcess {
  proc: ChildProcess;
  wsUrl: string;
  base: string;
  dataDir: string;
  /** The bootstrap operator token of the data directory (authentication on). */
  adminTokenFile: string;
  stop: () => Promise<void>;
}

/**
 * `serveArgs`: further `emms serve` arguments, e.g. `['--config', file]`; `nodeArgs`: node
 * flags NODE_OPTIONS does not take, e.g. `['--cpu-prof', '--cpu-prof-dir=DIR']`.
 */
export async function startServerProcess(
  dataDir: string, env: Record<string, string> = {}, serveArgs: readonly string[] = [], nodeArgs: readonly string[] = [], startTimeoutMs = DEFAULT_START_TIMEOUT_MS,
): Promise<ServerProcess> {
  const proc = spawn(process.execPath, [...nodeArgs, ...builtServerArgs(), 'serve', '--port', '0', '--data', dataDir, ...serveArgs], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Passed through as it comes; the last lines are kept to say why a server did not start.
  let stderrTail = '';
  proc.stderr!.on('data', (d: Buffer) => {
    process.stderr.write(d);
    stderrTail = (stderrTail + d.toString()).slice(-2000);
  });
  const exited = new Promise<void>((resolve) => proc.on('exit', () => resolve()));
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not listen within ${startTimeoutMs / 1000} s (killed)`));
    }, startTimeoutMs);
    void exited.then(() => clearTimeout(timer));
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then(() => reject(new Error(`server exited before listening: ${stderrTail.trim().split('\n').filter((l) => !l.startsWith('warning:')).pop() ?? '(no message)'}`)));
  });
  return {
    proc,
    base,
    dataDir,
    adminTokenFile: join(dataDir, 'admin.token'),
    wsUrl: `${base.replace('http', 'ws')}/api/v1/stream`,
    stop: async () => {
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

export function runLoadGenerator(args: string[]): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', LOAD_GENERATOR, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    proc.on('exit', (code) => {
      if (code !== 0) reject(new Error(`load generator exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop()!) as LoadResult);
    });
  });
}

/** CPU seconds (user + system, every thread) the process has used, from /proc/<pid>/stat. */
export function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

export function processRssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m === null ? NaN : Number(m[1]) * 1024;
}
