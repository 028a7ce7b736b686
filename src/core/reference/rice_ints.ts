/**
 * Reference for assembly/rice_ints.ts: the integer sequence coder. Order-1 differences minus a
 * bias, or order-2 differences; zigzag; then adaptive Rice per block of 64 (here) or
 * quotient-Huffman (quotient_huffman.ts), whichever is smaller, Rice on ties
 * (docs/format/chunk.md, "Integer sequence" and "Rice blocks (coder 0)"). Used for integer
 * timestamps (timestamps.ts) and decimal-scaled values (values_decimal.ts).
 */
import { E_CORRUPT, E_TRUNCATED } from '../codec_status.js';
import { bitLength, BitReader, BitWriter, unzigzag, zigzag } from './bitstream.js';
import { DecodeFailure } from './decode_failure.js';
import {
  chooseBias, fillBlock, inIntRange, INT_LIMIT, MAX_FIELD_WIDTH, RESIDUAL_BLOCK_LEN, residualsOf, SequenceState,
} from './int_residuals.js';
import { decodeHuffmanResiduals, encodeHuffmanResiduals, huffmanCost } from './quotient_huffman.js';

export const RICE_BLOCK_LEN = RESIDUAL_BLOCK_LEN;
/** Quotients from this one on are escaped: the width and the residual verbatim. */
export const RICE_ESCAPE_Q = 20;
export const RICE_MAX_K = 53;
/** The k code of a block whose residuals are all zero (no data bits follow). */
export const RICE_ZERO_BLOCK = 63;
export const CODER_RICE = 0;
export const CODER_HUFFMAN = 1;

/** How one integer sequence of a chunk is coded, as reported by inspectChunkReference. */
export interface SequenceLayout {
  order: number;
  coder: 'rice' | 'huffman';
}

/** How an integer sequence is coded (see planIntSeq in assembly/rice_ints.ts). */
export interface IntSeqPlan {
  bits: number;
  order: number;
  bias: number;
  coder: number;
  huffK: number;
  huffTop: number;
}

function riceCost(u: number, k: number): number {
  const q = Math.floor(u / 2 ** k);
  return q < RICE_ESCAPE_Q ? q + 1 + k : RICE_ESCAPE_Q + 6 + bitLength(u);
}

/** Chooses k for the block; returns [k, data bits]. */
function chooseK(block: Float64Array, cnt: number): [number, number] {
  let any = false;
  let sum = 0;
  for (let j = 0; j < cnt; j++) {
    const u = block[j]!;
    if (u !== 0) any = true;
    sum += u;
  }
  if (!any) return [RICE_ZERO_BLOCK, 0];
  const mean = sum / cnt;
  let k0 = 0;
  while (k0 < RICE_MAX_K && 2 ** (k0 + 1) <= mean) k0++;
  // Candidates k0-1..k0+1, shifted up to 0..2 when k0 = 0 (as assembly/rice_ints.ts chooseK).
  const lo = Math.max(0, k0 - 1);
  const hi = Math.min(RICE_MAX_K, lo + 2);
  let bestK = lo;
  let best = Infinity;
  for (let k = lo; k <= hi; k++) {
    let c = 0;
    for (let j = 0; j < cnt; j++) c += riceCost(block[j]!, k);
    if (c < best) {
      best = c;
      bestK = k;
    }
  }
  return [bestK, best];
}

function kCodeCost(prevK: number, k: number): number {
  return k === prevK ? 1 : k === prevK + 1 ? 2 : k === prevK - 1 ? 3 : 9;
}

function writeKCode(w: BitWriter, prevK: number, k: number): void {
  if (k === prevK) w.small(0, 1);
  else if (k === prevK + 1) w.small(0b10, 2);
  else if (k === prevK - 1) w.small(0b110, 3);
  else w.small((0b111 << 6) | k, 9);
}

