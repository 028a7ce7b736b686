// Quotient-Huffman coding of zigzag residuals: one k per sequence, the quotient u >> k coded with a
// canonical Huffman code sent in the section, then the k low bits verbatim.
//
// Format: docs/format/chunk.md ("Quotient-Huffman residuals").
//
// Why: Rice's unary quotient assumes geometric residuals; metric steps are closer to Gaussian.
// On the TSBS 2-decimal walk (step entropy 8.66 bits) adaptive Rice blocks cost 8.80 bits/step;
// a Huffman code for the quotient with a finer k (bins of ~σ/6) costs ~8.72 including its table,
// about 0.01 bytes/point. The sequence driver (rice_ints.ts) picks whichever is smaller, so
// non-stationary data (counter resets, bursts) keeps the per-block adaptivity of Rice.
//
// Canonical code assignment as in DEFLATE (RFC 1951, section 3.2.2). Code lengths are limited to
// HUFF_MAX_LEN by halving the counts and rebuilding, which is deterministic and mirrors exactly in
// the TypeScript reference (src/core/reference/quotient_huffman.ts).

import { bitLength, peekWindow, readBits, readerBase, readerLenBytes, readerOverrun, readerPos, setReaderPos, unzigzag, writeBits } from "./bitstream";
import { E_CORRUPT, E_TRUNCATED, fail } from "./codec_status";
import {
  fillResiduals,
  INT_LIMIT,
  MAX_FIELD_WIDTH,
  RESIDUAL_BLOCK_LEN,
  residualAt,
  sequenceDelta,
  sequenceX,
  setSequenceState,
} from "./int_residuals";

/** Most quotient symbols (0..top-1); quotients at or above `top` take the escape symbol `top`. */
export const HUFF_MAX_TOP: i32 = 63;
/** Longest code: the decoder resolves a code with one lookup in a 2^HUFF_MAX_LEN-entry table. */
export const HUFF_MAX_LEN: i32 = 12;
/** k values tried below the Rice-optimal one (finer bins fit a Gaussian better). */
const K_CANDIDATES: i32 = 5;
const MAX_SYMBOLS: i32 = HUFF_MAX_TOP + 1;
const MAX_K: i32 = 53;

// Static scratch: the encoder and decoder allocate nothing.
const histograms: usize = memory.data(K_CANDIDATES * MAX_SYMBOLS * 4, 16);
const escapeBits: usize = memory.data(K_CANDIDATES * 8, 16);
const weights: usize = memory.data(2 * MAX_SYMBOLS * 4, 16);
const parents: usize = memory.data(2 * MAX_SYMBOLS * 4, 16);
const lengths: usize = memory.data(MAX_SYMBOLS, 16);
const codes: usize = memory.data(MAX_SYMBOLS * 4, 16);
const decodeTable: usize = memory.data((1 << HUFF_MAX_LEN) * 2, 16);

let plannedK: i32 = 0;
let plannedTop: i32 = 1;
let plannedCandidate: i32 = 0;
// The sequence whose histograms are in `histograms`, so that encoding right after planning skips a pass.
let histPtr: usize = 0;
let histM: i32 = -1;
let histScale: f64 = 0;
let histOrder: i32 = 0;
let histBias: i64 = 0;

/** k of the last huffmanCost plan. */
export function huffmanPlannedK(): i32 {
  return plannedK;
}
/** top of the last huffmanCost plan. */
export function huffmanPlannedTop(): i32 {
  return plannedTop;
}

/**
 * Code lengths (at `lengths`) for the nsym counts at `counts` (u32), each <= HUFF_MAX_LEN.
 * Ties pick the lowest node index, leaves before internal nodes, so the reference agrees.
 */
