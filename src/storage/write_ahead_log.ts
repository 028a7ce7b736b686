/**
 * Write-ahead records: the durable form of an acknowledged batch until its points are in
 * chunks. A record is one row of the `wal_records` table (a key in Redis), written in the same
 * back-end transaction that acknowledges the batch; records are replayed into heads at start and deleted once every
 * head has been cut into chunks (see docs/format/wal_record.md).
 *
 * Layout (little-endian):
 *
 *   +---------+---------+-------------+----------------+---------------------------------+
 *   | version | flags   | points n    | payload bytes  | payload (lz4 block if flags&1)  |
 *   | u8 = 1  | u8      | u32         | u32 (raw size) |                                 |
 *   +---------+---------+-------------+----------------+---------------------------------+
 *   payload = timestamps f64[n] | values f64[n] | series ids u32[n]
 *
 * Columnar so that one record per batch costs one blob and lz4 finds the repeats (a TSBS
 * batch of 10k points shrinks 200 KB → ~50 KB: timestamps repeat per tick, ids per host, and
 * the high bytes of values repeat).
 */
import { compressSync, uncompressSync } from 'lz4-napi';

export const WAL_RECORD_VERSION = 1;
const FLAG_LZ4 = 1;
const HEADER_BYTES = 10;
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
 * Encodes the first `n` entries of the columns (into a new buffer, which the caller owns).
 * `compress: false` (`storage.compression: none`) skips lz4: records are then ~4x larger
 * (the TSBS figure above) and cost no native compression call on the writer thread, for hosts
 * short of CPU rather than of disk.
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
  if (version !== WAL_RECORD_VERSION) {
    throw new WalRecordError(`wal record ${recordId}: version=${version} is not supported (expected ${WAL_RECORD_VERSION})`, recordId);
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
