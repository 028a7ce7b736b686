/**
 * A test-owned PostgreSQL server: its own cluster (initdb) in a temp dir, on a free loopback
 * port, never the system service. One per test FILE (start takes a few seconds); tests isolate
 * themselves by schema.
 *
 * - Password authentication as a real deployment has it: superuser `emms` with a random
 *   password, scram-sha-256 on 127.0.0.1 (pg_hba written by initdb's --auth-host); the unix
 *   socket lives inside the temp dir so two instances never meet.
 * - fsync stays on: the durability tests (SIGKILL of the postmaster) must mean what they say.
 * - As root, initdb and the server run as the `postgres` user (PostgreSQL refuses root), in a
 *   temp dir chowned to it.
 * - `kill()` is what a crash leaves: SIGKILL of the postmaster and of its backends. `restart()`
 *   starts the same cluster again on the same port (crash recovery replays its WAL).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { freePort } from '../free_port.js';

export interface PostgresInstance {
  /** `postgres://emms:<password>@127.0.0.1:PORT/emms` */
  url: string;
  port: number;
  /** SIGKILL of the postmaster and its children: a crash. */
  kill(): Promise<void>;
  /** Starts the cluster again after kill() (same port, same data). */
  restart(): Promise<void>;
  /** pg_ctl stop -m fast, then the temp dir is removed. */
  stop(): Promise<void>;
}

const USER = 'emms';
const DATABASE = 'emms';

/** The newest installed PostgreSQL's bin dir (Debian: /usr/lib/postgresql/<major>/bin). */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const major of majors) {
    const bin = join(root, major, 'bin');
    if (existsSync(join(bin, 'initdb'))) return bin;
  }
  throw new Error('PostgreSQL is not installed: no /usr/lib/postgresql/<major>/bin/initdb (apt-get install postgresql)');
}


interface RunAs {
  uid?: number;
  gid?: number;
}

/** PostgreSQL refuses to run as root: as root, run its tools as the `postgres` user. */
function runAs(): RunAs {
  if (process.getuid?.() !== 0) return {};
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

function run(bin: string, args: string[], as: RunAs, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { ...as, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${bin} ${args.join(' ')} exited with ${code}: ${out}`));
    });
  });
}

function postmasterPid(dataDir: string): number | undefined {
  const file = join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The System V shared memory id a postmaster recorded (postmaster.pid line 7: key, id). */
function sharedMemoryId(dataDir: string): number | undefined {
  const file = join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const id = Number(readFileSync(file, 'utf8').split('\n')[6]?.trim().split(/\s+/)[1]);
  return Number.isInteger(id) && id >= 0 ? id : undefined;
}

/** Running (a zombie waiting for its parent to reap it counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Direct children of `pid` (the backends of a postmaster), from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Field 4 (ppid) follows the command name in parentheses, which may itself hold spaces.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return out;
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function sigkillTree(pid: number): number[] {
  const children = childrenOf(pid);
  for (const p of [pid, ...children]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  return [pid, ...children];
}

export async function startPostgres(): Promise<PostgresInstance> {
  const bin = postgresBinDir();
  const as = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'emms-pg-'));
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'sock');
  const pwfile = join(dir, 'pwfile');
  const logFile = join(dir, 'server.log');
  const password = randomBytes(12).toString('hex');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  mkdirSync(socketDir);
  if (as.uid !== undefined) {
    for (const p of [dir, socketDir, pwfile]) chownSync(p, as.uid, as.gid!);
  }
  chmodSync(dir, 0o700);
  const port = await freePort();
  let stopped = false;
  // A test process that ends without stop() (a failed beforeAll, a crash) takes its server and
  // files with it.
  const onExit = (): void => {
    if (stopped) return;
    const pid = postmasterPid(dataDir);
    if (pid !== undefined) sigkillTree(pid);
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', onExit);

  const start = async (): Promise<void> => {
    const serverOptions = [
      '-c listen_addresses=127.0.0.1', `-c port=${port}`, `-c unix_socket_directories=${socketDir}`,
      '-c fsync=on', '-c recovery_init_sync_method=syncfs', '-c shared_buffers=32MB', '-c max_connections=60', '-c logging_collector=off',
    ].join(' ');
    await run(join(bin, 'pg_ctl'), ['-D', dataDir, '-l', logFile, '-w', '-t', '60', '-o', serverOptions, 'start'], as, 90_000);
  };
  try {
    await run(join(bin, 'initdb'), [
      '-D', dataDir, '-U', USER, `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=trust',
      '-E', 'UTF8', '--locale=C', '--no-sync',
    ], as);
    await start();
    const admin = new pg.Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres' });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${DATABASE}`);
    } finally {
      await admin.end();
    }
  } catch (error) {
    const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
    onExit();
    stopped = true;
    process.off('exit', onExit);
    throw new Error(`could not start PostgreSQL from ${bin}: ${(error as Error).message}\n${log}`, { cause: error });
  }

  return {
    url: `postgres://${USER}:${password}@127.0.0.1:${port}/${DATABASE}`,
    port,
    async kill(): Promise<void> {
      const pid = postmasterPid(dataDir);
      if (pid === undefined) return;
      const pids = sigkillTree(pid);
      await waitFor(() => pids.every((p) => !alive(p)), `PostgreSQL pids ${pids.join(',')} to exit after SIGKILL`);
    },
    async restart(): Promise<void> {
      // A killed postmaster may linger as a zombie until init reaps it, and PostgreSQL treats a
      // pid that still answers kill(0) as a live owner of postmaster.pid: a stale file is removed
      // here, once every process it named is gone.
      const pid = postmasterPid(dataDir);
      if (pid !== undefined && !alive(pid)) {
        rmSync(join(dataDir, 'postmaster.pid'), { force: true });
        rmSync(join(socketDir, `.s.PGSQL.${port}.lock`), { force: true });
      }
      await start();
    },
    async stop(): Promise<void> {
      if (stopped) return;
      stopped = true;
      process.off('exit', onExit);
      const pid = postmasterPid(dataDir);
      if (pid !== undefined && alive(pid)) {
        try {
          await run(join(bin, 'pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', '-t', '30', 'stop'], as, 40_000);
        } catch {
          sigkillTree(pid);
        }
      }
      // A killed cluster leaves its small System V segment behind (a clean stop removes it).
      const shmId = sharedMemoryId(dataDir);
      if (shmId !== undefined) spawnSync('ipcrm', ['-m', String(shmId)], { stdio: 'ignore' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
