/**
 * FrameRing (the shared memory that carries borrowed uWebSockets.js frames to a decode worker)
 * checked against a plain FIFO model on seeded random workloads, plus DecodePool#decodeCopy
 * checked end to end: the caller's memory is trashed as soon as decodeCopy returns, exactly as
 * uWS reuses it, and every outcome must still hold the points that were sent.
 */
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SeriesIdentity, SeriesTable } from '../../src/model/api.js';
import { DecodePool, type DecodeOutcome } from '../../src/server/decode_pool.js';
import { FrameRing } from '../../src/server/frame_ring.js';
import { WireField } from '../../src/server/wire.js';

/** mulberry32: tiny, seedable, good enough to drive a model test reproducibly. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomInt(rand: () => number, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

function randomBytes(rand: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

interface LiveAllocation {
  offset: number;
  bytes: Uint8Array;
}

/**
 * The invariants every caller of FrameRing relies on: what was put is still there until it is
 * released (a worker may be reading it), and the ring's bookkeeping agrees with the FIFO.
 */
function checkInvariants(ring: FrameRing, model: readonly LiveAllocation[], context: () => string): void {
  // Plain checks rather than expect(): this runs after every one of ~25,000 steps.
  const memory = new Uint8Array(ring.shared);
  if (ring.liveFrames !== model.length) throw new Error(`${context()}: liveFrames=${ring.liveFrames}, model holds ${model.length}`);
  const spans = model.map((a) => [a.offset, a.offset + a.bytes.length] as const).sort((x, y) => x[0] - y[0]);
  for (let i = 0; i < spans.length; i++) {
    const [start, end] = spans[i]!;
    if (start < 0 || end > ring.capacity) throw new Error(`${context()}: [${start}, ${end}) outside [0, ${ring.capacity})`);
    const next = spans[i + 1];
    if (next !== undefined && end > next[0]) throw new Error(`${context()}: [${start}, ${end}) overlaps [${next[0]}, ${next[1]})`);
  }
  for (const [k, a] of model.entries()) {
    if (!bytesEqual(memory.subarray(a.offset, a.offset + a.bytes.length), a.bytes)) {
      throw new Error(`${context()}: live allocation #${k} at offset ${a.offset} (${a.bytes.length} bytes) was overwritten`);
    }
  }
}

