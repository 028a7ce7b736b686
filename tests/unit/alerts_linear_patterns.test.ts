/**
 * Rule patterns from API clients run in time linear in the metric id: regex mode on RE2
 * (LinearRegex), glob mode on Glob. Each pathological pattern is matched against ids of
 * growing length that force a full scan (long runs that almost match), and the time for 8×
 * longer ids must stay near 8× (a backtracking engine takes seconds already at a few dozen
 * characters of `aaaa…`, and doubles with every character; quadratic work would give 64×).
 *
 * Ratios, not absolute times, so a busy 2-core machine does not make it flaky: the number of
 * repetitions is calibrated so the shortest ids take about 10 ms, each size takes the fastest of
 * several runs, and a measurement is repeated (up to ATTEMPTS) when the machine's load bent it.
 * The bound, 32, sits a factor of 4 above linear (8) and 2 below quadratic (64): a clean-clone CI
 * at load average 20 measured 28.9 once for a linear engine, with a bound of 20 and one attempt.
 */
import { describe, expect, it } from 'vitest';
import { compileMetricPattern, validateRule, type PatternMode } from '../../src/alerts/rule.js';
import { PatternMatch, WatchedSeries } from '../../src/alerts/watched_series.js';

const SIZES = [2_000, 4_000, 8_000, 16_000];
const IDS_PER_SIZE = 10;
const RUNS = 5;
const CALIBRATE_MS = 10;
const ATTEMPTS = 3;
const RATIO_BOUND = 32;

interface Case {
  pattern: string;
  mode: PatternMode;
  /** An id of `n` characters (variant `i`) that the pattern scans to the end and refuses. */
  id(n: number, i: number): string;
}

const CASES: Case[] = [
  { pattern: '((a+))+b', mode: 'regex', id: (n, i) => 'a'.repeat(n - 1) + String(i) },
  { pattern: '(a+)+b', mode: 'regex', id: (n, i) => 'a'.repeat(n - 1) + String(i) },
  { pattern: '(a|aa)*b', mode: 'regex', id: (n, i) => 'a'.repeat(n - 1) + String(i) },
  { pattern: '(a*)*b', mode: 'regex', id: (n, i) => 'a'.repeat(n - 1) + String(i) },
  { pattern: '(.*a){12}b', mode: 'regex', id: (n, i) => String(i) + 'x'.repeat(n - 2) + 'b' },
  { pattern: '*a*a*a*a*a*a*a*b', mode: 'glob', id: (n, i) => String(i) + 'x'.repeat(n - 2) + 'b' },
  { pattern: '*a?a*a?a*a?a*b', mode: 'glob', id: (n, i) => String(i) + 'a' + 'x'.repeat(n - 3) + 'b' },
];

function ids(c: Case, n: number): string[] {
  return Array.from({ length: IDS_PER_SIZE }, (_, i) => c.id(n, i));
}

/** Fastest of RUNS runs of `reps` passes over the ids, in ms. */
function time(c: Case, idList: string[], reps: number): number {
  const m = compileMetricPattern(c.pattern, c.mode);
  let best = Infinity;
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    let hits = 0;
    for (let k = 0; k < reps; k++) for (const id of idList) if (m.matches(id)) hits++;
    best = Math.min(best, performance.now() - t0);
    expect(hits).toBe(0);
  }
  return best;
}

describe('rule patterns run in linear time', () => {
  it('accepts the known pathological patterns (nothing to refuse: the engines do not backtrack)', () => {
    const ctx = { knownChannels: new Set<string>(), defaultResolveAfterSeconds: 0 };
    for (const c of CASES) {
      expect(validateRule({ name: 'p', metric_pattern: c.pattern, pattern_mode: c.mode, threshold_value: 1 }, ctx).metric_pattern).toBe(c.pattern);
    }
  });

  it('the evaluator matches them through the same engines (PatternMatch over a WatchedSeries)', () => {
    for (const c of CASES) {
      const table = new WatchedSeries();
      ids(c, 16_000).forEach((metricId, i) => table.upsert({ metricId, metricType: 'gauge', tags: {}, timestamp: i, value: 0 }));
      const t0 = performance.now();
      const match = new PatternMatch(c.pattern, c.mode);
      expect(match.update(table)).toBe(0);
      expect(performance.now() - t0).toBeLessThan(1000);
    }
  });

  it.each(CASES.map((c) => [c.pattern, c.mode, c] as const))('%s (%s): 8x longer ids take about 8x the time', (_p, _m, c) => {
    const small = ids(c, SIZES[0]!);
    let reps = 1;
    while (time(c, small, reps) < CALIBRATE_MS && reps < 1 << 16) reps *= 2;
    const seen: string[] = [];
    let best = Infinity;
    // A super-linear engine never gets under the bound; a linear one misses it only when load bends one attempt.
    for (let attempt = 0; attempt < ATTEMPTS && best >= RATIO_BOUND; attempt++) {
      const times = SIZES.map((n) => time(c, ids(c, n), reps));
      const ratio = times[times.length - 1]! / times[0]!;
      best = Math.min(best, ratio);
      seen.push(`reps ${reps}, times ${times.map((t) => t.toFixed(2)).join(', ')} ms`);
    }
    expect(best, seen.join('; ')).toBeLessThan(RATIO_BOUND);
  });
});
