/**
 * Plain TypeScript implementation of the chunk format (docs/format/chunk.md), written to produce
 * byte-identical output to the WebAssembly codec (assembly/chunk.ts and the kernels it calls)
 * and to fail on the same inputs with the same status codes. It exists to check the WASM build
 * (tests/unit/codec_equivalence.test.ts) and as a readable statement of the format; production
 * paths use src/core/codec.ts.
 *
 * Arithmetic is in float64 on purpose: the format keeps every integer in [-2^50, 2^50), every
 * difference below 2^52 and every zigzag residual below 2^53, so doubles are exact and no BigInt
 * is needed. Raw float64 bit patterns (XOR, constants) are handled as two uint32 words.
 */
import {
  CHUNK_FORMAT_VERSION,
  CHUNK_MAX_POINTS,
  ChunkDecodeError,
  E_CAPACITY,
  E_CHECKSUM,
  E_CODEC,
  E_CORRUPT,
  E_POINT_COUNT,
  E_TRUNCATED,
  E_VERSION,
  SECTION_HEADER,
  SECTION_TIMESTAMPS,
  SECTION_TRAILER,
  SECTION_VALUES,
} from './codec_status.js';

// ---- format constants (mirrors of assembly/*.ts) ------------------------------------------------

export const TS_NONE = 0;
export const TS_CONST_DELTA = 1;
export const TS_INT_SEQUENCE = 2;
export const TS_XOR = 3;
export const VALUES_NONE = 0;
export const VALUES_CONST = 1;
export const VALUES_DECIMAL = 2;
export const VALUES_XOR = 3;

export const RICE_BLOCK_LEN = 64;
export const CODER_RICE = 0;
export const CODER_HUFFMAN = 1;
export const HUFF_MAX_TOP = 63;
export const HUFF_MAX_LEN = 12;
const HUFF_K_CANDIDATES = 5;
export const RICE_ESCAPE_Q = 20;
export const RICE_MAX_K = 53;
export const RICE_ZERO_BLOCK = 63;
export const INT_LIMIT = 2 ** 50;
export const MAX_FIELD_WIDTH = 53;
export const MAX_DECIMAL_SCALE = 17;
const SCALE_BITS = 5;
const TRAILER_BYTES = 4;
const MAX_HEADER_BYTES = 6;
const TWO_POW_32 = 2 ** 32;

const POW10: readonly number[] = Array.from({ length: MAX_DECIMAL_SCALE + 1 }, (_, d) => Number(`1e${d}`));

/** Internal failure carrying the status and location; converted to ChunkDecodeError at the API. */
class DecodeFailure {
  constructor(
    readonly code: number,
    readonly section: number,
    readonly bit: number,
    readonly limitBits: number,
  ) {}
}

// ---- small integer helpers ------------------------------------------------------------------------

/** Round half to even, as WebAssembly's f64.nearest; never returns −0. */
function nearest(x: number): number {
  let r = Math.round(x);
  if (r - x === 0.5 && r % 2 !== 0) r -= 1;
  return r + 0;
}

function bitLength(u: number): number {
  return u < TWO_POW_32 ? 32 - Math.clz32(u) : 64 - Math.clz32(Math.floor(u / TWO_POW_32));
}

function zigzag(x: number): number {
  return x >= 0 ? 2 * x : -2 * x - 1;
}

function unzigzag(u: number): number {
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
}

function inIntRange(x: number): boolean {
  return x >= -INT_LIMIT && x < INT_LIMIT;
}

function clz64(hi: number, lo: number): number {
  return hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo);
}

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

function ctz64(hi: number, lo: number): number {
  return lo !== 0 ? ctz32(lo) : 32 + ctz32(hi);
}

// ---- bit writer -------------------------------------------------------------------------------------

class BitWriter {
  readonly buf: Uint8Array;
  bitPos: number;

  constructor(buf: Uint8Array, startByte: number) {
    this.buf = buf;
    this.bitPos = startByte * 8;
  }

  /** Appends the low n bits (n <= 32) of v, most significant first. */
  small(v: number, n: number): void {
    while (n > 0) {
      const byte = this.bitPos >>> 3;
      const free = 8 - (this.bitPos & 7);
      const take = Math.min(free, n);
      const chunk = (v >>> (n - take)) & ((1 << take) - 1);
      this.buf[byte]! |= chunk << (free - take);
      this.bitPos += take;
      n -= take;
    }
  }

