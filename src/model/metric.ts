/**
 * The metric data model shared by every stage: what a point is, and the rules a point must
 * pass before anything of its batch is stored. Errors name the point's index, the field and
 * the offending value (STYLE.md habit 8) so a client can fix its batch.
 */

export const MetricType = {
  COUNTER: 'counter',
  GAUGE: 'gauge',
  HISTOGRAM: 'histogram',
  SUMMARY: 'summary',
} as const;
export type MetricType = (typeof MetricType)[keyof typeof MetricType];

const METRIC_TYPES: ReadonlySet<string> = new Set(Object.values(MetricType));

export type Tags = Record<string, string>;

/** A point as users hand it in. */
export interface MetricDataPoint {
  metricId: string;
  value: number;
  /** Epoch milliseconds or a Date; defaults to the time of collection. */
  timestamp?: number | Date;
  metricType?: MetricType | `${MetricType}`;
  tags?: Tags;
}

/** A point after validation: timestamp in epoch ms, type and tags filled in. */
export interface NormalizedPoint {
  metricId: string;
  metricType: MetricType;
  tags: Tags;
  timestamp: number;
  value: number;
}

export const METRIC_ID_PATTERN = /^[A-Za-z_][A-Za-z0-9_.:-]{0,254}$/;
export const TAG_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
export const MAX_TAG_VALUE_CHARS = 1024;
export const MAX_TAGS_PER_POINT = 32;
/** Timestamps must fall in [1970-01-01, 2200-01-01) UTC, in epoch milliseconds. */
export const MIN_TIMESTAMP_MS = 0;
export const MAX_TIMESTAMP_MS = Date.UTC(2200, 0, 1);

/**
 * True for a time every store accepts: epoch ms in [MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS).
 * NaN and ±Infinity fail (NaN fails the comparison itself, so one test covers them). The one
 * range check: ingest's hot loops call it too (V8 inlines it). Callers throw their own error
 * naming their field.
 */
export function isStorableTime(ms: number): boolean {
  return ms >= MIN_TIMESTAMP_MS && ms < MAX_TIMESTAMP_MS;
}

/** A point (or query parameter) that breaks a rule; nothing of its batch is stored. */
export class MetricValidationError extends Error {
  constructor(
    message: string,
    /** Index of the offending point in its batch, or -1 outside a batch. */
    readonly index: number,
    /** Field path, e.g. `metricId`, `tags.region`, `timestamp`. */
    readonly field: string,
    readonly value: unknown,
  ) {
    super(message);
    this.name = 'MetricValidationError';
  }
}

/** Renders a bad value for an error message: short, and unambiguous about its type. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    const shown = value.length > 80 ? `${value.slice(0, 80)}…(${value.length} chars)` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (value instanceof Date) return `Date(${String(value.getTime())})`;
  if (typeof value === 'bigint') return `${value}n`;
  if (Array.isArray(value)) return `array(${value.length})`;
  return typeof value;
}

function fail(index: number, field: string, value: unknown, rule: string): never {
  const where = index >= 0 ? `points[${index}].${field}` : field;
  throw new MetricValidationError(`${where}=${describeValue(value)} ${rule}`, index, field, value);
}

export function validateMetricId(metricId: unknown, index: number): string {
  if (typeof metricId !== 'string' || !METRIC_ID_PATTERN.test(metricId)) {
    fail(index, 'metricId', metricId, `must match ${METRIC_ID_PATTERN.source}`);
  }
  return metricId;
}

export function validateMetricType(metricType: unknown, index: number): MetricType {
  if (metricType === undefined) return MetricType.GAUGE;
  if (typeof metricType !== 'string' || !METRIC_TYPES.has(metricType)) {
    fail(index, 'metricType', metricType, 'must be one of counter, gauge, histogram, summary');
  }
  return metricType as MetricType;
}

export function validateValue(value: unknown, index: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    fail(index, 'value', value, 'must be a finite number');
  }
  return value;
}

/** Accepts epoch ms (number) or a Date; `fallbackMs` when undefined. */
export function validateTimestamp(timestamp: unknown, index: number, fallbackMs: number): number {
  if (timestamp === undefined) return fallbackMs;
  const ms = timestamp instanceof Date ? timestamp.getTime() : timestamp;
  if (typeof ms !== 'number' || !isStorableTime(ms)) {
    fail(index, 'timestamp', timestamp, 'must be a finite epoch-millisecond time in [1970, 2200)');
  }
  return ms;
}

/**
 * Validates tags; returns the same object when it is already a plain string map (no copy on
 * the hot path), so callers must not mutate it.
 */
export function validateTags(tags: unknown, index: number): Tags {
  if (tags === undefined || tags === null) return EMPTY_TAGS;
  if (typeof tags !== 'object' || Array.isArray(tags)) fail(index, 'tags', tags, 'must be an object of string values');
  let count = 0;
  for (const key in tags as Record<string, unknown>) {
    if (!Object.prototype.hasOwnProperty.call(tags, key)) continue;
    if (++count > MAX_TAGS_PER_POINT) fail(index, 'tags', tags, `must have at most ${MAX_TAGS_PER_POINT} tags`);
    if (!TAG_KEY_PATTERN.test(key)) fail(index, `tags.${key.slice(0, 80)}`, key, `is not a valid tag key: must match ${TAG_KEY_PATTERN.source}`);
    const v = (tags as Record<string, unknown>)[key];
    if (typeof v !== 'string') fail(index, `tags.${key}`, v, 'must be a string');
    if (v.length > MAX_TAG_VALUE_CHARS) fail(index, `tags.${key}`, v, `must be at most ${MAX_TAG_VALUE_CHARS} characters`);
  }
  return tags as Tags;
}

export const EMPTY_TAGS: Tags = Object.freeze({}) as Tags;

/** Validates one point; throws MetricValidationError naming `points[index].field`. */
export function normalizePoint(point: unknown, index: number, nowMs: number): NormalizedPoint {
  if (typeof point !== 'object' || point === null || Array.isArray(point)) {
    fail(index, '', point, 'must be an object with metricId and value');
  }
  const p = point as Record<string, unknown>;
  return {
    metricId: validateMetricId(p.metricId, index),
    metricType: validateMetricType(p.metricType, index),
    tags: validateTags(p.tags, index),
    timestamp: validateTimestamp(p.timestamp, index, nowMs),
    value: validateValue(p.value, index),
  };
}

/** Canonical tag string: keys sorted, `k=v` joined by `,` with `\` escaping of `,=\`. */
export function canonicalTags(tags: Tags): string {
  const keys = Object.keys(tags);
  if (keys.length === 0) return '';
  keys.sort();
  let out = '';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (i > 0) out += ',';
    out += escapeTagPart(k) + '=' + escapeTagPart(tags[k]!);
  }
  return out;
}

function escapeTagPart(s: string): string {
  return /[,=\\]/.test(s) ? s.replace(/[,=\\]/g, (c) => '\\' + c) : s;
}

/** Inverse of canonicalTags. */
export function parseCanonicalTags(canonical: string): Tags {
  const tags: Tags = {};
  if (canonical === '') return tags;
  let key = '';
  let cur = '';
  let inValue = false;
  for (let i = 0; i < canonical.length; i++) {
    const c = canonical[i]!;
    if (c === '\\' && i + 1 < canonical.length) {
      cur += canonical[++i];
    } else if (c === '=' && !inValue) {
      key = cur;
      cur = '';
      inValue = true;
    } else if (c === ',' && inValue) {
      tags[key] = cur;
      cur = '';
      inValue = false;
    } else {
      cur += c;
    }
  }
  tags[key] = cur;
  return tags;
}
