/** Time inputs of queries (src/model/time.ts). */
import { describe, expect, it } from 'vitest';
import { parseTimeInput } from '../../src/model/time.js';
import { MetricValidationError } from '../../src/model/metric.js';
import { parseInterval } from '../../src/model/interval.js';
import { queryFromSearchParams } from '../../src/server/query_request.js';

describe('parseTimeInput', () => {
  const t = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  it.each([
    [t, t],
    [new Date(t), t],
    [String(t), t],
    ['2026-01-02T03:04:05.678Z', t],
    ['2026-01-02T03:04:05.678', t],
    ['2026-01-02 03:04:05.678', t],
    ['2026-01-02T04:04:05.678+01:00', t],
    ['2026-01-02T03:04:05.678000Z', t],
    ['2026-01-02', Date.UTC(2026, 0, 2)],
    ['2026-01-02T03:04', Date.UTC(2026, 0, 2, 3, 4)],
  ] as const)('%s → %i', (input, expected) => {
    expect(parseTimeInput(input, 'startTime', 0)).toBe(expected);
  });

  it('returns the fallback for undefined and null', () => {
    expect(parseTimeInput(undefined, 'endTime', 42)).toBe(42);
    expect(parseTimeInput(null, 'endTime', 42)).toBe(42);
  });

  it.each([
    ['yesterday', /startTime="yesterday" must be a Date, epoch milliseconds or an ISO-8601 time/],
    ['2026-13-45', /startTime="2026-13-45" must be a finite epoch-millisecond time/],
    [Number.NaN, /startTime=NaN must be a finite epoch-millisecond time in \[1970, 2200\]/],
    [-1, /startTime=-1/],
    [new Date('nope'), /startTime=Date\(NaN\)/],
    [Date.UTC(2300, 0, 1), /startTime=10413792000000/],
    [{}, /startTime=object must be a Date/],
  ])('refuses %s naming the parameter', (input, message) => {
    expect(() => parseTimeInput(input as never, 'startTime', 0)).toThrow(message);
    try {
      parseTimeInput(input as never, 'startTime', 0);
    } catch (error) {
      expect(error).toBeInstanceOf(MetricValidationError);
      expect((error as MetricValidationError).field).toBe('startTime');
    }
  });
});

describe('HTTP and embedded queries read times and intervals alike', () => {
  it('reads an offset-less ISO time as UTC and accepts 1.5h over HTTP, as the engine does', () => {
    const q = queryFromSearchParams(new URLSearchParams('metric_pattern=x&start_time=2026-01-02T03:04:05&aggregation=avg&interval=1.5h'), { maxSeries: 10, maxPoints: 10 });
    expect(q.startTime).toBe(Date.UTC(2026, 0, 2, 3, 4, 5));
    expect(q.startTime).toBe(parseTimeInput('2026-01-02T03:04:05', 'startTime', 0));
    expect((q as { interval: string }).interval).toBe('1.5h');
    expect(parseInterval('1.5h')).toBe(5_400_000);
  });

  it('refuses what the engine refuses, naming the HTTP parameter', () => {
    const limits = { maxSeries: 10, maxPoints: 10 };
    expect(() => queryFromSearchParams(new URLSearchParams('metric_pattern=x&aggregation=median&interval=1h'), limits)).toThrow(/aggregation="median" must be one of/);
    expect(() => queryFromSearchParams(new URLSearchParams('metric_pattern=x&aggregation=avg&interval=0.5ms'), limits)).toThrow(/interval="0\.5ms" must be a whole number of milliseconds/);
  });
});
