import { describe, expect, it } from 'vitest';
import { Packr } from 'msgpackr';
import { FrameDecoder, PayloadRefusedError, type DecodedBatch } from '../../src/ingest/frame_decoder.js';
import { createWireUnpackr, encodeAck, encodeNack, isValidSeq } from '../../src/ingest/wire.js';

const packr = new Packr({ useRecords: false });
const pack = (v: unknown): Uint8Array => packr.pack(v);
const T0 = Date.UTC(2024, 0, 1);

function decoder(): FrameDecoder {
  return new FrameDecoder({ maxPointsPerBatch: 1000, customFrameNames: ['key_events'] });
}

/** The reference: the same decoder with the row-form fast path switched off. */
function slowDecoder(): FrameDecoder {
  return new FrameDecoder({ maxPointsPerBatch: 1000, customFrameNames: ['key_events'], rowFastPath: false });
}

function refusal(fn: () => unknown): PayloadRefusedError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PayloadRefusedError);
    return err as PayloadRefusedError;
  }
  throw new Error('expected a refusal');
}

/** Flattens a batch into (seriesIndex, ts, value) rows in arrival order, for checking. */
function rows(b: DecodedBatch): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  expect(b.timestamps.length).toBe(b.seriesOf.length);
  expect(b.values.length).toBe(b.seriesOf.length);
  for (let i = 0; i < b.seriesOf.length; i++) out.push([b.seriesOf[i]!, b.timestamps[i]!, b.values[i]!]);
  return out;
}

describe('wire replies', () => {
  it('encodes ack and nack as plain msgpack maps and keeps 64-bit seqs exact', () => {
    const u = createWireUnpackr();
    expect(u.unpack(encodeAck(7, 3))).toEqual({ ack: 7, accepted: 3 });
    expect(u.unpack(encodeNack(null, 'bad'))).toEqual({ nack: null, error: 'bad' });
    const big = (1n << 64n) - 1n;
    expect(u.unpack(encodeAck(big, 1))).toEqual({ ack: big, accepted: 1 });
    expect(isValidSeq(-1)).toBe(false);
    expect(isValidSeq(1.5)).toBe(false);
    expect(isValidSeq(1n << 64n)).toBe(false);
  });
});

