/**
 * The role × route × tenant matrix, generated from the running server's own route table: every
 * route must have a sample request below (a route added without one fails the first test), and
 * for each route:
 *   - no token → 401 (public routes: their normal answer);
 *   - each role of tenant A below the route's access → 403;
 *   - an admin of tenant B on an object of tenant A → 404 or 403, and on a collection → its
 *     normal answer with nothing of tenant A in it;
 *   - the least role that may call it, of tenant A (or the operator for operator routes) → its
 *     normal answer.
 * The WebSocket stream gets the same rows. The app runs in-process with authentication on, as
 * `emms serve` composes it (src/app/emms_app.ts), on a real uWebSockets.js port.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encode as msgpack } from 'msgpackr';
import { startEmmsApp, type EmmsApp } from '../../src/app/emms_app.js';
import { loadConfig } from '../../src/config/config.js';
import { roleAtLeast, type Role, type RouteDefinition } from '../../src/http/route.js';
import { WsClient } from '../../bench/load/ws_client.js';
import { runApikeyCommand } from '../../src/cli/apikey_command.js';

const A = 'matrix-a';
const B = 'matrix-b';
/** Every object of tenant A's fixtures carries this marker: B must never see it. */
const MARK = 'mxa';
/** Objects the samples create (in A, and in B when B may create them) carry this one. */
const SAMPLE = 'mxs';
const NOW = Date.now();

interface Sample {
  path: string;
  query?: string;
  body?: unknown;
  /** What the least sufficient role gets. */
  ok: number;
  /** The route names one object of tenant A (another tenant must not reach it). */
  object?: boolean;
  /** Runs after every other route (it deletes or changes what others read). */
  last?: boolean;
  /** What the admin of tenant B gets, when not `ok` (e.g. B has no such key: says nothing of A). */
  other?: number[];
}

