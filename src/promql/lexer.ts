/**
 * Splits a PromQL expression into tokens, following Prometheus' `promql/parser/lex.go`:
 * identifiers may hold `:` (recording-rule names), numbers take Go's float syntax plus hex,
 * `Inf` and `NaN`, a number directly followed by a unit is a duration (`5m`, `1h30m`), and
 * strings come in double, single and back quotes (the last without escapes).
 */
import { PromQLSyntaxError } from './errors.js';

export type TokenKind = 'ident' | 'number' | 'duration' | 'string' | 'op' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** Identifier or operator text, the string's decoded value, or the number/duration source. */
  readonly text: string;
  /** Offset of the token's first character. */
  readonly pos: number;
}

/** Longest operators first, so `=~` is not read as `=` then `~`. */
const OPERATORS = ['=~', '!~', '!=', '==', '>=', '<=', '(', ')', '{', '}', '[', ']', ',', '=', '>', '<', '+', '-', '*', '/', '%', '^', '@', ':'];

const DURATION = /^(?:[0-9]+(?:ms|s|m|h|d|w|y))+/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
const NUMBER = /^(?:0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)/;

function isIdentStart(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c === '_' || c === ':';
}

function isIdentChar(c: string): boolean {
  return isIdentStart(c) || (c >= '0' && c <= '9');
}

/** Milliseconds of a Prometheus duration such as `1h30m`; throws PromQLSyntaxError at `pos`. */
export function durationMs(text: string, pos: number): number {
  const full = DURATION.exec(text);
  if (full === null || full[0] !== text) throw new PromQLSyntaxError(`bad duration ${JSON.stringify(text)}`, pos);
  let ms = 0;
  for (const m of text.matchAll(/([0-9]+)(ms|s|m|h|d|w|y)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  if (!Number.isSafeInteger(ms)) throw new PromQLSyntaxError(`duration ${JSON.stringify(text)} is too long`, pos);
  return ms;
}

/** The value of a number token (hex, decimal, `Inf`, `NaN`). */
export function numberValue(text: string): number {
  const lower = text.toLowerCase();
  if (lower === 'inf') return Infinity;
  if (lower === 'nan') return NaN;
  if (lower.startsWith('0x')) return parseInt(lower.slice(2), 16);
  return Number(text);
}

function readString(src: string, start: number): { value: string; end: number } {
  const quote = src[start]!;
  let i = start + 1;
  let out = '';
  while (i < src.length) {
    const c = src[i]!;
    if (c === quote) return { value: out, end: i + 1 };
    if (c === '\\' && quote !== '`') {
      const n = src[i + 1];
      const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", a: '\x07', b: '\b', f: '\f', v: '\v' };
      if (n !== undefined && simple[n] !== undefined) {
        out += simple[n];
        i += 2;
        continue;
      }
      const hex = n === 'x' ? /^[0-9a-fA-F]{2}/ : n === 'u' ? /^[0-9a-fA-F]{4}/ : n === 'U' ? /^[0-9a-fA-F]{8}/ : undefined;
      const digits = hex === undefined ? undefined : hex.exec(src.slice(i + 2));
      if (digits === null || digits === undefined) throw new PromQLSyntaxError(`unknown escape sequence \\${n ?? ''}`, i);
      out += String.fromCodePoint(parseInt(digits[0], 16));
      i += 2 + digits[0].length;
      continue;
    }
    if (c === '\n' && quote !== '`') break;
    out += c;
    i++;
  }
  throw new PromQLSyntaxError('unterminated quoted string', start);
}

export function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') {
      const s = readString(src, i);
      tokens.push({ kind: 'string', text: s.value, pos: i });
      i = s.end;
      continue;
    }
    if ((c >= '0' && c <= '9') || (c === '.' && /[0-9]/.test(src[i + 1] ?? ''))) {
      const rest = src.slice(i);
      const dur = DURATION.exec(rest);
      const after = rest[dur?.[0].length ?? 0] ?? ' ';
      // `:` may follow a duration (the subquery `[5m:1m]`) although identifiers may hold it.
      if (dur !== null && (after === ':' || !isIdentChar(after)) && after !== '.') {
        tokens.push({ kind: 'duration', text: dur[0], pos: i });
        i += dur[0].length;
        continue;
      }
      const num = NUMBER.exec(rest)!;
      if (isIdentChar(rest[num[0].length] ?? ' ')) throw new PromQLSyntaxError(`bad number or duration syntax: ${JSON.stringify(rest.slice(0, num[0].length + 1))}`, i);
      tokens.push({ kind: 'number', text: num[0], pos: i });
      i += num[0].length;
      continue;
    }
    if (isIdentStart(c) && !(c === ':' && tokens[tokens.length - 1]?.kind === 'duration')) {
      let j = i + 1;
      while (j < src.length && isIdentChar(src[j]!)) j++;
      const word = src.slice(i, j);
      const lower = word.toLowerCase();
      tokens.push({ kind: lower === 'inf' || lower === 'nan' ? 'number' : 'ident', text: word, pos: i });
      i = j;
      continue;
    }
    const op = OPERATORS.find((o) => src.startsWith(o, i));
    if (op === undefined) throw new PromQLSyntaxError(`unexpected character ${JSON.stringify(c)}`, i);
    tokens.push({ kind: 'op', text: op, pos: i });
    i += op.length;
  }
  tokens.push({ kind: 'eof', text: '', pos: src.length });
  return tokens;
}
