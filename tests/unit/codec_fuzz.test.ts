// Decoder robustness: arbitrary bytes, truncations and bit flips handed to the WASM decoder and the
// TS reference must end in a ChunkDecodeError or a valid decode, never a hang, a crash, or a
// write past the output capacity; and both decoders must agree on which (code and section).
// Most corruptions are caught by the xxHash32 trailer, so every mutation is also tried with the
// checksum recomputed: that drives the structural checks of each section.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkDecodeError, decodeChunk, encodeChunk, type CodecExports } from '../../src/core/codec.js';
import { codecStatusName } from '../../src/core/codec_status.js';
import { decodeChunkReference } from '../../src/core/reference/chunk.js';
import { xxhash32Reference } from '../../src/core/reference/chunk_checksum.js';
import { wasmInstance } from '../../src/core/wasm_instance.js';
import { SHAPES } from '../../bench/data_shapes.js';

type Outcome = { ok: true; timestamps: bigint[]; values: bigint[] } | { ok: false; code: number; section: string };

function bits(column: Float64Array): bigint[] {
  return Array.from(new BigUint64Array(column.buffer, column.byteOffset, column.length));
}

function outcome(decode: (bytes: Uint8Array) => { timestamps: Float64Array; values: Float64Array }, bytes: Uint8Array): Outcome {
  try {
    const { timestamps, values } = decode(bytes);
    return { ok: true, timestamps: bits(timestamps), values: bits(values) };
  } catch (e) {
    if (!(e instanceof ChunkDecodeError)) throw e;
    expect(e.message).toMatch(/^chunk: /);
    return { ok: false, code: e.code, section: e.section };
  }
}

/** Both decoders reach the same outcome; returns it. */
function expectAgreement(bytes: Uint8Array): Outcome {
  const wasm = outcome(decodeChunk, bytes);
  const reference = outcome(decodeChunkReference, bytes);
  expect(wasm).toEqual(reference);
  return wasm;
}

/** Rewrites the xxHash32 trailer so that the mutated body is checked structurally. */
function withFixedChecksum(bytes: Uint8Array): Uint8Array {
  if (bytes.length < 4) return bytes;
  const out = bytes.slice();
  const sum = xxhash32Reference(out, out.length - 4);
  new DataView(out.buffer).setUint32(out.length - 4, sum, true);
  return out;
}

// Valid chunks of every mode to mutate: small n keeps each decode fast, 300 crosses Rice blocks.
const SEEDS: Uint8Array[] = [];
for (const [, generate] of Object.entries(SHAPES)) {
  for (const n of [1, 3, 70, 300]) {
    const { timestamps, values } = generate(n, n);
    SEEDS.push(encodeChunk(timestamps, values));
  }
}
const jitter = SHAPES.jitter15s!(300, 4);
SEEDS.push(encodeChunk(jitter.timestamps.map((t, i) => t + (i % 7) * 0.5), jitter.values));

const mutationArb = fc.record({
  seedIndex: fc.integer({ min: 0, max: SEEDS.length - 1 }),
  flips: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
  cut: fc.option(fc.nat(), { nil: undefined }),
  fixChecksum: fc.boolean(),
});

