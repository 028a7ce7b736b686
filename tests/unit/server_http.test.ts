/**
 * The server's plumbing in-process, over a recording test double of the engine (the real
 * engine is exercised in tests/integration/server_*.test.ts): routing, body limits, content
 * types, error mapping, ordered acks, custom frame handlers, blocklist and request stats. Every
 * request carries credentials of the fake authenticator (server_fakes.ts); what happens
 * without them is server_access.test.ts.
 */
import { Packr, Unpackr } from 'msgpackr';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsClient } from '../../bench/load/ws_client.js';
import { ApiStatsRecorder } from '../../src/collectors/api_stats.js';
import { defaultConfig } from '../../src/config/config.js';
import type { ColumnarSeries, MetricsSystem, QueryStats, SeriesResult } from '../../src/model/api.js';
import { MetricValidationError } from '../../src/model/metric.js';
import { HttpError } from '../../src/http/route.js';
import { createServer, type EmmsServer } from '../../src/server/server.js';
import { fixedQuotas } from '../../src/tenancy/quota.js';
import { FakeAuthenticator, bearer } from './server_fakes.js';

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

class RecordingEngine {
  tenant = 'default';
  /** Tenant of each view the server asked for, in order. */
  tenantsAsked: string[] = [];
  batches: ColumnarSeries[][] = [];
  writable = true;
  queryError: Error | undefined;
  lastQuery: unknown;
  running = true;
  dataDirectory = '/nowhere';
  async collectSeries(series: readonly ColumnarSeries[]): Promise<{ accepted: number }> {
    // Copy: the views point into transferred buffers the server may reuse.
    this.batches.push(series.map((s) => ({ ...s, timestamps: Float64Array.from(s.timestamps), values: Float64Array.from(s.values) })));
    await new Promise((r) => setTimeout(r, Math.random() * 5));
    return { accepted: series.reduce((n, s) => n + s.timestamps.length, 0) };
  }
  async queryWithStats(q: unknown): Promise<{ series: SeriesResult[]; stats: QueryStats }> {
    this.lastQuery = q;
    if (this.queryError !== undefined) throw this.queryError;
    return {
      series: [{ metricId: 'cpu', metricType: 'gauge', tags: { host: 'a' }, timestamps: new Float64Array([1000, 2000]), values: new Float64Array([1.5, 2]) }],
      stats: { series: 1, pointsScanned: 2, elapsedMs: 0.5 },
    };
  }
  async latest() {
    return [{ metricId: 'crypto.key-ops', metricType: 'counter' as const, tags: { alg: 'AES "256"' }, timestamp: 5000, value: 3 }];
  }
  stats() {
    return { series: 1, chunks: 2, headPoints: 3, walBytes: 4, pointsIngested: 5, batchesIngested: 6, diskBytes: 7 };
  }
  checkWritable(): void {
    if (!this.writable) throw new Error('disk is read-only');
  }
  /** One recorder for every tenant: the tests read which tenant was asked for. */
  forTenant(tenant: string): this {
    this.tenantsAsked.push(tenant);
    return this;
  }
}

const WRITER = bearer('writer-a');
const READER = bearer('reader-a');

const engine = new RecordingEngine();
const seenPrincipals: unknown[] = [];
const requestStats = new ApiStatsRecorder();
const blocked = new Set<string>();
let server: EmmsServer;
let base: string;

beforeAll(async () => {
  const config = defaultConfig();
  config.port = 0;
  config.collector.maxBodyBytes = 64 * 1024;
  config.collector.maxFrameBytes = 64 * 1024;
  config.collector.decodeThreads = 1;
  server = createServer({
    engine: engine as unknown as MetricsSystem,
    config,
    authenticator: new FakeAuthenticator(),
    quotas: fixedQuotas(),
    routes: [
      { method: 'GET', pattern: '/api/v1/keys/:key_id', access: 'reader', handler: (req) => ({ body: { id: req.params.key_id, q: req.query.get('x') } }) },
      { method: 'POST', pattern: '/api/v1/keys', access: 'admin', handler: (req) => ({ status: 201, body: { got: req.body } }) },
      { method: 'GET', pattern: '/api/v1/keys/boom', access: 'reader', handler: () => { throw new HttpError(409, 'conflict here'); } },
    ],
    frameHandlers: {
      key_events: async (items, ctx) => {
        seenPrincipals.push(ctx.principal);
        if (items.length > 2) throw new Error('too many key events');
        return { accepted: items.length };
      },
    },
    requestStats,
    ipBlocklist: { isBlocked: (ip) => blocked.has(ip) },
  });
  const { port } = await server.listen();
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await server.close();
});

