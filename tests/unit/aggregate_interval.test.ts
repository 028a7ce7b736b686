// parseInterval: the interval strings of aggregated queries.
import { describe, expect, it } from 'vitest';
import { parseInterval } from '../../src/model/interval.js';
import { MetricValidationError } from '../../src/model/metric.js';

describe('parseInterval', () => {
  it('turns each unit into milliseconds', () => {
    expect(parseInterval('500ms')).toBe(500);
    expect(parseInterval('30s')).toBe(30_000);
    expect(parseInterval('5m')).toBe(300_000);
    expect(parseInterval('1h')).toBe(3_600_000);
    expect(parseInterval('1d')).toBe(86_400_000);
    expect(parseInterval('1w')).toBe(604_800_000);
    expect(parseInterval('1.5h')).toBe(5_400_000);
    expect(parseInterval('1.1s')).toBe(1_100);
  });

  it('refuses anything else, naming the text', () => {
    for (const bad of ['5x', '', 'h', '5', '-5m', '5 m', '1e3s', '5M']) {
      expect(() => parseInterval(bad)).toThrow(`interval=${JSON.stringify(bad)} must be a number followed by ms, s, m, h, d or w`);
    }
    expect(() => parseInterval('0s')).toThrow('interval="0s" must be a whole number of milliseconds in [1ms, 5200w]; got 0 ms');
    expect(() => parseInterval('0.5ms')).toThrow('interval="0.5ms" must be a whole number of milliseconds');
    expect(() => parseInterval('9999w')).toThrow('interval="9999w" must be a whole number of milliseconds in [1ms, 5200w]');
    try {
      parseInterval('5x');
    } catch (e) {
      expect(e).toBeInstanceOf(MetricValidationError);
      expect((e as MetricValidationError).field).toBe('interval');
      expect((e as MetricValidationError).value).toBe('5x');
    }
  });
});
