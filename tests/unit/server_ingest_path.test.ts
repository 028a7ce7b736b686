/**
 * The resolved ingest path (decode worker → SeriesTable → group commit), checked against the
 * object path it replaces: same stored points bit for bit, same refusals (message, index,
 * field), nothing stored of a refused batch, every acknowledged point present; plus the storage
 * pieces it leans on (run appends into heads, the merge-based sort) against simple references.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Packr, Unpackr } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { WsClient } from '../../bench/load/ws_client.js';
import { defaultConfig } from '../../src/config/config.js';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import type { SeriesIdentity } from '../../src/model/api.js';
import { MetricValidationError, type MetricDataPoint } from '../../src/model/metric.js';
import { FrameDecoder, type DecodedBatch } from '../../src/ingest/frame_decoder.js';
import { createServer } from '../../src/server/server.js';
import { fixedQuotas } from '../../src/tenancy/quota.js';
import { FakeAuthenticator, bearer } from './server_fakes.js';
import { BLOCK_POINTS, HeadTable } from '../../src/storage/head.js';
import { sortDedupLastWins } from '../../src/storage/last_write_wins_sort.js';
import type { StorageEngine } from '../../src/storage/storage_engine.js';
import { openSqliteStore, readStoredPoints } from './sqlite_store_kit.js';
import { SeriesResolver } from '../../src/ingest/series_resolver.js';
import { buildRowBatch } from '../../src/ingest/batch_builder.js';

const T0 = Date.UTC(2026, 0, 1);
const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });
let dir: string;
let engine: EngineMetricsSystem;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-ingest-path-'));
  engine = new EngineMetricsSystem({ path: join(dir, 'm.db'), queryWorkers: 0 });
  await engine.start();
});
afterEach(async () => {
  await engine.stop();
  rmSync(dir, { recursive: true, force: true });
});

function bits(a: ArrayLike<number>): bigint[] {
  return Array.from(new BigUint64Array(Float64Array.from(a).buffer));
}

/** Seeded LCG in [0, 1). */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

