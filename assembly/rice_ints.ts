// Integer sequence coder: order-1 or order-2 differences, zigzag, adaptive Rice per block.
//
// Format: docs/format/chunk.md ("Integer sequence" and "Rice blocks"). Used for integer
// timestamps (delta-of-delta when order = 2) and for decimal-scaled values (values_decimal.ts).
//
// Why Rice per block rather than bit-width blocks: on the TSBS 2-decimal random walk (steps of
// N(0,1) in hundredths) Rice with the best k costs 8.78 bits/step against an entropy of 8.68,
// while bit-width blocks pay for the widest value in each block (~10.5 bits). A per-block k
// follows non-stationary data; the k of each block is coded relative to the previous one
// (1-3 bits, 9 for a jump), so the parameter costs ~0.02 bits/point instead of 6/64.
//
// Integers are kept within [-INT_LIMIT, INT_LIMIT) so that every intermediate (differences up to
// 2^52, zigzag up to 2^53) is exact in a float64: the TypeScript reference
// (src/core/codec_reference.ts) computes with doubles and must produce identical bytes, and the
// decoder rejects anything the encoder could not have produced.

import {
  bitLength,
  peekWindow,
  readBits,
  readerBase,
  readerLenBytes,
  readerOverrun,
  readerPos,
  readUnary,
  readVarBits,
  setReaderPos,
  unzigzag,
  varBitsCost,
  writeBits,
  writeVarBits,
  zigzag,
} from "./bitstream";
import { E_CORRUPT, E_TRUNCATED, fail } from "./codec_status";

/** Residuals per Rice block (each block chooses its own k). */
export const RICE_BLOCK_LEN: i32 = 64;
/** Quotients at or above this are escaped: RICE_ESCAPE_Q ones, 6-bit (width-1), then width bits. */
export const RICE_ESCAPE_Q: i32 = 20;
/** Largest Rice parameter: zigzag residuals are below 2^53. */
export const RICE_MAX_K: i32 = 53;
/** Block parameter value meaning "every residual of this block is zero" (no data bits). */
export const RICE_ZERO_BLOCK: i32 = 63;
/** Integers coded here lie in [-INT_LIMIT, INT_LIMIT). */
export const INT_LIMIT: i64 = 1 << 50;
/** Largest width of a varbits field or escape the decoder accepts (values below 2^53). */
export const MAX_FIELD_WIDTH: i32 = 53;

// Zigzag residuals of the block being encoded; static so the encoder allocates nothing.
const blockScratch: usize = memory.data(RICE_BLOCK_LEN * 8, 16);

/** The integer the encoder codes for element `i`: nearest(x * scale). Scale 1 for timestamps. */
// @ts-ignore: decorator
@inline export function intAt(ptr: usize, i: i32, scale: f64): i64 {
  return <i64>nearest<f64>(load<f64>(ptr + (<usize>i << 3)) * scale);
}

// @ts-ignore: decorator
@inline export function inIntRange(x: i64): bool {
  return <u64>(x + INT_LIMIT) < <u64>(INT_LIMIT << 1);
}

// @ts-ignore: decorator
@inline function riceCost(u: u64, k: i32): i32 {
  const q = u >>> <u64>k;
  return q < <u64>RICE_ESCAPE_Q ? <i32>q + 1 + k : RICE_ESCAPE_Q + 6 + bitLength(u);
}

function blockCost(cnt: i32, k: i32): i32 {
  let bits = 0;
  for (let j = 0; j < cnt; j++) bits += riceCost(load<u64>(blockScratch + (<usize>j << 3)), k);
  return bits;
}

let chosenK: i32 = 0;

/** Picks k for the block in blockScratch (sets chosenK); returns its data bits. */
function chooseK(cnt: i32): i32 {
  let any: u64 = 0;
  let sum: f64 = 0;
  for (let j = 0; j < cnt; j++) {
    const u = load<u64>(blockScratch + (<usize>j << 3));
    any |= u;
    sum += <f64>u;
  }
  if (any == 0) {
    chosenK = RICE_ZERO_BLOCK;
    return 0;
  }
  // The best Rice k for a geometric source with mean m is about log2(m) - 0.5: try the
  // neighbours of floor(log2(mean)) exactly. Comparisons in float64 keep the TS reference identical.
  const mean = sum / <f64>cnt;
  let k0 = 0;
  while (k0 < RICE_MAX_K && <f64>(<u64>1 << <u64>(k0 + 1)) <= mean) k0++;
  const lo = max(0, k0 - 1);
  const hi = min(RICE_MAX_K, k0 + 1);
  let bestK = lo;
  let best = blockCost(cnt, lo);
  for (let k = lo + 1; k <= hi; k++) {
    const c = blockCost(cnt, k);
    if (c < best) {
      best = c;
      bestK = k;
    }
  }
  chosenK = bestK;
  return best;
}

