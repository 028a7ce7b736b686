// The write-ahead record decoder (src/storage/write_ahead_log.ts, docs/format/wal_record.md) on
// hostile bytes: arbitrary bytes, records with a valid header and random payload, and valid
// records (raw and lz4) with bits flipped, truncated or extended. Every input must end in a
// WalRecordError naming the record, or in columns that are exactly what the bytes say; never in
// another exception, a hang or a crash. Deterministic seeds; a few seconds in all.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeWalRecord, encodeWalRecord, WalRecordError, type WalColumns } from '../../src/storage/write_ahead_log.js';

const HEADER_BYTES = 10;
const FLAG_LZ4 = 1;
const RECORD_ID = 4242;
/** lz4-napi's payload starts with the uncompressed size (u32 LE) it allocates before decoding. */


type Outcome = { ok: true; columns: WalColumns } | { ok: false; error: WalRecordError };

function decode(bytes: Uint8Array): Outcome {
  try {
    return { ok: true, columns: decodeWalRecord(bytes, RECORD_ID) };
  } catch (e) {
    // Anything but a WalRecordError (a RangeError from a typed array view, a TypeError) fails here.
    expect(e).toBeInstanceOf(WalRecordError);
    const error = e as WalRecordError;
    expect(error.recordId).toBe(RECORD_ID);
    expect(error.message).toMatch(new RegExp(`^wal record ${RECORD_ID}: `));
    return { ok: false, error };
  }
}

function bytesOf(a: Float64Array | Uint32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A decoded record is what its header says, and re-encodes (raw) to the bytes it came from. */
function expectFaithful(bytes: Uint8Array, { timestamps, values, seriesIds }: WalColumns): void {
  const header = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const n = header.readUInt32LE(2);
  expect(timestamps.length).toBe(n);
  expect(values.length).toBe(n);
  expect(seriesIds.length).toBe(n);
  // Version 2 (parts) has its own tests (wal_record_parts.test.ts): here only its point count.
  if (header[0] === 1) expect(header.readUInt32LE(6)).toBe(n * 20);
  const raw = encodeWalRecord(seriesIds, timestamps, values, n, false);
  if (header[0] === 1 && (header[1]! & FLAG_LZ4) === 0) {
    expect(raw.subarray(HEADER_BYTES).equals(header.subarray(HEADER_BYTES))).toBe(true);
  }
  const again = decodeWalRecord(raw, RECORD_ID);
  expect(bytesOf(again.timestamps).equals(bytesOf(timestamps))).toBe(true);
  expect(bytesOf(again.values).equals(bytesOf(values))).toBe(true);
  expect(bytesOf(again.seriesIds).equals(bytesOf(seriesIds))).toBe(true);
}

function check(bytes: Uint8Array, tally: Map<string, number>): void {
  const outcome = decode(bytes);
  if (outcome.ok) expectFaithful(bytes, outcome.columns);
  // Tally by the message's shape, numbers left out: which checks the inputs reached.
  const key = outcome.ok ? 'ok' : outcome.error.message.replace(/^wal record \d+: /, '').replace(/\b\d+\b/g, '#');
  tally.set(key, (tally.get(key) ?? 0) + 1);
}

/** A valid record of n random points, raw or lz4 (long, repetitive columns compress). */
const recordArb = fc
  .record({
    n: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 32, max: 400 })),
    seed: fc.integer({ min: 1, max: 1_000_000 }),
    compress: fc.boolean(),
  })
  .map(({ n, seed, compress }) => {
    let s = seed;
    const next = (): number => (s = (Math.imul(s, 1_103_515_245) + 12_345) >>> 0);
    const seriesIds = Uint32Array.from({ length: n }, () => next() % 8);
    const timestamps = Float64Array.from({ length: n }, (_, i) => 1_767_225_600_000 + Math.floor(i / 8) * 10_000);
    const values = Float64Array.from({ length: n }, () => (next() % 2000) / 100);
    return new Uint8Array(encodeWalRecord(seriesIds, timestamps, values, n, compress));
  });

/** A valid record with bits flipped, cut short, or followed by extra bytes. */
const mutatedArb = fc
  .tuple(recordArb, fc.array(fc.nat(), { maxLength: 4 }), fc.option(fc.nat(), { nil: undefined }), fc.uint8Array({ maxLength: 8 }))
  .map(([record, flips, cut, extra]) => {
    let bytes = record.slice();
    for (const f of flips) if (bytes.length > 0) bytes[(f >>> 3) % bytes.length]! ^= 1 << (f & 7);
    if (cut !== undefined) bytes = bytes.subarray(0, cut % (bytes.length + 1));
    else if (extra.length > 0 && flips.length === 0) bytes = Uint8Array.from([...bytes, ...extra]);
    return bytes;
  });

