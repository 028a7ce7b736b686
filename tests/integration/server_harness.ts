/**
 * Helpers for the server integration tests: a real `emms serve` process started from source
 * (tsx) on an ephemeral port, with the operator token its first start wrote to the data
 * directory, and a streaming client that remembers which points were acked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Packr, Unpackr } from 'msgpackr';
import { WsClient } from '../../bench/load/ws_client.js';

/** Repository root and CLI entry, resolved from this file so tests run from any directory. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI_ENTRY = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export const packr = new Packr({ useRecords: false });
export const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'bigint' });

export interface ServerProcess {
  proc: ChildProcess;
  base: string;
  wsUrl: string;
  /** `Authorization` of the bootstrap operator (tenant `default`); empty when the data directory has no admin.token. */
  auth: Record<string, string>;
  stderr: () => string;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
}

export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The value of `--data` in `args`, if any. */
function dataDirOf(args: string[]): string | undefined {
  const i = args.indexOf('--data');
  return i < 0 ? undefined : args[i + 1];
}

export async function startServer(args: string[], env: Record<string, string> = {}): Promise<ServerProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, 'serve', '--port', '0', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | string>((resolve) => proc.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const base = await new Promise<string>((resolve, reject) => {
    // 60 s, not 20: a start under a loaded CI runner (module loading, WASM compilation, the ingest
    // warm-up of src/server/warm_up.ts) was seen taking up to ~29 s at load average 20.
    const timer = setTimeout(() => reject(new Error(`server did not start in 60 s: ${out} ${err}`)), 60_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (https?:\/\/[^\s]+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening: ${err}`));
    });
  });
  const dir = dataDirOf(args);
  const tokenFile = dir === undefined ? undefined : join(dir, 'admin.token');
  const auth: Record<string, string> = tokenFile !== undefined && existsSync(tokenFile) ? { authorization: `Bearer ${readFileSync(tokenFile, 'utf8').trim()}` } : {};
  return { proc, base, wsUrl: `${base.replace('http', 'ws')}/api/v1/stream`, auth, stderr: () => err, exited };
}

export interface AckedBatch {
  seq: number;
  timestamps: number[];
  values: number[];
}

/**
 * Streams row frames of `pointsPerFrame` points of one series (`metricId`, tags {client})
 * with at most `window` frames unacknowledged, until stop() is called or the connection drops.
 * Every `refuseEvery`-th frame carries a NaN in its last point and a distinct metric id for
 * the rest, so a test can check that no refused frame left anything behind.
 */
export class StreamingClient {
  readonly acked: AckedBatch[] = [];
  readonly nacked: number[] = [];
  #stopped = false;
  #sent = new Map<number, AckedBatch>();
  #nextTs: number;
  #done: Promise<void> | undefined;

  constructor(
    readonly url: string,
    readonly metricId: string,
    readonly client: string,
    readonly opts: { pointsPerFrame: number; window: number; startTs: number; refuseEvery?: number; headers?: Record<string, string> },
  ) {
    this.#nextTs = opts.startTs;
  }

  start(): Promise<void> {
    this.#done = this.#run();
    return this.#done;
  }

  async #run(): Promise<void> {
    const ws = await WsClient.open(this.url, { headers: this.opts.headers ?? {} });
    let seq = 0;
    let inflight = 0;
    let wake: (() => void) | undefined;
    ws.onMessage = (m) => {
      const reply = unpackr.unpack(m.data) as { ack?: bigint; nack?: bigint | null };
      if (reply.ack !== undefined) {
        const s = Number(reply.ack);
        this.acked.push(this.#sent.get(s)!);
        this.#sent.delete(s);
      } else {
        this.nacked.push(Number(reply.nack));
        this.#sent.delete(Number(reply.nack));
      }
      inflight--;
      wake?.();
    };
    const closed = new Promise<void>((resolve) => {
      ws.onClose = () => {
        wake?.();
        resolve();
      };
    });
    while (!this.#stopped && !ws.closed) {
      if (inflight >= this.opts.window) {
        await new Promise<void>((r) => {
          wake = r;
        });
        continue;
      }
      const refuse = this.opts.refuseEvery !== undefined && seq % this.opts.refuseEvery === this.opts.refuseEvery - 1;
      const batch: AckedBatch = { seq, timestamps: [], values: [] };
      const metrics = [];
      for (let i = 0; i < this.opts.pointsPerFrame; i++) {
        const ts = this.#nextTs++;
        const value = Math.round(Math.sin(ts) * 1e4) / 100;
        batch.timestamps.push(ts);
        batch.values.push(value);
        const bad = refuse && i === this.opts.pointsPerFrame - 1;
        metrics.push({ metric_id: refuse ? `refused.${this.client}` : this.metricId, value: bad ? NaN : value, timestamp: ts, tags: { client: this.client } });
      }
      this.#sent.set(seq, batch);
      ws.send(packr.pack({ seq, metrics }));
      seq++;
      inflight++;
      // Yield so acks are processed while streaming.
      if (seq % 4 === 0) await new Promise((r) => setImmediate(r));
    }
    if (this.#stopped && !ws.closed) {
      const deadline = Date.now() + 5000;
      while (inflight > 0 && !ws.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      ws.close();
    }
    await Promise.race([closed, new Promise((r) => setTimeout(r, 1000))]);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#done;
  }
}

export async function queryRaw(base: string, params: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const r = await fetch(`${base}/api/v1/query?${new URLSearchParams(params)}`, { headers });
  return { status: r.status, body: await r.json() };
}

export interface ServeRun {
  /** Exit code or signal; `listening` when it started although it should not have, `timeout` when it neither exited nor listened. */
  code: number | string;
  stdout: string;
  stderr: string;
}

/**
 * `emms serve` expected to refuse to start (LOG_LEVEL debug, so everything it would print is
 * seen): resolves with its exit code and output, never rejects. A process that starts listening
 * anyway is stopped and reported as `listening`.
 */
export function runServeToExit(args: string[], env: Record<string, string> = {}, timeoutMs = 40_000): Promise<ServeRun> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, 'serve', '--port', '0', ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: 'debug', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let verdict: string | undefined;
  const timer = setTimeout(() => {
    verdict = 'timeout';
    proc.kill('SIGKILL');
  }, timeoutMs);
  proc.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (verdict === undefined && /listening on/.test(stdout)) {
      verdict = 'listening';
      proc.kill('SIGTERM');
    }
  });
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: verdict ?? code ?? signal ?? -1, stdout, stderr });
    });
  });
}
