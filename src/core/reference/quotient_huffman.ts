/**
 * Reference for assembly/quotient_huffman.ts: quotient-Huffman coding of zigzag residuals, one
 * k per sequence, the quotient u >> k coded with a canonical Huffman code sent in the section,
 * then the k low bits verbatim (docs/format/chunk.md, "Quotient-Huffman (coder 1)").
 *
 * Canonical code assignment as in DEFLATE (RFC 1951, section 3.2.2). Code lengths are limited to
 * HUFF_MAX_LEN by halving the counts and rebuilding; ties pick the lowest node index, exactly as
 * the kernel does, so both build the same code.
 */
import { E_CORRUPT, E_TRUNCATED } from '../codec_status.js';
import { bitLength, BitReader, BitWriter } from './bitstream.js';
import { DecodeFailure } from './decode_failure.js';
import { MAX_FIELD_WIDTH, RESIDUAL_BLOCK_LEN, SequenceState } from './int_residuals.js';

/** Most quotient symbols (0..top-1); quotients at or above `top` take the escape symbol `top`. */
export const HUFF_MAX_TOP = 63;
/** Longest code: the decoder resolves a code with one lookup in a 2^HUFF_MAX_LEN-entry table. */
export const HUFF_MAX_LEN = 12;
/** k values tried below the Rice-optimal one (finer bins fit a Gaussian better). */
const HUFF_K_CANDIDATES = 5;
/** Largest k (RICE_MAX_K in rice_ints.ts; both coders split residuals below 2^53). */
const MAX_K = 53;

/** Code lengths for the counts, each <= HUFF_MAX_LEN; ties pick the lowest node index. */
function buildLengths(counts: ArrayLike<number>, nsym: number): Uint8Array {
  const weights = new Float64Array(2 * nsym);
  for (let i = 0; i < nsym; i++) weights[i] = counts[i]!;
  const lengths = new Uint8Array(nsym);
  for (;;) {
    lengths.fill(0);
    let leaves = 0;
    let only = 0;
    for (let i = 0; i < nsym; i++) {
      if (weights[i] !== 0) {
        leaves++;
        only = i;
      }
    }
    if (leaves === 0) return lengths;
    if (leaves === 1) {
      lengths[only] = 1;
      return lengths;
    }
    const parents = new Int32Array(2 * nsym);
    for (let i = 0; i < nsym; i++) parents[i] = weights[i] !== 0 ? -1 : -2;
    let nodes = nsym;
    for (let merge = 1; merge < leaves; merge++) {
      let a = -1;
      let b = -1;
      for (let i = 0; i < nodes; i++) {
        if (parents[i] !== -1) continue;
        const w = weights[i]!;
        if (a < 0 || w < weights[a]!) {
          b = a;
          a = i;
        } else if (b < 0 || w < weights[b]!) {
          b = i;
        }
      }
      weights[nodes] = weights[a]! + weights[b]!;
      parents[a] = nodes;
      parents[b] = nodes;
      parents[nodes] = -1;
      nodes++;
    }
    let maxLen = 0;
    for (let i = 0; i < nsym; i++) {
      let p = parents[i]!;
      if (p === -2) continue;
      let depth = 0;
      while (p >= 0) {
        depth++;
        p = parents[p]!;
      }
      lengths[i] = depth;
      maxLen = Math.max(maxLen, depth);
    }
    if (maxLen <= HUFF_MAX_LEN) return lengths;
    for (let i = 0; i < nsym; i++) if (weights[i] !== 0) weights[i] = Math.floor(weights[i]! / 2) | 1;
  }
}

/** Canonical (DEFLATE-order) codes for the lengths, and their Kraft sum in units of 2^-HUFF_MAX_LEN. */
function assignCodes(lengths: Uint8Array): { codes: Uint32Array; kraft: number } {
  const codes = new Uint32Array(lengths.length);
  let code = 0;
  let kraft = 0;
  for (let len = 1; len <= HUFF_MAX_LEN; len++) {
    for (let s = 0; s < lengths.length; s++) {
      if (lengths[s] === len) {
        codes[s] = code;
        code++;
        kraft += 1 << (HUFF_MAX_LEN - len);
      }
    }
    code <<= 1;
  }
  return { codes, kraft };
}

function topFor(maxU: number, k: number): number {
  const q = Math.floor(maxU / 2 ** k);
  return q >= HUFF_MAX_TOP ? HUFF_MAX_TOP : q + 1;
}

function huffmanHistogram(residuals: Float64Array, k: number, top: number): { counts: Float64Array; escapeBits: number } {
  const counts = new Float64Array(top + 1);
  let escapeBits = 0;
  const p = 2 ** k;
  for (let j = 0; j < residuals.length; j++) {
    const u = residuals[j]!;
    const q = Math.floor(u / p);
    if (q < top) counts[q]!++;
    else {
      counts[top]!++;
      escapeBits += 6 + bitLength(u);
    }
  }
  return { counts, escapeBits };
}