describe('SeriesTable (embedded engine)', () => {
  it('stores columns bit for bit, resolving each series once and across a restart', async () => {
    const table = engine.createSeriesTable();
    const ids: SeriesIdentity[] = [
      { metricId: 'cpu', tags: { host: 'a' } },
      { metricId: 'cpu', metricType: 'gauge', tags: { host: 'b' } },
      { metricId: 'ops', metricType: 'counter' },
    ];
    for (const s of ids) table.add(s);
    expect(table.size).toBe(3);
    const special = [0.1 + 0.2, -0, Number.MIN_VALUE, -Number.MAX_VALUE, 2 ** 53 + 2, 1e-300, 12345.678];
    const seriesOf = Int32Array.from([0, 1, 0, 2, 1, 0, 2]);
    const ts = Float64Array.from(special.map((_, i) => T0 + i * 1000));
    expect(await table.collect(seriesOf, ts, Float64Array.from(special))).toEqual({ accepted: 7 });
    // Restart: the table's cached ids are re-resolved, not reused blindly.
    await engine.stop();
    await engine.start();
    expect(await table.collect(Int32Array.from([2]), Float64Array.from([T0 + 9000]), Float64Array.from([-0]))).toEqual({ accepted: 1 });
    const [a] = await engine.queryMetrics({ metricPattern: 'cpu', tags: { host: 'a' }, endTime: T0 + 1e6 });
    expect(Array.from(a!.timestamps)).toEqual([T0, T0 + 2000, T0 + 5000]);
    expect(bits(a!.values)).toEqual(bits([special[0]!, special[2]!, special[5]!]));
    const [ops] = await engine.queryMetrics({ metricPattern: 'ops', endTime: T0 + 1e6 });
    expect(ops!.metricType).toBe('counter');
    expect(bits(ops!.values)).toEqual(bits([special[3]!, special[6]!, -0]));
    expect(engine.stats().series).toBe(3);
  });

  it('refuses exactly as collectMetrics does, and stores and creates nothing of a refused batch', async () => {
    const cases: Array<{ series: SeriesIdentity[]; seriesOf: number[]; ts: number[]; vs: number[] }> = [
      { series: [{ metricId: 'ok' }, { metricId: 'new.one', tags: { h: 'x' } }], seriesOf: [0, 1, 0, 0], ts: [T0, T0, T0, T0], vs: [1, 2, 3, NaN] },
      { series: [{ metricId: 'ok' }], seriesOf: [0, 0], ts: [T0, 1.5e15], vs: [1, 2] },
      { series: [{ metricId: 'ok' }], seriesOf: [0, 0], ts: [T0, -1], vs: [1, Infinity] },
      { series: [{ metricId: 'ok' }, { metricId: '9bad' }], seriesOf: [0, 1], ts: [T0, T0], vs: [1, 2] },
      { series: [{ metricId: 'ok' }, { metricId: 'x', tags: { 'bad key': 'v' } }], seriesOf: [0, 0, 1], ts: [T0, T0, T0], vs: [1, 2, 3] },
      { series: [{ metricId: 'ok' }, { metricId: 'y', metricType: 'nope' as 'gauge' }], seriesOf: [1, 0], ts: [T0, 2e20], vs: [1, 2] },
      // A bad series at point 1 comes before a bad value at point 2, as in collectMetrics.
      { series: [{ metricId: 'ok' }, { metricId: 'bad id' }], seriesOf: [0, 1, 0], ts: [T0, T0, T0], vs: [1, 2, NaN] },
    ];
    for (const c of cases) {
      const points: MetricDataPoint[] = c.seriesOf.map((s, i) => ({ ...c.series[s]!, timestamp: c.ts[i]!, value: c.vs[i]! }) as MetricDataPoint);
      const expected = await engine.collectMetrics(points).then(() => undefined, (e: unknown) => e);
      expect(expected).toBeInstanceOf(MetricValidationError);
      const table = engine.createSeriesTable();
      for (const s of c.series) table.add(s);
      const got = await table.collect(Int32Array.from(c.seriesOf), Float64Array.from(c.ts), Float64Array.from(c.vs)).then(() => undefined, (e: unknown) => e);
      expect(got).toBeInstanceOf(MetricValidationError);
      const [e, g] = [expected as MetricValidationError, got as MetricValidationError];
      expect({ message: g.message, index: g.index, field: g.field }).toEqual({ message: e.message, index: e.index, field: e.field });
    }
    expect(engine.stats().series).toBe(0);
    expect(engine.stats().pointsIngested).toBe(0);
    expect(await engine.listSeries('*')).toEqual([]);
  });

  it('refuses series numbers the table never handed out and mismatched column lengths', async () => {
    const table = engine.createSeriesTable();
    table.add({ metricId: 'a' });
    const err = await table.collect(Int32Array.from([0, 1]), Float64Array.from([T0, T0]), Float64Array.from([1, 2])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricValidationError);
    expect((err as MetricValidationError).message).toMatch(/points\[1\]\.series=1 .*\[0, 1\)/);
    await expect(table.collect(Int32Array.from([0]), Float64Array.from([T0, T0]), Float64Array.from([1]))).rejects.toThrow(RangeError);
    expect(engine.stats().pointsIngested).toBe(0);
  });
});