const SAMPLES: Record<string, Sample> = {
  'GET /health': { path: '/health', ok: 200 },
  'GET /health/live': { path: '/health/live', ok: 200 },
  'GET /api/v1/audit': { path: '/api/v1/audit', ok: 200 },
  'GET /health/ready': { path: '/health/ready', ok: 200 },
  'GET /': { path: '/', ok: 200 },
  'GET /assets/:name': { path: '/assets/none-0000000000.js', ok: 404 },
  'POST /api/v1/dashboard/session': { path: '/api/v1/dashboard/session', body: {}, ok: 400 },
  'GET /api/v1/dashboard/session': { path: '/api/v1/dashboard/session', ok: 200 },
  'DELETE /api/v1/dashboard/session': { path: '/api/v1/dashboard/session', ok: 200 },
  'GET /metrics': { path: '/metrics', ok: 200 },
  'GET /api/v1/openapi.json': { path: '/api/v1/openapi.json', ok: 200 },
  'GET /federate': { path: '/federate', query: `match=${MARK}.*`, ok: 200 },
  'GET /api/v1/query': { path: '/api/v1/query', query: `metric_pattern=${MARK}.cpu&start_time=0`, ok: 200 },
  'POST /api/v1/query': { path: '/api/v1/query', body: { metric_pattern: `${MARK}.cpu`, start_time: 0 }, ok: 200 },
  'POST /api/v1/metrics': { path: '/api/v1/metrics', body: { metrics: [{ metric_id: `${SAMPLE}.cpu`, value: 2, timestamp: NOW - 1000 }] }, ok: 200 },
  // Raw-body routes: the matrix sends JSON or nothing; an empty line-protocol body is a valid
  // (empty) write, an empty remote-write body a 400 that the handler reached.
  'POST /write': { path: '/write', query: 'db=mxs&precision=ms', ok: 204 },
  'POST /api/v2/write': { path: '/api/v2/write', query: 'bucket=mxs&org=mxs', ok: 204 },
  'POST /api/v1/write': { path: '/api/v1/write', ok: 400 },
  // The Prometheus-compatible API (src/promql/): POSTs carry their form in the query string here.
  ...Object.fromEntries(['GET', 'POST'].flatMap((method) => [
    [`${method} /prometheus/api/v1/query`, { path: '/prometheus/api/v1/query', query: `query=${MARK}_cpu`, ok: 200 }],
    [`${method} /prometheus/api/v1/query_range`, { path: '/prometheus/api/v1/query_range', query: `query=${MARK}_cpu&start=${Math.floor(NOW / 1000) - 3600}&end=${Math.floor(NOW / 1000)}&step=60`, ok: 200 }],
    [`${method} /prometheus/api/v1/series`, { path: '/prometheus/api/v1/series', query: `match%5B%5D=${MARK}_cpu`, ok: 200 }],
    [`${method} /prometheus/api/v1/labels`, { path: '/prometheus/api/v1/labels', ok: 200 }],
    [`${method} /prometheus/api/v1/label/:name/values`, { path: '/prometheus/api/v1/label/__name__/values', ok: 200 }],
    [`${method} /prometheus/api/v1/query_exemplars`, { path: '/prometheus/api/v1/query_exemplars', query: `query=${MARK}_cpu`, ok: 200 }],
  ])),
  'GET /prometheus/api/v1/metadata': { path: '/prometheus/api/v1/metadata', ok: 200 },
  'GET /prometheus/api/v1/status/buildinfo': { path: '/prometheus/api/v1/status/buildinfo', ok: 200 },
  'GET /api/v1/series': { path: '/api/v1/series', query: `match=${MARK}.*`, ok: 200 },
  'GET /api/v1/labels': { path: '/api/v1/labels', ok: 200 },
  'POST /api/v1/auth/keys': { path: '/api/v1/auth/keys', body: { name: `${SAMPLE}-extra`, role: 'reader' }, ok: 201 },
  'GET /api/v1/auth/keys': { path: '/api/v1/auth/keys', ok: 200 },
  'DELETE /api/v1/auth/keys/:key_id': { path: '/api/v1/auth/keys/{apiKey}', ok: 200, object: true, last: true },
  'GET /api/v1/auth/whoami': { path: '/api/v1/auth/whoami', ok: 200 },
  'POST /api/v1/auth/ws-ticket': { path: '/api/v1/auth/ws-ticket', ok: 200 },
  'GET /api/v1/tenants': { path: '/api/v1/tenants', ok: 200 },
  'GET /api/v1/tenants/:tenant': { path: `/api/v1/tenants/${A}`, ok: 200 },
  'PUT /api/v1/tenants/:tenant': { path: `/api/v1/tenants/${A}`, body: { quotas: { rules: 500 } }, ok: 200 },
  'GET /api/v1/keys': { path: '/api/v1/keys', ok: 200 },
  'POST /api/v1/keys': { path: '/api/v1/keys', body: { key_id: `${SAMPLE}-key2`, key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'pki', backend: 'kms' }, ok: 201 },
  'GET /api/v1/keys/:key_id': { path: `/api/v1/keys/${MARK}-key`, ok: 200, object: true },
  'PATCH /api/v1/keys/:key_id': { path: `/api/v1/keys/${MARK}-key`, body: { owner: 'pki-team' }, ok: 200, object: true },
  'GET /api/v1/keys/:key_id/violations': { path: `/api/v1/keys/${MARK}-key/violations`, ok: 200, object: true },
  'POST /api/v1/keys/events': { path: '/api/v1/keys/events', body: { events: [{ key_id: `${MARK}-key`, event_type: 'encrypt', timestamp: NOW }] }, ok: 200, other: [400, 404] },
  'GET /api/v1/policy/violations': { path: '/api/v1/policy/violations', ok: 200 },
  'GET /api/v1/health/targets': { path: '/api/v1/health/targets', ok: 200 },
  'POST /api/v1/health/targets': { path: '/api/v1/health/targets', body: { target_id: `${SAMPLE}-t2`, target_type: 'tcp', endpoint: 'db.example.com', port: 5432, interval: 60 }, ok: 201 },
  'GET /api/v1/health/targets/:id': { path: `/api/v1/health/targets/${MARK}-target`, ok: 200, object: true },
  'POST /api/v1/health/targets/:id/check': { path: `/api/v1/health/targets/${MARK}-target/check`, ok: 200, object: true },
  'DELETE /api/v1/health/targets/:id': { path: `/api/v1/health/targets/${MARK}-target`, ok: 200, object: true, last: true },
  'GET /api/v1/alerts': { path: '/api/v1/alerts', ok: 200 },
  'GET /api/v1/alerts/status': { path: '/api/v1/alerts/status', ok: 200 },
  'GET /api/v1/alerts/history': { path: '/api/v1/alerts/history', ok: 200 },
  'GET /api/v1/alerts/remediations': { path: '/api/v1/alerts/remediations', ok: 200 },
  'GET /api/v1/alerts/rules': { path: '/api/v1/alerts/rules', ok: 200 },
  'POST /api/v1/alerts/rules': { path: '/api/v1/alerts/rules', body: { rule_id: `${SAMPLE}-rule2`, name: 'two', metric_pattern: `${SAMPLE}\\.mem`, threshold_value: 1, comparison: '>', priority: 'LOW' }, ok: 201 },
  'GET /api/v1/alerts/rules/:rule_id': { path: `/api/v1/alerts/rules/${MARK}-rule`, ok: 200, object: true },
  'PUT /api/v1/alerts/rules/:rule_id': { path: `/api/v1/alerts/rules/${MARK}-rule`, body: { name: 'renamed', metric_pattern: `${MARK}\\.cpu`, threshold_value: 0, comparison: '>', priority: 'HIGH' }, ok: 200, object: true },
  'DELETE /api/v1/alerts/rules/:rule_id': { path: `/api/v1/alerts/rules/${MARK}-rule`, ok: 204, object: true, last: true },
  'GET /api/v1/alerts/channels': { path: '/api/v1/alerts/channels', ok: 200 },
  'POST /api/v1/alerts/channels': { path: '/api/v1/alerts/channels', body: { id: `${SAMPLE}-chan2`, type: 'webhook', url: 'https://hooks.example.org/two' }, ok: 201 },
  'GET /api/v1/alerts/channels/:channel_id': { path: `/api/v1/alerts/channels/${MARK}-chan`, ok: 200, object: true },
  'DELETE /api/v1/alerts/channels/:channel_id': { path: `/api/v1/alerts/channels/${MARK}-chan`, ok: 204, object: true, last: true },
  'GET /api/v1/alerts/blocked-ips': { path: '/api/v1/alerts/blocked-ips', ok: 200 },
  'DELETE /api/v1/alerts/blocked-ips/:ip': { path: '/api/v1/alerts/blocked-ips/203.0.113.7', ok: 204, object: true, last: true },
  'GET /api/v1/alerts/:alert_id': { path: '/api/v1/alerts/{alert}', ok: 200, object: true },
  'PUT /api/v1/alerts/:alert_id/acknowledge': { path: '/api/v1/alerts/{alert}/acknowledge', body: { comment: 'on it' }, ok: 200, object: true },
  'POST /api/v1/admin/backup': { path: '/api/v1/admin/backup', ok: 200 },
  'POST /api/v1/admin/cleanup': { path: '/api/v1/admin/cleanup', query: 'older_than=36500d', ok: 200 },
  'POST /api/v1/admin/compact': { path: '/api/v1/admin/compact', ok: 200 },
  'POST /api/v1/admin/reindex': { path: '/api/v1/admin/reindex', ok: 200 },
  'GET /api/v1/series/deletion-preview': { path: '/api/v1/series/deletion-preview', query: `match=${MARK}.*`, ok: 200 },
  // Selects nothing: the matrix checks who may call them; tests/integration/erasure_server.test.ts what they do.
  'DELETE /api/v1/series': { path: '/api/v1/series', query: `match=${SAMPLE}.none`, ok: 200, last: true },
  'POST /api/v1/erasure': { path: '/api/v1/erasure', body: { tag_key: 'subject', value: `${SAMPLE}-nobody` }, ok: 200, last: true },
  'DELETE /api/v1/tenants/:tenant': { path: `/api/v1/tenants/${SAMPLE}-none`, ok: 404, last: true },
  'GET /api/v1/silences': { path: '/api/v1/silences', ok: 200 },
  'POST /api/v1/silences': { path: '/api/v1/silences', body: { priority: 'LOW', duration_seconds: 60 }, ok: 201 },
  'DELETE /api/v1/silences/:silence_id': { path: '/api/v1/silences/{silence}', ok: 200, object: true, last: true },
  ...Object.fromEntries(['anomalies', 'correlations', 'forecast', 'capacity', 'joint_anomalies'].flatMap((name) => {
    const query = {
      joint_anomalies: `metric_pattern=${MARK}.*&window_hours=1`,
      anomalies: `metric_pattern=${MARK}.cpu&window_hours=1`,
      correlations: `primary_metric=${MARK}.cpu&secondary_patterns=${MARK}.*&correlation_threshold=0.5&window_hours=1`,
      forecast: `metric_pattern=${MARK}.cpu&horizon=1h&interval=5m`,
      capacity: `metric_pattern=${MARK}.cpu&limit=100`,
    }[name]!;
    const body = Object.fromEntries(new URLSearchParams(query));
    if (name === 'correlations') (body as Record<string, unknown>).secondary_patterns = [`${MARK}.*`];
    // A JSON body carries numbers as numbers: the route's schema refuses "1".
    if (name === 'joint_anomalies') (body as Record<string, unknown>).window_hours = 1;
    return [
      [`GET /api/v1/analytics/${name}`, { path: `/api/v1/analytics/${name}`, query, ok: 200 }],
      [`POST /api/v1/analytics/${name}`, { path: `/api/v1/analytics/${name}`, body, ok: 200 }],
    ];
  })),
};

