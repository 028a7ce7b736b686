// The row-form frame scanner (src/ingest/row_frame_scanner.ts) on hostile bytes. The scanner
// either gives up (undefined: the slow path then decodes and refuses precisely) or returns
// exactly what the MessagePack frame says; it never throws, loops or reads out of bounds. And
// through FrameDecoder (src/ingest/frame_decoder.ts), the fast path and the slow path reach the
// same outcome on every frame of a stream, mutated ones included, with the prediction state of
// earlier frames in play. Deterministic seeds; a few seconds in all.
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS } from '../../src/model/metric.js';
import { ByteKeyedSeriesTable } from '../../src/ingest/byte_keyed_series_table.js';
import { FrameDecoder, PayloadRefusedError, type DecodedBatch, type DecodedCustomFrame } from '../../src/ingest/frame_decoder.js';
import { scanRowFrame, type ScannedRows } from '../../src/ingest/row_frame_scanner.js';
import { createWireUnpackr } from '../../src/ingest/wire.js';

const packr = new Packr({ useRecords: false });
const unpackr = createWireUnpackr();
const NOW = Date.UTC(2026, 0, 1);
const T0 = Date.UTC(2025, 11, 31);
const MAX_POINTS = 1000;

// ---- frames ------------------------------------------------------------------------------------

interface Point {
  metric_id: string;
  value: number;
  timestamp?: number | null;
  metric_type?: string;
  tags?: Record<string, string> | null;
}

const pointArb: fc.Arbitrary<Point> = fc
  .record({
    id: fc.constantFrom('cpu.user', 'mem.free', 'disk.io', 'net.rx', 'x'),
    value: fc.oneof(fc.integer({ min: -200, max: 200 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(-0), fc.integer({ min: 0, max: 2 ** 40 })),
    timestamp: fc.option(fc.oneof(fc.integer({ min: T0, max: T0 + 86_400_000 }), fc.constant(T0 + 0.25), fc.constant(null)), { nil: undefined }),
    type: fc.option(fc.constantFrom('counter', 'gauge'), { nil: undefined }),
    tags: fc.option(fc.oneof(fc.dictionary(fc.constantFrom('host', 'dc', 'k'), fc.constantFrom('a', 'b', 'eu-1', 'x'.repeat(40)), { maxKeys: 3 }), fc.constant(null)), { nil: undefined }),
    reversed: fc.boolean(),
  })
  .map(({ id, value, timestamp, type, tags, reversed }) => {
    const p: Point = { metric_id: id, value };
    if (timestamp !== undefined) p.timestamp = timestamp;
    if (type !== undefined) p.metric_type = type;
    if (tags !== undefined) p.tags = tags;
    // Field order must not matter to the scanner.
    return reversed ? (Object.fromEntries(Object.entries(p).reverse()) as unknown as Point) : p;
  });

/** MessagePack type bytes a mutation may plant: other widths of numbers and strings, nil, ext, never-used. */
const TYPE_BYTES = [0xc0, 0xc1, 0xc2, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd3, 0xd4, 0xd6, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0x80, 0x90, 0xa0, 0xff];

interface Mutation {
  kind: 'flip' | 'type' | 'cut' | 'insert' | 'none';
  at: number;
  bit: number;
  byte: number;
}

const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  kind: fc.constantFrom('flip', 'type', 'cut', 'insert', 'none'),
  at: fc.nat(),
  bit: fc.integer({ min: 0, max: 7 }),
  byte: fc.constantFrom(...TYPE_BYTES),
});

function mutate(frame: Uint8Array, m: Mutation): Uint8Array {
  const out = frame.slice();
  const at = m.at % Math.max(out.length, 1);
  switch (m.kind) {
    case 'flip': out[at]! ^= 1 << m.bit; return out;
    case 'type': out[at] = m.byte; return out;
    case 'cut': return out.subarray(0, at);
    case 'insert': return Uint8Array.from([...out.subarray(0, at), m.byte, ...out.subarray(at)]);
    default: return out;
  }
}

/** A stream: a few series sent again and again with new numbers (so predictions hit), some frames mutated. */
const streamArb = fc
  .tuple(
    fc.array(pointArb, { minLength: 1, maxLength: 12 }),
    fc.array(fc.tuple(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 12, maxLength: 12 }), fc.option(mutationArb, { freq: 2, nil: undefined }), fc.boolean()), { minLength: 1, maxLength: 8 }),
  )
  .map(([points, frames]) =>
    frames.map(([values, mutation, withSeq], f) => {
      const metrics = points.map((p, i) => ({ ...p, value: Number.isInteger(p.value) ? p.value + f : values[i]! }));
      const bytes = new Uint8Array(packr.pack(withSeq ? { seq: f, metrics } : { metrics, seq: f }));
      return mutation === undefined ? bytes : mutate(bytes, mutation);
    }));

// ---- the scanner alone --------------------------------------------------------------------------

/**
 * Scans frames in order as FrameDecoder does (commit on success, rollback on give-up), resolving
 * new series by their decoded identity, so equal identities in different encodings share an index.
 */
class ScannerHarness {
  readonly table = new ByteKeyedSeriesTable();
  readonly #indexOf = new Map<string, number>();

