/**
 * Real peers for the remote-write tests, each started by the test on a free loopback port in a
 * temporary directory and killed after: Debian's `prometheus` (scrapes and remote-writes) and
 * `victoria-metrics` (a remote-write receiver). Readiness is polled, never slept on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
export { freePort } from '../free_port.js';


export async function waitUntil<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface Peer {
  proc: ChildProcess;
  base: string;
  output: () => string;
  /**
   * Stops it and waits for the exit. SIGTERM: VictoriaMetrics acknowledges a write before its
   * in-memory parts reach disk (seconds later), so a SIGKILL would lose data it had accepted
   * and test its durability rather than ours. Down is down either way for the sender.
   */
  kill(): Promise<void>;
}

export async function startPeer(command: string, args: string[], port: number, readyPath: string): Promise<Peer> {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  });
  proc.stderr!.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  await waitUntil(async () => {
    if (gone) throw new Error(`${command} exited: ${out}`);
    const r = await fetch(`${base}${readyPath}`);
    return r.ok ? true : undefined;
  }, `${command} on ${base}`);
  return {
    proc, base, output: () => out,
    async kill() {
      if (!gone) proc.kill('SIGTERM');
      await exited;
    },
  };
}

export function startVictoriaMetrics(dataDir: string, port: number): Promise<Peer> {
  return startPeer('victoria-metrics', ['-retentionPeriod=100y', `-storageDataPath=${dataDir}`, `-httpListenAddr=127.0.0.1:${port}`, '-loggerLevel=ERROR'], port, '/health');
}

export function startPrometheus(configFile: string, dataDir: string, port: number): Promise<Peer> {
  return startPeer('prometheus', [`--config.file=${configFile}`, `--storage.tsdb.path=${dataDir}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], port, '/-/ready');
}