function buildLengths(counts: usize, nsym: i32): void {
  for (let i = 0; i < nsym; i++) store<u32>(weights + (<usize>i << 2), load<u32>(counts + (<usize>i << 2)));
  while (true) {
    let leaves = 0;
    let only = 0;
    for (let i = 0; i < nsym; i++) {
      store<u8>(lengths + <usize>i, 0);
      if (load<u32>(weights + (<usize>i << 2)) != 0) {
        leaves++;
        only = i;
      }
    }
    if (leaves == 0) return;
    if (leaves == 1) {
      store<u8>(lengths + <usize>only, 1);
      return;
    }
    // parents[i] = -1 while node i is active (not merged yet), -2 for unused leaves.
    for (let i = 0; i < nsym; i++) {
      store<i32>(parents + (<usize>i << 2), load<u32>(weights + (<usize>i << 2)) != 0 ? -1 : -2);
    }
    let nodes = nsym;
    for (let merge = 1; merge < leaves; merge++) {
      let a = -1;
      let b = -1;
      for (let i = 0; i < nodes; i++) {
        if (load<i32>(parents + (<usize>i << 2)) != -1) continue;
        const w = load<u32>(weights + (<usize>i << 2));
        if (a < 0 || w < load<u32>(weights + (<usize>a << 2))) {
          b = a;
          a = i;
        } else if (b < 0 || w < load<u32>(weights + (<usize>b << 2))) {
          b = i;
        }
      }
      store<u32>(weights + (<usize>nodes << 2), load<u32>(weights + (<usize>a << 2)) + load<u32>(weights + (<usize>b << 2)));
      store<i32>(parents + (<usize>a << 2), nodes);
      store<i32>(parents + (<usize>b << 2), nodes);
      store<i32>(parents + (<usize>nodes << 2), -1);
      nodes++;
    }
    let maxLen = 0;
    for (let i = 0; i < nsym; i++) {
      let p = load<i32>(parents + (<usize>i << 2));
      if (p == -2) continue;
      let depth = 0;
      while (p >= 0) {
        depth++;
        p = load<i32>(parents + (<usize>p << 2));
      }
      store<u8>(lengths + <usize>i, <u8>depth);
      if (depth > maxLen) maxLen = depth;
    }
    if (maxLen <= HUFF_MAX_LEN) return;
    for (let i = 0; i < nsym; i++) {
      const w = load<u32>(weights + (<usize>i << 2));
      if (w != 0) store<u32>(weights + (<usize>i << 2), (w >>> 1) | 1);
    }
  }
}

/** Canonical codes (at `codes`) for the lengths of nsym symbols; returns the Kraft sum in units of 2^-HUFF_MAX_LEN. */
function assignCodes(nsym: i32): i32 {
  let code = 0;
  let kraft = 0;
  for (let len = 1; len <= HUFF_MAX_LEN; len++) {
    for (let s = 0; s < nsym; s++) {
      if (<i32>load<u8>(lengths + <usize>s) == len) {
        store<u32>(codes + (<usize>s << 2), <u32>code);
        code++;
        kraft += 1 << (HUFF_MAX_LEN - len);
      }
    }
    code <<= 1;
  }
  return kraft;
}

// @ts-ignore: decorator
@inline function topFor(maxU: u64, k: i32): i32 {
  const q = maxU >>> <u64>k;
  return q >= <u64>HUFF_MAX_TOP ? HUFF_MAX_TOP : <i32>q + 1;
}

/**
 * Exact bits of the residuals of elements [order, m) as quotient-Huffman, trying K_CANDIDATES
 * values of k below the Rice-optimal one; `sum` and `maxU` are the residuals' sum and maximum.
 * Records the best (k, top) for encodeHuffmanResiduals, whose histogram it keeps. Needs m > order.
 */
export function huffmanCost(ptr: usize, m: i32, scale: f64, order: i32, bias: i64, sum: f64, maxU: u64): i64 {
  const mean = sum / <f64>(m - order);
  let k0 = 0;
  while (k0 < MAX_K && <f64>(<u64>1 << <u64>(k0 + 1)) <= mean) k0++;
  const candidates = min(K_CANDIDATES, k0 + 1);
  memory.fill(histograms, 0, <usize>(K_CANDIDATES * MAX_SYMBOLS * 4));
  memory.fill(escapeBits, 0, <usize>(K_CANDIDATES * 8));
  for (let first = order; first < m; first += RESIDUAL_BLOCK_LEN) {
    const cnt = min(RESIDUAL_BLOCK_LEN, m - first);
    fillResiduals(ptr, scale, order, first, cnt, bias);
    for (let c = 0; c < candidates; c++) {
      const k = k0 - c;
      const top = topFor(maxU, k);
      const hist = histograms + <usize>(c * MAX_SYMBOLS * 4);
      for (let j = 0; j < cnt; j++) {
        const u = residualAt(j);
        const q = u >>> <u64>k;
        if (q < <u64>top) {
          const at = hist + (<usize>q << 2);
          store<u32>(at, load<u32>(at) + 1);
        } else {
          const at = hist + (<usize>top << 2);
          store<u32>(at, load<u32>(at) + 1);
          store<i64>(escapeBits + (<usize>c << 3), load<i64>(escapeBits + (<usize>c << 3)) + 6 + bitLength(u));
        }
      }
    }
  }
  let best: i64 = i64.MAX_VALUE;
  for (let c = 0; c < candidates; c++) {
    const k = k0 - c;
    const top = topFor(maxU, k);
    const hist = histograms + <usize>(c * MAX_SYMBOLS * 4);
    buildLengths(hist, top + 1);
    let bits: i64 = 6 + 6 + 4 * (top + 1) + load<i64>(escapeBits + (<usize>c << 3));
    for (let s = 0; s <= top; s++) {
      const count = <i64>load<u32>(hist + (<usize>s << 2));
      bits += count * (<i64>load<u8>(lengths + <usize>s) + (s < top ? k : 0));
    }
    if (bits < best) {
      best = bits;
      plannedK = k;
      plannedTop = top;
      plannedCandidate = c;
    }
  }
  histPtr = ptr;
  histM = m;
  histScale = scale;
  histOrder = order;
  histBias = bias;
  return best;
}

