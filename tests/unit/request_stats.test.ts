/**
 * One tally of requests (src/collectors/api_stats.ts): the server records each HTTP answer and
 * each stream frame once into an ApiStatsRecorder, and both GET /metrics'
 * `emms_http_requests_total` and the `application.api.*` collector read that recorder. Checked
 * on the recorder alone, then through a real server answering real requests.
 */
import { Packr, Unpackr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsClient } from '../../bench/load/ws_client.js';
import { API_METRICS, ApiStatsCollector, ApiStatsRecorder, MAX_TRACKED_ROUTES, OTHER_ROUTE } from '../../src/collectors/api_stats.js';
import { defaultConfig } from '../../src/config/config.js';
import type { MetricsSystem } from '../../src/model/api.js';
import type { MetricDataPoint } from '../../src/model/metric.js';
import { createServer, type EmmsServer } from '../../src/server/server.js';
import { SelfMetrics } from '../../src/server/self_metrics.js';
import { fixedQuotas } from '../../src/tenancy/quota.js';
import { FakeAuthenticator, bearer } from './server_fakes.js';

/** `emms_http_requests_total` samples of a /metrics text, as `route code → value`. */
function httpRequestsTotal(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^emms_http_requests_total\{route="([^"]*)",code="(\d+)"\} (\S+)$/gm)) out.set(`${m[1]} ${m[2]}`, Number(m[3]));
  return out;
}

/** `application.api.*` values of one collection, as `metric route → value`. */
function apiValues(points: MetricDataPoint[]): Map<string, number> {
  return new Map(points.map((p) => [`${p.metricId} ${p.tags!.route}`, p.value]));
}

describe('ApiStatsRecorder as the one tally', () => {
  it('shows one HTTP answer once in emms_http_requests_total and once in application.api.*', () => {
    const rec = new ApiStatsRecorder();
    const metrics = new SelfMetrics(rec);
    const collector = new ApiStatsCollector(rec, 0);
    rec.record('/api/v1/keys/:key_id', 503, 12);
    expect(httpRequestsTotal(metrics.render(undefined))).toEqual(new Map([['/api/v1/keys/:key_id 503', 1]]));
    // One second since the collector started: the rate is the count.
    expect(apiValues(collector.collect(1000))).toEqual(new Map([
      [`${API_METRICS.responseTime} /api/v1/keys/:key_id`, 12],
      [`${API_METRICS.requestRate} /api/v1/keys/:key_id`, 1],
      [`${API_METRICS.errorRate} /api/v1/keys/:key_id`, 1],
    ]));
  });

  it('counts stream frames in application.api.* only: they are not HTTP requests', () => {
    const rec = new ApiStatsRecorder();
    const metrics = new SelfMetrics(rec);
    rec.record('ws:/api/v1/stream', 401, 1);
    rec.recordFrame('ws:/api/v1/stream', 200, 3);
    rec.recordFrame('ws:/api/v1/stream', 503, 5);
    expect(httpRequestsTotal(metrics.render(undefined))).toEqual(new Map([['ws:/api/v1/stream 401', 1]]));
    expect(rec.drain()).toEqual([{ route: 'ws:/api/v1/stream', requests: 3, errors: 1, meanMs: 3, maxMs: 5 }]);
  });

  it('keeps HTTP answers since start while each drain starts a new interval', () => {
    const rec = new ApiStatsRecorder();
    rec.record('/a', 200, 2);
    rec.record('/a', 200, 4);
    rec.record('/a', 404, Number.NaN);
    expect(rec.drain()).toEqual([{ route: '/a', requests: 3, errors: 0, meanMs: 2, maxMs: 4 }]);
    expect(rec.drain()).toEqual([{ route: '/a', requests: 0, errors: 0, meanMs: null, maxMs: 0 }]);
    rec.record('/a', 200, 1);
    expect([...rec.answers()]).toEqual([{ route: '/a', status: 200, count: 3 }, { route: '/a', status: 404, count: 1 }]);
  });

  it('bounds the routes of both outputs with one `other`', () => {
    const rec = new ApiStatsRecorder();
    for (let i = 0; i < MAX_TRACKED_ROUTES + 50; i++) rec.record(`/r${i}`, 200, 1);
    rec.recordFrame('ws:late', 200, 1);
    const answers = [...rec.answers()];
    expect(answers).toHaveLength(MAX_TRACKED_ROUTES + 1);
    expect(answers.at(-1)).toEqual({ route: OTHER_ROUTE, status: 200, count: 50 });
    const drained = rec.drain();
    expect(drained).toHaveLength(MAX_TRACKED_ROUTES + 1);
    expect(drained.at(-1)).toMatchObject({ route: OTHER_ROUTE, requests: 51 });
  });
});

