/**
 * Reference for assembly/xor_floats.ts: Gorilla XOR coding of raw float64 bit patterns, the
 * lossless fallback for values and timestamps (docs/format/chunk.md, "XOR floats").
 *
 * Provenance: Pelkonen et al., "Gorilla: A Fast, Scalable, In-Memory Time Series Database"
 * (VLDB 2015), section 4.1.2, in the variant of Prometheus tsdb/chunkenc/xor.go: leading zeros
 * capped at 31 in 5 bits, 64 significant bits written as 0 in 6 bits. A float64 is handled as
 * two uint32 words (hi, lo), columns as little-endian word pairs.
 */
import { E_CORRUPT, E_TRUNCATED } from '../codec_status.js';
import { BitReader, BitWriter } from './bitstream.js';
import { DecodeFailure } from './decode_failure.js';

function clz64(hi: number, lo: number): number {
  return hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo);
}

function ctz32(x: number): number {
  return 31 - Math.clz32(x & -x);
}

function ctz64(hi: number, lo: number): number {
  return lo !== 0 ? ctz32(lo) : 32 + ctz32(hi);
}

/** Little-endian uint32 view of a float64 column (every supported platform is little-endian). */
export function wordsOf(column: Float64Array): Uint32Array {
  return new Uint32Array(column.buffer, column.byteOffset, column.length * 2);
}

/** Exact size in bits of encodeXorFloats(words, n). */
export function xorFloatsCost(words: Uint32Array, n: number): number {
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

/** Bits Gorilla XOR takes for a column (the Prometheus value encoding), for size comparisons. */
export function xorFloatsBitsReference(column: Float64Array): number {
  return xorFloatsCost(wordsOf(column), column.length);
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

export function encodeXorFloats(w: BitWriter, words: Uint32Array, n: number): void {
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

export function decodeXorFloats(r: BitReader, n: number, out: Uint32Array, section: number): void {
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