describe('decoders on hostile input', () => {
  it('arbitrary bytes end in ChunkDecodeError or a valid decode, identically in WASM and TS', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.boolean(), (raw, fix) => {
        // A plausible header makes the random bytes reach the sections more often.
        if (raw.length > 4 && fix) {
          raw[0] = 1;
          raw[1]! %= 4;
          raw[2]! %= 4;
        }
        expectAgreement(fix ? withFixedChecksum(raw) : raw);
      }),
      { numRuns: 2000, seed: 42 },
    );
  });

  it('bit flips and truncations of valid chunks, with and without a recomputed checksum', () => {
    // Outcomes ('ok', or a code and the section it was found in), with and without the checksum
    // recomputed.
    const withFix = new Map<string, number>();
    const withoutFix = new Map<string, number>();
    fc.assert(
      fc.property(mutationArb, ({ seedIndex, flips, cut, fixChecksum }) => {
        const seed = SEEDS[seedIndex]!;
        let bytes: Uint8Array = seed.slice();
        for (const f of flips) bytes[(f >>> 3) % bytes.length]! ^= 1 << (f & 7);
        if (cut !== undefined) bytes = bytes.subarray(0, cut % (bytes.length + 1));
        if (fixChecksum) bytes = withFixedChecksum(bytes);
        const result = expectAgreement(bytes);
        // Outcome as `code in section`, e.g. 'E_CORRUPT in value stream'.
        const key = result.ok ? 'ok' : `${codecStatusName(result.code)} in ${result.section}`;
        const tally = fixChecksum ? withFix : withoutFix;
        tally.set(key, (tally.get(key) ?? 0) + 1);
        // A recomputed checksum always matches, so whatever fails is a structural check.
        if (fixChecksum) expect(key).not.toMatch(/^E_CHECKSUM/);
      }),
      { numRuns: 1500, seed: 7 },
    );
    // Seed 7: with the checksum recomputed, 11 E_CORRUPT and 128 E_TRUNCATED in the timestamp
    // stream, 18 and 240 in the value stream, 96 valid decodes; without it,
    // 468 E_CHECKSUM and nothing past the header.
    const sections = (tally: Map<string, number>): string[] => [...tally.keys()].filter((k) => / in (timestamp|value) stream$/.test(k));
    // The checksum is checked before any section is decoded.
    expect(sections(withoutFix)).toEqual([]);
    expect(withoutFix.get('E_CHECKSUM in trailer') ?? 0).toBeGreaterThan(200);
    // With it recomputed, the mutations reach the range and length checks of both sections.
    for (const key of ['E_CORRUPT in timestamp stream', 'E_CORRUPT in value stream', 'E_TRUNCATED in timestamp stream', 'E_TRUNCATED in value stream']) {
      expect(withFix.get(key) ?? 0, key).toBeGreaterThanOrEqual(5);
    }
    expect(withFix.get('ok') ?? 0).toBeGreaterThan(20);
  });

  it('every truncation of a valid chunk is refused', () => {
    for (const chunk of SEEDS.slice(0, 12)) {
      for (let len = 0; len < chunk.length; len++) {
        const result = expectAgreement(chunk.subarray(0, len));
        expect(result.ok).toBe(false);
      }
    }
  });

  it('the kernel never writes past cap points nor reads past inLen', () => {
    const inst = wasmInstance<CodecExports>('emms');
    const sentinel = 0x5a;
    try {
      for (const chunk of SEEDS) {
        for (const flip of [0, 37, 101, 999]) {
          const bytes = withFixedChecksum(chunk.slice());
          bytes[(flip >>> 3) % bytes.length]! ^= 1 << (flip & 7);
          const fixed = withFixedChecksum(bytes);
          const cap = 3;
          // Input followed by bytes that would change the result if read; outputs followed by a guard.
          const inPtr = inst.alloc(fixed.length + 64);
          inst.u8().set(fixed, inPtr);
          inst.u8().fill(0xff, inPtr + fixed.length, inPtr + fixed.length + 64);
          const tsPtr = inst.alloc(cap * 8 + 64);
          const valPtr = inst.alloc(cap * 8 + 64);
          inst.u8().fill(sentinel, tsPtr, tsPtr + cap * 8 + 64);
          inst.u8().fill(sentinel, valPtr, valPtr + cap * 8 + 64);
          const status = inst.exports.decodeChunk(inPtr, fixed.length, tsPtr, valPtr, cap);
          const u8 = inst.u8();
          for (let i = cap * 8; i < cap * 8 + 64; i++) {
            expect(u8[tsPtr + i]).toBe(sentinel);
            expect(u8[valPtr + i]).toBe(sentinel);
          }
          const reference = outcome((b) => decodeChunkReference(b, cap), fixed);
          expect(status < 0 ? { ok: false, code: status } : { ok: true }).toEqual(
            reference.ok ? { ok: true } : { ok: false, code: reference.code },
          );
          inst.reset();
        }
      }
    } finally {
      inst.reset();
    }
  });
});
