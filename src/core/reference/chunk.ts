/**
 * Reference for assembly/chunk.ts: one series' points (float64 epoch-ms timestamps, float64
 * values) to and from a chunk, in plain TypeScript (docs/format/chunk.md, "Chunk").
 *
 * Written to produce byte-identical output to the WebAssembly codec (src/core/codec.ts) and to
 * fail on the same inputs with the same status codes. It exists to check the WASM build
 * (tests/unit/codec_equivalence.test.ts, codec_fuzz.test.ts) and as a readable statement of the
 * format, one file per kernel of assembly/ (bitstream, chunk_checksum, int_residuals,
 * rice_ints, quotient_huffman, xor_floats, timestamps, values_decimal). Production never loads
 * it; it reuses production's header parser (parseChunkHeader in src/core/codec.ts).
 */
import { chunkSizeBound, parseChunkHeader } from '../codec.js';
import {
  CHUNK_FORMAT_VERSION,
  CODEC_CHUNK_MAX_POINTS,
  E_CAPACITY,
  E_CHECKSUM,
  E_CORRUPT,
  E_TRUNCATED,
  SECTION_HEADER,
  SECTION_TRAILER,
  SECTION_VALUES,
} from '../codec_status.js';
import { BitReader, BitWriter } from './bitstream.js';
import { readU32, xxhash32Reference } from './chunk_checksum.js';
import { DecodeFailure, toDecodeError } from './decode_failure.js';
import { decodeTimestamps, encodeTimestamps, planTimestamps, type TimestampLayout } from './timestamps.js';
import { decodeValues, encodeValues, planValues, type ValueLayout } from './values_decimal.js';
import { wordsOf } from './xor_floats.js';

const TRAILER_BYTES = 4;

/** The encodings a chunk uses, for tests, benchmarks and debugging. */
export interface ChunkLayout extends TimestampLayout, ValueLayout {
  n: number;
  timestampCodec: 'none' | 'constDelta' | 'intSequence' | 'xor';
  valueCodec: 'none' | 'const' | 'decimal' | 'xor';
}

const TS_CODEC_NAMES = ['none', 'constDelta', 'intSequence', 'xor'] as const;
const VALUE_CODEC_NAMES = ['none', 'const', 'decimal', 'xor'] as const;

/** Upper bound of the encoded size of n points (same formula as assembly/chunk.ts). */
export function maxEncodedBytesReference(n: number): number {
  return chunkSizeBound(n);
}

function checkColumns(timestamps: Float64Array, values: Float64Array): void {
  if (timestamps.length !== values.length) {
    throw new RangeError(
      `encodeChunkReference: timestamps.length=${timestamps.length} must equal values.length=${values.length}`,
    );
  }
  if (timestamps.length > CODEC_CHUNK_MAX_POINTS) {
    throw new RangeError(`encodeChunkReference: n=${timestamps.length} exceeds CODEC_CHUNK_MAX_POINTS=${CODEC_CHUNK_MAX_POINTS}`);
  }
}

/** Encodes like src/core/codec.ts encodeChunk, in plain TypeScript; the bytes are identical. */
export function encodeChunkReference(timestamps: Float64Array, values: Float64Array): Uint8Array {
  checkColumns(timestamps, values);
  const n = timestamps.length;
  const tsWords = wordsOf(timestamps);
  const valueWords = wordsOf(values);
  const tsPlan = planTimestamps(timestamps, tsWords);
  const valuePlan = planValues(values, valueWords);
  const out = new Uint8Array(maxEncodedBytesReference(n));
  out[0] = CHUNK_FORMAT_VERSION;
  out[1] = valuePlan.mode;
  out[2] = tsPlan.mode;
  let at = 3;
  let rest = n;
  while (rest >= 0x80) {
    out[at++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  out[at++] = rest;
  const w = new BitWriter(out, at);
  if (n > 0) {
    encodeTimestamps(w, tsPlan, timestamps, tsWords);
    encodeValues(w, valuePlan, valueWords, n);
  }
  const bodyLen = Math.ceil(w.bitPos / 8);
  const sum = xxhash32Reference(out, bodyLen);
  out[bodyLen] = sum & 0xff;
  out[bodyLen + 1] = (sum >>> 8) & 0xff;
  out[bodyLen + 2] = (sum >>> 16) & 0xff;
  out[bodyLen + 3] = sum >>> 24;
  return out.slice(0, bodyLen + TRAILER_BYTES);
}

/** decodeChunkReference, telling `layout` (when given) what each section uses. */
function decodeInto(bytes: Uint8Array, cap: number, layout: ChunkLayout | undefined): { timestamps: Float64Array; values: Float64Array } {
  try {
    const { n, valueCodec, timestampCodec, headerBytes } = parseChunkHeader(bytes);
    if (n > cap) throw new DecodeFailure(E_CAPACITY, SECTION_HEADER, 24, cap);
    const bodyLen = bytes.length - TRAILER_BYTES;
    if (xxhash32Reference(bytes, bodyLen) !== readU32(bytes, bodyLen)) {
      throw new DecodeFailure(E_CHECKSUM, SECTION_TRAILER, bodyLen * 8, bytes.length * 8);
    }
    const timestamps = new Float64Array(n);
    const values = new Float64Array(n);
    const r = new BitReader(bytes, bodyLen, headerBytes * 8);
    if (n > 0) {
      decodeTimestamps(r, timestampCodec, n, timestamps, layout);
      decodeValues(r, valueCodec, n, values, layout);
    }
    const end = r.pos;
    if (r.overrun) throw new DecodeFailure(E_TRUNCATED, SECTION_VALUES, end, bodyLen * 8);
    const padBits = (8 - (end & 7)) & 7;
    const padding = padBits === 0 ? 0 : r.small(padBits);
    if (padding !== 0 || Math.ceil(end / 8) !== bodyLen) {
      throw new DecodeFailure(E_CORRUPT, SECTION_TRAILER, end, bodyLen * 8);
    }
    return { timestamps, values };
  } catch (e) {
    throw toDecodeError(e, bytes);
  }
}

/** Decodes like src/core/codec.ts decodeChunk, in plain TypeScript; same results, same error codes. */
export function decodeChunkReference(bytes: Uint8Array, cap = CODEC_CHUNK_MAX_POINTS): {
  timestamps: Float64Array;
  values: Float64Array;
} {
  return decodeInto(bytes, cap, undefined);
}

/** Decodes the chunk and reports which encodings it uses; throws ChunkDecodeError like decodeChunkReference. */
export function inspectChunkReference(bytes: Uint8Array): ChunkLayout {
  const { n, valueCodec, timestampCodec } = parseChunkHeader(bytes);
  const layout: ChunkLayout = { n, timestampCodec: TS_CODEC_NAMES[timestampCodec]!, valueCodec: VALUE_CODEC_NAMES[valueCodec]! };
  decodeInto(bytes, CODEC_CHUNK_MAX_POINTS, layout);
  return layout;
}
