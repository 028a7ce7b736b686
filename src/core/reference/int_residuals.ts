/**
 * Reference for assembly/int_residuals.ts: the integers an integer sequence holds, their order-1
 * (minus a bias) or order-2 differences, zigzagged, and the range checks that make a decoder
 * refuse anything the encoder could not have produced (docs/format/chunk.md, "Integer
 * sequence" and "Common fields").
 *
 * Integers are kept within [-INT_LIMIT, INT_LIMIT) so that every intermediate (differences
 * below 2^52, zigzag below 2^53) is exact in a float64: that is what lets this reference
 * compute with doubles and still produce the kernels' bytes.
 */
import { unzigzag, zigzag } from './bitstream.js';

/** Integers coded as sequences lie in [-INT_LIMIT, INT_LIMIT). */
export const INT_LIMIT = 2 ** 50;
/** Largest width of a varbits field or escaped residual the decoders accept (values below 2^53). */
export const MAX_FIELD_WIDTH = 53;
/** Residuals per Rice block, and per range-checked group of quotient-Huffman residuals. */
export const RESIDUAL_BLOCK_LEN = 64;

export function inIntRange(x: number): boolean {
  return x >= -INT_LIMIT && x < INT_LIMIT;
}

/** Zigzag residuals of elements [first, first + cnt): order 1 minus the bias, or order 2. */
export function fillBlock(ints: Float64Array, order: number, bias: number, first: number, cnt: number, block: Float64Array): void {
  for (let j = 0; j < cnt; j++) {
    const i = first + j;
    const r = order === 1 ? ints[i]! - ints[i - 1]! - bias : ints[i]! - ints[i - 1]! - (ints[i - 1]! - ints[i - 2]!);
    block[j] = zigzag(r);
  }
}

/** Lower median of the first up to 64 differences (assembly/int_residuals.ts chooseBias). */
export function chooseBias(ints: Float64Array): number {
  const cnt = Math.min(RESIDUAL_BLOCK_LEN, ints.length - 1);
  const deltas: number[] = [];
  for (let j = 0; j < cnt; j++) deltas.push(ints[j + 1]! - ints[j]!);
  deltas.sort((a, b) => a - b);
  return deltas[(cnt - 1) >> 1]!;
}

/** All zigzag residuals of elements [order, m). */
export function residualsOf(ints: Float64Array, order: number, bias: number): Float64Array {
  const m = ints.length;
  const out = new Float64Array(Math.max(0, m - order));
  if (out.length > 0) fillBlock(ints, order, bias, order, out.length, out);
  return out;
}

/** Running integer and difference of a sequence being decoded, with the format's range checks. */
export class SequenceState {
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