describe('HTTP ingest', () => {
  it('accepts JSON and msgpack and answers once collectSeries resolved', async () => {
    const before = engine.batches.length;
    // Timestamps of 1970 need an explicit precision: unqualified ones before 2000 look like seconds.
    const r1 = await fetch(`${base}/api/v1/metrics?precision=ms`, {
      method: 'POST', headers: { ...WRITER, 'content-type': 'application/json; charset=utf-8' },
      body: JSON.stringify({ metrics: [{ metric_id: 'a', value: 1, timestamp: 1000, tags: { h: 'x' } }, { metric_id: 'a', value: 2, timestamp: 2000, tags: { h: 'x' } }] }),
    });
    expect(r1.status).toBe(200);
    expect(await r1.json()).toEqual({ accepted: 2 });
    const r2 = await fetch(`${base}/api/v1/metrics?precision=ms`, {
      method: 'POST', headers: { ...WRITER, 'content-type': 'application/x-msgpack' },
      body: new Uint8Array(packr.pack({ metrics: [{ metric_id: "b", value: 3, timestamp: 3000 }] })),
    });
    expect(await r2.json()).toEqual({ accepted: 1 });
    const got = engine.batches.slice(before);
    expect(got[0]![0]!.metricId).toBe('a');
    expect(Array.from(got[0]![0]!.values)).toEqual([1, 2]);
    expect(got[1]![0]!.tags).toEqual({});
  });

  it('answers 400 with index and field, 413, 415', async () => {
    const bad = await fetch(`${base}/api/v1/metrics`, {
      method: 'POST', headers: { ...WRITER, 'content-type': 'application/json' },
      body: JSON.stringify({ metrics: [{ metric_id: 'a', value: 1 }, { metric_id: 'a', value: 'x' }] }),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ index: 1, field: 'value' });
    const big = await fetch(`${base}/api/v1/metrics`, { method: 'POST', headers: { ...WRITER, 'content-type': 'application/json' }, body: 'x'.repeat(100 * 1024) });
    expect(big.status).toBe(413);
    const text = await fetch(`${base}/api/v1/metrics`, { method: 'POST', headers: { ...WRITER, 'content-type': 'text/plain' }, body: 'cpu 1' });
    expect(text.status).toBe(415);
    const empty = await fetch(`${base}/api/v1/metrics`, { method: 'POST', headers: { ...WRITER, 'content-type': 'application/json' }, body: '{"metrics":[]}' });
    expect(empty.status).toBe(400);
  });
});

