// Coalescing of "points written" notices (src/cluster/live_coalescer.ts) and the receiving
// policy (NoticeReceiver in src/cluster/live_updates.ts): newest point per series, every bound
// with its fallback, and a receiver that counts what it drops and survives its handler.
import { describe, expect, it } from 'vitest';
import { MAX_BYTES_PER_FLUSH, MAX_PENDING_SERIES, MAX_PENDING_TENANTS, NoticeCoalescer } from '../../src/cluster/live_coalescer.js';
import { decodeNotice, MAX_NOTICE_BYTES, MAX_SERIES_PER_NOTICE, type PointsWrittenNotice } from '../../src/cluster/live_notice_codec.js';
import { encodeNotice } from '../../src/cluster/live_notice_writer.js';
import { checkNodeId, newNodeId, noteCommitted, NoticeReceiver, RECEIVE_BYTES_PER_SECOND, type SeriesIdentity } from '../../src/cluster/live_updates.js';
import { MAX_TAG_VALUE_CHARS } from '../../src/model/metric.js';

const T = 1_767_225_600_000;

function decodeAll(messages: Uint8Array[]): PointsWrittenNotice[] {
  return messages.map((m) => {
    expect(m.length).toBeLessThanOrEqual(MAX_NOTICE_BYTES);
    const r = decodeNotice(m);
    if (!r.ok) throw new Error(`undecodable notice: ${r.reason}: ${r.detail}`);
    return r.notice;
  });
}

