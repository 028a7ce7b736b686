/**
 * The Redis back-end's key names and packed values (src/storage/redis/redis_keys.ts): golden
 * bytes of a chunk header, round trips, and errors naming the chunk.
 */
import { describe, expect, it } from 'vitest';
import {
  CHUNK_HEADER_BYTES, ChunkHeaderError, RedisKeys, chunkEdgeOf, luaNumberArg, packChunkMeta, packChunkValue, packSeries,
  packWalRecord, scoreArg, unpackChunkHeader, unpackChunkMeta, unpackSeries, unpackWalRecord,
} from '../../src/storage/redis/redis_keys.js';
import { encodeChunks } from '../../src/storage/chunk_encoding.js';
import { CHUNK_FORMAT_VERSION } from '../../src/core/codec.js';

const chunk = encodeChunks(Float64Array.of(1000, 2000, 3000), Float64Array.of(1.5, NaN, -2))[0]!;

describe('redis keys', () => {
  it('names every key under the prefix, and escapes glob characters for SCAN', () => {
    const k = new RedisKeys('a*b[1]?:');
    expect([k.layout, k.meta, k.series, k.chunks, k.wal, k.marks, k.health]).toEqual(
      ['layout', 'meta', 'series', 'chunks', 'wal', 'marks', 'health'].map((n) => `a*b[1]?:${n}`));
    expect([k.chunk(7), k.seriesChunks(3), k.walRecord(9)]).toEqual(['a*b[1]?:c:7', 'a*b[1]?:s:3', 'a*b[1]?:w:9']);
    expect(k.matchAll()).toBe('a\\*b\\[1\\]\\?:*');
  });

  it('packs a chunk: 96-byte header (golden start) then the codec bytes', () => {
    const v = packChunkValue(42, 7, chunk);
    expect(v.length).toBe(CHUNK_HEADER_BYTES + chunk.bytes.length);
    expect([...v.subarray(0, 8)]).toEqual([1, 1, CHUNK_FORMAT_VERSION & 0xff, CHUNK_FORMAT_VERSION >> 8, 3, 0, 0, 0]);
    expect(v.subarray(CHUNK_HEADER_BYTES).equals(Buffer.from(chunk.bytes))).toBe(true);
    const row = unpackChunkHeader(42, v.subarray(0, CHUNK_HEADER_BYTES));
    expect(row).toEqual({
      id: 42, series_id: 7, min_ts: 1000, max_ts: 3000, count: 3, codec: 1, format_version: CHUNK_FORMAT_VERSION,
      sum: chunk.sum, min: chunk.min, max: chunk.max, first: 1.5, last: -2, mean: chunk.mean, m2: chunk.m2, data: null,
    });
    expect(chunkEdgeOf(42, v)).toEqual({ max_ts: 3000, last: -2 });
  });

  it('names the chunk when its header is short, of another version, or of another chunk', () => {
    const v = packChunkValue(42, 7, chunk);
    expect(() => unpackChunkHeader(42, v.subarray(0, 10))).toThrow('chunk 42: stored header is 10 bytes, shorter than 96');
    const other = Buffer.from(v);
    other[0] = 9;
    expect(() => unpackChunkHeader(42, other)).toThrow('chunk 42: stored header has version 9 (expected 1)');
    expect(() => unpackChunkHeader(43, v)).toThrow(ChunkHeaderError);
  });

  it('round-trips catalogue entries, write-ahead records and series', () => {
    expect(unpackChunkMeta(5, packChunkMeta(7, chunk))).toEqual({ id: 5, seriesId: 7, minTs: 1000, maxTs: 3000, count: 3 });
    expect(() => unpackChunkMeta(5, Buffer.alloc(3))).toThrow('chunk 5: stored header catalogue entry is 3 bytes (expected 28)');
    const rec = unpackWalRecord(3, packWalRecord({ id: 3, createdMs: 1.7e12, points: 2, data: Uint8Array.of(9, 8, 7) }));
    expect([rec.id, rec.createdMs, rec.points, [...rec.data]]).toEqual([3, 1.7e12, 2, [9, 8, 7]]);
    expect(() => unpackWalRecord(3, Buffer.alloc(4))).toThrow('wal record 3: stored value is 4 bytes, shorter than its 12-byte header');
    const s = { id: 1, tenant: 't', metricId: 'cpu', canonicalTags: 'a=b,c=d', metricType: 'counter' as const };
    expect(unpackSeries(1, packSeries(s))).toEqual(s);
    expect(() => unpackSeries(2, '{"x":1}')).toThrow('series 2: stored value "{\\"x\\":1}" is not [tenant, metric, tags, type]');
  });

  it('spells infinite bounds for Redis and for Lua', () => {
    expect([scoreArg(Infinity), scoreArg(-Infinity), scoreArg(12)]).toEqual(['+inf', '-inf', '12']);
    expect([luaNumberArg(Infinity), luaNumberArg(-Infinity), luaNumberArg(1.7e12)]).toEqual(['1e308', '-1e308', '1700000000000']);
  });
});
