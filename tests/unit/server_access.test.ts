/**
 * The server's trust boundary in-process (tests/integration/server_limits.test.ts runs the
 * resource limits against a real server process): every request is checked for network, Host,
 * Origin, credentials and role in that order; answers are 401 (with the Bearer challenge), 403
 * naming the role needed, 429 (with Retry-After); the tenant comes from the credentials;
 * quotas; connection caps; the body deadline; 500s carry a request id and nothing else.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { Packr, Unpackr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsClient } from '../../bench/load/ws_client.js';
import { defaultConfig } from '../../src/config/config.js';
import type { SecurityConfig } from '../../src/config/security_config.js';
import type { RouteDefinition } from '../../src/http/route.js';
import type { ColumnarSeries, MetricsSystem, QueryStats, SeriesResult } from '../../src/model/api.js';
import { parseNetworkList } from '../../src/net/cidr.js';
import { createServer, type EmmsServer, type ServerOptions } from '../../src/server/server.js';
import { DEFAULT_QUOTAS, QuotaExceededError, fixedQuotas, type TenantQuotas } from '../../src/tenancy/quota.js';
import { FakeAuthenticator, bearer } from './server_fakes.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** An engine double whose tenant views record what each tenant was asked. */
class TenantEngine {
  running = true;
  dataDirectory = '/nowhere';
  readonly stored: Array<{ tenant: string; points: number }> = [];
  readonly queried: string[] = [];
  /** While set, queries wait for it. */
  gate: Promise<void> | undefined;
  readonly #views = new Map<string, unknown>();
  constructor(readonly tenant = 'default') {}
  forTenant(tenant: string): MetricsSystem {
    let view = this.#views.get(tenant);
    if (view === undefined) {
      const root = this;
      view = {
        tenant,
        async collectSeries(series: readonly ColumnarSeries[]) {
          const points = series.reduce((n, s) => n + s.timestamps.length, 0);
          root.stored.push({ tenant, points });
          return { accepted: points };
        },
        async queryWithStats(): Promise<{ series: SeriesResult[]; stats: QueryStats }> {
          root.queried.push(tenant);
          await root.gate;
          return { series: [], stats: { series: 0, pointsScanned: 0, elapsedMs: 0 } };
        },
        async latest() {
          root.queried.push(tenant);
          return [];
        },
      };
      this.#views.set(tenant, view);
    }
    return view as MetricsSystem;
  }
  stats() {
    return { series: 1, chunks: 2, headPoints: 3, walBytes: 4, pointsIngested: 5, batchesIngested: 6, diskBytes: 7 };
  }
  checkWritable(): void {}
}

interface Running {
  server: EmmsServer;
  base: string;
  ws: string;
  engine: TenantEngine;
  auth: FakeAuthenticator;
  logs: string[];
}

const running: Running[] = [];
afterAll(async () => {
  await Promise.all(running.map((r) => r.server.close()));
});

