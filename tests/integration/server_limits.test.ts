/**
 * The server holes of issue 12, each tried against a real `emms serve` process (authentication
 * on, the bootstrap operator's token): a pathological glob neither hangs the query nor delays
 * /health; a foreign Host (DNS rebinding) and a foreign Origin are refused; 200 connections
 * each declaring a 16 MiB body and sending none are answered 408 at the body deadline; a
 * slowloris header sender is cut off; frames over max_frame_bytes end their connection;
 * connection caps, 401/403/429 and the ingest quota answer as documented.
 */
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsClient } from '../../bench/load/ws_client.js';
import { packr, startServer, tempDir, unpackr, type ServerProcess } from './server_harness.js';

const cleanups: Array<() => void | Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function serve(prefix: string, mainJson: unknown): Promise<ServerProcess> {
  const { dir, remove } = tempDir(prefix);
  const config = join(dir, 'main.json');
  writeFileSync(config, JSON.stringify(mainJson));
  const server = await startServer(['--data', dir, '--config', config]);
  cleanups.push(remove, async () => {
    server.proc.kill('SIGTERM');
    await server.exited;
  });
  return server;
}

/** Resident memory of a process, from /proc. */
function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

/** A GET with any Host header (fetch will not send a foreign one). */
function get(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string; ms: number }> {
  const u = new URL(base);
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, ms: performance.now() - started }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw connection that records what it received and when the server closed it. */
function rawConnection(base: string, first: string): { socket: Socket; received: () => string; closedAt: () => number | undefined; openedAt: number } {
  const u = new URL(base);
  let received = '';
  let closedAt: number | undefined;
  const openedAt = performance.now();
  const socket = connect(Number(u.port), u.hostname, () => socket.write(first));
  socket.on('data', (d) => (received += d.toString()));
  socket.on('close', () => (closedAt = performance.now()));
  socket.on('error', () => undefined);
  return { socket, received: () => received, closedAt: () => closedAt, openedAt };
}