function riceBlocksCost(ints: Float64Array, order: number, bias: number): number {
  const m = ints.length;
  const block = new Float64Array(RICE_BLOCK_LEN);
  let bits = 0;
  let prevK = 0;
  for (let first = order; first < m; first += RICE_BLOCK_LEN) {
    const cnt = Math.min(RICE_BLOCK_LEN, m - first);
    fillBlock(ints, order, bias, first, cnt, block);
    const [k, c] = chooseK(block, cnt);
    bits += c + kCodeCost(prevK, k);
    prevK = k;
  }
  return bits;
}

/**
 * [order, bias] of the candidate whose residuals have the smallest total bit length: order 1
 * without bias, order 1 minus `bias`, order 2, counting the bias or first difference as its
 * varbits field; earlier candidates win ties (scanOrders in assembly/rice_ints.ts).
 */
function chooseOrder(ints: Float64Array, bias: number): [number, number] {
  const firstDelta = ints[1]! - ints[0]!;
  let score0 = 6 + bitLength(zigzag(firstDelta));
  let score1 = 6 + bitLength(zigzag(bias)) + bitLength(zigzag(firstDelta - bias));
  let score2 = 6 + bitLength(zigzag(firstDelta));
  for (let i = 2; i < ints.length; i++) {
    const delta = ints[i]! - ints[i - 1]!;
    score0 += bitLength(zigzag(delta));
    score1 += bitLength(zigzag(delta - bias));
    score2 += bitLength(zigzag(delta - (ints[i - 1]! - ints[i - 2]!)));
  }
  if (score2 < Math.min(score0, score1)) return [2, 0];
  return score1 < score0 ? [1, bias] : [1, 0];
}

/** Chooses order, then Rice blocks or quotient-Huffman (Rice on ties); bits includes every field. */
export function planIntSeq(ints: Float64Array): IntSeqPlan {
  const m = ints.length;
  const plan: IntSeqPlan = {
    bits: 6 + bitLength(zigzag(ints[0]!)), order: 1, bias: 0, coder: CODER_RICE, huffK: 0, huffTop: 0,
  };
  if (m === 1) return plan;
  plan.bits += 2;
  [plan.order, plan.bias] = chooseOrder(ints, chooseBias(ints));
  plan.bits += 6 + bitLength(zigzag(plan.order === 1 ? plan.bias : ints[1]! - ints[0]!));
  let best = riceBlocksCost(ints, plan.order, plan.bias);
  if (m - plan.order >= 1) {
    const [bits, k, top] = huffmanCost(residualsOf(ints, plan.order, plan.bias));
    if (bits < best) {
      best = bits;
      plan.coder = CODER_HUFFMAN;
      plan.huffK = k;
      plan.huffTop = top;
    }
  }
  plan.bits += best;
  return plan;
}

export function encodeIntSeq(w: BitWriter, ints: Float64Array, plan: IntSeqPlan): void {
  const m = ints.length;
  const order = plan.order;
  if (m >= 2) {
    w.small(order === 2 ? 1 : 0, 1);
    w.small(plan.coder, 1);
  }
  w.varBits(zigzag(ints[0]!));
  if (m === 1) return;
  w.varBits(zigzag(order === 1 ? plan.bias : ints[1]! - ints[0]!));
  if (plan.coder === CODER_HUFFMAN) {
    encodeHuffmanResiduals(w, residualsOf(ints, order, plan.bias), plan.huffK, plan.huffTop);
    return;
  }
  const block = new Float64Array(RICE_BLOCK_LEN);
  let prevK = 0;
  for (let first = order; first < m; first += RICE_BLOCK_LEN) {
    const cnt = Math.min(RICE_BLOCK_LEN, m - first);
    fillBlock(ints, order, plan.bias, first, cnt, block);
    const [k] = chooseK(block, cnt);
    writeKCode(w, prevK, k);
    prevK = k;
    if (k === RICE_ZERO_BLOCK) continue;
    const p = 2 ** k;
    for (let j = 0; j < cnt; j++) {
      const u = block[j]!;
      const q = Math.floor(u / p);
      if (q < RICE_ESCAPE_Q) {
        w.ones(q);
        w.small(0, 1);
        w.num(u % p, k);
      } else {
        const width = bitLength(u);
        w.ones(RICE_ESCAPE_Q);
        w.small(width - 1, 6);
        w.num(u, width);
      }
    }
  }
}

