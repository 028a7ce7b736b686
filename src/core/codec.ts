/**
 * Chunk codec: one series' points (float64 epoch-ms timestamps, float64 values) to and from a
 * self-describing byte string, encoded and decoded in WebAssembly (assembly/chunk.ts).
 *
 * Lossless for every float64 bit pattern. Byte layout: docs/format/chunk.md. A plain TypeScript
 * implementation of the same format, producing identical bytes, is src/core/reference/chunk.ts
 * (tests and benchmarks only: nothing here loads it). The header parser is here, in TypeScript,
 * because {@link chunkPointCount} must not touch the WASM heap; the reference reuses it.
 *
 * @example
 * const bytes = encodeChunk(timestamps, values);
 * const { timestamps: t, values: v } = decodeChunk(bytes);   // bit-identical copies
 *
 * Every call here copies its inputs into the instance's heap and `reset()`s the heap when done,
 * which invalidates pointers from an earlier {@link decodeChunkIntoWasm} on the same thread.
 */
import { lowerBound } from './sorted_search.js';
import { wasmInstance, type ScratchExports, type WasmInstance } from './wasm_instance.js';
import {
  CHUNK_FORMAT_VERSION,
  CODEC_CHUNK_MAX_POINTS,
  ChunkDecodeError,
  codecStatusName,
  E_CODEC,
  E_CORRUPT,
  E_POINT_COUNT,
  E_TRUNCATED,
  E_VERSION,
  SECTION_HEADER,
  SECTION_TRAILER,
} from './codec_status.js';

export { CHUNK_FORMAT_VERSION, CODEC_CHUNK_MAX_POINTS, ChunkDecodeError };

/** The codec exports of build/emms.wasm (assembly/chunk.ts). Pointers are byte offsets in `memory`. */
export interface CodecExports extends ScratchExports {
  encodeChunk(tsPtr: number, valPtr: number, n: number, outPtr: number, outCap: number): number;
  decodeChunk(inPtr: number, inLen: number, tsOutPtr: number, valOutPtr: number, cap: number): number;
  chunkPointCount(inPtr: number, inLen: number): number;
  maxEncodedBytes(n: number): number;
  codecErrorSection(): number;
  codecErrorBit(): number;
  codecErrorLimitBits(): number;
}

/** Decoded columns of one chunk. */
export interface ChunkColumns {
  timestamps: Float64Array;
  values: Float64Array;
}

/** Where decodeChunkIntoWasm left the columns: byte offsets into the instance's memory. */
export interface WasmChunkColumns {
  tsPtr: number;
  valPtr: number;
  n: number;
}

function codecInstance(): WasmInstance<CodecExports> {
  return wasmInstance<CodecExports>('emms');
}

function checkColumns(timestamps: Float64Array, values: Float64Array, what: string): void {
  if (timestamps.length !== values.length) {
    throw new RangeError(
      `${what}: timestamps.length=${timestamps.length} must equal values.length=${values.length}`,
    );
  }
  if (timestamps.length > CODEC_CHUNK_MAX_POINTS) {
    throw new RangeError(`${what}: n=${timestamps.length} exceeds CODEC_CHUNK_MAX_POINTS=${CODEC_CHUNK_MAX_POINTS}`);
  }
}

/** Upper bound of the encoded size of n points, in bytes. */
export function maxEncodedBytes(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > CODEC_CHUNK_MAX_POINTS) {
    throw new RangeError(`maxEncodedBytes: n=${n} must be an integer in [0, ${CODEC_CHUNK_MAX_POINTS}]`);
  }
  return codecInstance().exports.maxEncodedBytes(n);
}

/**
 * Encodes the points into a new chunk. Throws RangeError when the lengths differ or exceed
 * CODEC_CHUNK_MAX_POINTS. An empty chunk (n = 0) is valid and decodes to empty arrays.
 */