async function start(opts: {
  security?: Partial<SecurityConfig>; quotas?: Partial<TenantQuotas>; auth?: FakeAuthenticator; routes?: RouteDefinition[];
  frameHandlers?: ServerOptions['frameHandlers'];
} = {}): Promise<Running> {
  const config = defaultConfig();
  config.port = 0;
  config.collector.decodeThreads = 0;
  config.collector.maxBodyBytes = 1024 * 1024;
  const security: SecurityConfig = { ...config.security, ...opts.security, limits: { ...config.security.limits, ...opts.security?.limits } };
  const engine = new TenantEngine();
  const auth = opts.auth ?? new FakeAuthenticator();
  const logs: string[] = [];
  const server = createServer({
    engine: engine as unknown as MetricsSystem, config, security, authenticator: auth,
    quotas: fixedQuotas({ ...DEFAULT_QUOTAS, ...opts.quotas }),
    routes: opts.routes ?? [],
    frameHandlers: opts.frameHandlers ?? {},
    log: (level, message) => logs.push(`${level} ${message}`),
  });
  const { port } = await server.listen();
  const r = { server, base: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}/api/v1/stream`, engine, auth, logs };
  running.push(r);
  return r;
}

/** A request with any Host header (fetch will not send another host's name). */
function raw(base: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends a raw keep-alive request; `closed` is whether the server closed the connection after answering. */
function rawClosed(base: string, text: string): Promise<{ reply: string; closed: boolean }> {
  const u = new URL(base);
  return new Promise((resolve) => {
    let reply = '';
    const sock = connect(Number(u.port), u.hostname, () => sock.write(text));
    sock.on('data', (d) => (reply += d.toString()));
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ reply, closed: false });
    }, 1500);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ reply, closed: true });
    });
  });
}

const echoPrincipal: RouteDefinition = { method: 'GET', pattern: '/api/v1/whoami', access: 'public', handler: (req) => ({ body: { principal: req.principal ?? null } }) };
const operatorOnly: RouteDefinition = { method: 'GET', pattern: '/api/v1/tenants', access: 'operator', handler: () => ({ body: { tenants: [] } }) };
const failing: RouteDefinition = { method: 'GET', pattern: '/api/v1/fails', access: 'reader', handler: () => { throw new Error('SQLITE_CORRUPT at /var/lib/emms/secret-path.db'); } };
const overQuota: RouteDefinition = { method: 'POST', pattern: '/api/v1/rules', access: 'admin', handler: (req) => { throw new QuotaExceededError(req.principal!.tenant, 'rules', 3, '3 rules defined'); } };

describe('authentication and roles over HTTP', () => {
  let s: Running;
  beforeAll(async () => {
    s = await start({ routes: [echoPrincipal, operatorOnly, failing, overQuota], auth: new FakeAuthenticator({ failuresBefore429: 1000 }) });
  });

  it('answers 401 with a Bearer challenge without or with bad credentials, before running anything', async () => {
    for (const headers of [{}, bearer('nope'), { authorization: 'Basic dXNlcjpwdw==' }]) {
      const r = await fetch(`${s.base}/api/v1/query?metric_pattern=x`, { headers });
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer realm="emms"');
      expect(Object.keys(await r.json())).toEqual(['error']);
    }
    const ingest = await fetch(`${s.base}/api/v1/metrics`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"metrics":[{"metric_id":"a","value":1}]}' });
    expect(ingest.status).toBe(401);
    expect(s.engine.queried).toEqual([]);
    expect(s.engine.stored).toEqual([]);
  });

  it('answers 403 naming the role needed', async () => {
    const r = await fetch(`${s.base}/api/v1/metrics`, { method: 'POST', headers: { ...bearer('reader-a'), 'content-type': 'application/json' }, body: '{"metrics":[{"metric_id":"a","value":1}]}' });
    expect(r.status).toBe(403);
    expect(await r.json()).toEqual({ error: 'POST /api/v1/metrics needs role writer; ak_reader_a has role reader', required_role: 'writer' });
    expect((await fetch(`${s.base}/api/v1/tenants`, { headers: bearer('admin-a') })).status).toBe(403);
    expect((await fetch(`${s.base}/api/v1/tenants`, { headers: bearer('operator') })).status).toBe(200);
    expect(s.engine.stored).toEqual([]);
  });

  it('takes the tenant from the credentials; only an operator may name another with X-Emms-Tenant', async () => {
    s.engine.queried.length = 0;
    expect((await fetch(`${s.base}/api/v1/query?metric_pattern=x`, { headers: bearer('reader-b') })).status).toBe(200);
    expect((await fetch(`${s.base}/federate?match=x`, { headers: bearer('reader-a') })).status).toBe(200);
    expect((await fetch(`${s.base}/api/v1/query?metric_pattern=x`, { headers: { ...bearer('operator'), 'x-emms-tenant': 'b' } })).status).toBe(200);
    const foreign = await fetch(`${s.base}/api/v1/query?metric_pattern=x`, { headers: { ...bearer('reader-a'), 'x-emms-tenant': 'b' } });
    expect(foreign.status).toBe(403);
    expect(s.engine.queried).toEqual(['b', 'a', 'b']);
    const ingest = await fetch(`${s.base}/api/v1/metrics`, { method: 'POST', headers: { ...bearer('writer-b'), 'content-type': 'application/json' }, body: '{"metrics":[{"metric_id":"a","value":1},{"metric_id":"b","value":2}]}' });
    expect(await ingest.json()).toEqual({ accepted: 2 });
    expect(s.engine.stored).toEqual([{ tenant: 'b', points: 2 }]);
  });

  it('public routes: a principal when valid credentials come along, none otherwise; /health details only then', async () => {
    expect(await (await fetch(`${s.base}/api/v1/whoami`)).json()).toEqual({ principal: null });
    expect(await (await fetch(`${s.base}/api/v1/whoami`, { headers: bearer('nope') })).json()).toEqual({ principal: null });
    expect(await (await fetch(`${s.base}/api/v1/whoami`, { headers: bearer('reader-b') })).json()).toEqual({ principal: { id: 'ak_reader_b', kind: 'api_key', role: 'reader', tenant: 'b' } });
    expect(await (await fetch(`${s.base}/health`)).json()).toEqual({ status: 'ok' });
    const detailed = await (await fetch(`${s.base}/health`, { headers: bearer('reader-a') })).json();
    expect(detailed).toMatchObject({ status: 'ok', components: { storage: { status: 'ok', series: 1 }, server: { ws_connections: 0 } } });
    // metrics_access "open" (the default): no credentials needed.
    expect((await fetch(`${s.base}/metrics`)).status).toBe(200);
  });

  it('500 carries a request id; the real message goes to the log only', async () => {
    const r = await fetch(`${s.base}/api/v1/fails`, { headers: bearer('reader-a') });
    expect(r.status).toBe(500);
    const body = await r.json();
    expect(Object.keys(body).sort()).toEqual(['error', 'request_id']);
    expect(body.error).toBe('internal error');
    expect(body.request_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.headers.get('x-request-id')).toBe(body.request_id);
    const line = s.logs.find((l) => l.includes(body.request_id));
    expect(line).toMatch(/^error \/api\/v1\/fails request_id=.*SQLITE_CORRUPT at \/var\/lib\/emms\/secret-path\.db/);
  });

  it('QuotaExceededError from a handler is 429 naming the quota', async () => {
    const r = await fetch(`${s.base}/api/v1/rules`, { method: 'POST', headers: { ...bearer('admin-a'), 'content-type': 'application/json' }, body: '{}' });
    expect(r.status).toBe(429);
    expect(await r.json()).toEqual({ error: 'tenant a: quota rules=3 reached: 3 rules defined', quota: 'rules', limit: 3 });
  });
});

describe('the route table', () => {
  it('lists every mounted route with its access; a route without a valid access is refused at start', async () => {
    const s = await start({ routes: [operatorOnly] });
    const table = Object.fromEntries(s.server.routes.map((r) => [`${r.method} ${r.pattern}`, r.access]));
    expect(table).toEqual({
      'GET /api/v1/query': 'reader', 'POST /api/v1/query': 'reader', 'GET /health': 'public', 'GET /metrics': 'public',
      'GET /federate': 'reader', 'POST /api/v1/metrics': 'writer', 'GET /api/v1/tenants': 'operator',
      'GET /health/live': 'public', 'GET /health/ready': 'public', 'GET /api/v1/openapi.json': 'public',
    });
    const config = defaultConfig();
    const bad = { method: 'GET', pattern: '/x', access: 'everyone', handler: () => ({}) } as unknown as RouteDefinition;
    expect(() => createServer({ engine: new TenantEngine() as unknown as MetricsSystem, config, authenticator: new FakeAuthenticator(), quotas: fixedQuotas(), routes: [bad] }))
      .toThrow('route GET /x: access "everyone" is not one of public, reader, writer, admin, operator');
  });

  it('metrics_access "reader": GET /metrics needs a reader of any tenant', async () => {
    const s = await start({ security: { metricsAccess: 'reader' } });
    expect((await fetch(`${s.base}/metrics`)).status).toBe(401);
    expect((await fetch(`${s.base}/metrics`, { headers: bearer('reader-b') })).status).toBe(200);
    expect(s.server.routes.find((r) => r.pattern === '/metrics')!.access).toBe('reader');
  });
});

describe('authenticator answers', () => {
  it('429 with Retry-After after too many failures from one address', async () => {
    const s = await start({ auth: new FakeAuthenticator({ failuresBefore429: 3 }) });
    for (let i = 0; i < 3; i++) expect((await fetch(`${s.base}/api/v1/query?metric_pattern=x`, { headers: bearer('bad') })).status).toBe(401);
    const r = await fetch(`${s.base}/api/v1/query?metric_pattern=x`, { headers: bearer('reader-a') });
    expect(r.status).toBe(429);
    expect(r.headers.get('retry-after')).toBe('30');
    await expect(WsClient.open(s.ws, { headers: bearer('writer-a') })).rejects.toThrow(/429 .*too many failed/);
  });

  it('an asynchronous authenticator: the body is read meanwhile; a refused request with its body still arriving is closed', async () => {
    const s = await start({ auth: new FakeAuthenticator({ async: true }) });
    const ok = await fetch(`${s.base}/api/v1/metrics`, { method: 'POST', headers: { ...bearer('writer-a'), 'content-type': 'application/json' }, body: JSON.stringify({ metrics: Array.from({ length: 500 }, (_, i) => ({ metric_id: 'a', value: i, timestamp: 1e12 + i })) }) });
    expect(await ok.json()).toEqual({ accepted: 500 });
    const u = new URL(s.base);
    const reply = await new Promise<string>((resolve) => {
      let got = '';
      const sock = connect(Number(u.port), u.hostname, () => {
        sock.write(`POST /api/v1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer nope\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"metrics"`);
      });
      sock.on('data', (d) => (got += d.toString()));
      sock.on('close', () => resolve(got));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 401 /);
  });
});

describe('network, Host and Origin', () => {
  it('allowed_networks refuses other clients first, and closes the connection', async () => {
    const s = await start({ security: { allowedNetworks: parseNetworkList('security.allowed_networks', ['10.0.0.0/8']) } });
    const r = await rawClosed(s.base, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(r.reply).toMatch(/^HTTP\/1\.1 403 /);
    expect(r.reply).toContain('client address 127.0.0.1 is outside security.allowed_networks');
    expect(r.closed).toBe(true);
    await expect(WsClient.open(s.ws, { headers: bearer('writer-a') })).rejects.toThrow(/403/);
  });

  it('on a loopback bind, only loopback names and allowed_hosts are accepted as Host (DNS rebinding)', async () => {
    const s = await start({ security: { allowedHosts: ['emms.internal'] } });
    for (const host of ['localhost:1234', '127.0.0.1', '[::1]:8080', 'LOCALHOST', 'emms.internal:443']) {
      expect((await raw(s.base, '/health', { host })).status, host).toBe(200);
    }
    for (const host of ['attacker.example:8080', '127.0.0.1.nip.io', 'localhost.attacker.example']) {
      const r = await raw(s.base, '/api/v1/query?metric_pattern=x', { host, ...bearer('reader-a') });
      expect(r.status, host).toBe(421);
      expect(JSON.parse(r.body).error).toMatch(/DNS rebinding guard/);
    }
    await expect(WsClient.open(s.ws, { headers: { ...bearer('writer-a'), host: 'attacker.example:80' } })).rejects.toThrow(/421/);
  });

  it('a browser WebSocket from another origin is refused; the server\'s own origin and allowed_origins pass', async () => {
    const s = await start({ security: { allowedOrigins: ['https://ops.example.com'] } });
    const port = new URL(s.base).port;
    await expect(WsClient.open(s.ws, { headers: { ...bearer('writer-a'), origin: 'http://evil.example' } })).rejects.toThrow(/403 .*origin/);
    await expect(WsClient.open(s.ws, { headers: { ...bearer('writer-a'), origin: 'null' } })).rejects.toThrow(/403/);
    for (const origin of [`http://127.0.0.1:${port}`, 'https://ops.example.com']) {
      const ws = await WsClient.open(s.ws, { headers: { ...bearer('writer-a'), origin } });
      ws.close();
    }
  });
});

