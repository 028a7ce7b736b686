/**
 * parseLineProtocolBytes (what the decode workers run: bytes decoded and parsed in pieces cut
 * after newlines) against parseLineProtocol on the same text: the corpus of edge cases
 * (tests/fixtures/line_protocol/cases.json) cut into pieces of every small size, so each seam
 * falls inside strings spanning lines, comments, CRLF endings and multi-byte characters, and
 * every result and error (line, column, message) must be the same as the whole-text parse's.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LineProtocolError, parseLineProtocol, parseLineProtocolBytes, type LinePrecision, type LineParseOptions } from '../../src/interop/line_protocol_parser.js';
import { LocalNumbering, columnsToSeries } from '../../src/interop/series_numbering.js';

interface Case {
  name: string;
  input: string;
  precision?: LinePrecision;
}

const CASES = JSON.parse(readFileSync(new URL('../fixtures/line_protocol/cases.json', import.meta.url), 'utf8')) as Case[];
const NOW_MS = 1_700_000_000_000;

type Outcome =
  | { ok: true; series: Array<{ metricId: string; tags: Record<string, string>; timestamps: number[]; values: number[] }>; points: number; lines: number; skipped: number }
  | { ok: false; line: number; column: number; message: string };

function outcomeOf(run: () => { series: Array<{ metricId: string; tags?: Record<string, string>; timestamps: ArrayLike<number>; values: ArrayLike<number> }>; points: number; lines: number; skippedStringFields: number }): Outcome {
  try {
    const r = run();
    return { ok: true, series: r.series.map((s) => ({ metricId: s.metricId, tags: { ...s.tags }, timestamps: [...Array.from(s.timestamps)], values: [...Array.from(s.values)] })), points: r.points, lines: r.lines, skipped: r.skippedStringFields };
  } catch (err) {
    if (!(err instanceof LineProtocolError)) throw err;
    return { ok: false, line: err.line, column: err.column, message: err.message };
  }
}

function wholeText(text: string, options: LineParseOptions): Outcome {
  return outcomeOf(() => parseLineProtocol(text, options));
}

function inPieces(bytes: Uint8Array, options: LineParseOptions, segmentBytes: number): Outcome {
  return outcomeOf(() => {
    const numbering = new LocalNumbering();
    const r = parseLineProtocolBytes(bytes, options, numbering, 0, segmentBytes);
    return { series: columnsToSeries(r, numbering.identities), points: r.points, lines: r.lines, skippedStringFields: r.skippedStringFields };
  });
}

describe('line protocol parsed from bytes in pieces', () => {
  for (const c of CASES) {
    it(`${c.name}: same result or error for every piece size`, () => {
      const options: LineParseOptions = { precision: c.precision ?? 'ns', nowMs: NOW_MS, maxPoints: 1000 };
      const expected = wholeText(c.input, options);
      const bytes = new TextEncoder().encode(c.input);
      for (const size of [1, 2, 3, 5, 8, 13, 21, 64 * 1024]) expect(inPieces(bytes, options, size)).toEqual(expected);
    });
  }

  it('keeps the points of a larger body with strings spanning the seams', () => {
    const lines: string[] = [];
    for (let i = 0; i < 400; i++) {
      // Every 7th line holds a string field running over three lines; every 11th a comment.
      if (i % 7 === 0) lines.push(`m,host=h${i % 13} note="a\nb\nc",v=${i}.5 ${1_700_000_000 + i}`);
      else if (i % 11 === 0) lines.push(`# comment ${i}`);
      else lines.push(`m,host=h${i % 13},city=Zürich v=${i},w=${-i}i ${1_700_000_000 + i}`);
    }
    const text = lines.join('\r\n');
    const options: LineParseOptions = { precision: 's', nowMs: NOW_MS, maxPoints: 10_000 };
    const expected = wholeText(text, options);
    expect(expected.ok).toBe(true);
    const bytes = new TextEncoder().encode(text);
    for (const size of [16, 100, 257, 4096]) expect(inPieces(bytes, options, size)).toEqual(expected);
  });

  it('reports a string left open at the end of the body where it opened, whatever the pieces', () => {
    const text = `m v=1 1\nm v=2 2\nm s="open\n${'x\n'.repeat(500)}`;
    const options: LineParseOptions = { precision: 'ms', nowMs: NOW_MS, maxPoints: 100 };
    const expected = wholeText(text, options);
    expect(expected).toMatchObject({ ok: false, line: 3, column: 5 });
    for (const size of [4, 64, 1000]) expect(inPieces(new TextEncoder().encode(text), options, size)).toEqual(expected);
  });

  it('skips a leading UTF-8 byte-order mark, as TextDecoder does', () => {
    const text = 'cpu,host=a usage=1.5 1700000000000';
    const options: LineParseOptions = { precision: 'ms', nowMs: NOW_MS, maxPoints: 10 };
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(text)]);
    expect(inPieces(withBom, options, 64 * 1024)).toEqual(wholeText(text, options));
  });

  it('counts maxPoints over the whole body, not per piece', () => {
    const text = Array.from({ length: 20 }, (_, i) => `m v=${i} ${1_700_000_000_000 + i}`).join('\n');
    const options: LineParseOptions = { precision: 'ms', nowMs: NOW_MS, maxPoints: 10 };
    expect(inPieces(new TextEncoder().encode(text), options, 16)).toMatchObject({ ok: false, line: 11 });
  });
});

describe('line protocol float values', () => {
  /** The value the parser stores for field `v=token`. */
  function parsedValue(token: string): number {
    const r = parseLineProtocol(`m v=${token} 1700000000000`, { precision: 'ms', nowMs: NOW_MS, maxPoints: 10 });
    return r.series[0]!.values[0]!;
  }

  it('reads plain decimals exactly as Number() does (the in-place fast path and the slow path agree)', () => {
    const fixed = ['0', '-0', '0.0', '-0.0', '007.5', '1.', '.5', '-.5', '0.1', '0.3', '123456789012345', '1234567890123456', '9007199254740993',
      '1.7976931348623157', '99999999999999.9', '0.000000000000001', '1e3', '-1.5E-3', '+2.5', '4503599627370497.5'];
    for (const token of fixed) expect(Object.is(parsedValue(token), Number(token)), token).toBe(true);
    let seed = 7;
    const next = (): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed;
    };
    for (let k = 0; k < 3000; k++) {
      const intDigits = next() % 12;
      const fracDigits = next() % 10;
      let token = next() % 2 === 0 ? '-' : '';
      for (let d = 0; d < intDigits; d++) token += String(next() % 10);
      if (fracDigits > 0 || intDigits === 0) {
        token += '.';
        for (let d = 0; d < Math.max(1, fracDigits); d++) token += String(next() % 10);
      }
      expect(Object.is(parsedValue(token), Number(token)), token).toBe(true);
    }
  });
});