export function encodeChunk(timestamps: Float64Array, values: Float64Array): Uint8Array {
  checkColumns(timestamps, values, 'encodeChunk');
  const inst = codecInstance();
  const n = timestamps.length;
  try {
    const cap = inst.exports.maxEncodedBytes(n);
    const tsPtr = inst.writeF64(timestamps);
    const valPtr = inst.writeF64(values);
    const outPtr = inst.alloc(cap);
    const written = inst.exports.encodeChunk(tsPtr, valPtr, n, outPtr, cap);
    if (written < 0) {
      // maxEncodedBytes bounds the output and n was checked: either code is a broken invariant.
      throw new Error(`BUG: encodeChunk(n=${n}, outCap=${cap}) returned ${codecStatusName(written)}`);
    }
    return inst.readBytes(outPtr, written);
  } finally {
    inst.reset();
  }
}

function decodeError(inst: WasmInstance<CodecExports>, status: number, bytes: Uint8Array): ChunkDecodeError {
  const e = inst.exports;
  return new ChunkDecodeError(
    status,
    { section: e.codecErrorSection(), bit: e.codecErrorBit(), limitBits: e.codecErrorLimitBits() },
    bytes,
  );
}

/**
 * Decodes the chunk into the instance's heap and returns where the columns are. The caller owns
 * the heap afterwards: it reads or aggregates the columns in place, then calls `inst.reset()`.
 * Throws {@link ChunkDecodeError} for anything that is not a valid chunk.
 */
export function decodeChunkIntoWasm(inst: WasmInstance<CodecExports>, bytes: Uint8Array): WasmChunkColumns {
  const inPtr = inst.writeBytes(bytes);
  const n = inst.exports.chunkPointCount(inPtr, bytes.length);
  if (n < 0) throw decodeError(inst, n, bytes);
  // At least one float per column so that the pointers are distinct even for an empty chunk.
  const tsPtr = inst.alloc(Math.max(n, 1) * 8);
  const valPtr = inst.alloc(Math.max(n, 1) * 8);
  const decoded = inst.exports.decodeChunk(inPtr, bytes.length, tsPtr, valPtr, n);
  if (decoded < 0) throw decodeError(inst, decoded, bytes);
  if (decoded !== n) throw new Error(`BUG: decodeChunk returned n=${decoded}, header said ${n}`);
  return { tsPtr, valPtr, n };
}

/** Decodes a chunk into new arrays. Throws {@link ChunkDecodeError} for anything that is not a valid chunk. */
export function decodeChunk(bytes: Uint8Array): ChunkColumns {
  const inst = codecInstance();
  try {
    const { tsPtr, valPtr, n } = decodeChunkIntoWasm(inst, bytes);
    return { timestamps: inst.readF64(tsPtr, n), values: inst.readF64(valPtr, n) };
  } finally {
    inst.reset();
  }
}

/**
 * Decodes a chunk and copies its points in [startMs, endMs) into `outTs`/`outVs` from index
 * `at`, straight from the WASM heap: readers that concatenate a series' chunks (PromQL reads
 * whole days of points) skip the per-chunk arrays decodeChunk would allocate and copy once
 * more. `decoded` is the chunk's whole point count, for the caller's checks.
 * Throws {@link ChunkDecodeError} for anything that is not a valid chunk.
 */
export function decodeChunkRangeInto(
  bytes: Uint8Array, startMs: number, endMs: number, outTs: Float64Array, outVs: Float64Array, at: number,
): { decoded: number; copied: number } {
  const inst = codecInstance();
  try {
    const { tsPtr, valPtr, n } = decodeChunkIntoWasm(inst, bytes);
    const heap = inst.f64();
    const ts = heap.subarray(tsPtr >>> 3, (tsPtr >>> 3) + n);
    const a = lowerBound(ts, startMs);
    const b = lowerBound(ts, endMs);
    outTs.set(ts.subarray(a, b), at);
    outVs.set(heap.subarray((valPtr >>> 3) + a, (valPtr >>> 3) + b), at);
    return { decoded: n, copied: b - a };
  } finally {
    inst.reset();
  }
}

// ---- header (docs/format/chunk.md "Header"; the same checks as assembly/chunk.ts decodeChunk) ----