describe('one server, default limits but a short body deadline', () => {
  let server: ServerProcess;
  let slowloris: ReturnType<typeof rawConnection>;
  let slowTimer: ReturnType<typeof setInterval>;

  beforeAll(async () => {
    server = await serve('emms-limits-', { collector: { max_frame_bytes: 1024 * 1024 }, security: { limits: { body_timeout_ms: 1500 } } });
    // Slowloris, started first so its ~10 s run overlaps the other tests: request headers one
    // byte a second, never finished.
    const header = `GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(100)}`;
    slowloris = rawConnection(server.base, header[0]!);
    let sent = 1;
    slowTimer = setInterval(() => {
      if (slowloris.closedAt() === undefined && sent < header.length) slowloris.socket.write(header[sent++]!);
    }, 1000);
  });
  afterAll(() => clearInterval(slowTimer));

  it('matches a pathological glob in linear time: the query answers at once and /health is not held up', async () => {
    // Ids of long runs of `a` without a `b`: a backtracking regex for *a*a*a*a*a*a*a*b takes
    // ~C(n, 7) steps on each (the issue measured 27 s of blocked main thread).
    const metrics = Array.from({ length: 2000 }, (_, i) => ({ metric_id: `${'a'.repeat(200)}${i}`, value: i, timestamp: Date.UTC(2026, 0, 1) }));
    const ingest = await fetch(`${server.base}/api/v1/metrics`, { method: 'POST', headers: { ...server.auth, 'content-type': 'application/json' }, body: JSON.stringify({ metrics }) });
    expect(await ingest.json()).toEqual({ accepted: 2000 });
    const pattern = encodeURIComponent('*a*a*a*a*a*a*a*b');
    const host = { host: '127.0.0.1' };
    const [query, federate, health] = await Promise.all([
      get(server.base, `/api/v1/query?metric_pattern=${pattern}&start_time=0`, { ...host, ...server.auth }),
      get(server.base, `/federate?match=${pattern}`, { ...host, ...server.auth }),
      get(server.base, '/health', host),
    ]);
    expect(query.status).toBe(200);
    expect(JSON.parse(query.body).series).toEqual([]);
    expect(federate.status).toBe(200);
    expect(federate.body).toBe('');
    expect(health.status).toBe(200);
    // Generous bounds for a busy 2-core machine; the backtracking matcher took tens of seconds.
    expect(query.ms).toBeLessThan(3000);
    expect(health.ms).toBeLessThan(3000);
    const all = await get(server.base, `/api/v1/query?metric_pattern=${encodeURIComponent('*a*a*a*a*a*a*a*9')}&start_time=0`, { ...host, ...server.auth });
    expect(JSON.parse(all.body).series.length).toBeGreaterThan(100);
  });

  it('refuses a foreign Host on its loopback bind (DNS rebinding), on HTTP and on the stream', async () => {
    const refused = await get(server.base, '/api/v1/query?metric_pattern=x', { host: 'rebind.attacker.example:8080', ...server.auth });
    expect(refused.status).toBe(421);
    expect(JSON.parse(refused.body).error).toMatch(/security\.allowed_hosts/);
    expect((await get(server.base, '/health', { host: `localhost:${new URL(server.base).port}` })).status).toBe(200);
    await expect(WsClient.open(server.wsUrl, { headers: { ...server.auth, host: 'rebind.attacker.example' } })).rejects.toThrow(/421/);
  });

  it('refuses a WebSocket from a foreign Origin; its own origin passes', async () => {
    await expect(WsClient.open(server.wsUrl, { headers: { ...server.auth, origin: 'https://evil.example' } })).rejects.toThrow(/403 .*origin/);
    const own = await WsClient.open(server.wsUrl, { headers: { ...server.auth, origin: server.base } });
    own.close();
  });

  it('200 connections declaring 16 MiB bodies and sending none allocate nothing and are answered 408 at the deadline', async () => {
    const pid = server.proc.pid!;
    const before = rssBytes(pid);
    const head = `POST /api/v1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${server.auth.authorization}\r\nContent-Type: application/json\r\nContent-Length: ${16 * 1024 * 1024}\r\n\r\n{"metrics":`;
    const conns = Array.from({ length: 200 }, () => rawConnection(server.base, head));
    // All 200 wait for their bodies: the server holds them, and still answers others.
    await expect.poll(() => conns.every((c) => c.socket.bytesWritten >= head.length), { timeout: 10_000 }).toBe(true);
    expect((await fetch(`${server.base}/health`)).status).toBe(200);
    const during = rssBytes(pid);
    await expect.poll(() => conns.every((c) => c.closedAt() !== undefined), { timeout: 15_000, interval: 100 }).toBe(true);
    for (const c of conns) {
      expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
      // Not before the deadline (1.5 s), not long after.
      expect(c.closedAt()! - c.openedAt).toBeGreaterThan(1400);
    }
    // 200 × 16 MiB allocated up front would be 3.2 GB; a few MB of sockets and buffers is all.
    expect(during - before).toBeLessThan(64 * 1024 * 1024);
    expect((await fetch(`${server.base}/health`)).status).toBe(200);
  });

  it('ends a connection whose frame passes max_frame_bytes before buffering it; others carry on', async () => {
    const bystander = await WsClient.open(server.wsUrl, { headers: server.auth });
    const replies: any[] = [];
    bystander.onMessage = (m) => replies.push(unpackr.unpack(m.data));
    const big = await WsClient.open(server.wsUrl, { headers: server.auth });
    big.send(new Uint8Array(1024 * 1024 + 1));
    await expect.poll(() => big.closed, { timeout: 5000 }).toBe(true);
    bystander.send(packr.pack({ seq: 1, metrics: [{ metric_id: 'still.here', value: 1 }] }));
    await expect.poll(() => replies.length, { timeout: 5000 }).toBe(1);
    expect([Number(replies[0].ack), Number(replies[0].accepted)]).toEqual([1, 1]);
    bystander.close();
  });

  it('cut off the slowloris sender at the header deadline (uWS: 10 s without a complete request)', async () => {
    await expect.poll(() => slowloris.closedAt(), { timeout: 25_000, interval: 250 }).toBeDefined();
    const lived = slowloris.closedAt()! - slowloris.openedAt;
    expect(lived).toBeGreaterThan(8_000);
    expect(lived).toBeLessThan(20_000);
    expect(slowloris.received()).not.toMatch(/^HTTP\/1\.1 200/);
  });
});