describe('NoticeCoalescer', () => {
  it('keeps the newest point per series and groups by tenant', () => {
    const c = new NoticeCoalescer('n1');
    expect(c.empty).toBe(true);
    c.note('acme', 1, 'cpu', { host: 'a' }, T + 10, 1);
    c.note('acme', 1, 'cpu', { host: 'a' }, T + 5, 2); // older: ignored
    c.note('acme', 1, 'cpu', { host: 'a' }, T + 20, 3);
    c.note('acme', 2, 'cpu', { host: 'b' }, T, 4);
    c.note('other', 1, 'mem', {}, T, 5); // same id, other tenant: another series
    expect(c.empty).toBe(false);
    const notices = decodeAll(c.drain());
    expect(notices).toEqual([
      { nodeId: 'n1', tenant: 'acme', truncated: false, series: [{ metricId: 'cpu', tags: { host: 'a' }, timestamp: T + 20, value: 3 }, { metricId: 'cpu', tags: { host: 'b' }, timestamp: T, value: 4 }] },
      { nodeId: 'n1', tenant: 'other', truncated: false, series: [{ metricId: 'mem', tags: {}, timestamp: T, value: 5 }] },
    ]);
    expect(c.empty).toBe(true);
    expect(c.drain()).toEqual([]);
    expect(c.counters.noted).toBe(5);
  });

  it('cuts a large round into notices under MAX_NOTICE_BYTES and MAX_SERIES_PER_NOTICE, truncated flag last', () => {
    const c = new NoticeCoalescer('n1');
    const n = 2_500;
    for (let i = 0; i < n; i++) c.note('acme', i, 'requests.total', { instance: `host-${i}`, path: '/api/v1/items' }, T + i, i);
    const notices = decodeAll(c.drain());
    expect(notices.length).toBeGreaterThanOrEqual(3);
    for (const x of notices) expect(x.series.length).toBeLessThanOrEqual(MAX_SERIES_PER_NOTICE);
    expect(notices.flatMap((x) => x.series).map((s) => s.value)).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(notices.every((x) => !x.truncated)).toBe(true);
  });

  it('past MAX_PENDING_SERIES lists no more series and marks their tenants truncated', () => {
    const c = new NoticeCoalescer('n1');
    for (let i = 0; i < MAX_PENDING_SERIES; i++) c.note('a', i, 'm', {}, T, i);
    c.note('b', 0, 'm', {}, T, 0);
    c.note('a', MAX_PENDING_SERIES, 'm', {}, T, 0);
    c.note('a', 0, 'm', {}, T + 1, 99); // a pending series still updates
    expect(c.counters.seriesLeftOut).toBe(2);
    const notices = decodeAll(c.drain());
    const a = notices.filter((x) => x.tenant === 'a');
    const b = notices.filter((x) => x.tenant === 'b');
    expect(a.flatMap((x) => x.series)).toHaveLength(MAX_PENDING_SERIES);
    expect(a.at(-1)!.truncated).toBe(true);
    expect(a[0]!.series[0]).toEqual({ metricId: 'm', tags: {}, timestamp: T + 1, value: 99 });
    expect(b).toEqual([{ nodeId: 'n1', tenant: 'b', series: [], truncated: true }]);
  });

  it('past MAX_PENDING_TENANTS sends one notice for every tenant', () => {
    const c = new NoticeCoalescer('n1');
    for (let i = 0; i <= MAX_PENDING_TENANTS; i++) c.note(`t${i}`, 1, 'm', {}, T, 1);
    c.note('t0', 2, 'm', {}, T, 1);
    expect(decodeAll(c.drain())).toEqual([{ nodeId: 'n1', tenant: null, series: [], truncated: true }]);
    expect(c.counters.everyTenantFlushes).toBe(1);
    // The next round starts clean.
    c.note('t0', 1, 'm', {}, T, 1);
    expect(decodeAll(c.drain())[0]!.tenant).toBe('t0');
  });

  it('stops encoding past MAX_BYTES_PER_FLUSH: the tenants it did not reach get a truncated notice each', () => {
    const c = new NoticeCoalescer('n1');
    const tag = 'v'.repeat(MAX_TAG_VALUE_CHARS);
    // ~4.1 KB per series: the byte budget runs out long before the series bound.
    for (let i = 0; i < 400; i++) c.note(`t${i % 4}`, i, 'm', { a: tag, b: tag, c: tag, d: String(i) }, T, i);
    const messages = c.drain();
    const total = messages.reduce((s, m) => s + m.length, 0);
    expect(total).toBeLessThan(MAX_BYTES_PER_FLUSH + 4 * MAX_NOTICE_BYTES);
    const notices = decodeAll(messages);
    const listed = notices.reduce((s, x) => s + x.series.length, 0);
    expect(listed).toBeLessThan(400);
    expect(listed + c.counters.seriesLeftOut).toBe(400);
    // t0's 100 series (~310 KB) fit; the budget runs out inside t1; t2 and t3 are named, not listed.
    const last = (tenant: string) => notices.filter((x) => x.tenant === tenant).at(-1)!;
    expect(last('t0').truncated).toBe(false);
    expect(last('t1').truncated).toBe(true);
    for (const tenant of ['t2', 't3']) expect(notices.filter((x) => x.tenant === tenant)).toEqual([{ nodeId: 'n1', tenant, series: [], truncated: true }]);
  });

  it('leaves out a single series too large for any notice, marking its tenant truncated', () => {
    const c = new NoticeCoalescer('n1');
    const huge = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, 'x'.repeat(MAX_TAG_VALUE_CHARS * 3)]));
    c.note('acme', 1, 'm', huge, T, 1);
    c.note('acme', 2, 'm', { ok: 'yes' }, T, 2);
    const notices = decodeAll(c.drain());
    expect(notices).toEqual([{ nodeId: 'n1', tenant: 'acme', series: [{ metricId: 'm', tags: { ok: 'yes' }, timestamp: T, value: 2 }], truncated: true }]);
  });
});

