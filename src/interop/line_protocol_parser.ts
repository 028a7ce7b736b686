/**
 * InfluxDB line protocol (1.x and 2.x, they share the syntax), parsed in one left-to-right pass
 * over the text with no regular expression and no backtracking: every character is looked at a
 * bounded number of times, so the time is linear in the body whatever it holds.
 *
 *   measurement[,tag_key=tag_value…] field_key=field_value[,field_key=field_value…] [timestamp]
 *
 * Syntax followed: https://docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol/
 * - escapes: `\,` and `\ ` in measurements; `\,` `\=` `\ ` in tag keys, tag values and field
 *   keys; `\"` and `\\` in string field values; `\\` is a backslash everywhere; a backslash
 *   before any other character is kept as it is (the reference parsers do the same);
 * - field types: float (`1`, `-1.5e3`), integer (`1i`), unsigned (`1u`), boolean (`t`, `T`,
 *   `true`, `True`, `TRUE` and the same for false) and string (`"…"`, may span lines);
 * - `#` at the start of a line is a comment; empty lines and `\r\n` endings are allowed.
 *
 * What EMMS makes of it: each numeric field becomes a point of the series `measurement.field`
 * with the line's tags; booleans are 1 and 0; integers and unsigned integers are stored as
 * doubles (exact up to 2^53). String fields are not numbers: they are skipped and counted
 * (`skippedStringFields`), never stored. Timestamps are converted to epoch milliseconds,
 * rounding toward the past (EMMS stores millisecond timestamps); a line without one takes
 * `nowMs`.
 *
 * Errors: the first bad line stops the parse with a LineProtocolError naming its 1-based line
 * and column, and the caller stores nothing of the request.
 */
import { isAscii } from 'node:buffer';
import { MAX_TAG_VALUE_CHARS, MAX_TAGS_PER_POINT, METRIC_ID_PATTERN, TAG_KEY_PATTERN, isStorableTime, type Tags } from '../model/metric.js';
import type { ColumnarSeries } from '../model/api.js';
import { LocalNumbering, PointColumns, columnsToSeries, type LineSeriesEntry, type SeriesNumbering } from './series_numbering.js';
import { BACKSLASH, COMMA, CR, Cursor, EQUALS, HASH, LineProtocolError, MINUS, NEWLINE, SPACE, TAB, ZERO, isDigit } from './line_protocol_cursor.js';
import { readFieldValue } from './line_protocol_field_value.js';

export { LineProtocolError } from './line_protocol_cursor.js';

/** A timestamp precision of the `precision` query parameter. */
export type LinePrecision = 'ns' | 'us' | 'ms' | 's' | 'm' | 'h';

/** Decimal digits to drop (ns, us) or the factor to multiply by (s, m, h) to reach milliseconds. */
const PRECISION_TO_MS: Record<LinePrecision, { dropDigits: number; factor: number }> = {
  ns: { dropDigits: 6, factor: 1 },
  us: { dropDigits: 3, factor: 1 },
  ms: { dropDigits: 0, factor: 1 },
  s: { dropDigits: 0, factor: 1_000 },
  m: { dropDigits: 0, factor: 60_000 },
  h: { dropDigits: 0, factor: 3_600_000 },
};

export interface LineParseOptions {
  precision: LinePrecision;
  /** Time of points without a timestamp, epoch ms. */
  nowMs: number;
  /** Most points (numeric fields) one body may hold; more is an error naming the line. */
  maxPoints: number;
}

export interface LineParseResult {
  series: ColumnarSeries[];
  points: number;
  lines: number;
  skippedStringFields: number;
}

export interface LineColumnsResult {
  /** Point i is (seriesOf[i], timestamps[i], values[i]); series numbers come from the numbering. */
  seriesOf: Int32Array;
  timestamps: Float64Array;
  values: Float64Array;
  points: number;
  lines: number;
  skippedStringFields: number;
}
/** Parses a whole body into ColumnarSeries (one per series, first-seen order); for tests and embedders. */
export function parseLineProtocol(text: string, options: LineParseOptions): LineParseResult {
  const numbering = new LocalNumbering();
  const r = parseLineProtocolColumns(text, options, numbering);
  return { series: columnsToSeries(r, numbering.identities), points: r.points, lines: r.lines, skippedStringFields: r.skippedStringFields };
}