/** A failed check throws with its message; the message is only built then. */
function assert(ok: boolean, message: () => string): void {
  if (!ok) throw new Error(message());
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Runs `steps` random puts/releases. Sizes are skewed small so the ring holds several frames
 * at once (uniform 1..capacity would leave it holding one frame almost always and never wrap),
 * with some full-range sizes and some impossible ones (0, > capacity) mixed in.
 */
function runModel(seed: number, capacity: number, steps: number, putBias: number): { puts: number; refusedWhileLive: number; wraps: number } {
  const rand = mulberry32(seed);
  const ring = new FrameRing(capacity);
  const model: LiveAllocation[] = [];
  let puts = 0;
  let refusedWhileLive = 0;
  let wraps = 0;
  let lastEnd = 0;
  for (let step = 0; step < steps; step++) {
    const context = (): string => `seed ${seed} capacity ${capacity} step ${step}`;
    if (model.length > 0 && rand() >= putBias) {
      ring.releaseOldest();
      model.shift();
    } else {
      const r = rand();
      const size =
        r < 0.03 ? 0 : r < 0.06 ? capacity + randomInt(rand, 1, 3) : r < 0.8 ? randomInt(rand, 1, Math.max(1, Math.floor(capacity / 4))) : randomInt(rand, 1, capacity);
      const frame = randomBytes(rand, size);
      const expected = frame.slice();
      const liveBefore = model.length;
      const only = model.length === 1 ? model[0] : undefined;
      const offset = ring.put(frame);
      if (offset < 0) {
        assert(offset === -1, () => `${context()}: put returned ${offset}`);
        // A refusal is only legitimate when something is in the way or the size is impossible.
        assert(liveBefore > 0 || size === 0 || size > capacity, () => `${context()}: put(${size}) refused on an empty ring`);
        if (liveBefore > 0 && size > 0 && size <= capacity) refusedWhileLive++;
        // With one frame live, both the space after it and the space before it are free: a
        // frame that fits in either (keeping one byte spare before it, so full and empty
        // differ) must not be refused.
        if (only !== undefined && size > 0) {
          const after = capacity - (only.offset + only.bytes.length);
          const before = only.offset - 1;
          assert(size > Math.max(after, before), () => `${context()}: put(${size}) refused with only [${only.offset}, ${only.offset + only.bytes.length}) live`);
        }
      } else {
        assert(size > 0 && size <= capacity, () => `${context()}: put(${size}) accepted at ${offset}`);
        assert(liveBefore > 0 || offset === 0, () => `${context()}: first frame on an empty ring put at ${offset}`);
        if (liveBefore > 0 && offset < lastEnd) wraps++;
        lastEnd = offset + size;
        // The ring must have copied: the caller's buffer is about to be reused.
        frame.fill(0xa5);
        model.push({ offset, bytes: expected });
        puts++;
      }
    }
    checkInvariants(ring, model, context);
  }
  // Drain, then the whole ring must be available again from offset 0.
  while (model.length > 0) {
    ring.releaseOldest();
    model.shift();
    checkInvariants(ring, model, () => `seed ${seed} drain`);
  }
  for (const size of [1, Math.max(1, capacity >> 1), capacity]) {
    expect(ring.put(new Uint8Array(size).fill(7)), `seed ${seed}: put(${size}) after drain`).toBe(0);
    ring.releaseOldest();
  }
  return { puts, refusedWhileLive, wraps };
}

describe('FrameRing against a FIFO model', () => {
  it('never overwrites a live frame, keeps frames disjoint and in bounds, over thousands of random steps', () => {
    let totalWraps = 0;
    let totalRefused = 0;
    let totalPuts = 0;
    const cases: Array<[seed: number, capacity: number, putBias: number]> = [
      [1, 64, 0.6],
      [2, 64, 0.75],
      [3, 1000, 0.7],
      [4, 7, 0.6],
      [5, 1, 0.5],
      [6, 257, 0.9],
    ];
    for (const [seed, capacity, putBias] of cases) {
      const { puts, refusedWhileLive, wraps } = runModel(seed, capacity, 4000, putBias);
      totalPuts += puts;
      totalRefused += refusedWhileLive;
      totalWraps += wraps;
    }
    // Without these the test would pass vacuously: the workload must wrap and must fill up.
    expect(totalPuts).toBeGreaterThan(5000);
    expect(totalWraps).toBeGreaterThan(100);
    expect(totalRefused).toBeGreaterThan(100);
  });

  it('copies the exact bytes put, so the caller may reuse its buffer at once', () => {
    const rand = mulberry32(99);
    const ring = new FrameRing(4096);
    const frame = randomBytes(rand, 1000);
    const expected = frame.slice();
    const offset = ring.put(frame);
    frame.fill(0);
    expect(bytesEqual(new Uint8Array(ring.shared, offset, 1000), expected)).toBe(true);
  });

  it('survives long runs where the ring never empties (the live list is compacted in place)', () => {
    // The ring forgets its bookkeeping whenever it empties, so only a stream that always keeps
    // frames in flight reaches the compaction of the live list after 1024 releases.
    const rand = mulberry32(7);
    const ring = new FrameRing(512);
    const model: LiveAllocation[] = [];
    for (let step = 0; step < 6000; step++) {
      if (model.length < 3 || (model.length < 12 && rand() < 0.5)) {
        const size = randomInt(rand, 1, 40);
        const frame = randomBytes(rand, size);
        const offset = ring.put(frame);
        if (offset >= 0) model.push({ offset, bytes: frame.slice() });
        else if (model.length > 0) {
          ring.releaseOldest();
          model.shift();
        }
      } else {
        ring.releaseOldest();
        model.shift();
      }
      assert(model.length > 0, () => `steady step ${step}: the ring emptied`);
      checkInvariants(ring, model, () => `steady step ${step}`);
    }
  });
});

describe('FrameRing edge cases', () => {
  it('takes a frame of exactly its capacity on an empty ring, and nothing else beside it', () => {
    const ring = new FrameRing(100);
    const frame = new Uint8Array(100).map((_, i) => i);
    expect(ring.put(frame)).toBe(0);
    expect(ring.liveFrames).toBe(1);
    expect(ring.put(new Uint8Array(1))).toBe(-1);
    expect(Array.from(new Uint8Array(ring.shared))).toEqual(Array.from(frame));
    ring.releaseOldest();
    expect(ring.put(new Uint8Array(100))).toBe(0);
  });

  it('refuses empty frames and frames larger than the ring without allocating', () => {
    const ring = new FrameRing(16);
    expect(ring.put(new Uint8Array(0))).toBe(-1);
    expect(ring.put(new Uint8Array(17))).toBe(-1);
    expect(ring.liveFrames).toBe(0);
    expect(ring.capacity).toBe(16);
    expect(ring.shared.byteLength).toBe(16);
  });

  it('wraps a frame that only fits at the start once the oldest frame is released', () => {
    const ring = new FrameRing(100);
    const a = new Uint8Array(40).fill(1);
    const b = new Uint8Array(50).fill(2);
    expect(ring.put(a)).toBe(0);
    expect(ring.put(b)).toBe(40);
    // 10 bytes left at the end, 0 at the start: a 20-byte frame fits nowhere.
    expect(ring.put(new Uint8Array(20).fill(3))).toBe(-1);
    ring.releaseOldest();
    const c = new Uint8Array(20).fill(3);
    expect(ring.put(c)).toBe(0);
    expect(ring.liveFrames).toBe(2);
    const memory = new Uint8Array(ring.shared);
    expect(memory.subarray(40, 90).every((x) => x === 2)).toBe(true);
    expect(memory.subarray(0, 20).every((x) => x === 3)).toBe(true);
    // Wrapped: only [20, 40) is free, and the ring keeps head and tail distinct, so 20 bytes do
    // not fit while 19 do, just below b.
    expect(ring.put(new Uint8Array(20))).toBe(-1);
    expect(ring.put(new Uint8Array(19).fill(4))).toBe(20);
    expect(memory.subarray(40, 90).every((x) => x === 2)).toBe(true);
    // Releasing b (oldest) moves the tail to c at offset 0: [39, 100) is free again.
    ring.releaseOldest();
    expect(ring.put(new Uint8Array(61).fill(5))).toBe(39);
    expect(memory.subarray(0, 20).every((x) => x === 3)).toBe(true);
    expect(memory.subarray(20, 39).every((x) => x === 4)).toBe(true);
  });

  it('uses the end of the ring before wrapping', () => {
    const ring = new FrameRing(100);
    expect(ring.put(new Uint8Array(30))).toBe(0);
    expect(ring.put(new Uint8Array(30))).toBe(30);
    ring.releaseOldest();
    // 40 bytes at the end and 30 at the start are free; the end comes first.
    expect(ring.put(new Uint8Array(40))).toBe(60);
    expect(ring.put(new Uint8Array(29))).toBe(0);
  });

  it('throws from releaseOldest when nothing is live, including after everything was released', () => {
    const ring = new FrameRing(8);
    expect(() => ring.releaseOldest()).toThrow(/nothing allocated/);
    ring.put(new Uint8Array(3));
    ring.releaseOldest();
    expect(() => ring.releaseOldest()).toThrow(/nothing allocated/);
  });

  it('reset() frees everything, wherever the head and tail were', () => {
    const ring = new FrameRing(100);
    ring.put(new Uint8Array(60));
    ring.put(new Uint8Array(30));
    ring.releaseOldest();
    expect(ring.put(new Uint8Array(50))).toBe(0);
    expect(ring.liveFrames).toBe(2);
    ring.reset();
    expect(ring.liveFrames).toBe(0);
    expect(() => ring.releaseOldest()).toThrow();
    expect(ring.put(new Uint8Array(100))).toBe(0);
    expect(ring.liveFrames).toBe(1);
  });
});

/** A SeriesTable that only records identities, so outcomes can be mapped back to metric ids. */
class RecordingSeriesTable implements SeriesTable {
  readonly identities: SeriesIdentity[] = [];
  get size(): number {
    return this.identities.length;
  }
  add(series: SeriesIdentity): number {
    return this.identities.push(series) - 1;
  }
  collect(): Promise<{ accepted: number }> {
    return Promise.reject(new Error('not used: these tests only decode'));
  }
}

const packr = new Packr({ useRecords: false });
const T0 = Date.UTC(2026, 0, 1);
const METRIC_IDS = ['ring.a', 'ring.b', 'ring.c', 'ring.d'];

interface SentFrame {
  seq: number;
  metricIds: string[];
  timestamps: number[];
  values: number[];
  bytes: Uint8Array;
}

/**
 * Values and timestamps are unique per frame and per point, so a frame decoded from memory
 * that another frame (or the caller's garbage) overwrote cannot pass for the right one.
 * `padBytes` adds a top-level field the decoder ignores, to make big frames cheaply.
 */
function buildFrame(seq: number, points: number, padBytes = 0): SentFrame {
  const metricIds: string[] = [];
  const timestamps: number[] = [];
  const values: number[] = [];
  const metrics: Array<Record<string, unknown>> = [];
  for (let i = 0; i < points; i++) {
    const metricId = METRIC_IDS[i % METRIC_IDS.length]!;
    const timestamp = T0 + seq * 100_000 + i;
    const value = seq * 1_000_000 + i + 0.25;
    metricIds.push(metricId);
    timestamps.push(timestamp);
    values.push(value);
    metrics.push({ [WireField.metricId]: metricId, [WireField.value]: value, [WireField.timestamp]: timestamp });
  }
  const body: Record<string, unknown> = { [WireField.seq]: seq, [WireField.metrics]: metrics };
  if (padBytes > 0) body.pad = new Uint8Array(padBytes).fill(seq & 0xff);
  // Packr reuses its output buffer; a frame of its own stands in for what the client sent.
  return { seq, metricIds, timestamps, values, bytes: Uint8Array.from(packr.pack(body)) };
}

function expectDecodedAs(outcome: DecodeOutcome, sent: SentFrame): void {
  if (outcome.kind !== 'series') throw new Error(`frame seq ${sent.seq}: expected series, got ${JSON.stringify(outcome)}`);
  expect(outcome.seq).toBe(sent.seq);
  expect(outcome.points).toBe(sent.values.length);
  expect(Array.from(outcome.timestamps)).toEqual(sent.timestamps);
  expect(Array.from(outcome.values)).toEqual(sent.values);
  const table = outcome.table as RecordingSeriesTable;
  expect(Array.from(outcome.seriesOf, (s) => table.identities[s]?.metricId)).toEqual(sent.metricIds);
}

/**
 * Hands each frame to decodeCopy through one reused "uWS" buffer and trashes it right after
 * the call returns, so any outcome read from the caller's memory instead of a copy is wrong.
 */
function sendAll(pool: DecodePool, frames: readonly SentFrame[], stream: number): Promise<DecodeOutcome>[] {
  const borrowed = new Uint8Array(Math.max(...frames.map((f) => f.bytes.length)));
  const pending: Promise<DecodeOutcome>[] = [];
  for (const f of frames) {
    borrowed.set(f.bytes);
    pending.push(pool.decodeCopy(0, borrowed.subarray(0, f.bytes.length), 'msgpack', true, stream));
    borrowed.fill(0xc1); // 0xc1 is never valid MessagePack.
  }
  return pending;
}

describe('DecodePool#decodeCopy with borrowed memory', () => {
  const pools: DecodePool[] = [];
  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });

  async function startPool(threads: number): Promise<DecodePool> {
    const pool = new DecodePool({ threads, maxPointsPerBatch: 5000, customFrameNames: ['key_events'], createSeriesTable: () => new RecordingSeriesTable() });
    pools.push(pool);
    await pool.start();
    return pool;
  }

  it('decodes 200 concurrent ~50 KB frames through the worker ring exactly, with the caller buffer trashed after each call', async () => {
    const pool = await startPool(1);
    const fallback = vi.spyOn(pool, 'decode');
    const frames = Array.from({ length: 200 }, (_, k) => buildFrame(k + 1, 1000));
    expect(frames[0]!.bytes.length).toBeGreaterThan(45_000);
    const outcomes = await Promise.all(sendAll(pool, frames, 1));
    // 200 × ~54 KB (11 MB) fits the 32 MiB ring: every frame went through shared memory.
    expect(fallback).not.toHaveBeenCalled();
    outcomes.forEach((o, k) => expectDecodedAs(o, frames[k]!));
    // Replies released the ring: a second burst goes through it again, decoded just as well.
    const again = Array.from({ length: 50 }, (_, k) => buildFrame(1000 + k, 1000));
    const second = await Promise.all(sendAll(pool, again, 1));
    second.forEach((o, k) => expectDecodedAs(o, again[k]!));
    expect(fallback).not.toHaveBeenCalled();
  });

  it('falls back to a private copy when the ring is full, still exact and in order', async () => {
    const pool = await startPool(1);
    const fallback = vi.spyOn(pool, 'decode');
    // 48 frames of ~1 MiB in flight at once exceed the 32 MiB ring, so the later ones take the
    // private-copy path while earlier ones still occupy the ring.
    const frames = Array.from({ length: 48 }, (_, k) => buildFrame(k + 1, 20, 1 << 20));
    const outcomes = await Promise.all(sendAll(pool, frames, 2));
    expect(fallback.mock.calls.length).toBeGreaterThan(0);
    expect(fallback.mock.calls.length).toBeLessThan(frames.length);
    outcomes.forEach((o, k) => expectDecodedAs(o, frames[k]!));
    // Every reply must have given its ring space back: 20 MiB more in flight fit again whole.
    fallback.mockClear();
    const more = Array.from({ length: 20 }, (_, k) => buildFrame(500 + k, 100, 1 << 20));
    (await Promise.all(sendAll(pool, more, 2))).forEach((o, k) => expectDecodedAs(o, more[k]!));
    expect(fallback).not.toHaveBeenCalled();
  });

  it('decodes inline (threads: 0) from a copy too', async () => {
    const pool = await startPool(0);
    const frames = Array.from({ length: 40 }, (_, k) => buildFrame(k + 1, 1500));
    const outcomes = await Promise.all(sendAll(pool, frames, 3));
    outcomes.forEach((o, k) => expectDecodedAs(o, frames[k]!));
  });

  it.each([0, 1])('keeps custom frame items intact after the caller buffer is trashed (threads: %i)', async (threads) => {
    // Decoded msgpack `bin` items can be views of the payload; the handler runs later, after
    // uWS has reused the frame's memory, so they must view a copy.
    const pool = await startPool(threads);
    const blobs = Array.from({ length: 30 }, (_, k) => new Uint8Array(3000).map((_, i) => (k * 31 + i) & 0xff));
    const frames = blobs.map((blob, k) => Uint8Array.from(packr.pack({ [WireField.seq]: k + 1, key_events: [{ id: k, blob }] })));
    const borrowed = new Uint8Array(Math.max(...frames.map((f) => f.length)));
    const pending = frames.map((f) => {
      borrowed.set(f);
      const p = pool.decodeCopy(0, borrowed.subarray(0, f.length), 'msgpack', true, 4);
      borrowed.fill(0xc1);
      return p;
    });
    const outcomes = await Promise.all(pending);
    outcomes.forEach((o, k) => {
      if (o.kind !== 'custom') throw new Error(`frame ${k}: expected custom, got ${o.kind}`);
      expect(o.handler).toBe('key_events');
      expect(o.seq).toBe(k + 1);
      const item = o.items[0] as { id: number; blob: Uint8Array };
      expect(item.id).toBe(k);
      expect(Array.from(item.blob)).toEqual(Array.from(blobs[k]!));
    });
  });
});
