/**
 * Version-2 write-ahead records (src/storage/write_ahead_log.ts, docs/format/wal_record.md):
 * one part per batch, its timestamps and values compressed by the decode worker that decoded
 * them. Checked: bit-exact round trips of mixed parts; damaged records end in a WalRecordError
 * naming the record (deterministic fuzz); the engine writes parts from a worker's blocks and
 * replays them after a crash; records of version 1 (older servers) still replay; and a decode
 * worker really sends the block with the columns.
 */
import fc from 'fast-check';
import Database from 'better-sqlite3';
import { Packr } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeWalRecord, encodeColumnsBlock, encodeWalRecord, encodeWalRecordParts, WalRecordError, WAL_RECORD_VERSION_PARTS, type WalColumns, type WalPart,
} from '../../src/storage/write_ahead_log.js';
import { walParts } from '../../src/storage/wal_parts.js';
import { notePreparedColumns } from '../../src/storage/wal_prepared_columns.js';
import type { IngestBatch } from '../../src/storage/ingest_batch.js';
import { TABLE } from '../../src/storage/sqlite/schema.js';
import { SeriesResolver } from '../../src/ingest/series_resolver.js';
import { buildRowBatch } from '../../src/ingest/batch_builder.js';
import { DecodePool } from '../../src/ingest/decode_pool.js';
import { WireField } from '../../src/ingest/wire.js';
import { RecordingSeriesTable } from './recording_series_table.js';
import { openSqliteStore, readStoredPoints } from './sqlite_store_kit.js';

const T0 = Date.UTC(2026, 2, 1);
const RECORD_ID = 77;

/** A batch of n points over `series` series ids from `firstId`, TSBS-like (ticks of 10 s, values with repeats). */
function batch(n: number, seed: number, firstId = 1, series = 10): IngestBatch {
  let s = seed;
  const next = (): number => (s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0);
  const seriesIds = Uint32Array.from({ length: n }, (_, i) => firstId + (i % series));
  const timestamps = Float64Array.from({ length: n }, (_, i) => T0 + Math.floor(i / series) * 10_000 + seed);
  const values = Float64Array.from({ length: n }, () => (next() % 5000) / 100);
  return { seriesIds, timestamps, values, length: n };
}

function concat(batches: IngestBatch[]): WalColumns {
  const n = batches.reduce((a, b) => a + b.length, 0);
  const out = { seriesIds: new Uint32Array(n), timestamps: new Float64Array(n), values: new Float64Array(n) };
  let o = 0;
  for (const b of batches) {
    out.seriesIds.set(b.seriesIds.subarray(0, b.length), o);
    out.timestamps.set(b.timestamps.subarray(0, b.length), o);
    out.values.set(b.values.subarray(0, b.length), o);
    o += b.length;
  }
  return out;
}

