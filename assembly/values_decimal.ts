// Value section of a chunk: constant, decimal-scaled integers, or Gorilla XOR.
//
// Format: docs/format/chunk.md ("Value section"). Metrics usually carry few decimal digits, and
// XOR spends 7-8 bytes per point on them. If every value v of the chunk equals, bit for bit,
// f64(k) / 10^d for an integer k in [-2^50, 2^50) (the decoder computes exactly that: one
// correctly rounded division, 10^d being exact in a float64 for d <= 22), the chunk stores d and
// codes the integers k with rice_ints.ts, near the entropy of their steps. −0, NaN, ±Infinity,
// subnormals, MAX_VALUE and full-precision floats fail the check and go to XOR (xor_floats.ts).
//
// The smallest such d is found in one pass: d only ever grows (a value that is k/10^d is also
// (10k)/10^(d+1)), and a second pass re-verifies, at the final d, the values seen before its last
// increase, because the integer range can be exceeded at the larger d.

import { readBits, readerLenBytes, readerOverrun, readerPos, writeBits } from "./bitstream";
import { E_CORRUPT, E_TRUNCATED, fail } from "./codec_status";
import { INT_LIMIT } from "./int_residuals";
import {
  decodeIntSeq,
  encodeIntSeq,
  intSeqPlannedBias,
  intSeqPlannedCoder,
  intSeqPlannedK,
  intSeqPlannedOrder,
  intSeqPlannedTop,
  planIntSeq,
} from "./rice_ints";
import { decodeXorFloats, encodeXorFloats, xorFloatsCost } from "./xor_floats";

export const VALUES_NONE: i32 = 0;
export const VALUES_CONST: i32 = 1;
export const VALUES_DECIMAL: i32 = 2;
export const VALUES_XOR: i32 = 3;

/** Largest decimal scale tried: 10^17 is exact, and k < 2^50 leaves ~15 significant digits. */
export const MAX_DECIMAL_SCALE: i32 = 17;
/** Bits of the scale field. */
const SCALE_BITS: i32 = 5;

const POW10: StaticArray<f64> = [
  1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
];

let planMode: i32 = VALUES_NONE;
let planScale: i32 = 0;
let planOrder: i32 = 1;
let planCoder: i32 = 0;
let planK: i32 = 0;
let planTop: i32 = 0;
let planBias: i64 = 0;

/** True if v == f64(nearest(v * p)) / p bit for bit, with the integer in range. */
// @ts-ignore: decorator
@inline function fitsScale(v: f64, p: f64): bool {
  const k = nearest<f64>(v * p);
  if (!(k >= -<f64>INT_LIMIT && k < <f64>INT_LIMIT)) return false;
  return reinterpret<u64>(<f64><i64>k / p) == reinterpret<u64>(v);
}

/** Smallest decimal scale of the n values, or -1 if there is none. */
export function detectDecimalScale(valPtr: usize, n: i32): i32 {
  let d = 0;
  let p = unchecked(POW10[0]);
  // Values from the last increase of d on were checked at the final d; only earlier ones are re-checked.
  let checkedFrom = 0;
  for (let i = 0; i < n; i++) {
    const v = load<f64>(valPtr + (<usize>i << 3));
    if (fitsScale(v, p)) continue;
    do {
      if (++d > MAX_DECIMAL_SCALE) return -1;
      p = unchecked(POW10[d]);
    } while (!fitsScale(v, p));
    checkedFrom = i;
  }
  for (let i = 0; i < checkedFrom; i++) {
    if (!fitsScale(load<f64>(valPtr + (<usize>i << 3)), p)) return -1;
  }
  return d;
}

/** Chooses the value mode for n points; returns it. */
export function planValues(valPtr: usize, n: i32): i32 {
  planScale = 0;
  planOrder = 1;
  if (n == 0) return (planMode = VALUES_NONE);
  const first = load<u64>(valPtr);
  let same = true;
  for (let i = 1; i < n; i++) {
    if (load<u64>(valPtr + (<usize>i << 3)) != first) {
      same = false;
      break;
    }
  }
  if (same) return (planMode = VALUES_CONST);
  const d = detectDecimalScale(valPtr, n);
  if (d < 0) return (planMode = VALUES_XOR);
  const costXor = xorFloatsCost(valPtr, n);
  const p = unchecked(POW10[d]);
  const cost = planIntSeq(valPtr, n, p);
  planScale = d;
  planOrder = intSeqPlannedOrder();
  planCoder = intSeqPlannedCoder();
  planK = intSeqPlannedK();
  planTop = intSeqPlannedTop();
  planBias = intSeqPlannedBias();
  if (costXor < SCALE_BITS + cost) return (planMode = VALUES_XOR);
  return (planMode = VALUES_DECIMAL);
}

/** Writes the value section in the mode planValues chose. */
export function encodeValues(valPtr: usize, n: i32): void {
  if (planMode == VALUES_CONST) {
    writeBits(load<u64>(valPtr), 64);
  } else if (planMode == VALUES_DECIMAL) {
    writeBits(<u64>planScale, SCALE_BITS);
    encodeIntSeq(valPtr, n, unchecked(POW10[planScale]), planOrder, planCoder, planBias, planK, planTop);
  } else if (planMode == VALUES_XOR) {
    encodeXorFloats(valPtr, n);
  }
}

/** Reads the value section of `mode` for n >= 1 points into out; 0 or a negative status. */
export function decodeValues(mode: i32, n: i32, outPtr: usize, section: i32): i32 {
  if (mode == VALUES_DECIMAL) {
    const at = readerPos();
    const d = <i32>readBits(SCALE_BITS);
    if (d > MAX_DECIMAL_SCALE) return fail(E_CORRUPT, section, <f64>at, <f64>(readerLenBytes() << 3));
    return decodeIntSeq(n, outPtr, unchecked(POW10[d]), section);
  }
  if (mode == VALUES_XOR) return decodeXorFloats(n, outPtr, section);
  // VALUES_CONST
  const bits = readBits(64);
  if (readerOverrun()) return fail(E_TRUNCATED, section, <f64>readerPos(), <f64>(readerLenBytes() << 3));
  const end = outPtr + (<usize>n << 3);
  for (let out = outPtr; out < end; out += 8) store<u64>(out, bits);
  return 0;
}
