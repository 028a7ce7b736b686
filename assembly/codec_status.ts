// Status codes of the chunk codec kernels (docs/format/chunk.md).
//
// Kernels return a non-negative count on success or one of these negative codes; the JS wrapper
// (src/core/codec.ts) turns a code into a ChunkDecodeError/RangeError with a descriptive message, so
// no strings live in the .wasm (as std/assembly/util/error.ts does). Mirrored in
// src/core/codec_status.ts: change both together.

/** n is negative or above CODEC_CHUNK_MAX_POINTS. */
export const E_POINT_COUNT: i32 = -1;
/** The output buffer (outCap bytes, or cap points) is too small. */
export const E_CAPACITY: i32 = -2;
/** The input ends before the header, a section or the checksum does. */
export const E_TRUNCATED: i32 = -3;
/** The format version byte is not one this build reads. */
export const E_VERSION: i32 = -4;
/** A codec byte (value or timestamp encoding) is unknown or inconsistent with n. */
export const E_CODEC: i32 = -5;
/** The xxHash32 checksum in the trailer does not match the bytes. */
export const E_CHECKSUM: i32 = -6;
/** A field inside a section is out of range (Rice parameter, escape width, scale, integer range, padding). */
export const E_CORRUPT: i32 = -7;

/** Where the last decode failure was found, for the wrapper's message (docs/format/chunk.md). */
export const SECTION_HEADER: i32 = 0;
export const SECTION_TIMESTAMPS: i32 = 1;
export const SECTION_VALUES: i32 = 2;
export const SECTION_TRAILER: i32 = 3;

let lastErrorSection: i32 = SECTION_HEADER;
let lastErrorBit: f64 = 0;
let lastErrorLimitBits: f64 = 0;

/** Records where a decode failed; returns `status` so call sites can `return fail(...)`. */
export function fail(status: i32, section: i32, bit: f64, limitBits: f64): i32 {
  lastErrorSection = section;
  lastErrorBit = bit;
  lastErrorLimitBits = limitBits;
  return status;
}

/** Section (SECTION_*) of the last failure reported by a codec kernel. */
export function codecErrorSection(): i32 {
  return lastErrorSection;
}
/** Bit offset (from the first byte of the chunk) at which the last failure was detected. */
export function codecErrorBit(): f64 {
  return lastErrorBit;
}
/** Size in bits of the region the last failure was detected in (the payload, usually). */
export function codecErrorLimitBits(): f64 {
  return lastErrorLimitBits;
}
