// Chunk codec (src/core/codec.ts over assembly/chunk.ts): golden bytes, bit-exact round trips over
// every named data shape and the special floats, sizes, and the errors of the API.
// Format: docs/format/chunk.md. WASM-vs-reference equivalence: codec_equivalence.test.ts; fuzzing:
// codec_fuzz.test.ts.
import { describe, expect, it } from 'vitest';
import {
  CHUNK_FORMAT_VERSION,
  CODEC_CHUNK_MAX_POINTS,
  ChunkDecodeError,
  chunkPointCount,
  decodeChunk,
  decodeChunkIntoWasm,
  encodeChunk,
  maxEncodedBytes,
  type CodecExports,
} from '../../src/core/codec.js';
import { decodeChunkReference, encodeChunkReference, inspectChunkReference } from '../../src/core/reference/chunk.js';
import { xxhash32Reference } from '../../src/core/reference/chunk_checksum.js';
import { detectDecimalScaleReference } from '../../src/core/reference/values_decimal.js';
import { E_CAPACITY, E_CHECKSUM, E_CODEC, E_CORRUPT, E_POINT_COUNT, E_TRUNCATED, E_VERSION } from '../../src/core/codec_status.js';
import { wasmInstance } from '../../src/core/wasm_instance.js';
import { SHAPES, specialFloatValues, walk2dpShape } from '../../bench/data_shapes.js';

const T = 1_767_225_600_000;
const HUFFMAN_WALK = [
  5.1, 5.2, 5.1, 5.2, 5.1, 5, 4.9, 5, 5.1, 5.2, 5.1, 5.2, 5.3, 5.2, 5.1, 5.2,
  5.1, 5.2, 5.3, 5.4, 5.3, 5.2, 5.3, 5.2, 5.3, 5.4, 5.3, 5.2, 5.1, 5.2, 5.3, 5.2,
];