/** Best quotient-Huffman [bits, k, top] for the residuals (at least one). */
export function huffmanCost(residuals: Float64Array): [number, number, number] {
  let sum = 0;
  let maxU = 0;
  for (let j = 0; j < residuals.length; j++) {
    const u = residuals[j]!;
    sum += u;
    if (u > maxU) maxU = u;
  }
  const mean = sum / residuals.length;
  let k0 = 0;
  while (k0 < MAX_K && 2 ** (k0 + 1) <= mean) k0++;
  const candidates = Math.min(HUFF_K_CANDIDATES, k0 + 1);
  let best: [number, number, number] = [Infinity, 0, 1];
  for (let c = 0; c < candidates; c++) {
    const k = k0 - c;
    const top = topFor(maxU, k);
    const { counts, escapeBits } = huffmanHistogram(residuals, k, top);
    const lengths = buildLengths(counts, top + 1);
    let bits = 6 + 6 + 4 * (top + 1) + escapeBits;
    for (let s = 0; s <= top; s++) bits += counts[s]! * (lengths[s]! + (s < top ? k : 0));
    if (bits < best[0]) best = [bits, k, top];
  }
  return best;
}

export function encodeHuffmanResiduals(w: BitWriter, residuals: Float64Array, k: number, top: number): void {
  const { counts } = huffmanHistogram(residuals, k, top);
  const lengths = buildLengths(counts, top + 1);
  const { codes } = assignCodes(lengths);
  w.small(k, 6);
  w.small(top, 6);
  for (let s = 0; s <= top; s++) w.small(lengths[s]!, 4);
  const p = 2 ** k;
  for (let j = 0; j < residuals.length; j++) {
    const u = residuals[j]!;
    const q = Math.floor(u / p);
    if (q < top) {
      w.small(codes[q]!, lengths[q]!);
      w.num(u % p, k);
    } else {
      w.small(codes[top]!, lengths[top]!);
      const width = bitLength(u);
      w.small(width - 1, 6);
      w.num(u, width);
    }
  }
}

/** Decodes residuals of elements [state.order, m), applying each to `state`; out gets x / divisor. */
export function decodeHuffmanResiduals(
  r: BitReader, m: number, state: SequenceState, out: Float64Array, divisor: number, section: number,
): void {
  const limitBits = r.lenBytes * 8;
  const headerPos = r.pos;
  const k = r.small(6);
  const top = r.small(6);
  if (k > MAX_K || top === 0) throw new DecodeFailure(E_CORRUPT, section, headerPos, limitBits);
  const lengths = new Uint8Array(top + 1);
  for (let s = 0; s <= top; s++) {
    const len = r.small(4);
    if (len > HUFF_MAX_LEN) throw new DecodeFailure(E_CORRUPT, section, headerPos, limitBits);
    lengths[s] = len;
  }
  const { codes, kraft } = assignCodes(lengths);
  if (kraft > 1 << HUFF_MAX_LEN) throw new DecodeFailure(E_CORRUPT, section, headerPos, limitBits);
  const table = new Uint16Array(1 << HUFF_MAX_LEN);
  for (let s = 0; s <= top; s++) {
    const len = lengths[s]!;
    if (len === 0) continue;
    const start = codes[s]! << (HUFF_MAX_LEN - len);
    table.fill((s << 4) | len, start, start + (1 << (HUFF_MAX_LEN - len)));
  }
  for (let first = state.order; first < m; first += RESIDUAL_BLOCK_LEN) {
    const cnt = Math.min(RESIDUAL_BLOCK_LEN, m - first);
    const groupPos = r.pos;
    for (let j = 0; j < cnt; j++) {
      const at = r.pos;
      const entry = table[r.small(HUFF_MAX_LEN)]!;
      r.pos = at;
      const len = entry & 15;
      const symbol = entry >>> 4;
      if (len === 0) throw new DecodeFailure(E_CORRUPT, section, at, limitBits);
      r.pos += len;
      let u: number;
      if (symbol < top) u = symbol * 2 ** k + r.num(k);
      else {
        const width = r.small(6) + 1;
        u = width > MAX_FIELD_WIDTH ? Infinity : r.num(width);
      }
      if (!state.accept(u)) throw new DecodeFailure(E_CORRUPT, section, groupPos, limitBits);
      out[first + j] = state.x / divisor;
    }
    if (r.overrun) throw new DecodeFailure(E_TRUNCATED, section, r.pos, limitBits);
  }
}