  /** Appends v (an integer below 2^53) in n <= 53 bits. */
  num(v: number, n: number): void {
    if (n > 32) {
      this.small(Math.floor(v / TWO_POW_32), n - 32);
      this.small(v >>> 0, 32);
    } else {
      this.small(n === 32 ? v >>> 0 : v % 2 ** n, n);
    }
  }

  /** Appends the low n <= 64 bits of the 64-bit word (hi, lo). */
  word(hi: number, lo: number, n: number): void {
    if (n > 32) {
      this.small(hi, n - 32);
      this.small(lo, 32);
    } else {
      this.small(lo, n);
    }
  }

  ones(n: number): void {
    while (n > 0) {
      const take = Math.min(n, 32);
      this.small(0xffffffff, take);
      n -= take;
    }
  }

  varBits(u: number): void {
    const w = bitLength(u);
    this.small(w, 6);
    this.num(u, w);
  }
}

// ---- bit reader --------------------------------------------------------------------------------------

class BitReader {
  constructor(
    readonly bytes: Uint8Array,
    readonly lenBytes: number,
    public pos: number,
  ) {}

  get overrun(): boolean {
    return this.pos > this.lenBytes * 8;
  }

  /** Reads n <= 32 bits; bits past the end read as zero. */
  small(n: number): number {
    let v = 0;
    while (n > 0) {
      const byteIndex = this.pos >>> 3;
      const byte = byteIndex < this.lenBytes ? this.bytes[byteIndex]! : 0;
      const avail = 8 - (this.pos & 7);
      const take = Math.min(avail, n);
      v = v * (1 << take) + ((byte >>> (avail - take)) & ((1 << take) - 1));
      this.pos += take;
      n -= take;
    }
    return v;
  }

  /** Reads n <= 53 bits as a number. */
  num(n: number): number {
    if (n > 32) {
      const hi = this.small(n - 32);
      return hi * TWO_POW_32 + this.small(32);
    }
    return this.small(n);
  }

  /** Reads n <= 64 bits into a (hi, lo) pair. */
  word(n: number): [number, number] {
    if (n > 32) {
      const hi = this.small(n - 32);
      return [hi, this.small(32)];
    }
    return [0, this.small(n)];
  }

  /** Counts leading ones up to `limit`, consuming the terminating zero when below it. */
  unary(limit: number): number {
    let count = 0;
    while (count < limit) {
      if (this.small(1) === 0) return count;
      count++;
    }
    return count;
  }

  /** A varbits field, or -1 if its width exceeds maxWidth. */
  varBits(maxWidth: number): number {
    const w = this.small(6);
    if (w > maxWidth) return -1;
    return this.num(w);
  }
}

// ---- xxHash32 (provenance: https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md) ---------

const PRIME32_1 = 2654435761;
const PRIME32_2 = 2246822519;
const PRIME32_3 = 3266489917;
const PRIME32_4 = 668265263;
const PRIME32_5 = 374761393;

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function readU32(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

function round32(acc: number, input: number): number {
  return Math.imul(rotl32((acc + Math.imul(input, PRIME32_2)) | 0, 13), PRIME32_1);
}

/** XXH32 with seed 0 of bytes[0, len). */
export function xxhash32Reference(bytes: Uint8Array, len: number): number {
  let p = 0;
  let h: number;
  if (len >= 16) {
    let v1 = (PRIME32_1 + PRIME32_2) | 0;
    let v2 = PRIME32_2 | 0;
    let v3 = 0;
    let v4 = -PRIME32_1 | 0;
    const limit = len - 16;
    do {
      v1 = round32(v1, readU32(bytes, p));
      v2 = round32(v2, readU32(bytes, p + 4));
      v3 = round32(v3, readU32(bytes, p + 8));
      v4 = round32(v4, readU32(bytes, p + 12));
      p += 16;
    } while (p <= limit);
    h = (rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18)) | 0;
  } else {
    h = PRIME32_5 | 0;
  }
  h = (h + len) | 0;
  while (p + 4 <= len) {
    h = Math.imul(rotl32((h + Math.imul(readU32(bytes, p), PRIME32_3)) | 0, 17), PRIME32_4);
    p += 4;
  }
  while (p < len) {
    h = Math.imul(rotl32((h + Math.imul(bytes[p]!, PRIME32_5)) | 0, 11), PRIME32_1);
    p++;
  }
  h ^= h >>> 15;
  h = Math.imul(h, PRIME32_2);
  h ^= h >>> 13;
  h = Math.imul(h, PRIME32_3);
  h ^= h >>> 16;
  return h >>> 0;
}

