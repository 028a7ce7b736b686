/**
 * The range-function reads' cache of decoded chunks (src/query/decoded_chunk_cache.ts): the
 * same points and errors as decodeChunkRowInto whether a chunk is decoded or found, new bytes
 * under an old chunk id decoded again, and the byte bound kept by dropping the least recently
 * used chunk.
 */
import { describe, expect, it } from 'vitest';
import { encodeChunk } from '../../src/core/codec.js';
import { CODEC_EMMS_CHUNK, CorruptChunkError, decodeChunkRowInto, type ChunkRow } from '../../src/storage/chunk_rows.js';
import { DecodedChunkCache } from '../../src/query/decoded_chunk_cache.js';

const T0 = 1_700_000_000_000;

function chunk(id: number, count: number, shift = 0): ChunkRow {
  const ts = Float64Array.from({ length: count }, (_, k) => T0 + k * 10_000 + (k % 7));
  const vs = Float64Array.from({ length: count }, (_, k) => Math.sin(k + shift) * 1e6 + (k % 5 === 0 ? NaN : 0));
  return {
    id, series_id: 4, min_ts: ts[0]!, max_ts: ts[count - 1]!, count, codec: CODEC_EMMS_CHUNK, format_version: 1,
    sum: 0, min: 0, max: 0, first: 0, last: 0, mean: 0, m2: 0, data: encodeChunk(ts, vs),
  };
}

/** decodeChunkRowInto's and the cache's copy of [start, end) at offset 2, bit for bit. */
function bothCopies(cache: DecodedChunkCache, row: ChunkRow, start: number, end: number): { plain: BigInt64Array[]; cached: BigInt64Array[]; n: number } {
  const room = row.count + 2;
  const [pts, pvs, cts, cvs] = [0, 1, 2, 3].map(() => new Float64Array(room).fill(-1));
  const n = decodeChunkRowInto(row, 'm{a=b}', start, end, pts!, pvs!, 2);
  expect(cache.copyInto(row, 'm{a=b}', start, end, cts!, cvs!, 2)).toBe(n);
  const bits = (a: Float64Array): BigInt64Array => new BigInt64Array(a.buffer);
  return { plain: [bits(pts!), bits(pvs!)], cached: [bits(cts!), bits(cvs!)], n };
}

describe('DecodedChunkCache', () => {
  it('copies what decodeChunkRowInto copies, on the decoding call and on every later one', () => {
    const cache = new DecodedChunkCache(1 << 20);
    const row = chunk(1, 500);
    const ts500 = T0 + 499 * 10_000 + (499 % 7);
    for (const [start, end] of [[-Infinity, Infinity], [T0 + 100_000, T0 + 200_000], [T0 + 100_001, T0 + 200_001], [ts500 + 1, Infinity], [0, T0]] as const) {
      const { plain, cached } = bothCopies(cache, row, start, end);
      expect(cached).toEqual(plain);
    }
    expect(cache.stats()).toMatchObject({ entries: 1, hits: 4, misses: 1, bytes: 500 * 16 + row.data!.length + 256 });
  });

  it('decodes again when a chunk id comes back with other bytes', () => {
    const cache = new DecodedChunkCache(1 << 20);
    bothCopies(cache, chunk(7, 300), -Infinity, Infinity);
    const rewritten = chunk(7, 300, 1);
    const { plain, cached } = bothCopies(cache, rewritten, -Infinity, Infinity);
    expect(cached).toEqual(plain);
    expect(cache.stats()).toMatchObject({ entries: 1, hits: 0, misses: 2 });
  });

  it('keeps its bytes under the bound, dropping the least recently used chunk first', () => {
    const one = 200 * 16 + chunk(1, 200).data!.length + 256;
    const cache = new DecodedChunkCache(one * 3 + 100);
    for (const id of [1, 2, 3]) bothCopies(cache, chunk(id, 200), -Infinity, Infinity);
    bothCopies(cache, chunk(1, 200), -Infinity, Infinity); // 1 is now the newest
    bothCopies(cache, chunk(4, 200), -Infinity, Infinity); // 2 goes
    expect(cache.stats()).toMatchObject({ entries: 3, hits: 1, misses: 4 });
    expect(cache.stats().bytes).toBeLessThanOrEqual(cache.maxBytes);
    bothCopies(cache, chunk(1, 200), -Infinity, Infinity);
    bothCopies(cache, chunk(2, 200), -Infinity, Infinity);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 5 });
  });

  it('decodes a chunk larger than the bound without keeping it', () => {
    const cache = new DecodedChunkCache(1000);
    const { plain, cached } = bothCopies(cache, chunk(1, 500), T0 + 50_000, Infinity);
    expect(cached).toEqual(plain);
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0, misses: 1 });
  });

  it('fails as decodeChunkRowInto does, and never keeps a chunk that failed', () => {
    const cache = new DecodedChunkCache(1 << 20);
    const good = chunk(9, 100);
    const out = new Float64Array(200);
    for (const bad of [{ ...good, codec: 7 }, { ...good, count: 99 }, { ...good, data: Uint8Array.from(good.data!, (b, k) => (k === 40 ? b ^ 0xff : b)) }]) {
      expect(() => cache.copyInto(bad, 'm{a=b}', -Infinity, Infinity, out, out, 0)).toThrow(CorruptChunkError);
    }
    expect(() => cache.copyInto({ ...good, data: null }, 'm{a=b}', 0, Infinity, out, out, 0)).toThrow(/without its data/);
    expect(cache.stats()).toMatchObject({ entries: 0, bytes: 0 });
  });

  it('refuses a bound that is not a non-negative integer, naming the value', () => {
    expect(() => new DecodedChunkCache(-1)).toThrow(/maxBytes must be a non-negative integer; got -1/);
    expect(() => new DecodedChunkCache(1.5)).toThrow(/got 1.5/);
  });
});