/** Bit patterns of a float64 column, so NaN payloads and −0 compare exactly. */
function bits(column: Float64Array): bigint[] {
  return Array.from(new BigUint64Array(column.buffer, column.byteOffset, column.length));
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function expectRoundTrip(timestamps: Float64Array, values: Float64Array): Uint8Array {
  const bytes = encodeChunk(timestamps, values);
  const decoded = decodeChunk(bytes);
  expect(bits(decoded.timestamps)).toEqual(bits(timestamps));
  expect(bits(decoded.values)).toEqual(bits(values));
  const reference = decodeChunkReference(bytes);
  expect(bits(reference.timestamps)).toEqual(bits(timestamps));
  expect(bits(reference.values)).toEqual(bits(values));
  expect(chunkPointCount(bytes)).toBe(timestamps.length);
  expect(bytes.length).toBeLessThanOrEqual(maxEncodedBytes(timestamps.length));
  return bytes;
}

describe('golden bytes (docs/format/chunk.md)', () => {
  // Pinned: any change here is a format change and needs CHUNK_FORMAT_VERSION bumped.
  const cases: Array<[string, number[], number[], string]> = [
    ['empty chunk', [], [], '010000009376bbf3'],
    // version 1 | CONST values | CONST_DELTA ts | n=1 | varbits(zigzag(T)) = 6-bit 42, 42 bits | 1.5 | xxh32
    ['one point', [T], [1.5], '01010101ab36edb550003ff800000000000032b092c2'],
    ['constant value, regular ts', [T, T + 10000, T + 20000], [42, 42, 42], '01010103ab36edb550003e71020228000000000000a7cba13c'],
    ['decimal values', [T, T + 10000, T + 20000, T + 30000], [0.1, 0.2, 0.3, 0.25], '01020104ab36edb550003e710081682d38601d40894d3bc1'],
    ['XOR values (-0, NaN, Infinity)', [T, T + 10000, T + 20000], [-0, NaN, Infinity], '01030103ab36edb550003e71040000000000000006037fff000443563c07'],
    // order 1 minus the bias 15001 (the median step): residuals -4, +4
    ['jittered ts (differences minus a bias)', [T, T + 15001, T + 29998, T + 45003], [1, 2, 3, 5],
      '010202042acdbb6d54000fea65c2178001414300b0e0bbf2'],
    // steps 1000, 2000, 3000, 4000: delta-of-delta 1000 then a zero Rice block ('111' 111111)
    ['accelerating ts (delta-of-delta)', [T, T + 1000, T + 3000, T + 6000, T + 10000], [1, 2, 3, 4, 5],
      '01020205aacdbb6d54000bfa1cabd0bd0bd0001415ff2219a137'],
    // ±0.1 steps: bias 0, quotient-Huffman with k = 0, top = 3, code lengths 0,1,1,0 (a bit per step)
    ['decimal values, quotient-Huffman', HUFFMAN_WALK.map((_, i) => T + i * 1000), HUFFMAN_WALK,
      '01020120ab36edb550002fe8051f305002080082e268d390b3e7a148'],
    ['fractional ts (XOR timestamps)', [0.5, 1.5, 2.5], [7, 7, 7], '010103033fe0000000000000d61784dfffa00e00000000000000afb199bd'],
  ];
  for (const [name, ts, vs, expected] of cases) {
    it(name, () => {
      const timestamps = Float64Array.from(ts);
      const values = Float64Array.from(vs);
      expect(hex(encodeChunk(timestamps, values))).toBe(expected);
      expect(hex(encodeChunkReference(timestamps, values))).toBe(expected);
      expectRoundTrip(timestamps, values);
    });
  }

  it('uses the documented encodings for the golden inputs', () => {
    const walk = Float64Array.from(HUFFMAN_WALK);
    const layout = inspectChunkReference(encodeChunk(walk.map((_, i) => T + i * 1000), walk));
    expect(layout).toEqual({
      n: 32, timestampCodec: 'constDelta', valueCodec: 'decimal', decimalScale: 1,
      valueSequence: { order: 1, coder: 'huffman' },
    });
    const jitter = inspectChunkReference(encodeChunk(Float64Array.of(T, T + 15001, T + 29998, T + 45003), Float64Array.of(1, 2, 3, 5)));
    expect(jitter.timestampSequence).toEqual({ order: 1, coder: 'rice' });
    const accelerating = inspectChunkReference(
      encodeChunk(Float64Array.of(T, T + 1000, T + 3000, T + 6000, T + 10000), Float64Array.of(1, 2, 3, 4, 5)),
    );
    expect(accelerating.timestampSequence).toEqual({ order: 2, coder: 'rice' });
  });

  it('starts with the version, value codec and timestamp codec bytes', () => {
    const bytes = encodeChunk(Float64Array.of(T, T + 1000), Float64Array.of(1.25, 2.5));
    expect(bytes[0]).toBe(CHUNK_FORMAT_VERSION);
    expect(bytes[1]).toBe(2); // VALUES_DECIMAL
    expect(bytes[2]).toBe(1); // TS_CONST_DELTA
  });

  it('xxHash32 matches the published test vectors', () => {
    expect(xxhash32Reference(new Uint8Array(0), 0)).toBe(0x02cc5d05);
    expect(xxhash32Reference(new TextEncoder().encode('abc'), 3)).toBe(0x32d153ff);
    const long = new TextEncoder().encode('Nobody inspects the spammish repetition');
    expect(xxhash32Reference(long, long.length)).toBe(0xe2293b2f);
  });
});

describe('round trips, bit for bit', () => {
  const sizes = [0, 1, 2, 3, 120, 8640];
  for (const [name, generate] of Object.entries(SHAPES)) {
    it(`shape ${name} at n = ${sizes.join(', ')}`, () => {
      for (const n of sizes) {
        const { timestamps, values } = generate(n, 1234 + n);
        expectRoundTrip(timestamps, values);
      }
    });
  }

  it(`at the limit, n = CODEC_CHUNK_MAX_POINTS = ${CODEC_CHUNK_MAX_POINTS}`, () => {
    const walk = walk2dpShape(CODEC_CHUNK_MAX_POINTS, 5);
    expectRoundTrip(walk.timestamps, walk.values);
    const special = SHAPES.specialFloats!(CODEC_CHUNK_MAX_POINTS, 6);
    expectRoundTrip(special.timestamps, special.values);
  });

  it('every special float, alone and after each other', () => {
    const specials = specialFloatValues();
    for (const v of specials) expectRoundTrip(Float64Array.of(T, T + 1), Float64Array.of(v, v));
    expectRoundTrip(Float64Array.from(specials, (_, i) => T + i * 1000), specials);
    // As timestamps too: any bit pattern comes back.
    expectRoundTrip(specials, new Float64Array(specials.length));
  });

  it('-0 among decimal values falls back and still round-trips', () => {
    const bytes = expectRoundTrip(Float64Array.of(T, T + 10, T + 20), Float64Array.of(1.5, -0, 2.25));
    expect(bytes[1]).toBe(3); // VALUES_XOR
  });

  it('unsorted, duplicate, negative and huge timestamps round-trip', () => {
    expectRoundTrip(Float64Array.of(T + 50, T, T, T - 7, T + 1e6), Float64Array.of(1, 2, 3, 4, 5));
    expectRoundTrip(Float64Array.of(-5e12, -1, 0, 1, 2 ** 49), Float64Array.of(1, 2, 3, 4, 5));
    expectRoundTrip(Float64Array.of(2 ** 50, 2 ** 53, 1e300), Float64Array.of(1, 2, 3));
    expectRoundTrip(Float64Array.of(0.1, 0.2, 0.30000000000000004), Float64Array.of(1, 1, 1));
  });

  it('integer-range edges of the decimal mode', () => {
    const limit = 2 ** 50;
    expectRoundTrip(Float64Array.of(1, 2, 3, 4), Float64Array.of(-limit, limit - 1, 0, -limit));
    const bytes = expectRoundTrip(Float64Array.of(1, 2, 3), Float64Array.of(limit, 0, 1)); // k = 2^50 is out of range
    expect(bytes[1]).toBe(3);
    expectRoundTrip(Float64Array.of(1, 2, 3), Float64Array.of(1e-17, 2e-17, 3e-17));
    expectRoundTrip(Float64Array.of(1, 2, 3), Float64Array.of(5e-324, 1e-300, 0.1 + 0.2));
  });

  it('random bit patterns (NaN payloads, subnormals, anything)', () => {
    const n = 2000;
    const raw = new BigUint64Array(n * 2);
    let x = 0x9e3779b97f4a7c15n;
    for (let i = 0; i < raw.length; i++) {
      x ^= x << 13n;
      x &= 0xffffffffffffffffn;
      x ^= x >> 7n;
      x ^= x << 17n;
      x &= 0xffffffffffffffffn;
      raw[i] = x;
    }
    const both = new Float64Array(raw.buffer);
    expectRoundTrip(both.subarray(0, n), both.subarray(n));
  });
});

describe('decimal scale detection', () => {
  it('finds the smallest scale that reproduces every value', () => {
    expect(detectDecimalScaleReference(Float64Array.of(1, 2, 3))).toBe(0);
    expect(detectDecimalScaleReference(Float64Array.of(12.34, 1.5, 7))).toBe(2);
    expect(detectDecimalScaleReference(Float64Array.of(1e-17, 3e-17))).toBe(17);
    expect(detectDecimalScaleReference(Float64Array.of(0.1 + 0.2))).toBe(-1); // k = 30000000000000004 is out of range
    expect(detectDecimalScaleReference(Float64Array.of(1 / 3))).toBe(-1);
    expect(detectDecimalScaleReference(Float64Array.of(-0))).toBe(-1);
    expect(detectDecimalScaleReference(Float64Array.of(NaN))).toBe(-1);
    expect(detectDecimalScaleReference(Float64Array.of(Infinity))).toBe(-1);
  });
});

describe('sizes', () => {
  it('2-decimal TSBS walk at 8,640 points stays within 1.10 bytes/point (step entropy 1.08)', () => {
    for (const seed of [1, 2, 3]) {
      const { timestamps, values } = walk2dpShape(8640, seed);
      const bytes = encodeChunk(timestamps, values);
      expect(bytes.length / 8640).toBeLessThanOrEqual(1.1);
    }
  });

  it('a constant series with regular timestamps costs a header, not points', () => {
    const { timestamps, values } = SHAPES.constant!(8640, 1);
    expect(encodeChunk(timestamps, values).length).toBeLessThan(32);
  });
});

describe('API errors', () => {
  it('encodeChunk refuses mismatched lengths and oversized chunks, naming the values', () => {
    expect(() => encodeChunk(new Float64Array(3), new Float64Array(2))).toThrow(
      new RangeError('encodeChunk: timestamps.length=3 must equal values.length=2'),
    );
    const big = new Float64Array(CODEC_CHUNK_MAX_POINTS + 1);
    expect(() => encodeChunk(big, big)).toThrow(new RangeError('encodeChunk: n=65536 exceeds CODEC_CHUNK_MAX_POINTS=65535'));
    expect(() => encodeChunkReference(big, big)).toThrow(RangeError);
    expect(() => maxEncodedBytes(-1)).toThrow(RangeError);
  });

  it('the kernel refuses n beyond the limit and a too small output buffer', () => {
    const inst = wasmInstance<CodecExports>('emms');
    try {
      const ts = inst.writeF64(Float64Array.of(T, T + 1, T + 5));
      const vs = inst.writeF64(Float64Array.of(1, 2, 3));
      const out = inst.alloc(64);
      expect(inst.exports.encodeChunk(ts, vs, CODEC_CHUNK_MAX_POINTS + 1, out, 64)).toBe(E_POINT_COUNT);
      expect(inst.exports.encodeChunk(ts, vs, -1, out, 64)).toBe(E_POINT_COUNT);
      expect(inst.exports.encodeChunk(ts, vs, 3, out, 10)).toBe(E_CAPACITY);
      const written = inst.exports.encodeChunk(ts, vs, 3, out, 64);
      expect(written).toBeGreaterThan(0);
      expect(inst.exports.decodeChunk(out, written, ts, vs, 2)).toBe(E_CAPACITY);
      expect(inst.exports.decodeChunk(out, written, ts, vs, 3)).toBe(3);
      expect(inst.exports.maxEncodedBytes(CODEC_CHUNK_MAX_POINTS + 1)).toBe(E_POINT_COUNT);
    } finally {
      inst.reset();
    }
  });

  /** The chunk followed by zeros past any possible chunk size, with a valid checksum. */
  function oversized(chunk: Uint8Array): Uint8Array {
    const body = new Uint8Array(maxEncodedBytes(3) + 16);
    body.set(chunk.subarray(0, chunk.length - 4));
    new DataView(body.buffer).setUint32(body.length - 4, xxhash32Reference(body, body.length - 4), true);
    return body;
  }

  it('decode errors are ChunkDecodeError with a code and a message naming the place', () => {
    const good = encodeChunk(Float64Array.of(T, T + 10, T + 20), Float64Array.of(1.5, 2.5, 3.75));
    const cases: Array<[Uint8Array, number, RegExp]> = [
      [new Uint8Array(0), E_TRUNCATED, /chunk: truncated header at bit 0 of 0/],
      [Uint8Array.of(9, 1, 1, 1, 0, 0, 0, 0), E_VERSION, /format version byte=9 must be 1/],
      [Uint8Array.of(1, 7, 1, 1, 0, 0, 0, 0), E_CODEC, /codec bytes value=7 timestamp=1/],
      [Uint8Array.of(1, 1, 1, 0xff, 0xff, 0x07, 0, 0, 0, 0), E_POINT_COUNT, /n=131071 exceeds CODEC_CHUNK_MAX_POINTS=65535/],
      [good.subarray(0, good.length - 1), E_CHECKSUM, /checksum mismatch/],
      [oversized(good), E_CORRUPT, /corrupt trailer/],
    ];
    for (const [bytes, code, message] of cases) {
      for (const decode of [decodeChunk, decodeChunkReference]) {
        let caught: unknown;
        try {
          decode(bytes);
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(ChunkDecodeError);
        expect((caught as ChunkDecodeError).code).toBe(code);
        expect((caught as ChunkDecodeError).message).toMatch(message);
      }
    }
  });

  it('decodeChunkIntoWasm leaves the columns in WASM memory until the caller resets', () => {
    const { timestamps, values } = walk2dpShape(500, 9);
    const bytes = encodeChunk(timestamps, values);
    const inst = wasmInstance<CodecExports>('emms');
    try {
      const { tsPtr, valPtr, n } = decodeChunkIntoWasm(inst, bytes);
      expect(n).toBe(500);
      expect(bits(inst.readF64(tsPtr, n))).toEqual(bits(timestamps));
      expect(bits(inst.readF64(valPtr, n))).toEqual(bits(values));
    } finally {
      inst.reset();
    }
  });
});