/** Version 1 and n · 20 = raw size, then any flags and any payload: past the header checks. */
const validHeaderArb = fc
  .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 50 }), fc.uint8Array({ maxLength: 1200 }), fc.boolean())
  .map(([flags, n, payload, truePrefix]) => {
    const out = Buffer.alloc(HEADER_BYTES + payload.length);
    out[0] = 1;
    out[1] = flags;
    out.writeUInt32LE(n, 2);
    out.writeUInt32LE(n * 20, 6);
    out.set(payload, HEADER_BYTES);
    // Half the payloads carry the lz4 size prefix the header implies, so lz4 itself is reached.
    if (truePrefix && payload.length >= 4) out.writeUInt32LE(n * 20, HEADER_BYTES);
    return new Uint8Array(out);
  });

describe('write-ahead record decoder on hostile bytes', () => {
  it('arbitrary bytes end in WalRecordError or in the columns the bytes hold', () => {
    const tally = new Map<string, number>();
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => check(bytes, tally)), { numRuns: 1000, seed: 31 });
    // Seed 31: 906 too short for the header, 94 of an unknown version.
    expect(tally.get('# bytes is shorter than its #-byte header') ?? 0).toBeGreaterThan(100);
    expect(tally.get('version=# is not supported (expected # or #)') ?? 0).toBeGreaterThan(50);
  });

  it('records with a valid header and a random payload reach the lz4 and size checks', () => {
    const tally = new Map<string, number>();
    fc.assert(fc.property(validHeaderArb, (bytes) => check(bytes, tally)), { numRuns: 1000, seed: 32 });
    expect(tally.get('lz4 payload does not decompress') ?? 0).toBeGreaterThan(50);
    expect(tally.get("lz4 size prefix # disagrees with the header's # bytes") ?? 0).toBeGreaterThan(50);
    expect(tally.get('payload is # bytes, header says #') ?? 0).toBeGreaterThan(50);
    expect(tally.get('ok') ?? 0).toBeGreaterThan(0);
  });

  it('valid records with bits flipped, cut or extended end in WalRecordError or their columns', () => {
    const tally = new Map<string, number>();
    fc.assert(fc.property(mutatedArb, (bytes) => check(bytes, tally)), { numRuns: 1500, seed: 33 });
    // Every check is reached, and a flip in a number's bytes still decodes (no checksum here:
    // SQLite's page checksums are what guards the bytes at rest).
    for (const key of ['ok', 'version=# is not supported (expected # or #)', 'payload of # bytes does not hold # points',
      'lz4 payload does not decompress', 'payload is # bytes, header says #']) {
      expect(tally.get(key) ?? 0, key).toBeGreaterThan(0);
    }
  });

  it('valid records decode to exactly what was encoded, raw and lz4', () => {
    fc.assert(
      fc.property(recordArb, (bytes) => {
        const outcome = decode(bytes);
        expect(outcome.ok).toBe(true);
        if (outcome.ok) expectFaithful(bytes, outcome.columns);
      }),
      { numRuns: 200, seed: 34 },
    );
  });

  // lz4-napi allocates what the prefix says before reading: a 2 GiB prefix cost 9 s and the
  // memory before decodeWalRecord checked it against the header first.
  it('refuses an lz4 payload whose size prefix disagrees with the header, without decompressing it', () => {
    const n = 1000;
    const record = encodeWalRecord(
      Uint32Array.from({ length: n }, (_, i) => i % 7),
      Float64Array.from({ length: n }, (_, i) => 1_767_225_600_000 + i * 1000),
      Float64Array.from({ length: n }, (_, i) => i % 13),
      n,
    );
    expect(record[1]! & FLAG_LZ4).toBe(FLAG_LZ4);
    // One more byte than the header's raw size: cheap to try, and still a forged prefix.
    record.writeUInt32LE(n * 20 + 1, HEADER_BYTES);
    expect(() => decodeWalRecord(record, RECORD_ID)).toThrow(/lz4 size prefix 20001 disagrees with the header's 20000 bytes/);
    record.writeUInt32LE(2 ** 31, HEADER_BYTES);
    expect(() => decodeWalRecord(record, RECORD_ID)).toThrow(WalRecordError);
  });
});
