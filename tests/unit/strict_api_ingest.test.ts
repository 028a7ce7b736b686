/**
 * Strictness of ingest through a real server in this process (decode threads 0, so the decoder
 * runs here and counts for coverage): `precision`, the 2000 floor when no precision is given,
 * unknown point fields, metric-type conflicts (409 naming the stored type; a nack on the
 * stream), and the strict check of routed requests.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr, Unpackr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsClient } from '../../bench/load/ws_client.js';
import { defaultConfig } from '../../src/config/config.js';
import { FrameDecoder, PayloadRefusedError } from '../../src/ingest/frame_decoder.js';
import { MetricTypeConflictError } from '../../src/ingest/series_resolver.js';
import { DEFAULT_TIMESTAMP_POLICY, floorMessage, numericTimeMs, timestampPolicy } from '../../src/ingest/timestamp_precision.js';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import { createServer, type EmmsServer } from '../../src/server/server.js';
import { fixedQuotas } from '../../src/tenancy/quota.js';
import { FakeAuthenticator, bearer } from './server_fakes.js';

const T = Date.UTC(2026, 0, 1);
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
let dir: string;
let engine: EngineMetricsSystem;
let server: EmmsServer;
let base: string;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-strict-ingest-'));
  engine = new EngineMetricsSystem({ path: join(dir, 'm.db'), queryWorkers: 0 });
  await engine.start();
  const config = defaultConfig();
  config.port = 0;
  config.collector.decodeThreads = 0;
  server = createServer({ engine, config, authenticator: new FakeAuthenticator(), quotas: fixedQuotas() });
  ({ port } = await server.listen());
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await server?.close();
  await engine?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function ingest(body: unknown, query = ''): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}/api/v1/metrics${query}`, { method: 'POST', headers: { ...bearer('writer-a'), 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

async function stored(metricId: string): Promise<number[]> {
  const series = await engine.forTenant('a').queryMetrics({ metricPattern: metricId, startTime: 0 });
  return series.flatMap((s) => Array.from(s.timestamps));
}

describe('precision', () => {
  it('refuses seconds sent without a precision, naming the fix, and stores nothing', async () => {
    const r = await ingest({ metrics: [{ metric_id: 'p.sec', value: 1, timestamp: T + 1 }, { metric_id: 'p.sec', value: 1, timestamp: T / 1000 }] });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ index: 1, field: 'timestamp' });
    expect(r.json.error).toBe(`metrics[1].timestamp=${T / 1000} is before 2000-01-01 read as milliseconds (the default precision); it looks like seconds: send precision=s, or precision=ms if you mean a time before 2000`);
    expect(await stored('p.sec')).toEqual([]);
  });

  it.each([['s', T / 1000], ['ms', T], ['us', T * 1000], ['ns', T * 1e6]] as const)('reads precision=%s in rows and columns', async (precision, t) => {
    const rows = await ingest({ metrics: [{ metric_id: `p.rows.${precision}`, value: 1, timestamp: t }] }, `?precision=${precision}`);
    expect(rows.status).toBe(200);
    const cols = await ingest({ series: [{ metric_id: `p.cols.${precision}`, timestamps: [t, t + (precision === 's' ? 1 : 1000)], values: [1, 2] }] }, `?precision=${precision}`);
    expect(cols.status).toBe(200);
    expect(await stored(`p.rows.${precision}`)).toEqual([T]);
    expect((await stored(`p.cols.${precision}`))[0]).toBe(T);
  });

  it('stores a time before 2000 when the precision is given, and ISO times always', async () => {
    const t1990 = Date.UTC(1990, 0, 1);
    expect((await ingest({ metrics: [{ metric_id: 'p.old', value: 1, timestamp: t1990 }] }, '?precision=ms')).status).toBe(200);
    expect((await ingest({ metrics: [{ metric_id: 'p.old', value: 2, timestamp: '1991-01-01T00:00:00Z' }] })).status).toBe(200);
    expect((await ingest({ series: [{ metric_id: 'p.oldcols', timestamps: [t1990], values: [1] }] })).json.error).toContain('series[0].timestamps[0]=631152000000 is before 2000-01-01');
    expect(await stored('p.old')).toEqual([t1990, Date.UTC(1991, 0, 1)]);
  });

  it('answers one 400 for a bad or misspelt precision', async () => {
    const bad = await ingest({ metrics: [{ metric_id: 'p.x', value: 1 }] }, '?precision=sec&precison=s');
    expect(bad.status).toBe(400);
    expect(bad.json.problems.map((p: any) => [p.name, p.problem, p.did_you_mean])).toEqual([['precison', 'unknown', 'precision'], ['precision', 'invalid', undefined]]);
    expect(bad.json.problems[1].message).toBe('precision="sec" must be one of s, ms, us, ns (leave it out for the default "ms")');
  });

  it('policy helpers', () => {
    expect(timestampPolicy(undefined)).toBe(DEFAULT_TIMESTAMP_POLICY);
    expect(() => timestampPolicy('h')).toThrow('precision="h" must be one of s, ms, us, ns');
    expect(numericTimeMs(1.1, timestampPolicy('s'))).toBe(1100);
    expect(numericTimeMs(1500, timestampPolicy('us'))).toBe(1.5);
    expect(floorMessage('t', -5, timestampPolicy('s'))).toBe('t=-5 is before the earliest time accepted at precision=s');
    expect(floorMessage('t', 5, DEFAULT_TIMESTAMP_POLICY)).toContain('send precision=s, us or ns for another unit');
  });

  it('the decoder fast path gives way to the slow path for a time below the floor, and accepts msgpack timestamps', () => {
    const decoder = new FrameDecoder({ maxPointsPerBatch: 100 });
    const frame = (t: unknown) => packr.pack({ metrics: [{ metric_id: 'fast', value: 1, timestamp: t }] });
    const http = DEFAULT_TIMESTAMP_POLICY;
    expect(decoder.decode(frame(T), 'msgpack', false, T, 0, http)).toMatchObject({ points: 1 });
    expect(() => decoder.decode(frame(1_000), 'msgpack', false, T, 0, http)).toThrow(PayloadRefusedError);
    expect(() => decoder.decode(frame(1_000), 'msgpack', false, T, 0, http)).toThrow('is before 2000-01-01');
    expect(decoder.decode(frame(new Date(Date.UTC(1995, 0, 1))), 'msgpack', false, T, 0, http)).toMatchObject({ points: 1 });
    // The stream's contract (the decoder's default): milliseconds over the whole storable range.
    expect(decoder.decode(frame(1_000), 'msgpack', false, T)).toMatchObject({ points: 1 });
    expect(decoder.decode(frame(T / 1000), 'msgpack', false, T, 0, timestampPolicy('s'))).toMatchObject({ points: 1 });
  });
});

describe('unknown point fields', () => {
  it('refuses labels, metricId and friends, with a hint when one is close', async () => {
    const labels = await ingest({ metrics: [{ metric_id: 'u.a', value: 1, labels: { host: 'a' } }] });
    expect(labels.status).toBe(400);
    expect(labels.json).toMatchObject({ index: 0, field: 'labels' });
    expect(labels.json.error).toBe('metrics[0].labels is not a known field; known: metric_id, metric_type, value, timestamp, tags');
    const camel = await ingest({ metrics: [{ metricId: 'u.a', value: 1 }] });
    expect(camel.json.error).toContain('metrics[0].metricId is not a known field (did you mean metric_id?)');
    const cols = await ingest({ series: [{ metric_id: 'u.a', timestamps: [T], values: [1], timestamp: T }] });
    expect(cols.json.error).toContain('series[0].timestamp is not a known field (did you mean timestamps?)');
    expect(await stored('u.a')).toEqual([]);
  });
});

describe('metric-type conflicts', () => {
  it('answers 409 naming the stored type, accepts the type left out, and stores nothing of the batch', async () => {
    expect((await ingest({ metrics: [{ metric_id: 'tc.cpu', value: 1, timestamp: T, metric_type: 'gauge' }] })).status).toBe(200);
    const conflict = await ingest({ metrics: [{ metric_id: 'tc.other', value: 1, timestamp: T }, { metric_id: 'tc.cpu', value: 2, timestamp: T + 1, metric_type: 'counter' }] });
    expect(conflict.status).toBe(409);
    expect(conflict.json).toMatchObject({ index: 1, field: 'metric_type' });
    expect(conflict.json.error).toBe('points[1].metric_type="counter" conflicts with series "tc.cpu", stored as a gauge; send metric_type="gauge" or leave it out, or use another metric id');
    expect(await stored('tc.other')).toEqual([]);
    expect((await ingest({ metrics: [{ metric_id: 'tc.cpu', value: 3, timestamp: T + 2 }] })).status).toBe(200);
    expect((await ingest({ series: [{ metric_id: 'tc.cpu', metric_type: 'counter', timestamps: [T + 3], values: [1] }] })).status).toBe(409);
    expect(await stored('tc.cpu')).toEqual([T, T + 2]);
  });

  it('nacks the same conflict on the stream', async () => {
    const ws = await WsClient.open(`ws://127.0.0.1:${port}/api/v1/stream`, { headers: bearer('writer-a') });
    try {
      const reply = new Promise<Record<string, unknown>>((resolve) => {
        ws.onMessage = (m) => resolve(unpackr.unpack(m.data) as Record<string, unknown>);
      });
      ws.send(packr.pack({ seq: 7, metrics: [{ metric_id: 'tc.cpu', value: 9, timestamp: T + 5, metric_type: 'counter' }] }));
      const answer = await reply;
      expect(answer.nack).toBe(7);
      expect(String(answer.error)).toContain('stored as a gauge');
    } finally {
      ws.close();
    }
  });

  it('refuses the conflict in the embedded API too', async () => {
    const view = engine.forTenant('a');
    await expect(view.collectMetrics([{ metricId: 'tc.cpu', value: 1, timestamp: T + 9, metricType: 'counter' }])).rejects.toThrow(MetricTypeConflictError);
    await expect(view.collectSeries([{ metricId: 'tc.cpu', metricType: 'counter', timestamps: [T + 9], values: [1] }])).rejects.toThrow('series[0].metric_type="counter" conflicts');
  });
});

describe('routed requests', () => {
  it('answers unknown and invalid query parameters in one 400 before the handler runs', async () => {
    const res = await fetch(`${base}/api/v1/query?metricPattern=x&interval=24&tag.host=a`, { headers: bearer('reader-a') });
    expect(res.status).toBe(400);
    const body = await res.json() as any;
    expect(body.problems.map((p: any) => p.name)).toEqual(['metricPattern', 'metric_pattern', 'interval']);
    expect(body.problems[0].did_you_mean).toBe('metric_pattern');
  });

  it('says interval, never options.intervalMs, when a query makes too many buckets', async () => {
    const res = await fetch(`${base}/api/v1/query?metric_pattern=tc.cpu&start_time=0&end_time=now&aggregation=avg&interval=1ms`, { headers: bearer('reader-a') });
    const body = await res.json() as any;
    expect(res.status).toBe(400);
    expect(body.error).toMatch(/^interval="1ms" makes \d+ buckets over the range queried/);
    expect(body.error).not.toContain('options.');
  });
});