const bytesOf = (a: Float64Array | Uint32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

function expectSameColumns(got: WalColumns, want: WalColumns): void {
  expect(got.seriesIds.length).toBe(want.seriesIds.length);
  expect(bytesOf(got.seriesIds).equals(bytesOf(want.seriesIds))).toBe(true);
  expect(bytesOf(got.timestamps).equals(bytesOf(want.timestamps))).toBe(true);
  expect(bytesOf(got.values).equals(bytesOf(want.values))).toBe(true);
}

function partsOf(batches: IngestBatch[], compress: boolean[]): WalPart[] {
  return batches.map((b, i) => ({ seriesIds: b.seriesIds, columns: encodeColumnsBlock(b.timestamps, b.values, b.length, compress[i % compress.length]) }));
}

describe('version-2 records', () => {
  it('round-trip mixed parts (lz4 and raw, tiny and large) bit for bit', () => {
    const batches = [batch(10_000, 1), batch(5, 2), batch(0, 3), batch(40, 4, 900, 1), batch(3000, 5, 20, 300)];
    // Extremes the codec must carry unchanged: -0, subnormals, the largest finite values, fractional ms.
    batches[1]!.values.set([-0, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 1 / 3]);
    batches[1]!.timestamps[0] = T0 + 0.5;
    for (const compress of [[true], [false], [true, false]]) {
      const record = encodeWalRecordParts(partsOf(batches, compress), compress[0]);
      expect(record[0]).toBe(WAL_RECORD_VERSION_PARTS);
      expectSameColumns(decodeWalRecord(record, RECORD_ID), concat(batches));
    }
    // lz4 pays on the TSBS-like batch: the record is well under its 20 bytes a point.
    const big = encodeWalRecordParts(partsOf([batches[0]!], [true]));
    expect(big.length).toBeLessThan(10_000 * 20 * 0.6);
  });

  it('refuses a damaged record with a WalRecordError naming it and what is wrong', () => {
    const record = encodeWalRecordParts(partsOf([batch(100, 1), batch(50, 2)], [true, false]));
    const expectError = (bytes: Uint8Array, message: RegExp): void => {
      expect(() => decodeWalRecord(bytes, RECORD_ID)).toThrow(WalRecordError);
      expect(() => decodeWalRecord(bytes, RECORD_ID)).toThrow(message);
    };
    const copy = (): Buffer => Buffer.from(record);
    const huge = copy();
    huge.writeUInt32LE(0xffffffff, 6);
    expectError(huge, /^wal record 77: parts=4294967295 do not fit in \d+ bytes/);
    expectError(Buffer.concat([record, Buffer.of(0)]), /wal record 77: 1 bytes follow the last part/);
    const miscount = copy();
    miscount.writeUInt32LE(151, 2);
    expectError(miscount, /wal record 77: parts hold 150 points, the header says 151/);
    const lie = copy();
    lie.writeUInt32LE(1600 + 16, 10 + 13); // part 0's lz4 size prefix
    expectError(lie, /wal record 77: part 0: timestamps and values: lz4 size prefix 1616 disagrees with the 1600 bytes it must hold/);
    expectError(record.subarray(0, record.length - 1), /wal record 77: part 1: blocks of/);
    const flags = copy();
    flags[10] = 0x80;
    expectError(flags, /wal record 77: part 0: flags=128 has unknown bits/);
  });

  it('decodes damaged records (bits flipped, cut, extended) to a WalRecordError or to what the header says, never anything else', () => {
    const recordArb = fc
      .record({ sizes: fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 0, maxLength: 4 }), seed: fc.integer({ min: 1, max: 1e6 }), compress: fc.boolean() })
      .map(({ sizes, seed, compress }) => new Uint8Array(encodeWalRecordParts(partsOf(sizes.map((n, i) => batch(n, seed + i)), [compress, !compress]), compress)));
    const mutatedArb = fc
      .tuple(recordArb, fc.array(fc.nat(), { maxLength: 4 }), fc.option(fc.nat(), { nil: undefined }), fc.uint8Array({ maxLength: 8 }))
      .map(([record, flips, cut, extra]) => {
        let bytes = Uint8Array.from(record);
        for (const f of flips) if (bytes.length > 0) bytes[f % bytes.length]! ^= 1 << (f % 8);
        if (cut !== undefined) bytes = bytes.subarray(0, cut % (bytes.length + 1));
        if (extra.length > 0) bytes = Uint8Array.from([...bytes, ...extra]);
        return bytes;
      });
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(mutatedArb, (bytes) => {
        let key = 'ok';
        try {
          const columns = decodeWalRecord(bytes, RECORD_ID);
          const n = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).readUInt32LE(2);
          expect(columns.timestamps.length).toBe(n);
          expect(columns.values.length).toBe(n);
          expect(columns.seriesIds.length).toBe(n);
        } catch (e) {
          expect(e).toBeInstanceOf(WalRecordError);
          expect((e as WalRecordError).recordId).toBe(RECORD_ID);
          key = (e as Error).message.replace(/\b\d+\b/g, '#');
        }
        outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
      }),
      { seed: 20261207, numRuns: 1500 },
    );
    // The fuzz reached both ends: records that decode and records refused for their blocks.
    expect(outcomes.get('ok') ?? 0).toBeGreaterThan(0);
    expect([...outcomes.keys()].some((k) => k.includes('lz4'))).toBe(true);
  });
});

describe('the parts of a group commit', () => {
  it("use a worker's block as it is, and join the batches that came without one into one part", () => {
    const [a, b, c, d] = [batch(500, 1), batch(20, 2), batch(20, 3), batch(700, 4)];
    const aBlock = encodeColumnsBlock(a!.timestamps, a!.values, a!.length);
    const dBlock = encodeColumnsBlock(d!.timestamps, d!.values, d!.length);
    notePreparedColumns(a!.timestamps, aBlock);
    notePreparedColumns(d!.timestamps, dBlock);
    const parts = walParts([a!, b!, c!, d!], true);
    expect(parts.map((p) => p.columns.points)).toEqual([500, 40, 700]);
    expect(parts[0]!.columns).toBe(aBlock);
    expect(parts[2]!.columns).toBe(dBlock);
    expectSameColumns(decodeWalRecord(encodeWalRecordParts(parts), RECORD_ID), concat([a!, b!, c!, d!]));
    // A block is used once: the same timestamps submitted again are encoded here.
    expect(walParts([a!], true)[0]!.columns).not.toBe(aBlock);
  });

  it('leave out an lz4 block when records are stored uncompressed, and a block for other points', () => {
    const a = batch(500, 1);
    notePreparedColumns(a.timestamps, encodeColumnsBlock(a.timestamps, a.values, a.length));
    const [raw] = walParts([a], false);
    expect(raw!.columns.lz4).toBe(false);
    expect(raw!.columns.bytes.length).toBe(500 * 16);
    const b = batch(500, 2);
    // A block of another length than the batch's is never registered or used.
    notePreparedColumns(b.timestamps, encodeColumnsBlock(b.timestamps, b.values, 499));
    const [own] = walParts([b], true);
    expect(own!.columns.points).toBe(500);
    expectSameColumns(decodeWalRecord(encodeWalRecordParts([own!]), RECORD_ID), concat([b]));
  });
});

