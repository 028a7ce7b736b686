/**
 * security.trusted_proxies on a real server in one process (uWS on loopback): behind a trusted
 * proxy (127.0.0.1 here), every check that reads the client's address reads the one
 * X-Forwarded-For names (allowed_networks, authentication's address, the audit `source`, the
 * handler's remoteAddress), on HTTP and on the WebSocket upgrade; a client that is not a
 * trusted proxy (127.0.0.2, by binding the client socket there) cannot choose its address; an
 * unreadable header of a trusted proxy is a 400. Then a standby forwarder (in process) in front
 * of that server: it names the client to the writer, and drops what an untrusted client claims.
 * The same through real `emms serve` processes: tests/integration/cluster_forwarded_for.test.ts.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsClient } from '../../bench/load/ws_client.js';
import { defaultConfig } from '../../src/config/config.js';
import type { SecurityConfig } from '../../src/config/security_config.js';
import type { RouteDefinition } from '../../src/http/route.js';
import type { MetricsSystem } from '../../src/model/api.js';
import { parseNetworkList } from '../../src/net/cidr.js';
import type { AuditedAnswer } from '../../src/server/http_exchange.js';
import { createServer, type EmmsServer } from '../../src/server/server.js';
import { startStandbyForwarder, type StandbyForwarder } from '../../src/server/standby/standby_forwarder.js';
import { DEFAULT_QUOTAS, fixedQuotas } from '../../src/tenancy/quota.js';
import { freePort } from '../free_port.js';
import { FakeAuthenticator, bearer } from './server_fakes.js';

/** Connections to the server come from 127.0.0.1 (trusted) or, bound there, 127.0.0.2 (not). */
const TRUSTED_PROXIES = ['127.0.0.1/32'];
const ALLOWED_NETWORKS = ['127.0.0.0/8', '203.0.113.0/24'];

const echo: RouteDefinition = { method: 'GET', pattern: '/api/v1/echo', access: 'public', handler: (req) => ({ body: { address: req.remoteAddress } }) };
const audited: RouteDefinition = { method: 'POST', pattern: '/api/v1/things', access: 'writer', handler: () => ({ body: { ok: true } }) };

let server: EmmsServer;
let base: string;
let wsUrl: string;
let standby: StandbyForwarder;
let standbyBase: string;
const auth = new FakeAuthenticator();
const audits: AuditedAnswer[] = [];

beforeAll(async () => {
  const config = defaultConfig();
  config.port = 0;
  config.collector.decodeThreads = 0;
  const security: SecurityConfig = {
    ...config.security,
    trustedProxies: parseNetworkList('security.trusted_proxies', TRUSTED_PROXIES),
    allowedNetworks: parseNetworkList('security.allowed_networks', ALLOWED_NETWORKS),
  };
  server = createServer({
    engine: { running: true, forTenant: () => ({}), stats: () => ({}), checkWritable: () => undefined } as unknown as MetricsSystem,
    config, security, authenticator: auth, quotas: fixedQuotas({ ...DEFAULT_QUOTAS }), routes: [echo, audited], frameHandlers: {},
    audit: (a) => audits.push(a), log: () => undefined,
  });
  const { port } = await server.listen();
  base = `http://127.0.0.1:${port}`;
  wsUrl = `ws://127.0.0.1:${port}/api/v1/stream`;
  const standbyPort = await freePort();
  standby = await startStandbyForwarder({
    config: { ...config, host: '127.0.0.1', port: standbyPort, security },
    directory: { writerAddress: async () => base }, ownAddress: `http://127.0.0.1:${standbyPort}`,
    authenticator: new FakeAuthenticator(), log: () => undefined,
  });
  standbyBase = `http://127.0.0.1:${standby.port}`;
});
afterAll(async () => {
  await standby?.close('test over');
  await server?.close();
});

interface Answer { status: number; body: string }

