/**
 * Key events: what happened to a key (lifecycle, use, security), as clients send them over
 * `POST /api/v1/keys/events`, the WebSocket `key_events` frame and the audit importers.
 *
 * Each event type feeds exactly one counter series (EVENT_COUNTER_METRIC), so the derived
 * counts equal the events sent. A batch is validated whole before anything happens: the first
 * bad event refuses the batch with an error naming `key_events[index].field` and the value.
 */
import { isIP } from 'node:net';
import { describeValue } from '../model/metric.js';
import { isStorableTime, timeInputMs } from '../model/time.js';
import { keyIdProblem } from './key_model.js';

export const KEY_EVENT_TYPES = [
  'created', 'rotated', 'expired', 'revoked', 'accessed', 'encrypt', 'decrypt', 'sign', 'verify',
  'unauthorized_access', 'policy_violation', 'security_event',
] as const;
export type KeyEventType = (typeof KEY_EVENT_TYPES)[number];
const EVENT_TYPE_SET: ReadonlySet<string> = new Set(KEY_EVENT_TYPES);

export const KEY_EVENT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export type KeyEventOutcome = (typeof KEY_EVENT_OUTCOMES)[number];
const OUTCOME_SET: ReadonlySet<string> = new Set(KEY_EVENT_OUTCOMES);

/**
 * Counter series per event type, names as in issue 6. `verify` has no series in the seed's
 * list; it gets `crypto.key.verification_ops` so that no event goes uncounted.
 */
export const EVENT_COUNTER_METRIC: Readonly<Record<KeyEventType, string>> = {
  created: 'crypto.key.created_total',
  rotated: 'crypto.key.rotated_total',
  expired: 'crypto.key.expired_total',
  revoked: 'crypto.key.revoked_total',
  accessed: 'crypto.key.access_count',
  encrypt: 'crypto.key.encryption_ops',
  decrypt: 'crypto.key.decryption_ops',
  sign: 'crypto.key.signing_ops',
  verify: 'crypto.key.verification_ops',
  unauthorized_access: 'crypto.key.unauthorized_access',
  policy_violation: 'crypto.key.policy_violations',
  security_event: 'crypto.key.security_events',
};
export const KEY_COUNTER_METRICS: readonly string[] = KEY_EVENT_TYPES.map((t) => EVENT_COUNTER_METRIC[t]);
/** Position of each event type's counter in KEY_COUNTER_METRICS (per-key totals are arrays). */
export const EVENT_COUNTER_INDEX: Readonly<Record<KeyEventType, number>> = Object.fromEntries(
  KEY_EVENT_TYPES.map((t, i) => [t, i]),
) as Record<KeyEventType, number>;

export const KEY_GAUGE_METRICS = {
  ageDays: 'crypto.key.age_days',
  daysUntilExpiry: 'crypto.key.days_until_expiry',
  rotationOverdue: 'crypto.key.rotation_overdue',
  activeByAlgorithm: 'crypto.key.active',
} as const;

/** Events that use the key's material (the ones a revoked/expired/compromised key must not see). */
export const KEY_USE_EVENTS: ReadonlySet<KeyEventType> = new Set<KeyEventType>(['accessed', 'encrypt', 'decrypt', 'sign', 'verify']);

/** One event after validation. */
export interface KeyEvent {
  key_id: string;
  event_type: KeyEventType;
  /** Epoch ms. */
  timestamp: number;
  /** Positive integer; one event may stand for many identical operations. */
  count: number;
  actor: string | null;
  source_ip: string | null;
  outcome: KeyEventOutcome;
  /** Free text for policy_violation / security_event (why); null otherwise. */
  reason: string | null;
}

export class KeyEventValidationError extends Error {
  constructor(message: string, readonly index: number, readonly field: string, readonly value: unknown) {
    super(message);
    this.name = 'KeyEventValidationError';
  }
}

/** Largest count one event may carry; keeps running totals exact in float64 (< 2^53). */
export const MAX_EVENT_COUNT = 1_000_000_000;
/** Longest actor or reason. */
export const MAX_EVENT_TEXT_CHARS = 1024;
/**
 * Largest batch accepted in one call; bigger imports are split by the caller. A batch is
 * validated whole and applied in one step, so this bounds the time one request holds its
 * tenant's key service (about 0.1 s for 100k events in bench/key_events.bench.ts).
 */
export const MAX_EVENTS_PER_BATCH = 100_000;

function fail(index: number, field: string, value: unknown, rule: string): never {
  throw new KeyEventValidationError(`key_events[${index}].${field}=${describeValue(value)} ${rule}`, index, field, value);
}

