/**
 * One `emms serve` process of a failover cluster test: its own data directory and a port
 * picked up front (a standby prints its port only once it holds the writer lease, so
 * `--port 0` would leave the test unable to tell a refusing standby from a missing one).
 * Clients authenticate with one cluster-wide token (cluster_failover_auth.ts), as they would
 * behind a load balancer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { CLI_ENTRY, REPO_ROOT } from './server_harness.js';

export interface ClusterNode {
  readonly name: string;
  readonly port: number;
  readonly base: string;
  readonly proc: ChildProcess;
  /** performance.now() when stdout said `listening on`, once it did. */
  listeningAt: number | undefined;
  /** performance.now() when the process exited, once it did. */
  exitedAt: number | undefined;
  readonly exited: Promise<number | string>;
  stdout(): string;
  stderr(): string;
  /** `Authorization` the clients send to this node. */
  auth(): Record<string, string>;
  alive(): boolean;
}

/**
 * Below Linux's default ephemeral range (32768–60999): a standby binds its port only when it
 * takes over, seconds after the test chose it, and in between the kernel could hand a port of
 * that range to any outgoing connection or `--port 0` server on this busy machine.
 */
const PORT_RANGE = { from: 20_000, to: 32_000 } as const;

/** `count` distinct free loopback ports below the ephemeral range, all held at once while probing so none repeats. */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let attempt = 0; servers.length < count; attempt++) {
      if (attempt > 200) throw new Error(`no ${count} free loopback ports in [${PORT_RANGE.from}, ${PORT_RANGE.to})`);
      const port = PORT_RANGE.from + Math.floor(Math.random() * (PORT_RANGE.to - PORT_RANGE.from));
      const s = createServer();
      const bound = await new Promise<boolean>((resolve) => {
        s.once('error', () => resolve(false));
        s.listen(port, '127.0.0.1', () => resolve(true));
      });
      if (bound) servers.push(s);
    }
    return servers.map((s) => (s.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  }
}

/** Starts `emms serve --port <port> --data <dataDir> --config <configPath>` with `env` on top of the test's environment. */
export function spawnNode(name: string, port: number, dataDir: string, configPath: string, env: Record<string, string>, auth: Record<string, string>): ClusterNode {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, 'serve', '--port', String(port), '--data', dataDir, '--config', configPath], {
    cwd: REPO_ROOT,
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const node: ClusterNode = {
    name,
    port,
    base: `http://127.0.0.1:${port}`,
    proc,
    listeningAt: undefined,
    exitedAt: undefined,
    exited: new Promise((resolve) => proc.on('exit', (code, signal) => {
      node.exitedAt = performance.now();
      resolve(code ?? signal ?? -1);
    })),
    stdout: () => out,
    stderr: () => err,
    auth: () => auth,
    alive: () => proc.exitCode === null && proc.signalCode === null,
  };
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    if (node.listeningAt === undefined && /listening on/.test(out)) node.listeningAt = performance.now();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  return node;
}

/** Polls `condition` every `intervalMs` until it holds; the error names what was awaited. */
export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs: number, intervalMs = 25): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** The one line of a node's state a failure message needs: exit, listening, and its stderr tail. */
export function describeNode(node: ClusterNode): string {
  const state = node.alive() ? (node.listeningAt === undefined ? 'running, not listening' : 'listening') : `exited ${node.proc.exitCode ?? node.proc.signalCode}`;
  return `${node.name} (port ${node.port}, ${state}): stderr tail ${JSON.stringify(node.stderr().slice(-1500))}`;
}

/** SIGKILLs a node still running (afterAll): never leaves a process behind. */
export async function killNode(node: ClusterNode): Promise<void> {
  if (node.alive()) node.proc.kill('SIGKILL');
  await node.exited;
}