describe('FrameDecoder row form', () => {
  it('groups points by series, keeps arrival order within a series, reuses series indices', () => {
    const d = decoder();
    const frame = {
      seq: 1,
      metrics: [
        { metric_id: 'cpu', value: 1, timestamp: T0, tags: { host: 'a' } },
        { metric_id: 'cpu', value: 2, timestamp: T0, tags: { host: 'b' } },
        { metric_id: 'cpu', value: 3, timestamp: T0 + 1000, tags: { host: 'a' } },
        { metric_id: 'mem', value: 4, timestamp: new Date(T0 + 5), metric_type: 'counter' },
        { metric_id: 'cpu', value: 5, timestamp: '2024-01-01T00:00:02Z', tags: { host: 'a' } },
      ],
    };
    const b = d.decode(pack(frame), 'msgpack', true) as DecodedBatch;
    expect(b.seq).toBe(1);
    expect(b.points).toBe(5);
    expect(b.newSeries).toEqual([
      { metricId: 'cpu', metricType: 'gauge', tags: { host: 'a' } },
      { metricId: 'cpu', metricType: 'gauge', tags: { host: 'b' } },
      { metricId: 'mem', metricType: 'counter', tags: {} },
    ]);
    // Arrival order, not grouped: the engine keeps the last arrival of a timestamp per series.
    expect(rows(b)).toEqual([
      [0, T0, 1],
      [1, T0, 2],
      [0, T0 + 1000, 3],
      [2, T0 + 5, 4],
      [0, T0 + 2000, 5],
    ]);
    const again = d.decode(pack({ seq: 2, metrics: [{ metric_id: 'cpu', value: 9, timestamp: T0, tags: { host: 'b' } }] }), 'msgpack', true) as DecodedBatch;
    expect(again.newSeries).toEqual([]);
    expect(rows(again)).toEqual([[1, T0, 9]]);
  });

  it('defaults a missing timestamp to now', () => {
    const b = decoder().decode(pack({ seq: 0, metrics: [{ metric_id: 'x', value: 1 }] }), 'msgpack', true, 12345) as DecodedBatch;
    expect(b.timestamps[0]).toBe(12345);
  });

  it('parses JSON bodies without seq', () => {
    const body = new TextEncoder().encode(JSON.stringify({ metrics: [{ metric_id: 'a', value: 2.5, timestamp: T0 }] }));
    const b = decoder().decode(body, 'json', false) as DecodedBatch;
    expect(rows(b)).toEqual([[0, T0, 2.5]]);
    expect(b.seq).toBeNull();
  });

  it.each([
    ['NaN value', { metric_id: 'a', value: NaN }, 'value', /finite/],
    ['Infinity value', { metric_id: 'a', value: Infinity }, 'value', /finite/],
    ['-Infinity value', { metric_id: 'a', value: -Infinity }, 'value', /finite/],
    ['string value', { metric_id: 'a', value: '1' }, 'value', /finite/],
    ['bad metric id', { metric_id: '1bad', value: 1 }, 'metric_id', /metric_id="1bad"/],
    ['numeric metric id', { metric_id: 5, value: 1 }, 'metric_id', /metric_id=5/],
    ['bad type', { metric_id: 'a', value: 1, metric_type: 'meter' }, 'metric_type', /counter, gauge/],
    ['tag not string', { metric_id: 'a', value: 1, tags: { k: 1 } }, 'tags.k', /string/],
    ['tags array', { metric_id: 'a', value: 1, tags: ['x'] }, 'tags', /object/],
    ['timestamp too big', { metric_id: 'a', value: 1, timestamp: 1e20 }, 'timestamp', /\[1970, 2200\)/],
    ['timestamp garbage string', { metric_id: 'a', value: 1, timestamp: 'yesterday' }, 'timestamp', /ISO-8601/],
    ['timestamp bool', { metric_id: 'a', value: 1, timestamp: true }, 'timestamp', /epoch/],
  ])('refuses %s naming the field', (_name, point, field, message) => {
    const err = refusal(() => decoder().decode(pack({ seq: 3, metrics: [{ metric_id: 'ok', value: 1 }, point] }), 'msgpack', true));
    expect(err.index).toBe(1);
    expect(err.field).toBe(field);
    expect(err.message).toMatch(message);
    expect(err.message).toContain('metrics[1]');
    expect(err.seq).toBe(3);
  });

  it('refuses 10,000 tags, an empty batch, a missing seq and non-map payloads', () => {
    const tags: Record<string, string> = {};
    for (let i = 0; i < 10_000; i++) tags[`k${i}`] = 'v';
    expect(refusal(() => decoder().decode(pack({ seq: 1, metrics: [{ metric_id: 'a', value: 1, tags }] }), 'msgpack', true)).message).toMatch(/at most 32 tags/);
    expect(refusal(() => decoder().decode(pack({ seq: 1, metrics: [] }), 'msgpack', true)).reason).toBe('empty');
    expect(refusal(() => decoder().decode(pack({ metrics: [{ metric_id: 'a', value: 1 }] }), 'msgpack', true)).field).toBe('seq');
    expect(refusal(() => decoder().decode(pack([1, 2]), 'msgpack', true)).reason).toBe('shape');
    expect(refusal(() => decoder().decode(pack('x'), 'msgpack', true)).reason).toBe('shape');
  });

  it('refuses undecodable bytes, truncated msgpack, trailing garbage and deep nesting', () => {
    const good = pack({ seq: 1, metrics: [{ metric_id: 'a', value: 1 }] });
    expect(refusal(() => decoder().decode(good.subarray(0, good.length - 3), 'msgpack', true)).reason).toBe('decode');
    expect(refusal(() => decoder().decode(new Uint8Array([...good, 0x01]), 'msgpack', true)).reason).toBe('decode');
    expect(refusal(() => decoder().decode(new Uint8Array([0xc1, 0xc1, 0xc1]), 'msgpack', true)).reason).toBe('decode');
    const nested: number[] = [];
    for (let i = 0; i < 200_000; i++) nested.push(0x81, 0xa1, 0x61);
    nested.push(0x01);
    expect(refusal(() => decoder().decode(new Uint8Array(nested), 'msgpack', true)).message).toMatch(/nesting too deep|MessagePack/);
    expect(refusal(() => decoder().decode(new Uint8Array([0x7b, 0xff]), 'json', false)).reason).toBe('decode');
  });

  it('refuses invalid UTF-8 in names (decoded to U+FFFD, which no id pattern allows)', () => {
    // fixmap(1) "metric_id" -> fixstr(2) 0xff 0xfe
    const bad = new Uint8Array([0x82, 0xa3, ...Buffer.from('seq'), 0x01, 0xa7, ...Buffer.from('metrics'), 0x91, 0x82,
      0xa9, ...Buffer.from('metric_id'), 0xa2, 0xff, 0xfe, 0xa5, ...Buffer.from('value'), 0x01]);
    const err = refusal(() => decoder().decode(bad, 'msgpack', true));
    expect(err.field).toBe('metric_id');
  });

  it('forgets series of a refused batch so indices stay in step with the accepted ones', () => {
    const d = decoder();
    refusal(() => d.decode(pack({ seq: 1, metrics: [{ metric_id: 'new1', value: 1 }, { metric_id: 'x', value: NaN }] }), 'msgpack', true));
    expect(d.seriesCount).toBe(0);
    const b = d.decode(pack({ seq: 2, metrics: [{ metric_id: 'new2', value: 1 }] }), 'msgpack', true) as DecodedBatch;
    expect(b.newSeries.map((s) => s.metricId)).toEqual(['new2']);
    expect(b.seriesOf[0]).toBe(0);
  });

  it('does not let a tag value forge another series key', () => {
    const d = decoder();
    const a = d.decode(pack({ seq: 1, metrics: [{ metric_id: 'm', value: 1, tags: { x: '1', y: '2' } }] }), 'msgpack', true) as DecodedBatch;
    const b = d.decode(pack({ seq: 2, metrics: [{ metric_id: 'm', value: 1, tags: { x: '1:1y1:2' } }] }), 'msgpack', true) as DecodedBatch;
    expect(a.newSeries).toHaveLength(1);
    expect(b.newSeries).toEqual([{ metricId: 'm', metricType: 'gauge', tags: { x: '1:1y1:2' } }]);
  });

  it('gives consecutive new series with equal tags one frozen tags object, on the fast and the slow path', () => {
    const host = (h: string) => ({ host: h, region: 'eu', rack: '7' });
    const metrics = [
      { metric_id: 'cpu', value: 1, tags: host('a') },
      { metric_id: 'mem', value: 2, tags: host('a') },
      { metric_id: 'disk', value: 3, tags: host('a') },
      { metric_id: 'cpu', value: 4, tags: host('b') },
      { metric_id: 'mem', value: 5, tags: { region: 'eu', host: 'b', rack: '7' } },
      { metric_id: 'net', value: 6, tags: { host: 'b', region: 'eu' } },
    ];
    for (const d of [decoder(), slowDecoder()]) {
      const b = d.decode(pack({ seq: 1, metrics }), 'msgpack', true) as DecodedBatch;
      const tags = b.newSeries.map((s) => s.tags);
      expect(tags).toEqual(metrics.map((m) => m.tags));
      expect(tags.every((t) => Object.isFrozen(t))).toBe(true);
      // Shared within a host; another host, another key order or another key set gets its own.
      expect(tags[1]).toBe(tags[0]);
      expect(tags[2]).toBe(tags[0]);
      expect(tags[3]).not.toBe(tags[2]);
      expect(tags[4]).not.toBe(tags[3]);
      expect(tags[5]).not.toBe(tags[4]);
      // The shared object survives a structured clone as one object (the reply to the main thread).
      const cloned = structuredClone(b.newSeries);
      expect(cloned[1]!.tags).toBe(cloned[0]!.tags);
    }
  });

  it('still validates tags that differ from the last new series in one value only', () => {
    const d = decoder();
    const err = refusal(() => d.decode(pack({ seq: 1, metrics: [
      { metric_id: 'cpu', value: 1, tags: { host: 'a', region: 'eu' } },
      { metric_id: 'mem', value: 2, tags: { host: 'a', region: 7 } },
    ] }), 'msgpack', true));
    expect(err.field).toBe('tags.region');
    expect(err.index).toBe(1);
  });

  it('refuses batches over collector.batch_size', () => {
    const d = new FrameDecoder({ maxPointsPerBatch: 2 });
    const err = refusal(() => d.decode(pack({ seq: 1, metrics: [1, 2, 3].map((v) => ({ metric_id: 'a', value: v })) }), 'msgpack', true));
    expect(err.reason).toBe('too_large');
  });
});

