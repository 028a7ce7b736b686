/**
 * Line protocol and remote write decoded in the decode pool (src/ingest/protocol_codec.ts,
 * codec_decoding.ts; src/interop/*_codec.ts), inline (threads 0) and in a worker thread:
 * columns arrive numbered in the tenant's mirror, in one numbering with native payloads; a
 * refused body leaves the numbering as it was; and the interop routes charge the server's one
 * IngestRateLimiter, so a tenant has one bucket across every protocol.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { compressSync } from 'snappy';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMetricsSystem } from '../../src/index.js';
import { DecodePool, type CodecOutcome, type DecodeOutcome } from '../../src/ingest/decode_pool.js';
import { FrameDecoder } from '../../src/ingest/frame_decoder.js';
import { codecTransfer, runCodec } from '../../src/ingest/codec_decoding.js';
import { ingestHttpBody } from '../../src/ingest/http_ingest.js';
import { IngestRateLimiter } from '../../src/ingest/ingest_rate.js';
import { CodecRefusedError, loadCodecs, type ProtocolCodec } from '../../src/ingest/protocol_codec.js';
import { INTEROP_CODECS, InteropSink } from '../../src/interop/interop_sink.js';
import { lineProtocolRoutes } from '../../src/interop/line_protocol_routes.js';
import { remoteWriteRoutes } from '../../src/interop/remote_write_routes.js';
import { encodeWriteRequest } from '../../src/interop/remote_write_proto.js';
import { HttpError, type HttpRequest, type RouteDefinition } from '../../src/http/route.js';
import type { MetricsSystem, SeriesIdentity, SeriesTable } from '../../src/model/api.js';
import { QuotaExceededError } from '../../src/tenancy/quota.js';

class TenantTable implements SeriesTable {
  readonly identities: SeriesIdentity[] = [];
  constructor(readonly tenant: string) {}
  get size(): number {
    return this.identities.length;
  }
  add(series: SeriesIdentity): number {
    return this.identities.push(series) - 1;
  }
  collect(): Promise<{ accepted: number }> {
    return Promise.reject(new Error('not used'));
  }
}

const T0 = Date.UTC(2026, 0, 1);
const packr = new Packr({ useRecords: false });
const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

function nativeBody(ids: string[]): Uint8Array {
  return Uint8Array.from(packr.pack({ metrics: ids.map((id, i) => ({ metric_id: id, value: i, timestamp: T0 })) }));
}

function remoteWriteBody(series: Array<{ name: string; labels?: Record<string, string>; samples: Array<[number, number]> }>): Uint8Array {
  const timeseries = series.map((s) => ({
    labels: [{ name: '__name__', value: s.name }, ...Object.entries(s.labels ?? {}).map(([name, value]) => ({ name, value }))],
    samples: s.samples.map(([timestamp, value]) => ({ timestamp, value })),
  }));
  return Uint8Array.from(compressSync(Buffer.from(encodeWriteRequest({ timeseries }))));
}

/** Metric id and tags of each point, read through the mirror the outcome landed in. */
function pointsOf(o: CodecOutcome | DecodeOutcome): Array<[string, Record<string, string> | undefined, number, number]> {
  if (o.kind !== 'series') throw new Error(`expected series, got ${JSON.stringify(o)}`);
  const table = o.table as TenantTable;
  return Array.from(o.seriesOf, (s, i) => [table.identities[s]!.metricId, table.identities[s]!.tags, o.timestamps[i]!, o.values[i]!]);
}