describe('the stream', () => {
  it('authenticates at the upgrade: writer needed; a ticket in Sec-WebSocket-Protocol works once; emms.v1 is echoed, never the ticket', async () => {
    const seen: unknown[] = [];
    const s = await start({ frameHandlers: { key_events: async (items, ctx) => { seen.push(ctx.principal.tenant); return { accepted: items.length }; } } });
    await expect(WsClient.open(s.ws)).rejects.toThrow(/401 /);
    await expect(WsClient.open(s.ws, { headers: bearer('reader-a') })).rejects.toThrow(/403 .*needs role writer/);
    const ticket = s.auth.ticket('writer-b');
    const ws = await WsClient.open(s.ws, { headers: { 'sec-websocket-protocol': `emms.v1, emms.ticket.${ticket}` } });
    expect(ws.protocol).toBe('emms.v1');
    const replies: any[] = [];
    ws.onMessage = (m) => replies.push(unpackr.unpack(m.data));
    ws.send(packr.pack({ seq: 1, metrics: [{ metric_id: 'a', value: 1, timestamp: 1e12 }] }));
    ws.send(packr.pack({ seq: 2, key_events: [{ k: 1 }] }));
    await expect.poll(() => replies.length, { timeout: 5000 }).toBe(2);
    expect(replies).toEqual([{ ack: 1, accepted: 1 }, { ack: 2, accepted: 1 }]);
    expect(s.engine.stored).toEqual([{ tenant: 'b', points: 1 }]);
    expect(seen).toEqual(['b']);
    ws.close();
    await expect(WsClient.open(s.ws, { headers: { 'sec-websocket-protocol': `emms.v1, emms.ticket.${ticket}` } })).rejects.toThrow(/401 /);
    const plain = await WsClient.open(s.ws, { headers: bearer('writer-a') });
    expect(plain.protocol).toBe('');
    plain.close();
  });
});