  scan(bytes: Uint8Array, requireSeq: boolean): ScannedRows | undefined {
    const field = (start: number, end: number): unknown => (start < 0 ? undefined : unpackr.unpack(bytes.subarray(start, end)));
    const result = scanRowFrame(
      bytes,
      this.table,
      (idStart, idEnd, typeStart, typeEnd, tagsStart, tagsEnd) => {
        const key = identityKey(field(idStart, idEnd), field(typeStart, typeEnd), field(tagsStart, tagsEnd));
        let index = this.#indexOf.get(key);
        if (index === undefined) this.#indexOf.set(key, (index = this.#indexOf.size));
        return index;
      },
      MAX_POINTS, NOW, MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS, requireSeq,
    );
    if (result === undefined) this.table.rollback();
    else this.table.commit(result.seriesOf.length, bytes);
    return result;
  }
}

function identityKey(metricId: unknown, metricType: unknown, tags: unknown): string {
  return JSON.stringify([metricId, metricType ?? null, tags ?? null]);
}

/** A scanned frame holds exactly what MessagePack says the bytes hold. */
function expectFaithful(bytes: Uint8Array, rows: ScannedRows, requireSeq: boolean): void {
  const frame = unpackr.unpack(bytes) as { seq?: unknown; metrics: Point[] };
  expect(Object.keys(frame).every((k) => k === 'seq' || k === 'metrics')).toBe(true);
  expect(rows.seq).toBe(requireSeq ? frame.seq : null);
  const n = frame.metrics.length;
  expect(rows.seriesOf.length).toBe(n);
  expect(rows.timestamps.length).toBe(n);
  expect(rows.values.length).toBe(n);
  const keys = frame.metrics.map((p) => identityKey(p.metric_id, p.metric_type, p.tags));
  for (let i = 0; i < n; i++) {
    const p = frame.metrics[i]!;
    expect(Object.is(rows.values[i], p.value), `point ${i} value ${rows.values[i]} vs ${p.value}`).toBe(true);
    expect(rows.timestamps[i]).toBe(p.timestamp ?? NOW);
    for (let j = 0; j < i; j++) {
      expect(rows.seriesOf[i] === rows.seriesOf[j], `points ${j} and ${i}: ${keys[j]} / ${keys[i]}`).toBe(keys[i] === keys[j]);
    }
  }
}

// ---- FrameDecoder: fast path against slow path ----------------------------------------------------

type Outcome = { refused: string } | { batch: unknown };

function outcome(decoder: FrameDecoder, bytes: Uint8Array, requireSeq: boolean): Outcome {
  try {
    const b = decoder.decode(bytes, 'msgpack', requireSeq, NOW) as DecodedBatch | DecodedCustomFrame;
    if ('handler' in b) return { batch: { seq: b.seq, handler: b.handler, items: b.items } };
    return {
      batch: {
        seq: b.seq, points: b.points, newSeries: b.newSeries,
        seriesOf: Array.from(b.seriesOf), timestamps: Array.from(b.timestamps),
        // Bit patterns, so −0 and 0 are told apart.
        values: Array.from(new BigUint64Array(b.values.buffer, b.values.byteOffset, b.values.length)),
      },
    };
  } catch (e) {
    expect(e).toBeInstanceOf(PayloadRefusedError);
    return { refused: (e as Error).message };
  }
}

describe('row frame scanner on hostile bytes', () => {
  it('arbitrary bytes: gives up, or returns what the frame holds', () => {
    const h = new ScannerHarness();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, requireSeq) => {
        const rows = h.scan(bytes, requireSeq);
        if (rows !== undefined) expectFaithful(bytes, rows, requireSeq);
      }),
      { numRuns: 3000, seed: 51 },
    );
  });

  it('streams of valid and mutated frames: gives up, or returns what each frame holds', () => {
    const counts = { scanned: 0, gaveUp: 0 };
    fc.assert(
      fc.property(streamArb, fc.boolean(), (frames, requireSeq) => {
        const h = new ScannerHarness();
        for (const bytes of frames) {
          const rows = h.scan(bytes, requireSeq);
          if (rows === undefined) counts.gaveUp++;
          else {
            counts.scanned++;
            expectFaithful(bytes, rows, requireSeq);
          }
        }
      }),
      { numRuns: 400, seed: 52 },
    );
    // Seed 52: 1,063 frames scanned, 603 given up.
    expect(counts.scanned).toBeGreaterThan(500);
    expect(counts.gaveUp).toBeGreaterThan(300);
  });

  it('FrameDecoder: the fast path and the slow path agree on every frame of mutated streams', () => {
    let fastFrames = 0;
    let refusals = 0;
    let predictedPoints = 0;
    fc.assert(
      fc.property(streamArb, fc.boolean(), (frames, requireSeq) => {
        const fast = new FrameDecoder({ maxPointsPerBatch: MAX_POINTS, customFrameNames: ['key_events'] });
        const slow = new FrameDecoder({ maxPointsPerBatch: MAX_POINTS, customFrameNames: ['key_events'], rowFastPath: false });
        frames.forEach((bytes, f) => {
          const a = outcome(fast, bytes, requireSeq);
          expect(a, `frame ${f}`).toEqual(outcome(slow, bytes, requireSeq));
          if ('refused' in a) refusals++;
        });
        fastFrames += fast.fastPathFrames;
        predictedPoints += fast.wholePointHits;
      }),
      { numRuns: 400, seed: 53 },
    );
    // Seed 53: 1,090 frames took the fast path (2,866 points by whole-point prediction), 545 refused.
    expect(fastFrames).toBeGreaterThan(500);
    expect(predictedPoints).toBeGreaterThan(1000);
    expect(refusals).toBeGreaterThan(250);
  });
});