describe('query, health, metrics, federate, routes', () => {
  it('maps GET parameters and renders points', async () => {
    const r = await fetch(`${base}/api/v1/query?metric_pattern=cpu*&start_time=2024-01-01T00:00:00Z&end_time=1704070800000&aggregation=avg&interval=1h&group_by=host,dc&tag.region=eu`, { headers: READER });
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({
      series: [{ metric_id: 'cpu', metric_type: 'gauge', tags: { host: 'a' }, points: [[1000, 1.5], [2000, 2]] }],
      stats: { series: 1, points_scanned: 2, elapsed_ms: 0.5 },
    });
    expect(engine.lastQuery).toEqual({
      metricPattern: 'cpu*', startTime: Date.UTC(2024, 0, 1), endTime: 1704070800000, aggregation: 'avg', interval: '1h',
      groupBy: ['host', 'dc'], tags: { region: 'eu' }, maxSeries: 10_000, maxPoints: 1_000_000,
    });
    // The query ran on the caller's tenant, from its credentials.
    expect(engine.tenantsAsked.at(-1)).toBe('a');
    const post = await fetch(`${base}/api/v1/query`, { method: 'POST', headers: { ...READER, 'content-type': 'application/json' }, body: JSON.stringify({ metric_pattern: 'x', tags: { a: 'b' }, group_by: [], aggregation: 'max', interval: '5m' }) });
    expect(post.status).toBe(200);
    expect(engine.lastQuery).toMatchObject({ metricPattern: 'x', tags: { a: 'b' }, groupBy: [], aggregation: 'max' });
  });

  it('answers 400 naming the parameter, 422 for limit errors', async () => {
    const r = await fetch(`${base}/api/v1/query?metric_pattern=x&aggregation=median&interval=1h`, { headers: READER });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ parameter: 'aggregation' });
    const r2 = await fetch(`${base}/api/v1/query?start_time=0`, { headers: READER });
    expect((await r2.json()).parameter).toBe('metric_pattern');
    const limit = new Error('selection has 20000 series; limit 10000');
    limit.name = 'QueryLimitError';
    engine.queryError = limit;
    const r3 = await fetch(`${base}/api/v1/query?metric_pattern=*`, { headers: READER });
    expect(r3.status).toBe(422);
    engine.queryError = new MetricValidationError('interval=7q is not valid', -1, 'interval', '7q');
    const r4 = await fetch(`${base}/api/v1/query?metric_pattern=*`, { headers: READER });
    expect(r4.status).toBe(400);
    engine.queryError = undefined;
  });

  it('health is 503 naming storage when it cannot be written (components only with credentials)', async () => {
    expect((await fetch(`${base}/health`)).status).toBe(200);
    engine.writable = false;
    const r = await fetch(`${base}/health`, { headers: READER });
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ status: 'error', failing: 'storage', components: { storage: { error: 'disk is read-only' } } });
    const anonymous = await fetch(`${base}/health`);
    expect(anonymous.status).toBe(503);
    expect(await anonymous.json()).toEqual({ status: 'error' });
    engine.writable = true;
  });

  it('serves /metrics and /federate in the text format', async () => {
    const m = await (await fetch(`${base}/metrics`)).text();
    expect(m).toMatch(/^emms_points_ingested_total\{transport="http"\} \d+$/m);
    expect(m).toMatch(/^emms_series 1$/m);
    const f = await fetch(`${base}/federate?match=crypto.*`, { headers: READER });
    expect(f.headers.get('content-type')).toMatch(/text\/plain; version=0.0.4/);
    expect(await f.text()).toContain('crypto_key_ops{alg="AES \\"256\\""} 3 5000');
    expect((await fetch(`${base}/federate`, { headers: READER })).status).toBe(400);
  });

  it('/metrics passes promtool check metrics', async () => {
    // Exercise every family first: nacks, histograms, http counters.
    await fetch(`${base}/api/v1/query?metric_pattern=x`, { headers: READER });
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toMatch(/^emms_ingest_ack_seconds_bucket\{le="\+Inf"\} \d+$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d+$/m);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(check.error).toBeUndefined();
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
  });

  it('mounts feature routes with params, HttpError status, 404 and 405', async () => {
    expect(await (await fetch(`${base}/api/v1/keys/k%201?x=y`, { headers: READER })).json()).toEqual({ id: 'k 1', q: 'y' });
    const c = await fetch(`${base}/api/v1/keys`, { method: 'POST', headers: { ...bearer('admin-a'), 'content-type': 'application/msgpack' }, body: new Uint8Array(packr.pack({ a: 1 })) });
    expect(c.status).toBe(201);
    expect(await c.json()).toEqual({ got: { a: 1 } });
    const boom = await fetch(`${base}/api/v1/keys/boom`, { headers: READER });
    expect(boom.status).toBe(409);
    expect(await boom.json()).toEqual({ error: 'conflict here' });
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    const wrong = await fetch(`${base}/api/v1/keys`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect([...requestStats.answers()]).toContainEqual({ route: '/api/v1/keys/:key_id', status: 200, count: expect.any(Number) });
    expect((await fetch(`${base}/api/v1/keys`, { method: 'POST', headers: { ...bearer('admin-a'), 'content-type': 'text/csv' }, body: 'a,b' })).status).toBe(415);
  });
});

describe('ipBlocklist', () => {
  it('answers 403 to blocked addresses on HTTP and WebSocket upgrade', async () => {
    blocked.add('127.0.0.1');
    try {
      const r = await fetch(`${base}/health`);
      expect(r.status).toBe(403);
      expect((await r.json()).error).toMatch(/127\.0\.0\.1 is blocked/);
      await expect(WsClient.open(`${base.replace('http', 'ws')}/api/v1/stream`, { headers: WRITER })).rejects.toThrow(/403/);
    } finally {
      blocked.delete('127.0.0.1');
    }
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });
});

