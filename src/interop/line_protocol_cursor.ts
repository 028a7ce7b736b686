/**
 * The line-protocol parser's cursor and error: where in the body the parse is (offset, 1-based
 * line, start of that line) so any rule can fail naming the line and column, and the character
 * codes the scanners compare against. Shared by line_protocol_parser.ts and
 * line_protocol_field_value.ts.
 */

export class LineProtocolError extends Error {
  constructor(
    readonly line: number,
    readonly column: number,
    readonly detail: string,
    /** The text ended inside a quoted string: a body parsed in pieces retries with a longer piece. */
    readonly unclosedString = false,
  ) {
    super(`line ${line}, column ${column}: ${detail}`);
    this.name = 'LineProtocolError';
  }
}

export const BACKSLASH = 92;
export const COMMA = 44;
export const SPACE = 32;
export const EQUALS = 61;
export const QUOTE = 34;
export const NEWLINE = 10;
export const CR = 13;
export const HASH = 35;
export const TAB = 9;
export const MINUS = 45;
export const PLUS = 43;
export const DOT = 46;
export const ZERO = 48;
export const NINE = 57;

export function isDigit(c: number): boolean {
  return c >= ZERO && c <= NINE;
}

/**
 * The parser's cursor. One instance per body; `line`/`lineStart` track positions for errors
 * only, so reporting costs nothing until something is wrong.
 */
export class Cursor {
  pos = 0;
  line: number;
  lineStart = 0;
  /** `firstLine`: the body's line number of the text's first line (a body parsed in pieces). */
  constructor(readonly text: string, firstLine = 1) {
    this.line = firstLine;
  }

  fail(detail: string, at = this.pos, unclosedString = false): never {
    throw new LineProtocolError(this.line, at - this.lineStart + 1, detail, unclosedString);
  }
}
