/**
 * A test-owned Redis server: Debian's `redis-server` on a free loopback port, in a temp dir,
 * never the system service. One per test FILE; tests isolate themselves by key prefix.
 *
 * - Persistence as the back-end demands by default: appendonly yes, appendfsync always, no RDB
 *   snapshots (`--save ''`), so the SIGKILL tests mean what they say.
 * - A password (requirepass), so redaction is tested against a real secret.
 * - `kill()` is what a crash leaves (SIGKILL); `restart()` starts the same dir on the same port
 *   (Redis replays its AOF); `stop()` terminates it and removes the dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { freePort } from '../free_port.js';

export interface RedisInstance {
  /** `redis://:<password>@127.0.0.1:PORT` */
  url: string;
  port: number;
  password: string;
  /** The server's working dir (its appendonlydir/ lives here). */
  dir: string;
  /** SIGKILL: a crash. */
  kill(): Promise<void>;
  /** Starts the server again after kill() (same port, same dir: the AOF is replayed). */
  restart(): Promise<void>;
  /** Terminates the server and removes its dir. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 15_000;


function launch(port: number, dir: string, password: string): { child: ChildProcess; log: () => string } {
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--appendonly', 'yes', '--appendfsync', 'always', '--save', '',
    '--requirepass', password, '--daemonize', 'no', '--protected-mode', 'yes',
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, log: () => output };
}

/** Waits until the server answers PING with the password, or fails with its log. */
async function waitReady(port: number, password: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}):\n${log()}`);
    const probe = new Redis({ host: '127.0.0.1', port, password, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false });
    probe.on('error', () => {});
    try {
      await probe.connect();
      if ((await probe.ping()) === 'PONG') return;
    } catch {
      // not up yet (or still loading its AOF): try again
    } finally {
      probe.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`redis-server on port ${port} not ready within ${READY_TIMEOUT_MS} ms:\n${log()}`);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

export async function startRedis(): Promise<RedisInstance> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-redis-'));
  const password = randomBytes(12).toString('hex');
  let port = 0;
  let running: { child: ChildProcess; log: () => string } | undefined;
  // A free port can be taken between the probe and redis-server's bind: try a few.
  for (let attempt = 0; attempt < 3 && running === undefined; attempt++) {
    port = await freePort();
    const launched = launch(port, dir, password);
    try {
      await waitReady(port, password, launched.child, launched.log);
      running = launched;
    } catch (error) {
      launched.child.kill('SIGKILL');
      await exited(launched.child);
      if (attempt === 2) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }
  let current = running!;
  return {
    url: `redis://:${password}@127.0.0.1:${port}`,
    port,
    password,
    dir,
    async kill() {
      current.child.kill('SIGKILL');
      await exited(current.child);
    },
    async restart() {
      current = launch(port, dir, password);
      await waitReady(port, password, current.child, current.log);
    },
    async stop() {
      current.child.kill('SIGTERM');
      await exited(current.child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
