// Chunk header, dispatch and trailer: one series' points (float64 epoch-ms timestamps, float64
// values) in one self-describing byte string.
//
// Format (box diagrams in docs/format/chunk.md):
//   version u8 | value codec u8 | timestamp codec u8 | n LEB128 (1-3 bytes)
//   | bitstream: timestamp section, value section, zero padding to a byte
//   | xxHash32 of every preceding byte, u32 little-endian
// Readers dispatch on the codec bytes, so a new encoding is one new file plus one case here.
// Mirrored bit for bit by the TypeScript reference src/core/reference/chunk.ts.

import { peekWindow, readerInit, readerOverrun, readerPos, writerFinish, writerInit } from "./bitstream";
import { xxhash32 } from "./chunk_checksum";
import {
  E_CAPACITY,
  E_CHECKSUM,
  E_CODEC,
  E_CORRUPT,
  E_POINT_COUNT,
  E_TRUNCATED,
  E_VERSION,
  fail,
  SECTION_HEADER,
  SECTION_TIMESTAMPS,
  SECTION_TRAILER,
  SECTION_VALUES,
} from "./codec_status";
import { decodeTimestamps, encodeTimestamps, planTimestamps, TS_NONE, TS_XOR } from "./timestamps";
import { decodeValues, encodeValues, planValues, VALUES_NONE, VALUES_XOR } from "./values_decimal";

/** Version byte written first in every chunk. */
export const CHUNK_FORMAT_VERSION: i32 = 1;
/** Most points in one chunk; storage cuts chunks of up to ~16k points. */
export const CODEC_CHUNK_MAX_POINTS: i32 = 65535;
/** Bytes of the xxHash32 trailer. */
const TRAILER_BYTES: i32 = 4;
/** Version, two codec bytes, n as LEB128 (at most 3 bytes for n <= 65535). */
const MAX_HEADER_BYTES: i32 = 6;

/**
 * Upper bound of encodeChunk's output for n points, or E_POINT_COUNT. Each section is at most
 * its XOR cost (the planners only pick another mode when it is cheaper): 64 bits for the first
 * point, 77 bits per further point.
 */
export function maxEncodedBytes(n: i32): i32 {
  if (n < 0 || n > CODEC_CHUNK_MAX_POINTS) return E_POINT_COUNT;
  return MAX_HEADER_BYTES + TRAILER_BYTES + 1 + ((2 * 77 * n + 7) >> 3);
}

/**
 * Encodes n points (timestamps at tsPtr, values at valPtr, float64 each) into out.
 * Returns the bytes written, E_POINT_COUNT, or E_CAPACITY if outCap is too small
 * (maxEncodedBytes(n) always suffices). Allocates nothing.
 */
export function encodeChunk(tsPtr: usize, valPtr: usize, n: i32, outPtr: usize, outCap: i32): i32 {
  if (n < 0 || n > CODEC_CHUNK_MAX_POINTS) return E_POINT_COUNT;
  let headerLen = 3;
  let rest = <u32>n;
  do {
    headerLen++;
    rest >>>= 7;
  } while (rest != 0);
  if (outCap < headerLen + TRAILER_BYTES) return E_CAPACITY;
  // Each section is planned right before it is written, so the planner's scratch (histograms)
  // is still valid for the writer; the value codec byte is filled in once values are planned.
  const tsMode = planTimestamps(tsPtr, n);
  store<u8>(outPtr, <u8>CHUNK_FORMAT_VERSION);
  store<u8>(outPtr, <u8>tsMode, 2);
  let at = outPtr + 3;
  rest = <u32>n;
  while (rest >= 0x80) {
    store<u8>(at++, <u8>(rest | 0x80));
    rest >>>= 7;
  }
  store<u8>(at, <u8>rest);
  writerInit(outPtr + headerLen, outCap - headerLen - TRAILER_BYTES);
  if (n > 0) encodeTimestamps(tsPtr, n);
  store<u8>(outPtr, <u8>planValues(valPtr, n), 1);
  if (n > 0) encodeValues(valPtr, n);
  const payload = writerFinish();
  if (payload < 0) return E_CAPACITY;
  const bodyLen = headerLen + payload;
  store<u32>(outPtr + bodyLen, xxhash32(outPtr, bodyLen));
  return bodyLen + TRAILER_BYTES;
}

let headerBytes: i32 = 0;
let headerValueMode: i32 = 0;
let headerTsMode: i32 = 0;

