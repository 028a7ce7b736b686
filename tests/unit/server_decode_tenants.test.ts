/**
 * Tenancy in the decode path: a worker numbers each tenant's series on its own, each reply lands
 * in the mirror of its tenant (created with that tenant), and the state a worker keeps is bounded
 * by evicting tenants, after which both sides start a fresh numbering in step. Plus the
 * slow path's point-count check before unpacking.
 */
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import type { SeriesIdentity, SeriesTable } from '../../src/model/api.js';
import { DecodePool, type DecodeOutcome } from '../../src/ingest/decode_pool.js';
import { FrameDecoder, PayloadRefusedError } from '../../src/ingest/frame_decoder.js';
import { declaredPointCount, declaredSeq } from '../../src/ingest/payload_precheck.js';
import { TenantMirrors } from '../../src/ingest/tenant_mirrors.js';

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

const packr = new Packr({ useRecords: false });
const T0 = Date.UTC(2026, 0, 1);

function frame(seq: number, ids: string[]): Uint8Array {
  return Uint8Array.from(packr.pack({ seq, metrics: ids.map((id, i) => ({ metric_id: id, value: i, timestamp: T0 + seq })) }));
}

/** Metric ids of an outcome's points, read through the mirror it landed in. */
function idsOf(o: DecodeOutcome): { tenant: string; ids: Array<string | undefined> } {
  if (o.kind !== 'series') throw new Error(`expected series, got ${JSON.stringify(o)}`);
  const table = o.table as TenantTable;
  return { tenant: table.tenant, ids: Array.from(o.seriesOf, (s) => table.identities[s]?.metricId) };
}

describe('DecodePool per tenant', () => {
  const pools: DecodePool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });

  async function start(threads: number, maxTenantsPerWorker = 256): Promise<{ pool: DecodePool; created: string[] }> {
    const created: string[] = [];
    const pool = new DecodePool({
      threads, maxPointsPerBatch: 100, customFrameNames: [], maxTenantsPerWorker,
      createSeriesTable: (tenant) => {
        created.push(tenant);
        return new TenantTable(tenant);
      },
    });
    pools.push(pool);
    await pool.start();
    return { pool, created };
  }

  it.each([1, 0])('keeps tenants apart on one worker, interleaved (threads %i)', async (threads) => {
    const { pool, created } = await start(threads);
    const sent: Array<[string, string[]]> = [];
    const pending: Array<Promise<DecodeOutcome>> = [];
    for (let f = 0; f < 30; f++) {
      const tenant = ['a', 'b', 'c'][f % 3]!;
      // Each tenant's own series, first seen at different times on the worker.
      const ids = [`${tenant}.x${f % 4}`, `${tenant}.y`, `shared.z${f % 2}`];
      sent.push([tenant, ids]);
      pending.push(pool.decode(0, frame(f, ids), 'msgpack', true, tenant, 1 + (f % 3)));
    }
    const outcomes = await Promise.all(pending);
    outcomes.forEach((o, f) => expect(idsOf(o)).toEqual({ tenant: sent[f]![0], ids: sent[f]![1] }));
    expect(created.sort()).toEqual(['a', 'b', 'c']);
    expect(pool.tenantsOn(0)).toBe(3);
  });

  it.each([1, 0])('evicts the least recently used tenant past maxTenantsPerWorker, both sides starting afresh (threads %i)', async (threads) => {
    const { pool, created } = await start(threads, 2);
    // In flight while the eviction happens: replies still land in the table they were sent with.
    const early = pool.decode(0, frame(1, ['a.one', 'a.two']), 'msgpack', true, 'a', 1);
    const b = pool.decode(0, frame(2, ['b.one']), 'msgpack', true, 'b', 2);
    const c = pool.decode(0, frame(3, ['c.one']), 'msgpack', true, 'c', 3); // evicts a
    const again = pool.decode(0, frame(4, ['a.three', 'a.one']), 'msgpack', true, 'a', 1); // evicts b
    const [e, bo, co, ag] = await Promise.all([early, b, c, again]);
    expect(idsOf(e!)).toEqual({ tenant: 'a', ids: ['a.one', 'a.two'] });
    expect(idsOf(bo!)).toEqual({ tenant: 'b', ids: ['b.one'] });
    expect(idsOf(co!)).toEqual({ tenant: 'c', ids: ['c.one'] });
    // A fresh table for a: its numbering restarted in the worker too (a.three is number 0).
    expect(idsOf(ag!)).toEqual({ tenant: 'a', ids: ['a.three', 'a.one'] });
    expect(ag!.kind === 'series' && Array.from(ag!.seriesOf)).toEqual([0, 1]);
    expect(created).toEqual(['a', 'b', 'c', 'a']);
    expect(pool.tenantsOn(0)).toBe(2);
  });
});

