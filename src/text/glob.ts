/**
 * Globs over metric ids (`*` any run of characters, `?` exactly one character), matched in time
 * linear in the text for a given pattern. Queries, `/federate`, alert rules' glob mode and key
 * policies take globs from API clients; a glob compiled to a backtracking RegExp let
 * `*a*a*a*a*a*a*a*b` keep the main thread busy for 27 s against a few thousand metric ids.
 *
 * Algorithm: the pattern is split at `*` into literal segments (with `?` matching any one
 * character). The first segment must match at the start and the last at the end; the middle
 * segments are found left to right, each at its earliest position after the previous one.
 * Taking the earliest position is always right for `*`-separated segments (a later match can
 * only leave less room for the rest), so there is no backtracking: each segment search is
 * O(text × segment) at worst, and the whole match O(text × pattern), linear in the text.
 */

/** Longest pattern accepted: twice the longest metric id, room for wildcards. */
export const MAX_GLOB_CHARS = 512;

export class GlobError extends Error {
  constructor(readonly pattern: unknown, rule: string) {
    super(`pattern=${JSON.stringify(pattern)?.slice(0, 600) ?? String(pattern)} ${rule}`);
    this.name = 'GlobError';
  }
}

export class Glob {
  /** Literal text (with `?` as any character) between the `*`s. */
  readonly #segments: readonly string[];
  /** True when the pattern has no wildcard: it matches only itself. */
  readonly isLiteral: boolean;

  private constructor(readonly pattern: string) {
    const parts = pattern.split('*');
    this.#segments = parts;
    this.isLiteral = parts.length === 1 && !pattern.includes('?');
  }

  /** Compiles `pattern`; throws GlobError naming it when it is not a string of 1–512 characters. */
  static compile(pattern: unknown): Glob {
    if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > MAX_GLOB_CHARS) {
      throw new GlobError(pattern, `must be a non-empty string of at most ${MAX_GLOB_CHARS} characters (glob: * and ?)`);
    }
    return new Glob(pattern);
  }

  matches(text: string): boolean {
    const segments = this.#segments;
    if (segments.length === 1) return segments[0]!.length === text.length && segmentAt(text, 0, segments[0]!);
    const first = segments[0]!;
    const last = segments[segments.length - 1]!;
    if (first.length + last.length > text.length) return false;
    if (!segmentAt(text, 0, first)) return false;
    const end = text.length - last.length;
    if (!segmentAt(text, end, last)) return false;
    let position = first.length;
    for (let i = 1; i < segments.length - 1; i++) {
      const segment = segments[i]!;
      if (segment.length === 0) continue;
      const found = findSegment(text, position, end, segment);
      if (found < 0) return false;
      position = found + segment.length;
    }
    return position <= end;
  }
}

/** True when `segment` (`?` = any character) matches `text` at `offset`. */
function segmentAt(text: string, offset: number, segment: string): boolean {
  if (offset + segment.length > text.length) return false;
  for (let j = 0; j < segment.length; j++) {
    const c = segment.charCodeAt(j);
    if (c !== 63 /* ? */ && c !== text.charCodeAt(offset + j)) return false;
  }
  return true;
}

/** Earliest offset in [from, limit - segment.length] where `segment` matches, or -1. */
function findSegment(text: string, from: number, limit: number, segment: string): number {
  if (!segment.includes('?')) {
    const at = text.indexOf(segment, from);
    return at >= 0 && at + segment.length <= limit ? at : -1;
  }
  for (let at = from; at + segment.length <= limit; at++) if (segmentAt(text, at, segment)) return at;
  return -1;
}