// ---- XOR floats (Gorilla, Prometheus variant; see assembly/xor_floats.ts) ----------------------------

function xorFloatsCost(words: Uint32Array, n: number): number {
  if (n <= 0) return 0;
  let bits = 64;
  let prevLead = -1;
  let prevTrail = 0;
  for (let i = 1; i < n; i++) {
    const xlo = (words[2 * i]! ^ words[2 * i - 2]!) >>> 0;
    const xhi = (words[2 * i + 1]! ^ words[2 * i - 1]!) >>> 0;
    if (xlo === 0 && xhi === 0) {
      bits += 1;
      continue;
    }
    const lead = Math.min(31, clz64(xhi, xlo));
    const trail = ctz64(xhi, xlo);
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

/** (hi, lo) >>> s for 0 <= s < 64. */
function shiftRight(hi: number, lo: number, s: number): [number, number] {
  if (s === 0) return [hi, lo];
  if (s < 32) return [hi >>> s, ((lo >>> s) | (hi << (32 - s))) >>> 0];
  return [0, hi >>> (s - 32)];
}

/** (hi, lo) << s for 0 <= s < 64. */
function shiftLeft(hi: number, lo: number, s: number): [number, number] {
  if (s === 0) return [hi, lo];
  if (s < 32) return [((hi << s) | (lo >>> (32 - s))) >>> 0, (lo << s) >>> 0];
  return [(lo << (s - 32)) >>> 0, 0];
}

function encodeXorFloats(w: BitWriter, words: Uint32Array, n: number): void {
  w.word(words[1]!, words[0]!, 64);
  let prevLead = -1;
  let prevTrail = 0;
  for (let i = 1; i < n; i++) {
    const xlo = (words[2 * i]! ^ words[2 * i - 2]!) >>> 0;
    const xhi = (words[2 * i + 1]! ^ words[2 * i - 1]!) >>> 0;
    if (xlo === 0 && xhi === 0) {
      w.small(0, 1);
      continue;
    }
    const lead = Math.min(31, clz64(xhi, xlo));
    const trail = ctz64(xhi, xlo);
    if (prevLead >= 0 && lead >= prevLead && trail >= prevTrail) {
      w.small(0b10, 2);
      const [shi, slo] = shiftRight(xhi, xlo, prevTrail);
      w.word(shi, slo, 64 - prevLead - prevTrail);
    } else {
      const sig = 64 - lead - trail;
      w.small((0b11 << 11) | (lead << 6) | (sig & 63), 13);
      const [shi, slo] = shiftRight(xhi, xlo, trail);
      w.word(shi, slo, sig);
      prevLead = lead;
      prevTrail = trail;
    }
  }
}

function decodeXorFloats(r: BitReader, n: number, out: Uint32Array, section: number): void {
  const limitBits = r.lenBytes * 8;
  let [hi, lo] = r.word(64);
  out[0] = lo;
  out[1] = hi;
  if (r.overrun) throw new DecodeFailure(E_TRUNCATED, section, r.pos, limitBits);
  let lead = -1;
  let trail = 0;
  for (let i = 1; i < n; i++) {
    const at = r.pos;
    if (r.small(1) !== 0) {
      let sig: number;
      if (r.small(1) === 0) {
        if (lead < 0) throw new DecodeFailure(E_CORRUPT, section, at, limitBits);
        sig = 64 - lead - trail;
      } else {
        const header = r.small(11);
        const newLead = header >>> 6;
        sig = header & 63;
        if (sig === 0) sig = 64;
        if (newLead + sig > 64) throw new DecodeFailure(E_CORRUPT, section, at, limitBits);
        lead = newLead;
        trail = 64 - newLead - sig;
      }
      const [xh, xl] = r.word(sig);
      const [sh, sl] = shiftLeft(xh, xl, trail);
      hi = (hi ^ sh) >>> 0;
      lo = (lo ^ sl) >>> 0;
    }
    out[2 * i] = lo;
    out[2 * i + 1] = hi;
    if (r.overrun) throw new DecodeFailure(E_TRUNCATED, section, r.pos, limitBits);
  }
}

// ---- integer sequences: differences, zigzag, adaptive Rice (see assembly/rice_ints.ts) --------------

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

/** Zigzag residuals of elements [first, first + cnt): order 1 minus the bias, or order 2. */
function fillBlock(ints: Float64Array, order: number, bias: number, first: number, cnt: number, block: Float64Array): void {
  for (let j = 0; j < cnt; j++) {
    const i = first + j;
    const r = order === 1 ? ints[i]! - ints[i - 1]! - bias : ints[i]! - ints[i - 1]! - (ints[i - 1]! - ints[i - 2]!);
    block[j] = zigzag(r);
  }
}

/** Lower median of the first up to 64 differences (assembly/int_residuals.ts chooseBias). */
function chooseBias(ints: Float64Array): number {
  const cnt = Math.min(RICE_BLOCK_LEN, ints.length - 1);
  const deltas: number[] = [];
  for (let j = 0; j < cnt; j++) deltas.push(ints[j + 1]! - ints[j]!);
  deltas.sort((a, b) => a - b);
  return deltas[(cnt - 1) >> 1]!;
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

/** How an integer sequence is coded (see planIntSeq in assembly/rice_ints.ts). */
interface IntSeqPlan {
  bits: number;
  order: number;
  bias: number;
  coder: number;
  huffK: number;
  huffTop: number;
}

/** All zigzag residuals of elements [order, m). */
function residualsOf(ints: Float64Array, order: number, bias: number): Float64Array {
  const m = ints.length;
  const out = new Float64Array(Math.max(0, m - order));
  if (out.length > 0) fillBlock(ints, order, bias, order, out.length, out);
  return out;
}

// ---- quotient-Huffman (see assembly/quotient_huffman.ts) ---------------------------------------------------

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
function huffmanCost(residuals: Float64Array): [number, number, number] {
  let sum = 0;
  let maxU = 0;
  for (let j = 0; j < residuals.length; j++) {
    const u = residuals[j]!;
    sum += u;
    if (u > maxU) maxU = u;
  }
  const mean = sum / residuals.length;
  let k0 = 0;
  while (k0 < RICE_MAX_K && 2 ** (k0 + 1) <= mean) k0++;
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

function encodeHuffmanResiduals(w: BitWriter, residuals: Float64Array, k: number, top: number): void {
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
function planIntSeq(ints: Float64Array): IntSeqPlan {
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

function encodeIntSeq(w: BitWriter, ints: Float64Array, plan: IntSeqPlan): void {
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

/** Decodes m >= 1 integers and stores x / divisor in out. */
/** Running integer and difference of a sequence being decoded, with the format's range checks. */
class SequenceState {
  constructor(
    public x: number,
    public delta: number,
    readonly order: number,
  ) {}

  /** Applies residual u; false if it or the result leaves the range the encoder writes. */
  accept(u: number): boolean {
    if (!(u < 2 ** 53)) return false;
    if (this.order === 1) {
      // delta is the bias here: x_i = x_{i-1} + bias + residual.
      this.x += unzigzag(u) + this.delta;
      return inIntRange(this.x);
    }
    this.delta += unzigzag(u);
    return this.step();
  }

  /** Applies a zero residual: adds the bias (order 1) or the last difference (order 2). */
  step(): boolean {
    if (!(this.delta >= -2 * INT_LIMIT && this.delta < 2 * INT_LIMIT)) return false;
    this.x += this.delta;
    return inIntRange(this.x);
  }
}

function decodeHuffmanResiduals(
  r: BitReader, m: number, state: SequenceState, out: Float64Array, divisor: number, section: number,
): void {
  const limitBits = r.lenBytes * 8;
  const headerPos = r.pos;
  const k = r.small(6);
  const top = r.small(6);
  if (k > RICE_MAX_K || top === 0) throw new DecodeFailure(E_CORRUPT, section, headerPos, limitBits);
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
  for (let first = state.order; first < m; first += RICE_BLOCK_LEN) {
    const cnt = Math.min(RICE_BLOCK_LEN, m - first);
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

/** How one integer sequence of a chunk is coded, as reported by inspectChunkReference. */
export interface SequenceLayout {
  order: number;
  coder: 'rice' | 'huffman';
}

/** The encodings a chunk uses, for tests, benchmarks and debugging. */
export interface ChunkLayout {
  n: number;
  timestampCodec: 'none' | 'constDelta' | 'intSequence' | 'xor';
  valueCodec: 'none' | 'const' | 'decimal' | 'xor';
  decimalScale?: number;
  timestampSequence?: SequenceLayout;
  valueSequence?: SequenceLayout;
}

// Set only while inspectChunkReference decodes, so decodeIntSeq can report what it read.
let layoutSink: ChunkLayout | undefined;

function decodeIntSeq(r: BitReader, m: number, out: Float64Array, divisor: number, section: number): void {
  const limitBits = r.lenBytes * 8;
  const startPos = r.pos;
  let order = 1;
  let coder = CODER_RICE;
  if (m >= 2) {
    order = r.small(1) !== 0 ? 2 : 1;
    coder = r.small(1);
  }
  if (layoutSink !== undefined) {
    const seq: SequenceLayout = { order, coder: coder === CODER_HUFFMAN ? 'huffman' : 'rice' };
    if (section === SECTION_TIMESTAMPS) layoutSink.timestampSequence = seq;
    else layoutSink.valueSequence = seq;
  }
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

// ---- timestamps (see assembly/timestamps.ts) ----------------------------------------------------------

function isCodedInteger(t: number): boolean {
  // Object.is rejects −0, which has no integer form; t itself is then an integer in range.
  return t >= -INT_LIMIT && t < INT_LIMIT && Object.is(Math.trunc(t) + 0, t);
}

interface TimestampPlan {
  mode: number;
  seq: IntSeqPlan | undefined;
}

function planTimestamps(ts: Float64Array, tsWords: Uint32Array): TimestampPlan {
  const n = ts.length;
  if (n === 0) return { mode: TS_NONE, seq: undefined };
  let constDelta = true;
  let delta = 0;
  for (let i = 0; i < n; i++) {
    const t = ts[i]!;
    if (!isCodedInteger(t)) return { mode: TS_XOR, seq: undefined };
    if (i === 1) delta = t - ts[0]!;
    else if (i > 1 && t - ts[i - 1]! !== delta) constDelta = false;
  }
  if (constDelta) return { mode: TS_CONST_DELTA, seq: undefined };
  const seq = planIntSeq(ts);
  if (xorFloatsCost(tsWords, n) < seq.bits) return { mode: TS_XOR, seq };
  return { mode: TS_INT_SEQUENCE, seq };
}

function encodeTimestamps(w: BitWriter, plan: TimestampPlan, ts: Float64Array, tsWords: Uint32Array): void {
  const n = ts.length;
  if (plan.mode === TS_CONST_DELTA) {
    w.varBits(zigzag(ts[0]!));
    if (n >= 2) w.varBits(zigzag(ts[1]! - ts[0]!));
  } else if (plan.mode === TS_INT_SEQUENCE) {
    encodeIntSeq(w, ts, plan.seq!);
  } else if (plan.mode === TS_XOR) {
    encodeXorFloats(w, tsWords, n);
  }
}

function decodeTimestamps(r: BitReader, mode: number, n: number, out: Float64Array): void {
  const section = SECTION_TIMESTAMPS;
  if (mode === TS_INT_SEQUENCE) return decodeIntSeq(r, n, out, 1, section);
  if (mode === TS_XOR) return decodeXorFloats(r, n, new Uint32Array(out.buffer, out.byteOffset, 2 * n), section);
  const limitBits = r.lenBytes * 8;
  const at = r.pos;
  const t0u = r.varBits(MAX_FIELD_WIDTH);
  const t0 = unzigzag(t0u);
  if (t0u < 0 || !inIntRange(t0)) throw new DecodeFailure(E_CORRUPT, section, at, limitBits);
  let delta = 0;
  if (n >= 2) {
    const du = r.varBits(MAX_FIELD_WIDTH);
    delta = unzigzag(du);
    const last = t0 + delta * (n - 1);
    if (du < 0 || !(last >= -INT_LIMIT && last < INT_LIMIT)) throw new DecodeFailure(E_CORRUPT, section, at, limitBits);
  }
  if (r.overrun) throw new DecodeFailure(E_TRUNCATED, section, r.pos, limitBits);
  for (let i = 0; i < n; i++) out[i] = t0 + i * delta;
}

// ---- values (see assembly/values_decimal.ts) -------------------------------------------------------------

function fitsScale(v: number, p: number): boolean {
  const k = nearest(v * p);
  if (!(k >= -INT_LIMIT && k < INT_LIMIT)) return false;
  return Object.is(k / p, v);
}

/** Smallest decimal scale d such that every value is exactly nearest(v·10^d)/10^d, or -1. */
export function detectDecimalScaleReference(values: Float64Array): number {
  let d = 0;
  let p = POW10[0]!;
  // Values from the last increase of d on were checked at the final d; only earlier ones are re-checked.
  let checkedFrom = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (fitsScale(v, p)) continue;
    do {
      if (++d > MAX_DECIMAL_SCALE) return -1;
      p = POW10[d]!;
    } while (!fitsScale(v, p));
    checkedFrom = i;
  }
  for (let i = 0; i < checkedFrom; i++) if (!fitsScale(values[i]!, p)) return -1;
  return d;
}

interface ValuePlan {
  mode: number;
  scale: number;
  seq: IntSeqPlan | undefined;
  ints: Float64Array;
}

function planValues(values: Float64Array, words: Uint32Array): ValuePlan {
  const n = values.length;
  const none = new Float64Array(0);
  if (n === 0) return { mode: VALUES_NONE, scale: 0, seq: undefined, ints: none };
  let same = true;
  for (let i = 1; i < n && same; i++) same = words[2 * i] === words[0] && words[2 * i + 1] === words[1];
  if (same) return { mode: VALUES_CONST, scale: 0, seq: undefined, ints: none };
  const d = detectDecimalScaleReference(values);
  if (d < 0) return { mode: VALUES_XOR, scale: 0, seq: undefined, ints: none };
  const p = POW10[d]!;
  const ints = new Float64Array(n);
  for (let i = 0; i < n; i++) ints[i] = nearest(values[i]! * p);
  const seq = planIntSeq(ints);
  if (xorFloatsCost(words, n) < SCALE_BITS + seq.bits) return { mode: VALUES_XOR, scale: d, seq, ints };
  return { mode: VALUES_DECIMAL, scale: d, seq, ints };
}

function encodeValues(w: BitWriter, plan: ValuePlan, words: Uint32Array, n: number): void {
  if (plan.mode === VALUES_CONST) {
    w.word(words[1]!, words[0]!, 64);
  } else if (plan.mode === VALUES_DECIMAL) {
    w.small(plan.scale, SCALE_BITS);
    encodeIntSeq(w, plan.ints, plan.seq!);
  } else if (plan.mode === VALUES_XOR) {
    encodeXorFloats(w, words, n);
  }
}

function decodeValues(r: BitReader, mode: number, n: number, out: Float64Array): void {
  const section = SECTION_VALUES;
  const words = new Uint32Array(out.buffer, out.byteOffset, 2 * n);
  if (mode === VALUES_DECIMAL) {
    const at = r.pos;
    const d = r.small(SCALE_BITS);
    if (d > MAX_DECIMAL_SCALE) throw new DecodeFailure(E_CORRUPT, section, at, r.lenBytes * 8);
    if (layoutSink !== undefined) layoutSink.decimalScale = d;
    return decodeIntSeq(r, n, out, POW10[d]!, section);
  }
  if (mode === VALUES_XOR) return decodeXorFloats(r, n, words, section);
  const [hi, lo] = r.word(64);
  if (r.overrun) throw new DecodeFailure(E_TRUNCATED, section, r.pos, r.lenBytes * 8);
  for (let i = 0; i < n; i++) {
    words[2 * i] = lo;
    words[2 * i + 1] = hi;
  }
}

// ---- chunk: header, sections, trailer (see assembly/chunk.ts) ---------------------------------------------

/** Upper bound of the encoded size of n points (same formula as assembly/chunk.ts). */
export function maxEncodedBytesReference(n: number): number {
  return MAX_HEADER_BYTES + TRAILER_BYTES + 1 + Math.ceil((2 * 77 * n) / 8);
}

function checkColumns(timestamps: Float64Array, values: Float64Array): void {
  if (timestamps.length !== values.length) {
    throw new RangeError(
      `encodeChunkReference: timestamps.length=${timestamps.length} must equal values.length=${values.length}`,
    );
  }
  if (timestamps.length > CHUNK_MAX_POINTS) {
    throw new RangeError(`encodeChunkReference: n=${timestamps.length} exceeds CHUNK_MAX_POINTS=${CHUNK_MAX_POINTS}`);
  }
}

/** Little-endian uint32 view of float64 columns (every supported platform is little-endian). */
function wordsOf(column: Float64Array): Uint32Array {
  return new Uint32Array(column.buffer, column.byteOffset, column.length * 2);
}

/** Encodes like src/core/codec.ts encodeChunk, in plain TypeScript; the bytes are identical. */
export function encodeChunkReference(timestamps: Float64Array, values: Float64Array): Uint8Array {
  checkColumns(timestamps, values);
  const n = timestamps.length;
  const tsWords = wordsOf(timestamps);
  const valueWords = wordsOf(values);
  const tsPlan = planTimestamps(timestamps, tsWords);
  const valuePlan = planValues(values, valueWords);
  const out = new Uint8Array(maxEncodedBytesReference(n));
  out[0] = CHUNK_FORMAT_VERSION;
  out[1] = valuePlan.mode;
  out[2] = tsPlan.mode;
  let at = 3;
  let rest = n;
  while (rest >= 0x80) {
    out[at++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  out[at++] = rest;
  const w = new BitWriter(out, at);
  if (n > 0) {
    encodeTimestamps(w, tsPlan, timestamps, tsWords);
    encodeValues(w, valuePlan, valueWords, n);
  }
  const bodyLen = Math.ceil(w.bitPos / 8);
  const sum = xxhash32Reference(out, bodyLen);
  out[bodyLen] = sum & 0xff;
  out[bodyLen + 1] = (sum >>> 8) & 0xff;
  out[bodyLen + 2] = (sum >>> 16) & 0xff;
  out[bodyLen + 3] = sum >>> 24;
  return out.slice(0, bodyLen + TRAILER_BYTES);
}

interface ParsedHeader {
  n: number;
  valueMode: number;
  tsMode: number;
  headerBytes: number;
}

function parseHeader(bytes: Uint8Array): ParsedHeader {
  const inLen = bytes.length;
  const limitBits = inLen * 8;
  if (inLen < 1) throw new DecodeFailure(E_TRUNCATED, SECTION_HEADER, 0, limitBits);
  if (bytes[0] !== CHUNK_FORMAT_VERSION) throw new DecodeFailure(E_VERSION, SECTION_HEADER, 0, limitBits);
  if (inLen < 3) throw new DecodeFailure(E_TRUNCATED, SECTION_HEADER, inLen * 8, limitBits);
  const valueMode = bytes[1]!;
  const tsMode = bytes[2]!;
  if (valueMode > VALUES_XOR) throw new DecodeFailure(E_CODEC, SECTION_HEADER, 8, limitBits);
  if (tsMode > TS_XOR) throw new DecodeFailure(E_CODEC, SECTION_HEADER, 16, limitBits);
  let n = 0;
  let shift = 0;
  let at = 3;
  for (;;) {
    if (at >= inLen) throw new DecodeFailure(E_TRUNCATED, SECTION_HEADER, at * 8, limitBits);
    if (at >= MAX_HEADER_BYTES) throw new DecodeFailure(E_CORRUPT, SECTION_HEADER, at * 8, limitBits);
    const b = bytes[at]!;
    n |= (b & 0x7f) << shift;
    at++;
    if (b < 0x80) {
      if (b === 0 && at > 4) throw new DecodeFailure(E_CORRUPT, SECTION_HEADER, (at - 1) * 8, limitBits);
      break;
    }
    shift += 7;
  }
  if (n > CHUNK_MAX_POINTS) throw new DecodeFailure(E_POINT_COUNT, SECTION_HEADER, 24, n);
  if ((n === 0) !== (valueMode === VALUES_NONE) || (n === 0) !== (tsMode === TS_NONE)) {
    throw new DecodeFailure(E_CODEC, SECTION_HEADER, 8, limitBits);
  }
  if (at + TRAILER_BYTES > inLen) {
    throw new DecodeFailure(E_TRUNCATED, SECTION_HEADER, inLen * 8, (at + TRAILER_BYTES) * 8);
  }
  if (inLen > maxEncodedBytesReference(n)) {
    throw new DecodeFailure(E_CORRUPT, SECTION_TRAILER, inLen * 8, maxEncodedBytesReference(n) * 8);
  }
  return { n, valueMode, tsMode, headerBytes: at };
}

function toDecodeError(e: unknown, bytes: Uint8Array): unknown {
  if (e instanceof DecodeFailure) {
    return new ChunkDecodeError(e.code, { section: e.section, bit: e.bit, limitBits: e.limitBits }, bytes);
  }
  return e;
}

/** The point count in the chunk's header; throws ChunkDecodeError if the header is invalid. */
export function chunkPointCountReference(bytes: Uint8Array): number {
  try {
    return parseHeader(bytes).n;
  } catch (e) {
    throw toDecodeError(e, bytes);
  }
}

/** Decodes like src/core/codec.ts decodeChunk, in plain TypeScript; same results, same error codes. */
export function decodeChunkReference(bytes: Uint8Array, cap = CHUNK_MAX_POINTS): {
  timestamps: Float64Array;
  values: Float64Array;
} {
  try {
    const { n, valueMode, tsMode, headerBytes } = parseHeader(bytes);
    if (n > cap) throw new DecodeFailure(E_CAPACITY, SECTION_HEADER, 24, cap);
    const bodyLen = bytes.length - TRAILER_BYTES;
    if (xxhash32Reference(bytes, bodyLen) !== readU32(bytes, bodyLen)) {
      throw new DecodeFailure(E_CHECKSUM, SECTION_TRAILER, bodyLen * 8, bytes.length * 8);
    }
    const timestamps = new Float64Array(n);
    const values = new Float64Array(n);
    const r = new BitReader(bytes, bodyLen, headerBytes * 8);
    if (n > 0) {
      decodeTimestamps(r, tsMode, n, timestamps);
      decodeValues(r, valueMode, n, values);
    }
    const end = r.pos;
    if (r.overrun) throw new DecodeFailure(E_TRUNCATED, SECTION_VALUES, end, bodyLen * 8);
    const padBits = (8 - (end & 7)) & 7;
    const padding = padBits === 0 ? 0 : r.small(padBits);
    if (padding !== 0 || Math.ceil(end / 8) !== bodyLen) {
      throw new DecodeFailure(E_CORRUPT, SECTION_TRAILER, end, bodyLen * 8);
    }
    return { timestamps, values };
  } catch (e) {
    throw toDecodeError(e, bytes);
  }
}

const TS_CODEC_NAMES = ['none', 'constDelta', 'intSequence', 'xor'] as const;
const VALUE_CODEC_NAMES = ['none', 'const', 'decimal', 'xor'] as const;

/** Decodes the chunk and reports which encodings it uses; throws ChunkDecodeError like decodeChunkReference. */
export function inspectChunkReference(bytes: Uint8Array): ChunkLayout {
  const { n, valueMode, tsMode } = (() => {
    try {
      return parseHeader(bytes);
    } catch (e) {
      throw toDecodeError(e, bytes);
    }
  })();
  const layout: ChunkLayout = { n, timestampCodec: TS_CODEC_NAMES[tsMode]!, valueCodec: VALUE_CODEC_NAMES[valueMode]! };
  layoutSink = layout;
  try {
    decodeChunkReference(bytes);
  } finally {
    layoutSink = undefined;
  }
  return layout;
}

/** Bits Gorilla XOR takes for a column (the Prometheus value encoding), for size comparisons. */
export function xorFloatsBitsReference(column: Float64Array): number {
  return xorFloatsCost(wordsOf(column), column.length);
}