describe('quotas', () => {
  it('ingest points per second: a body or frame over the budget is refused whole, naming the quota', async () => {
    const s = await start({ quotas: { ingestPointsPerSecond: 10 } });
    const post = (n: number) => fetch(`${s.base}/api/v1/metrics`, {
      method: 'POST', headers: { ...bearer('writer-a'), 'content-type': 'application/json' },
      body: JSON.stringify({ metrics: Array.from({ length: n }, (_, i) => ({ metric_id: 'q', value: i, timestamp: 1e12 + i })) }),
    });
    expect((await post(8)).status).toBe(200);
    const over = await post(5);
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBe('1');
    expect(await over.json()).toMatchObject({ quota: 'ingest_points_per_second', error: expect.stringMatching(/quota ingest_points_per_second=10 reached/) });
    expect(s.engine.stored).toEqual([{ tenant: 'a', points: 8 }]);
    // Another tenant has its own budget.
    expect((await fetch(`${s.base}/api/v1/metrics`, { method: 'POST', headers: { ...bearer('writer-b'), 'content-type': 'application/json' }, body: '{"metrics":[{"metric_id":"q","value":1}]}' })).status).toBe(200);
    const ws = await WsClient.open(s.ws, { headers: bearer('writer-a') });
    const replies: any[] = [];
    ws.onMessage = (m) => replies.push(unpackr.unpack(m.data));
    ws.send(packr.pack({ seq: 7, metrics: Array.from({ length: 20 }, (_, i) => ({ metric_id: 'q', value: i })) }));
    await expect.poll(() => replies.length, { timeout: 5000 }).toBe(1);
    expect(replies[0]).toEqual({ nack: 7, error: expect.stringMatching(/quota ingest_points_per_second=10 reached: a batch of 20 points is more than one second's budget/) });
    expect(s.engine.stored.filter((x) => x.tenant === 'a')).toEqual([{ tenant: 'a', points: 8 }]);
    ws.close();
  });

  it('query concurrency: past the quota a query is refused at once with 429', async () => {
    const s = await start({ quotas: { queryConcurrency: 1 } });
    let release: () => void = () => undefined;
    s.engine.gate = new Promise((r) => (release = r));
    const first = fetch(`${s.base}/api/v1/query?metric_pattern=x`, { headers: bearer('reader-a') });
    await expect.poll(() => s.engine.queried.length).toBe(1);
    const second = await fetch(`${s.base}/api/v1/query?metric_pattern=x`, { headers: bearer('reader-a') });
    expect(second.status).toBe(429);
    expect(await second.json()).toMatchObject({ quota: 'query_concurrency', limit: 1 });
    // Another tenant is not held back by a's queries.
    const other = fetch(`${s.base}/api/v1/query?metric_pattern=x`, { headers: bearer('reader-b') });
    await expect.poll(() => s.engine.queried.length).toBe(2);
    release();
    expect((await first).status).toBe(200);
    expect((await other).status).toBe(200);
    expect((await fetch(`${s.base}/api/v1/query?metric_pattern=x`, { headers: bearer('reader-a') })).status).toBe(200);
  });
});

describe('connection caps and the body deadline', () => {
  it('per address: past the cap upgrades get 429 and requests 429 with the connection closed; freed slots count again', async () => {
    const s = await start({ security: { limits: { maxConnectionsPerAddress: 3 } as SecurityConfig['limits'] } });
    const open = await Promise.all([0, 1, 2].map(() => WsClient.open(s.ws, { headers: bearer('writer-a') })));
    await expect(WsClient.open(s.ws, { headers: bearer('writer-a') })).rejects.toThrow(/429 .*max_connections_per_address=3/);
    const r = await rawClosed(s.base, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(r.reply).toMatch(/^HTTP\/1\.1 429 /);
    expect(r.closed).toBe(true);
    // An answered request under the cap keeps its connection (keep-alive).
    open[1]!.close();
    await expect.poll(async () => (await raw(s.base, '/health', { host: '127.0.0.1' })).status, { timeout: 5000 }).toBe(200);
    expect((await rawClosed(s.base, 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')).closed).toBe(false);
    for (const ws of open) ws.close();
  });

  it('overall: past max_connections the answer is 503', async () => {
    const s = await start({ security: { limits: { maxConnections: 2 } as SecurityConfig['limits'] } });
    const open = await Promise.all([0, 1].map(() => WsClient.open(s.ws, { headers: bearer('writer-a') })));
    await expect(WsClient.open(s.ws, { headers: bearer('writer-a') })).rejects.toThrow(/503 .*max_connections=2/);
    expect((await raw(s.base, '/health', { host: '127.0.0.1' })).status).toBe(503);
    for (const ws of open) ws.close();
  });

  it('a body not complete within body_timeout_ms is answered 408 and its connection closed', async () => {
    const s = await start({ security: { limits: { bodyTimeoutMs: 300 } as SecurityConfig['limits'] } });
    const u = new URL(s.base);
    const started = performance.now();
    const reply = await new Promise<string>((resolve) => {
      let got = '';
      const sock = connect(Number(u.port), u.hostname, () => {
        sock.write(`POST /api/v1/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer writer-a\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"metrics"`);
      });
      sock.on('data', (d) => (got += d.toString()));
      sock.on('close', () => resolve(got));
    });
    const elapsed = performance.now() - started;
    expect(reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(reply).toContain('security.limits.body_timeout_ms=300');
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(5000);
    expect(s.engine.stored).toEqual([]);
  });
});