describe('line protocol field predictions', () => {
  /** Every stored point as a sortable row. */
  function rows(text: string): string[] {
    const r = parseLineProtocol(text, { precision: 'ms', nowMs: NOW_MS, maxPoints: 100_000 });
    const out: string[] = [];
    for (const s of r.series) for (let i = 0; i < s.timestamps.length; i++) out.push(JSON.stringify([s.metricId, s.tags ?? {}, s.timestamps[i], s.values[i]]));
    return out.sort();
  }

  it('gives the points each line gives alone, whatever the field order of earlier lines of the series', () => {
    // Lines of one series whose fields change order, repeat, turn into strings, and have keys
    // that are prefixes of others: a prediction taken from the line before must never stand
    // in for a different key. (Escaped keys cannot make valid metric ids, so none here.)
    const lines = [
      'm,h=a v=1,vv=2 1000',
      'm,h=a vv=3,v=4 2000',
      'm,h=a v=5,v=6,vv=7 3000',
      'm,h=a v="text",vv=8 4000',
      'm,h=a v=9,vv="text" 5000',
      'm,h=a v.x=10,v:y=11 6000',
      'm,h=a v=12,v.x=13 7000',
      'm,h=a v:y=14,v=15 8000',
      'm,h=a vv=16 9000',
      'm,h=a v=17,vv=18,w=19i 10000',
      'm,h=a v=20,vv=21,w=22i 11000',
      'm,h=b v=23,vv=24 12000',
      'm,h=a v=25 13000',
    ];
    const alone = lines.flatMap((line) => rows(line)).sort();
    expect(rows(lines.join('\n'))).toEqual(alone);
    // 25 numeric values, less the one a duplicate key overrides.
    expect(alone).toHaveLength(24);
  });
});
