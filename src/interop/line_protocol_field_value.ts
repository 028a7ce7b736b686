/**
 * Line-protocol field values, read by hand in one pass (no regular expression on user input):
 * float (`1`, `-1.5e3`, `.5`, `1.`), integer (`42i`, int64 range), unsigned (`42u`, uint64
 * range), boolean (`t`, `T`, `true`, `True`, `TRUE`, and the same for false) and string
 * (`"…"`, skipped: EMMS stores numbers). Errors name the field and the value.
 */
import { COMMA, CR, Cursor, DOT, MINUS, NEWLINE, NINE, PLUS, QUOTE, SPACE, BACKSLASH, ZERO, isDigit } from './line_protocol_cursor.js';

const BOOLEAN_WORDS: ReadonlyMap<string, number> = new Map([
  ['t', 1], ['T', 1], ['true', 1], ['True', 1], ['TRUE', 1],
  ['f', 0], ['F', 0], ['false', 0], ['False', 0], ['FALSE', 0],
]);

/** 10^k for k ≤ 22: every one is exact in a double. */
const POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);
/** Digits a plain decimal may have for readFloatFast: below 2^53, so the digits are exact in a double. */
const MAX_FAST_DIGITS = 15;

/**
 * A field's value: its number, or undefined for a string (skipped). Plain decimals (`-12.34`,
 * the bulk of real bodies) take readFloatFast; everything else, and every error, readFieldValueSlow.
 */
export function readFieldValue(cur: Cursor, key: string): number | undefined {
  const v = readFloatFast(cur);
  return v === undefined ? readFieldValueSlow(cur, key) : v;
}

/**
 * `[-]digits[.digits]` of at most MAX_FAST_DIGITS digits, ending the field, read in place (no
 * substring, no Number()): its digits as an integer m and f fraction digits give m / 10^f, one
 * division of two exact doubles, which IEEE rounds correctly, so the value equals Number()'s
 * (Clinger's fast path, https://doi.org/10.1145/93548.93557). Anything else: undefined, the
 * cursor unmoved. Measured: readFieldValue was ~10% of a decode worker's line-protocol time.
 */
function readFloatFast(cur: Cursor): number | undefined {
  const text = cur.text;
  const n = text.length;
  let i = cur.pos;
  const negative = i < n && text.charCodeAt(i) === MINUS;
  if (negative) i++;
  let m = 0;
  let digits = 0;
  let fraction = -1;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= ZERO && c <= NINE) {
      m = m * 10 + (c - ZERO);
      digits++;
      if (fraction >= 0) fraction++;
    } else if (c === DOT && fraction < 0) {
      fraction = 0;
    } else if (c === COMMA || c === SPACE || c === NEWLINE || c === CR) {
      break;
    } else {
      return undefined;
    }
  }
  if (digits === 0 || digits > MAX_FAST_DIGITS) return undefined;
  cur.pos = i;
  const v = fraction > 0 ? m / POW10[fraction]! : m;
  return negative ? -v : v;
}

/** readFieldValue for every form: integers, unsigned, booleans, strings, exponents; and errors. */
function readFieldValueSlow(cur: Cursor, key: string): number | undefined {
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
  cur.fail(`string field ${JSON.stringify(key)} has no closing quote`, openAt, true);
}