describe('stream ingest through the real engine', () => {
  it.each([1, 0])('acks only stored points, bit-exact for float64 bin columns (decode threads %i)', async (threads) => {
    const config = defaultConfig();
    config.port = 0;
    config.collector.decodeThreads = threads;
    const server = createServer({ engine, config, authenticator: new FakeAuthenticator(), quotas: fixedQuotas() });
    const { port } = await server.listen();
    try {
      const url = `ws://127.0.0.1:${port}/api/v1/stream`;
      const rnd = random(42 + threads);
      const expected = new Map<string, Map<number, number>>();
      const remember = (key: string, t: number, v: number): void => {
        if (!expected.has(key)) expected.set(key, new Map());
        expected.get(key)!.set(t, v);
      };
      // Authenticated as tenant a's writer: the points land in tenant a.
      const clients = await Promise.all([0, 1, 2].map(() => WsClient.open(url, { headers: bearer('writer-a') })));
      const replies: Array<Array<Record<string, unknown>>> = clients.map(() => []);
      clients.forEach((ws, c) => {
        ws.onMessage = (m) => replies[c]!.push(unpackr.unpack(m.data) as Record<string, unknown>);
      });
      let frames = 0;
      for (let f = 0; f < 12; f++) {
        for (let c = 0; c < clients.length; c++) {
          const seq = f * 10 + c;
          if (f % 3 === 2) {
            // Columnar, values as little-endian float64 bin (special doubles included).
            const series = [0, 1].map((h) => {
              const ts = new Float64Array(50);
              const vs = new Float64Array(50);
              for (let j = 0; j < 50; j++) {
                ts[j] = T0 + (f * 50 + j) * 1000;
                vs[j] = j === 0 ? -0 : j === 1 ? Number.MIN_VALUE : (rnd() - 0.5) * 1e6;
                remember(`col/${c}/${h}`, ts[j]!, vs[j]!);
              }
              return { metric_id: 'col', tags: { conn: String(c), h: String(h) }, timestamps: Buffer.from(ts.buffer), values: Buffer.from(vs.buffer) };
            });
            clients[c]!.send(packr.pack({ seq, series }));
          } else {
            const metrics = [];
            for (let h = 0; h < 20; h++) {
              const v = Math.round(rnd() * 1e4) / 100;
              metrics.push({ metric_id: 'row', value: v, timestamp: T0 + f * 1000, tags: { conn: String(c), h: String(h) } });
              remember(`row/${c}/${h}`, T0 + f * 1000, v);
            }
            clients[c]!.send(packr.pack({ seq, metrics }));
          }
          frames++;
        }
      }
      // A refused frame (NaN in its last point) with a series of its own: nothing may remain.
      clients[0]!.send(packr.pack({ seq: 999, metrics: [{ metric_id: 'refused', value: 1, timestamp: T0 }, { metric_id: 'row', value: NaN, timestamp: T0, tags: { conn: '0', h: '0' } }] }));
      await expect.poll(() => replies.reduce((n, r) => n + r.length, 0), { timeout: 10_000 }).toBe(frames + 1);
      for (const r of replies) {
        for (const reply of r) {
          if (reply.nack !== undefined) expect(reply).toMatchObject({ nack: 999, error: expect.stringMatching(/metrics\[1\]\.value=NaN/) });
          else expect(reply.accepted).toBeGreaterThan(0);
        }
      }
      for (const ws of clients) ws.close();
      const tenantA = engine.forTenant('a');
      expect(await tenantA.listSeries('refused')).toEqual([]);
      // Nothing in the engine's own (default) tenant.
      expect(await engine.listSeries('*')).toEqual([]);
      for (const [key, points] of expected) {
        const [metricId, conn, h] = key.split('/');
        const [s] = await tenantA.queryMetrics({ metricPattern: metricId!, tags: { conn: conn!, h: h! }, endTime: T0 + 1e7 });
        const want = [...points.entries()].sort((x, y) => x[0] - y[0]);
        expect(Array.from(s!.timestamps), key).toEqual(want.map((p) => p[0]));
        expect(bits(s!.values), key).toEqual(bits(want.map((p) => p[1])));
      }
    } finally {
      await server.close();
    }
  });
});

describe('row fast path predictions per connection', () => {
  it('predicts each stream from its own last frame and forgets closed streams', () => {
    const d = new FrameDecoder({ maxPointsPerBatch: 1000 });
    const frame = (conn: number, seq: number) => packr.pack({
      seq, metrics: [0, 1, 2].map((h) => ({ metric_id: 'm', value: seq + h, timestamp: T0 + seq, tags: { conn: String(conn), h: String(h) } })),
    });
    const seen = new Map<string, number>();
    for (let seq = 0; seq < 6; seq++) {
      for (const conn of [1, 2]) {
        const b = d.decode(frame(conn, seq), 'msgpack', true, 0, conn) as DecodedBatch;
        b.newSeries.forEach((s, k) => seen.set(`${s.tags.conn}/${s.tags.h}`, d.seriesCount - b.newSeries.length + k));
        expect(Array.from(b.seriesOf)).toEqual([0, 1, 2].map((h) => seen.get(`${conn}/${h}`)));
        expect(Array.from(b.values)).toEqual([seq, seq + 1, seq + 2]);
      }
    }
    expect(d.fastPathFrames).toBe(12);
    expect(d.streamsPredicted).toBe(2);
    d.forgetStream(1);
    expect(d.streamsPredicted).toBe(1);
    // A forgotten stream still decodes (by hash lookup), into the same series.
    const again = d.decode(frame(1, 7), 'msgpack', true, 0, 1) as DecodedBatch;
    expect(Array.from(again.seriesOf)).toEqual([0, 1, 2].map((h) => seen.get(`1/${h}`)));
  });
});

