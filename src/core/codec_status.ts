/**
 * Status codes of the chunk codec and the typed error they become.
 *
 * Mirrors assembly/codec_status.ts (change both together): the WASM kernels return these small
 * negative integers and keep no strings; the wrappers in src/core/codec.ts and the reference in
 * src/core/reference/ throw a {@link ChunkDecodeError} built here. Byte layout:
 * docs/format/chunk.md.
 */

/** Version byte written first in every chunk (assembly/chunk.ts CHUNK_FORMAT_VERSION). */
export const CHUNK_FORMAT_VERSION = 1;
/**
 * Most points the chunk format holds (assembly/chunk.ts CODEC_CHUNK_MAX_POINTS): the codec's
 * limit, not storage's. Storage cuts heads at 2,048–4,096 points (HEAD_CUT_POINTS in
 * src/storage/store_options.ts) and compacts them into chunks of at most
 * STORED_CHUNK_MAX_POINTS = 16,384 (src/storage/chunk_encoding.ts).
 */
export const CODEC_CHUNK_MAX_POINTS = 65535;

/** n is negative or above CODEC_CHUNK_MAX_POINTS. */
export const E_POINT_COUNT = -1;
/** The output buffer is too small. */
export const E_CAPACITY = -2;
/** The input ends before the header, a section or the checksum does. */
export const E_TRUNCATED = -3;
/** Unknown format version byte. */
export const E_VERSION = -4;
/** Unknown or inconsistent codec byte. */
export const E_CODEC = -5;
/** The xxHash32 trailer does not match. */
export const E_CHECKSUM = -6;
/** A field inside a section is out of range. */
export const E_CORRUPT = -7;

export const SECTION_HEADER = 0;
export const SECTION_TIMESTAMPS = 1;
export const SECTION_VALUES = 2;
export const SECTION_TRAILER = 3;

const STATUS_NAMES: Record<number, string> = {
  [E_POINT_COUNT]: 'E_POINT_COUNT',
  [E_CAPACITY]: 'E_CAPACITY',
  [E_TRUNCATED]: 'E_TRUNCATED',
  [E_VERSION]: 'E_VERSION',
  [E_CODEC]: 'E_CODEC',
  [E_CHECKSUM]: 'E_CHECKSUM',
  [E_CORRUPT]: 'E_CORRUPT',
};

const SECTION_NAMES = ['header', 'timestamp stream', 'value stream', 'trailer'] as const;

/** Name of a status code (`E_TRUNCATED`), for messages and test output. */
export function codecStatusName(code: number): string {
  return STATUS_NAMES[code] ?? `status ${code}`;
}

/** Where a decode failed, as reported by the kernel (codecErrorSection/Bit/LimitBits). */
export interface ChunkErrorLocation {
  section: number;
  bit: number;
  limitBits: number;
}

/** The input bytes are not a chunk this build can decode; `code` is one of the E_* constants. */
export class ChunkDecodeError extends Error {
  readonly code: number;
  readonly section: string;
  readonly bit: number;

  /** `bytes` is the input that failed, used to quote the offending header bytes. */
  constructor(code: number, location: ChunkErrorLocation, bytes: Uint8Array, options?: { cause?: unknown }) {
    super(describeChunkError(code, location, bytes), options);
    this.name = 'ChunkDecodeError';
    this.code = code;
    this.section = SECTION_NAMES[location.section] ?? `section ${location.section}`;
    this.bit = location.bit;
  }
}

function describeChunkError(code: number, at: ChunkErrorLocation, bytes: Uint8Array): string {
  const section = SECTION_NAMES[at.section] ?? `section ${at.section}`;
  const byteLength = bytes.length;
  switch (code) {
    case E_TRUNCATED:
      return `chunk: truncated ${section} at bit ${at.bit} of ${at.limitBits} (${byteLength} bytes)`;
    case E_VERSION:
      return `chunk: format version byte=${bytes[0]} must be ${CHUNK_FORMAT_VERSION} (input of ${byteLength} bytes)`;
    case E_CODEC:
      return (
        `chunk: header codec bytes value=${bytes[1]} timestamp=${bytes[2]} must be in 1..3 ` +
        `(0 exactly when the chunk holds no points)`
      );
    case E_CHECKSUM:
      return `chunk: xxHash32 checksum mismatch over ${at.bit / 8} bytes (data corrupted)`;
    case E_CORRUPT:
      return `chunk: corrupt ${section} at bit ${at.bit} of ${at.limitBits} (a field out of its allowed range)`;
    case E_POINT_COUNT:
      return `chunk: header point count n=${at.limitBits} exceeds CODEC_CHUNK_MAX_POINTS=${CODEC_CHUNK_MAX_POINTS}`;
    case E_CAPACITY:
      return `chunk: output capacity of ${at.limitBits} points is smaller than the chunk's point count`;
    default:
      return `chunk: decode failed with ${codecStatusName(code)} in the ${section} at bit ${at.bit}`;
  }
}
