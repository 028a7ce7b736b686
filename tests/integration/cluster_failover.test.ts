/**
 * Writer failover of a shared store, with real processes only: several `emms serve` nodes on
 * one test-owned PostgreSQL (or Redis), exactly one of them the writer (src/cluster/
 * writer_lease.ts), the others standbys that forward to it (src/server/standby/). Clients write
 * to every node in turn; the writer is SIGKILLed mid-stream; a standby must take the lease, replay the
 * write-ahead records from the database and serve, and every acknowledged point must be
 * readable from it with its exact value, with nothing that was never sent. Also on PostgreSQL:
 * a writer whose lease session the server ends (pg_terminate_backend) exits 1 and is replaced,
 * and a hung writer (SIGSTOP) is replaced once PostgreSQL ends its silent lease session
 * (idle_session_timeout, 5 s); resumed, it must exit 1, and anything it still acknowledges must
 * be in the store its successor serves.
 *
 * Clients use one JWT for every node (cluster_failover_auth.ts) and write to tenant `failover`
 * over HTTP and WebSocket, pausing after a standby's 503 (cluster_forwarding_clients.ts).
 *
 * Handover bounds asserted (kill → first acknowledgement by the new writer, measured on a
 * shared 2-core machine, so generous): PostgreSQL 15 s (the advisory lock is freed when the
 * session's socket closes, a standby retries every 1 s, then replays and starts serving);
 * Redis 20 s (the lease key outlives its holder by its 5 s ttl, plus the 1 s retry). The
 * measured figures are printed for the closing note.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { tempDir } from './server_harness.js';
import { startPostgres, type PostgresInstance } from './postgres_instance.js';
import { startRedis, type RedisInstance } from './redis_instance.js';
import { describeNode, freePorts, killNode, spawnNode, waitFor, type ClusterNode } from './cluster_failover_node.js';
import { ackCount, differencesOn, firstAckBy, type FailoverWriterClient } from './cluster_failover_writer.js';
import { RetryingHttpWriter, RetryingStreamWriter } from './cluster_forwarding_clients.js';
import { clusterCredentials, type ClusterCredentials } from './cluster_failover_auth.js';
import { advisoryLockKey } from '../../src/cluster/postgres_lease.js';

/** HTTP clients (one batch in flight each) and WebSocket clients (a window of frames each). */
const HTTP_CLIENTS = 2;
const STREAM_CLIENTS = 2;
const POINTS_PER_BATCH = 500;
const STREAM_WINDOW = 8;
/** Acknowledged batches per client by a writer before it is killed (or the phase checked). */
const ACKS_PER_PHASE = 5;
const START_TIMEOUT_MS = 90_000;
/** Kill → first acknowledgement by the new writer (see the file comment). */
const PG_BOUND_MS = 15_000;
const REDIS_BOUND_MS = 20_000;
/** A SIGSTOPped PostgreSQL writer: idle_session_timeout 5 s after its last confirmation (sent every 1 s), then retry and start. */
const PG_HUNG_EARLIEST_MS = 4_000;
const PG_HUNG_BOUND_MS = 20_000;
/** A SIGKILLed Redis writer's key lives 5 s after its last renewal (every ttl / 3 = 1.67 s): no takeover before ~3.3 s. */
const REDIS_EARLIEST_MS = 3_000;
/** Each client's own stretch of millisecond timestamps, within the last day (inside retention). */
const T0 = Math.floor((Date.now() - 3_600_000) / 1000) * 1000;
const clientStart = (c: number): number => T0 - (c + 1) * 10_000_000;
const EARLIEST_TS = clientStart(HTTP_CLIENTS + STREAM_CLIENTS - 1);

/** Every client writes to every node in turn; `label` keeps their series apart from other tests'. */
function makeClients(label: string, nodes: ClusterNode[]): FailoverWriterClient[] {
  return [
    ...Array.from({ length: HTTP_CLIENTS }, (_, c) => new RetryingHttpWriter(`${label}-http${c}`, () => nodes, clientStart(c), POINTS_PER_BATCH)),
    ...Array.from({ length: STREAM_CLIENTS }, (_, c) => new RetryingStreamWriter(`${label}-ws${c}`, () => nodes, clientStart(HTTP_CLIENTS + c), POINTS_PER_BATCH, STREAM_WINDOW)),
  ];
}

const cleanups: Array<() => Promise<void> | void> = [];
let credentials: ClusterCredentials;
beforeAll(async () => {
  const { dir, remove } = tempDir('emms-failover-idp-');
  cleanups.push(remove);
  credentials = await clusterCredentials(dir, 'failover');
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
}, 120_000);

interface Handover {
  killedNode: string;
  newWriter: string;
  /** Kill → the new writer printed `listening on`, ms. */
  listeningMs: number;
  /** Kill → its first acknowledgement, ms. */
  firstAckMs: number;
}