describe('FrameDecoder columnar form', () => {
  it('accepts number arrays and little-endian float64 bin, bit-exact', () => {
    const ts = new Float64Array([T0, T0 + 10_000, T0 + 20_000]);
    const vs = new Float64Array([0.1 + 0.2, -0, Number.MIN_VALUE]);
    const frame = {
      seq: 9,
      series: [
        { metric_id: 'a', tags: { h: '1' }, timestamps: Buffer.from(ts.buffer), values: Buffer.from(vs.buffer) },
        { metric_id: 'b', metric_type: 'counter', timestamps: [T0, T0 + 1], values: [1, 2] },
      ],
    };
    const b = decoder().decode(pack(frame), 'msgpack', true) as DecodedBatch;
    expect(b.points).toBe(5);
    expect(Array.from(b.seriesOf)).toEqual([0, 0, 0, 1, 1]);
    expect(Array.from(b.timestamps)).toEqual([...ts, T0, T0 + 1]);
    expect(Object.is(b.values[1], -0)).toBe(true);
    expect(b.values[0]).toBe(0.1 + 0.2);
    expect(b.values[2]).toBe(Number.MIN_VALUE);
  });

  it('handles bin at an odd offset inside the frame', () => {
    const vs = new Float64Array([1.5, 2.5]);
    const frame = { seq: 1, series: [{ metric_id: 'abc', timestamps: [T0, T0 + 1], values: Buffer.from(vs.buffer) }] };
    const b = decoder().decode(pack(frame), 'msgpack', true) as DecodedBatch;
    expect(Array.from(b.values)).toEqual([1.5, 2.5]);
  });

  it('refuses mismatched lengths, bad bin sizes, NaN in bin and empty series', () => {
    const d = decoder();
    expect(refusal(() => d.decode(pack({ seq: 1, series: [{ metric_id: 'a', timestamps: [T0], values: [1, 2] }] }), 'msgpack', true)).message).toMatch(/same length/);
    expect(refusal(() => d.decode(pack({ seq: 1, series: [{ metric_id: 'a', timestamps: [T0], values: Buffer.alloc(7) }] }), 'msgpack', true)).message).toMatch(/multiple of 8/);
    const nan = Buffer.from(new Float64Array([NaN]).buffer);
    const err = refusal(() => d.decode(pack({ seq: 1, series: [{ metric_id: 'a', timestamps: [T0], values: nan }] }), 'msgpack', true));
    expect(err.field).toBe('values[0]');
    expect(refusal(() => d.decode(pack({ seq: 1, series: [{ metric_id: 'a', timestamps: [], values: [] }] }), 'msgpack', true)).reason).toBe('empty');
    expect(refusal(() => d.decode(pack({ seq: 1, series: [] }), 'msgpack', true)).reason).toBe('empty');
  });
});