describe('row fast path: whole-point prediction from the stream\'s last frame', () => {
  /** A number in one of msgpack's encodings: fixint, int8/16/32, uint64-range, float64, -0. */
  function anyNumber(rnd: () => number): number {
    const kind = Math.floor(rnd() * 7);
    if (kind === 0) return Math.floor(rnd() * 100);
    if (kind === 1) return -Math.floor(rnd() * 30000);
    if (kind === 2) return Math.floor(rnd() * 2 ** 31);
    if (kind === 3) return Math.floor(rnd() * 2 ** 45);
    if (kind === 4) return -0;
    return (rnd() - 0.5) * 1e6;
  }

  it('decodes repeated, mutated and reordered frames exactly as the slow path does', () => {
    const rnd = random(3);
    const fast = new FrameDecoder({ maxPointsPerBatch: 1000 });
    const slow = new FrameDecoder({ maxPointsPerBatch: 1000, rowFastPath: false });
    // Two streams, each repeating its own points with new numbers, and now and then a change of
    // structure: another tag value, a dropped or nil timestamp, keys reordered, points swapped.
    const bases = [0, 1].map((conn) => Array.from({ length: 30 }, (_, i) => ({
      metric_id: `m${i % 4}`, value: 0 as unknown, timestamp: T0 as unknown, tags: { conn: String(conn), h: `host-${i}`, pad: 'x'.repeat(i) } as Record<string, string>,
    })));
    let points = 0;
    for (let f = 0; f < 200; f++) {
      const conn = f % 2;
      const base = bases[conn]!;
      const metrics = base.map((p) => {
        const q: Record<string, unknown> = { ...p, value: anyNumber(rnd), timestamp: T0 + Math.floor(rnd() * 1e9) };
        const r = rnd();
        if (r < 0.03) q.tags = { ...p.tags, h: p.tags.h + 'z' };
        else if (r < 0.06) delete q.timestamp;
        else if (r < 0.08) q.timestamp = null;
        else if (r < 0.10) return Object.fromEntries(Object.entries(q).reverse());
        return q;
      });
      if (rnd() < 0.1) [metrics[0], metrics[1]] = [metrics[1]!, metrics[0]!];
      if (rnd() < 0.05) metrics.pop();
      const bytes = packr.pack({ seq: f, metrics });
      const a = fast.decode(new Uint8Array(bytes), 'msgpack', true, 777, conn + 1) as DecodedBatch;
      const b = slow.decode(new Uint8Array(bytes), 'msgpack', true, 777) as DecodedBatch;
      expect(a.newSeries, `frame ${f}`).toEqual(b.newSeries);
      expect(Array.from(a.seriesOf), `frame ${f}`).toEqual(Array.from(b.seriesOf));
      expect(bits(a.timestamps), `frame ${f}`).toEqual(bits(b.timestamps));
      expect(bits(a.values), `frame ${f}`).toEqual(bits(b.values));
      points += metrics.length;
    }
    expect(fast.fastPathFrames).toBe(200);
    // A point whose number changed encoding (fixint → float64 …) is scanned; the rest repeat
    // their predecessor's bytes and take the whole-point path.
    expect(fast.wholePointHits).toBeGreaterThan(points * 0.1);
    expect(fast.wholePointHits).toBeLessThan(points);
  });

  it('never trusts a caller buffer reused after decode', () => {
    const d = new FrameDecoder({ maxPointsPerBatch: 100 });
    const frame = (h: string, v: number) => packr.pack({ seq: 1, metrics: [{ metric_id: 'm', value: v, timestamp: T0, tags: { h } }] });
    const buf = new Uint8Array(frame('aaaa', 1.5));
    const first = d.decode(buf, 'msgpack', true, 0, 1) as DecodedBatch;
    // Overwrite the same buffer with another series' frame of the same length.
    buf.set(frame('bbbb', 2.5));
    const second = d.decode(buf, 'msgpack', true, 0, 1) as DecodedBatch;
    expect(second.newSeries.map((s) => s.tags.h)).toEqual(['bbbb']);
    expect(second.seriesOf[0]).not.toBe(first.seriesOf[0]);
    expect(second.values[0]).toBe(2.5);
  });
});

