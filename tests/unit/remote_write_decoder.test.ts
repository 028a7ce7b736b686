/**
 * Remote write in, in process: the decoder (snappy + protobuf via the maintained libraries,
 * bounds checked before allocation) and the route storing into the caller's tenant.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compressSync } from 'snappy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMetricsSystem } from '../../src/index.js';
import { InteropSink } from '../../src/interop/interop_sink.js';
import { decodeRemoteWrite, decodeRemoteWriteSeries, snappyDeclaredLength } from '../../src/interop/remote_write_decoder.js';
import { refusal } from './remote_write_refusal.js';
import { encodeWriteRequest } from '../../src/interop/remote_write_proto.js';
import { LocalNumbering } from '../../src/interop/series_numbering.js';
import { remoteWriteRoutes } from '../../src/interop/remote_write_routes.js';
import type { HttpRequest, RouteDefinition } from '../../src/http/route.js';
import { HttpError } from '../../src/http/route.js';
import type { MetricsSystem } from '../../src/model/api.js';

const LIMITS = { maxDecompressedBytes: 1 << 20, maxSeries: 100, maxSamples: 1000 };
const T0 = 1_700_000_000_000;
const STALE_NAN = new Float64Array(new BigUint64Array([0x7ff0000000000002n]).buffer)[0]!;

type Series = { labels: Array<{ name: string; value: string }>; samples: Array<{ value: number; timestamp: number }> };

function body(timeseries: Series[]): Uint8Array {
  return compressSync(Buffer.from(encodeWriteRequest({ timeseries })));
}

function series(name: string, labels: Record<string, string>, samples: Array<[number, number]>): Series {
  return { labels: [{ name: '__name__', value: name }, ...Object.entries(labels).map(([n, v]) => ({ name: n, value: v }))], samples: samples.map(([timestamp, value]) => ({ timestamp, value })) };
}

describe('remote write decoder', () => {
  it('decodes names, labels and samples; __name__ stays as is', () => {
    const d = decodeRemoteWriteSeries(body([series('node_cpu_seconds_total', { cpu: '0', mode: 'idle' }, [[T0, 1.5], [T0 + 15_000, 2.5]])]), LIMITS);
    expect(d.samples).toBe(2);
    expect(d.series).toHaveLength(1);
    const s = d.series[0]!;
    expect(s.metricId).toBe('node_cpu_seconds_total');
    expect(s.tags).toEqual({ cpu: '0', mode: 'idle' });
    expect([...s.timestamps]).toEqual([T0, T0 + 15_000]);
    expect([...s.values]).toEqual([1.5, 2.5]);
  });

  it('skips and counts NaN (staleness markers) and ±Inf; a series left empty is dropped', () => {
    const d = decodeRemoteWriteSeries(body([
      series('up', { job: 'a' }, [[T0, 1], [T0 + 1, STALE_NAN], [T0 + 2, Infinity], [T0 + 3, 0]]),
      series('gone', {}, [[T0, NaN]]),
    ]), LIMITS);
    expect(d.skippedNonFinite).toBe(3);
    expect(d.series.map((s) => [s.metricId, [...s.values]])).toEqual([['up', [1, 0]]]);
  });

  it('validates a series once per numbering: the same labels again are a cache hit', () => {
    const numbering = new LocalNumbering();
    const one = body([series('up', { job: 'a' }, [[T0, 1]])]);
    decodeRemoteWrite(one, LIMITS, numbering);
    const again = decodeRemoteWrite(one, LIMITS, numbering);
    expect(numbering.size).toBe(1);
    expect([...again.seriesOf]).toEqual([0]);
  });

  it('treats an empty label value as no label', () => {
    const d = decodeRemoteWriteSeries(body([series('up', { job: 'a', instance: '' }, [[T0, 1]])]), LIMITS);
    expect(d.series[0]!.tags).toEqual({ job: 'a' });
  });

  it('reads snappy\'s declared length', () => {
    expect(snappyDeclaredLength(Uint8Array.of(0x05))).toBe(5);
    expect(snappyDeclaredLength(Uint8Array.of(0xac, 0x02))).toBe(300);
    expect(snappyDeclaredLength(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff))).toBeUndefined();
  });

  it('refuses a declared size past the limit before decompressing', () => {
    const e = refusal(() => decodeRemoteWriteSeries(Uint8Array.of(0x80, 0x80, 0x80, 0x08, 0x00), LIMITS));
    expect(e.status).toBe(413);
    expect(e.message).toMatch(/declares 16777216 uncompressed bytes/);
  });

  it('names malformed bodies', () => {
    expect(refusal(() => decodeRemoteWriteSeries(new Uint8Array(0), LIMITS)).message).toMatch(/empty body/);
    expect(refusal(() => decodeRemoteWriteSeries(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff), LIMITS)).message).toMatch(/bad length header/);
    expect(refusal(() => decodeRemoteWriteSeries(Uint8Array.of(0x0a, 0xff, 0x01), LIMITS)).message).toMatch(/not valid snappy/);
    expect(refusal(() => decodeRemoteWriteSeries(compressSync(Buffer.from([0x0a, 0x05, 0x0a])), LIMITS)).message).toMatch(/not a protobuf prometheus.WriteRequest/);
  });

  it('bounds series and samples per request', () => {
    const many = Array.from({ length: 101 }, (_, i) => series(`m${i}`, {}, [[T0, 1]]));
    expect(refusal(() => decodeRemoteWriteSeries(body(many), LIMITS)).message).toMatch(/101 series, more than the limit of 100/);
    const long = series('m', {}, Array.from({ length: 1001 }, (_, i) => [T0 + i, 1] as [number, number]));
    expect(refusal(() => decodeRemoteWriteSeries(body([long]), LIMITS)).message).toMatch(/1001 samples, more than the limit of 1000/);
  });

  it('names the bad series and label', () => {
    const cases: Array<[Series, RegExp]> = [
      [{ labels: [{ name: 'job', value: 'a' }], samples: [{ value: 1, timestamp: T0 }] }, /timeseries\[0\] has no __name__ label/],
      [series('bad name', {}, [[T0, 1]]), /timeseries\[0\]\.labels\[0\]: __name__="bad name" must match/],
      [series('m', { 'bad-label': 'x' }, [[T0, 1]]), /label name "bad-label" must match/],
      [{ labels: [{ name: '__name__', value: 'a' }, { name: '__name__', value: 'b' }], samples: [] }, /__name__ appears twice/],
      [{ labels: [{ name: '__name__', value: 'a' }, { name: 'x', value: '1' }, { name: 'x', value: '2' }], samples: [] }, /label x appears twice/],
      [series('m', { x: 'v'.repeat(1025) }, [[T0, 1]]), /at most 1024 characters/],
      [series('m', Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`l${i}`, 'v'])), [[T0, 1]]), /at most 32 labels/],
      [series('m', {}, [[-5, 1]]), /timeseries\[0\]\.samples\[0\]\.timestamp=-5 must be epoch milliseconds/],
    ];
    for (const [s, message] of cases) {
      const e = refusal(() => decodeRemoteWriteSeries(body([series('ok', {}, [[T0, 1]]), s]), LIMITS));
      expect(e.status).toBe(400);
      expect(e.message.replace('timeseries[1]', 'timeseries[0]').replace('timeseries[1]', 'timeseries[0]')).toMatch(message);
    }
  });
});

describe('POST /api/v1/write (in process)', () => {
  let dir: string;
  let engine: MetricsSystem;
  let routes: RouteDefinition[];
  let sink: InteropSink;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'emms-rw-'));
    engine = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 });
    await engine.start();
    sink = new InteropSink(engine, () => ({ ingestPointsPerSecond: 1_000_000 }) as never, { maxPoints: 1000, maxDecompressedBytes: 1 << 20 });
    routes = remoteWriteRoutes(sink);
  });
  afterAll(async () => {
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function call(raw: Uint8Array, tenant = 'default', headers: Record<string, string> = { 'content-encoding': 'snappy' }, query = '') {
    const req: HttpRequest = {
      method: 'POST', path: '/api/v1/write', params: {}, query: new URLSearchParams(query), headers, body: undefined, rawBody: raw,
      remoteAddress: '127.0.0.1', principal: { id: 'ak_w', kind: 'api_key', role: 'writer', tenant },
    };
    return Promise.resolve(routes[0]!.handler(req));
  }

  async function status(p: Promise<unknown>): Promise<number> {
    try {
      await p;
      return 204;
    } catch (err) {
      if (err instanceof HttpError) return err.status;
      throw err;
    }
  }

  it('stores into the tenant of the credentials and answers 204 with counts', async () => {
    const res = await call(body([series('http_requests_total', { code: '200' }, [[T0, 10], [T0 + 1000, NaN]])]), 't1');
    expect(res.status).toBe(204);
    expect(res.headers).toEqual({ 'x-emms-samples-accepted': '1', 'x-emms-samples-skipped-non-finite': '1' });
    const stored = await engine.forTenant('t1').queryMetrics({ metricPattern: 'http_requests_total', startTime: 0, endTime: T0 + 10_000 });
    expect(stored.map((s) => [s.tags, [...s.values]])).toEqual([[{ code: '200' }, [10]]]);
    expect(await engine.forTenant('default').listSeries('http_requests_total')).toEqual([]);
    expect(sink.pointsStored.remote_write).toBe(1);
  });

  it('stores nothing of a request with one bad series', async () => {
    const bad = body([series('good_one', {}, [[T0, 1]]), series('bad name', {}, [[T0, 1]])]);
    expect(await status(call(bad))).toBe(400);
    expect(await engine.listSeries('good_one')).toEqual([]);
  });

  it('refuses other encodings, remote write 2.0 and parameters', async () => {
    const ok = body([series('x', {}, [[T0, 1]])]);
    expect(await status(call(ok, 'default', { 'content-encoding': 'gzip' }))).toBe(415);
    expect(await status(call(ok, 'default', { 'x-prometheus-remote-write-version': '2.0.0' }))).toBe(415);
    expect(await status(call(ok, 'default', { 'content-type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request' }))).toBe(415);
    expect(await status(call(ok, 'default', {}, 'db=x'))).toBe(400);
    expect(await status(call(Uint8Array.of(0x80, 0x80, 0x80, 0x08, 0x00)))).toBe(413);
    expect((await call(ok, 'default', {})).status).toBe(204);
  });

  it('declares a complete schema', () => {
    const schema = routes[0]!.schema!;
    expect(schema.tag).toBe('ingest');
    expect(Object.keys(schema.responses)).toEqual(expect.arrayContaining(['204', '400', '413', '415', '429']));
  });
});