describe('FrameDecoder custom frames', () => {
  it('hands registered frame types through untouched', () => {
    const out = decoder().decode(pack({ seq: 4, key_events: [{ key_id: 'k1' }] }), 'msgpack', true);
    expect(out).toEqual({ seq: 4, handler: 'key_events', items: [{ key_id: 'k1' }] });
  });
});

describe('row-form fast path', () => {
  /** Deterministic pseudo-random frames with varied encodings of the same fields. */
  function randomFrames(seed: number, count: number): Array<{ seq: number; metrics: Record<string, unknown>[] }> {
    let a = seed >>> 0;
    const rnd = (): number => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), a | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const frames = [];
    for (let f = 0; f < count; f++) {
      const metrics: Record<string, unknown>[] = [];
      const n = 1 + Math.floor(rnd() * 50);
      for (let i = 0; i < n; i++) {
        const p: Record<string, unknown> = { metric_id: `m${Math.floor(rnd() * 5)}.x${'y'.repeat(Math.floor(rnd() * 40))}` };
        const kind = Math.floor(rnd() * 5);
        p.value = kind === 0 ? Math.floor(rnd() * 300) - 150 : kind === 1 ? Math.floor(rnd() * 2 ** 40) : kind === 2 ? -0 : rnd() * 1e6;
        if (rnd() < 0.8) p.timestamp = rnd() < 0.5 ? T0 + Math.floor(rnd() * 1e6) : T0 + rnd();
        if (rnd() < 0.3) p.metric_type = rnd() < 0.5 ? 'counter' : 'gauge';
        if (rnd() < 0.7) {
          const tags: Record<string, string> = {};
          const k = Math.floor(rnd() * 4);
          for (let j = 0; j < k; j++) tags[`k${j}`] = `v${Math.floor(rnd() * 3)}`.repeat(1 + Math.floor(rnd() * 20));
          p.tags = tags;
        }
        // Reorder fields sometimes: the scanner must not depend on field order.
        metrics.push(rnd() < 0.3 ? Object.fromEntries(Object.entries(p).reverse()) : p);
      }
      frames.push({ seq: f, metrics });
    }
    return frames;
  }

  it('gives exactly the slow path\'s result on random valid frames', () => {
    const fast = decoder();
    const slow = slowDecoder();
    for (const frame of randomFrames(7, 300)) {
      const a = fast.decode(pack(frame), 'msgpack', true, 999) as DecodedBatch;
      const b = slow.decode(pack(frame), 'msgpack', true, 999) as DecodedBatch;
      expect(a.seq).toBe(frame.seq);
      expect(a.newSeries).toEqual(b.newSeries);
      expect(Array.from(a.seriesOf)).toEqual(Array.from(b.seriesOf));
      expect(Array.from(a.timestamps)).toEqual(Array.from(b.timestamps));
      expect(a.values).toEqual(b.values);
    }
    expect(fast.fastPathFrames).toBe(300);
    expect(slow.fastPathFrames).toBe(0);
  });

  it('takes HTTP msgpack bodies (no seq) too, and keeps seq null there', () => {
    const d = decoder();
    const b = d.decode(pack({ metrics: [{ metric_id: 'a', value: 1, timestamp: T0 }] }), 'msgpack', false) as DecodedBatch;
    expect(b.seq).toBeNull();
    expect(d.fastPathFrames).toBe(1);
    // A frame without seq still needs the slow path's precise refusal.
    expect(refusal(() => d.decode(pack({ metrics: [{ metric_id: 'a', value: 1 }] }), 'msgpack', true)).field).toBe('seq');
  });

  it('keeps 64-bit seqs exact and hands unusual frames to the slow path', () => {
    const d = decoder();
    const big = (1n << 64n) - 2n;
    const a = d.decode(pack({ seq: big, metrics: [{ metric_id: 'a', value: 1, timestamp: T0 }] }), 'msgpack', true) as DecodedBatch;
    expect(a.seq).toBe(big);
    const iso = d.decode(pack({ seq: 1, metrics: [{ metric_id: 'a', value: 1, timestamp: '2024-01-01T00:00:00Z' }] }), 'msgpack', true) as DecodedBatch;
    expect(iso.timestamps[0]).toBe(T0);
    // An unknown point field is refused (strict API), not silently dropped.
    expect(() => d.decode(pack({ seq: 2, metrics: [{ metric_id: 'a', value: 1, timestamp: T0, note: 'x' }] }), 'msgpack', true)).toThrow('metrics[0].note is not a known field');
    expect(d.fastPathFrames).toBe(1);
  });
});

