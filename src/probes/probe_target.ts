/**
 * Probe targets as in the seed: target_id, name, target_type (http, tcp), endpoint, port,
 * health_endpoint, expected_status_code, expected_response_time_ms, interval, timeout
 * (seconds). The field names are public API (`/api/v1/health/targets`), so they keep the
 * seed's spelling although the feature is called "probes" in the source. Validation errors
 * name the field and value, e.g. `target.port=70000 must be an integer in [1, 65535]`.
 */
import { randomUUID } from 'node:crypto';
import { describeValue } from '../model/metric.js';

export const TARGET_TYPES = ['http', 'tcp'] as const;
export type TargetType = (typeof TARGET_TYPES)[number];

export interface ProbeTarget {
  target_id: string;
  name: string;
  target_type: TargetType;
  /** Host name or address; for http also a base URL `http(s)://host[:port]` (no credentials). */
  endpoint: string;
  port: number | null;
  /** Path requested for http targets, default `/health`. */
  health_endpoint: string;
  expected_status_code: number;
  expected_response_time_ms: number;
  /** Seconds between checks, at least MIN_INTERVAL_SECONDS. */
  interval: number;
  /** Seconds a check may take before it counts as down. */
  timeout: number;
  created_at: number;
}

export type TargetStatus = 'up' | 'down' | 'degraded' | 'unknown';

export class TargetValidationError extends Error {
  constructor(message: string, readonly field: string, readonly value: unknown) {
    super(message);
    this.name = 'TargetValidationError';
  }
}

function fail(field: string, value: unknown, rule: string): never {
  throw new TargetValidationError(`target.${field}=${describeValue(value)} ${rule}`, field, value);
}

const TARGET_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const HOST_PATTERN = /^[A-Za-z0-9.:[\]_-]{1,253}$/;
const FIELDS = new Set([
  'target_id', 'name', 'target_type', 'endpoint', 'port', 'health_endpoint', 'expected_status_code',
  'expected_response_time_ms', 'interval', 'timeout',
]);
/**
 * The least time between two checks of one target, scheduled, enhanced or "check now" alike
 * (issue 12): below it a client could turn EMMS into a load generator or a fast port scanner
 * of whatever the egress policy allows.
 */
export const MIN_INTERVAL_SECONDS = 1;
export const MAX_INTERVAL_SECONDS = 86_400;
export const MAX_TIMEOUT_SECONDS = 300;

function num(field: string, value: unknown, fallback: number, min: number, max: number, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    fail(field, value, `must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`);
  }
  return value;
}

/** Seconds between checks (`interval`); shared by target validation and anything that schedules checks. */
export function validateIntervalSeconds(value: unknown, fallback = 30): number {
  return num('interval', value, fallback, MIN_INTERVAL_SECONDS, MAX_INTERVAL_SECONDS);
}

export function validateTarget(body: unknown, nowMs: number): ProbeTarget {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new TargetValidationError(`target=${describeValue(body)} must be a JSON object`, '', body);
  }
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!FIELDS.has(k)) fail(k, b[k], `is not a known field (allowed: ${[...FIELDS].join(', ')})`);
  const targetType = b.target_type;
  if (typeof targetType !== 'string' || !(TARGET_TYPES as readonly string[]).includes(targetType)) fail('target_type', targetType, 'must be one of http, tcp');
  const id = b.target_id === undefined ? randomUUID() : b.target_id;
  if (typeof id !== 'string' || !TARGET_ID_PATTERN.test(id)) fail('target_id', id, `must match ${TARGET_ID_PATTERN.source}`);
  const name = b.name === undefined ? id : b.name;
  if (typeof name !== 'string' || name.length === 0 || name.length > 256) fail('name', name, 'must be a non-empty string of at most 256 characters');
  const endpoint = b.endpoint;
  if (typeof endpoint !== 'string' || endpoint.length === 0) fail('endpoint', endpoint, 'must be a host name, an address or (http) a base URL');
  if (/^https?:\/\//i.test(endpoint)) {
    if (targetType !== 'http') fail('endpoint', endpoint, 'must be a host name or address for tcp targets');
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      fail('endpoint', endpoint, 'is not a valid URL');
    }
    // Credentials would be echoed by every view of the target and stored in plain text in
    // health.db; the value in the message is cut to the scheme so the secret is not echoed either.
    if (url.username !== '' || url.password !== '') fail('endpoint', `${url.protocol}//***@…`, 'must not contain credentials (user:password@)');
  } else if (!HOST_PATTERN.test(endpoint)) {
    fail('endpoint', endpoint, 'must be a host name or address (or http(s)://host[:port])');
  }
  const port = b.port === undefined || b.port === null ? null : num('port', b.port, 0, 1, 65535, true);
  if (targetType === 'tcp' && port === null) fail('port', b.port, 'is required for tcp targets');
  const path = b.health_endpoint === undefined ? '/health' : b.health_endpoint;
  // `//host/x` and `/\host/x` are resolved by URL as another host: the path must not name one.
  if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//') || path.includes('\\')) {
    fail('health_endpoint', path, 'must be a path starting with a single / and without backslashes');
  }
  const timeout = num('timeout', b.timeout, 5, 0.01, MAX_TIMEOUT_SECONDS);
  return {
    target_id: id,
    name,
    target_type: targetType as TargetType,
    endpoint,
    port,
    health_endpoint: path,
    expected_status_code: num('expected_status_code', b.expected_status_code, 200, 100, 599, true),
    expected_response_time_ms: num('expected_response_time_ms', b.expected_response_time_ms, 1000, 0, MAX_TIMEOUT_SECONDS * 1000),
    interval: validateIntervalSeconds(b.interval),
    timeout,
    created_at: nowMs,
  };
}

/** URL an http target is checked at. */
export function targetUrl(t: ProbeTarget): URL {
  if (/^https?:\/\//i.test(t.endpoint)) {
    const u = new URL(t.health_endpoint, t.endpoint);
    if (t.port !== null) u.port = String(t.port);
    return u;
  }
  const host = t.endpoint.includes(':') && !t.endpoint.startsWith('[') ? `[${t.endpoint}]` : t.endpoint;
  return new URL(`http://${host}${t.port !== null ? `:${t.port}` : ''}${t.health_endpoint}`);
}

/** What the last check of a target found; kept in memory and in health.db. */
export interface TargetState {
  status: TargetStatus;
  last_check: number | null;
  last_response_time_ms: number | null;
  last_status_code: number | null;
  /** An error class (see probe_check.ts), never response content. */
  last_error: string | null;
  consecutive_failures: number;
}

export const UNCHECKED: Readonly<TargetState> = Object.freeze({
  status: 'unknown', last_check: null, last_response_time_ms: null, last_status_code: null, last_error: null, consecutive_failures: 0,
});

/** A target with its state, as the API shows it. */
export interface TargetView extends ProbeTarget, TargetState {}
