/**
 * Regular expressions from API clients (alert rules' `metric_pattern` in regex mode), run on a
 * linear-time engine: RE2's automata, in the pure-JS port re2js. A backtracking RegExp would let
 * `((a+))+b` against a long id keep the alerting cycle, and the main thread with it, busy for
 * seconds. RE2 has no backreferences or lookaround; patterns using them are refused at compile
 * time with a RegexError naming the pattern.
 */
import { RE2JS } from 're2js';

/** Longest pattern accepted. */
export const MAX_REGEX_CHARS = 1024;
/** Bound on the compiled program (RE2's instruction count), so `(a{1000}){1000}` cannot exhaust memory. */
const MAX_PROGRAM_SIZE = 20_000;

export class RegexError extends Error {
  constructor(readonly pattern: unknown, rule: string) {
    super(`pattern=${JSON.stringify(pattern)?.slice(0, 600) ?? String(pattern)} ${rule}`);
    this.name = 'RegexError';
  }
}

export class LinearRegex {
  readonly #re: RE2JS;

  private constructor(readonly source: string, re: RE2JS) {
    this.#re = re;
  }

  /** Compiles `source` to match whole strings; throws RegexError naming it. */
  static compile(source: unknown): LinearRegex {
    if (typeof source !== 'string' || source.length === 0 || source.length > MAX_REGEX_CHARS) {
      throw new RegexError(source, `must be a non-empty string of at most ${MAX_REGEX_CHARS} characters`);
    }
    let re: RE2JS;
    try {
      re = RE2JS.compile(source);
    } catch (err) {
      throw new RegexError(source, `is not a valid RE2 regular expression (no backreferences or lookaround): ${(err as Error).message}`);
    }
    if (re.programSize() > MAX_PROGRAM_SIZE) throw new RegexError(source, `compiles to ${re.programSize()} instructions, more than ${MAX_PROGRAM_SIZE}`);
    return new LinearRegex(source, re);
  }

  /** True when the whole of `text` matches. */
  matches(text: string): boolean {
    return this.#re.matches(text);
  }
}
