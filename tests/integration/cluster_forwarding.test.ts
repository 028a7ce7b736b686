/**
 * Every node of a cluster accepts writes and queries (issue 15): standbys listen while they
 * wait for the writer lease and forward to the writer (src/server/standby/standby_forwarder.ts).
 * Real processes only: three `emms serve` nodes on one test-owned PostgreSQL, one JWT for all
 * (cluster_failover_auth.ts), HTTP and WebSocket clients writing to ALL THREE nodes in turn;
 * the writer is SIGKILLed mid-stream, clients retry elsewhere (503 / close 1012 from a standby
 * whose writer is gone), and afterwards every acknowledged point is readable, with its value,
 * from EACH survivor (the standby's query is forwarded to the new writer).
 *
 * Also: a standby's /health (role, and the writer with credentials) and readiness, a forwarded
 * error keeps the writer's status and body, an oversized body is refused by the standby itself
 * (no `Via` of the forwarder, the standby's own limit named), a dashboard live socket relayed by
 * a standby gets the writer's pushes, and, on Redis, the same forwarding (also to a writer that
 * serves TLS, which the standby verifies against the CA it is given)
 * of an ingest and a query through the lease key's published address.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsClient } from '../../bench/load/ws_client.js';
import { tempDir } from './server_harness.js';
import { startPostgres, type PostgresInstance } from './postgres_instance.js';
import { startRedis, type RedisInstance } from './redis_instance.js';
import { describeNode, freePorts, killNode, spawnNode, waitFor, type ClusterNode } from './cluster_failover_node.js';
import { ackCount, differencesOn, type FailoverWriterClient } from './cluster_failover_writer.js';
import { RetryingHttpWriter, RetryingStreamWriter } from './cluster_forwarding_clients.js';
import { clusterCredentials, type ClusterCredentials } from './cluster_failover_auth.js';

const POINTS_PER_BATCH = 200;
const STREAM_WINDOW = 4;
/** Acknowledged batches each node must have answered (forwarded or its own) before the kill and after it. */
const ACKS_PER_NODE = 3;
const START_TIMEOUT_MS = 120_000;
/** collector.max_body_bytes of every node: the oversized-body case sends twice this. */
const MAX_BODY_BYTES = 1024 * 1024;
const T0 = Math.floor((Date.now() - 3_600_000) / 1000) * 1000;
const clientStart = (c: number): number => T0 - (c + 1) * 10_000_000;
const EARLIEST_TS = clientStart(3);

/**
 * Info logs: the take-over's port gap is read from them. Decoding stays in the worker (the
 * default): on the main thread the start-up warm-up blocked the event loop for 6 s on this
 * machine, past the lease's 5 s bound, and the new writer lost its lease.
 */
const NODE_ENV = { LOG_LEVEL: 'info' };

const cleanups: Array<() => Promise<void> | void> = [];
let credentials: ClusterCredentials;
let configPath: string;
beforeAll(async () => {
  const { dir, remove } = tempDir('emms-forwarding-idp-');
  cleanups.push(remove);
  credentials = await clusterCredentials(dir, 'forwarding');
  // The cluster's main.json plus a small body limit, so the oversized case stays cheap.
  const config = JSON.parse(readFileSync(credentials.configPath, 'utf8')) as Record<string, unknown>;
  configPath = join(dir, 'main-forwarding.json');
  writeFileSync(configPath, JSON.stringify({ ...config, collector: { max_body_bytes: MAX_BODY_BYTES } }));
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
}, 120_000);

async function readiness(node: ClusterNode): Promise<number> {
  try {
    const r = await fetch(`${node.base}/health/ready`, { signal: AbortSignal.timeout(2_000) });
    await r.body?.cancel();
    return r.status;
  } catch {
    return 0;
  }
}

