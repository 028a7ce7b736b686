/**
 * Checks of the analytics API's options (src/analytics/analytics_api.ts and the joint-anomaly
 * API): each failure is a MetricValidationError naming the field and the value, which the HTTP
 * routes turn into a 400.
 */
import { MetricValidationError, describeValue } from '../model/metric.js';
import { parseInterval } from '../model/interval.js';

export function invalid(field: string, value: unknown, rule: string): never {
  throw new MetricValidationError(`${field}=${describeValue(value)} ${rule}`, -1, field, value);
}

export function numberIn(field: string, value: unknown, lo: number, hi: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !(value >= lo && value <= hi)) invalid(field, value, `must be a number in [${lo}, ${hi}]`);
  return value;
}

export function nonEmptyString(field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim() === '') invalid(field, value, 'must be a non-empty string');
  return value;
}

/** Duration as an interval string (`7d`) or milliseconds. */
export function durationMs(field: string, value: unknown, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value === 'number') {
    if (!(Number.isInteger(value) && value > 0)) invalid(field, value, 'must be a positive whole number of milliseconds or a duration like 7d');
    return value;
  }
  if (typeof value !== 'string') invalid(field, value, 'must be a duration like 6h or 7d, or milliseconds');
  try {
    return parseInterval(value);
  } catch {
    return invalid(field, value, 'must be a duration like 6h or 7d, or milliseconds');
  }
}