/**
 * Parses a whole body into point columns, numbering new series through `numbering` (which
 * remembers them for the next body); throws LineProtocolError at the first bad line. Series
 * numbered before the error stay numbered: harmless, a number costs nothing until used.
 */
export function parseLineProtocolColumns(text: string, options: LineParseOptions, numbering: SeriesNumbering): LineColumnsResult {
  // ~40 bytes per point in typical bodies; the columns grow if that is short.
  const acc: Accumulated = { out: new PointColumns(text.length / 40), points: 0, lines: 0, skippedStringFields: 0 };
  parseSegment(text, 1, options, numbering, acc);
  return { ...acc.out.finish(), points: acc.points, lines: acc.lines, skippedStringFields: acc.skippedStringFields };
}

/**
 * Bytes of body decoded into one string at most, cut after a newline. A string of more than
 * V8's largest regular object (128 KiB of one-byte characters) is allocated on a page of its
 * own: decoding a 230 KB line-protocol body in one piece cost ~0.9 ms of CPU, in 16–64 KiB
 * pieces ~0.04 ms (/tmp measurement on this machine, Node 20; the whole TextDecoder step was
 * 10–12% of a decode worker's time in bench/interop_ingest.ts profiles).
 */
const SEGMENT_BYTES = 64 * 1024;
const UTF8_BOM = [0xef, 0xbb, 0xbf] as const;

/**
 * parseLineProtocolColumns for a body of bytes the caller has checked to be UTF-8 (a leading
 * byte-order mark is skipped, as TextDecoder does). The body is decoded and parsed in pieces
 * of about SEGMENT_BYTES, each ending after a newline, with line numbers running on. The
 * only syntax that crosses a newline is a quoted string field: a piece cut inside one ends in
 * an unclosed string, and is parsed again, twice as long, after dropping what it added.
 * `expectedPoints` sizes the columns (what the tenant's previous bodies suggest);
 * `segmentBytes` is the piece size (tests cut bodies into tiny pieces to check the seams).
 */
export function parseLineProtocolBytes(bytes: Uint8Array, options: LineParseOptions, numbering: SeriesNumbering, expectedPoints = 0, segmentBytes = SEGMENT_BYTES): LineColumnsResult {
  const body = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const acc: Accumulated = { out: new PointColumns(expectedPoints > 0 ? expectedPoints : body.length / 40), points: 0, lines: 0, skippedStringFields: 0 };
  let start = body.length >= 3 && body[0] === UTF8_BOM[0] && body[1] === UTF8_BOM[1] && body[2] === UTF8_BOM[2] ? 3 : 0;
  let line = 1;
  let size = segmentBytes;
  /** After a piece ended inside a string, the next try must reach past where it ended. */
  let endAfter = start;
  while (start < body.length) {
    let end = segmentEnd(body, start, size);
    if (end <= endAfter) {
      const next = body.indexOf(NEWLINE, endAfter);
      end = next < 0 ? body.length : next + 1;
    }
    const piece = body.subarray(start, end);
    const text = isAscii(piece) ? body.toString('latin1', start, end) : body.toString('utf8', start, end);
    const mark = { length: acc.out.length, points: acc.points, lines: acc.lines, skippedStringFields: acc.skippedStringFields };
    try {
      line = parseSegment(text, line, options, numbering, acc);
    } catch (err) {
      if (!(err instanceof LineProtocolError) || !err.unclosedString || end === body.length) throw err;
      acc.out.length = mark.length;
      acc.points = mark.points;
      acc.lines = mark.lines;
      acc.skippedStringFields = mark.skippedStringFields;
      size = (end - start) * 2;
      endAfter = end;
      continue;
    }
    start = end;
    size = segmentBytes;
  }
  return { ...acc.out.finish(), points: acc.points, lines: acc.lines, skippedStringFields: acc.skippedStringFields };
}

