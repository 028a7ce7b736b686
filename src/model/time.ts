/**
 * Time inputs of queries: a Date, epoch milliseconds (a number, or a string of digits as HTTP
 * query parameters carry them), or an ISO-8601 string. An ISO time without an offset is read as
 * UTC (JavaScript would read it in the process's local zone, which would make a query's answer
 * depend on the server's TZ). Errors name the parameter and the value (STYLE.md habit 8).
 */
import { MAX_TIMESTAMP_MS, MetricValidationError, describeValue, isStorableTime } from './metric.js';
import type { TimeInput } from './api.js';

// Date.parse also accepts RFC 2822 and locale forms; only ISO-8601 is part of the contract.
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
 * ISO-8601 with an offset-less time read as UTC), or undefined when `value` has none of these
 * forms. The result is not range-checked and may be NaN (`2026-13-45`): callers check it with
 * isStorableTime (or parseTimeInput's bound) and throw their own error type.
 */
export function timeInputMs(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (value instanceof Date) return value.getTime();
  if (typeof value !== 'string') return undefined;
  const trimmed = value.trim();
  if (/^-?\d+(?:\.\d+)?$/.test(trimmed)) return Number(trimmed);
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
      `${field}=${describeValue(value)} must be a Date, epoch milliseconds or an ISO-8601 time`, -1, field, value);
  }
  if (!isQueryTime(ms)) {
    throw new MetricValidationError(
      `${field}=${describeValue(value)} must be a finite epoch-millisecond time in [1970, 2200]`, -1, field, value);
  }
  return ms;
}