/** Spawns `count` nodes on the store of `env`; resolves with the one that became the writer once the others are standbys. */
async function startCluster(label: string, env: Record<string, string>, count: number): Promise<{ nodes: ClusterNode[]; writer: ClusterNode }> {
  const ports = await freePorts(count);
  const nodes = ports.map((port, i) => {
    const { dir, remove } = tempDir(`emms-failover-${label}-${i}-`);
    const node = spawnNode(`${label}-${String.fromCharCode(97 + i)}`, port, dir, credentials.configPath, env, credentials.auth);
    cleanups.push(async () => {
      await killNode(node);
      remove();
    });
    return node;
  });
  const describeAll = (): string => nodes.map(describeNode).join('\n');
  await waitFor(`one ${label} node listening:\n${describeAll()}`, () => nodes.some((n) => n.listeningAt !== undefined) || nodes.every((n) => !n.alive()), START_TIMEOUT_MS, 50);
  const writers = nodes.filter((n) => n.listeningAt !== undefined);
  expect(writers, describeAll()).toHaveLength(1);
  const writer = writers[0]!;
  const standbys = nodes.filter((n) => n !== writer);
  await waitFor(`the other ${label} nodes to log standby:\n${describeAll()}`, () => standbys.every((n) => n.stderr().includes('standby:')) || standbys.some((n) => !n.alive()), START_TIMEOUT_MS, 50);
  for (const n of standbys) {
    expect(n.alive(), describeNode(n)).toBe(true);
    expect(n.listeningAt, describeNode(n)).toBeUndefined();
    await expectStandby(n);
  }
  return { nodes, writer };
}

/**
 * A standby answers its own /health as one (it forwards everything else to the writer). Its
 * watch of the writer runs every 500 ms, so right after start-up or a take-over it may still
 * answer 503 (no reachable writer yet): waited for, not sampled once.
 */