describe('a server recording into the app\'s recorder', () => {
  const packr = new Packr({ useRecords: false });
  const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
  const rec = new ApiStatsRecorder();
  let server: EmmsServer;
  let base: string;

  beforeAll(async () => {
    const config = defaultConfig();
    config.port = 0;
    config.collector.decodeThreads = 1;
    const engine = {
      tenant: 'default',
      running: true,
      forTenant() {
        return this;
      },
      stats: () => ({ series: 0, chunks: 0, headPoints: 0, walBytes: 0, pointsIngested: 0, batchesIngested: 0, diskBytes: 0 }),
      checkWritable: () => undefined,
    };
    server = createServer({
      engine: engine as unknown as MetricsSystem,
      config,
      authenticator: new FakeAuthenticator(),
      quotas: fixedQuotas(),
      routes: [{ method: 'GET', pattern: '/api/v1/widgets/:id', access: 'reader', handler: (req) => ({ body: { id: req.params.id } }) }],
      frameHandlers: { key_events: async (items) => ({ accepted: items.length }) },
      requestStats: rec,
    });
    base = `http://127.0.0.1:${(await server.listen()).port}`;
  });

  afterAll(async () => {
    await server.close();
  });

  it('counts a request, a refused upgrade and a frame once each, seen by /metrics and the collector', async () => {
    expect(server.metrics.requests).toBe(rec);
    const collector = new ApiStatsCollector(rec, 0);
    expect((await fetch(`${base}/api/v1/widgets/w1`, { headers: bearer('reader-a') })).status).toBe(200);
    await expect(WsClient.open(`${base.replace('http', 'ws')}/api/v1/stream`)).rejects.toThrow(/401/);
    const ws = await WsClient.open(`${base.replace('http', 'ws')}/api/v1/stream`, { headers: bearer('writer-a') });
    const replies: unknown[] = [];
    ws.onMessage = (m) => replies.push(unpackr.unpack(m.data));
    ws.send(packr.pack({ seq: 1, key_events: [{ k: 1 }] }));
    await expect.poll(() => replies.length, { timeout: 5000 }).toBe(1);
    expect(replies[0]).toEqual({ ack: 1, accepted: 1 });
    ws.close();

    const text = await (await fetch(`${base}/metrics`)).text();
    const total = httpRequestsTotal(text);
    expect(total.get('/api/v1/widgets/:id 200')).toBe(1);
    expect(total.get('ws:/api/v1/stream 401')).toBe(1);
    // The frame's ack is not an HTTP answer; the accepted upgrade is not counted either.
    expect([...total.keys()].filter((k) => k.startsWith('ws:'))).toEqual(['ws:/api/v1/stream 401']);

    // One second since the collector started: request rates are counts. The stream route
    // has the refused upgrade and the frame; /metrics has the scrape above.
    const api = apiValues(collector.collect(1000));
    expect(api.get(`${API_METRICS.requestRate} /api/v1/widgets/:id`)).toBe(1);
    expect(api.get(`${API_METRICS.requestRate} ws:/api/v1/stream`)).toBe(2);
    expect(api.get(`${API_METRICS.errorRate} ws:/api/v1/stream`)).toBe(0);
    expect([...rec.answers()].filter((a) => a.route === '/api/v1/widgets/:id')).toEqual([{ route: '/api/v1/widgets/:id', status: 200, count: 1 }]);
  });
});