/** The end of a piece starting at `start`: just after the last newline within `size` bytes, or the first one past them. */
function segmentEnd(body: Buffer, start: number, size: number): number {
  if (body.length - start <= size) return body.length;
  const last = body.lastIndexOf(NEWLINE, start + size - 1);
  if (last >= start) return last + 1;
  const next = body.indexOf(NEWLINE, start + size);
  return next < 0 ? body.length : next + 1;
}

/** What the pieces of one body add up to. */
interface Accumulated {
  out: PointColumns;
  points: number;
  lines: number;
  skippedStringFields: number;
}

/** Parses `text` (whole lines, the first being line `firstLine`) into `acc`; returns the line number after it. */
function parseSegment(text: string, firstLine: number, options: LineParseOptions, numbering: SeriesNumbering, acc: Accumulated): number {
  const cur = new Cursor(text, firstLine);
  const out = acc.out;
  const lineSeries: number[] = [];
  const lineValues: number[] = [];
  /** Line number a series number last appeared on, and its slot there (duplicate fields: last wins). */
  const seenOnLine: number[] = [];
  const slotOnLine: number[] = [];
  let points = acc.points;
  let lines = acc.lines;
  let skippedStringFields = acc.skippedStringFields;
  const n = text.length;
  while (cur.pos < n) {
    const c = text.charCodeAt(cur.pos);
    if (c === NEWLINE) {
      cur.pos++;
      cur.line++;
      cur.lineStart = cur.pos;
      continue;
    }
    if (c === CR || c === SPACE || c === TAB) {
      // Leading blanks and a CR of a CRLF ending; a blank-only line is allowed.
      cur.pos++;
      continue;
    }
    if (c === HASH) {
      while (cur.pos < n && text.charCodeAt(cur.pos) !== NEWLINE) cur.pos++;
      continue;
    }
    lines++;
    const entry = seriesEntry(cur, numbering);
    expectSpace(cur, 'a space and the fields after the tags');
    lineSeries.length = 0;
    lineValues.length = 0;
    const predicted = entry.lastFields;
    for (let slot = 0; ; slot++) {
      const column = cur.pos;
      // The field key the same series' last line had in this place, compared in place: a hit
      // costs no substring and no Map lookup. The text matched was a whole valid key then
      // (no unescaped separator inside, not ending in a lone backslash), so it is one now.
      let field = predicted[slot];
      if (field !== undefined && text.startsWith(field.raw, column) && text.charCodeAt(column + field.raw.length) === EQUALS) {
        cur.pos = column + field.raw.length;
      } else {
        const key = readName(cur, 'field key', true);
        if (key.length === 0) cur.fail('missing field key');
        if (cur.pos >= n || text.charCodeAt(cur.pos) !== EQUALS) cur.fail(`field ${JSON.stringify(key)} needs "=" and a value`);
        field = { raw: text.slice(column, cur.pos), key, series: -1 };
        predicted[slot] = field;
      }
      const key = field.key;
      cur.pos++;
      const value = readFieldValue(cur, key);
      if (value === undefined) skippedStringFields++;
      else {
        let series = field.series;
        if (series < 0) {
          series = entry.fields.get(key) ?? -1;
          if (series < 0) {
            const metricId = `${entry.measurement}.${key}`;
            if (!METRIC_ID_PATTERN.test(metricId)) {
              cur.fail(`metric id ${JSON.stringify(metricId)} (measurement.field) must match ${METRIC_ID_PATTERN.source}`, column);
            }
            series = numbering.add({ metricId, tags: entry.tags });
            entry.fields.set(key, series);
          }
          field.series = series;
        }
        // The same key twice in a line: the last value wins, as in InfluxDB.
        if (seenOnLine[series] === cur.line) lineValues[slotOnLine[series]!] = value;
        else {
          seenOnLine[series] = cur.line;
          slotOnLine[series] = lineSeries.length;
          lineSeries.push(series);
          lineValues.push(value);
        }
      }
      if (cur.pos < n && text.charCodeAt(cur.pos) === COMMA) {
        cur.pos++;
        continue;
      }
      break;
    }
    const lineNumber = cur.line;
    const timestamp = readTimestamp(cur, options);
    for (let i = 0; i < lineSeries.length; i++) out.push(lineSeries[i]!, timestamp, lineValues[i]!);
    points += lineSeries.length;
    // A string field spanning lines moved cur.line: stamp by the line the point started on.
    if (cur.line !== lineNumber) for (const s of lineSeries) seenOnLine[s] = -1;
    if (points > options.maxPoints) cur.fail(`the body holds more than ${options.maxPoints} points (collector.batch_size); split it`);
  }
  acc.points = points;
  acc.lines = lines;
  acc.skippedStringFields = skippedStringFields;
  return cur.line;
}

