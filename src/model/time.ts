/**
 * Time inputs of queries: a Date, epoch milliseconds (a number, or a string of digits as HTTP
 * query parameters carry them), an ISO-8601 string, or a time relative to now (`now`,
 * `now-1h`, `now-15m`, `now+1d`: Grafana's and Prometheus users' habit; the offset is a
 * duration of src/model/interval.ts, unit required). An ISO time without an offset is read as
 * UTC (JavaScript would read it in the process's local zone, which would make a query's answer
 * depend on the server's TZ). Errors name the parameter and the value (STYLE.md habit 8).
 */
import { MAX_TIMESTAMP_MS, MetricValidationError, describeValue, isStorableTime } from './metric.js';
import type { TimeInput } from './api.js';
import { parseInterval } from './interval.js';

// Date.parse also accepts RFC 2822 and locale forms; only ISO-8601 is part of the contract.
/** `now`, or `now` plus or minus a duration; `now - 1h` with spaces too (URL-encoded forms). */
const RELATIVE_TIME = /^now(?:\s*([+-])\s*(\d+(?:\.\d+)?(?:ms|s|m|h|d|w)))?$/i;

/** Epoch ms of a relative time (`now-1h`) at `nowMs`, or undefined when `text` is not one. */
export function relativeTimeMs(text: string, nowMs: number): number | undefined {
  const match = RELATIVE_TIME.exec(text.trim());
  if (match === null) return undefined;
  if (match[1] === undefined) return nowMs;
  const offsetMs = parseInterval(match[2]!);
  return match[1] === '-' ? nowMs - offsetMs : nowMs + offsetMs;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

export { isStorableTime } from './metric.js';

/**
 * True for a query bound: a storable time, or MAX_TIMESTAMP_MS itself, because a query's end is
 * exclusive and `endTime: 2200-01-01` is how a caller says "everything that can be stored".
 */
export function isQueryTime(ms: number): boolean {
  return isStorableTime(ms) || ms === MAX_TIMESTAMP_MS;
}

/**
 * Epoch ms of `value` read as parseTimeInput reads it (a Date, a number, a string of digits, or
 * ISO-8601 with an offset-less time read as UTC, or `now-1h` at `nowMs`), or undefined when `value` has none of these
 * forms. The result is not range-checked and may be NaN (`2026-13-45`): callers check it with
 * isStorableTime (or parseTimeInput's bound) and throw their own error type.
 */
export function timeInputMs(value: unknown, nowMs: number = Date.now()): number | undefined {
  if (typeof value === 'number') return value;
  if (value instanceof Date) return value.getTime();
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (/^-?\d+(?:\.\d+)?$/.test(trimmed)) return Number(trimmed);
  if (trimmed.startsWith('now') || trimmed.startsWith('NOW')) {
    try {
      return relativeTimeMs(trimmed, nowMs);
    } catch {
      // An offset past MAX_INTERVAL_MS (`now-99999w`) is no time at all.
      return undefined;
    }
  }
  if (!ISO_8601.test(trimmed)) return undefined;
  const hasTime = trimmed.length > 10;
  const hasOffset = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(trimmed.slice(10));
  return Date.parse(hasTime && !hasOffset ? `${trimmed.replace(' ', 'T')}Z` : trimmed.replace(' ', 'T'));
}

/**
 * Converts `value` to epoch ms; `fallbackMs` when it is undefined. `field` is the parameter
 * name used in the error (e.g. `startTime`).
 */
export function parseTimeInput(value: TimeInput | undefined | null, field: string, fallbackMs: number): number {
  if (value === undefined || value === null) return fallbackMs;
  const ms = timeInputMs(value);
  if (ms === undefined) {
    throw new MetricValidationError(
      `${field}=${describeValue(value)} must be a Date, epoch milliseconds or an ISO-8601 time, or a relative time such as now-1h`, -1, field, value);
  }
  if (!isQueryTime(ms)) {
    throw new MetricValidationError(
      `${field}=${describeValue(value)} must be a finite epoch-millisecond time in [1970, 2200]`, -1, field, value);
  }
  return ms;
}
