/**
 * Reference for assembly/timestamps.ts: the timestamp section of a chunk (docs/format/chunk.md,
 * "Timestamp section"). Mode choice, cheapest first: TS_CONST_DELTA (every delta equal: t0 and
 * the delta), TS_INT_SEQUENCE (integer milliseconds in range: an integer sequence, rice_ints.ts)
 * unless XOR is smaller, TS_XOR (anything else: fractional, −0, out of range, NaN; lossless).
 */
import { E_CORRUPT, E_TRUNCATED, SECTION_TIMESTAMPS } from '../codec_status.js';
import { BitReader, BitWriter, unzigzag, zigzag } from './bitstream.js';
import { DecodeFailure } from './decode_failure.js';
import { inIntRange, INT_LIMIT, MAX_FIELD_WIDTH } from './int_residuals.js';
import { decodeIntSeq, encodeIntSeq, planIntSeq, type IntSeqPlan, type SequenceLayout } from './rice_ints.js';
import { decodeXorFloats, encodeXorFloats, xorFloatsCost } from './xor_floats.js';

export const TS_NONE = 0;
export const TS_CONST_DELTA = 1;
export const TS_INT_SEQUENCE = 2;
export const TS_XOR = 3;

/** What inspectChunkReference learns from the timestamp section. */
export interface TimestampLayout {
  timestampSequence?: SequenceLayout;
}

export interface TimestampPlan {
  mode: number;
  seq: IntSeqPlan | undefined;
}

function isCodedInteger(t: number): boolean {
  // Object.is rejects −0, which has no integer form; t itself is then an integer in range.
  return t >= -INT_LIMIT && t < INT_LIMIT && Object.is(Math.trunc(t) + 0, t);
}

export function planTimestamps(ts: Float64Array, tsWords: Uint32Array): TimestampPlan {
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

export function encodeTimestamps(w: BitWriter, plan: TimestampPlan, ts: Float64Array, tsWords: Uint32Array): void {
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

export function decodeTimestamps(r: BitReader, mode: number, n: number, out: Float64Array, layout?: TimestampLayout): void {
  const section = SECTION_TIMESTAMPS;
  if (mode === TS_INT_SEQUENCE) {
    const onLayout = layout === undefined ? undefined : (seq: SequenceLayout): void => { layout.timestampSequence = seq; };
    return decodeIntSeq(r, n, out, 1, section, onLayout);
  }
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