let dir: string;
let app: EmmsApp;
let base: string;
const tokens: Record<string, string> = {};
const ids: Record<string, string> = {};

async function call(method: string, path: string, token: string | undefined, body?: unknown, query?: string): Promise<{ status: number; text: string; json: any }> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}${query === undefined ? '' : `?${query}`}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

async function ok(method: string, path: string, token: string, body?: unknown): Promise<any> {
  const r = await call(method, path, token, body);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text}`);
  return r.json;
}

function fill(path: string): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const v = ids[name];
    if (v === undefined) throw new Error(`no fixture ${name}`);
    return encodeURIComponent(v);
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-matrix-'));
  const config = loadConfig({ env: {}, flags: { port: '0', data: dir } });
  // The matrix fails authentication on purpose a few hundred times from 127.0.0.1.
  config.security.limits.authFailuresPerMinute = 1_000_000;
  config.collector.decodeThreads = 0;
  config.logLevel = 'silent';
  app = await startEmmsApp(config, () => undefined);
  base = `http://127.0.0.1:${app.server.port}`;
  tokens.operator = readFileSync(app.adminTokenPath!, 'utf8').trim();
  for (const [name, tenant, role] of [['reader', A, 'reader'], ['writer', A, 'writer'], ['admin', A, 'admin'], ['other', B, 'admin'], ['otherWriter', B, 'writer']] as const) {
    tokens[name] = (await ok('POST', '/api/v1/auth/keys', tokens.operator, { name: `matrix-${name}`, tenant, role })).token;
  }
  // Tenant A's objects, made through the API as a user would.
  const admin = tokens.admin!;
  await ok('POST', '/api/v1/metrics', tokens.writer!, { metrics: Array.from({ length: 30 }, (_, i) => ({ metric_id: `${MARK}.cpu`, value: 50 + (i % 7), timestamp: NOW - (30 - i) * 60_000 })) });
  await ok('POST', '/api/v1/keys', admin, { key_id: `${MARK}-key`, key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'pki', backend: 'kms' });
  await ok('POST', '/api/v1/health/targets', admin, { target_id: `${MARK}-target`, target_type: 'tcp', endpoint: 'db.example.com', port: 5432, interval: 60 });
  await ok('POST', '/api/v1/alerts/channels', admin, { id: `${MARK}-chan`, type: 'webhook', url: 'https://hooks.example.org/one' });
  await ok('POST', '/api/v1/alerts/rules', admin, { rule_id: `${MARK}-rule`, name: 'one', metric_pattern: `${MARK}\\.cpu`, threshold_value: 0, comparison: '>', priority: 'HIGH', channels: [`${MARK}-chan`] });
  ids.silence = (await ok('POST', '/api/v1/silences', admin, { rule_id: `${MARK}-rule`, duration_seconds: 600 })).silence_id;
  ids.apiKey = (await ok('POST', '/api/v1/auth/keys', admin, { name: `${MARK}-doomed`, role: 'reader' })).key_id;
  await app.alerting.evaluateOnce();
  const alerts = await ok('GET', '/api/v1/alerts', admin);
  ids.alert = (alerts.alerts ?? alerts)[0].alert_id;
  // A block made by tenant A's rule: the address must have failed authentication here first.
  app.authFailures.record('203.0.113.7');
  app.alerting.ipBlocklist.block('203.0.113.7', Date.now() + 3_600_000, { tenant: A, rule_id: `${MARK}-rule`, alert_id: null });
}, 60_000);