describe('caps, credentials and quotas on a small server', () => {
  let server: ServerProcess;
  beforeAll(async () => {
    server = await serve('emms-caps-', {
      security: { limits: { max_connections_per_address: 4, auth_failures_per_minute: 5 }, quotas: { ingest_points_per_second: 1000 } },
    });
  });

  it('answers past max_connections_per_address with 429, and counts freed connections again', async () => {
    const open = await Promise.all([0, 1, 2, 3].map(() => WsClient.open(server.wsUrl, { headers: server.auth })));
    await expect(WsClient.open(server.wsUrl, { headers: server.auth })).rejects.toThrow(/429 .*max_connections_per_address=4/);
    expect((await fetch(`${server.base}/health`)).status).toBe(429);
    open[0]!.close();
    await expect.poll(async () => (await fetch(`${server.base}/health`)).status, { timeout: 5000 }).toBe(200);
    for (const ws of open) ws.close();
  });

  it('refuses over the ingest quota whole: 429 naming it over HTTP, a nack naming it on the stream', async () => {
    const points = (n: number, id: string) => Array.from({ length: n }, (_, i) => ({ metric_id: id, value: i, timestamp: Date.UTC(2026, 0, 1) + i }));
    const over = await fetch(`${server.base}/api/v1/metrics`, { method: 'POST', headers: { ...server.auth, 'content-type': 'application/json' }, body: JSON.stringify({ metrics: points(1500, 'quota.http') }) });
    expect(over.status).toBe(429);
    expect(await over.json()).toMatchObject({ quota: 'ingest_points_per_second' });
    const ws = await WsClient.open(server.wsUrl, { headers: server.auth });
    const replies: any[] = [];
    ws.onMessage = (m) => replies.push(unpackr.unpack(m.data));
    ws.send(packr.pack({ seq: 1, metrics: points(2000, 'quota.ws') }));
    await expect.poll(() => replies.length, { timeout: 5000 }).toBe(1);
    expect(replies[0].error).toMatch(/quota ingest_points_per_second=1000 reached/);
    ws.close();
    const stored = await fetch(`${server.base}/api/v1/query?metric_pattern=quota.*&start_time=0`, { headers: server.auth });
    expect((await stored.json()).series).toEqual([]);
  });

  it('401 with a Bearer challenge, 403 naming the role, then 429 with Retry-After after repeated failures', async () => {
    const none = await fetch(`${server.base}/api/v1/query?metric_pattern=x`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const created = await fetch(`${server.base}/api/v1/auth/keys`, { method: 'POST', headers: { ...server.auth, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'ro', role: 'reader', tenant: 't1' }) });
    expect(created.status).toBe(201);
    const { token } = await created.json();
    const forbidden = await fetch(`${server.base}/api/v1/metrics`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{"metrics":[{"metric_id":"x","value":1}]}' });
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toMatchObject({ required_role: 'writer' });
    expect((await fetch(`${server.base}/api/v1/query?metric_pattern=x`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    let last: Response | undefined;
    for (let i = 0; i < 8; i++) last = await fetch(`${server.base}/api/v1/query?metric_pattern=x`, { headers: { authorization: 'Bearer emms_not_a_real_token' } });
    expect(last!.status).toBe(429);
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThan(0);
  });
});