describe.each([0, 1])('decode pool codecs, threads %i', (threads) => {
  const pools: DecodePool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });

  async function start(): Promise<{ pool: DecodePool; tables: Map<string, TenantTable> }> {
    const tables = new Map<string, TenantTable>();
    const pool = new DecodePool({
      threads, maxPointsPerBatch: 100, customFrameNames: [], codecs: { ...INTEROP_CODECS },
      createSeriesTable: (tenant) => {
        const t = new TenantTable(tenant);
        tables.set(tenant, t);
        return t;
      },
    });
    pools.push(pool);
    await pool.start();
    return { pool, tables };
  }

  const lp = (pool: DecodePool, text: string, tenant = 't', precision = 's') => pool.decodeWithCodec(0, utf8(text), 'line_protocol', { precision, maxPoints: 100 }, tenant);

  it('decodes line protocol off the caller, numbering series once per tenant', async () => {
    const { pool, tables } = await start();
    const first = await lp(pool, `cpu,host=a user=1.5,idle=2i,note="x" ${T0 / 1000}\ncpu,host=b user=3 ${T0 / 1000}\n`);
    expect(pointsOf(first)).toEqual([['cpu.user', { host: 'a' }, T0, 1.5], ['cpu.idle', { host: 'a' }, T0, 2], ['cpu.user', { host: 'b' }, T0, 3]]);
    expect(first.kind === 'series' && first.counts).toEqual({ skippedStringFields: 1 });
    const again = await lp(pool, `cpu,host=b user=4 ${T0 / 1000 + 1}\ncpu,host=a user=5 ${T0 / 1000 + 1}\n`);
    expect(pointsOf(again)).toEqual([['cpu.user', { host: 'b' }, T0 + 1000, 4], ['cpu.user', { host: 'a' }, T0 + 1000, 5]]);
    expect(tables.get('t')!.size).toBe(3);
    // Another tenant on the same worker numbers its own series from 0.
    const other = await lp(pool, `cpu,host=a user=9 ${T0 / 1000}\n`, 'u');
    expect(pointsOf(other)).toEqual([['cpu.user', { host: 'a' }, T0, 9]]);
    expect(other.kind === 'series' && Array.from(other.seriesOf)).toEqual([0]);
  });

  it('shares one numbering with native payloads, and a refused body gives its numbers back', async () => {
    const { pool, tables } = await start();
    expect(pointsOf(await pool.decode(0, nativeBody(['n.one']), 'msgpack', false, 't')).map((p) => p[0])).toEqual(['n.one']);
    expect(pointsOf(await lp(pool, `m a=1 ${T0 / 1000}\n`)).map((p) => p[0])).toEqual(['m.a']);
    // Lines 1 and 2 number new series; line 3 is bad: nothing of it may stay numbered.
    const refused = await lp(pool, `m b=1 ${T0 / 1000}\nm c=2 ${T0 / 1000}\nm d=1x ${T0 / 1000}\n`);
    expect(refused).toMatchObject({ kind: 'refused', status: 400, details: { line: 3, column: 5 } });
    expect(refused.kind === 'refused' && refused.error).toMatch(/^line 3, column 5: field "d"=1x is not a number/);
    expect(tables.get('t')!.size).toBe(2);
    // The next series of either protocol take the numbers the refused body had: mirror and worker agree.
    expect(pointsOf(await pool.decode(0, nativeBody(['n.two', 'n.one']), 'msgpack', false, 't')).map((p) => p[0])).toEqual(['n.two', 'n.one']);
    expect(pointsOf(await lp(pool, `m c=7,a=8 ${T0 / 1000}\nm b=9 ${T0 / 1000}\n`)).map((p) => [p[0], p[3]])).toEqual([['m.c', 7], ['m.a', 8], ['m.b', 9]]);
    // The refusal dropped the codec's cache, so m.a got a second number: two numbers of one
    // series are harmless (the mirror resolves both to the same engine series).
    expect(tables.get('t')!.identities.map((i) => i.metricId)).toEqual(['n.one', 'm.a', 'n.two', 'm.c', 'm.a', 'm.b']);
  });

  it('decodes remote write (snappy, protobuf) and refuses past its limits naming the field', async () => {
    const { pool } = await start();
    const options = { maxDecompressedBytes: 1 << 20, maxSeries: 10, maxSamples: 100 };
    const ok = await pool.decodeWithCodec(0, remoteWriteBody([{ name: 'up', labels: { job: 'x' }, samples: [[T0, 1], [T0 + 1, NaN]] }]), 'remote_write', options, 't');
    expect(pointsOf(ok)).toEqual([['up', { job: 'x' }, T0, 1]]);
    expect(ok.kind === 'series' && ok.counts).toEqual({ skippedNonFinite: 1 });
    const tooMany = await pool.decodeWithCodec(0, remoteWriteBody([{ name: 'up', samples: [[T0, 1], [T0 + 1, 2]] }]), 'remote_write', { ...options, maxSamples: 1 }, 't');
    expect(tooMany).toMatchObject({ kind: 'refused', status: 413, details: { field: 'timeseries' } });
    const garbage = await pool.decodeWithCodec(0, utf8('not snappy at all'), 'remote_write', options, 't');
    expect(garbage).toMatchObject({ kind: 'refused', status: 400, details: { field: 'body' } });
  });

  it('rejects a codec it was not given (a bug, not a client error)', async () => {
    const { pool } = await start();
    await expect(pool.decodeWithCodec(0, utf8('x'), 'nope', {}, 't')).rejects.toThrow(/no decode codec named "nope"/);
  });
});