function optionalText(index: number, field: string, value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length > MAX_EVENT_TEXT_CHARS) fail(index, field, value, `must be a string of at most ${MAX_EVENT_TEXT_CHARS} characters`);
  return value;
}

/** Read as every time input of EMMS is (src/model/time.ts); `nowMs` when absent. */
function eventTime(index: number, value: unknown, nowMs: number): number {
  if (value === undefined || value === null) return nowMs;
  const ms = timeInputMs(value);
  if (ms === undefined) fail(index, 'timestamp', value, 'must be epoch ms or an ISO-8601 string');
  if (!isStorableTime(ms)) fail(index, 'timestamp', value, 'must be a time in [1970, 2200) as epoch ms or ISO-8601');
  return ms;
}

function eventKeyId(index: number, value: unknown): string {
  const problem = keyIdProblem(value);
  if (problem !== null) fail(index, 'key_id', value, problem);
  return value as string;
}

/**
 * Validates one event's shape (not whether its key exists: that needs the inventory).
 * `timestamp` defaults to `nowMs`, `count` to 1, `outcome` to success.
 */
export function validateKeyEvent(item: unknown, index: number, nowMs: number): KeyEvent {
  if (typeof item !== 'object' || item === null || Array.isArray(item)) {
    throw new KeyEventValidationError(`key_events[${index}]=${describeValue(item)} must be an object`, index, '', item);
  }
  const e = item as Record<string, unknown>;
  const keyId = eventKeyId(index, e.key_id);
  // A client that names a tenant believes it chooses one: say it does not, rather than ignore it.
  if (e.tenant !== undefined) fail(index, 'tenant', e.tenant, 'is not accepted: events belong to the tenant of the credentials that send them');
  const type = e.event_type ?? e.type;
  if (typeof type !== 'string' || !EVENT_TYPE_SET.has(type)) {
    fail(index, 'event_type', type, `is not a known event type (one of ${KEY_EVENT_TYPES.join(', ')})`);
  }
  let count = 1;
  if (e.count !== undefined) {
    const c = e.count;
    if (typeof c !== 'number' || !Number.isInteger(c) || c < 1 || c > MAX_EVENT_COUNT) {
      fail(index, 'count', c, `must be an integer in [1, ${MAX_EVENT_COUNT}]`);
    }
    count = c;
  }
  let outcome: KeyEventOutcome = 'success';
  if (e.outcome !== undefined && e.outcome !== null) {
    if (typeof e.outcome !== 'string' || !OUTCOME_SET.has(e.outcome)) fail(index, 'outcome', e.outcome, `must be one of ${KEY_EVENT_OUTCOMES.join(', ')}`);
    outcome = e.outcome as KeyEventOutcome;
  }
  let sourceIp: string | null = null;
  if (e.source_ip !== undefined && e.source_ip !== null) {
    if (typeof e.source_ip !== 'string' || isIP(e.source_ip) === 0) fail(index, 'source_ip', e.source_ip, 'must be an IPv4 or IPv6 address');
    sourceIp = e.source_ip;
  }
  return {
    key_id: keyId,
    event_type: type as KeyEventType,
    timestamp: eventTime(index, e.timestamp, nowMs),
    count,
    actor: optionalText(index, 'actor', e.actor),
    source_ip: sourceIp,
    outcome,
    reason: optionalText(index, 'reason', e.reason),
  };
}

/** Validates a whole batch; `isKnownKey` refuses events for keys not in the inventory. */
export function validateKeyEventBatch(items: unknown, nowMs: number, isKnownKey: (keyId: string) => boolean): KeyEvent[] {
  if (!Array.isArray(items)) {
    throw new KeyEventValidationError(`key_events=${describeValue(items)} must be an array of events`, -1, 'key_events', items);
  }
  if (items.length === 0) throw new KeyEventValidationError('key_events=array(0) must hold at least one event', -1, 'key_events', items);
  if (items.length > MAX_EVENTS_PER_BATCH) {
    throw new KeyEventValidationError(`key_events=array(${items.length}) must hold at most ${MAX_EVENTS_PER_BATCH} events`, -1, 'key_events', items.length);
  }
  const events = new Array<KeyEvent>(items.length);
  for (let i = 0; i < items.length; i++) {
    const event = validateKeyEvent(items[i], i, nowMs);
    if (!isKnownKey(event.key_id)) fail(i, 'key_id', event.key_id, 'is not a registered key (register it with POST /api/v1/keys first)');
    events[i] = event;
  }
  return events;
}