function readRice(r: BitReader, k: number): number {
  const q = r.unary(RICE_ESCAPE_Q);
  if (q < RICE_ESCAPE_Q) return q * 2 ** k + r.num(k);
  const width = r.small(6) + 1;
  if (width > MAX_FIELD_WIDTH) return Infinity;
  return r.num(width);
}

/**
 * Decodes m >= 1 integers and stores x / divisor in out. `onLayout` (inspectChunkReference)
 * is told the sequence's order and coder once they are read.
 */
export function decodeIntSeq(
  r: BitReader, m: number, out: Float64Array, divisor: number, section: number,
  onLayout?: (layout: SequenceLayout) => void,
): void {
  const limitBits = r.lenBytes * 8;
  const startPos = r.pos;
  let order = 1;
  let coder = CODER_RICE;
  if (m >= 2) {
    order = r.small(1) !== 0 ? 2 : 1;
    coder = r.small(1);
  }
  onLayout?.({ order, coder: coder === CODER_HUFFMAN ? 'huffman' : 'rice' });
  const x0u = r.varBits(MAX_FIELD_WIDTH);
  const state = new SequenceState(unzigzag(x0u), 0, order);
  if (x0u < 0 || !inIntRange(state.x)) throw new DecodeFailure(E_CORRUPT, section, startPos, limitBits);
  out[0] = state.x / divisor;
  if (m === 1) {
    if (r.overrun) throw new DecodeFailure(E_TRUNCATED, section, r.pos, limitBits);
    return;
  }
  // Order 1: the bias added to every residual; order 2: the first difference.
  const du = r.varBits(MAX_FIELD_WIDTH);
  state.delta = unzigzag(du);
  if (du < 0 || !(state.delta >= -2 * INT_LIMIT && state.delta < 2 * INT_LIMIT)) {
    throw new DecodeFailure(E_CORRUPT, section, r.pos, limitBits);
  }
  if (order === 2) {
    state.x += state.delta;
    if (!inIntRange(state.x)) throw new DecodeFailure(E_CORRUPT, section, r.pos, limitBits);
    out[1] = state.x / divisor;
  }
  if (coder === CODER_HUFFMAN) {
    decodeHuffmanResiduals(r, m, state, out, divisor, section);
    if (r.overrun) throw new DecodeFailure(E_TRUNCATED, section, r.pos, limitBits);
    return;
  }
  let prevK = 0;
  for (let first = order; first < m; first += RICE_BLOCK_LEN) {
    const cnt = Math.min(RICE_BLOCK_LEN, m - first);
    const blockPos = r.pos;
    let k: number;
    if (r.small(1) === 0) k = prevK;
    else if (r.small(1) === 0) k = prevK + 1;
    else if (r.small(1) === 0) k = prevK - 1;
    else k = r.small(6);
    if (k < 0 || (k > RICE_MAX_K && k !== RICE_ZERO_BLOCK)) {
      throw new DecodeFailure(E_CORRUPT, section, blockPos, limitBits);
    }
    prevK = k;
    for (let j = 0; j < cnt; j++) {
      const ok = k === RICE_ZERO_BLOCK ? state.step() : state.accept(readRice(r, k));
      if (!ok) throw new DecodeFailure(E_CORRUPT, section, blockPos, limitBits);
      out[first + j] = state.x / divisor;
    }
    if (r.overrun) throw new DecodeFailure(E_TRUNCATED, section, r.pos, limitBits);
  }
  if (r.overrun) throw new DecodeFailure(E_TRUNCATED, section, r.pos, limitBits);
}
