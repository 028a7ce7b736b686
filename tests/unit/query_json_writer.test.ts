import { describe, expect, it } from 'vitest';
import { JsonByteSink, writeQueryJson } from '../../src/server/query_json_writer.js';
import { renderQueryResponse } from '../../src/server/query_request.js';
import type { QueryStats, SeriesResult } from '../../src/model/api.js';
import { mulberry32 } from '../../bench/data_shapes.js';

/** What the answer must equal: JSON.stringify of the plain objects (non-finite → null). */
function reference(series: readonly SeriesResult[], stats: QueryStats): string {
  const num = (v: number): number | null => (Number.isFinite(v) ? v : null);
  return JSON.stringify({
    series: series.map((s) => ({
      metric_id: s.metricId, metric_type: s.metricType, tags: s.tags,
      points: Array.from(s.timestamps, (t, i) => [num(t), num(s.values[i]!)]),
    })),
    stats: { series: stats.series, points_scanned: stats.pointsScanned, elapsed_ms: num(stats.elapsedMs) },
  });
}

function numberJson(v: number): string {
  const sink = new JsonByteSink(8);
  sink.number(v);
  return sink.bytes().toString('latin1');
}

const EDGE_VALUES = [
  0, -0, 1, -1, 0.1, 0.2, 0.1 + 0.2, 1.005, 2.675, 0.5, -0.5, 1.5, 2.5, -2.5, 0.001, -0.004, 0.0001, 1e-6, 1e-7, 5e-324,
  -5e-324, 123.456, 99.99, 100, 1e15, 1e15 - 1, 999999999999999, 999999999999.999, 99999999999999.9, 1e21, 1e21 - 65536,
  1e300, -1e300, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, Number.MAX_VALUE, Number.MIN_VALUE, Number.EPSILON,
  1767225600000, 1767225600000.5, 1767225600000.125, 4.35, 0.07, 1.1, 2.2, 3.3, 17.24, 1 / 3, 2 / 3, Math.PI, -Math.E,
  NaN, Infinity, -Infinity,
];

describe('query JSON writer', () => {
  it('writes every edge value as JSON.stringify does', () => {
    for (const v of EDGE_VALUES) expect(numberJson(v), String(v)).toBe(JSON.stringify(Number.isFinite(v) ? v : null));
  });

  it('writes random numbers of every shape as JSON.stringify does', () => {
    const random = mulberry32(16);
    const bits = new Float64Array(1);
    const words = new Uint32Array(bits.buffer);
    for (let i = 0; i < 200_000; i++) {
      let v: number;
      switch (i % 8) {
        case 0: v = Math.round((random() - 0.5) * 2e6 * 100) / 100; break; // 2-decimal gauges
        case 1: v = Math.round((random() - 0.5) * 1e4 * 10) / 10; break;
        case 2: v = Math.round((random() - 0.5) * 1e9 * 1000) / 1000; break;
        case 3: v = Math.floor(random() * 2 ** 53) * (random() < 0.5 ? -1 : 1); break; // integers up to 2^53
        case 4: v = (random() - 0.5) * 10 ** Math.floor(random() * 40 - 20); break; // any magnitude
        case 5: v = Math.round(random() * 1e6) / 1e4; break; // 4 decimals: String(v) path
        case 6: // sums of 2-decimal values: the usual aggregate answer, often not a short decimal
          v = 0;
          for (let k = 0; k < 10; k++) v += Math.round(random() * 10000) / 100;
          v /= 10;
          break;
        default: // any float64 bit pattern
          words[0] = Math.floor(random() * 2 ** 32);
          words[1] = Math.floor(random() * 2 ** 32);
          v = bits[0]!;
      }
      const expected = JSON.stringify(Number.isFinite(v) ? v : null);
      const got = numberJson(v);
      if (got !== expected) expect(got, `bits ${words[1]!.toString(16)}:${words[0]!.toString(16)} (${v})`).toBe(expected);
    }
  });

  it('writes whole answers byte for byte as JSON.stringify, escapes and non-ASCII tags included', () => {
    const random = mulberry32(7);
    const series: SeriesResult[] = [];
    for (let s = 0; s < 40; s++) {
      const n = Math.floor(random() * 300);
      const timestamps = new Float64Array(n);
      const values = new Float64Array(n);
      for (let i = 0; i < n; i++) {
        timestamps[i] = 1767225600000 + i * 10_000;
        const r = random();
        values[i] = r < 0.05 ? NaN : r < 0.07 ? -Infinity : r < 0.5 ? Math.round(r * 10000) / 100 : (r - 0.5) * 1e-3 * s;
      }
      series.push({ metricId: `cpu.usage_${s}\u00e9`, metricType: s % 2 === 0 ? 'gauge' : 'counter', tags: { host: `h"${s}\\\n`, 'zone\u2028': '東京', empty: '' }, timestamps, values });
    }
    const stats: QueryStats = { series: series.length, pointsScanned: 123_456_789, elapsedMs: 3.141592653589793 };
    const bytes = writeQueryJson(series, stats);
    expect(bytes.toString('utf8')).toBe(reference(series, stats));
    expect(renderQueryResponse(series, stats)).toBe(reference(series, stats));
  });

  it('writes both value paths exactly: digits for short decimals, the stringified column for long values', () => {
    const ts = (n: number): Float64Array => Float64Array.from({ length: n }, (_, i) => 1767225600000 + i * 3_600_000);
    const series: SeriesResult[] = [
      // Short decimals first (written digit by digit), then values that need String(v).
      { metricId: 'short', metricType: 'gauge', tags: {}, timestamps: ts(12), values: Float64Array.from([1, 2.5, -0.25, 0, -0, 100, 3.14, 99.99, 1 / 3, NaN, -Infinity, 2 ** 60]) },
      // Long values first (one JSON.stringify of the column), then every other kind.
      { metricId: 'long', metricType: 'gauge', tags: {}, timestamps: ts(12), values: Float64Array.from([Math.PI, 1 / 3, -0, NaN, Infinity, 12.5, 1e-7, 1e21, 5e-324, -1.7976931348623157e308, 0.1 + 0.2, 42]) },
    ];
    const stats: QueryStats = { series: 2, pointsScanned: 24, elapsedMs: 0.5 };
    expect(writeQueryJson(series, stats).toString('utf8')).toBe(reference(series, stats));
  });

  it('answers an empty result and non-finite stats', () => {
    const stats: QueryStats = { series: 0, pointsScanned: 0, elapsedMs: NaN };
    expect(writeQueryJson([], stats).toString('utf8')).toBe(reference([], stats));
    const empty: SeriesResult = { metricId: 'a', metricType: 'gauge', tags: {}, timestamps: new Float64Array(0), values: new Float64Array(0) };
    expect(writeQueryJson([empty], { ...stats, series: 1 }).toString('utf8')).toBe(reference([empty], { ...stats, series: 1 }));
  });

  it('grows its buffer past the first estimate without losing bytes', () => {
    const sink = new JsonByteSink(1);
    const parts: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const v = i * Math.PI * 1e-7;
      sink.number(v);
      sink.text(i % 7 === 0 ? ',"\u00fc",' : ',');
      parts.push(JSON.stringify(v), i % 7 === 0 ? ',"\u00fc",' : ',');
    }
    expect(sink.bytes().toString('utf8')).toBe(parts.join(''));
    expect(sink.length).toBe(Buffer.byteLength(parts.join('')));
  });
});