describe('heads: run appends and the merge sort', () => {
  it('appendRun leaves a head exactly as point-by-point appends do, through cuts', () => {
    const rnd = random(7);
    for (let trial = 0; trial < 200; trial++) {
      const cutPoints = 8 + Math.floor(rnd() * 60);
      const a = new HeadTable(cutPoints);
      const b = new HeadTable(cutPoints);
      const sid = Math.floor(rnd() * 3000);
      const n = Math.floor(rnd() * 400);
      const ts = new Float64Array(n);
      const vs = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        ts[i] = trial % 2 === 0 ? i * 10 : Math.floor(rnd() * 50);
        vs[i] = rnd();
      }
      for (let i = 0; i < n;) {
        const end = Math.min(n, i + 1 + Math.floor(rnd() * 30));
        const fullA = a.appendRun(sid, ts, vs, i, end);
        let fullB = false;
        for (let j = i; j < end; j++) fullB = b.append(sid, ts[j]!, vs[j]!);
        expect(fullA).toBe(fullB);
        expect(fullA).toBe(a.length(sid) >= a.cutAt(sid));
        expect([a.length(sid), a.inOrder(sid), a.minTs(sid)]).toEqual([b.length(sid), b.inOrder(sid), b.minTs(sid)]);
        if (fullA) {
          // Cut as the store does: both hand over the same points in arrival order.
          const takenA = a.take(sid);
          const takenB = b.take(sid);
          expect(Array.from(takenA.timestamps)).toEqual(Array.from(takenB.timestamps));
          expect(Array.from(takenA.values)).toEqual(Array.from(takenB.values));
          expect([takenA.inOrder, takenA.minTs]).toEqual([takenB.inOrder, takenB.minTs]);
          if (rnd() < 0.5) a.recycle(takenA.timestamps, takenA.values);
        }
        i = end;
      }
      expect([a.length(sid), a.inOrder(sid), a.minTs(sid)]).toEqual([b.length(sid), b.inOrder(sid), b.minTs(sid)]);
      expect(Array.from(a.sorted(sid).timestamps)).toEqual(Array.from(b.sorted(sid).timestamps));
      expect(Array.from(a.sorted(sid).values)).toEqual(Array.from(b.sorted(sid).values));
    }
  });

  it('reads back a head that spans slabs, with runs of adjacent blocks and blocks of other series in between', () => {
    // A slab pair holds 1,024 blocks of 64 points: 70,000 points of one series cross into a
    // second pair, and a second series interleaved every few runs breaks the adjacent runs.
    const table = new HeadTable(1_000_000);
    const n = 70_000;
    const ts = Float64Array.from({ length: n }, (_, i) => 1000 + i);
    const vs = Float64Array.from({ length: n }, (_, i) => i * 0.5);
    for (let i = 0, k = 0; i < n; k++) {
      const end = Math.min(n, i + 1 + ((k * 7919) % 500));
      table.appendRun(1, ts, vs, i, end);
      if (k % 3 === 0) table.append(2, k, k);
      i = end;
    }
    const { timestamps, values } = table.sorted(1);
    expect(timestamps).toEqual(ts);
    expect(values).toEqual(vs);
    const into = { t: new Float64Array(n + 5), v: new Float64Array(n + 5) };
    expect(table.sortedInto(1, into.t, into.v, 5)).toBe(n);
    expect(into.t.subarray(5)).toEqual(ts);
    expect(into.v.subarray(5)).toEqual(vs);
    expect(table.slabBytes).toBeGreaterThan(1024 * BLOCK_POINTS * 16);
  });

  it('a table of many series matches a per-series reference through appends, cuts, recycling, clears and reads', () => {
    const rnd = random(19);
    const cutPoints = 64;
    const table = new HeadTable(cutPoints);
    const reference = new Map<number, Array<[number, number]>>();
    const sortedReference = (sid: number): Array<[number, number]> => {
      const byTime = new Map<number, number>();
      for (const [t, v] of reference.get(sid) ?? []) byTime.set(t, v);
      return [...byTime].sort((x, y) => x[0] - y[0]);
    };
    const taken: Array<{ sid: number; timestamps: Float64Array; values: Float64Array; copy: number[] }> = [];
    for (let step = 0; step < 20_000; step++) {
      // Ids spread over 0…2,999 so the table grows its slots many times.
      const sid = Math.floor(rnd() * rnd() * 3000);
      const points = reference.get(sid) ?? [];
      reference.set(sid, points);
      const op = rnd();
      if (op < 0.8) {
        const t = rnd() < 0.9 ? step : Math.floor(rnd() * step);
        const v = rnd();
        points.push([t, v]);
        expect(table.append(sid, t, v)).toBe(points.length >= table.cutAt(sid));
      } else if (op < 0.9) {
        if (points.length === 0) continue;
        const cut = table.take(sid);
        expect(cut.timestamps.buffer).toBeInstanceOf(SharedArrayBuffer);
        expect(Array.from(cut.timestamps)).toEqual(points.map((p) => p[0]));
        expect(Array.from(cut.values)).toEqual(points.map((p) => p[1]));
        expect(cut.minTs).toBe(Math.min(...points.map((p) => p[0])));
        taken.push({ sid, ...cut, copy: [...cut.timestamps, ...cut.values] });
        points.length = 0;
      } else if (op < 0.95) {
        const back = taken.shift();
        if (back !== undefined) {
          // Until it comes back, a cut's memory is read by the encoder: the head never wrote it.
          expect([...back.timestamps, ...back.values]).toEqual(back.copy);
          table.recycle(back.timestamps, back.values);
        }
      } else if (op < 0.97) {
        table.clear(sid);
        points.length = 0;
      } else {
        const expected = sortedReference(sid);
        const { timestamps, values } = table.sorted(sid);
        expect(Array.from(timestamps)).toEqual(expected.map((p) => p[0]));
        expect(Array.from(values)).toEqual(expected.map((p) => p[1]));
        // Sorting in place keeps the head readable and appendable as the sorted points.
        reference.set(sid, expected);
      }
      expect(table.length(sid)).toBe(reference.get(sid)!.length);
    }
    for (const cut of taken) expect([...cut.timestamps, ...cut.values]).toEqual(cut.copy);
    // Blocks are accounted for: a head of n points holds ceil(n / 64); cleared, they are all free
    // again and a second round of the same load needs no new slab.
    let blocks = 0;
    for (const points of reference.values()) blocks += Math.ceil(points.length / BLOCK_POINTS);
    expect(table.blocksInUse).toBe(blocks);
    table.reset();
    expect(table.blocksInUse).toBe(0);
    const slabBytes = table.slabBytes;
    for (const [sid, points] of reference) for (let i = 0; i < points.length; i++) table.append(sid, i, i);
    expect(table.blocksInUse).toBe(blocks);
    expect(table.slabBytes).toBe(slabBytes);
  });

  it('sortDedupLastWins matches a stable comparator sort keeping the last of equal times', () => {
    const rnd = random(11);
    for (let trial = 0; trial < 300; trial++) {
      const n = Math.floor(rnd() * 400);
      const streams = 1 + Math.floor(rnd() * 6);
      const ts = new Float64Array(n);
      const vs = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        // Interleaved ascending streams with duplicates, or plain random times.
        ts[i] = trial % 3 === 0 ? Math.floor(rnd() * 40) : (i % streams) * 1000 + Math.floor(i / streams) * (trial % 2 === 0 ? 1 : 0.5);
        vs[i] = i;
      }
      const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => ts[x]! - ts[y]! || x - y);
      const wantT: number[] = [];
      const wantV: number[] = [];
      for (const i of order) {
        if (wantT.length > 0 && wantT[wantT.length - 1] === ts[i]) wantV[wantV.length - 1] = vs[i]!;
        else {
          wantT.push(ts[i]!);
          wantV.push(vs[i]!);
        }
      }
      const got = sortDedupLastWins(ts, vs);
      expect(Array.from(got.timestamps)).toEqual(wantT);
      expect(Array.from(got.values)).toEqual(wantV);
    }
  });
});