/** Writes the residuals of elements [order, m) with the k and top huffmanCost chose. */
export function encodeHuffmanResiduals(ptr: usize, m: i32, scale: f64, order: i32, bias: i64, k: i32, top: i32): void {
  let hist = histograms + <usize>(plannedCandidate * MAX_SYMBOLS * 4);
  const planned = histPtr == ptr && histM == m && histScale == scale && histOrder == order && histBias == bias && plannedK == k && plannedTop == top;
  if (!planned) {
    // Another sequence was planned since: rebuild the histogram of this k.
    hist = histograms;
    memory.fill(hist, 0, <usize>(MAX_SYMBOLS * 4));
    for (let first = order; first < m; first += RESIDUAL_BLOCK_LEN) {
      const cnt = min(RESIDUAL_BLOCK_LEN, m - first);
      fillResiduals(ptr, scale, order, first, cnt, bias);
      for (let j = 0; j < cnt; j++) {
        const q = residualAt(j) >>> <u64>k;
        const s = q < <u64>top ? <usize>q : <usize>top;
        store<u32>(hist + (s << 2), load<u32>(hist + (s << 2)) + 1);
      }
    }
  }
  buildLengths(hist, top + 1);
  assignCodes(top + 1);
  writeBits(<u64>k, 6);
  writeBits(<u64>top, 6);
  for (let s = 0; s <= top; s++) writeBits(<u64>load<u8>(lengths + <usize>s), 4);
  const lowMask: u64 = (<u64>1 << <u64>k) - 1;
  for (let first = order; first < m; first += RESIDUAL_BLOCK_LEN) {
    const cnt = min(RESIDUAL_BLOCK_LEN, m - first);
    fillResiduals(ptr, scale, order, first, cnt, bias);
    for (let j = 0; j < cnt; j++) {
      const u = residualAt(j);
      const q = u >>> <u64>k;
      if (q < <u64>top) {
        const len = <i32>load<u8>(lengths + <usize>q);
        const code = <u64>load<u32>(codes + (<usize>q << 2));
        if (len + k <= 64) writeBits((code << <u64>k) | (u & lowMask), len + k);
        else {
          writeBits(code, len);
          writeBits(u & lowMask, k);
        }
      } else {
        writeBits(<u64>load<u32>(codes + (<usize>top << 2)), <i32>load<u8>(lengths + <usize>top));
        const w = bitLength(u);
        writeBits(<u64>(w - 1), 6);
        writeBits(u, w);
      }
    }
  }
}

/** Slow path of one code's payload: long remainders, escapes. */
function readPayloadSlow(symbol: i32, k: i32, top: i32): u64 {
  if (symbol < top) return (<u64>symbol << <u64>k) | readBits(k);
  const w = <i32>readBits(6) + 1;
  if (w > MAX_FIELD_WIDTH) return u64.MAX_VALUE;
  return readBits(w);
}

/**
 * Decodes cnt values with the table built by decodeHuffmanResiduals; see decodeRiceBlock in rice_ints.ts.
 *
 * Bits come from a 64-bit buffer `w`, refilled with one peekWindow only when fewer bits than the
 * longest fast code (HUFF_MAX_LEN + k, capped at 57) remain; a refill keeps all 64 - (pos & 7)
 * input bits of the window, not just the 57 it guarantees. Why: reading a fresh window per value
 * put a bounds check, an unaligned load and a byte swap on every value's dependency chain, and
 * WebAssembly has no bswap instruction, so the swap alone is about a dozen shifts and masks; now
 * one window serves about five values of the 2-decimal walk (~9 bits each) and the chain is the
 * table lookup and a shift. Measured on decodeChunk, 8,640-point chunks of bench/data_shapes.ts,
 * interleaved A/B in one process under load average 17-21 (development figures): walk2dp 98 ->
 * 148 M points/s, counter 104 -> 156, jitter15s 54 -> 81, integerGauge 107 -> 170 (1.47-1.59x);
 * keeping only 57 bits per refill gave 1.26-1.36x. Escapes, and codes longer than the bits left
 * (possible only when k > 45), take the slow path, which reads through the shared reader and
 * empties the buffer.
 */