describe('TenantMirrors', () => {
  it('drops a tenant idle past idleMs, one per call, telling the worker', () => {
    let now = 0;
    const evicted: string[] = [];
    const mirrors = new TenantMirrors({ createSeriesTable: (t) => new TenantTable(t), maxTenants: 100, idleMs: 1000, onEvict: (t) => evicted.push(t), now: () => now });
    const a = mirrors.tableFor('a');
    mirrors.tableFor('b');
    now = 500;
    expect(mirrors.tableFor('a')).toBe(a);
    now = 1600; // b idle for 1600 ms, a for 1100 ms
    mirrors.tableFor('c');
    expect(evicted).toEqual(['b']);
    mirrors.tableFor('c');
    expect(evicted).toEqual(['b', 'a']);
    expect(mirrors.size).toBe(1);
    expect(mirrors.tableFor('a')).not.toBe(a);
  });
});

describe('slow path: point count read before unpacking', () => {
  it('counts row and columnar payloads from their headers, and reads seq', () => {
    const rows = Uint8Array.from(packr.pack({ seq: 7, metrics: Array.from({ length: 300 }, () => ({})) }));
    expect(declaredPointCount(rows, 100)).toBe(300);
    expect(declaredSeq(rows)).toBe(7);
    const cols = Uint8Array.from(packr.pack({
      pad: { deep: [[1, 2], { x: 'y' }] },
      series: [
        { metric_id: 'a', tags: { h: 'x' }, timestamps: [1, 2, 3], values: [1, 2, 3] },
        { metric_id: 'b', timestamps: Buffer.alloc(8 * 5), values: [1, 2, 3, 4, 5, 6, 7] },
      ],
      seq: 2n ** 63n,
    }));
    expect(declaredPointCount(cols, 1000)).toBe(3 + 7);
    expect(declaredSeq(cols)).toBe(2n ** 63n);
    expect(declaredPointCount(Uint8Array.from([0xc1]), 10)).toBeUndefined();
    expect(declaredPointCount(Uint8Array.from(packr.pack([1, 2])), 10)).toBeUndefined();
  });

  it('refuses 16 M one-byte points without building them, naming batch_size and echoing seq', () => {
    const n = 16 * 1024 * 1024;
    // {seq: 3, metrics: [ {} × n ]}: array32 header then n empty fixmaps.
    const bytes = new Uint8Array(1 + 4 + 1 + 1 + 8 + 5 + n);
    let at = 0;
    bytes.set([0x82, 0xa3, ...Buffer.from('seq'), 0x03, 0xa7, ...Buffer.from('metrics'), 0xdd], at);
    at += 1 + 4 + 1 + 8 + 1;
    new DataView(bytes.buffer).setUint32(at, n);
    at += 4;
    bytes.fill(0x80, at);
    const decoder = new FrameDecoder({ maxPointsPerBatch: 1_000_000 });
    const heapBefore = process.memoryUsage().heapUsed;
    const started = performance.now();
    let err: unknown;
    try {
      decoder.decode(bytes.subarray(0, at + n), 'msgpack', true);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PayloadRefusedError);
    expect((err as PayloadRefusedError).reason).toBe('too_large');
    expect((err as PayloadRefusedError).message).toMatch(/at least 16777216 points exceeds collector\.batch_size=1000000/);
    expect((err as PayloadRefusedError).seq).toBe(3);
    // 16 M objects would be ~1 GB of heap and seconds of work.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('refuses a columnar payload whose values column alone passes batch_size', () => {
    const decoder = new FrameDecoder({ maxPointsPerBatch: 1000 });
    const bytes = Uint8Array.from(packr.pack({ seq: 1, series: [{ metric_id: 'a', timestamps: [1], values: new Array(5000).fill(0) }] }));
    expect(() => decoder.decode(bytes, 'msgpack', true)).toThrow(/at least 5000 points exceeds collector\.batch_size=1000/);
  });
});
