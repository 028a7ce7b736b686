// Integer residuals shared by the integer sequence coders (rice_ints.ts, quotient_huffman.ts):
// the integers a sequence holds, their order-1 or order-2 differences, zigzagged.
//
// Format: docs/format/chunk.md ("Integer sequence"). Integers are kept within
// [-INT_LIMIT, INT_LIMIT) so that every intermediate (differences below 2^52, zigzag below 2^53)
// is exact in a float64: the TypeScript reference (src/core/reference/) computes with
// doubles and must produce identical bytes, and the decoders reject anything the encoder could
// not have produced, so both decoders fail on the same inputs.

import { zigzag } from "./bitstream";

/** Integers coded as sequences lie in [-INT_LIMIT, INT_LIMIT). */
export const INT_LIMIT: i64 = 1 << 50;
/** Largest width of a varbits field or escaped residual the decoders accept (values below 2^53). */
export const MAX_FIELD_WIDTH: i32 = 53;
/** Residuals produced (and, in the decoders, range-checked) per step. */
export const RESIDUAL_BLOCK_LEN: i32 = 64;

/** Zigzag residuals of the block being encoded; static so the encoders allocate nothing. */
export const residualScratch: usize = memory.data(RESIDUAL_BLOCK_LEN * 8, 16);

/** The integer the encoder codes for element `i`: nearest(x * scale). Scale 1 for timestamps. */
// @ts-ignore: decorator
@inline export function intAt(ptr: usize, i: i32, scale: f64): i64 {
  return <i64>nearest<f64>(load<f64>(ptr + (<usize>i << 3)) * scale);
}

// @ts-ignore: decorator
@inline export function inIntRange(x: i64): bool {
  return <u64>(x + INT_LIMIT) < <u64>(INT_LIMIT << 1);
}

// @ts-ignore: decorator
@inline export function residualAt(j: i32): u64 {
  return load<u64>(residualScratch + (<usize>j << 3));
}

/**
 * Fills residualScratch with the zigzag residuals of elements [first, first + cnt) for `order`:
 * order 1, x_i - x_{i-1} - bias (bias: the sequence's typical step, e.g. the scrape interval);
 * order 2, (x_i - x_{i-1}) - (x_{i-1} - x_{i-2}) (bias unused, 0).
 */
export function fillResiduals(ptr: usize, scale: f64, order: i32, first: i32, cnt: i32, bias: i64): void {
  if (order == 1) {
    let prev = intAt(ptr, first - 1, scale);
    for (let j = 0; j < cnt; j++) {
      const x = intAt(ptr, first + j, scale);
      store<u64>(residualScratch + (<usize>j << 3), zigzag(x - prev - bias));
      prev = x;
    }
  } else {
    let prev2 = intAt(ptr, first - 2, scale);
    let prev = intAt(ptr, first - 1, scale);
    for (let j = 0; j < cnt; j++) {
      const x = intAt(ptr, first + j, scale);
      store<u64>(residualScratch + (<usize>j << 3), zigzag(x - prev - (prev - prev2)));
      prev2 = prev;
      prev = x;
    }
  }
}

/**
 * The order-1 bias of a sequence (m >= 2): the lower median of its first up to 64 differences.
 * A median, not a mean, so that a counter reset or a gap does not move it.
 */
export function chooseBias(ptr: usize, m: i32, scale: f64): i64 {
  const cnt = min(RESIDUAL_BLOCK_LEN, m - 1);
  let prev = intAt(ptr, 0, scale);
  for (let j = 0; j < cnt; j++) {
    const x = intAt(ptr, j + 1, scale);
    // Insertion sort of the differences into residualScratch (as i64).
    const d = x - prev;
    prev = x;
    let at = j;
    while (at > 0 && load<i64>(residualScratch + (<usize>(at - 1) << 3)) > d) {
      store<i64>(residualScratch + (<usize>at << 3), load<i64>(residualScratch + (<usize>(at - 1) << 3)));
      at--;
    }
    store<i64>(residualScratch + (<usize>at << 3), d);
  }
  return load<i64>(residualScratch + (<usize>((cnt - 1) >> 1) << 3));
}

// Decoder state carried from block to block: the last integer and the difference added to it
// per zero residual (the bias for order 1, the last difference for order 2).
let seqX: i64 = 0;
let seqDelta: i64 = 0;

// @ts-ignore: decorator
@inline export function sequenceX(): i64 {
  return seqX;
}
// @ts-ignore: decorator
@inline export function sequenceDelta(): i64 {
  return seqDelta;
}
// @ts-ignore: decorator
@inline export function setSequenceState(x: i64, delta: i64): void {
  seqX = x;
  seqDelta = delta;
}