/** Parses and checks the header; returns n or a negative status. Sets headerBytes and the modes. */
function parseHeader(inPtr: usize, inLen: i32): i32 {
  const limitBits = <f64>(max(inLen, 0) << 3);
  if (inLen < 1) return fail(E_TRUNCATED, SECTION_HEADER, 0, limitBits);
  if (<i32>load<u8>(inPtr) != CHUNK_FORMAT_VERSION) return fail(E_VERSION, SECTION_HEADER, 0, limitBits);
  if (inLen < 3) return fail(E_TRUNCATED, SECTION_HEADER, <f64>(inLen << 3), limitBits);
  const valueMode = <i32>load<u8>(inPtr, 1);
  const tsMode = <i32>load<u8>(inPtr, 2);
  if (valueMode > VALUES_XOR) return fail(E_CODEC, SECTION_HEADER, 8, limitBits);
  if (tsMode > TS_XOR) return fail(E_CODEC, SECTION_HEADER, 16, limitBits);
  let n = 0;
  let shift = 0;
  let at = 3;
  while (true) {
    if (at >= inLen) return fail(E_TRUNCATED, SECTION_HEADER, <f64>(at << 3), limitBits);
    if (at >= MAX_HEADER_BYTES) return fail(E_CORRUPT, SECTION_HEADER, <f64>(at << 3), limitBits);
    const b = <i32>load<u8>(inPtr + <usize>at);
    n |= (b & 0x7f) << shift;
    at++;
    if (b < 0x80) {
      // Canonical LEB128 only: a zero final byte after a continuation byte is an alias.
      if (b == 0 && at > 4) return fail(E_CORRUPT, SECTION_HEADER, <f64>((at - 1) << 3), limitBits);
      break;
    }
    shift += 7;
  }
  if (n > CODEC_CHUNK_MAX_POINTS) return fail(E_POINT_COUNT, SECTION_HEADER, 24, <f64>n);
  if ((n == 0) != (valueMode == VALUES_NONE) || (n == 0) != (tsMode == TS_NONE)) {
    return fail(E_CODEC, SECTION_HEADER, 8, limitBits);
  }
  if (at + TRAILER_BYTES > inLen) return fail(E_TRUNCATED, SECTION_HEADER, <f64>(inLen << 3), <f64>((at + TRAILER_BYTES) << 3));
  // Longer than any chunk of n points can be (also keeps every bit offset within 32 bits).
  if (inLen > maxEncodedBytes(n)) return fail(E_CORRUPT, SECTION_TRAILER, <f64>(inLen << 3), <f64>(maxEncodedBytes(n) << 3));
  headerBytes = at;
  headerValueMode = valueMode;
  headerTsMode = tsMode;
  return n;
}

/** The point count in the header of the chunk at inPtr, or a negative status (checks the header only). */
export function chunkPointCount(inPtr: usize, inLen: i32): i32 {
  return parseHeader(inPtr, inLen);
}

/**
 * Decodes the chunk of inLen bytes at inPtr into tsOut/valOut (room for cap points each).
 * Returns n or a negative status; never reads outside the input, never writes past cap points.
 */
export function decodeChunk(inPtr: usize, inLen: i32, tsOutPtr: usize, valOutPtr: usize, cap: i32): i32 {
  const n = parseHeader(inPtr, inLen);
  if (n < 0) return n;
  if (n > cap) return fail(E_CAPACITY, SECTION_HEADER, 24, <f64>cap);
  const bodyLen = inLen - TRAILER_BYTES;
  if (xxhash32(inPtr, <usize>bodyLen) != load<u32>(inPtr + <usize>bodyLen)) {
    return fail(E_CHECKSUM, SECTION_TRAILER, <f64>(bodyLen << 3), <f64>(inLen << 3));
  }
  readerInit(inPtr, <usize>bodyLen, <usize>(headerBytes << 3));
  if (n > 0) {
    let status = decodeTimestamps(headerTsMode, n, tsOutPtr, SECTION_TIMESTAMPS);
    if (status < 0) return status;
    status = decodeValues(headerValueMode, n, valOutPtr, SECTION_VALUES);
    if (status < 0) return status;
  }
  // The payload must end in this byte with zero padding: anything else was not written by encodeChunk.
  const end = readerPos();
  if (readerOverrun()) return fail(E_TRUNCATED, SECTION_VALUES, <f64>end, <f64>(bodyLen << 3));
  const padBits = (8 - <i32>(end & 7)) & 7;
  const padding = padBits == 0 ? 0 : peekWindow(inPtr, <usize>bodyLen, end) >>> <u64>(64 - padBits);
  if (padding != 0 || ((end + 7) >>> 3) != <usize>bodyLen) {
    return fail(E_CORRUPT, SECTION_TRAILER, <f64>end, <f64>(bodyLen << 3));
  }
  return n;
}

// Failure details for the wrapper's messages, exported with the chunk entry points.
export { codecErrorBit, codecErrorLimitBits, codecErrorSection } from "./codec_status";
