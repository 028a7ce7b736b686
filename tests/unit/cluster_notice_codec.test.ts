// "Points written" notices (src/cluster/live_notice_codec.ts, live_notice_writer.ts): golden
// bytes, round trips against msgpackr (the writer is hand-written MessagePack), the writer's
// cuts at the notice bounds, and
// the receive-side bounds: every malformed, oversized or hostile message ends in a counted drop
// reason, never an exception, and never a notice that breaks the stated bounds.
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeNotice, LIVE_FORMAT_VERSION, MAX_NOTICE_BYTES, MAX_SERIES_PER_NOTICE, type PointsWrittenNotice } from '../../src/cluster/live_notice_codec.js';
import { encodeNotice, NoticeWriter } from '../../src/cluster/live_notice_writer.js';
import { MAX_TAG_VALUE_CHARS, MAX_TAGS_PER_POINT } from '../../src/model/metric.js';

const T = 1_767_225_600_000;
const plain = new Packr({ useRecords: false, moreTypes: false });

function notice(over: Partial<PointsWrittenNotice> = {}): PointsWrittenNotice {
  return {
    nodeId: 'node-a',
    tenant: 'acme',
    series: [
      { metricId: 'cpu.usage', tags: { host: 'h1', dc: 'eu' }, timestamp: T, value: 42.5 },
      { metricId: 'mem.used', tags: {}, timestamp: T + 1, value: -1 },
    ],
    truncated: false,
    ...over,
  };
}

/** A format-1 notice built from arbitrary values (to reach the shape checks). */
function raw(...fields: unknown[]): Uint8Array {
  return plain.pack(fields);
}

function dropReason(bytes: Uint8Array): string {
  const r = decodeNotice(bytes);
  return r.ok ? 'ok' : r.reason;
}

