/**
 * Write-ahead records: the durable form of an acknowledged batch until its points are in
 * chunks. A record is one row of the `wal_records` table (a key in Redis), written in the same
 * back-end transaction that acknowledges the batch; records are replayed into heads at start
 * and deleted once every head has been cut into chunks (docs/format/wal_record.md has both
 * versions' layouts).
 *
 * Version 2 (written since 2026-12-07): a header and one part per batch of the group commit (or
 * per run of batches that came without encoded columns), each part two blocks, lz4 or raw:
 * its timestamps and values (f64[n] | f64[n]), then its series ids (u32[n]). The timestamps and
 * values block is what a decode worker makes next to the columns it decoded
 * (`encodeColumnsBlock`), so the compression of 16 of the 20 bytes a point costs in a record
 * runs off the server's main thread; only the series ids, known once the main thread resolved
 * them, are compressed there (4 bytes a point, and they repeat: ~20x).
 *
 * Version 1 (written before): one payload of timestamps | values | series ids, lz4 or raw. Still
 * read, so records left by an older server replay; `encodeWalRecord` still writes it, for tests
 * of that and for the back-end benches.
 *
 * Columnar so that lz4 finds the repeats (a TSBS batch of 10k points shrinks 200 KB → ~50 KB:
 * timestamps repeat per tick, ids per host, and the high bytes of values repeat).
 */
import { compressSync, uncompressSync } from 'lz4-napi';

export const WAL_RECORD_VERSION = 1;
export const WAL_RECORD_VERSION_PARTS = 2;
const FLAG_LZ4 = 1;
const HEADER_BYTES = 10;
/** A version-2 part's header: flags u8, points u32, columns block bytes u32, ids block bytes u32. */
const PART_HEADER_BYTES = 13;
const PART_COLUMNS_LZ4 = 1;
const PART_IDS_LZ4 = 2;
/** lz4 cannot expand a block more than this many times (a damaged size prefix is caught with it). */
const LZ4_MAX_RATIO = 255;
/** Below this many points compression saves a few bytes at the price of a native call. */
const MIN_POINTS_TO_COMPRESS = 32;

export interface WalColumns {
  seriesIds: Uint32Array;
  timestamps: Float64Array;
  values: Float64Array;
}

export class WalRecordError extends Error {
  constructor(message: string, readonly recordId: number) {
    super(message);
    this.name = 'WalRecordError';
  }
}

/**
 * Largest uncompressed payload whose buffer is kept for the next record. Each commit allocated
 * a fresh one (20 bytes per point), and that churn of external memory made V8 collect garbage
 * inside commits, stalling acknowledgements (seen: 35 ms in one allocation).
 */
const SCRATCH_KEEP_BYTES = 8 * 1024 * 1024;
let scratch = Buffer.allocUnsafeSlow(0);

function rawPayloadBuffer(bytes: number): Buffer {
  if (bytes > SCRATCH_KEEP_BYTES) return Buffer.allocUnsafeSlow(bytes);
  if (scratch.length < bytes) scratch = Buffer.allocUnsafeSlow(Math.min(SCRATCH_KEEP_BYTES, Math.max(bytes, scratch.length * 2, 64 * 1024)));
  return scratch.subarray(0, bytes);
}

/**
 * Encodes the first `n` entries of the columns as a version-1 record (into a new buffer, which
 * the caller owns): the engine writes version 2 (encodeWalRecordParts); this stays for tests
 * that older servers' records replay, and for the back-end benches. `compress: false` skips lz4:
 * records are then ~4x larger (the TSBS figure above).
 */