/** The xxHash32 trailer. */
const TRAILER_BYTES = 4;
/** Version, two codec bytes and a LEB128 n of at most three bytes (n <= 65535). */
const MAX_HEADER_BYTES = 6;
/** Codec byte of an empty chunk (TS_NONE, VALUES_NONE), and the highest one (TS_XOR, VALUES_XOR). */
const CODEC_NONE = 0;
const CODEC_HIGHEST = 3;

/** What a chunk's header says; `headerBytes` is where the bitstream starts. */
export interface ChunkHeader {
  n: number;
  valueCodec: number;
  timestampCodec: number;
  headerBytes: number;
}

/**
 * Upper bound of the encoded size of n points, in bytes (the formula of assembly/chunk.ts
 * maxEncodedBytes, computed without a WASM call); a longer input is not a chunk.
 */
export function chunkSizeBound(n: number): number {
  return MAX_HEADER_BYTES + TRAILER_BYTES + 1 + Math.ceil((2 * 77 * n) / 8);
}

function headerError(code: number, section: number, bit: number, limitBits: number, bytes: Uint8Array): ChunkDecodeError {
  return new ChunkDecodeError(code, { section, bit, limitBits }, bytes);
}

/**
 * Reads and checks a chunk's header, and that the input's length fits it (room for the trailer,
 * no longer than the bound for n). Throws {@link ChunkDecodeError} with the code and location
 * the WASM decoder reports for the same bytes.
 */
export function parseChunkHeader(bytes: Uint8Array): ChunkHeader {
  const inLen = bytes.length;
  const limitBits = inLen * 8;
  if (inLen < 1) throw headerError(E_TRUNCATED, SECTION_HEADER, 0, limitBits, bytes);
  if (bytes[0] !== CHUNK_FORMAT_VERSION) throw headerError(E_VERSION, SECTION_HEADER, 0, limitBits, bytes);
  if (inLen < 3) throw headerError(E_TRUNCATED, SECTION_HEADER, inLen * 8, limitBits, bytes);
  const valueCodec = bytes[1]!;
  const timestampCodec = bytes[2]!;
  if (valueCodec > CODEC_HIGHEST) throw headerError(E_CODEC, SECTION_HEADER, 8, limitBits, bytes);
  if (timestampCodec > CODEC_HIGHEST) throw headerError(E_CODEC, SECTION_HEADER, 16, limitBits, bytes);
  let n = 0;
  let shift = 0;
  let at = 3;
  for (;;) {
    if (at >= inLen) throw headerError(E_TRUNCATED, SECTION_HEADER, at * 8, limitBits, bytes);
    if (at >= MAX_HEADER_BYTES) throw headerError(E_CORRUPT, SECTION_HEADER, at * 8, limitBits, bytes);
    const b = bytes[at]!;
    n |= (b & 0x7f) << shift;
    at++;
    if (b < 0x80) {
      // A final zero byte after the first would be a second encoding of the same n.
      if (b === 0 && at > 4) throw headerError(E_CORRUPT, SECTION_HEADER, (at - 1) * 8, limitBits, bytes);
      break;
    }
    shift += 7;
  }
  if (n > CODEC_CHUNK_MAX_POINTS) throw headerError(E_POINT_COUNT, SECTION_HEADER, 24, n, bytes);
  if ((n === 0) !== (valueCodec === CODEC_NONE) || (n === 0) !== (timestampCodec === CODEC_NONE)) {
    throw headerError(E_CODEC, SECTION_HEADER, 8, limitBits, bytes);
  }
  if (at + TRAILER_BYTES > inLen) {
    throw headerError(E_TRUNCATED, SECTION_HEADER, inLen * 8, (at + TRAILER_BYTES) * 8, bytes);
  }
  if (inLen > chunkSizeBound(n)) {
    throw headerError(E_CORRUPT, SECTION_TRAILER, inLen * 8, chunkSizeBound(n) * 8, bytes);
  }
  return { n, valueCodec, timestampCodec, headerBytes: at };
}

/**
 * The point count stored in the chunk's header (checks the header, not the payload). Parsed in
 * TypeScript: a WASM call would reset the heap, freeing columns the caller may still hold.
 */
export function chunkPointCount(bytes: Uint8Array): number {
  return parseChunkHeader(bytes).n;
}