describe('codec plumbing', () => {
  it('a worker whose codecs fail to load still starts and decodes native payloads; codec requests fail', async () => {
    const pool = new DecodePool({
      threads: 1, maxPointsPerBatch: 10, customFrameNames: [], codecs: { bad: new URL('../../src/ingest/ingest_rate.ts', import.meta.url).href },
      createSeriesTable: (tenant) => new TenantTable(tenant),
    });
    await pool.start();
    try {
      await expect(pool.decodeWithCodec(0, utf8('x'), 'bad', {}, 't')).rejects.toThrow(/decode codecs failed to load: .*does not export a ProtocolCodec/);
      expect(pointsOf(await pool.decode(0, nativeBody(['still.works']), 'msgpack', false, 't')).map((p) => p[0])).toEqual(['still.works']);
    } finally {
      await pool.close();
    }
  });

  it('loadCodecs refuses a module without a codec export', async () => {
    await expect(loadCodecs({ bad: new URL('../../src/ingest/ingest_rate.ts', import.meta.url).href })).rejects.toThrow(/does not export a ProtocolCodec/);
  });

  it('runCodec turns an unexpected failure into codecFailure and rolls back its numbers and state', () => {
    const decoder = new FrameDecoder({ maxPointsPerBatch: 10 });
    let states = 0;
    const codec: ProtocolCodec<{ n: number }> = {
      createState: () => ({ n: ++states }),
      decode(_bytes, options, numbering) {
        numbering.add({ metricId: 'a.b' });
        if (options.fail === 'refuse') throw new CodecRefusedError(422, 'no', { field: 'x' });
        if (options.fail === 'crash') throw new TypeError('boom');
        return { seriesOf: Int32Array.of(numbering.size - 1), timestamps: Float64Array.of(T0), values: Float64Array.of(1), counts: {} };
      },
    };
    const req = (fail: string) => ({ id: 1, codec: 'c', tenant: 't', bytes: new Uint8Array(0), options: { fail } });
    expect(runCodec(codec as ProtocolCodec, decoder, req('crash'), T0)).toEqual({ id: 1, ok: false, codecFailure: 'decode codec c failed: boom' });
    expect(decoder.seriesCount).toBe(0);
    expect(runCodec(codec as ProtocolCodec, decoder, req('refuse'), T0)).toEqual({ id: 1, ok: false, codecRefusal: { status: 422, error: 'no', details: { field: 'x' } } });
    expect(decoder.seriesCount).toBe(0);
    const ok = runCodec(codec as ProtocolCodec, decoder, req(''), T0);
    expect(ok.ok && ok.codec.newSeries).toEqual([{ metricId: 'a.b' }]);
    // What moves back to the main thread: the three columns' buffers, nothing for a refusal.
    expect(codecTransfer(ok)).toHaveLength(3);
    expect(codecTransfer({ id: 1, ok: false, codecFailure: 'x' })).toEqual([]);
    // A fresh state after each refusal that had numbered series.
    expect(states).toBe(3);
  });
});

