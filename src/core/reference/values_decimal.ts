/**
 * Reference for assembly/values_decimal.ts: the value section of a chunk, constant,
 * decimal-scaled integers, or Gorilla XOR (docs/format/chunk.md, "Value section").
 *
 * Decimal: if every value v equals, bit for bit, f64(k) / 10^d for an integer k in
 * [-2^50, 2^50) (one correctly rounded division, as the decoder computes), the chunk stores d
 * and codes the integers k as a sequence (rice_ints.ts); −0, NaN, ±Infinity, subnormals and
 * full-precision floats fail the check and go to XOR (xor_floats.ts).
 */
import { E_CORRUPT, E_TRUNCATED, SECTION_VALUES } from '../codec_status.js';
import { BitReader, BitWriter } from './bitstream.js';
import { DecodeFailure } from './decode_failure.js';
import { INT_LIMIT } from './int_residuals.js';
import { decodeIntSeq, encodeIntSeq, planIntSeq, type IntSeqPlan, type SequenceLayout } from './rice_ints.js';
import { decodeXorFloats, encodeXorFloats, xorFloatsCost } from './xor_floats.js';

export const VALUES_NONE = 0;
export const VALUES_CONST = 1;
export const VALUES_DECIMAL = 2;
export const VALUES_XOR = 3;
export const MAX_DECIMAL_SCALE = 17;
const SCALE_BITS = 5;

const POW10: readonly number[] = Array.from({ length: MAX_DECIMAL_SCALE + 1 }, (_, d) => Number(`1e${d}`));

/** What inspectChunkReference learns from the value section. */
export interface ValueLayout {
  decimalScale?: number;
  valueSequence?: SequenceLayout;
}

export interface ValuePlan {
  mode: number;
  scale: number;
  seq: IntSeqPlan | undefined;
  ints: Float64Array;
}

/** Round half to even, as WebAssembly's f64.nearest; never returns −0. */
function nearest(x: number): number {
  let r = Math.round(x);
  if (r - x === 0.5 && r % 2 !== 0) r -= 1;
  return r + 0;
}

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

export function planValues(values: Float64Array, words: Uint32Array): ValuePlan {
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

export function encodeValues(w: BitWriter, plan: ValuePlan, words: Uint32Array, n: number): void {
  if (plan.mode === VALUES_CONST) {
    w.word(words[1]!, words[0]!, 64);
  } else if (plan.mode === VALUES_DECIMAL) {
    w.small(plan.scale, SCALE_BITS);
    encodeIntSeq(w, plan.ints, plan.seq!);
  } else if (plan.mode === VALUES_XOR) {
    encodeXorFloats(w, words, n);
  }
}

export function decodeValues(r: BitReader, mode: number, n: number, out: Float64Array, layout?: ValueLayout): void {
  const section = SECTION_VALUES;
  const words = new Uint32Array(out.buffer, out.byteOffset, 2 * n);
  if (mode === VALUES_DECIMAL) {
    const at = r.pos;
    const d = r.small(SCALE_BITS);
    if (d > MAX_DECIMAL_SCALE) throw new DecodeFailure(E_CORRUPT, section, at, r.lenBytes * 8);
    let onLayout: ((seq: SequenceLayout) => void) | undefined;
    if (layout !== undefined) {
      layout.decimalScale = d;
      onLayout = (seq) => { layout.valueSequence = seq; };
    }
    return decodeIntSeq(r, n, out, POW10[d]!, section, onLayout);
  }
  if (mode === VALUES_XOR) return decodeXorFloats(r, n, words, section);
  const [hi, lo] = r.word(64);
  if (r.overrun) throw new DecodeFailure(E_TRUNCATED, section, r.pos, r.lenBytes * 8);
  for (let i = 0; i < n; i++) {
    words[2 * i] = lo;
    words[2 * i + 1] = hi;
  }
}