/**
 * Spawns the first node and, once it writes, the `count - 1` others; resolves once each of
 * those forwards to it (ready). One after the other: three processes loading the TypeScript
 * tree at once on 2 shared cores took over a minute to log their first line.
 */
async function startCluster(label: string, env: Record<string, string>, count: number, stops: Array<() => Promise<void>>): Promise<{ nodes: ClusterNode[]; writer: ClusterNode }> {
  const ports = await freePorts(count);
  const spawnAt = (i: number): ClusterNode => {
    const { dir, remove } = tempDir(`emms-forwarding-${label}-${i}-`);
    const node = spawnNode(`${label}-${String.fromCharCode(97 + i)}`, ports[i]!, dir, configPath, { ...env, ...NODE_ENV }, credentials.auth);
    stops.push(async () => {
      await killNode(node);
      remove();
    });
    return node;
  };
  const writer = spawnAt(0);
  await waitFor(`${writer.name} writing:\n${describeNode(writer)}`, () => writer.listeningAt !== undefined || !writer.alive(), START_TIMEOUT_MS, 50);
  const nodes = [writer, ...Array.from({ length: count - 1 }, (_, i) => spawnAt(i + 1))];
  const describeAll = (): string => nodes.map(describeNode).join('\n');
  for (const n of nodes) {
    await waitFor(`${n.name} ready:\n${describeAll()}`, async () => (await readiness(n)) === 200 || !n.alive(), START_TIMEOUT_MS, 50);
    expect(n.alive(), describeNode(n)).toBe(true);
  }
  return { nodes, writer };
}

function ingestBody(label: string, points: number, startTs: number): string {
  return JSON.stringify({ metrics: Array.from({ length: points }, (_, i) => ({ metric_id: `forwarding.${label}`, value: i, timestamp: startTs + i })) });
}