describe('row-form fast path series prediction', () => {
  const point = (host: string, metric: string, v: number, type?: string) => ({
    metric_id: metric, value: v, timestamp: T0 + v, ...(type === undefined ? {} : { metric_type: type }), tags: { host, dc: 'eu-1' },
  });

  it('follows the slow path when frames repeat, shift, or change one byte of a predicted series', () => {
    const base = ['a', 'b', 'c', 'd'].flatMap((h) => ['cpu', 'mem'].map((m) => [h, m] as const));
    const frames = [
      base.map(([h, m], i) => point(h, m, i)),
      base.map(([h, m], i) => point(h, m, 10 + i)),
      [...base.slice(3), ...base.slice(0, 3)].map(([h, m], i) => point(h, m, 20 + i)),
      base.map(([h, m], i) => point(i === 2 ? 'e' : h, m, 30 + i)),
      base.map(([h, m], i) => point(h, i === 5 ? 'cpv' : m, 40 + i)),
      base.map(([h, m], i) => point(h, m, 50 + i, i === 1 ? 'counter' : undefined)),
      base.slice(0, 3).map(([h, m], i) => point(h, m, 60 + i)),
      base.map(([h, m], i) => point(h, m, 70 + i)),
    ];
    const fast = decoder();
    const slow = slowDecoder();
    frames.forEach((metrics, seq) => {
      const a = fast.decode(pack({ seq, metrics }), 'msgpack', true, 5) as DecodedBatch;
      const b = slow.decode(pack({ seq, metrics }), 'msgpack', true, 5) as DecodedBatch;
      expect(a.newSeries, `frame ${seq}`).toEqual(b.newSeries);
      expect(Array.from(a.seriesOf), `frame ${seq}`).toEqual(Array.from(b.seriesOf));
      expect(Array.from(a.values)).toEqual(Array.from(b.values));
    });
    expect(fast.fastPathFrames).toBe(frames.length);
  });

  it('never predicts a series of a refused frame', () => {
    const d = decoder();
    d.decode(pack({ seq: 1, metrics: [point('a', 'cpu', 1), point('b', 'cpu', 2)] }), 'msgpack', true);
    // Introduces series x/y at positions 0 and 1, then fails: all of it is forgotten.
    refusal(() => d.decode(pack({ seq: 2, metrics: [point('x', 'cpu', 1), point('y', 'cpu', 2), { metric_id: 'z', value: NaN }] }), 'msgpack', true));
    const next = d.decode(pack({ seq: 3, metrics: [point('q', 'cpu', 1), point('b', 'cpu', 2)] }), 'msgpack', true) as DecodedBatch;
    expect(next.newSeries.map((s) => s.tags.host)).toEqual(['q']);
    expect(Array.from(next.seriesOf)).toEqual([2, 1]);
  });
});
