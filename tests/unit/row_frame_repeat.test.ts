// The row fast path's repeated-frame path (src/ingest/row_frame_scanner.ts, scanRepeatedFrame):
// a frame whose points are the stream's previous frame's but for their numbers is decoded by
// reading the numbers and one compare of all the points' bytes. Every frame here is checked
// against the slow path (the decoder with rowFastPath: false), including the frames where the
// repeat breaks (a tag, a number's encoding, the seq's length, a refused value) and those after.
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, PayloadRefusedError, type DecodedBatch } from '../../src/ingest/frame_decoder.js';

const packr = new Packr({ useRecords: false });
const T0 = Date.UTC(2026, 0, 1);
const NOW = T0 + 86_400_000;

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Point {
  metric_id: string;
  value: number;
  timestamp: number;
  tags: Record<string, string>;
}

const bits = (xs: Float64Array): string[] => Array.from(new BigUint64Array(xs.buffer, xs.byteOffset, xs.length), (x) => x.toString(16));

/** The fast decoder's and the slow decoder's results for `frame`, which must agree. */
function decodeBoth(fast: FrameDecoder, slow: FrameDecoder, frame: Uint8Array, stream: number, what: string): DecodedBatch {
  const a = fast.decode(frame.slice(), 'msgpack', true, NOW, stream) as DecodedBatch;
  const b = slow.decode(frame.slice(), 'msgpack', true, NOW) as DecodedBatch;
  expect(a.seq, what).toEqual(b.seq);
  expect(a.newSeries, what).toEqual(b.newSeries);
  expect(Array.from(a.seriesOf), what).toEqual(Array.from(b.seriesOf));
  expect(bits(a.timestamps), what).toEqual(bits(b.timestamps));
  expect(bits(a.values), what).toEqual(bits(b.values));
  return a;
}

function basePoints(stream: number, n: number): Point[] {
  return Array.from({ length: n }, (_, i) => ({
    metric_id: `cpu.m${i % 5}`,
    value: 0.5,
    timestamp: T0,
    tags: { hostname: `host_${stream}_${Math.floor(i / 5)}`, region: 'eu-west-1', pad: 'x'.repeat(i % 7) },
  }));
}

/** `base` with fresh float64 values and one timestamp per frame (as a bulk loader sends). */
function renumbered(base: Point[], rnd: () => number, frame: number): Point[] {
  return base.map((p) => ({ ...p, value: (rnd() - 0.5) * 1e6 + 0.25, timestamp: T0 + frame * 10_000 }));
}

describe('row fast path: repeated frames', () => {
  it('decodes frames that repeat their points with new numbers by the repeated-frame path, as the slow path does', () => {
    const rnd = random(11);
    const fast = new FrameDecoder({ maxPointsPerBatch: 1000 });
    const slow = new FrameDecoder({ maxPointsPerBatch: 1000, rowFastPath: false });
    const bases = [basePoints(1, 200), basePoints(2, 150)];
    let repeated = 0;
    // Two streams interleaved, each predicted from its own previous frame; the seq grows from a
    // fixint to a uint16 and a uint32, so the points sit at other offsets than in the prediction.
    const seqs = [1, 2, 3, 200, 201, 70_000, 70_001, 70_002];
    for (let f = 0; f < seqs.length * 2; f++) {
      const stream = (f % 2) + 1;
      const metrics = renumbered(bases[stream - 1]!, rnd, f);
      decodeBoth(fast, slow, packr.pack({ seq: seqs[f >> 1]!, metrics }), stream, `frame ${f}`);
      if (f >= 2) repeated += metrics.length;
    }
    expect(fast.fastPathFrames).toBe(seqs.length * 2);
    expect(fast.wholePointHits).toBe(repeated);
  });

  it('falls back point by point where a repeat breaks, and repeats again afterwards', () => {
    const rnd = random(12);
    const fast = new FrameDecoder({ maxPointsPerBatch: 1000 });
    const slow = new FrameDecoder({ maxPointsPerBatch: 1000, rowFastPath: false });
    const base = basePoints(1, 100);
    let f = 0;
    const next = (change?: (metrics: Point[]) => void): DecodedBatch => {
      const metrics = renumbered(base, rnd, f);
      change?.(metrics);
      return decodeBoth(fast, slow, packr.pack({ seq: f, metrics }), 1, `frame ${f++}`);
    };
    next();
    next();
    const hitsBefore = fast.wholePointHits;
    // The last point's host changes by one byte: a new series, found only at the end.
    const changed = next((m) => {
      m[99] = { ...m[99]!, tags: { ...m[99]!.tags, hostname: 'host_1_1x' } };
    });
    expect(changed.newSeries).toHaveLength(1);
    expect(fast.wholePointHits - hitsBefore).toBe(99);
    // A value in the middle is sent as a small integer (another encoding, another length).
    next((m) => {
      m[50]!.value = 7;
    });
    // Then the usual frame again: its prediction is the frame before (point 50 an integer).
    next();
    const hits = fast.wholePointHits;
    next();
    expect(fast.wholePointHits - hits).toBe(100);
  });

  it('refuses a repeated frame holding a non-finite value as the slow path does, and the prediction stays sound', () => {
    const rnd = random(13);
    const fast = new FrameDecoder({ maxPointsPerBatch: 1000 });
    const slow = new FrameDecoder({ maxPointsPerBatch: 1000, rowFastPath: false });
    const base = basePoints(1, 60);
    decodeBoth(fast, slow, packr.pack({ seq: 1, metrics: renumbered(base, rnd, 1) }), 1, 'frame 1');
    decodeBoth(fast, slow, packr.pack({ seq: 2, metrics: renumbered(base, rnd, 2) }), 1, 'frame 2');
    // NaN in the last point: the repeated-frame path has written every payload into the
    // prediction by the time it reads it, and must then leave the refusal to the slow path.
    const bad = renumbered(base, rnd, 3);
    bad[59]!.value = NaN;
    const frame = packr.pack({ seq: 3, metrics: bad });
    const refusal = (decoder: FrameDecoder): string => {
      try {
        decoder.decode(new Uint8Array(frame), 'msgpack', true, NOW, 1);
      } catch (err) {
        expect(err).toBeInstanceOf(PayloadRefusedError);
        return (err as Error).message;
      }
      throw new Error('the frame was accepted');
    };
    expect(refusal(fast)).toBe(refusal(slow));
    const hits = fast.wholePointHits;
    decodeBoth(fast, slow, packr.pack({ seq: 4, metrics: renumbered(base, rnd, 4) }), 1, 'frame 4');
    expect(fast.wholePointHits - hits).toBe(60);
  });

  it('takes the per-point path when the frame has a different number of points', () => {
    const rnd = random(14);
    const fast = new FrameDecoder({ maxPointsPerBatch: 1000 });
    const slow = new FrameDecoder({ maxPointsPerBatch: 1000, rowFastPath: false });
    const base = basePoints(1, 40);
    decodeBoth(fast, slow, packr.pack({ seq: 1, metrics: renumbered(base, rnd, 1) }), 1, 'frame 1');
    const hits = fast.wholePointHits;
    decodeBoth(fast, slow, packr.pack({ seq: 2, metrics: renumbered(base, rnd, 2).slice(0, 30) }), 1, 'frame 2');
    // Point by point, the 30 points still repeat their predecessors.
    expect(fast.wholePointHits - hits).toBe(30);
    decodeBoth(fast, slow, packr.pack({ seq: 3, metrics: renumbered(base, rnd, 3) }), 1, 'frame 3');
  });
});
