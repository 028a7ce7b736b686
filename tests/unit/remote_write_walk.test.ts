/**
 * The remote-write decoder's walk with protobufjs's Reader (remote_write_decoder.ts) against a
 * reference built on protobufjs's generated decoder (decodeWriteRequest, objects) for bodies
 * written field by field with protobufjs's Writer: labels and samples interleaved, fields out
 * of order, unknown fields (exemplars, metadata), empty samples, and the label-bytes cache.
 * Also which refusal wins when a body has several problems: malformed message, then size
 * limits, then the first invalid series, as a decode of the whole message followed by the
 * checks answered before.
 */
import protobuf from 'protobufjs';
import { compressSync, uncompressSync } from 'snappy';
import { describe, expect, it } from 'vitest';
import { decodeRemoteWrite, decodeRemoteWriteSeries } from '../../src/interop/remote_write_decoder.js';
import { refusal } from './remote_write_refusal.js';
import { decodeWriteRequest, int64ToNumber } from '../../src/interop/remote_write_proto.js';
import { LocalNumbering } from '../../src/interop/series_numbering.js';
import { mulberry32 } from '../../bench/data_shapes.js';

const LIMITS = { maxDecompressedBytes: 1 << 22, maxSeries: 1000, maxSamples: 100_000 };
const T0 = 1_700_000_000_000;

/** One field of a TimeSeries, in the order written. */
type Part =
  | { label: [string, string] }
  | { sample: { value?: number; timestamp?: number } }
  | { exemplar: true };

function writeSeries(w: protobuf.Writer, parts: Part[]): void {
  w.uint32((1 << 3) | 2).fork();
  for (const p of parts) {
    if ('label' in p) {
      w.uint32((1 << 3) | 2).fork();
      w.uint32((1 << 3) | 2).string(p.label[0]);
      w.uint32((2 << 3) | 2).string(p.label[1]);
      w.ldelim();
    } else if ('sample' in p) {
      w.uint32((2 << 3) | 2).fork();
      // Timestamp first: field order inside a message is free.
      if (p.sample.timestamp !== undefined) w.uint32((2 << 3) | 0).int64(p.sample.timestamp);
      if (p.sample.value !== undefined) w.uint32((1 << 3) | 1).double(p.sample.value);
      w.ldelim();
    } else {
      // An exemplar (field 3): a label and a value, which EMMS does not store.
      w.uint32((3 << 3) | 2).fork();
      w.uint32((1 << 3) | 2).fork().uint32((1 << 3) | 2).string('trace_id').uint32((2 << 3) | 2).string('abc').ldelim();
      w.uint32((2 << 3) | 1).double(42);
      w.ldelim();
    }
  }
  w.ldelim();
}

function bodyOf(series: Part[][], extra?: (w: protobuf.Writer) => void): Uint8Array {
  const w = protobuf.Writer.create();
  for (const parts of series) writeSeries(w, parts);
  extra?.(w);
  return compressSync(Buffer.from(w.finish()));
}

/** What the decoder must give, from protobufjs's object decode and the documented rules. */
function reference(body: Uint8Array): Array<{ metricId: string; tags: Record<string, string>; points: Array<[number, number]> }> {
  const request = decodeWriteRequest(uncompress(body));
  const out: Array<{ metricId: string; tags: Record<string, string>; points: Array<[number, number]> }> = [];
  for (const ts of request.timeseries) {
    const tags: Record<string, string> = {};
    let metricId = '';
    for (const l of ts.labels) {
      if (l.name === '__name__') metricId = l.value;
      else if (l.value !== '') tags[l.name] = l.value;
    }
    const points = ts.samples.map((s) => [int64ToNumber(s.timestamp ?? 0), s.value ?? 0] as [number, number]).filter(([, v]) => Number.isFinite(v));
    out.push({ metricId, tags, points });
  }
  return out;
}

function uncompress(body: Uint8Array): Uint8Array {
  return uncompressSync(Buffer.from(body)) as Buffer;
}

function decoded(body: Uint8Array): Array<{ metricId: string; tags: Record<string, string>; points: Array<[number, number]> }> {
  return decodeRemoteWriteSeries(body, LIMITS).series.map((s) => ({
    metricId: s.metricId,
    tags: { ...s.tags },
    points: Array.from(s.timestamps, (t, i) => [t, s.values[i]!] as [number, number]),
  }));
}

const random = mulberry32;