describe('the engine', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'emms-wal-parts-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("writes a worker's blocks into the record, replays them after a crash, and still replays version-1 records", async () => {
    const path = join(dir, 'parts.db');
    let store = await openSqliteStore({ path });
    const resolver = new SeriesResolver(store.catalog.tenant('default'));
    const rows = (t0: number, n: number, m: string) => Array.from({ length: n }, (_, i) => ({ metricId: m, timestamp: t0 + i * 1000, value: i * 0.5 + t0 / 1e9, tags: { h: 'x' } }));
    const first = buildRowBatch(rows(T0, 300, 'wal.a'), resolver, T0);
    const second = buildRowBatch(rows(T0 + 1e6, 50, 'wal.b'), resolver, T0);
    const firstBlock = encodeColumnsBlock(first.timestamps, first.values, first.length);
    notePreparedColumns(first.timestamps, firstBlock);
    await Promise.all([store.commit([first, second])]);
    const [idA, idB] = [first.seriesIds[0]!, second.seriesIds[0]!];
    await store.abandon();

    const db = new Database(path);
    const records = db.prepare(`SELECT id, data FROM ${TABLE.walRecords} ORDER BY id`).all() as Array<{ id: number; data: Buffer }>;
    expect(records).toHaveLength(1);
    const data = records[0]!.data;
    expect(data[0]).toBe(WAL_RECORD_VERSION_PARTS);
    expect(data.readUInt32LE(6)).toBe(2);
    expect(data.indexOf(Buffer.from(firstBlock.bytes))).toBe(10 + 13);
    // A record an older server left: version 1, after the version-2 one.
    const v1 = batch(30, 9, idB, 1);
    db.prepare(`INSERT INTO ${TABLE.walRecords} (id, created_ms, points, data) VALUES (?, ?, ?, ?)`)
      .run(records[0]!.id + 1, Date.now(), v1.length, encodeWalRecord(v1.seriesIds, v1.timestamps, v1.values, v1.length));
    db.close();

    store = await openSqliteStore({ path });
    expect(store.stats().headPoints).toBe(300 + 50 + 30);
    const a = await readStoredPoints(store, idA);
    expect([...a.timestamps]).toEqual([...first.timestamps]);
    expect([...a.values]).toEqual([...first.values]);
    const b = await readStoredPoints(store, idB);
    expect(b.timestamps.length).toBe(80);
    expect([...b.timestamps]).toEqual([...second.timestamps, ...v1.timestamps].sort((x, y) => x - y));
    await store.close();
  });
});


describe('a decode worker', () => {
  let pool: DecodePool | undefined;
  afterEach(async () => {
    await pool?.close();
  });

  it('sends the write-ahead block of the timestamps and values it decoded', async () => {
    pool = new DecodePool({ threads: 1, maxPointsPerBatch: 100_000, customFrameNames: [], createSeriesTable: () => new RecordingSeriesTable() });
    await pool.start();
    const metrics = Array.from({ length: 2000 }, (_, i) => ({ [WireField.metricId]: `w.m${i % 10}`, [WireField.value]: (i % 97) * 0.25, [WireField.timestamp]: T0 + Math.floor(i / 10) * 10_000 }));
    const frame = new Packr({ useRecords: false }).pack({ [WireField.seq]: 1, [WireField.metrics]: metrics });
    const outcome = await pool.decodeCopy(0, frame, 'msgpack', true, 'default', 1);
    if (outcome.kind !== 'series') throw new Error(`expected points, got ${outcome.kind}`);
    const block = outcome.walColumns!;
    expect(block.points).toBe(2000);
    expect(block.lz4).toBe(true);
    const decoded = decodeWalRecord(encodeWalRecordParts([{ seriesIds: new Uint32Array(2000), columns: block }]), RECORD_ID);
    expect([...decoded.timestamps]).toEqual([...outcome.timestamps]);
    expect([...decoded.values]).toEqual([...outcome.values]);
  });
});
