// MSB-first bit writer and reader shared by the chunk codec kernels.
//
// Format: bits are packed most significant first into bytes, like Prometheus tsdb/chunkenc/bstream.go,
// so a 64-bit big-endian load gives the next bits in order (docs/format/chunk.md).
//
// State lives in module globals: the module is single-threaded and one encode or decode runs at a
// time; hot loops copy the reader position into a local and write it back (readerPos/setReaderPos).
//
// Safety of the reader: it never loads outside [base, base + lenBytes). Bits past the end read as
// zeros, so every decode loop terminates (a unary run stops at the first zero) and callers detect
// truncation by comparing the position with the payload size at section and block ends.

// ---- writer ----------------------------------------------------------------------------------

let wStart: usize = 0;
let wPtr: usize = 0;
let wEnd: usize = 0;
let wAcc: u64 = 0;
let wAccBits: i32 = 0;
let wOverflow: bool = false;

/** Starts writing at `ptr`, with room for `capBytes` bytes. */
export function writerInit(ptr: usize, capBytes: i32): void {
  wStart = ptr;
  wPtr = ptr;
  wEnd = ptr + <usize>max(capBytes, 0);
  wAcc = 0;
  wAccBits = 0;
  wOverflow = capBytes < 0;
}

function flushWord(word: u64): void {
  if (wPtr + 8 <= wEnd) {
    store<u64>(wPtr, bswap<u64>(word));
    wPtr += 8;
  } else {
    for (let shift = 56; shift >= 0; shift -= 8) {
      if (wPtr < wEnd) {
        store<u8>(wPtr, <u8>(word >>> <u64>shift));
        wPtr++;
      } else {
        wOverflow = true;
      }
    }
  }
}

/** Appends the low `n` bits of `v` (0 <= n <= 64), most significant first. */
export function writeBits(v: u64, n: i32): void {
  if (n <= 0) return;
  if (n < 64) v &= (<u64>1 << <u64>n) - 1;
  const free = 64 - wAccBits;
  if (n < free) {
    wAcc |= v << <u64>(free - n);
    wAccBits += n;
  } else {
    const spill = n - free;
    wAcc |= v >>> <u64>spill;
    flushWord(wAcc);
    wAcc = spill == 0 ? 0 : v << <u64>(64 - spill);
    wAccBits = spill;
  }
}

/** Flushes the partial byte (zero padded) and returns bytes written, or -1 if the capacity was exceeded. */
export function writerFinish(): i32 {
  let bits = wAccBits;
  let acc = wAcc;
  while (bits > 0) {
    if (wPtr < wEnd) {
      store<u8>(wPtr, <u8>(acc >>> 56));
      wPtr++;
    } else {
      wOverflow = true;
    }
    acc <<= 8;
    bits -= 8;
  }
  wAccBits = 0;
  wAcc = 0;
  return wOverflow ? -1 : <i32>(wPtr - wStart);
}

/** Number of significant bits of `u` (0 for 0). */
// @ts-ignore: decorator
@inline export function bitLength(u: u64): i32 {
  return 64 - <i32>clz<u64>(u);
}

/** Writes `u` (< 2^63) as a 6-bit bit length w followed by w bits ("varbits"). */
export function writeVarBits(u: u64): void {
  const w = bitLength(u);
  writeBits(<u64>w, 6);
  writeBits(u, w);
}

/** Bits writeVarBits(u) takes. */
// @ts-ignore: decorator
@inline export function varBitsCost(u: u64): i32 {
  return 6 + bitLength(u);
}

// @ts-ignore: decorator
@inline export function zigzag(x: i64): u64 {
  return <u64>((x << 1) ^ (x >> 63));
}

// @ts-ignore: decorator
@inline export function unzigzag(u: u64): i64 {
  return <i64>(u >>> 1) ^ -<i64>(u & 1);
}

// ---- reader ----------------------------------------------------------------------------------

let rBase: usize = 0;
let rLenBytes: usize = 0;
let rPos: usize = 0;

/** Starts reading `lenBytes` bytes at `base`, at bit `bitPos`. */
export function readerInit(base: usize, lenBytes: usize, bitPos: usize): void {
  rBase = base;
  rLenBytes = lenBytes;
  rPos = bitPos;
}

// @ts-ignore: decorator
@inline export function readerBase(): usize {
  return rBase;
}
// @ts-ignore: decorator
@inline export function readerLenBytes(): usize {
  return rLenBytes;
}
// @ts-ignore: decorator
@inline export function readerPos(): usize {
  return rPos;
}
// @ts-ignore: decorator
@inline export function setReaderPos(pos: usize): void {
  rPos = pos;
}
/** True once the reader consumed bits past the end of its input (the zeros beyond it). */
// @ts-ignore: decorator
@inline export function readerOverrun(): bool {
  return rPos > rLenBytes << 3;
}

/**
 * The 64 bits starting at bit `pos`: the first 64 - (pos & 7), at least 57, are input bits
 * (zeros past the end of the input), the rest are zeros.
 * Fast path: one unaligned big-endian 8-byte load when it stays inside the input; the slow
 * path assembles the window byte by byte near the end and pads with zeros.
 */
// @ts-ignore: decorator
@inline export function peekWindow(base: usize, lenBytes: usize, pos: usize): u64 {
  const bytePos = pos >>> 3;
  if (bytePos + 8 <= lenBytes) return bswap<u64>(load<u64>(base + bytePos)) << <u64>(pos & 7);
  return peekWindowSlow(base, lenBytes, pos);
}

export function peekWindowSlow(base: usize, lenBytes: usize, pos: usize): u64 {
  const bytePos = pos >>> 3;
  let w: u64 = 0;
  for (let i: usize = 0; i < 8; i++) {
    const b = bytePos + i;
    w = (w << 8) | (b < lenBytes ? <u64>load<u8>(base + b) : 0);
  }
  return w << <u64>(pos & 7);
}

/** Reads `n` bits (0 <= n <= 64) as an unsigned integer. */
export function readBits(n: i32): u64 {
  if (n <= 0) return 0;
  if (n > 56) {
    const hi = readBits(n - 32);
    return (hi << 32) | readBits(32);
  }
  const w = peekWindow(rBase, rLenBytes, rPos);
  rPos += <usize>n;
  return w >>> <u64>(64 - n);
}

/** Counts and consumes leading one bits, stopping after the terminating zero or at `limit` ones. */
export function readUnary(limit: i32): i32 {
  let count = 0;
  while (count < limit) {
    const w = peekWindow(rBase, rLenBytes, rPos);
    // Only 57 bits of the window are guaranteed valid; count within them.
    let ones = <i32>clz<u64>(~w);
    if (ones > 56) ones = 56;
    if (count + ones >= limit) {
      rPos += <usize>(limit - count);
      return limit;
    }
    if (ones < 56) {
      rPos += <usize>(ones + 1);
      return count + ones;
    }
    rPos += 56;
    count += 56;
  }
  return count;
}

/** Reads a varbits field (6-bit width w, then w bits); returns u64.MAX_VALUE if w > maxWidth. */
export function readVarBits(maxWidth: i32): u64 {
  const w = <i32>readBits(6);
  if (w > maxWidth) return u64.MAX_VALUE;
  return readBits(w);
}
