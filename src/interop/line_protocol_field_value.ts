/**
 * Line-protocol field values, read by hand in one pass (no regular expression on user input):
 * float (`1`, `-1.5e3`, `.5`, `1.`), integer (`42i`, int64 range), unsigned (`42u`, uint64
 * range), boolean (`t`, `T`, `true`, `True`, `TRUE`, and the same for false) and string
 * (`"…"`, skipped: EMMS stores numbers). Errors name the field and the value.
 */
import { COMMA, CR, Cursor, DOT, MINUS, NEWLINE, PLUS, QUOTE, SPACE, BACKSLASH, isDigit } from './line_protocol_cursor.js';

const BOOLEAN_WORDS: ReadonlyMap<string, number> = new Map([
  ['t', 1], ['T', 1], ['true', 1], ['True', 1], ['TRUE', 1],
  ['f', 0], ['F', 0], ['false', 0], ['False', 0], ['FALSE', 0],
]);

/** A field's value: its number, or undefined for a string (skipped). */
export function readFieldValue(cur: Cursor, key: string): number | undefined {
  const text = cur.text;
  const start = cur.pos;
  if (start >= text.length) cur.fail(`field ${JSON.stringify(key)} has no value`);
  const first = text.charCodeAt(start);
  if (first === QUOTE) {
    skipString(cur, key);
    return undefined;
  }
  let i = start;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === COMMA || c === SPACE || c === NEWLINE || c === CR) break;
    i++;
  }
  cur.pos = i;
  const token = text.slice(start, i);
  if (token.length === 0) cur.fail(`field ${JSON.stringify(key)} has no value`, start);
  const last = token.charCodeAt(token.length - 1);
  if (last === 105 /* i */ || last === 117 /* u */) {
    const digits = token.slice(0, -1);
    const negative = digits.charCodeAt(0) === MINUS;
    const body = negative ? digits.slice(1) : digits;
    if (body.length === 0 || !allDigits(body) || (last === 117 && negative)) {
      cur.fail(`field ${JSON.stringify(key)}=${token} is not ${last === 105 ? 'an integer (e.g. 42i)' : 'an unsigned integer (e.g. 42u)'}`, start);
    }
    const big = BigInt(digits);
    const [min, max] = last === 105 ? [-(2n ** 63n), 2n ** 63n - 1n] : [0n, 2n ** 64n - 1n];
    if (big < min || big > max) cur.fail(`field ${JSON.stringify(key)}=${token} is out of the ${last === 105 ? 'int64' : 'uint64'} range`, start);
    return Number(big);
  }
  const bool = BOOLEAN_WORDS.get(token);
  if (bool !== undefined) return bool;
  if (!isFloatToken(token)) cur.fail(`field ${JSON.stringify(key)}=${token.length > 40 ? `${token.slice(0, 40)}…` : token} is not a number, integer (i), unsigned (u), boolean or "string"`, start);
  const v = Number(token);
  if (!Number.isFinite(v)) cur.fail(`field ${JSON.stringify(key)}=${token} is out of the float64 range`, start);
  return v;
}

function allDigits(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return true;
}

/** `[-+]?(digits[.digits?] | .digits)([eE][-+]?digits)?`, checked by hand: no regex on user input. */
function isFloatToken(s: string): boolean {
  let i = 0;
  const n = s.length;
  if (i < n && (s.charCodeAt(i) === MINUS || s.charCodeAt(i) === PLUS)) i++;
  let mantissaDigits = 0;
  while (i < n && isDigit(s.charCodeAt(i))) {
    i++;
    mantissaDigits++;
  }
  if (i < n && s.charCodeAt(i) === DOT) {
    i++;
    while (i < n && isDigit(s.charCodeAt(i))) {
      i++;
      mantissaDigits++;
    }
  }
  if (mantissaDigits === 0) return false;
  if (i < n && (s.charCodeAt(i) === 101 || s.charCodeAt(i) === 69)) {
    i++;
    if (i < n && (s.charCodeAt(i) === MINUS || s.charCodeAt(i) === PLUS)) i++;
    let expDigits = 0;
    while (i < n && isDigit(s.charCodeAt(i))) {
      i++;
      expDigits++;
    }
    if (expDigits === 0) return false;
  }
  return i === n;
}

/** Skips a quoted string value (it may span lines: line numbers keep counting inside it). */
function skipString(cur: Cursor, key: string): void {
  const text = cur.text;
  const openAt = cur.pos;
  const openLine = cur.line;
  const openLineStart = cur.lineStart;
  let i = cur.pos + 1;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH) {
      i += 2;
      continue;
    }
    if (c === QUOTE) {
      cur.pos = i + 1;
      return;
    }
    if (c === NEWLINE) {
      cur.line++;
      cur.lineStart = i + 1;
    }
    i++;
  }
  cur.line = openLine;
  cur.lineStart = openLineStart;
  cur.fail(`string field ${JSON.stringify(key)} has no closing quote`, openAt);
}
