// The WASM Rice block decoder (assembly/rice_ints.ts, decodeRiceBlock) on sequences chosen to
// reach each branch of its 64-bit bit buffer: short codes (several values per refill), escaped
// quotients (slow path, which empties the buffer), a large k (codes longer than the bits left:
// refill and retry, or the slow path) and the input's last 8 bytes (the byte-by-byte window).
// Each case first checks that the encoder really chose Rice blocks for the values, then that the
// WASM decode is bit-exact and equal to the reference decode.
import { describe, expect, it } from 'vitest';
import { decodeChunk, encodeChunk } from '../../src/core/codec.js';
import { bits, expectDecimalRoundTrip, regularTimestamps } from './decimal_sequence_kit.js';
import { gaussian, mulberry32 } from '../../bench/data_shapes.js';

/** Integer walk with N(0, σ) steps and, with probability jumpProbability, jumps of up to ±jump. */
function walk(n: number, seed: number, sigma: number, jumpProbability: number, jump: number): Float64Array {
  const rnd = mulberry32(seed);
  const normal = gaussian(rnd);
  const values = new Float64Array(n);
  let v = 0;
  for (let i = 0; i < n; i++) {
    v += rnd() < jumpProbability ? Math.round((rnd() * 2 - 1) * jump) : Math.round(normal() * sigma);
    values[i] = v;
  }
  return values;
}

describe('Rice block decode (WASM bit buffer)', () => {
  it('decodes short codes around escaped quotients (1% jumps of up to 1e9)', () => {
    for (const seed of [1, 2, 3]) expectDecimalRoundTrip(walk(8640, seed, 20, 0.01, 1e9), 'rice');
  });

  it('decodes a large k, where codes outgrow the bits left in the buffer', () => {
    // Uniform integers of ±2^48 and ±2^40 in alternating runs of 256, at two decimals (random
    // mantissas, so Gorilla XOR loses): one quotient-Huffman k fits neither run, per-block Rice
    // does, with k in the forties and codes up to ~60 bits in the wide runs.
    const rnd = mulberry32(7);
    const ints = Float64Array.from({ length: 4096 }, (_, i) => Math.round((rnd() * 2 - 1) * (((i >> 8) & 1) === 0 ? 2 ** 48 : 2 ** 40)));
    expectDecimalRoundTrip(ints.map((x) => x / 100), 'rice');
  });

  it('decodes every length from 2 to 300 points (the payload end moves through the buffer)', () => {
    const values = walk(300, 5, 20, 0.01, 1e9);
    for (let n = 2; n <= values.length; n++) {
      const head = values.slice(0, n);
      const bytes = encodeChunk(regularTimestamps(n), head);
      expect(bits(decodeChunk(bytes).values), `n=${n}`).toEqual(bits(head));
    }
  });
});