export function encodeWalRecord(seriesIds: Uint32Array, timestamps: Float64Array, values: Float64Array, n: number, compress = true): Buffer {
  const raw = rawPayloadBuffer(n * 20);
  // Buffer.allocUnsafe may hand out a pooled slice at an unaligned offset; copy through bytes.
  raw.set(new Uint8Array(timestamps.buffer, timestamps.byteOffset, n * 8), 0);
  raw.set(new Uint8Array(values.buffer, values.byteOffset, n * 8), n * 8);
  raw.set(new Uint8Array(seriesIds.buffer, seriesIds.byteOffset, n * 4), n * 16);
  let payload: Buffer = raw;
  let flags = 0;
  if (compress && n >= MIN_POINTS_TO_COMPRESS) {
    const compressed = compressSync(raw);
    if (compressed.length < raw.length * 0.9) {
      payload = compressed;
      flags |= FLAG_LZ4;
    }
  }
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  out.writeUInt8(WAL_RECORD_VERSION, 0);
  out.writeUInt8(flags, 1);
  out.writeUInt32LE(n, 2);
  out.writeUInt32LE(raw.length, 6);
  payload.copy(out, HEADER_BYTES);
  return out;
}

export function decodeWalRecord(bytes: Uint8Array, recordId: number): WalColumns {
  if (bytes.length < HEADER_BYTES) {
    throw new WalRecordError(`wal record ${recordId}: ${bytes.length} bytes is shorter than its ${HEADER_BYTES}-byte header`, recordId);
  }
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  const version = buf.readUInt8(0);
  if (version === WAL_RECORD_VERSION_PARTS) return decodeParts(buf, recordId);
  if (version !== WAL_RECORD_VERSION) {
    throw new WalRecordError(`wal record ${recordId}: version=${version} is not supported (expected ${WAL_RECORD_VERSION} or ${WAL_RECORD_VERSION_PARTS})`, recordId);
  }
  const flags = buf.readUInt8(1);
  const n = buf.readUInt32LE(2);
  const rawBytes = buf.readUInt32LE(6);
  if (rawBytes !== n * 20) {
    throw new WalRecordError(`wal record ${recordId}: payload of ${rawBytes} bytes does not hold ${n} points`, recordId);
  }
  const payload = buf.subarray(HEADER_BYTES);
  // lz4-napi's block starts with the uncompressed size, and uncompressSync allocates whatever
  // it says before reading a byte: a damaged record claiming 2 GiB took 9 s and the memory.
  // It must agree with the header (already checked against the point count); lz4 also cannot
  // expand a block more than 255 times.
  if ((flags & FLAG_LZ4) !== 0 && (payload.length < 4 || payload.readUInt32LE(0) !== rawBytes || (payload.length - 4) * 255 < rawBytes)) {
    throw new WalRecordError(`wal record ${recordId}: lz4 size prefix ${payload.length < 4 ? '(missing)' : payload.readUInt32LE(0)} disagrees with the header's ${rawBytes} bytes`, recordId);
  }
  let raw: Uint8Array;
  try {
    raw = (flags & FLAG_LZ4) !== 0 ? uncompressSync(payload) : payload;
  } catch (cause) {
    throw new WalRecordError(`wal record ${recordId}: lz4 payload does not decompress`, recordId);
  }
  if (raw.length !== rawBytes) {
    throw new WalRecordError(`wal record ${recordId}: payload is ${raw.length} bytes, header says ${rawBytes}`, recordId);
  }
  // Copy into an aligned buffer: typed array views need 8-byte alignment.
  const aligned = new Uint8Array(rawBytes);
  aligned.set(raw);
  return {
    timestamps: new Float64Array(aligned.buffer, 0, n),
    values: new Float64Array(aligned.buffer, n * 8, n),
    seriesIds: new Uint32Array(aligned.buffer, n * 16, n),
  };
}

/** One batch's timestamps and values as a version-2 part stores them (an lz4 block or raw bytes). */
export interface EncodedColumns {
  points: number;
  lz4: boolean;
  /** lz4 block of timestamps f64[points] | values f64[points] when `lz4`, else those 16·points bytes. */
  bytes: Uint8Array;
}

/**
 * The timestamps-and-values block of a version-2 part for the first `n` points, in a buffer of
 * its own (a decode worker transfers it to the main thread with the columns). `compress:
 * false` stores the bytes raw, as `storage.compression: none` wants.
 */