describe('notice codec: format 1', () => {
  it('encodes a one-series notice to these exact bytes', () => {
    const bytes = encodeNotice({ nodeId: 'n1', tenant: 't', series: [{ metricId: 'm', tags: {}, timestamp: 0, value: 1.5 }], truncated: false });
    // 95 array(5) | 01 version | a2 6e31 "n1" | a1 74 "t" | 91 array(1) | 94 array(4) a1 6d "m" 80 {} 00 0 cb… 1.5 | c2 false
    expect(Buffer.from(bytes).toString('hex')).toBe('9501a26e31a1749194a16d8000cb3ff8000000000000c2');
  });

  it('round-trips series, tags, special floats and the every-tenant form', () => {
    const specials = notice({ series: [NaN, Infinity, -Infinity, Number.MAX_VALUE, 1e-300].map((value, i) => ({ metricId: 'x', tags: { i: String(i) }, timestamp: T + i, value })) });
    for (const n of [notice(), notice({ truncated: true }), specials, { nodeId: 'n', tenant: null, series: [], truncated: true }]) {
      const r = decodeNotice(encodeNotice(n));
      expect(r.ok).toBe(true);
      if (!r.ok) continue;
      expect(r.notice.nodeId).toBe(n.nodeId);
      expect(r.notice.tenant).toBe(n.tenant);
      expect(r.notice.truncated).toBe(n.truncated);
      expect(r.notice.series).toEqual(n.series);
    }
  });

  it('writes values as float64 (-0 and NaN exact) and timestamps in their smallest integer form', () => {
    const r = decodeNotice(encodeNotice(notice({ series: [{ metricId: 'x', tags: {}, timestamp: T, value: -0 }] })));
    expect(r.ok && Object.is(r.notice.series[0]!.value, -0)).toBe(true);
    for (const t of [0, 127, 128, 255, 256, 65_535, 65_536, 0xffffffff, 0x100000000, T, Date.UTC(2199, 11, 31)]) {
      const bytes = encodeNotice(notice({ series: [{ metricId: 'x', tags: {}, timestamp: t, value: 1 }] }));
      const generic = plain.unpack(bytes) as [number, string, string, Array<[string, object, number, number]>, boolean];
      expect(generic[3][0]![2]).toBe(t);
    }
  });

  it('matches msgpackr on every part: strings of each length class, UTF-8 tags, up to 32 tags', () => {
    const long = (n: number) => 'x'.repeat(n);
    const tags: Record<string, string> = { ascii31: long(31), ascii32: long(32), ascii255: long(255), ascii256: long(256), utf8: 'héllo wörld ✓ 𝄞', empty: '' };
    const many = Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, i % 2 ? 'é'.repeat(i) : long(i)]));
    for (const t of [tags, many, {}]) {
      const n = notice({ series: [{ metricId: long(200), tags: t, timestamp: T, value: Math.PI }], tenant: long(128), nodeId: long(64) });
      const generic = plain.unpack(encodeNotice(n)) as unknown[];
      expect(generic).toEqual([1, n.nodeId, n.tenant, [[long(200), t, T, Math.PI]], false]);
    }
    const lone = decodeNotice(encodeNotice(notice({ series: [{ metricId: 'x', tags: { s: 'a\ud800b' }, timestamp: T, value: 1 }] })));
    // A lone surrogate is not UTF-8: it travels as U+FFFD, as Buffer writes it.
    expect(lone.ok && lone.notice.series[0]!.tags.s).toBe('a\ufffdb');
  });

  it('uses array16 for more than 15 entries and stays readable by any msgpack decoder', () => {
    const series = Array.from({ length: 300 }, (_, i) => ({ metricId: 'm', tags: { s: String(i) }, timestamp: T, value: i }));
    const bytes = encodeNotice(notice({ series }));
    const generic = plain.unpack(bytes) as unknown[];
    expect(generic[0]).toBe(LIVE_FORMAT_VERSION);
    expect((generic[3] as unknown[]).length).toBe(300);
    const r = decodeNotice(bytes);
    expect(r.ok && r.notice.series.length).toBe(300);
  });

  it('cuts at MAX_SERIES_PER_NOTICE and MAX_NOTICE_BYTES ("full"), and refuses what fits no notice ("too-large")', () => {
    const w = new NoticeWriter();
    w.begin('n', 't');
    const small = { metricId: 'm', tags: {}, timestamp: T, value: 1 };
    for (let i = 0; i < MAX_SERIES_PER_NOTICE; i++) expect(w.add(small)).toBe('added');
    expect(w.add(small)).toBe('full');
    const full = decodeNotice(w.finish(false));
    expect(full.ok && full.notice.series.length).toBe(MAX_SERIES_PER_NOTICE);

    w.begin('n', 't');
    const fat = { metricId: 'm', tags: { a: 'x'.repeat(1000), b: 'y'.repeat(1000) }, timestamp: T, value: 1 };
    let added = 0;
    while (w.add(fat) === 'added') added++;
    const bytes = w.finish(true);
    expect(bytes.length).toBeLessThanOrEqual(MAX_NOTICE_BYTES);
    expect(bytes.length).toBeGreaterThan(MAX_NOTICE_BYTES - 2100);
    const cut = decodeNotice(bytes);
    expect(cut.ok && cut.notice.series.length).toBe(added);
    expect(cut.ok && cut.notice.truncated).toBe(true);

    w.begin('n', 't');
    const huge = { metricId: 'm', tags: Object.fromEntries(Array.from({ length: 32 }, (_, i) => [`k${i}`, '✓'.repeat(1024)])), timestamp: T, value: 1 };
    expect(w.add(huge)).toBe('too-large');
    expect(w.add(small)).toBe('added');
    const after = decodeNotice(w.finish(false));
    expect(after.ok && after.notice.series).toEqual([small]);
    // Strings past 64 KiB (str32) grow the scratch buffer; the entry is still refused whole.
    w.begin('n', 't');
    expect(w.add({ ...small, tags: { a: 'q'.repeat(70_000), b: 'r'.repeat(70_000) } })).toBe('too-large');
    expect(w.add(small)).toBe('added');
    // Past the writer's scratch bound (a caller beyond the ingest limits): refused, not grown.
    w.begin('n', 't');
    expect(w.add({ ...small, tags: { a: 'z'.repeat(300_000) } })).toBe('too-large');
    expect(() => encodeNotice(notice({ series: [huge] }))).toThrow(/encodeNotice: series m does not fit \(too-large\)/);
  });
});