/**
 * The measurement and tags of the line at the cursor, from the cache when this exact text was
 * seen before (no parsing, no validation: it passed both then), else parsed and validated.
 */
function seriesEntry(cur: Cursor, numbering: SeriesNumbering): LineSeriesEntry {
  const text = cur.text;
  const start = cur.pos;
  let i = start;
  const n = text.length;
  // Find the first unescaped space (or the end of the line) without building anything.
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH && i + 1 < n) {
      const next = text.charCodeAt(i + 1);
      if (next === COMMA || next === SPACE || next === BACKSLASH || next === EQUALS) {
        i += 2;
        continue;
      }
    } else if (c === SPACE || c === NEWLINE || c === CR || c === TAB) break;
    i++;
  }
  const key = text.slice(start, i);
  const cached = numbering.lines.get(key);
  if (cached !== undefined && i < n && text.charCodeAt(i) === SPACE) {
    cur.pos = i;
    return cached;
  }
  const measurement = readName(cur, 'measurement', false);
  if (measurement.length === 0) cur.fail('missing measurement');
  const tags = readTags(cur);
  const entry: LineSeriesEntry = { measurement, tags, fields: new Map(), lastFields: [] };
  if (cur.pos === i) numbering.lines.set(key, entry);
  return entry;
}

/**
 * Reads a measurement (`isKey` false: ends at an unescaped comma or space) or a tag/field key
 * (`isKey` true: also ends at `=`). Escapes are resolved; the fast path slices when there is none.
 */
function readName(cur: Cursor, what: string, isKey: boolean): string {
  const text = cur.text;
  const start = cur.pos;
  let parts: string[] | undefined;
  let runStart = start;
  let i = start;
  const n = text.length;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH && i + 1 < n) {
      const next = text.charCodeAt(i + 1);
      if (next === COMMA || next === SPACE || next === BACKSLASH || (isKey && next === EQUALS)) {
        (parts ??= []).push(text.slice(runStart, i), text[i + 1]!);
        i++;
        runStart = i + 1;
      }
      continue;
    }
    if (c === COMMA || c === SPACE || (isKey && c === EQUALS)) break;
    if (c === NEWLINE || c === CR) {
      cur.pos = i;
      cur.fail(`${what} ends the line: expected ${isKey ? '"=" and a value' : 'fields after a space'}`);
    }
    if (c === TAB) {
      cur.pos = i;
      cur.fail(`a tab in the ${what} must not be there (use a space between sections)`);
    }
  }
  cur.pos = i;
  if (parts === undefined) return text.slice(start, i);
  parts.push(text.slice(runStart, i));
  return parts.join('');
}