describe('interop routes on the server\'s pool and rate limiter', () => {
  let dir: string;
  let engine: MetricsSystem;
  let pool: DecodePool;
  let rate: IngestRateLimiter;
  let routes: RouteDefinition[];
  let sink: InteropSink;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'emms-interop-pool-'));
    engine = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 });
    await engine.start();
    pool = new DecodePool({ threads: 1, maxPointsPerBatch: 1000, customFrameNames: [], codecs: { ...INTEROP_CODECS }, createSeriesTable: (t) => engine.forTenant(t).createSeriesTable!() });
    await pool.start();
    // A clock that stands still: no refill, so the bucket's arithmetic is exact.
    rate = new IngestRateLimiter(() => ({ ingestPointsPerSecond: 25 }) as never, () => 0);
    sink = new InteropSink(engine, () => ({ ingestPointsPerSecond: 1e9 }) as never, { maxPoints: 1000, maxDecompressedBytes: 1 << 20 });
    sink.attach({ pool, rate });
    routes = [...lineProtocolRoutes(sink), ...remoteWriteRoutes(sink)];
  });
  afterAll(async () => {
    await pool.close();
    await engine.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function post(path: string, body: Uint8Array, tenant: string, query = '', headers: Record<string, string> = {}): Promise<number> {
    const req: HttpRequest = {
      method: 'POST', path, params: {}, query: new URLSearchParams(query), headers, body: undefined, rawBody: body,
      remoteAddress: '127.0.0.1', principal: { id: 'ak_w', kind: 'api_key', role: 'writer', tenant },
    };
    try {
      return (await routes.find((r) => r.pattern === path)!.handler(req)).status ?? 200;
    } catch (err) {
      if (err instanceof HttpError) return err.status;
      if (err instanceof QuotaExceededError) return 429;
      throw err;
    }
  }

  const lines = (n: number, m: string) => Array.from({ length: n }, (_, i) => `${m},i=${i} v=${i} ${T0 / 1000}`).join('\n');

  it('one bucket per tenant across line protocol, remote write and the native API', async () => {
    expect(await post('/write', utf8(lines(10, 'lp')), 'shared', 'precision=s')).toBe(204);
    const rw = remoteWriteBody([{ name: 'rw_total', samples: Array.from({ length: 10 }, (_, i) => [T0 + i, i] as [number, number]) }]);
    expect(await post('/api/v1/write', rw, 'shared', '', { 'content-encoding': 'snappy' })).toBe(204);
    // 20 of 25 taken: a native batch of 10 is refused whole, one of 5 fits, then nothing does.
    const native = await ingestHttpBody({ pool, rate }, nativeBody(Array.from({ length: 10 }, (_, i) => `nat.v${i}`)), 'msgpack', 'shared');
    expect(native).toMatchObject({ status: 429, body: { quota: 'ingest_points_per_second' } });
    expect((await ingestHttpBody({ pool, rate }, nativeBody(['a.a', 'a.b', 'a.c', 'a.d', 'a.e']), 'msgpack', 'shared')).status).toBe(200);
    expect(await post('/api/v2/write', utf8(lines(1, 'late')), 'shared', 'precision=s')).toBe(429);
    expect(await engine.forTenant('shared').listSeries('late.v')).toEqual([]);
    // Another tenant has a bucket of its own.
    expect(await post('/api/v2/write', utf8(lines(10, 'lp')), 'other', 'precision=s')).toBe(204);
  });

  it('stores what the worker decoded, and a refused request stores nothing', async () => {
    expect(await post('/write', utf8(`w,host=a v=1.5 ${T0 / 1000}\n`), 'store', 'precision=s')).toBe(204);
    expect(await post('/write', utf8(`w,host=b v=1 ${T0 / 1000}\nw,host=c v=oops ${T0 / 1000}\n`), 'store', 'precision=s')).toBe(400);
    const stored = await engine.forTenant('store').queryMetrics({ metricPattern: 'w.v', startTime: 0, endTime: T0 + 1 });
    expect(stored.map((s) => [s.tags, [...s.values]])).toEqual([[{ host: 'a' }, [1.5]]]);
    expect(sink.pointsStored.line_protocol).toBeGreaterThanOrEqual(1);
  });
});
