/**
 * The time range every view shows (last 15 min … 30 d, or a custom from/to), the bucket
 * interval that gives a chart about 120 points over it, and the auto-refresh period. Kept in
 * the URL hash so a drill-down link or a reload keeps it.
 */
export interface RangeChoice {
  key: string;
  label: string;
  ms: number;
}

export const RANGES: readonly RangeChoice[] = [
  { key: '15m', label: 'Last 15 min', ms: 15 * 60_000 },
  { key: '1h', label: 'Last 1 h', ms: 3600_000 },
  { key: '6h', label: 'Last 6 h', ms: 6 * 3600_000 },
  { key: '24h', label: 'Last 24 h', ms: 24 * 3600_000 },
  { key: '7d', label: 'Last 7 d', ms: 7 * 86_400_000 },
  { key: '30d', label: 'Last 30 d', ms: 30 * 86_400_000 },
];

/** Intervals the query API accepts, as `[text, ms]`, smallest first. */
const INTERVALS: ReadonlyArray<readonly [string, number]> = [
  ['10s', 10_000], ['30s', 30_000], ['1m', 60_000], ['5m', 300_000], ['15m', 900_000], ['30m', 1_800_000],
  ['1h', 3_600_000], ['3h', 10_800_000], ['6h', 21_600_000], ['12h', 43_200_000], ['1d', 86_400_000],
];

/** Ranges this short get live updates (a 30-day chart gains nothing from a point per second). */
export const LIVE_MAX_RANGE_MS = 6 * 3600_000;

export interface TimeRange {
  /** A RANGES key, or 'custom'. */
  key: string;
  /** For custom ranges. */
  fromMs?: number | undefined;
  toMs?: number | undefined;
  /** Auto-refresh period in seconds; 0 = off. */
  refreshS: number;
}

export function resolve(r: TimeRange, now = Date.now()): { startMs: number; endMs: number; live: boolean } {
  if (r.key === 'custom' && r.fromMs !== undefined && r.toMs !== undefined && r.toMs > r.fromMs) {
    return { startMs: r.fromMs, endMs: r.toMs, live: false };
  }
  const span = RANGES.find((x) => x.key === r.key)?.ms ?? 3600_000;
  return { startMs: now - span, endMs: now, live: span <= LIVE_MAX_RANGE_MS };
}

/** The interval giving at most ~`points` buckets over the span. */
export function intervalFor(spanMs: number, points = 120): { text: string; ms: number } {
  for (const [text, ms] of INTERVALS) if (spanMs / ms <= points) return { text, ms };
  const last = INTERVALS[INTERVALS.length - 1]!;
  return { text: last[0], ms: last[1] };
}