describe('WebSocket stream', () => {
  it('acks in order, nacks bad frames, and rides custom frames', async () => {
    const ws = await WsClient.open(`${base.replace('http', 'ws')}/api/v1/stream`, { headers: WRITER });
    const replies: unknown[] = [];
    ws.onMessage = (m) => replies.push(unpackr.unpack(m.data));
    for (let seq = 0; seq < 20; seq++) {
      ws.send(packr.pack({ seq, metrics: [{ metric_id: 'w', value: seq, timestamp: 1000 + seq }] }));
    }
    ws.send(packr.pack({ seq: 20, metrics: [{ metric_id: 'w', value: NaN }] }));
    ws.sendText('hello');
    ws.send(new Uint8Array([1, 2, 3]));
    ws.send(packr.pack({ seq: 21, key_events: [{ k: 1 }, { k: 2 }] }));
    ws.send(packr.pack({ seq: 22, key_events: [1, 2, 3] }));
    ws.send(packr.pack({ seq: 5, metrics: [{ metric_id: 'w', value: 1 }] }));
    await expect.poll(() => replies.length, { timeout: 5000 }).toBe(26);
    for (let seq = 0; seq < 20; seq++) expect(replies[seq]).toEqual({ ack: seq, accepted: 1 });
    expect(replies[20]).toMatchObject({ nack: 20, error: expect.stringMatching(/value=NaN/) });
    expect(replies[21]).toMatchObject({ nack: null, error: expect.stringMatching(/text frames/) });
    expect(replies[22]).toMatchObject({ nack: null });
    expect(replies[23]).toEqual({ ack: 21, accepted: 2 });
    expect(replies[24]).toEqual({ nack: 22, error: 'too many key events' });
    expect(replies[25]).toEqual({ ack: 5, accepted: 1 });
    expect(engine.tenantsAsked).toContain('a');
    ws.close();
  });

  it('hands frame handlers the connection\'s principal', async () => {
    seenPrincipals.length = 0;
    const ws = await WsClient.open(`${base.replace('http', 'ws')}/api/v1/stream`, { headers: WRITER });
    const replies: unknown[] = [];
    ws.onMessage = (m) => replies.push(unpackr.unpack(m.data));
    ws.send(packr.pack({ seq: 1, key_events: [{ k: 1 }] }));
    await expect.poll(() => replies.length, { timeout: 5000 }).toBe(1);
    expect(seenPrincipals).toEqual([{ id: 'ak_writer_a', kind: 'api_key', role: 'writer', tenant: 'a' }]);
    ws.close();
  });

  it('closes a connection sending a frame over max_frame_bytes (uWS maxPayloadLength) without buffering it', async () => {
    const ws = await WsClient.open(`${base.replace('http', 'ws')}/api/v1/stream`, { headers: WRITER });
    ws.send(new Uint8Array(64 * 1024 + 1));
    await expect.poll(() => ws.closed, { timeout: 5000 }).toBe(true);
    // This uWS build drops the TCP connection (1006 at the client) rather than send 1009.
    expect([1006, 1009]).toContain(ws.closeCode);
    // Exactly the limit is still a frame (here refused as not MessagePack, on an open connection).
    const ok = await WsClient.open(`${base.replace('http', 'ws')}/api/v1/stream`, { headers: WRITER });
    const replies: any[] = [];
    ok.onMessage = (m) => replies.push(unpackr.unpack(m.data));
    ok.send(new Uint8Array(64 * 1024));
    await expect.poll(() => replies.length, { timeout: 5000 }).toBe(1);
    expect(replies[0]).toMatchObject({ nack: null });
    expect(ok.closed).toBe(false);
    ok.close();
  });
});

describe('stream backpressure', () => {
  it('holds frames past max_unacked_bytes, then cuts the connection off with 1008 and a reason', async () => {
    const releases: Array<() => void> = [];
    const stalled: Record<string, unknown> = {
      ...engine,
      running: true,
      collectSeries: (series: readonly ColumnarSeries[]) =>
        new Promise<{ accepted: number }>((resolve) => releases.push(() => resolve({ accepted: series.length }))),
    };
    stalled.forTenant = () => stalled;
    const config = defaultConfig();
    config.port = 0;
    config.collector.decodeThreads = 0;
    config.collector.maxFrameBytes = 4096;
    config.collector.maxUnackedBytes = 16 * 1024;
    const small = createServer({ engine: stalled as unknown as MetricsSystem, config, authenticator: new FakeAuthenticator(), quotas: fixedQuotas() });
    const { port } = await small.listen();
    try {
      const ws = await WsClient.open(`ws://127.0.0.1:${port}/api/v1/stream`, { headers: WRITER });
      const replies: any[] = [];
      ws.onMessage = (m) => replies.push(unpackr.unpack(m.data));
      const frame = (seq: number) => packr.pack({ seq, metrics: [{ metric_id: 'bp', value: seq, timestamp: 1000 + seq, tags: { pad: 'x'.repeat(900) } }] });
      // ~1 KiB frames: 16 in flight, 16 more held back, then the bound is passed.
      for (let seq = 0; seq < 40; seq++) ws.send(frame(seq));
      await expect.poll(() => ws.closed, { timeout: 5000 }).toBe(true);
      expect(ws.closeCode).toBe(1008);
      expect(ws.closeReason).toMatch(/max_unacked_bytes/);
      // Only the frames within the in-flight bound reached the engine.
      expect(releases.length).toBeLessThanOrEqual(16);
      expect(releases.length).toBeGreaterThan(0);
      expect(small.metrics.wsConnectionsCutOff).toBe(1);
      for (const r of releases) r();
    } finally {
      await small.close();
    }
  });
});