afterAll(async () => {
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const TENANT_ROLES: Role[] = ['reader', 'writer', 'admin'];
let matrixRows = 0;

function routeKey(r: RouteDefinition): string {
  return `${r.method} ${r.pattern}`;
}

describe('role × route × tenant matrix', () => {
  it('has a sample request for every route the server mounts', () => {
    const routes = app.server.routes.map(routeKey);
    expect(routes.length).toBeGreaterThan(45);
    expect(routes.filter((r) => SAMPLES[r] === undefined)).toEqual([]);
    expect(Object.keys(SAMPLES).filter((k) => !routes.includes(k))).toEqual([]);
  });

  it('answers every route by role and tenant', async () => {
    const routes = [...app.server.routes].sort((a, b) => Number(SAMPLES[routeKey(a)]!.last ?? false) - Number(SAMPLES[routeKey(b)]!.last ?? false));
    const failures: string[] = [];
    const expectStatus = (label: string, got: { status: number; text: string }, want: (s: number) => boolean, what: string): void => {
      matrixRows++;
      if (!want(got.status)) failures.push(`${label}: got ${got.status} (${got.text.slice(0, 160)}), want ${what}`);
    };
    for (const route of routes) {
      const key = routeKey(route);
      const sample = SAMPLES[key]!;
      const path = fill(sample.path);
      const send = (token: string | undefined): ReturnType<typeof call> => call(route.method, path, token, sample.body, sample.query);
      if (route.access === 'public') {
        expectStatus(`${key} without a token`, await send(undefined), (s) => s === sample.ok, String(sample.ok));
      } else {
        expectStatus(`${key} without a token`, await send(undefined), (s) => s === 401, '401');
        expectStatus(`${key} with a malformed token`, await send('emms_not-a-real-token'), (s) => s === 401, '401');
        for (const role of TENANT_ROLES) {
          if (roleAtLeast(role, route.access)) continue;
          expectStatus(`${key} as ${role} of A`, await send(tokens[role]), (s) => s === 403, '403');
        }
        if (route.access !== 'operator') {
          const other = await send(tokens.other);
          if (sample.object === true) {
            expectStatus(`${key} as admin of B on A's object`, other, (s) => s === 404 || s === 403, '404 or 403');
          } else {
            const want = sample.other ?? [sample.ok];
            expectStatus(`${key} as admin of B`, other, (s) => want.includes(s), want.join(' or '));
            matrixRows++;
            // A's objects by name, and A's series by id as results name them (requests may echo
            // what B itself sent, which says nothing of A).
            const leaked = sample.other === undefined && (other.text.includes(`"${MARK}-`) || other.text.includes(`"metric_id":"${MARK}.cpu"`));
            if (leaked) failures.push(`${key} as admin of B shows tenant A's data: ${other.text.slice(0, 200)}`);
          }
        }
      }
      const least = route.access === 'public' ? 'reader' : route.access === 'operator' ? 'operator' : route.access;
      let answer = await send(tokens[least]);
      // A target checked less than a second ago (at creation) says when it may be checked again.
      const retryMs = answer.status === 429 ? Number(answer.json?.retry_after_ms) : NaN;
      if (retryMs <= 2000) {
        await new Promise((resolve) => setTimeout(resolve, retryMs + 10));
        answer = await send(tokens[least]);
      }
      expectStatus(`${key} as ${least}`, answer, (s) => s === sample.ok, String(sample.ok));
    }
    expect(failures).toEqual([]);
    expect(matrixRows).toBeGreaterThan(200);
    console.info(`matrix: ${routes.length} routes, ${matrixRows} checks`);
  }, 60_000);

  it('gives the WebSocket stream the same rows: 401, 403 for a reader, and a writer writes only its tenant', async () => {
    const url = `${base.replace('http', 'ws')}/api/v1/stream`;
    await expect(WsClient.open(url)).rejects.toThrow(/401/);
    await expect(WsClient.open(url, { headers: { authorization: 'Bearer emms_wrong' } })).rejects.toThrow(/401/);
    await expect(WsClient.open(url, { headers: { authorization: `Bearer ${tokens.reader}` } })).rejects.toThrow(/403/);
    const ws = await WsClient.open(url, { headers: { authorization: `Bearer ${tokens.otherWriter}` } });
    const acked = new Promise<unknown>((resolve) => {
      ws.onMessage = (m) => resolve(m);
    });
    ws.send(msgpack({ seq: 1, metrics: [{ metric_id: `${MARK}.cpu`, value: 424242.5, timestamp: NOW }] }));
    await acked;
    ws.close();
    const inA = await call('GET', '/api/v1/query', tokens.reader, undefined, `metric_pattern=${MARK}.cpu&start_time=0`);
    expect(inA.text).not.toContain('424242.5');
    const inB = await call('GET', '/api/v1/query', tokens.otherWriter, undefined, `metric_pattern=${MARK}.cpu&start_time=0`);
    expect(inB.text).toContain('424242.5');
  });

  it('closes open streams within seconds when their key is revoked, through the API or by emms apikey in another process', async () => {
    const url = `${base.replace('http', 'ws')}/api/v1/stream`;
    const keys = await Promise.all(['revoked-by-api', 'revoked-by-cli'].map((name) => ok('POST', '/api/v1/auth/keys', tokens.operator!, { name, tenant: B, role: 'writer' })));
    const sockets = await Promise.all(keys.map((k) => WsClient.open(url, { headers: { authorization: `Bearer ${k.token}` } })));
    const closed = sockets.map((ws) => new Promise<{ code: number; reason: string }>((resolve) => {
      ws.onClose = (code, reason) => resolve({ code, reason });
    }));
    expect((await call('DELETE', `/api/v1/auth/keys/${keys[0].key_id}`, tokens.operator)).status).toBe(200);
    const io = { stdout: () => undefined, stderr: () => undefined };
    expect(await runApikeyCommand(['revoke', '--data', dir, keys[1].key_id], io)).toBe(0);
    for (const c of closed) {
      const { code, reason } = await Promise.race([c, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('stream still open 10 s after its key was revoked')), 10_000))]);
      expect(code).toBe(1008);
      expect(reason).toMatch(/revoked or has expired/);
    }
    await expect(WsClient.open(url, { headers: { authorization: `Bearer ${keys[0].token}` } })).rejects.toThrow(/401/);
    // Another process's revocation reaches the token cache within 1 s (PRAGMA data_version).
    await expect.poll(async () => (await call('GET', '/api/v1/auth/whoami', keys[1].token)).status, { timeout: 5_000, interval: 100 }).toBe(401);
    await expect(WsClient.open(url, { headers: { authorization: `Bearer ${keys[1].token}` } })).rejects.toThrow(/401/);
  }, 20_000);
});