// @ts-ignore: decorator
@inline function decodeHuffmanGroup(out: usize, cnt: i32, k: i32, top: i32, order: i32, scaled: bool, divisor: f64): i64 {
  const base = readerBase();
  const lenBytes = readerLenBytes();
  const kk = <u64>k;
  const longest = min(HUFF_MAX_LEN + k, 57);
  const outEnd = out + (<usize>cnt << 3);
  let pos = readerPos();
  let w: u64 = 0;
  let avail = 0;
  let x = sequenceX();
  let delta = sequenceDelta();
  let bad: u64 = 0;
  for (; out < outEnd; out += 8) {
    if (avail < longest) {
      w = peekWindow(base, lenBytes, pos);
      avail = 64 - <i32>(pos & 7);
    }
    // avail >= HUFF_MAX_LEN here, so the lookup index is made of valid bits only.
    const entry = <i32>load<u16>(decodeTable + (<usize>(w >>> <u64>(64 - HUFF_MAX_LEN)) << 1));
    const len = entry & 15;
    const symbol = entry >>> 4;
    // An unassigned table entry: bits no code of this table starts with.
    if (len == 0) {
      setReaderPos(pos);
      return -1;
    }
    const used = len + k;
    let u: u64;
    if (symbol < top && used <= avail) {
      u = (<u64>symbol << kk) | (((w << <u64>len) >>> 1) >>> (63 - kk));
      w <<= <u64>used;
      avail -= used;
      pos += <usize>used;
    } else {
      setReaderPos(pos + <usize>len);
      u = readPayloadSlow(symbol, k, top);
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
  return bad != 0 ? 1 : 0;
}

/**
 * Reads the quotient-Huffman residuals of elements [first, m) into out (element-indexed),
 * continuing from the sequence state. Returns 0 or a negative status recorded with `section`.
 */
export function decodeHuffmanResiduals(m: i32, first: i32, outPtr: usize, order: i32, divisor: f64, section: i32): i32 {
  const limitBits = <f64>(readerLenBytes() << 3);
  const headerPos = readerPos();
  const k = <i32>readBits(6);
  const top = <i32>readBits(6);
  if (k > MAX_K || top == 0) return fail(E_CORRUPT, section, <f64>headerPos, limitBits);
  for (let s = 0; s <= top; s++) {
    const len = <i32>readBits(4);
    if (len > HUFF_MAX_LEN) return fail(E_CORRUPT, section, <f64>headerPos, limitBits);
    store<u8>(lengths + <usize>s, <u8>len);
  }
  if (assignCodes(top + 1) > 1 << HUFF_MAX_LEN) return fail(E_CORRUPT, section, <f64>headerPos, limitBits);
  memory.fill(decodeTable, 0, <usize>((1 << HUFF_MAX_LEN) * 2));
  for (let s = 0; s <= top; s++) {
    const len = <i32>load<u8>(lengths + <usize>s);
    if (len == 0) continue;
    const span = 1 << (HUFF_MAX_LEN - len);
    const start = <i32>load<u32>(codes + (<usize>s << 2)) << (HUFF_MAX_LEN - len);
    const entry = <u16>((s << 4) | len);
    for (let i = start; i < start + span; i++) store<u16>(decodeTable + (<usize>i << 1), entry);
  }
  const scaled = divisor != 1.0;
  for (let at = first; at < m; at += RESIDUAL_BLOCK_LEN) {
    const cnt = min(RESIDUAL_BLOCK_LEN, m - at);
    const groupPos = readerPos();
    const out = outPtr + (<usize>at << 3);
    let status: i64;
    if (order == 1) {
      status = scaled ? decodeHuffmanGroup(out, cnt, k, top, 1, true, divisor) : decodeHuffmanGroup(out, cnt, k, top, 1, false, 1.0);
    } else {
      status = scaled ? decodeHuffmanGroup(out, cnt, k, top, 2, true, divisor) : decodeHuffmanGroup(out, cnt, k, top, 2, false, 1.0);
    }
    if (status < 0) return fail(E_CORRUPT, section, <f64>readerPos(), limitBits);
    if (status > 0) return fail(E_CORRUPT, section, <f64>groupPos, limitBits);
    if (readerOverrun()) return fail(E_TRUNCATED, section, <f64>readerPos(), limitBits);
  }
  return 0;
}
