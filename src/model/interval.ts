/**
 * Aggregation intervals as users write them (`30s`, `5m`, `1h`, `1d`, `1w`, `500ms`), turned
 * into whole milliseconds. Buckets are aligned to the Unix epoch (docs/format/aggregation.md),
 * so an interval is just a positive integer number of milliseconds.
 */
import { MetricValidationError } from './metric.js';

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

// `ms` must be tried before `m`; the regex alternation order does that.
const INTERVAL_PATTERN = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/;

/**
 * The text of a duration, as a JSON Schema `pattern` (src/http/common_schemas.ts) and for
 * relative times (`now-1h`, src/model/time.ts). A unit is required: `horizon=24` was once read
 * as 24 ms, which nobody meant.
 */
export const DURATION_PATTERN_SOURCE = '^\\d+(?:\\.\\d+)?(?:ms|s|m|h|d|w)$';

/** A number without a unit (`24`, `1.5`): what the error names as the mistake. */
const UNITLESS = /^\d+(?:\.\d+)?$/;

/** Why `text` is not a duration, for error messages: `has no unit` says which fix to make. */
export function durationProblem(text: string): string {
  const rule = 'must be a number followed by ms, s, m, h, d or w';
  const bare = text.trim();
  return UNITLESS.test(bare) ? `${rule}; it has no unit: write ${bare}h, ${bare}m or ${bare}s` : `${rule} (e.g. 30s, 5m, 1h)`;
}

/** Largest interval accepted: 100 years of weeks is far beyond any useful bucket. */
export const MAX_INTERVAL_MS = 5_200 * UNIT_MS.w!;

/**
 * `parseInterval('5m') === 300000`. Decimals are allowed when they give whole milliseconds
 * (`1.5h`, not `0.5ms`). Throws MetricValidationError (field `interval`) naming the text.
 */
export function parseInterval(text: string): number {
  const match = typeof text === 'string' ? INTERVAL_PATTERN.exec(text.trim()) : null;
  if (match === null) {
    throw new MetricValidationError(
      `interval=${JSON.stringify(text)} ${durationProblem(String(text))}`,
      -1, 'interval', text,
    );
  }
  const exact = Number(match[1]) * UNIT_MS[match[2]!]!;
  // `1.1s` is 1100.0000000000002 in binary floating point; accept what is whole up to rounding.
  const ms = Math.round(exact);
  if (Math.abs(exact - ms) > 1e-6 || ms <= 0 || ms > MAX_INTERVAL_MS) {
    throw new MetricValidationError(
      `interval=${JSON.stringify(text)} must be a whole number of milliseconds in [1ms, 5200w]; got ${exact} ms`,
      -1, 'interval', text,
    );
  }
  return ms;
}