describe('standbys forward to the writer (PostgreSQL)', () => {
  let pg: PostgresInstance;
  let nodes: ClusterNode[];
  let writer: ClusterNode;
  let standbys: ClusterNode[];
  // Stopped when this block ends, so that nothing of it competes for the CPU with the next one.
  const stops: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    pg = await startPostgres();
    stops.push(() => pg.stop());
    const env = { METRICS_STORAGE_TYPE: 'postgresql', METRICS_POSTGRES_URL: pg.url, METRICS_POSTGRES_SCHEMA: 'forwarding_pg' };
    ({ nodes, writer } = await startCluster('pg', env, 3, stops));
    standbys = nodes.filter((n) => n !== writer);
    // Exactly one writer: the standbys print no `listening on` line (their forwarder logs on stderr).
    for (const s of standbys) expect(s.listeningAt, describeNode(s)).toBeUndefined();
  }, 300_000);
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
  }, 60_000);

  it('a standby answers /health as a standby, naming its writer only to a caller with credentials', async () => {
    for (const s of standbys) {
      const open = await fetch(`${s.base}/health`);
      expect(open.status).toBe(200);
      expect(await open.json()).toEqual({ status: 'ok', role: 'standby' });
      const detailed = await fetch(`${s.base}/health`, { headers: credentials.auth });
      const body = (await detailed.json()) as { role: string; components: { writer: { address: string; reachable: boolean } } };
      expect(body.role).toBe('standby');
      expect(body.components.writer).toMatchObject({ address: writer.base, reachable: true });
      expect((await fetch(`${s.base}/health/live`)).status).toBe(200);
    }
    // The writer's own /health is the full one, without a standby role.
    const own = (await (await fetch(`${writer.base}/health`)).json()) as Record<string, unknown>;
    expect(own.role).toBeUndefined();
  });

  it('a forwarded error keeps the writer\'s status and body; a forwarded success its answer', async () => {
    const standby = standbys[0]!;
    const bad = JSON.stringify({ metrics: [{ metric_id: 'forwarding.bad', value: 'not a number', timestamp: T0 }] });
    const post = (node: ClusterNode, body: string, headers: Record<string, string>) => fetch(`${node.base}/api/v1/metrics`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
    const direct = await post(writer, bad, credentials.auth);
    const forwarded = await post(standby, bad, credentials.auth);
    expect(direct.status).toBeGreaterThanOrEqual(400);
    expect(forwarded.status).toBe(direct.status);
    expect(forwarded.headers.get('via')).toBe('1.1 emms-standby');
    expect(await forwarded.json()).toEqual(await direct.json());
    // Authentication is the writer's: no credentials, the writer's 401 comes back as it is.
    const unauthDirect = await post(writer, ingestBody('unauth', 1, T0), {});
    const unauthForwarded = await post(standby, ingestBody('unauth', 1, T0), {});
    expect(unauthForwarded.status).toBe(401);
    expect(await unauthForwarded.json()).toEqual(await unauthDirect.json());
    const ok = await post(standby, ingestBody('ok', 10, T0), credentials.auth);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ accepted: 10 });
  });

  it('an oversized body is refused by the standby itself, nothing forwarded', async () => {
    const standby = standbys[1]!;
    const body = Buffer.alloc(2 * MAX_BODY_BYTES, 0x20);
    const r = await fetch(`${standby.base}/api/v1/metrics`, { method: 'POST', headers: { ...credentials.auth, 'content-type': 'application/json' }, body });
    expect(r.status).toBe(413);
    expect(r.headers.get('via')).toBeNull();
    expect(((await r.json()) as { error: string }).error).toContain(`collector.max_body_bytes=${MAX_BODY_BYTES}`);
  });

  it('a dashboard live socket opened on a standby receives points written through the other standby', async () => {
    const [viewer, sender] = standbys as [ClusterNode, ClusterNode];
    const live = await WsClient.open(`${viewer.base.replace('http', 'ws')}/api/v1/live`, { headers: credentials.auth });
    const pushes: Array<{ id: string; points: Array<{ metric_id: string; t: number; v: number }> }> = [];
    live.onMessage = ({ data }) => pushes.push(JSON.parse(data.toString('utf8')));
    try {
      live.sendText(JSON.stringify({ subscribe: { id: 'standby-live', metric_pattern: 'forwarding.live' } }));
      // Written after the subscription reached the writer's hub: the push must carry this point.
      await waitFor('a live push of forwarding.live through the standby', async () => {
        const post = await fetch(`${sender.base}/api/v1/metrics`, { method: 'POST', headers: { ...credentials.auth, 'content-type': 'application/json' }, body: ingestBody('live', 1, T0 + pushes.length) });
        expect(post.status).toBe(200);
        return pushes.some((m) => m.id === 'standby-live' && m.points.some((p) => p.metric_id === 'forwarding.live'));
      }, 30_000, 500);
      expect(live.closed).toBe(false);
    } finally {
      live.close();
    }
  });

  it('clients write to all three nodes; the writer is SIGKILLed mid-stream; every acknowledged point is readable from each survivor', async () => {
    const all = (): ClusterNode[] => nodes.filter((n) => n.alive());
    const clients: FailoverWriterClient[] = [
      new RetryingHttpWriter('fw-http0', all, clientStart(0), POINTS_PER_BATCH),
      new RetryingHttpWriter('fw-http1', all, clientStart(1), POINTS_PER_BATCH),
      new RetryingStreamWriter('fw-ws0', all, clientStart(2), POINTS_PER_BATCH, STREAM_WINDOW),
      new RetryingStreamWriter('fw-ws1', all, clientStart(3), POINTS_PER_BATCH, STREAM_WINDOW),
    ];
    const acksSince = (node: ClusterNode, since: number): number => clients.reduce((n, c) => n + c.acks.filter((a) => a.node === node.name && a.at > since).length, 0);
    const failures = (since: number): string => `acknowledgements since by node ${JSON.stringify(Object.fromEntries(nodes.map((n) => [n.name, acksSince(n, since)])))}; `
      + `last failures: ${clients.flatMap((c) => c.failures.slice(-3)).join('; ')}`;
    for (const c of clients) c.start();
    try {
      await writeThroughFailover(clients, acksSince, failures);
    } finally {
      await Promise.all(clients.map((c) => c.stop()));
    }
  }, 240_000);

  async function writeThroughFailover(clients: FailoverWriterClient[], acksSince: (node: ClusterNode, since: number) => number, failures: (since: number) => string): Promise<void> {
    // Every node acknowledges, the standbys through the writer.
    await waitFor(`${ACKS_PER_NODE} acknowledgements by each node:\n${nodes.map(describeNode).join('\n')}\n${failures(0)}`, () => nodes.every((n) => acksSince(n, 0) >= ACKS_PER_NODE), 60_000);

    const killedAt = performance.now();
    writer.proc.kill('SIGKILL');
    await writer.exited;
    const survivors = nodes.filter((n) => n !== writer);
    await waitFor(`a standby to take over:\n${survivors.map(describeNode).join('\n')}`, () => survivors.some((n) => n.listeningAt !== undefined) || survivors.every((n) => !n.alive()), 60_000, 20);
    const next = survivors.find((n) => n.listeningAt !== undefined)!;
    const standby = survivors.find((n) => n !== next)!;
    // Both survivors acknowledge again: the new writer its own, the standby through it.
    await waitFor(`acknowledgements by ${next.name} and ${standby.name} after the kill:\n${survivors.map(describeNode).join('\n')}\n${failures(killedAt)}`,
      () => acksSince(next, killedAt) >= ACKS_PER_NODE && acksSince(standby, killedAt) >= ACKS_PER_NODE, 90_000);
    await Promise.all(clients.map((c) => c.stop()));
    const firstAckAfter = (node: ClusterNode): number => Math.round(Math.min(...clients.flatMap((c) => c.acks.filter((a) => a.node === node.name && a.at > killedAt).map((a) => a.at))) - killedAt);
    const handover = /the port was without a listener for (\d+) ms/.exec(next.stderr());
    console.log(`forwarding: ${JSON.stringify({
      newWriter: next.name, listeningMs: Math.round(next.listeningAt! - killedAt), firstAckByNewWriterMs: firstAckAfter(next), firstAckThroughStandbyMs: firstAckAfter(standby),
      portWithoutListenerMs: handover === null ? null : Number(handover[1]), acksByNode: Object.fromEntries(nodes.map((n) => [n.name, ackCount(clients, n.name)])),
    })}`);
    expect(handover, describeNode(next)).not.toBeNull();

    // The standby forwards to the new writer: its /health names it.
    await waitFor(`${standby.name} forwarding to ${next.name}`, async () => {
      const r = await fetch(`${standby.base}/health`, { headers: credentials.auth });
      const body = (await r.json()) as { components?: { writer?: { address?: string } } };
      return body.components?.writer?.address === next.base;
    }, 30_000, 50);
    for (const node of survivors) {
      const { problems, storedPoints } = await differencesOn(node, clients, EARLIEST_TS);
      expect(problems, describeNode(node)).toEqual([]);
      const acked = clients.reduce((n, c) => n + c.acked.size, 0);
      expect(storedPoints).toBeGreaterThanOrEqual(acked);
    }
    // No client saw a stream acknowledgement that was refused, or an answer the clients could not read.
    for (const c of clients) expect(c.acked.size, `${c.client}: ${c.failures.slice(-3).join('; ')}`).toBeGreaterThan(0);
    // Secrets stay out of the logs: no node wrote the token anywhere.
    const token = credentials.auth.authorization!.slice('Bearer '.length);
    for (const n of nodes) expect(n.stderr().includes(token) || n.stdout().includes(token), n.name).toBe(false);
  }
});

