/**
 * The evaluator's view of the series one tenant's rules watch (named apart from model/api.ts'
 * SeriesTable, which is the engine's index): an append-only table (series index → metric
 * id, tags, newest point in Float64Arrays) refreshed from `latest()` every cycle, and the
 * matching of rule patterns to series, done incrementally so that a cycle costs
 * O(rules × matched series) and not O(rules × all series):
 *
 *   - a literal pattern (`system\.cpu\.usage_total`, or a glob without wildcards) is a Map
 *     lookup, never a regex;
 *   - each distinct pattern is tested once per distinct metric id, and only against metric ids
 *     that appeared since the last cycle;
 *   - a rule rebuilds its series list only when a matched metric gained series.
 *
 * Patterns come from API clients, so they run in linear time: regexes on RE2 (LinearRegex),
 * globs on Glob; neither backtracks (tests/unit/alerts_linear_patterns.test.ts).
 */
import { canonicalTags, type Tags } from '../model/metric.js';
import type { LatestPoint } from '../model/api.js';
import { compileMetricPattern, type MetricPatternMatcher, type PatternMode } from './rule.js';

const INITIAL_CAPACITY = 1024;

export class WatchedSeries {
  readonly metricIds: string[] = [];
  readonly tags: Tags[] = [];
  /** metricId + NUL + canonical tags: the alert group key of a per-series rule. */
  readonly keys: string[] = [];
  lastTs = new Float64Array(INITIAL_CAPACITY);
  lastValue = new Float64Array(INITIAL_CAPACITY);
  /** Series indices per metric id, append-only. */
  readonly byMetric = new Map<string, number[]>();
  /** Distinct metric ids in order of first appearance, append-only. */
  readonly distinctMetrics: string[] = [];
  readonly #byKey = new Map<string, number>();
  // The engine interns tag objects per series; when it hands back the same object, the
  // canonical string (a sort and a join) is not rebuilt every cycle.
  readonly #canonical = new WeakMap<object, string>();

  get size(): number {
    return this.metricIds.length;
  }

  seriesKey(metricId: string, tags: Tags): string {
    let canon = this.#canonical.get(tags);
    if (canon === undefined) {
      canon = canonicalTags(tags);
      this.#canonical.set(tags, canon);
    }
    return metricId + '\u0000' + canon;
  }

  indexOf(metricId: string, tags: Tags): number | undefined {
    return this.#byKey.get(this.seriesKey(metricId, tags));
  }

  /** Records the newest point of a series, adding the series if new; returns its index. */
  upsert(p: LatestPoint): number {
    const key = this.seriesKey(p.metricId, p.tags);
    let idx = this.#byKey.get(key);
    if (idx === undefined) {
      idx = this.metricIds.length;
      if (idx >= this.lastTs.length) this.#grow();
      this.#byKey.set(key, idx);
      this.metricIds.push(p.metricId);
      this.tags.push(p.tags);
      this.keys.push(key);
      let list = this.byMetric.get(p.metricId);
      if (!list) {
        this.byMetric.set(p.metricId, (list = []));
        this.distinctMetrics.push(p.metricId);
      }
      list.push(idx);
      this.lastTs[idx] = -Infinity;
    }
    // Keep the newer point when several globs return the same series.
    if (p.timestamp >= this.lastTs[idx]!) {
      this.lastTs[idx] = p.timestamp;
      this.lastValue[idx] = p.value;
    }
    return idx;
  }

  #grow(): void {
    const n = this.lastTs.length * 2;
    const ts = new Float64Array(n);
    ts.set(this.lastTs);
    const v = new Float64Array(n);
    v.set(this.lastValue);
    this.lastTs = ts;
    this.lastValue = v;
  }
}

/** The pattern as a plain metric id when it has no operators (regex: after `\.` escapes). */
export function literalOfPattern(pattern: string, mode: PatternMode = 'regex'): string | null {
  if (mode === 'glob') return /[*?]/.test(pattern) ? null : pattern;
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      const next = pattern[i + 1];
      if (next === undefined || !/[.\-:_]/.test(next)) return null;
      out += next;
      i++;
    } else if (/[A-Za-z0-9_:-]/.test(c)) {
      out += c;
    } else {
      return null;
    }
  }
  return out;
}

/**
 * A glob (the engine's `latest()` syntax) that selects a superset of the metric ids the
 * pattern matches: the pattern itself when literal, else its literal prefix + `*`.
 */
export function globForPattern(pattern: string, mode: PatternMode = 'regex'): string {
  if (mode === 'glob') return pattern;
  const literal = literalOfPattern(pattern);
  if (literal !== null) return literal;
  // A top-level alternative could start anywhere; do not guess.
  if (pattern.includes('|')) return '*';
  let prefix = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && pattern[i + 1] !== undefined && /[.\-:_]/.test(pattern[i + 1]!)) {
      const quantified = /[?*{]/.test(pattern[i + 2] ?? '');
      if (quantified) break;
      prefix += pattern[i + 1];
      i++;
    } else if (/[A-Za-z0-9_:-]/.test(c)) {
      if (/[?*{]/.test(pattern[i + 1] ?? '')) break;
      prefix += c;
    } else {
      break;
    }
  }
  return prefix + '*';
}

/** Fewest globs covering all the given ones; many distinct globs collapse into `*`. */
export function coveringGlobs(globs: Iterable<string>, maxGlobs: number): string[] {
  const unique = [...new Set(globs)].sort();
  const prefixes: string[] = [];
  const out: string[] = [];
  for (const g of unique) {
    if (prefixes.some((p) => g.startsWith(p))) continue;
    if (g.endsWith('*')) {
      const p = g.slice(0, -1);
      if (p === '') return ['*'];
      // Drop anything already chosen that this prefix covers.
      for (let i = out.length - 1; i >= 0; i--) if (out[i]!.startsWith(p)) out.splice(i, 1);
      prefixes.push(p);
    }
    out.push(g);
  }
  return out.length > maxGlobs ? ['*'] : out;
}

/** Metric ids matched by one pattern, kept up to date as new metric ids appear. */
export class PatternMatch {
  readonly matched: string[] = [];
  readonly #literal: string | null;
  readonly #matcher: MetricPatternMatcher | null;
  #checked = 0;

  /** Throws RegexError / GlobError when the pattern does not compile. */
  constructor(readonly pattern: string, mode: PatternMode = 'regex') {
    this.#literal = literalOfPattern(pattern, mode);
    this.#matcher = this.#literal === null ? compileMetricPattern(pattern, mode) : null;
  }

  /** Tests the metric ids added to the table since the last call; returns the match count. */
  update(table: WatchedSeries): number {
    const all = table.distinctMetrics;
    if (this.#literal !== null) {
      if (this.matched.length === 0 && table.byMetric.has(this.#literal)) this.matched.push(this.#literal);
      this.#checked = all.length;
      return this.matched.length;
    }
    for (let i = this.#checked; i < all.length; i++) {
      const m = all[i]!;
      if (this.#matcher!.matches(m)) this.matched.push(m);
    }
    this.#checked = all.length;
    return this.matched.length;
  }
}