async function expectStandby(node: ClusterNode): Promise<void> {
  await waitFor(`${node.name} to answer /health as a standby with a reachable writer:\n${describeNode(node)}`, async () => {
    const health = await fetch(`${node.base}/health`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
    if (health === undefined) return false;
    const body = (await health.json()) as { role?: string };
    return health.status === 200 && body.role === 'standby';
  }, 20_000, 100);
}

/** The node holds every acknowledged point with its value and nothing never sent; prints the tally. */
async function expectExactlyAcked(node: ClusterNode, clients: FailoverWriterClient[], nodes: ClusterNode[]): Promise<void> {
  const { problems, storedPoints } = await differencesOn(node, clients, EARLIEST_TS);
  expect(problems, describeNode(node)).toEqual([]);
  const acked = clients.reduce((n, c) => n + c.acked.size, 0);
  const sent = clients.reduce((n, c) => n + c.sent.size, 0);
  const byNode = Object.fromEntries(nodes.map((n) => [n.name, ackCount(clients, n.name)]));
  console.log(`failover: ${node.name} holds ${storedPoints} points: ${acked} acknowledged, ${sent} sent; acknowledged batches by node ${JSON.stringify(byNode)}`);
}

/**
 * Every client had ACKS_PER_PHASE more batches acknowledged while `writer` holds the lease:
 * directly or through a standby, which forwards to it (a stream opened on a standby stays
 * there), so the acknowledgements are the writer's either way.
 */
async function waitForAcks(clients: FailoverWriterClient[], writer: ClusterNode, nodes: ClusterNode[]): Promise<void> {
  const baseline = clients.map((c) => c.acks.length);
  await waitFor(
    `${ACKS_PER_PHASE} acknowledged batches per client while ${writer.name} writes:\n${nodes.map(describeNode).join('\n')}\nclient failures: ${clients.flatMap((c) => c.failures.slice(-3)).join('; ')}`,
    () => clients.every((c, i) => c.acks.length >= baseline[i]! + ACKS_PER_PHASE),
    60_000,
  );
}

/**
 * SIGKILLs the writer while the clients stream, waits for a standby to serve, checks that the
 * other standbys still answer as standbys, and returns the measured handover.
 */
async function killWriter(writer: ClusterNode, nodes: ClusterNode[], clients: FailoverWriterClient[], boundMs: number): Promise<{ next: ClusterNode; handover: Handover }> {
  const killedAt = performance.now();
  writer.proc.kill('SIGKILL');
  expect(await writer.exited).toBe('SIGKILL');
  const candidates = nodes.filter((n) => n.alive());
  const describeAll = (): string => nodes.map(describeNode).join('\n');
  await waitFor(`a standby to take over from ${writer.name}:\n${describeAll()}`, () => candidates.some((n) => n.listeningAt !== undefined) || candidates.every((n) => !n.alive()), boundMs + 30_000, 20);
  const next = candidates.find((n) => n.listeningAt !== undefined)!;
  expect(next, describeAll()).toBeDefined();
  await waitFor(`the first acknowledgement by ${next.name}:\n${describeAll()}`, () => firstAckBy(clients, next.name, killedAt) !== undefined, 30_000, 10);
  const handover: Handover = {
    killedNode: writer.name,
    newWriter: next.name,
    listeningMs: Math.round(next.listeningAt! - killedAt),
    firstAckMs: Math.round(firstAckBy(clients, next.name, killedAt)! - killedAt),
  };
  console.log(`failover: ${JSON.stringify(handover)}`);
  expect(handover.firstAckMs, describeAll()).toBeLessThanOrEqual(boundMs);
  for (const n of candidates.filter((c) => c !== next)) {
    expect(n.listeningAt, describeNode(n)).toBeUndefined();
    await expectStandby(n);
  }
  return { next, handover };
}

interface FailoverRun {
  nodes: ClusterNode[];
  clients: FailoverWriterClient[];
  /** The one node left, the writer, clients stopped. */
  writer: ClusterNode;
  handovers: Handover[];
}

/**
 * The scenario on one store: `count` nodes, one writer; kill writers one after another until
 * one is left, checking after each takeover that the new writer holds exactly what was
 * acknowledged (every phase so far).
 */
async function failoverScenario(label: string, env: Record<string, string>, count: number, boundMs: number): Promise<FailoverRun> {
  const { nodes, writer: first } = await startCluster(label, env, count);
  const clients = makeClients(label, nodes);
  cleanups.push(() => Promise.all(clients.map((c) => c.stop())).then(() => undefined));
  for (const c of clients) c.start();
  await waitForAcks(clients, first, nodes);
  const handovers: Handover[] = [];
  let writer = first;
  while (nodes.filter((n) => n.alive()).length > 1) {
    const { next, handover } = await killWriter(writer, nodes, clients, boundMs);
    handovers.push(handover);
    await waitForAcks(clients, next, nodes);
    await Promise.all(clients.map((c) => c.stop()));
    await expectExactlyAcked(next, clients, nodes);
    writer = next;
    if (nodes.filter((n) => n.alive()).length > 1) for (const c of clients) c.start();
  }
  return { nodes, clients, writer, handovers };
}

/** SIGTERM of the last node: a clean stop, exit 0. */
async function stopCleanly(node: ClusterNode): Promise<void> {
  node.proc.kill('SIGTERM');
  expect(await node.exited, describeNode(node)).toBe(0);
}

/** The backend pid of the session holding the writer lease's advisory lock (src/cluster/postgres_lease.ts). */
/** Sessions holding the writer lock of `schema` (other tests' clusters in this database hold their own). */
async function writerLeaseSession(url: string, schema: string): Promise<number[]> {
  const key = BigInt.asUintN(64, advisoryLockKey(schema, 'writer'));
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const r = await client.query<{ pid: number }>(
      "SELECT l.pid FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1::bigint AND l.objid::bigint = $2::bigint AND l.objsubid = 1",
      [String(key >> 32n), String(key & 0xffffffffn)],
    );
    return r.rows.map((row) => row.pid);
  } finally {
    await client.end();
  }
}

async function terminateBackend(url: string, pid: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SELECT pg_terminate_backend($1)', [pid]);
  } finally {
    await client.end();
  }
}

