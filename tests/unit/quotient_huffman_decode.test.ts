// The WASM quotient-Huffman residual decoder (assembly/quotient_huffman.ts, decodeHuffmanGroup)
// on sequences chosen to reach each branch of its 64-bit bit buffer: one-bit codes (many values
// per refill), escaped residuals (slow path, which empties the buffer), k > 45 (the longest code,
// HUFF_MAX_LEN + k bits, outgrows the 57 bits a refill guarantees, so the buffer is refilled for
// every value) and the input's last 8 bytes (the byte-by-byte window). Each case first checks, through the plain-TS planner, that the encoder
// really chose quotient-Huffman with the k and top the case is about, then that the WASM decode
// is bit-exact and equal to the reference decode.
import { describe, expect, it } from 'vitest';
import { decodeChunk, encodeChunk } from '../../src/core/codec.js';
import { bits, expectDecimalRoundTrip, regularTimestamps } from './decimal_sequence_kit.js';
import { HUFF_MAX_LEN } from '../../src/core/reference/quotient_huffman.js';
import { planIntSeq } from '../../src/core/reference/rice_ints.js';
import { gaussian, mulberry32 } from '../../bench/data_shapes.js';

const CODER_HUFFMAN = 1;

describe('quotient-Huffman decode (WASM bit buffer)', () => {
  it('decodes one-bit codes (k = 0): a dozen values per buffer refill', () => {
    const rnd = mulberry32(3);
    const values = new Float64Array(8640);
    let v = 1000;
    for (let i = 0; i < values.length; i++) values[i] = v += rnd() < 0.5 ? 1 : -1;
    const plan = planIntSeq(values);
    expect([plan.coder, plan.huffK]).toEqual([CODER_HUFFMAN, 0]);
    expectDecimalRoundTrip(values, 'huffman');
  });

  it('decodes escaped residuals (top = 63) between short codes', () => {
    for (const [seed, jumpProbability, jump] of [[11, 0.001, 1e4], [12, 0.002, 1e5], [13, 0.0005, 1e6]] as const) {
      const rnd = mulberry32(seed);
      const normal = gaussian(rnd);
      const values = new Float64Array(8640);
      let v = 0;
      for (let i = 0; i < values.length; i++) {
        v += rnd() < jumpProbability ? Math.round((rnd() * 2 - 1) * jump) : Math.round(normal() * 20);
        values[i] = v;
      }
      const plan = planIntSeq(values);
      expect(plan.coder).toBe(CODER_HUFFMAN);
      expect(plan.huffTop).toBe(63);
      expectDecimalRoundTrip(values, 'huffman');
    }
  });

  it('decodes k > 45, where the longest code outgrows the 57 bits a refill guarantees', () => {
    // Two decimals, so the random mantissas make Gorilla XOR dearer than the decimal coder.
    const rnd = mulberry32(7);
    const span = 2 ** 48;
    const ints = Float64Array.from({ length: 2000 }, () => Math.round((rnd() * 2 - 1) * span));
    const plan = planIntSeq(ints);
    expect(plan.coder).toBe(CODER_HUFFMAN);
    expect(HUFF_MAX_LEN + plan.huffK).toBeGreaterThan(57);
    expectDecimalRoundTrip(ints.map((x) => x / 100), 'huffman');
  });

  it('decodes every length from 2 to 300 points of a 2-decimal walk (the payload end moves through the buffer)', () => {
    const rnd = mulberry32(5);
    const normal = gaussian(rnd);
    const walk = new Float64Array(300);
    let v = 50;
    for (let i = 0; i < walk.length; i++) walk[i] = Math.round((v += normal()) * 100) / 100;
    for (let n = 2; n <= walk.length; n++) {
      const values = walk.subarray(0, n).slice();
      const timestamps = regularTimestamps(n);
      const bytes = encodeChunk(timestamps, values);
      expect(bits(decodeChunk(bytes).values), `n=${n}`).toEqual(bits(values));
    }
  });
});