// @ts-ignore: decorator
@inline function kCodeCost(prevK: i32, k: i32): i32 {
  return k == prevK ? 1 : k == prevK + 1 ? 2 : k == prevK - 1 ? 3 : 9;
}

function writeKCode(prevK: i32, k: i32): void {
  if (k == prevK) writeBits(0, 1);
  else if (k == prevK + 1) writeBits(0b10, 2);
  else if (k == prevK - 1) writeBits(0b110, 3);
  else writeBits((0b111 << 6) | <u64>k, 9);
}

/** Fills blockScratch with zigzag residuals [first, first + cnt) of order `order` (index = element index). */
function fillBlock(ptr: usize, scale: f64, order: i32, first: i32, cnt: i32): void {
  if (order == 1) {
    let prev = intAt(ptr, first - 1, scale);
    for (let j = 0; j < cnt; j++) {
      const x = intAt(ptr, first + j, scale);
      store<u64>(blockScratch + (<usize>j << 3), zigzag(x - prev));
      prev = x;
    }
  } else {
    let prev2 = intAt(ptr, first - 2, scale);
    let prev = intAt(ptr, first - 1, scale);
    for (let j = 0; j < cnt; j++) {
      const x = intAt(ptr, first + j, scale);
      store<u64>(blockScratch + (<usize>j << 3), zigzag(x - prev - (prev - prev2)));
      prev2 = prev;
      prev = x;
    }
  }
}

/**
 * Exact size in bits of encodeIntSeq(ptr, m, scale, order). Every nearest(x * scale) must be in
 * range (the caller checked); order is 1 or 2 and needs m >= 2 to matter.
 */
export function intSeqCost(ptr: usize, m: i32, scale: f64, order: i32): i64 {
  if (m <= 0) return 0;
  const x0 = intAt(ptr, 0, scale);
  let bits: i64 = varBitsCost(zigzag(x0));
  if (m == 1) return bits;
  bits += 1;
  if (order == 2) bits += varBitsCost(zigzag(intAt(ptr, 1, scale) - x0));
  let prevK = 0;
  for (let first = order; first < m; first += RICE_BLOCK_LEN) {
    const cnt = min(RICE_BLOCK_LEN, m - first);
    fillBlock(ptr, scale, order, first, cnt);
    bits += chooseK(cnt);
    bits += kCodeCost(prevK, chosenK);
    prevK = chosenK;
  }
  return bits;
}

/** Writes the integer sequence nearest(x_i * scale), i < m (m >= 1), with differences of `order`. */
export function encodeIntSeq(ptr: usize, m: i32, scale: f64, order: i32): void {
  const x0 = intAt(ptr, 0, scale);
  if (m >= 2) writeBits(order == 2 ? 1 : 0, 1);
  writeVarBits(zigzag(x0));
  if (m == 1) return;
  if (order == 2) writeVarBits(zigzag(intAt(ptr, 1, scale) - x0));
  let prevK = 0;
  for (let first = order; first < m; first += RICE_BLOCK_LEN) {
    const cnt = min(RICE_BLOCK_LEN, m - first);
    fillBlock(ptr, scale, order, first, cnt);
    chooseK(cnt);
    const k = chosenK;
    writeKCode(prevK, k);
    prevK = k;
    if (k == RICE_ZERO_BLOCK) continue;
    const lowMask: u64 = (<u64>1 << <u64>k) - 1;
    for (let j = 0; j < cnt; j++) {
      const u = load<u64>(blockScratch + (<usize>j << 3));
      const q = u >>> <u64>k;
      if (q < <u64>RICE_ESCAPE_Q) {
        // q ones, a zero, then the k low bits; split in two writes when longer than 64 bits.
        const unary: u64 = ((<u64>1 << q) - 1) << 1;
        const len = <i32>q + 1 + k;
        if (len <= 64) writeBits((unary << <u64>k) | (u & lowMask), len);
        else {
          writeBits(unary, <i32>q + 1);
          writeBits(u & lowMask, k);
        }
      } else {
        const w = bitLength(u);
        writeBits((<u64>1 << <u64>RICE_ESCAPE_Q) - 1, RICE_ESCAPE_Q);
        writeBits(<u64>(w - 1), 6);
        writeBits(u, w);
      }
    }
  }
}

/** Slow path of one Rice value: long codes, escapes, or near the end of the input. */
function readRiceSlow(k: i32): u64 {
  const q = readUnary(RICE_ESCAPE_Q);
  if (q < RICE_ESCAPE_Q) return (<u64>q << <u64>k) | readBits(k);
  const w = <i32>readBits(6) + 1;
  // Wider than any residual the encoder writes: flag it (>= 2^53) for the block check.
  if (w > MAX_FIELD_WIDTH) return u64.MAX_VALUE;
  return readBits(w);
}