function readTags(cur: Cursor): Tags {
  const text = cur.text;
  if (cur.pos >= text.length || text.charCodeAt(cur.pos) !== COMMA) return {};
  const tags: Tags = {};
  let count = 0;
  while (cur.pos < text.length && text.charCodeAt(cur.pos) === COMMA) {
    cur.pos++;
    const keyAt = cur.pos;
    const key = readName(cur, 'tag key', true);
    if (key.length === 0) cur.fail('missing tag key');
    if (!TAG_KEY_PATTERN.test(key)) cur.fail(`tag key ${JSON.stringify(key)} must match ${TAG_KEY_PATTERN.source}`, keyAt);
    if (Object.prototype.hasOwnProperty.call(tags, key)) cur.fail(`tag key ${JSON.stringify(key)} appears twice`, keyAt);
    if (cur.pos >= text.length || text.charCodeAt(cur.pos) !== EQUALS) cur.fail(`tag ${JSON.stringify(key)} needs "=" and a value`);
    cur.pos++;
    const valueAt = cur.pos;
    const value = readName(cur, 'tag value', true);
    if (value.length === 0) cur.fail(`tag ${JSON.stringify(key)} has an empty value`, valueAt);
    if (value.length > MAX_TAG_VALUE_CHARS) cur.fail(`tag ${JSON.stringify(key)} value must be at most ${MAX_TAG_VALUE_CHARS} characters`, valueAt);
    if (++count > MAX_TAGS_PER_POINT) cur.fail(`at most ${MAX_TAGS_PER_POINT} tags per line`, keyAt);
    tags[key] = value;
  }
  return tags;
}

function expectSpace(cur: Cursor, what: string): void {
  if (cur.pos >= cur.text.length || cur.text.charCodeAt(cur.pos) !== SPACE) cur.fail(`expected ${what}`);
  cur.pos++;
}

/** The optional timestamp and the end of the line. */
function readTimestamp(cur: Cursor, options: LineParseOptions): number {
  const text = cur.text;
  const n = text.length;
  if (cur.pos < n && text.charCodeAt(cur.pos) === SPACE) {
    while (cur.pos < n && text.charCodeAt(cur.pos) === SPACE) cur.pos++;
    const start = cur.pos;
    if (cur.pos < n && text.charCodeAt(cur.pos) === MINUS) cur.pos++;
    while (cur.pos < n && isDigit(text.charCodeAt(cur.pos))) cur.pos++;
    const token = text.slice(start, cur.pos);
    if (token.length > 0) {
      if (token === '-' || token.length > 20) cur.fail(`timestamp ${JSON.stringify(token)} is not an integer`, start);
      const ms = toMilliseconds(token, options.precision);
      if (!isStorableTime(ms)) {
        cur.fail(`timestamp ${token} (precision ${options.precision}) is ${new Date(ms).getTime() ? new Date(ms).toISOString() : 'out of range'}: must fall in [1970, 2200); is the precision parameter right?`, start);
      }
      endOfLine(cur);
      return ms;
    }
  }
  endOfLine(cur);
  return options.nowMs;
}

function endOfLine(cur: Cursor): void {
  const text = cur.text;
  while (cur.pos < text.length && (text.charCodeAt(cur.pos) === SPACE || text.charCodeAt(cur.pos) === CR)) cur.pos++;
  if (cur.pos < text.length && text.charCodeAt(cur.pos) !== NEWLINE) {
    cur.fail(`unexpected ${JSON.stringify(text[cur.pos])}: expected a timestamp or the end of the line`);
  }
}

/**
 * An integer timestamp string in `precision` as epoch ms, rounded toward the past. Dropping
 * digits of the string (not dividing a double) keeps 19-digit nanosecond times exact.
 */
export function toMilliseconds(token: string, precision: LinePrecision): number {
  const { dropDigits, factor } = PRECISION_TO_MS[precision];
  if (dropDigits === 0) return Number(token) * factor;
  const negative = token.charCodeAt(0) === MINUS;
  const digits = negative ? token.slice(1) : token;
  const kept = digits.length > dropDigits ? Number(digits.slice(0, digits.length - dropDigits)) : 0;
  if (!negative) return kept;
  // Toward the past for negative times too (they are refused later, but the message says when).
  let remainderNonZero = false;
  for (let i = Math.max(0, digits.length - dropDigits); i < digits.length; i++) if (digits.charCodeAt(i) !== ZERO) remainderNonZero = true;
  return -kept - (remainderNonZero ? 1 : 0);
}
