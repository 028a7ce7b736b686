// Integer sequence coder: order-1 differences minus a bias, or order-2 differences; zigzag; then
// adaptive Rice per block (here) or quotient-Huffman (quotient_huffman.ts), whichever is smaller.
//
// Format: docs/format/chunk.md ("Integer sequence" and "Rice blocks"). Used for integer
// timestamps (delta-of-delta when order = 2) and for decimal-scaled values (values_decimal.ts).
//
// Why Rice per block rather than bit-width blocks: on the TSBS 2-decimal random walk (steps of
// N(0,1) in hundredths, entropy 8.66 bits/step; bench/data_shapes.ts walk2dp, 10 seeds) adaptive
// Rice blocks cost 8.80 bits/step while bit-width blocks of 64 pay for the widest value of each
// block, 9.56. A per-block k follows non-stationary data; the k of each block is coded relative
// to the previous one (1-3 bits, 9 for a jump), so the parameter costs ~0.02 bits/point instead
// of 6/64. Quotient-Huffman gets closer still on stationary Gaussian-like steps (8.72).
//
// Integer range and exactness: int_residuals.ts.

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
import {
  chooseBias,
  fillResiduals,
  inIntRange,
  INT_LIMIT,
  intAt,
  MAX_FIELD_WIDTH,
  RESIDUAL_BLOCK_LEN,
  residualScratch,
  sequenceDelta,
  sequenceX,
  setSequenceState,
} from "./int_residuals";
import { decodeHuffmanResiduals, encodeHuffmanResiduals, huffmanCost, huffmanPlannedK, huffmanPlannedTop } from "./quotient_huffman";

/** Residuals per Rice block (each block chooses its own k). */
export const RICE_BLOCK_LEN: i32 = RESIDUAL_BLOCK_LEN;
/** Quotients at or above this are escaped: RICE_ESCAPE_Q ones, 6-bit (width-1), then width bits. */
export const RICE_ESCAPE_Q: i32 = 20;
/**
 * Quotient bits (ones and the stop bit) decodeRiceBlock wants in its buffer beyond k before a value;
 * with a Rice-optimal k nearly all quotients are below 8. Measured on decodeChunk of a Rice-coded
 * 8,640-point integer walk (steps N(0, 20), 1% jumps up to 1e9), interleaved A/B under load
 * average 18 (development figures): a window per value 114 M points/s, this buffer 126 (1.10x);
 * slack 4 measured the same as 9, slack 16 6% slower (more refills).
 */
const RICE_REFILL_SLACK_BITS: i32 = 9;
/** Largest Rice parameter: zigzag residuals are below 2^53. */
export const RICE_MAX_K: i32 = 53;
/** Block parameter value meaning "every residual of this block is zero" (no data bits). */
export const RICE_ZERO_BLOCK: i32 = 63;
/** Coder bit of a sequence: adaptive Rice blocks. */
export const CODER_RICE: i32 = 0;
/** Coder bit of a sequence: quotient-Huffman (quotient_huffman.ts). */
export const CODER_HUFFMAN: i32 = 1;

const blockScratch = residualScratch;

