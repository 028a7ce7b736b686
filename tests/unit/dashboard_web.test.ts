/**
 * The dashboard's browser-side logic that needs no DOM, in Node: the columnar decoder against
 * the server's encoder (bit for bit, NaN and ±Infinity included, and equal to the JSON answer
 * read the page's way), readable units, and the time-range → interval choice.
 */
import { describe, expect, it } from 'vitest';
import type { QueryStats, SeriesResult } from '../../src/model/api.js';
import { encodeColumnarQuery } from '../../src/server/query_columnar.js';
import { renderQueryResponse } from '../../src/server/query_request.js';
import { decodeColumnar, fromJson } from '../../web/src/columnar.js';
import { intervalFor, resolve } from '../../web/src/time_range.js';
import { formatDuration, formatValue } from '../../web/src/units.js';

describe('columnar decoder (web/src/columnar.ts)', () => {
  const series: SeriesResult[] = [
    { metricId: 'cpu', metricType: 'gauge', tags: { host: 'a' }, timestamps: Float64Array.of(1, 2, 3), values: Float64Array.of(0.1 + 0.2, -0, Number.NaN) },
    { metricId: 'bytes', metricType: 'counter', tags: {}, timestamps: Float64Array.of(10, 20), values: Float64Array.of(Number.NEGATIVE_INFINITY, 2 ** 53 + 2) },
  ];
  const stats = { series: 2, pointsScanned: 5, elapsedMs: 0.5 } as QueryStats;

  it('gives back the engine\'s columns bit for bit', () => {
    const decoded = decodeColumnar(encodeColumnarQuery(series, stats));
    expect(decoded.map((s) => [s.metricId, s.metricType, s.tags])).toEqual([['cpu', 'gauge', { host: 'a' }], ['bytes', 'counter', {}]]);
    decoded.forEach((s, i) => {
      expect(Array.from(s.timestamps)).toEqual(Array.from(series[i]!.timestamps));
      s.values.forEach((v, j) => expect(Object.is(v, series[i]!.values[j])).toBe(true));
    });
  });

  it('equals the JSON answer wherever JSON can say the number', () => {
    const binary = decodeColumnar(encodeColumnarQuery(series, stats));
    const json = fromJson(JSON.parse(renderQueryResponse(series, stats)));
    binary.forEach((s, i) => s.values.forEach((v, j) => {
      const w = json[i]!.values[j]!;
      // === rather than Object.is: JSON writes -0 as 0 (the binary form keeps the sign).
      if (Number.isFinite(v)) expect(w === v).toBe(true);
      else expect(Number.isNaN(w)).toBe(true);
    }));
  });

  it('refuses a column that is not whole float64s', async () => {
    const { Packr } = await import('msgpackr');
    const bad = new Packr({ useRecords: false }).pack({ series: [], timestamps: new Uint8Array(7), values: new Uint8Array(0) });
    expect(() => decodeColumnar(bad)).toThrow(/7 bytes is not whole float64s/);
  });
});

describe('units and ranges', () => {
  it('formats bytes, percentages, milliseconds and rates readably', () => {
    expect(formatValue(1536, 'bytes')).toBe('1.5 KiB');
    expect(formatValue(0.25, 'ratio')).toBe('25 %');
    expect(formatValue(99.95, 'percent')).toBe('99.95 %');
    expect(formatValue(1500, 'ms')).toBe('1.5 s');
    expect(formatValue(12_300, 'per_s')).toBe('12.3 k/s');
    expect(formatValue(5, 'per_s')).toBe('5 /s');
    expect(formatValue(undefined)).toBe('–');
    expect(formatValue(Number.NaN, 'ms')).toBe('–');
    expect(formatDuration(3_725_000)).toBe('1 h 2 min');
    expect(formatDuration(-1)).toBe('–');
  });

  it('picks about 120 buckets for the range, live only for recent ranges', () => {
    expect(intervalFor(15 * 60_000)).toEqual({ text: '10s', ms: 10_000 });
    expect(intervalFor(24 * 3600_000)).toEqual({ text: '15m', ms: 900_000 });
    expect(intervalFor(30 * 86_400_000)).toEqual({ text: '6h', ms: 21_600_000 });
    expect(intervalFor(400 * 86_400_000)).toEqual({ text: '1d', ms: 86_400_000 });
    expect(resolve({ key: '1h', refreshS: 0 }, 10_000_000)).toEqual({ startMs: 10_000_000 - 3600_000, endMs: 10_000_000, live: true });
    expect(resolve({ key: '7d', refreshS: 0 }, 1e12).live).toBe(false);
    expect(resolve({ key: 'custom', fromMs: 5, toMs: 10, refreshS: 0 })).toEqual({ startMs: 5, endMs: 10, live: false });
  });
});