describe('standbys forward to the writer (Redis)', () => {
  let redis: RedisInstance;
  const stops: Array<() => Promise<void>> = [];
  beforeAll(async () => {
    redis = await startRedis();
    stops.push(() => redis.stop());
  }, 60_000);
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
  }, 60_000);

  it('a standby forwards an ingest and a query to the writer the lease key names', async () => {
    const env = { METRICS_STORAGE_TYPE: 'redis', METRICS_REDIS_URL: redis.url, METRICS_REDIS_PREFIX: 'forwarding:' };
    const { nodes, writer } = await startCluster('redis', env, 2, stops);
    expect(nodes.filter((n) => n.listeningAt !== undefined), nodes.map(describeNode).join('\n')).toEqual([writer]);
    const standby = nodes.find((n) => n !== writer)!;
    const post = await fetch(`${standby.base}/api/v1/metrics`, {
      method: 'POST', headers: { ...credentials.auth, 'content-type': 'application/json' }, body: ingestBody('redis', 50, T0),
    });
    expect(post.status).toBe(200);
    expect(await post.json()).toMatchObject({ accepted: 50 });
    for (const node of [standby, writer]) {
      const params = new URLSearchParams({ metric_pattern: 'forwarding.redis', start_time: String(T0 - 1), end_time: String(T0 + 1000) });
      const r = await fetch(`${node.base}/api/v1/query?${params}`, { headers: credentials.auth });
      expect(r.status, node.name).toBe(200);
      const body = (await r.json()) as { series: Array<{ points: Array<[number, number]> }> };
      expect(body.series.flatMap((s) => s.points)).toEqual(Array.from({ length: 50 }, (_, i) => [T0 + i, i]));
    }
  }, 300_000);

  /** One HTTPS exchange trusting only `ca` (the test process has no NODE_EXTRA_CA_CERTS). */
  const tlsFetch = (url: string, ca: string, init: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = httpsRequest(url, { method: init.method ?? 'GET', headers: init.headers, ca, timeout: 10_000 }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`no answer from ${url} in 10 s`)));
      req.end(init.body);
    });

  it('a standby forwards an ingest and a query over HTTPS, verifying the writer against the CA it trusts', async () => {
    const { dir, remove } = tempDir('emms-forwarding-tls-');
    stops.push(async () => remove());
    const cert = join(dir, 'node.crt');
    const key = join(dir, 'node.key');
    // Self-signed, so the certificate is its own CA; every node serves it for 127.0.0.1.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-days', '1', '-subj', '/CN=emms-node',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert, '-noenc'], { stdio: 'ignore' });
    const ca = readFileSync(cert, 'utf8');
    const tlsConfig = join(dir, 'main-tls.json');
    const base = JSON.parse(readFileSync(configPath, 'utf8')) as { security: Record<string, unknown> };
    writeFileSync(tlsConfig, JSON.stringify({ ...base, security: { ...base.security, tls: { cert_file: cert, key_file: key } } }));
    const env = { METRICS_STORAGE_TYPE: 'redis', METRICS_REDIS_URL: redis.url, METRICS_REDIS_PREFIX: 'forwarding-tls:', NODE_EXTRA_CA_CERTS: cert, ...NODE_ENV };
    const [writerPort, standbyPort] = await freePorts(2) as [number, number];
    const spawnTls = (name: string, port: number): ClusterNode => {
      const data = tempDir(`emms-forwarding-tls-${name}-`);
      const node = spawnNode(name, port, data.dir, tlsConfig, env, credentials.auth);
      stops.push(async () => {
        await killNode(node);
        data.remove();
      });
      return node;
    };
    const writer = spawnTls('tls-a', writerPort);
    await waitFor(`tls-a writing:\n${describeNode(writer)}`, () => writer.listeningAt !== undefined || !writer.alive(), START_TIMEOUT_MS, 50);
    expect(writer.stdout(), describeNode(writer)).toContain(`https://`);
    const standby = spawnTls('tls-b', standbyPort);
    const standbyBase = `https://127.0.0.1:${standbyPort}`;
    await waitFor(`tls-b ready:\n${describeNode(standby)}`, async () => !standby.alive() || (await tlsFetch(`${standbyBase}/health/ready`, ca).catch(() => ({ status: 0 }))).status === 200, START_TIMEOUT_MS, 100);
    expect(standby.alive(), describeNode(standby)).toBe(true);

    const post = await tlsFetch(`${standbyBase}/api/v1/metrics`, ca, { method: 'POST', headers: { ...credentials.auth, 'content-type': 'application/json' }, body: ingestBody('tls', 20, T0) });
    expect(post.status, post.text).toBe(200);
    expect(JSON.parse(post.text)).toMatchObject({ accepted: 20 });
    const params = new URLSearchParams({ metric_pattern: 'forwarding.tls', start_time: String(T0 - 1), end_time: String(T0 + 1000) });
    const read = await tlsFetch(`${standbyBase}/api/v1/query?${params}`, ca, { headers: credentials.auth });
    expect(read.status, read.text).toBe(200);
    const body = JSON.parse(read.text) as { series: Array<{ points: Array<[number, number]> }> };
    expect(body.series.flatMap((s) => s.points)).toEqual(Array.from({ length: 20 }, (_, i) => [T0 + i, i]));
    // The standby named the writer by its https address, which it verified.
    const health = JSON.parse((await tlsFetch(`${standbyBase}/health`, ca, { headers: credentials.auth })).text) as { components: { writer: { address: string; reachable: boolean } } };
    expect(health.components.writer).toMatchObject({ address: `https://127.0.0.1:${writerPort}`, reachable: true });

    // A standby not given the CA refuses the writer's certificate: it forwards nothing, says why
    // in /health, and is not ready.
    const [untrustingPort] = await freePorts(1) as [number];
    const untrusting = spawnNode('tls-c', untrustingPort, tempDir('emms-forwarding-tls-c-').dir, tlsConfig, { ...env, NODE_EXTRA_CA_CERTS: '' }, credentials.auth);
    stops.push(() => killNode(untrusting));
    const untrustingBase = `https://127.0.0.1:${untrustingPort}`;
    let writerSeen: { reachable: boolean; problem?: string } | undefined;
    let lastAnswer = '';
    await waitFor(`tls-c answering:\n${describeNode(untrusting)}`, async () => {
      if (!untrusting.alive()) return true;
      const r = await tlsFetch(`${untrustingBase}/health`, ca, { headers: credentials.auth }).catch(() => undefined);
      lastAnswer = r === undefined ? 'no answer' : `${r.status} ${r.text}`;
      // 503: a standby whose writer is unreachable is unhealthy, and says why.
      writerSeen = r?.status === 503 ? (JSON.parse(r.text) as { components: { writer: { reachable: boolean; problem?: string } } }).components.writer : undefined;
      return writerSeen !== undefined && writerSeen.problem !== undefined;
    }, START_TIMEOUT_MS, 100).catch((e: Error) => {
      throw new Error(`${e.message}\nlast /health answer: ${lastAnswer}`);
    });
    expect(untrusting.alive(), describeNode(untrusting)).toBe(true);
    expect(writerSeen, JSON.stringify(writerSeen)).toMatchObject({ reachable: false, problem: expect.stringMatching(/presents a certificate this node does not trust \(DEPTH_ZERO_SELF_SIGNED_CERT\)/) });
    expect((await tlsFetch(`${untrustingBase}/health/ready`, ca)).status).toBe(503);
    const refused = await tlsFetch(`${untrustingBase}/api/v1/metrics`, ca, { method: 'POST', headers: { ...credentials.auth, 'content-type': 'application/json' }, body: ingestBody('tls-untrusted', 5, T0) });
    expect(refused.status).toBe(503);
  }, 300_000);
});
