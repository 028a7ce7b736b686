/**
 * The line-protocol parser against our corpus of edge cases from the syntax reference
 * (tests/fixtures/line_protocol/cases.json), plus linear-time and bound checks.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LineProtocolError, parseLineProtocol, toMilliseconds, type LinePrecision } from '../../src/interop/line_protocol_parser.js';

interface Case {
  name: string;
  input: string;
  precision?: LinePrecision;
  points?: Array<[string, Record<string, string>, number, number]>;
  skipped_strings?: number;
  error?: { line: number; column: number; message: string };
}

const CASES = JSON.parse(readFileSync(new URL('../fixtures/line_protocol/cases.json', import.meta.url), 'utf8')) as Case[];
const NOW_MS = 1_700_000_000_000;

function flatten(result: ReturnType<typeof parseLineProtocol>): Array<[string, Record<string, string>, number, number]> {
  const out: Array<[string, Record<string, string>, number, number]> = [];
  for (const s of result.series) for (let i = 0; i < s.timestamps.length; i++) out.push([s.metricId, { ...s.tags }, s.timestamps[i]!, s.values[i]!]);
  return out;
}

describe('line protocol corpus', () => {
  it('has a good number of cases', () => expect(CASES.length).toBeGreaterThanOrEqual(50));
  for (const c of CASES) {
    it(c.name, () => {
      const run = () => parseLineProtocol(c.input, { precision: c.precision ?? 'ns', nowMs: NOW_MS, maxPoints: 1000 });
      if (c.error !== undefined) {
        let caught: unknown;
        try {
          run();
        } catch (err) {
          caught = err;
        }
        expect(caught).toBeInstanceOf(LineProtocolError);
        const e = caught as LineProtocolError;
        expect({ line: e.line, column: e.column }).toEqual({ line: c.error.line, column: c.error.column });
        expect(e.message).toContain(c.error.message);
        expect(e.message).toMatch(new RegExp(`^line ${c.error.line}, column ${c.error.column}: `));
        return;
      }
      const result = run();
      expect(flatten(result)).toEqual(c.points);
      expect(result.skippedStringFields).toBe(c.skipped_strings ?? 0);
      expect(result.points).toBe(c.points!.length);
    });
  }
});

describe('line protocol bounds', () => {
  it('refuses a body with more points than maxPoints, naming the line', () => {
    const body = Array.from({ length: 20 }, (_, i) => `m v=${i} ${1_700_000_000_000 + i}`).join('\n');
    expect(() => parseLineProtocol(body, { precision: 'ms', nowMs: NOW_MS, maxPoints: 10 })).toThrow(/line 11, column \d+: the body holds more than 10 points/);
  });

  it('counts lines and groups fields into series', () => {
    const r = parseLineProtocol('a,h=1 x=1,y=2\na,h=1 x=3\nb z=1i', { precision: 'ms', nowMs: NOW_MS, maxPoints: 100 });
    expect(r.lines).toBe(3);
    expect(r.series.map((s) => [s.metricId, s.timestamps.length])).toEqual([['a.x', 2], ['a.y', 1], ['b.z', 1]]);
  });

  it('refuses more than 32 tags and over-long tag values', () => {
    const tags = Array.from({ length: 33 }, (_, i) => `t${i}=v`).join(',');
    expect(() => parseLineProtocol(`m,${tags} v=1`, { precision: 'ms', nowMs: NOW_MS, maxPoints: 10 })).toThrow(/at most 32 tags/);
    expect(() => parseLineProtocol(`m,t=${'x'.repeat(1025)} v=1`, { precision: 'ms', nowMs: NOW_MS, maxPoints: 10 })).toThrow(/at most 1024 characters/);
  });

  it('stays linear on pathological input (long escapes, unclosed strings, many fields)', () => {
    const inputs = [
      `m,t=${'\\ '.repeat(200_000)} v=1`,
      `m s="${'\\"'.repeat(200_000)}`,
      `m ${Array.from({ length: 50_000 }, (_, i) => `f${i}=1`).join(',')}`,
      `m v=1,v=2,${'v=3,'.repeat(50_000)}v=4`,
    ];
    for (const input of inputs) {
      const started = performance.now();
      try {
        parseLineProtocol(input, { precision: 'ms', nowMs: NOW_MS, maxPoints: 1_000_000 });
      } catch (err) {
        expect(err).toBeInstanceOf(LineProtocolError);
      }
      // Generous: a quadratic parse of these inputs takes minutes.
      expect(performance.now() - started).toBeLessThan(5_000);
    }
  });
});

describe('toMilliseconds', () => {
  it('keeps 19-digit nanosecond times exact and rounds toward the past', () => {
    expect(toMilliseconds('1700000000123456789', 'ns')).toBe(1_700_000_000_123);
    expect(toMilliseconds('999999', 'ns')).toBe(0);
    expect(toMilliseconds('-1', 'ns')).toBe(-1);
    expect(toMilliseconds('-1000000', 'ns')).toBe(-1);
    expect(toMilliseconds('-1500', 'us')).toBe(-2);
    expect(toMilliseconds('2', 's')).toBe(2000);
  });
});