describe('noteCommitted', () => {
  it('notes the newest point of each run of a series from committed columns, skipping unknown ids', () => {
    const notes: unknown[][] = [];
    const live = { noteWritten: (...args: unknown[]) => void notes.push(args) };
    const catalog = new Map<number, SeriesIdentity>([
      [1, { tenant: 'acme', metricId: 'cpu', tags: { host: 'a' } }],
      [2, { tenant: 'other', metricId: 'mem', tags: {} }],
    ]);
    const columns = {
      seriesIds: Uint32Array.of(1, 1, 1, 2, 9, 1),
      timestamps: Float64Array.of(T + 1, T + 3, T + 2, T, T, T + 5),
      values: Float64Array.of(10, 30, 20, 7, 0, 50),
      length: 6,
    };
    noteCommitted(live, columns, (id) => catalog.get(id));
    expect(notes).toEqual([
      ['acme', 1, 'cpu', { host: 'a' }, T + 3, 30],
      ['other', 2, 'mem', {}, T, 7],
      ['acme', 1, 'cpu', { host: 'a' }, T + 5, 50],
    ]);
  });
});

describe('NoticeReceiver', () => {
  const other = (over: Partial<PointsWrittenNotice> = {}): Uint8Array =>
    encodeNotice({ nodeId: 'other', tenant: 'acme', series: [{ metricId: 'm', tags: {}, timestamp: T, value: 1 }], truncated: false, ...over });

  it('hands other nodes\' notices to the handler and ignores its own', () => {
    const seen: PointsWrittenNotice[] = [];
    const r = new NoticeReceiver('me', { onNotice: (n) => seen.push(n) });
    r.receive(other());
    r.receive(other({ nodeId: 'me' }));
    expect(seen.map((n) => n.nodeId)).toEqual(['other']);
    expect(r.counters).toMatchObject({ received: 1, ownIgnored: 1 });
  });

  it('counts malformed messages by reason and reports them at most once a minute', () => {
    let now = 0;
    const errors: string[] = [];
    const r = new NoticeReceiver('me', { onNotice: () => undefined, onError: (e) => errors.push(e.message) }, () => now);
    r.receive(Uint8Array.of(0xa5, 0x61)); // a 5-byte string cut after one byte
    r.receive(Uint8Array.of(0x91, 0x02));
    r.receive(Uint8Array.of(0x91, 0xc0));
    r.receive(new Uint8Array(MAX_NOTICE_BYTES + 1));
    expect(r.counters.dropped).toEqual({ decode: 1, version: 1, shape: 1, size: 1, rate: 0 });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/dropped 1 notice\(s\) since the last report; latest: decode: not MessagePack/);
    now = 60_000;
    r.receive(Uint8Array.of(0xa5, 0x61));
    expect(errors).toHaveLength(2);
    expect(errors[1]).toMatch(/dropped 4 notice\(s\)/);
  });

  it('drops undecoded what exceeds the receive byte budget, and refills it with time', () => {
    let now = 0;
    let decoded = 0;
    const r = new NoticeReceiver('me', { onNotice: () => decoded++ }, () => now);
    const junk = new Uint8Array(MAX_NOTICE_BYTES);
    const fits = Math.floor(RECEIVE_BYTES_PER_SECOND / junk.length);
    for (let i = 0; i < fits + 10; i++) r.receive(junk);
    expect(r.counters.dropped.rate).toBe(10);
    expect(r.counters.dropped.decode).toBe(fits);
    r.receive(other());
    expect(decoded).toBe(0);
    now = 1000;
    r.receive(other());
    expect(decoded).toBe(1);
  });

  it('survives a throwing handler and counts it', () => {
    const errors: Error[] = [];
    const r = new NoticeReceiver('me', { onNotice: () => { throw new Error('boom'); }, onError: (e) => errors.push(e) });
    r.receive(other());
    r.receive(other());
    expect(r.counters.handlerErrors).toBe(2);
    expect(errors[0]!.message).toBe('live updates: the notice handler failed: boom');
  });

  it('makes and checks node ids', () => {
    expect(newNodeId()).toMatch(/^[0-9a-f]{16}$/);
    expect(newNodeId()).not.toBe(newNodeId());
    expect(checkNodeId('node-1.eu:a')).toBe('node-1.eu:a');
    expect(() => checkNodeId('bad id')).toThrow('live updates nodeId="bad id" must be 1 to 64 characters of A-Z a-z 0-9 _ . : -');
    expect(() => checkNodeId(7)).toThrow(/nodeId=7/);
  });
});