describe('writer failover on PostgreSQL', () => {
  let pg: PostgresInstance;
  beforeAll(async () => {
    pg = await startPostgres();
    cleanups.push(() => pg.stop());
  }, 120_000);

  it('three nodes, one writer: SIGKILLed writers are replaced twice, nothing acknowledged lost', async () => {
    const env = { METRICS_STORAGE_TYPE: 'postgresql', METRICS_POSTGRES_URL: pg.url, METRICS_POSTGRES_SCHEMA: 'failover_pg' };
    const run = await failoverScenario('pg', env, 3, PG_BOUND_MS);
    expect(run.handovers).toHaveLength(2);
    await stopCleanly(run.writer);
  }, 300_000);

  it('a writer whose lease session is terminated exits 1 and a standby takes over, nothing acknowledged lost', async () => {
    const env = { METRICS_STORAGE_TYPE: 'postgresql', METRICS_POSTGRES_URL: pg.url, METRICS_POSTGRES_SCHEMA: 'failover_lost' };
    const { nodes, writer } = await startCluster('lost', env, 2);
    const standby = nodes.find((n) => n !== writer)!;
    const clients = makeClients('lost', nodes);
    cleanups.push(() => Promise.all(clients.map((c) => c.stop())).then(() => undefined));
    for (const c of clients) c.start();
    await waitForAcks(clients, writer, nodes);
    const holders = await writerLeaseSession(pg.url, env.METRICS_POSTGRES_SCHEMA);
    expect(holders, 'exactly one session holds the writer lock').toHaveLength(1);
    const cutAt = performance.now();
    await terminateBackend(pg.url, holders[0]!);
    // It must notice on its own (the session's socket closes), stop writing and exit 1.
    expect(await writer.exited, describeNode(writer)).toBe(1);
    const exitMs = Math.round(writer.exitedAt! - cutAt);
    expect(writer.stderr()).toContain('writer lease lost');
    await waitFor(`${standby.name} to take over:\n${nodes.map(describeNode).join('\n')}`, () => standby.listeningAt !== undefined || !standby.alive(), PG_BOUND_MS + 30_000, 20);
    await waitFor(`the first acknowledgement by ${standby.name}`, () => firstAckBy(clients, standby.name, cutAt) !== undefined, 30_000, 10);
    const firstAckMs = Math.round(firstAckBy(clients, standby.name, cutAt)! - cutAt);
    console.log(`failover: lease session terminated: ${JSON.stringify({ oldWriterExitMs: exitMs, newWriter: standby.name, listeningMs: Math.round(standby.listeningAt! - cutAt), firstAckMs })}`);
    expect(firstAckMs).toBeLessThanOrEqual(PG_BOUND_MS);
    await waitForAcks(clients, standby, nodes);
    await Promise.all(clients.map((c) => c.stop()));
    await expectExactlyAcked(standby, clients, nodes);
    await stopCleanly(standby);
  }, 240_000);

  it('a hung writer (SIGSTOP) is replaced after the idle-session bound; resumed, it exits 1 and nothing it acknowledged is lost', async () => {
    const env = { METRICS_STORAGE_TYPE: 'postgresql', METRICS_POSTGRES_URL: pg.url, METRICS_POSTGRES_SCHEMA: 'failover_hung' };
    const { nodes, writer } = await startCluster('hung', env, 2);
    const standby = nodes.find((n) => n !== writer)!;
    const clients = makeClients('hung', nodes);
    cleanups.push(() => Promise.all(clients.map((c) => c.stop())).then(() => undefined));
    for (const c of clients) c.start();
    await waitForAcks(clients, writer, nodes);
    const stoppedAt = performance.now();
    writer.proc.kill('SIGSTOP');
    // Its lease session goes silent: PostgreSQL ends it after idle_session_timeout (5 s), then the standby takes the lock.
    await waitFor(`${standby.name} to take over from the stopped ${writer.name}:\n${nodes.map(describeNode).join('\n')}`, () => standby.listeningAt !== undefined || !standby.alive(), 60_000, 20);
    const resumedAt = performance.now();
    // Resumed while clients still wait on it with batches it received before the stop: whatever it
    // acknowledges now must be in the store the new writer serves.
    writer.proc.kill('SIGCONT');
    expect(await writer.exited, describeNode(writer)).toBe(1);
    const lateAcks = clients.reduce((n, c) => n + c.acks.filter((a) => a.node === writer.name && a.at > resumedAt).length, 0);
    const listeningMs = Math.round(standby.listeningAt! - stoppedAt);
    console.log(`failover: hung writer: ${JSON.stringify({ newWriter: standby.name, listeningMs, oldWriterExitAfterResumeMs: Math.round(writer.exitedAt! - resumedAt), acksByOldWriterAfterResume: lateAcks })}`);
    // Not before PostgreSQL can have ended the silent session: its last statement was at most one
    // confirmation interval (1 s) before the stop.
    expect(listeningMs).toBeGreaterThanOrEqual(PG_HUNG_EARLIEST_MS);
    expect(listeningMs).toBeLessThanOrEqual(PG_HUNG_BOUND_MS);
    await waitForAcks(clients, standby, nodes);
    await Promise.all(clients.map((c) => c.stop()));
    await expectExactlyAcked(standby, clients, nodes);
    await stopCleanly(standby);
  }, 240_000);
});

describe('writer failover on Redis'
, () => {
  let redis: RedisInstance;
  beforeAll(async () => {
    redis = await startRedis();
    cleanups.push(() => redis.stop());
  }, 60_000);

  it('two nodes, one writer: the SIGKILLed writer is replaced after the lease ttl, nothing acknowledged lost', async () => {
    const env = { METRICS_STORAGE_TYPE: 'redis', METRICS_REDIS_URL: redis.url, METRICS_REDIS_PREFIX: 'failover:' };
    const run = await failoverScenario('redis', env, 2, REDIS_BOUND_MS);
    expect(run.handovers).toHaveLength(1);
    // The standby waited for the dead writer's key to expire: the lease was never held twice.
    expect(run.handovers[0]!.listeningMs).toBeGreaterThanOrEqual(REDIS_EARLIEST_MS);
    await stopCleanly(run.writer);
  }, 240_000);
});