describe('background checkpoint', () => {
  it('keeps every committed point exactly once when commits, slices, crashes and restarts interleave', async () => {
    const rnd = random(5);
    for (let trial = 0; trial < 12; trial++) {
      const path = join(dir, `bg${trial}.db`);
      // One head per slice, tiny limits: checkpoints span many slices with commits between them.
      // Odd trials encode chunks in the encoder thread, whose results arrive at any time.
      const options = {
        path, tenant: 'default', headCutPoints: 3 + Math.floor(rnd() * 20), walCheckpointBytes: 300, maintenanceSliceMs: 0,
        chunkEncoding: trial % 2 === 0 ? 'inline' as const : 'worker' as const,
      };
      const SERIES = 12;
      const model = Array.from({ length: SERIES }, () => new Map<number, number>());
      let store = await openSqliteStore(options);
      let resolver = new SeriesResolver(store.catalog.tenant('default'));
      try {
        for (let step = 0; step < 80; step++) {
          const r = rnd();
          if (r < 0.6) {
            const points = Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => ({ s: Math.floor(rnd() * SERIES), t: Math.floor(rnd() * 200), v: Math.floor(rnd() * 2000) - 1000 }));
            await store.commit([buildRowBatch(points.map((p) => ({ metricId: `bg.s${p.s}`, timestamp: T0 + p.t * 1000, value: p.v })), resolver, T0)]);
            for (const p of points) model[p.s]!.set(T0 + p.t * 1000, p.v);
          } else if (r < 0.9) {
            // Let scheduled maintenance slices run.
            for (let k = Math.floor(rnd() * 4); k >= 0; k--) await new Promise((resolve) => setImmediate(resolve));
          } else {
            if (r < 0.95) await store.abandon();
            else await store.close();
            store = await openSqliteStore(options);
            resolver = new SeriesResolver(store.catalog.tenant('default'));
          }
        }
        // A commit checks the record size (a reopened store has not yet), then the slices run.
        await store.commit([buildRowBatch([{ metricId: 'bg.s0', timestamp: T0 + 500_000, value: 1 }], resolver, T0)]);
        model[0]!.set(T0 + 500_000, 1);
        // Generous: under a load of 15 the encoder thread of a freshly opened store (a cold
        // worker compiling its modules) took more than 5 s to land its first cuts.
        await store.settle(60_000);
        const check = async (s: StorageEngine): Promise<void> => {
          for (let m = 0; m < SERIES; m++) {
            const expected = [...model[m]!.entries()].sort((a, b) => a[0] - b[0]);
            const id = s.catalog.tenant('default').find(`bg.s${m}`, '');
            if (id === undefined) {
              expect(expected).toEqual([]);
              continue;
            }
            const got = await readStoredPoints(s, id, 0, T0 + 1e6);
            expect([...got.timestamps], `trial ${trial} series ${m}`).toEqual(expected.map((e) => e[0]));
            expect([...got.values], `trial ${trial} series ${m}`).toEqual(expected.map((e) => e[1]));
          }
        };
        await check(store);
        // Maintenance caught up: the records were checkpointed away.
        expect(store.stats().walBytes).toBeLessThan(300 + 1000);
        // And after a crash: what the records and marks left on disk replays to the same points.
        await store.abandon();
        store = await openSqliteStore(options);
        await check(store);
      } finally {
        await store.close();
      }
    }
  });
});