describe('remote write walk', () => {
  it('gives what protobufjs\'s object decode gives, on shuffled and interleaved fields', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const rnd = random(seed);
      const series: Part[][] = [];
      const count = 1 + Math.floor(rnd() * 6);
      for (let s = 0; s < count; s++) {
        // Distinct series: the metric name carries s (a repeated identity would be numbered once).
        const parts: Part[] = [{ label: ['__name__', `m_${s}`] }, { label: ['host', `h${Math.floor(rnd() * 3)}`] }, { label: ['zone', rnd() < 0.3 ? '' : 'z1'] }];
        for (let i = 0; i < Math.floor(rnd() * 5); i++) {
          const v = rnd() < 0.1 ? NaN : rnd() < 0.1 ? undefined : Math.round(rnd() * 1e6) / 1e3;
          parts.push({ sample: { timestamp: T0 + Math.floor(rnd() * 1e6), ...(v === undefined ? {} : { value: v }) } });
        }
        if (rnd() < 0.3) parts.push({ exemplar: true });
        // Shuffle: labels after, between and before samples.
        for (let i = parts.length - 1; i > 0; i--) {
          const j = Math.floor(rnd() * (i + 1));
          [parts[i], parts[j]] = [parts[j]!, parts[i]!];
        }
        series.push(parts);
      }
      const body = bodyOf(series, (w) => {
        // Metadata (field 3 of WriteRequest) is skipped.
        w.uint32((3 << 3) | 2).fork().uint32((1 << 3) | 0).int32(1).uint32((2 << 3) | 2).string('m_0').ldelim();
      });
      expect(decoded(body), `seed ${seed}`).toEqual(reference(body).filter((s) => s.points.length > 0));
    }
  });

  it('numbers a series once per label bytes, and again for the same labels in another order', () => {
    const numbering = new LocalNumbering();
    const a = bodyOf([[{ label: ['__name__', 'up'] }, { label: ['job', 'x'] }, { sample: { timestamp: T0, value: 1 } }]]);
    const sameBytes = bodyOf([[{ label: ['__name__', 'up'] }, { sample: { timestamp: T0 + 1, value: 2 } }, { label: ['job', 'x'] }]]);
    decodeRemoteWrite(a, LIMITS, numbering);
    // Labels split by a sample are keyed by their bytes joined: the same key.
    decodeRemoteWrite(sameBytes, LIMITS, numbering);
    expect(numbering.size).toBe(1);
    const reordered = bodyOf([[{ label: ['job', 'x'] }, { label: ['__name__', 'up'] }, { sample: { timestamp: T0, value: 1 } }]]);
    const d = decodeRemoteWrite(reordered, LIMITS, numbering);
    expect(numbering.size).toBe(2);
    expect(numbering.identities[1]).toEqual({ metricId: 'up', tags: { job: 'x' } });
    expect([...d.seriesOf]).toEqual([1]);
  });

  it('grows its columns past a short size estimate', () => {
    const series: Part[][] = Array.from({ length: 50 }, (_, s) => [{ label: ['__name__', `m_${s}`] }, ...Array.from({ length: 20 }, (_, i) => ({ sample: { timestamp: T0 + i, value: i } }))]);
    const d = decodeRemoteWrite(bodyOf(series), LIMITS, new LocalNumbering(), 3);
    expect(d.samples).toBe(1000);
    expect(d.seriesOf).toHaveLength(1000);
    expect(d.values[999]).toBe(19);
  });

  it('refuses invalid UTF-8 in a label as a malformed body', () => {
    const w = protobuf.Writer.create();
    w.uint32((1 << 3) | 2).fork();
    w.uint32((1 << 3) | 2).fork().uint32((1 << 3) | 2).string('__name__').uint32((2 << 3) | 2).bytes(Uint8Array.of(0x75, 0xff, 0x70)).ldelim();
    w.uint32((2 << 3) | 2).fork().uint32((1 << 3) | 1).double(1).uint32((2 << 3) | 0).int64(T0).ldelim();
    w.ldelim();
    const e = refusal(() => decodeRemoteWriteSeries(compressSync(Buffer.from(w.finish())), LIMITS));
    expect([e.status, e.field]).toEqual([400, 'body']);
    expect(e.message).toMatch(/not a protobuf prometheus.WriteRequest/);
  });

  it('answers a malformed message before a size limit, and a size limit before an invalid series', () => {
    const bad: Part[] = [{ label: ['__name__', 'bad name!'] }, { sample: { timestamp: T0, value: 1 } }];
    const good = (s: number): Part[] => [{ label: ['__name__', `m_${s}`] }, { sample: { timestamp: T0, value: 1 } }];
    const small = { ...LIMITS, maxSeries: 3 };
    // An invalid first series, and more series than allowed: 413 for the size.
    const tooMany = bodyOf([bad, good(1), good(2), good(3)]);
    const e1 = refusal(() => decodeRemoteWriteSeries(tooMany, small));
    expect([e1.status, e1.message]).toEqual([413, 'the request has 4 series, more than the limit of 3']);
    // Within the limits, the invalid series is named.
    const e2 = refusal(() => decodeRemoteWriteSeries(bodyOf([good(0), bad]), small));
    expect([e2.status, e2.field]).toEqual([400, 'timeseries[1].labels[0]']);
    // A truncated message after the invalid series: the body is malformed.
    const raw = uncompress(bodyOf([bad, good(1)]));
    const e3 = refusal(() => decodeRemoteWriteSeries(compressSync(Buffer.from(raw.subarray(0, raw.length - 3))), small));
    expect([e3.status, e3.field]).toEqual([400, 'body']);
    expect(e3.message).toMatch(/not a protobuf prometheus.WriteRequest/);
    // Samples over the limit, counted over the whole request.
    const e4 = refusal(() => decodeRemoteWriteSeries(bodyOf([good(0), good(1)]), { ...LIMITS, maxSamples: 1 }));
    expect([e4.status, e4.message]).toEqual([413, 'the request has 2 samples, more than the limit of 1 (collector.batch_size)']);
  });

  it('names the first sample with a bad timestamp after the series\' labels pass', () => {
    const e = refusal(() => decodeRemoteWriteSeries(bodyOf([[{ sample: { timestamp: T0, value: 1 } }, { sample: { timestamp: 9_000_000_000_000_000, value: 1 } }, { label: ['__name__', 'up'] }]]), { ...LIMITS }));
    expect([e.status, e.field]).toEqual([400, 'timeseries[0].samples[1].timestamp']);
  });

  it('reads timestamps of every varint length as protobufjs does, stored or named in the refusal', () => {
    // Varints of 1 to 10 bytes: the decoder reads up to 7 itself and leaves longer ones (and
    // negative numbers, always 10 bytes) to protobufjs.
    const stored = [0, 1, 127, 128, 16_383, 16_384, 2 ** 21 - 1, 2 ** 21, 2 ** 28, 2 ** 35 - 1, 2 ** 35, T0, 7_258_118_399_999];
    const body = bodyOf(stored.map((t, s) => [{ label: ['__name__', `m_${s}`] }, { sample: { timestamp: t, value: s + 0.5 } }]));
    expect(decoded(body)).toEqual(reference(body));
    expect(decoded(body).map((s) => s.points[0]![0])).toEqual(stored);
    for (const t of [2 ** 42 * 1.9, 2 ** 49 - 1, 2 ** 49, 2 ** 53 - 1, 2 ** 56 + 2 ** 40, -1, -T0]) {
      const e = refusal(() => decodeRemoteWriteSeries(bodyOf([[{ label: ['__name__', 'up'] }, { sample: { timestamp: t, value: 1 } }]]), LIMITS));
      const expected = int64ToNumber(decodeWriteRequest(uncompress(bodyOf([[{ sample: { timestamp: t, value: 1 } }]]))).timeseries[0]!.samples[0]!.timestamp);
      expect([e.status, e.field, e.message], `timestamp ${t}`).toEqual([400, 'timeseries[0].samples[0].timestamp', `timeseries[0].samples[0].timestamp=${expected} must be epoch milliseconds in [1970, 2200)`]);
    }
  });

  it('refuses a sample whose timestamp or value runs past the end of the sample', () => {
    const cut = [
      Uint8Array.of((2 << 3) | 0, 0x80, 0x80), // varint continues past the sample
      Uint8Array.of((2 << 3) | 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // 7 bytes, all continued
      Uint8Array.of((1 << 3) | 1, 0, 0, 0, 0, 0, 0xf0), // a double of 6 bytes
    ];
    for (const sample of cut) {
      const w = protobuf.Writer.create();
      w.uint32((1 << 3) | 2).fork();
      w.uint32((1 << 3) | 2).fork().uint32((1 << 3) | 2).string('__name__').uint32((2 << 3) | 2).string('up').ldelim();
      w.uint32((2 << 3) | 2).bytes(sample);
      w.ldelim();
      const e = refusal(() => decodeRemoteWriteSeries(compressSync(Buffer.from(w.finish())), LIMITS));
      expect([e.status, e.field], `sample ${Buffer.from(sample).toString('hex')}`).toEqual([400, 'body']);
      expect(e.message).toMatch(/not a protobuf prometheus.WriteRequest: index out of range/);
    }
  });
});
