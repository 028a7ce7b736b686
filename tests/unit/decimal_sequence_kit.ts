// What the WASM value-decoder tests share (quotient_huffman_decode, rice_block_decode): a chunk
// of regular timestamps whose values the encoder must code as a decimal sequence with the
// coder under test, decoded by WASM and by the reference, compared bit for bit.
import { expect } from 'vitest';
import { decodeChunk, encodeChunk } from '../../src/core/codec.js';
import { decodeChunkReference, encodeChunkReference, inspectChunkReference } from '../../src/core/reference/chunk.js';

const T = 1_767_225_600_000;

/** A column's float64s as their bit patterns (toEqual on them tells -0 from 0 and NaNs apart). */
export function bits(column: Float64Array): bigint[] {
  return Array.from(new BigUint64Array(column.buffer, column.byteOffset, column.length));
}

export function regularTimestamps(n: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => T + i * 10_000);
}

/** Checks the chunk codes its values as a decimal sequence with `coder`, then decodes it both ways. */
export function expectDecimalRoundTrip(values: Float64Array, coder: 'huffman' | 'rice'): void {
  const timestamps = regularTimestamps(values.length);
  const bytes = encodeChunk(timestamps, values);
  expect(Buffer.from(bytes).equals(Buffer.from(encodeChunkReference(timestamps, values)))).toBe(true);
  const layout = inspectChunkReference(bytes);
  expect(layout.valueCodec).toBe('decimal');
  expect(layout.valueSequence?.coder).toBe(coder);
  const wasm = decodeChunk(bytes);
  expect(bits(wasm.values)).toEqual(bits(values));
  expect(bits(wasm.timestamps)).toEqual(bits(timestamps));
  expect(bits(wasm.values)).toEqual(bits(decodeChunkReference(bytes).values));
}