// @ts-ignore: decorator
@inline function riceCost(u: u64, k: i32): i32 {
  const q = u >>> <u64>k;
  return q < <u64>RICE_ESCAPE_Q ? <i32>q + 1 + k : RICE_ESCAPE_Q + 6 + bitLength(u);
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
  // One pass for the three candidates k0-1..k0+1 (0..2 when k0 = 0; ties keep the lowest k).
  const lo = max(0, k0 - 1);
  const mid = lo + 1;
  const hi = min(RICE_MAX_K, lo + 2);
  let costLo = 0;
  let costMid = 0;
  let costHi = 0;
  for (let j = 0; j < cnt; j++) {
    const u = load<u64>(blockScratch + (<usize>j << 3));
    costLo += riceCost(u, lo);
    costMid += riceCost(u, mid);
    costHi += riceCost(u, hi);
  }
  let bestK = lo;
  let best = costLo;
  if (costMid < best) {
    best = costMid;
    bestK = mid;
  }
  if (costHi < best) {
    best = costHi;
    bestK = hi;
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

/** Bits of the adaptive Rice blocks for the residuals of elements [order, m). */
function riceBlocksCost(ptr: usize, m: i32, scale: f64, order: i32, bias: i64): i64 {
  let bits: i64 = 0;
  let prevK = 0;
  for (let first = order; first < m; first += RICE_BLOCK_LEN) {
    const cnt = min(RICE_BLOCK_LEN, m - first);
    fillResiduals(ptr, scale, order, first, cnt, bias);
    bits += chooseK(cnt);
    bits += kCodeCost(prevK, chosenK);
    prevK = chosenK;
  }
  return bits;
}

let plannedOrder: i32 = 1;
let plannedCoder: i32 = CODER_RICE;
let plannedBias: i64 = 0;

/** Order (1 or 2) of the last planIntSeq. */
export function intSeqPlannedOrder(): i32 {
  return plannedOrder;
}
/** Coder (CODER_RICE or CODER_HUFFMAN) of the last planIntSeq. */
export function intSeqPlannedCoder(): i32 {
  return plannedCoder;
}
/** Order-1 bias of the last planIntSeq (0 for order 2). */
export function intSeqPlannedBias(): i64 {
  return plannedBias;
}
/** Quotient-Huffman k of the last planIntSeq (when its coder is CODER_HUFFMAN). */
export function intSeqPlannedK(): i32 {
  return huffmanPlannedK();
}
/** Quotient-Huffman top of the last planIntSeq (when its coder is CODER_HUFFMAN). */
export function intSeqPlannedTop(): i32 {
  return huffmanPlannedTop();
}

// Statistics of the last scanOrders pass for the variant it chose.
let scanSum: f64 = 0;
let scanMax: u64 = 0;
let scanBias: i64 = 0;

/**
 * One pass over the candidate residuals of a sequence (m >= 2): order 1 without bias, order 1
 * minus `bias`, and order 2. Returns the order whose residuals have the smallest total bit length
 * (counting the bias or first difference as its varbits field; earlier candidates win ties) and
 * records that candidate's bias (scanBias) and the sum and maximum of its zigzag residuals. A
 * bit-length total ranks the candidates like their coded sizes at a fraction of the cost of
 * coding each.
 */
function scanOrders(ptr: usize, m: i32, scale: f64, bias: i64): i32 {
  let prev = intAt(ptr, 0, scale);
  let x = intAt(ptr, 1, scale);
  let prevDelta = x - prev;
  let u0 = zigzag(prevDelta);
  let u1 = zigzag(prevDelta - bias);
  let score0: i64 = varBitsCost(0) + bitLength(u0);
  let score1: i64 = varBitsCost(zigzag(bias)) + bitLength(u1);
  let score2: i64 = varBitsCost(u0);
  let sum0 = <f64>u0;
  let sum1 = <f64>u1;
  let sum2: f64 = 0;
  let max0 = u0;
  let max1 = u1;
  let max2: u64 = 0;
  prev = x;
  for (let i = 2; i < m; i++) {
    x = intAt(ptr, i, scale);
    const delta = x - prev;
    u0 = zigzag(delta);
    u1 = zigzag(delta - bias);
    const u2 = zigzag(delta - prevDelta);
    score0 += bitLength(u0);
    score1 += bitLength(u1);
    score2 += bitLength(u2);
    sum0 += <f64>u0;
    sum1 += <f64>u1;
    sum2 += <f64>u2;
    if (u0 > max0) max0 = u0;
    if (u1 > max1) max1 = u1;
    if (u2 > max2) max2 = u2;
    prevDelta = delta;
    prev = x;
  }
  if (score2 < min(score0, score1)) {
    scanSum = sum2;
    scanMax = max2;
    scanBias = 0;
    return 2;
  }
  if (score1 < score0) {
    scanSum = sum1;
    scanMax = max1;
    scanBias = bias;
  } else {
    scanSum = sum0;
    scanMax = max0;
    scanBias = 0;
  }
  return 1;
}

/**
 * Chooses how to code the integer sequence nearest(x_i * scale), i < m (m >= 1; every integer in
 * range, the caller checked) and returns its exact size in bits: the order and bias by
 * scanOrders, then Rice blocks or quotient-Huffman, whichever is smaller (Rice on ties). Read the
 * choice with the intSeqPlanned* getters before planning another sequence.
 */
export function planIntSeq(ptr: usize, m: i32, scale: f64): i64 {
  plannedOrder = 1;
  plannedCoder = CODER_RICE;
  plannedBias = 0;
  const x0 = intAt(ptr, 0, scale);
  let bits: i64 = varBitsCost(zigzag(x0));
  if (m == 1) return bits;
  bits += 2;
  const order = scanOrders(ptr, m, scale, chooseBias(ptr, m, scale));
  plannedOrder = order;
  plannedBias = scanBias;
  bits += varBitsCost(zigzag(order == 1 ? plannedBias : intAt(ptr, 1, scale) - x0));
  let best = riceBlocksCost(ptr, m, scale, order, plannedBias);
  if (m - order >= 1) {
    const huffman = huffmanCost(ptr, m, scale, order, plannedBias, scanSum, scanMax);
    if (huffman < best) {
      best = huffman;
      plannedCoder = CODER_HUFFMAN;
    }
  }
  return bits + best;
}

/** Writes the sequence as planned: planIntSeq's order, coder, bias, k and top, read back by the caller. */
export function encodeIntSeq(
  ptr: usize, m: i32, scale: f64, order: i32, coder: i32, bias: i64, huffK: i32, huffTop: i32,
): void {
  const x0 = intAt(ptr, 0, scale);
  if (m >= 2) {
    writeBits(order == 2 ? 1 : 0, 1);
    writeBits(<u64>coder, 1);
  }
  writeVarBits(zigzag(x0));
  if (m == 1) return;
  writeVarBits(zigzag(order == 1 ? bias : intAt(ptr, 1, scale) - x0));
  if (coder == CODER_HUFFMAN) {
    encodeHuffmanResiduals(ptr, m, scale, order, bias, huffK, huffTop);
    return;
  }
  let prevK = 0;
  for (let first = order; first < m; first += RICE_BLOCK_LEN) {
    const cnt = min(RICE_BLOCK_LEN, m - first);
    fillResiduals(ptr, scale, order, first, cnt, bias);
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
 * Decodes the cnt Rice codes of one block with parameter k (< RICE_ZERO_BLOCK) into out,
 * accumulating them per `order`; `scaled` divides by `divisor` (values) or not (timestamps).
 * Called with constant order/scaled so that each call site compiles to its own loop without
 * per-point branches on them. Returns nonzero if a value left the format's integer range.
 *
 * Fast path: the whole code lies in the bits left in a 64-bit buffer `w`, refilled with one
 * peekWindow (keeping its 64 - (pos & 7) input bits) only when fewer than k + RICE_REFILL_SLACK_BITS
 * remain, as decodeHuffmanGroup in quotient_huffman.ts does and for the same reason: a window per
 * value put WebAssembly's software byte swap on every value's dependency chain (measured gain at
 * RICE_REFILL_SLACK_BITS). Quotients of RICE_ESCAPE_Q or more and codes longer than a fresh
 * window fall back to readRiceSlow.
 */
// @ts-ignore: decorator
@inline function decodeRiceBlock(out: usize, cnt: i32, k: i32, order: i32, scaled: bool, divisor: f64): u64 {
  const base = readerBase();
  const lenBytes = readerLenBytes();
  const kk = <u64>k;
  const outEnd = out + (<usize>cnt << 3);
  // Refill threshold only trades refills against retries: a code longer than the bits left refills
  // and retries below, so any value here decodes the same.
  const refillBelow = min(k + RICE_REFILL_SLACK_BITS, 57);
  let pos = readerPos();
  let w: u64 = 0;
  let avail = 0;
  let x = sequenceX();
  let delta = sequenceDelta();
  let bad: u64 = 0;
  for (; out < outEnd; out += 8) {
    if (avail < refillBelow) {
      w = peekWindow(base, lenBytes, pos);
      avail = 64 - <i32>(pos & 7);
    }
    // Bits past `avail` are zeros, so a run of ones never reaches past the buffer unnoticed.
    let q = <i32>clz<u64>(~w);
    if (q + 1 + k > avail) {
      w = peekWindow(base, lenBytes, pos);
      avail = 64 - <i32>(pos & 7);
      q = <i32>clz<u64>(~w);
    }
    let u: u64;
    if (q < RICE_ESCAPE_Q && q + 1 + k <= avail) {
      u = (<u64>q << kk) | (((w << <u64>(q + 1)) >>> 1) >>> (63 - kk));
      const used = q + 1 + k;
      w <<= <u64>used;
      avail -= used;
      pos += <usize>used;
    } else {
      setReaderPos(pos);
      u = readRiceSlow(k);
      pos = readerPos();
      avail = 0;
    }
    bad |= u >>> 53;
    const r = unzigzag(u);
    if (order == 1) {
      x += r + delta;
    } else {
      delta += r;
      bad |= <u64>(delta + (INT_LIMIT << 1)) >>> 52;
      x += delta;
    }
    bad |= <u64>(x + INT_LIMIT) >>> 51;
    store<f64>(out, scaled ? <f64>x / divisor : <f64>x);
  }
  setReaderPos(pos);
  setSequenceState(x, delta);
  return bad;
}

/** A block whose residuals are all zero: every element adds the bias (order 1) or the last difference (order 2). */
function decodeZeroBlock(out: usize, cnt: i32, divisor: f64): u64 {
  const outEnd = out + (<usize>cnt << 3);
  const delta = sequenceDelta();
  let x = sequenceX();
  let bad: u64 = 0;
  for (; out < outEnd; out += 8) {
    x += delta;
    bad |= <u64>(x + INT_LIMIT) >>> 51;
    store<f64>(out, <f64>x / divisor);
  }
  setSequenceState(x, delta);
  return bad;
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
  let coder = CODER_RICE;
  if (m >= 2) {
    order = readBits(1) != 0 ? 2 : 1;
    coder = <i32>readBits(1);
  }
  const x0u = readVarBits(MAX_FIELD_WIDTH);
  let x = unzigzag(x0u);
  if (x0u == u64.MAX_VALUE || !inIntRange(x)) return fail(E_CORRUPT, section, <f64>startPos, limitBits);
  store<f64>(outPtr, <f64>x / divisor);
  if (m == 1) {
    if (readerOverrun()) return fail(E_TRUNCATED, section, <f64>readerPos(), limitBits);
    return 0;
  }
  // Order 1: the bias added to every residual; order 2: the first difference.
  const du = readVarBits(MAX_FIELD_WIDTH);
  const delta = unzigzag(du);
  if (du == u64.MAX_VALUE || <u64>(delta + (INT_LIMIT << 1)) >= <u64>(INT_LIMIT << 2)) {
    return fail(E_CORRUPT, section, <f64>readerPos(), limitBits);
  }
  if (order == 2) {
    x += delta;
    if (!inIntRange(x)) return fail(E_CORRUPT, section, <f64>readerPos(), limitBits);
    store<f64>(outPtr + 8, <f64>x / divisor);
  }
  setSequenceState(x, delta);
  if (coder == CODER_HUFFMAN) {
    const status = decodeHuffmanResiduals(m, order, outPtr, order, divisor, section);
    if (status < 0) return status;
    if (readerOverrun()) return fail(E_TRUNCATED, section, <f64>readerPos(), limitBits);
    return 0;
  }
  // Timestamps (divisor 1) skip the division: x / 1 == x exactly, so only speed differs.
  const scaled = divisor != 1.0;
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
    const out = outPtr + (<usize>first << 3);
    let bad: u64;
    if (k == RICE_ZERO_BLOCK) bad = decodeZeroBlock(out, cnt, divisor);
    else if (order == 1) {
      bad = scaled ? decodeRiceBlock(out, cnt, k, 1, true, divisor) : decodeRiceBlock(out, cnt, k, 1, false, 1.0);
    } else {
      bad = scaled ? decodeRiceBlock(out, cnt, k, 2, true, divisor) : decodeRiceBlock(out, cnt, k, 2, false, 1.0);
    }
    if (bad != 0) return fail(E_CORRUPT, section, <f64>blockPos, limitBits);
    if (readerOverrun()) return fail(E_TRUNCATED, section, <f64>readerPos(), limitBits);
  }
  if (readerOverrun()) return fail(E_TRUNCATED, section, <f64>readerPos(), limitBits);
  return 0;
}
