// The WASM chunk codec (assembly/chunk.ts via src/core/codec.ts) against the plain-TS reference
// (src/core/reference/) on seeded random inputs: identical bytes, identical decodes.
// Inputs are built from compact descriptions (seed, n, timestamp kind, value kind, NaN mask) in
// the manner of Prometheus' FuzzXORChunk, so a failure shrinks to a small reproducible case.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CODEC_CHUNK_MAX_POINTS, decodeChunk, encodeChunk } from '../../src/core/codec.js';
import { decodeChunkReference, encodeChunkReference } from '../../src/core/reference/chunk.js';
import { gaussian, mulberry32, SHAPES } from '../../bench/data_shapes.js';

const T = 1_767_225_600_000;

function bits(column: Float64Array): bigint[] {
  return Array.from(new BigUint64Array(column.buffer, column.byteOffset, column.length));
}

const TS_KINDS = ['regular', 'jitter', 'gaps', 'random', 'unsorted', 'fractional', 'huge'] as const;
const VALUE_KINDS = ['decimal', 'integer', 'counter', 'float', 'constant', 'bursty', 'tiny', 'rawBits'] as const;

interface Case {
  seed: number;
  n: number;
  tsKind: (typeof TS_KINDS)[number];
  valueKind: (typeof VALUE_KINDS)[number];
  decimals: number;
  nanMask: number;
}

function build(c: Case): { timestamps: Float64Array; values: Float64Array } {
  const rnd = mulberry32(c.seed);
  const normal = gaussian(rnd);
  const timestamps = new Float64Array(c.n);
  const values = new Float64Array(c.n);
  let t = T + Math.floor(rnd() * 1e6);
  for (let i = 0; i < c.n; i++) {
    switch (c.tsKind) {
      case 'regular': t += 10_000; break;
      case 'jitter': t = T + i * 15_000 + Math.round(rnd() * 200 - 100); break;
      case 'gaps': t += rnd() < 0.01 ? 3_600_000 : 10_000; break;
      case 'random': t += 1 + Math.floor(rnd() * 1e5); break;
      case 'unsorted': t = T + Math.floor(rnd() * 1e7); break;
      case 'fractional': t += 0.25 + rnd(); break;
      case 'huge': t = rnd() < 0.5 ? 2 ** 50 + i : -(2 ** 51) * rnd(); break;
    }
    timestamps[i] = t;
  }
  const scale = 10 ** c.decimals;
  let state = rnd() * 100;
  for (let i = 0; i < c.n; i++) {
    let v: number;
    switch (c.valueKind) {
      case 'decimal': state += normal(); v = Math.round(state * scale) / scale; break;
      case 'integer': v = Math.round(state += normal() * 3); break;
      case 'counter': v = state = Math.floor(state) + (rnd() < 0.001 ? -state : Math.floor(rnd() * 50)); break;
      case 'float': v = state += normal(); break;
      case 'constant': v = 17.25; break;
      case 'bursty': v = Math.round((rnd() < 0.05 ? rnd() * 1e9 : rnd() * 10) * scale) / scale; break;
      case 'tiny': v = Math.round(normal() * 1e3) / 1e17; break;
      case 'rawBits': {
        const word = new Uint32Array([Math.floor(rnd() * 2 ** 32), Math.floor(rnd() * 2 ** 32)]);
        v = new Float64Array(word.buffer)[0]!;
        break;
      }
    }
    // The NaN mask marks points as stale (NaN) in a repeating 8-point pattern.
    if ((c.nanMask >>> (i & 7)) & 1) v = NaN;
    values[i] = v;
  }
  return { timestamps, values };
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
  n: fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 5, max: 300 }), fc.integer({ min: 301, max: 3000 })),
  tsKind: fc.constantFrom(...TS_KINDS),
  valueKind: fc.constantFrom(...VALUE_KINDS),
  decimals: fc.integer({ min: 0, max: 6 }),
  nanMask: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 255 })),
});

describe('WASM codec === TS reference', () => {
  it('produces identical bytes and identical bit-exact decodes on random inputs', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { timestamps, values } = build(c);
        const wasmBytes = encodeChunk(timestamps, values);
        const referenceBytes = encodeChunkReference(timestamps, values);
        expect(Buffer.from(wasmBytes).toString('hex')).toBe(Buffer.from(referenceBytes).toString('hex'));
        const a = decodeChunk(wasmBytes);
        const b = decodeChunkReference(wasmBytes);
        expect(bits(a.timestamps)).toEqual(bits(timestamps));
        expect(bits(a.values)).toEqual(bits(values));
        expect(bits(b.timestamps)).toEqual(bits(timestamps));
        expect(bits(b.values)).toEqual(bits(values));
      }),
      { numRuns: Number(process.env.EMMS_FUZZ_RUNS ?? 300), seed: Number(process.env.EMMS_FUZZ_SEED ?? 20260101) },
    );
  });

  it('agrees on every named shape at 8,640 points and at CODEC_CHUNK_MAX_POINTS', () => {
    for (const [name, generate] of Object.entries(SHAPES)) {
      for (const [n, seed] of [[8640, 1], [8640, 2], [CODEC_CHUNK_MAX_POINTS, 3]] as const) {
        const { timestamps, values } = generate(n, seed);
        const wasmBytes = encodeChunk(timestamps, values);
        expect(Buffer.from(wasmBytes).equals(Buffer.from(encodeChunkReference(timestamps, values))), name).toBe(true);
      }
    }
  });
});