describe('notice codec: hostile input', () => {
  it('drops a message past MAX_NOTICE_BYTES before parsing it', () => {
    const r = decodeNotice(new Uint8Array(MAX_NOTICE_BYTES + 1));
    expect(r).toEqual({ ok: false, reason: 'size', detail: `${MAX_NOTICE_BYTES + 1} bytes exceed MAX_NOTICE_BYTES=${MAX_NOTICE_BYTES}` });
  });

  it('drops what is not one MessagePack value: truncated, trailing bytes, empty, nesting that exhausts the stack', () => {
    const good = encodeNotice(notice());
    expect(dropReason(good.subarray(0, good.length - 3))).toBe('decode');
    expect(dropReason(Buffer.concat([good, Buffer.from([1, 2, 3])]))).toBe('decode');
    expect(dropReason(new Uint8Array(0))).toBe('decode');
    expect(dropReason(new Uint8Array(60_000).fill(0x91))).toBe('decode');
    // The decoder is still sound after a stack overflow.
    expect(dropReason(good)).toBe('ok');
  });

  it('keeps decoder messages short and printable (they reach a log)', () => {
    const good = encodeNotice(notice({ series: [{ metricId: 'm', tags: { v: '\n\u0000é'.repeat(50) }, timestamp: T, value: 1 }] }));
    const r = decodeNotice(Buffer.concat([good, Buffer.from([0])]));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.detail).toMatch(/^not MessagePack: [\x20-\x7e]{1,120}$/);
  });

  it('drops unknown format versions as "version" and non-notices as "shape"', () => {
    expect(dropReason(raw(2, 'n', 't', [], false))).toBe('version');
    expect(dropReason(raw('1', 'n', 't', [], false))).toBe('shape');
    expect(dropReason(plain.pack({ v: 1 }))).toBe('shape');
    expect(dropReason(plain.pack([]))).toBe('shape');
    expect(dropReason(plain.pack('hello'))).toBe('shape');
  });

  const shapes: Array<[string, Uint8Array]> = [
    ['wrong element count', raw(1, 'n', 't', [])],
    ['node id not a string', raw(1, 7, 't', [], false)],
    ['node id too long', raw(1, 'n'.repeat(65), 't', [], false)],
    ['node id with a newline', raw(1, 'n\n', 't', [], false)],
    ['tenant not a name', raw(1, 'n', 'a b', [], false)],
    ['tenant a number', raw(1, 'n', 5, [], false)],
    ['entries not an array', raw(1, 'n', 't', { 0: 1 }, false)],
    ['too many entries', raw(1, 'n', 't', Array.from({ length: MAX_SERIES_PER_NOTICE + 1 }, () => ['m', {}, T, 1]), false)],
    ['series under the every-tenant form', raw(1, 'n', null, [['m', {}, T, 1]], false)],
    ['truncated not a boolean', raw(1, 'n', 't', [], 1)],
    ['entry not an array', raw(1, 'n', 't', ['m'], false)],
    ['entry of 3 fields', raw(1, 'n', 't', [['m', {}, T]], false)],
    ['metric id not a name', raw(1, 'n', 't', [['1m', {}, T, 1]], false)],
    ['timestamp a float', raw(1, 'n', 't', [['m', {}, T + 0.5, 1]], false)],
    ['timestamp negative', raw(1, 'n', 't', [['m', {}, -1, 1]], false)],
    ['timestamp past 2200', raw(1, 'n', 't', [['m', {}, Date.UTC(2200, 0, 1), 1]], false)],
    ['timestamp a string', raw(1, 'n', 't', [['m', {}, String(T), 1]], false)],
    ['value a string', raw(1, 'n', 't', [['m', {}, T, '1']], false)],
    ['tags an array', raw(1, 'n', 't', [['m', ['a'], T, 1]], false)],
    ['tags nil', raw(1, 'n', 't', [['m', null, T, 1]], false)],
    ['tag key not a name', raw(1, 'n', 't', [['m', { 'a-b': 'x' }, T, 1]], false)],
    ['tag value a number', raw(1, 'n', 't', [['m', { a: 1 }, T, 1]], false)],
    ['tag value too long', raw(1, 'n', 't', [['m', { a: 'x'.repeat(MAX_TAG_VALUE_CHARS + 1) }, T, 1]], false)],
    ['too many tags', raw(1, 'n', 't', [['m', Object.fromEntries(Array.from({ length: MAX_TAGS_PER_POINT + 1 }, (_, i) => [`k${i}`, 'v'])), T, 1]], false)],
  ];
  it.each(shapes)('drops a notice with %s as "shape"', (_, bytes) => {
    const r = decodeNotice(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe('shape');
  });

  it('never lets a __proto__ tag reach a prototype', () => {
    // msgpack map {"__proto__": {"polluted": "yes"}} written by hand: a JS encoder would not emit the key.
    const key = Buffer.from('__proto__');
    const inner = plain.pack({ polluted: 'yes' });
    const tags = Buffer.concat([Buffer.from([0x81, 0xa0 | key.length]), key, inner]);
    const entry = Buffer.concat([Buffer.from([0x94]), plain.pack('m'), tags, plain.pack(T), plain.pack(1)]);
    const bytes = Buffer.concat([Buffer.from([0x95, 0x01]), plain.pack('n'), plain.pack('t'), Buffer.from([0x91]), entry, Buffer.from([0xc2])]);
    const r = decodeNotice(bytes);
    if (r.ok) {
      const t = r.notice.series[0]!.tags;
      expect(Object.getPrototypeOf(t)).toBe(Object.prototype);
      expect((t as Record<string, unknown>).polluted).toBeUndefined();
    } else {
      expect(r.reason).toBe('shape');
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('returns fresh tag objects with string values only', () => {
    const r = decodeNotice(encodeNotice(notice()));
    expect(r.ok).toBe(true);
    if (r.ok) for (const s of r.notice.series) expect(Object.getPrototypeOf(s.tags)).toBe(Object.prototype);
  });

  it('never throws on random bytes or on mutations of a valid notice (deterministic fuzz)', () => {
    let seed = 0x2545f491;
    const next = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 0x1_0000_0000;
    };
    const good = encodeNotice(notice());
    const reasons = new Set<string>();
    for (let i = 0; i < 3000; i++) {
      let bytes: Uint8Array;
      if (i % 2 === 0) {
        bytes = Uint8Array.from({ length: Math.floor(next() * 200) }, () => Math.floor(next() * 256));
      } else {
        bytes = Uint8Array.from(good);
        for (let k = 0; k < 1 + Math.floor(next() * 4); k++) bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
      }
      const r = decodeNotice(bytes);
      reasons.add(r.ok ? 'ok' : r.reason);
      if (r.ok) {
        // Whatever got through still honours every stated bound.
        expect(r.notice.series.length).toBeLessThanOrEqual(MAX_SERIES_PER_NOTICE);
        for (const s of r.notice.series) {
          expect(Number.isSafeInteger(s.timestamp)).toBe(true);
          expect(typeof s.value).toBe('number');
          expect(Object.keys(s.tags).length).toBeLessThanOrEqual(MAX_TAGS_PER_POINT);
          for (const v of Object.values(s.tags)) expect(typeof v).toBe('string');
        }
      }
    }
    expect(reasons.has('decode')).toBe(true);
    expect(reasons.has('shape')).toBe(true);
  });
});
