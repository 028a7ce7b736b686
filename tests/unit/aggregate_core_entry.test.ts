// The `emms/core` entry (src/core/index.ts): the module doc example works as written, with no
// SQLite and no server behind it.
import { describe, expect, it } from 'vitest';
import * as core from '../../src/core/index.js';

describe('emms/core entry', () => {
  it('exports the codec, the aggregation and parseInterval', () => {
    for (const name of ['encodeChunk', 'decodeChunk', 'ChunkDecodeError', 'aggregate', 'BucketAccumulator', 'parseInterval', 'summaryUsable', 'summarizeChunk', 'partialTransferList']) {
      expect(typeof (core as Record<string, unknown>)[name], name).toBe('function');
    }
    expect(core.CHUNK_FORMAT_VERSION).toBe(1);
    expect(core.AGGREGATIONS).toContain('p99');
  });

  it('runs the module doc example', () => {
    const { encodeChunk, decodeChunk, aggregate, BucketAccumulator, parseInterval } = core;
    const timestamps = Float64Array.from({ length: 8640 }, (_, i) => Date.UTC(2026, 0, 1) + i * 10_000);
    const values = timestamps.map((_, i) => 50 + Math.sin(i / 100));
    const bytes = encodeChunk(timestamps, values);
    const back = decodeChunk(bytes);
    expect(back.values).toEqual(values);
    const hourly = aggregate(timestamps, values, { aggregation: 'avg', intervalMs: parseInterval('1h') });
    expect(hourly.timestamps.length).toBe(24);
    expect(hourly.timestamps[0]).toBe(Date.UTC(2026, 0, 1));
    const acc = new BucketAccumulator({ aggregation: 'p99', intervalMs: 300_000, startMs: Date.UTC(2026, 0, 1), endMs: Date.UTC(2026, 0, 2) });
    for (const chunk of [bytes]) {
      acc.beginSeries();
      acc.addChunk(chunk);
    }
    const { timestamps: bucketStarts, values: p99 } = acc.finish();
    expect(bucketStarts.length).toBe(288);
    expect(p99.every((v) => v >= 49 && v <= 51)).toBe(true);
  });
});
