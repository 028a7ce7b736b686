// Gorilla XOR coding of raw float64 bit patterns: the lossless fallback for values with no short
// decimal form (full-precision floats, NaN payloads, ±Infinity, subnormals, −0) and for timestamps
// that are not integers in range (docs/format/chunk.md, "XOR floats").
//
// Provenance: Pelkonen et al., "Gorilla: A Fast, Scalable, In-Memory Time Series Database"
// (VLDB 2015), section 4.1.2, in the variant of Prometheus tsdb/chunkenc/xor.go
// (https://github.com/prometheus/prometheus/blob/main/tsdb/chunkenc/xor.go, Apache-2.0):
// leading zeros capped at 31 in 5 bits, 64 significant bits written as 0 in 6 bits.

import { peekWindow, readerBase, readerLenBytes, readerPos, setReaderPos, writeBits } from "./bitstream";
import { E_CORRUPT, E_TRUNCATED, fail } from "./codec_status";

/** Exact size in bits of encodeXorFloats(ptr, n). */
export function xorFloatsCost(ptr: usize, n: i32): i64 {
  if (n <= 0) return 0;
  let bits: i64 = 64;
  let prev = load<u64>(ptr);
  let prevLead: i32 = -1;
  let prevTrail: i32 = 0;
  for (let i = 1; i < n; i++) {
    const cur = load<u64>(ptr + (<usize>i << 3));
    const x = cur ^ prev;
    prev = cur;
    if (x == 0) {
      bits += 1;
      continue;
    }
    let lead = <i32>clz<u64>(x);
    if (lead > 31) lead = 31;
    const trail = <i32>ctz<u64>(x);
    if (prevLead >= 0 && lead >= prevLead && trail >= prevTrail) {
      bits += 2 + 64 - prevLead - prevTrail;
    } else {
      bits += 2 + 5 + 6 + 64 - lead - trail;
      prevLead = lead;
      prevTrail = trail;
    }
  }
  return bits;
}

/** Writes the n >= 1 float64 bit patterns at ptr. */
export function encodeXorFloats(ptr: usize, n: i32): void {
  let prev = load<u64>(ptr);
  writeBits(prev, 64);
  let prevLead: i32 = -1;
  let prevTrail: i32 = 0;
  for (let i = 1; i < n; i++) {
    const cur = load<u64>(ptr + (<usize>i << 3));
    const x = cur ^ prev;
    prev = cur;
    if (x == 0) {
      writeBits(0, 1);
      continue;
    }
    let lead = <i32>clz<u64>(x);
    if (lead > 31) lead = 31;
    const trail = <i32>ctz<u64>(x);
    if (prevLead >= 0 && lead >= prevLead && trail >= prevTrail) {
      // Reuse the previous window: '10' + the bits between its leading and trailing zeros.
      writeBits(0b10, 2);
      writeBits(x >>> <u64>prevTrail, 64 - prevLead - prevTrail);
    } else {
      const sig = 64 - lead - trail;
      writeBits((0b11 << 11) | (<u64>lead << 6) | <u64>(sig & 63), 13);
      writeBits(x >>> <u64>trail, sig);
      prevLead = lead;
      prevTrail = trail;
    }
  }
}

/** The n <= 64 bits at bit `pos` (zeros past the end). Two window loads when n exceeds the 57 valid bits of one. */
// @ts-ignore: decorator
@inline function bitsAt(base: usize, lenBytes: usize, pos: usize, n: i32): u64 {
  if (n <= 57) return peekWindow(base, lenBytes, pos) >>> <u64>(64 - n);
  const hi = peekWindow(base, lenBytes, pos) >>> <u64>(96 - n);
  return (hi << 32) | (peekWindow(base, lenBytes, pos + <usize>(n - 32)) >>> 32);
}

/** Reads n >= 1 float64 bit patterns into out; returns 0 or a negative status recorded with `section`. */
export function decodeXorFloats(n: i32, outPtr: usize, section: i32): i32 {
  const base = readerBase();
  const lenBytes = readerLenBytes();
  const limit = lenBytes << 3;
  const limitBits = <f64>limit;
  let pos = readerPos();
  let prev = bitsAt(base, lenBytes, pos, 64);
  pos += 64;
  store<u64>(outPtr, prev);
  if (pos > limit) return fail(E_TRUNCATED, section, <f64>pos, limitBits);
  let lead: i32 = -1;
  let trail: i32 = 0;
  let sig: i32 = 0;
  for (let i = 1; i < n; i++) {
    const at = pos;
    // Control bits: '0' same value, '10' reuse the window, '11' new window (5-bit lead, 6-bit length).
    const w = peekWindow(base, lenBytes, pos);
    if (<i64>w >= 0) {
      pos += 1;
    } else if ((w & (<u64>1 << 62)) == 0) {
      if (lead < 0) return fail(E_CORRUPT, section, <f64>at, limitBits);
      prev ^= bitsAt(base, lenBytes, pos + 2, sig) << <u64>trail;
      pos += <usize>(2 + sig);
    } else {
      const header = <i32>(w >>> 51) & 0x7ff;
      const newLead = header >>> 6;
      sig = header & 63;
      if (sig == 0) sig = 64;
      if (newLead + sig > 64) return fail(E_CORRUPT, section, <f64>at, limitBits);
      lead = newLead;
      trail = 64 - newLead - sig;
      prev ^= bitsAt(base, lenBytes, pos + 13, sig) << <u64>trail;
      pos += <usize>(13 + sig);
    }
    store<u64>(outPtr + (<usize>i << 3), prev);
    if (pos > limit) return fail(E_TRUNCATED, section, <f64>pos, limitBits);
  }
  setReaderPos(pos);
  return 0;
}