/**
 * Reads an integer sequence of m >= 1 elements and stores f64(x) / divisor at out[i]
 * (divisor 1 for timestamps, 10^d for decimal values: the exact division the encoder verified).
 * Returns 0 or a negative status (E_CORRUPT, E_TRUNCATED) recorded with `section`.
 */
export function decodeIntSeq(m: i32, outPtr: usize, divisor: f64, section: i32): i32 {
  const limitBits = <f64>(readerLenBytes() << 3);
  const startPos = readerPos();
  let order = 1;
  if (m >= 2) order = readBits(1) != 0 ? 2 : 1;
  const x0u = readVarBits(MAX_FIELD_WIDTH);
  let x = unzigzag(x0u);
  if (x0u == u64.MAX_VALUE || !inIntRange(x)) return fail(E_CORRUPT, section, <f64>startPos, limitBits);
  store<f64>(outPtr, <f64>x / divisor);
  if (m == 1) {
    if (readerOverrun()) return fail(E_TRUNCATED, section, <f64>readerPos(), limitBits);
    return 0;
  }
  let delta: i64 = 0;
  if (order == 2) {
    const du = readVarBits(MAX_FIELD_WIDTH);
    delta = unzigzag(du);
    x += delta;
    if (du == u64.MAX_VALUE || !inIntRange(x)) return fail(E_CORRUPT, section, <f64>readerPos(), limitBits);
    store<f64>(outPtr + 8, <f64>x / divisor);
  }
  const base = readerBase();
  const lenBytes = readerLenBytes();
  let prevK = 0;
  for (let first = order; first < m; first += RICE_BLOCK_LEN) {
    const cnt = min(RICE_BLOCK_LEN, m - first);
    const blockPos = readerPos();
    // Block parameter: '0' same k, '10' k+1, '110' k-1, '111' + 6 bits explicit.
    let k: i32;
    const head = <i32>(peekWindow(base, lenBytes, blockPos) >>> 61);
    if (head < 4) {
      k = prevK;
      setReaderPos(blockPos + 1);
    } else if (head < 6) {
      k = prevK + 1;
      setReaderPos(blockPos + 2);
    } else if (head == 6) {
      k = prevK - 1;
      setReaderPos(blockPos + 3);
    } else {
      setReaderPos(blockPos + 3);
      k = <i32>readBits(6);
    }
    if (k < 0 || (k > RICE_MAX_K && k != RICE_ZERO_BLOCK)) return fail(E_CORRUPT, section, <f64>blockPos, limitBits);
    prevK = k;
    let out = outPtr + (<usize>first << 3);
    const outEnd = out + (<usize>cnt << 3);
    let bad: u64 = 0;
    if (k == RICE_ZERO_BLOCK) {
      if (order == 1) {
        const v = <f64>x / divisor;
        for (; out < outEnd; out += 8) store<f64>(out, v);
      } else {
        for (; out < outEnd; out += 8) {
          x += delta;
          bad |= <u64>(x + INT_LIMIT) >>> 51;
          store<f64>(out, <f64>x / divisor);
        }
      }
    } else {
      let pos = readerPos();
      const kk = <u64>k;
      for (; out < outEnd; out += 8) {
        const w = peekWindow(base, lenBytes, pos);
        const q = <i32>clz<u64>(~w);
        let u: u64;
        // Fast path: the whole code lies in the 57 valid bits of the window.
        if (q < RICE_ESCAPE_Q && q + 1 + k <= 57) {
          u = (<u64>q << kk) | (((w << <u64>(q + 1)) >>> 1) >>> (63 - kk));
          pos += <usize>(q + 1 + k);
        } else {
          setReaderPos(pos);
          u = readRiceSlow(k);
          pos = readerPos();
        }
        bad |= u >>> 53;
        const r = unzigzag(u);
        if (order == 1) {
          x += r;
        } else {
          delta += r;
          bad |= <u64>(delta + (INT_LIMIT << 1)) >>> 52;
          x += delta;
        }
        bad |= <u64>(x + INT_LIMIT) >>> 51;
        store<f64>(out, <f64>x / divisor);
      }
      setReaderPos(pos);
    }
    if (bad != 0) return fail(E_CORRUPT, section, <f64>blockPos, limitBits);
    if (readerOverrun()) return fail(E_TRUNCATED, section, <f64>readerPos(), limitBits);
  }
  if (readerOverrun()) return fail(E_TRUNCATED, section, <f64>readerPos(), limitBits);
  return 0;
}