export function encodeColumnsBlock(timestamps: Float64Array, values: Float64Array, n: number, compress = true): EncodedColumns {
  const raw = rawPayloadBuffer(n * 16);
  raw.set(new Uint8Array(timestamps.buffer, timestamps.byteOffset, n * 8), 0);
  raw.set(new Uint8Array(values.buffer, values.byteOffset, n * 8), n * 8);
  const block = compressIfWorth(raw, n, compress);
  // Own bytes, exactly: `raw` is the reused scratch, and lz4-napi's buffer cannot be transferred.
  return { points: n, lz4: block.lz4, bytes: new Uint8Array(block.bytes) };
}

/** `raw` lz4-compressed when compression is on, the block is not tiny and lz4 saves ≥ 10 %; else `raw`. */
function compressIfWorth(raw: Buffer, n: number, compress: boolean): { bytes: Buffer; lz4: boolean } {
  if (!compress || n < MIN_POINTS_TO_COMPRESS) return { bytes: raw, lz4: false };
  const compressed = compressSync(raw);
  return compressed.length < raw.length * 0.9 ? { bytes: compressed, lz4: true } : { bytes: raw, lz4: false };
}

/** One part of a version-2 record: a batch's series ids and its encoded timestamps and values. */
export interface WalPart {
  seriesIds: Uint32Array;
  columns: EncodedColumns;
}

/**
 * Encodes a version-2 record of `parts`, in order (a group commit's batches in arrival order).
 * Each part's first `columns.points` series ids are compressed here (`compress`) and copied in
 * with its columns block. The buffer is new; the caller owns it.
 */
export function encodeWalRecordParts(parts: readonly WalPart[], compress = true): Buffer {
  let total = 0;
  let bytes = HEADER_BYTES;
  const idBlocks: Array<{ bytes: Buffer; lz4: boolean }> = [];
  for (const { seriesIds, columns } of parts) {
    const n = columns.points;
    if (seriesIds.length < n) throw new RangeError(`write-ahead part: ${seriesIds.length} series ids for ${n} points`);
    // A view, not a copy: compressSync and the copy below only read it.
    const ids = compressIfWorth(Buffer.from(seriesIds.buffer, seriesIds.byteOffset, n * 4), n, compress);
    idBlocks.push(ids);
    total += n;
    bytes += PART_HEADER_BYTES + columns.bytes.length + ids.bytes.length;
  }
  const out = Buffer.allocUnsafe(bytes);
  out.writeUInt8(WAL_RECORD_VERSION_PARTS, 0);
  out.writeUInt8(0, 1);
  out.writeUInt32LE(total, 2);
  out.writeUInt32LE(parts.length, 6);
  let o = HEADER_BYTES;
  for (let p = 0; p < parts.length; p++) {
    const { columns } = parts[p]!;
    const ids = idBlocks[p]!;
    const n = columns.points;
    out.writeUInt8((columns.lz4 ? PART_COLUMNS_LZ4 : 0) | (ids.lz4 ? PART_IDS_LZ4 : 0), o);
    out.writeUInt32LE(n, o + 1);
    out.writeUInt32LE(columns.bytes.length, o + 5);
    out.writeUInt32LE(ids.bytes.length, o + 9);
    o += PART_HEADER_BYTES;
    out.set(columns.bytes, o);
    o += columns.bytes.length;
    ids.bytes.copy(out, o);
    o += ids.bytes.length;
  }
  return out;
}

/** A version-2 part's place in its record, checked against the record's length before anything is allocated. */
interface PartSpan {
  points: number;
  columnsAt: number;
  columnsBytes: number;
  columnsLz4: boolean;
  idsAt: number;
  idsBytes: number;
  idsLz4: boolean;
}

