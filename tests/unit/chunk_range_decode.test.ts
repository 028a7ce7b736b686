/**
 * Decoding a chunk's points of a time range straight into a caller's arrays
 * (decodeChunkRangeInto, decodeChunkRowInto: the read path that concatenates a series' chunks
 * for raw and PromQL queries): the same points as decodeChunk sliced, at the given offset,
 * and the same CorruptChunkError as decodeChunkRow for an unknown codec, a count that
 * disagrees with the row, or bytes that are not a chunk.
 */
import { describe, expect, it } from 'vitest';
import { decodeChunk, decodeChunkRangeInto, encodeChunk } from '../../src/core/codec.js';
import { CODEC_EMMS_CHUNK, CorruptChunkError, decodeChunkRowInto, type ChunkRow } from '../../src/storage/chunk_rows.js';

const ts = Float64Array.from({ length: 500 }, (_, k) => 1_700_000_000_000 + k * 10_000 + (k % 7));
const vs = Float64Array.from({ length: 500 }, (_, k) => Math.sin(k) * 1e6 + (k % 3 === 0 ? NaN : 0));
const bytes = encodeChunk(ts, vs);

function row(over: Partial<ChunkRow> = {}): ChunkRow {
  return {
    id: 9, series_id: 4, min_ts: ts[0]!, max_ts: ts[499]!, count: 500, codec: CODEC_EMMS_CHUNK, format_version: 1,
    sum: 0, min: 0, max: 0, first: 0, last: 0, mean: 0, m2: 0, data: bytes, ...over,
  };
}

describe('decodeChunkRangeInto', () => {
  it('copies exactly the points of [start, end) to the offset, as decodeChunk sliced', () => {
    const whole = decodeChunk(bytes);
    for (const [start, end] of [[0, Infinity], [ts[10]!, ts[20]!], [ts[10]! + 1, ts[20]! + 1], [ts[499]! + 1, Infinity], [0, ts[0]!]] as const) {
      const outTs = new Float64Array(503).fill(-1);
      const outVs = new Float64Array(503).fill(-1);
      const { decoded, copied } = decodeChunkRangeInto(bytes, start, end, outTs, outVs, 3);
      const keep = Array.from(whole.timestamps.keys()).filter((k) => whole.timestamps[k]! >= start && whole.timestamps[k]! < end);
      expect(decoded).toBe(500);
      expect(copied).toBe(keep.length);
      expect(Array.from(outTs.subarray(3, 3 + copied))).toEqual(keep.map((k) => whole.timestamps[k]));
      expect(Array.from(outVs.subarray(3, 3 + copied))).toEqual(keep.map((k) => whole.values[k]));
      expect(Array.from(outTs.subarray(0, 3))).toEqual([-1, -1, -1]);
    }
  });
});

describe('decodeChunkRowInto', () => {
  it('returns the points copied', () => {
    const outTs = new Float64Array(500);
    const outVs = new Float64Array(500);
    expect(decodeChunkRowInto(row(), 'm{a=b}', ts[100]!, Infinity, outTs, outVs, 0)).toBe(400);
    expect(outTs[0]).toBe(ts[100]);
  });

  it('names series and chunk for an unknown codec, a wrong count, bad bytes, and a row read without data', () => {
    const out = new Float64Array(600);
    const fail = (r: ChunkRow): unknown => {
      try {
        decodeChunkRowInto(r, 'm{a=b}', 0, Infinity, out, out, 0);
      } catch (err) {
        return err;
      }
      return undefined;
    };
    for (const [bad, detail] of [
      [row({ codec: 7 }), /codec=7 is unknown/],
      [row({ count: 499 }), /holds 500 points, its row says count=499/],
      [row({ data: Uint8Array.of(99, 1, 2, 3, 4, 5, 6, 7) }), /m\{a=b\}/],
      [row({ data: Uint8Array.from(bytes, (b, k) => (k === 40 ? b ^ 0xff : b)) }), /cannot be decoded/],
    ] as const) {
      const err = fail(bad);
      expect(err).toBeInstanceOf(CorruptChunkError);
      expect((err as CorruptChunkError).chunkId).toBe(9);
      expect((err as Error).message).toMatch(detail);
    }
    expect(String(fail(row({ data: null })))).toMatch(/without its data/);
  });
});