/** A GET from `localAddress` with the given header lines (repeated names allowed). */
function get(url: string, headers: Array<[string, string]>, localAddress = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // Header lines as an array keep repeated names; Node then adds no Host of its own.
    const req = httpRequest(url, { headers: [['host', new URL(url).host], ...headers].flat(), localAddress, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function echoed(url: string, headers: Array<[string, string]>, localAddress?: string): Promise<string> {
  const r = await get(`${url}/api/v1/echo`, headers, localAddress);
  expect(r.status, r.body).toBe(200);
  return (JSON.parse(r.body) as { address: string }).address;
}

describe('behind a trusted proxy (HTTP)', () => {
  it('the client is the right-most address of X-Forwarded-For that is not a trusted proxy', async () => {
    expect(await echoed(base, [])).toBe('127.0.0.1');
    expect(await echoed(base, [['x-forwarded-for', '203.0.113.5']])).toBe('203.0.113.5');
    // 10.9.9.9 was written by the client itself; 127.0.0.1 is a trusted proxy's hop.
    expect(await echoed(base, [['x-forwarded-for', '10.9.9.9, 203.0.113.5, 127.0.0.1']])).toBe('203.0.113.5');
    expect(await echoed(base, [['x-forwarded-for', '[::ffff:203.0.113.7]:5555']])).toBe('203.0.113.7');
  });

  it('repeated header lines are one list: the last line (a proxy\'s own) decides', async () => {
    expect(await echoed(base, [['x-forwarded-for', '10.9.9.9'], ['x-forwarded-for', '203.0.113.5']])).toBe('203.0.113.5');
    const r = await get(`${base}/api/v1/echo`, [['x-forwarded-for', '203.0.113.5'], ['x-forwarded-for', '198.51.100.9']]);
    expect(r.status).toBe(403);
  });

  it('allowed_networks checks the named client, not the proxy', async () => {
    const r = await get(`${base}/api/v1/echo`, [['x-forwarded-for', '198.51.100.9']]);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body)).toEqual({ error: 'client address 198.51.100.9 is outside security.allowed_networks' });
  });

  it('authentication and the audit record see the named client', async () => {
    const seen = auth.seen.length;
    const r = await fetch(`${base}/api/v1/things`, { method: 'POST', headers: { ...bearer('writer-a'), 'x-forwarded-for': '203.0.113.9' } });
    expect(r.status).toBe(200);
    expect(auth.seen.slice(seen).map((c) => c.remoteAddress)).toEqual(['203.0.113.9']);
    expect(audits.at(-1)).toMatchObject({ actor: 'ak_writer_a', action: 'POST /api/v1/things', source: '203.0.113.9', outcome: 'ok' });
  });

  it('a header of a trusted proxy that cannot be read is a 400 naming the header and the value', async () => {
    const r = await get(`${base}/api/v1/echo`, [['x-forwarded-for', '203.0.113.5, unknown']]);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toEqual({ error: 'header X-Forwarded-For="203.0.113.5, unknown" has "unknown", which is not an IP address' });
    const many = await get(`${base}/api/v1/echo`, [['x-forwarded-for', Array(40).fill('203.0.113.5').join(',')]]);
    expect(many.status).toBe(400);
    expect(JSON.parse(many.body).error).toContain('lists 40 addresses; at most 32 are accepted');
  });

  it('an untrusted socket cannot choose its address: the header is ignored, even garbage', async () => {
    expect(await echoed(base, [['x-forwarded-for', '203.0.113.5']], '127.0.0.2')).toBe('127.0.0.2');
    expect(await echoed(base, [['x-forwarded-for', 'unknown']], '127.0.0.2')).toBe('127.0.0.2');
  });
});

describe('behind a trusted proxy (WebSocket upgrade)', () => {
  it('authentication sees the named client; allowed_networks checks it; an unreadable header is a 400', async () => {
    const seen = auth.seen.length;
    const ws = await WsClient.open(wsUrl, { headers: { ...bearer('writer-a'), 'x-forwarded-for': '10.9.9.9, 203.0.113.5' } });
    ws.close();
    expect(auth.seen.slice(seen).map((c) => c.remoteAddress)).toEqual(['203.0.113.5']);
    await expect(WsClient.open(wsUrl, { headers: { ...bearer('writer-a'), 'x-forwarded-for': '198.51.100.9' } })).rejects.toThrow(/403 .*198\.51\.100\.9 is outside security\.allowed_networks/);
    await expect(WsClient.open(wsUrl, { headers: { ...bearer('writer-a'), 'x-forwarded-for': 'garbage' } })).rejects.toThrow(/400 .*X-Forwarded-For/);
  });

  it('reads every line of a repeated header', async () => {
    // A raw upgrade: the answer status is all that matters (403 from the right-most line's address).
    const port = Number(new URL(base).port);
    const reply = await new Promise<string>((resolve) => {
      let got = '';
      const sock = connect(port, '127.0.0.1', () => sock.write('GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
        + 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer writer-a\r\n'
        + 'X-Forwarded-For: 203.0.113.5\r\nX-Forwarded-For: 198.51.100.9\r\n\r\n'));
      sock.on('data', (d) => (got += d.toString()));
      sock.on('close', () => resolve(got));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 403 /);
    expect(reply).toContain('198.51.100.9');
  });
});

describe('through a standby forwarder', () => {
  it('the writer sees the client\'s own address; what an untrusted client claims is dropped', async () => {
    // 127.0.0.2 is no trusted proxy of the standby: its header is replaced by its address.
    expect(await echoed(standbyBase, [['x-forwarded-for', '203.0.113.5']], '127.0.0.2')).toBe('127.0.0.2');
    expect(await echoed(standbyBase, [], '127.0.0.2')).toBe('127.0.0.2');
    // 127.0.0.1 is: its header is kept and its address appended.
    expect(await echoed(standbyBase, [['x-forwarded-for', '203.0.113.5']])).toBe('203.0.113.5');
  });

  it('the standby applies allowed_networks to the client, and refuses an unreadable header of a trusted proxy', async () => {
    const out = await get(`${standbyBase}/api/v1/echo`, [['x-forwarded-for', '198.51.100.9']]);
    expect(out.status).toBe(403);
    expect(JSON.parse(out.body)).toEqual({ error: 'client address 198.51.100.9 is outside security.allowed_networks' });
    const bad = await get(`${standbyBase}/api/v1/echo`, [['x-forwarded-for', 'not-an-address']]);
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error).toMatch(/^header X-Forwarded-For="not-an-address"/);
  });

  it('a relayed WebSocket upgrade names the client too', async () => {
    const seen = auth.seen.length;
    const ws = await WsClient.open(`${standbyBase.replace('http', 'ws')}/api/v1/stream`, { headers: { ...bearer('writer-a'), 'x-forwarded-for': '203.0.113.8' } });
    ws.close();
    expect(auth.seen.slice(seen).map((c) => c.remoteAddress)).toEqual(['203.0.113.8']);
  });
});
