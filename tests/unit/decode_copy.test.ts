/**
 * DecodePool#decodeCopy checked end to end: the caller's memory is trashed as soon as
 * decodeCopy returns, exactly as uWebSockets.js reuses a frame's memory after its callback,
 * and every outcome must still hold the points (or custom items) that were sent.
 */
import { Packr } from 'msgpackr';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordingSeriesTable } from './recording_series_table.js';
import { DecodePool, type DecodeOutcome } from '../../src/ingest/decode_pool.js';
import { WireField } from '../../src/ingest/wire.js';


const packr = new Packr({ useRecords: false });
const T0 = Date.UTC(2026, 0, 1);
const METRIC_IDS = ['copy.a', 'copy.b', 'copy.c', 'copy.d'];

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
    pending.push(pool.decodeCopy(0, borrowed.subarray(0, f.bytes.length), 'msgpack', true, 'default', stream));
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

  it('decodes 200 concurrent ~50 KB frames exactly in a worker, with the caller buffer trashed after each call', async () => {
    const pool = await startPool(1);
    const frames = Array.from({ length: 200 }, (_, k) => buildFrame(k + 1, 1000));
    expect(frames[0]!.bytes.length).toBeGreaterThan(45_000);
    const outcomes = await Promise.all(sendAll(pool, frames, 1));
    outcomes.forEach((o, k) => expectDecodedAs(o, frames[k]!));
  });

  it('reuses the frame buffers the worker hands back: waves of frames, refusals and custom frames in between, all exact', async () => {
    const pool = await startPool(1);
    const blob = new Uint8Array(2000).map((_, i) => (i * 7) & 0xff);
    const customs: Array<Promise<DecodeOutcome>> = [];
    for (let wave = 0; wave < 12; wave++) {
      // Awaiting each wave lets the buffers come back, so later waves decode from reused ones.
      const frames = Array.from({ length: 6 }, (_, k) => buildFrame(wave * 100 + k + 1, 300 + wave * 50));
      const pending = sendAll(pool, frames, 5);
      const refused = pool.decodeCopy(0, Uint8Array.from(packr.pack({ [WireField.seq]: 9000 + wave, [WireField.metrics]: [{ [WireField.metricId]: 'copy.a', [WireField.value]: 'not a number' }] })), 'msgpack', true, 'default', 5);
      customs.push(pool.decodeCopy(0, Uint8Array.from(packr.pack({ [WireField.seq]: 8000 + wave, key_events: [{ id: wave, blob }] })), 'msgpack', true, 'default', 5));
      const outcomes = await Promise.all(pending);
      outcomes.forEach((o, k) => expectDecodedAs(o, frames[k]!));
      const r = await refused;
      expect(r.kind).toBe('refused');
      expect(r.seq).toBe(9000 + wave);
    }
    // Custom items may be views into their frame, whose buffer stays with them: intact at the end.
    for (const [wave, c] of (await Promise.all(customs)).entries()) {
      if (c.kind !== 'custom') throw new Error(`custom frame ${wave}: got ${c.kind}`);
      const item = c.items[0] as { id: number; blob: Uint8Array };
      expect(item.id).toBe(wave);
      expect(Array.from(item.blob)).toEqual(Array.from(blob));
    }
  });

  it('decodes exactly into column buffers given back after each wave, of the same and of other sizes', async () => {
    // giveBackColumns hands the worker buffers still holding an earlier frame's columns; a
    // column written into them must hold only its own frame's points (each frame's values and
    // timestamps are unique, so a stale entry shows). They leave with the next request.
    const pool = await startPool(1);
    const sizes = [1000, 1000, 1000, 400, 1000, 400, 1000];
    let givenBack: Array<Extract<DecodeOutcome, { kind: 'series' }>> = [];
    for (const [wave, points] of sizes.entries()) {
      const frames = Array.from({ length: 4 }, (_, k) => buildFrame(wave * 10 + k + 1, points));
      const pending = sendAll(pool, frames, 6);
      // The first request of this wave carried the previous wave's columns to the worker.
      for (const o of givenBack) {
        expect(o.seriesOf.buffer.byteLength).toBe(0);
        expect(o.timestamps.buffer.byteLength).toBe(0);
        expect(o.values.buffer.byteLength).toBe(0);
      }
      const outcomes = await Promise.all(pending);
      outcomes.forEach((o, k) => expectDecodedAs(o, frames[k]!));
      givenBack = outcomes.filter((o): o is Extract<DecodeOutcome, { kind: 'series' }> => o.kind === 'series');
      for (const o of givenBack) pool.giveBackColumns(0, o);
    }
  });

  it('gives back nothing to an inline pool (threads: 0), whose columns stay the caller\'s', async () => {
    const pool = await startPool(0);
    const frames = [buildFrame(1, 500)];
    const [outcome] = await Promise.all(sendAll(pool, frames, 7));
    if (outcome!.kind !== 'series') throw new Error('expected series');
    pool.giveBackColumns(0, outcome!);
    await Promise.all(sendAll(pool, [buildFrame(2, 500)], 7));
    expect(outcome!.values.length).toBe(500);
    expectDecodedAs(outcome!, frames[0]!);
  });

  it('decodes big frames (~1 MiB each, 48 in flight) exactly and in order', async () => {
    const pool = await startPool(1);
    const frames = Array.from({ length: 48 }, (_, k) => buildFrame(k + 1, 20, 1 << 20));
    const outcomes = await Promise.all(sendAll(pool, frames, 2));
    outcomes.forEach((o, k) => expectDecodedAs(o, frames[k]!));
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
      const p = pool.decodeCopy(0, borrowed.subarray(0, f.length), 'msgpack', true, 'default', 4);
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
