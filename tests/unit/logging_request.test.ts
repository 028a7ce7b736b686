/**
 * The request log and the probes through a real in-process server (createServer on an
 * ephemeral port, a stand-in engine): every answer carries `X-Request-Id` and is logged once
 * with the route pattern, status, latency and tenant, never the token; `/health/live` and
 * `/health/ready` are public, carry route schemas, and ready turns 503 with a reason when
 * storage stops taking writes or is not open.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultConfig } from '../../src/config/config.js';
import { HttpError } from '../../src/http/route.js';
import { createLogger, logFunction } from '../../src/logging/logger.js';
import type { MetricsSystem } from '../../src/model/api.js';
import { builtinRoutes } from '../../src/server/builtin_routes.js';
import { createServer, type EmmsServer } from '../../src/server/server.js';
import { fixedQuotas } from '../../src/tenancy/quota.js';
import { FakeAuthenticator, bearer } from './server_fakes.js';

const engine = {
  running: true,
  writable: true,
  checkWritable(): void {
    if (!this.writable) throw new Error('SQLITE_READONLY: /secret/path/metrics.db');
  },
  stats: () => ({ series: 0, chunks: 0, headPoints: 0, walBytes: 0, pointsIngested: 0, batchesIngested: 0, diskBytes: 0 }),
  forTenant() {
    return this;
  },
};

const raw: string[] = [];
const events = () => raw.map((l) => JSON.parse(l) as Record<string, unknown>);
let server: EmmsServer;
let base: string;

beforeAll(async () => {
  const config = defaultConfig();
  config.port = 0;
  config.collector.decodeThreads = 0;
  const logger = createLogger({ level: 'info', destination: { write: (s: string) => { raw.push(s); } } });
  server = createServer({
    engine: engine as unknown as MetricsSystem,
    config,
    authenticator: new FakeAuthenticator(),
    quotas: fixedQuotas(),
    routes: [
      { method: 'GET', pattern: '/api/v1/keys/:key_id', access: 'reader', handler: (req) => ({ body: { id: req.params.key_id } }) },
      { method: 'GET', pattern: '/api/v1/boom', access: 'reader', handler: () => { throw new Error('kaput'); } },
      { method: 'GET', pattern: '/api/v1/conflict', access: 'reader', handler: () => { throw new HttpError(409, 'no'); } },
    ],
    log: logFunction(logger),
  });
  base = `http://127.0.0.1:${(await server.listen()).port}`;
});

afterAll(async () => {
  await server.close();
});

describe('request log', () => {
  it('answers with X-Request-Id and logs one event per request with tenant, route pattern, status and latency', async () => {
    const before = raw.length;
    const res = await fetch(`${base}/api/v1/keys/k-77?secret=abc`, { headers: bearer('reader-a') });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const mine = events().slice(before).filter((e) => e.request_id === id);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ level: 'info', method: 'GET', route: '/api/v1/keys/:key_id', status: 200, tenant: 'a', remote_address: '127.0.0.1' });
    expect(typeof mine[0]!.latency_ms).toBe('number');
    const text = raw.slice(before).join('');
    expect(text).not.toContain('reader-a');
    expect(text).not.toContain('k-77');
    expect(text).not.toContain('secret=abc');
  });

  it('keeps the client request id; refusals and unknown routes are logged too, without a tenant', async () => {
    const r1 = await fetch(`${base}/api/v1/keys/x`, { headers: { 'x-request-id': 'trace-123' } });
    expect(r1.status).toBe(401);
    expect(r1.headers.get('x-request-id')).toBe('trace-123');
    const r2 = await fetch(`${base}/nope`);
    expect(r2.status).toBe(404);
    const byId = (id: string | null) => events().filter((e) => e.request_id === id);
    expect(byId('trace-123')).toEqual([expect.objectContaining({ status: 401, route: '/api/v1/keys/:key_id' })]);
    expect(byId('trace-123')[0]).not.toHaveProperty('tenant');
    expect(byId(r2.headers.get('x-request-id'))).toEqual([expect.objectContaining({ status: 404, route: 'unmatched' })]);
  });

  it('a 500 carries the same request id in its body, header, error line and request event', async () => {
    const res = await fetch(`${base}/api/v1/boom`, { headers: bearer('reader-a') });
    expect(res.status).toBe(500);
    const body = (await res.json()) as { request_id: string };
    expect(res.headers.get('x-request-id')).toBe(body.request_id);
    const related = raw.filter((l) => l.includes(body.request_id));
    expect(related.some((l) => l.includes('kaput'))).toBe(true);
    expect(events().filter((e) => e.request_id === body.request_id)).toEqual([expect.objectContaining({ level: 'error', status: 500 })]);
    const conflict = await fetch(`${base}/api/v1/conflict`, { headers: bearer('reader-a') });
    expect(conflict.status).toBe(409);
  });
});

describe('/health/live and /health/ready', () => {
  it('are public routes with complete schemas', () => {
    for (const pattern of ['/health/live', '/health/ready']) {
      const route = server.routes.find((r) => r.pattern === pattern)!;
      expect(route).toMatchObject({ method: 'GET', access: 'public' });
      expect(route.schema?.summary).toBeTruthy();
      expect(route.schema?.tag).toBe('health');
      expect(Object.keys(route.schema!.responses).length).toBeGreaterThan(0);
    }
  });

  it('live answers 200 whatever the storage does; ready follows storage', async () => {
    expect(await (await fetch(`${base}/health/live`)).json()).toEqual({ status: 'alive' });
    const ready = await fetch(`${base}/health/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });

    engine.writable = false;
    try {
      const r = await fetch(`${base}/health/ready`);
      expect(r.status).toBe(503);
      const body = (await r.json()) as { status: string; reason: string };
      expect(body).toMatchObject({ status: 'not_ready', reason: expect.stringContaining('does not take writes') });
      expect(body.reason).not.toContain('/secret/path');
      expect((await fetch(`${base}/health/live`)).status).toBe(200);
    } finally {
      engine.writable = true;
    }
    engine.running = false;
    try {
      const r = await fetch(`${base}/health/ready`);
      expect(r.status).toBe(503);
      expect(((await r.json()) as { reason: string }).reason).toMatch(/storage is not open/);
    } finally {
      engine.running = true;
    }
  });

  it('ready answers 503 while the server shuts down', async () => {
    const routes = builtinRoutes({
      engine: engine as unknown as MetricsSystem, limits: { maxSeries: 1, maxPoints: 1 }, metrics: undefined as never, metricsAccess: 'open',
      queries: undefined as never, status: () => ({ shuttingDown: true, wsConnections: 0, decodeThreads: 0 }),
    });
    const ready = routes.find((r) => r.pattern === '/health/ready')!;
    const answer = await ready.handler({ method: 'GET', path: '/health/ready', params: {}, query: new URLSearchParams(), headers: {}, body: undefined, remoteAddress: '127.0.0.1', principal: undefined });
    expect(answer).toEqual({ status: 503, body: { status: 'not_ready', reason: 'server is shutting down' } });
  });
});