/** Decodes a version-2 record (see the file comment); every check names the record and the part. */
function decodeParts(buf: Buffer, recordId: number): WalColumns {
  const fail = (message: string): never => {
    throw new WalRecordError(`wal record ${recordId}: ${message}`, recordId);
  };
  const n = buf.readUInt32LE(2);
  const partCount = buf.readUInt32LE(6);
  if (partCount > (buf.length - HEADER_BYTES) / PART_HEADER_BYTES) fail(`parts=${partCount} do not fit in ${buf.length} bytes`);
  const spans: PartSpan[] = [];
  let o = HEADER_BYTES;
  let points = 0;
  for (let p = 0; p < partCount; p++) {
    if (o + PART_HEADER_BYTES > buf.length) fail(`part ${p}: header at byte ${o} runs past the record's ${buf.length} bytes`);
    const flags = buf.readUInt8(o);
    const span: PartSpan = {
      points: buf.readUInt32LE(o + 1),
      columnsBytes: buf.readUInt32LE(o + 5),
      idsBytes: buf.readUInt32LE(o + 9),
      columnsLz4: (flags & PART_COLUMNS_LZ4) !== 0,
      idsLz4: (flags & PART_IDS_LZ4) !== 0,
      columnsAt: 0,
      idsAt: 0,
    };
    if ((flags & ~(PART_COLUMNS_LZ4 | PART_IDS_LZ4)) !== 0) fail(`part ${p}: flags=${flags} has unknown bits`);
    span.columnsAt = o + PART_HEADER_BYTES;
    span.idsAt = span.columnsAt + span.columnsBytes;
    o = span.idsAt + span.idsBytes;
    if (o > buf.length) fail(`part ${p}: blocks of ${span.columnsBytes} + ${span.idsBytes} bytes run past the record's ${buf.length} bytes`);
    checkBlock(buf, span.columnsAt, span.columnsBytes, span.columnsLz4, span.points * 16, `part ${p}: timestamps and values`, fail);
    checkBlock(buf, span.idsAt, span.idsBytes, span.idsLz4, span.points * 4, `part ${p}: series ids`, fail);
    points += span.points;
    spans.push(span);
  }
  if (o !== buf.length) fail(`${buf.length - o} bytes follow the last part`);
  if (points !== n) fail(`parts hold ${points} points, the header says ${n}`);
  // One aligned buffer, laid out as version 1's payload: typed array views need 8-byte alignment.
  const aligned = new Uint8Array(n * 20);
  let at = 0;
  for (let p = 0; p < spans.length; p++) {
    const s = spans[p]!;
    const columns = blockBytes(buf, s.columnsAt, s.columnsBytes, s.columnsLz4, s.points * 16, `part ${p}: timestamps and values`, fail);
    const ids = blockBytes(buf, s.idsAt, s.idsBytes, s.idsLz4, s.points * 4, `part ${p}: series ids`, fail);
    aligned.set(columns.subarray(0, s.points * 8), at * 8);
    aligned.set(columns.subarray(s.points * 8), n * 8 + at * 8);
    aligned.set(ids, n * 16 + at * 4);
    at += s.points;
  }
  return {
    timestamps: new Float64Array(aligned.buffer, 0, n),
    values: new Float64Array(aligned.buffer, n * 8, n),
    seriesIds: new Uint32Array(aligned.buffer, n * 16, n),
  };
}

/**
 * A block's stored size agrees with the raw size it must have: raw blocks exactly, lz4 blocks
 * through their size prefix (lz4-napi allocates whatever the prefix says before reading a
 * byte) and the most lz4 can expand.
 */
function checkBlock(buf: Buffer, at: number, bytes: number, lz4: boolean, rawBytes: number, what: string, fail: (message: string) => never): void {
  if (!lz4) {
    if (bytes !== rawBytes) fail(`${what}: ${bytes} raw bytes, expected ${rawBytes}`);
    return;
  }
  const prefix = bytes < 4 ? undefined : buf.readUInt32LE(at);
  if (prefix !== rawBytes || (bytes - 4) * LZ4_MAX_RATIO < rawBytes) {
    fail(`${what}: lz4 size prefix ${prefix ?? '(missing)'} disagrees with the ${rawBytes} bytes it must hold`);
  }
}

/** A checked block's raw bytes (decompressed when lz4). */
function blockBytes(buf: Buffer, at: number, bytes: number, lz4: boolean, rawBytes: number, what: string, fail: (message: string) => never): Uint8Array {
  const stored = buf.subarray(at, at + bytes);
  if (!lz4) return stored;
  let raw: Uint8Array | undefined;
  try {
    raw = uncompressSync(stored);
  } catch {
    fail(`${what}: lz4 block does not decompress`);
  }
  if (raw!.length !== rawBytes) fail(`${what}: lz4 block is ${raw!.length} bytes, expected ${rawBytes}`);
  return raw!;
}
