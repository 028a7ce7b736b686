// Timestamp section of a chunk: constant delta, delta-of-delta Rice, or raw float64 bits via XOR.
//
// Format: docs/format/chunk.md ("Timestamp section"). Mode choice, cheapest first:
//   TS_CONST_DELTA  every delta equal (the normal scrape): t0 and the delta, ~0 bits/point
//   TS_INT_SEQUENCE integer ms in [-2^50, 2^50): an integer sequence (rice_ints.ts), either
//                   differences minus a bias (the median step: a ±100 ms jittered 15 s scrape
//                   then costs ~8.4 bits/point) or delta-of-delta (steady acceleration, and
//                   regular stretches with gaps), coded by adaptive Rice blocks or quotient-Huffman
//   TS_XOR          anything else (fractional, −0, out of range, NaN): raw bits, lossless
// Integer modes are valid for unsorted and duplicate timestamps too; the storage layer decides
// ordering, the codec only promises bit-exact round trips.

import { readVarBits, readerLenBytes, readerOverrun, readerPos, unzigzag, writeVarBits, zigzag } from "./bitstream";
import { E_CORRUPT, E_TRUNCATED, fail } from "./codec_status";
import { inIntRange, INT_LIMIT, MAX_FIELD_WIDTH } from "./int_residuals";
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

export const TS_NONE: i32 = 0;
export const TS_CONST_DELTA: i32 = 1;
export const TS_INT_SEQUENCE: i32 = 2;
export const TS_XOR: i32 = 3;

let planMode: i32 = TS_NONE;
let planOrder: i32 = 1;
let planCoder: i32 = 0;
let planK: i32 = 0;
let planTop: i32 = 0;
let planBias: i64 = 0;

/** True if `t` is an integer in [-INT_LIMIT, INT_LIMIT) whose float64 bits come back from i64 (so not −0). */
// @ts-ignore: decorator
@inline export function isCodedInteger(t: f64): bool {
  if (!(t >= -<f64>INT_LIMIT && t < <f64>INT_LIMIT)) return false;
  return reinterpret<u64>(<f64><i64>t) == reinterpret<u64>(t);
}

/** Chooses the timestamp mode for n points; returns it (the order is kept for encodeTimestamps). */
export function planTimestamps(tsPtr: usize, n: i32): i32 {
  planOrder = 1;
  if (n == 0) return (planMode = TS_NONE);
  let integral = true;
  let constDelta = true;
  const t0 = load<f64>(tsPtr);
  let prev = t0;
  let delta: f64 = 0;
  for (let i = 0; i < n; i++) {
    const t = load<f64>(tsPtr + (<usize>i << 3));
    if (!isCodedInteger(t)) {
      integral = false;
      break;
    }
    if (i == 1) delta = t - prev;
    else if (i > 1 && t - prev != delta) constDelta = false;
    prev = t;
  }
  if (!integral) return (planMode = TS_XOR);
  if (constDelta) return (planMode = TS_CONST_DELTA);
  const cost = planIntSeq(tsPtr, n, 1.0);
  planOrder = intSeqPlannedOrder();
  planCoder = intSeqPlannedCoder();
  planK = intSeqPlannedK();
  planTop = intSeqPlannedTop();
  planBias = intSeqPlannedBias();
  if (xorFloatsCost(tsPtr, n) < cost) return (planMode = TS_XOR);
  return (planMode = TS_INT_SEQUENCE);
}

/** Writes the timestamp section in the mode planTimestamps chose. */
export function encodeTimestamps(tsPtr: usize, n: i32): void {
  if (planMode == TS_CONST_DELTA) {
    const t0 = <i64>load<f64>(tsPtr);
    writeVarBits(zigzag(t0));
    if (n >= 2) writeVarBits(zigzag(<i64>load<f64>(tsPtr + 8) - t0));
  } else if (planMode == TS_INT_SEQUENCE) {
    encodeIntSeq(tsPtr, n, 1.0, planOrder, planCoder, planBias, planK, planTop);
  } else if (planMode == TS_XOR) {
    encodeXorFloats(tsPtr, n);
  }
}

/** Reads the timestamp section of `mode` for n >= 1 points into out; 0 or a negative status. */
export function decodeTimestamps(mode: i32, n: i32, outPtr: usize, section: i32): i32 {
  if (mode == TS_INT_SEQUENCE) return decodeIntSeq(n, outPtr, 1.0, section);
  if (mode == TS_XOR) return decodeXorFloats(n, outPtr, section);
  // TS_CONST_DELTA
  const limitBits = <f64>(readerLenBytes() << 3);
  const at = readerPos();
  const t0u = readVarBits(MAX_FIELD_WIDTH);
  const t0 = unzigzag(t0u);
  if (t0u == u64.MAX_VALUE || !inIntRange(t0)) return fail(E_CORRUPT, section, <f64>at, limitBits);
  let delta: i64 = 0;
  if (n >= 2) {
    const du = readVarBits(MAX_FIELD_WIDTH);
    delta = unzigzag(du);
    // Check the last timestamp in float64 (exactly as the TS reference does) before any i64 product.
    const last = <f64>t0 + <f64>delta * <f64>(n - 1);
    if (du == u64.MAX_VALUE || !(last >= -<f64>INT_LIMIT && last < <f64>INT_LIMIT)) {
      return fail(E_CORRUPT, section, <f64>at, limitBits);
    }
  }
  if (readerOverrun()) return fail(E_TRUNCATED, section, <f64>readerPos(), limitBits);
  let t = t0;
  const end = outPtr + (<usize>n << 3);
  for (let out = outPtr; out < end; out += 8) {
    store<f64>(out, <f64>t);
    t += delta;
  }
  return 0;
}
