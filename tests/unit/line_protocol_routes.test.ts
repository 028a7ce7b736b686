/**
 * POST /write and /api/v2/write in process: parameters, precision per dialect, gzip (bounded),
 * all-or-nothing storage and the error body naming line and column.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetricsSystem } from '../../src/index.js';
import { decodedBody } from '../../src/interop/content_encoding.js';
import { InteropSink } from '../../src/interop/interop_sink.js';
import { lineProtocolRoutes } from '../../src/interop/line_protocol_routes.js';
import { HttpError, type HttpRequest, type RouteDefinition } from '../../src/http/route.js';
import type { MetricsSystem } from '../../src/model/api.js';
import { QuotaExceededError } from '../../src/tenancy/quota.js';

let dir: string;
let engine: MetricsSystem;
let routes: RouteDefinition[];
let quota = 1_000_000;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-lp-'));
  engine = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 });
  await engine.start();
  routes = lineProtocolRoutes(new InteropSink(engine, () => ({ ingestPointsPerSecond: quota }) as never, { maxPoints: 1000, maxDecompressedBytes: 64 * 1024 }));
});
afterAll(async () => {
  await engine.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function post(path: '/write' | '/api/v2/write', text: string | Uint8Array, query = '', headers: Record<string, string> = {}, tenant = 'default') {
  const route = routes.find((r) => r.pattern === path)!;
  const req: HttpRequest = {
    method: 'POST', path, params: {}, query: new URLSearchParams(query), headers, body: undefined,
    rawBody: typeof text === 'string' ? new TextEncoder().encode(text) : text,
    remoteAddress: '127.0.0.1', principal: { id: 'ak_w', kind: 'api_key', role: 'writer', tenant },
  };
  try {
    const res = await route.handler(req);
    return { status: res.status ?? 200, headers: res.headers ?? {}, body: res.body as Record<string, unknown> | undefined };
  } catch (err) {
    if (err instanceof HttpError) return { status: err.status, headers: {}, body: err.body };
    if (err instanceof QuotaExceededError) return { status: 429, headers: {}, body: { error: err.message } };
    throw err;
  }
}

async function values(metricId: string, tenant = 'default'): Promise<Array<[number, number]>> {
  const series = await engine.forTenant(tenant).queryMetrics({ metricPattern: metricId, startTime: 0, endTime: Date.now() + 60_000 });
  return series.flatMap((s) => [...s.timestamps].map((t, i) => [t, s.values[i]!] as [number, number]));
}

describe('line protocol routes', () => {
  it('v1: stores each field as measurement.field in the caller\'s tenant, 204 with counts', async () => {
    const r = await post('/write', 'weather,city=x temp=21.5,ok=true,note="sunny" 1700000000\n', 'db=telegraf&precision=s', {}, 'tv1');
    expect(r.status).toBe(204);
    expect(r.headers).toEqual({ 'x-emms-points-accepted': '2', 'x-emms-skipped-string-fields': '1' });
    expect(await values('weather.temp', 'tv1')).toEqual([[1_700_000_000_000, 21.5]]);
    expect(await values('weather.ok', 'tv1')).toEqual([[1_700_000_000_000, 1]]);
    expect(await values('weather.temp')).toEqual([]);
  });

  it('v1 accepts n and u, v2 does not', async () => {
    expect((await post('/write', 'p1 v=1 1700000000000000', 'db=x&precision=u')).status).toBe(204);
    expect(await values('p1.v')).toEqual([[1_700_000_000_000, 1]]);
    expect((await post('/write', 'p2 v=1 1700000000000000000', 'precision=n')).status).toBe(204);
    const v2 = await post('/api/v2/write', 'p3 v=1 1700000000000', 'org=o&bucket=b&precision=u');
    expect(v2.status).toBe(400);
    expect(v2.body!.error).toMatch(/precision="u" must be one of ns, us, ms, s/);
    expect((await post('/api/v2/write', 'p3 v=1 1700000000000', 'org=o&bucket=b&precision=ms')).status).toBe(204);
    expect(await values('p3.v')).toEqual([[1_700_000_000_000, 1]]);
  });

  it('refuses unknown parameters naming them', async () => {
    const r = await post('/api/v2/write', 'x v=1', 'bucket=b&db=x');
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ parameter: 'db', code: 'invalid' });
  });

  it('a bad line: 400 naming line and column, nothing of the request stored', async () => {
    const r = await post('/write', 'ok1 v=1 1700000000000\nok1 v=2 1700000001000\nok1 v=zz 1700000002000', 'precision=ms');
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ line: 3, column: 7, code: 'invalid' });
    expect(String(r.body!.message)).toMatch(/^line 3, column 7: field "v"=zz is not a number/);
    expect(await values('ok1.v')).toEqual([]);
  });

  it('inflates gzip, bounded', async () => {
    const text = 'gz,host=a v=1 1700000000000\ngz,host=a v=2 1700000001000\n';
    const r = await post('/api/v2/write', gzipSync(text), 'bucket=b&precision=ms', { 'content-encoding': 'gzip' });
    expect(r.status).toBe(204);
    expect(await values('gz.v')).toEqual([[1_700_000_000_000, 1], [1_700_000_001_000, 2]]);
    const bomb = gzipSync(Buffer.alloc(1024 * 1024, 32));
    expect((await post('/write', bomb, '', { 'content-encoding': 'gzip' })).status).toBe(413);
    expect((await post('/write', Uint8Array.of(0x1f, 0x8b, 1, 2, 3), '', { 'content-encoding': 'gzip' })).status).toBe(400);
    expect((await post('/write', 'x v=1', '', { 'content-encoding': 'br' })).status).toBe(415);
  });

  it('refuses invalid UTF-8 and a quota overrun, storing nothing', async () => {
    expect((await post('/write', Uint8Array.of(0x6d, 0x20, 0x76, 0x3d, 0xff))).status).toBe(400);
    quota = 1;
    try {
      const r = await post('/write', 'q v=1\nq v=2\nq v=3');
      expect(r.status).toBe(429);
    } finally {
      quota = 1_000_000;
    }
    expect(await values('q.v')).toEqual([]);
  });

  it('an empty body stores nothing and succeeds', async () => {
    expect((await post('/write', '')).status).toBe(204);
  });

  it('decodedBody passes identity through', async () => {
    const raw = Uint8Array.of(1, 2, 3);
    expect(await decodedBody(raw, 'identity', 10)).toBe(raw);
    expect(await decodedBody(raw, undefined, 10)).toBe(raw);
  });
});
