/**
 * The key inventory's data model: what a registered cryptographic key is, and the rules a
 * registration or update must pass. Errors name the field and the bad value (STYLE.md habit 8),
 * e.g. `key.key_type="aes" must be one of encryption, signing, wrapping, hmac`.
 *
 * The wire names are snake_case as in the seed's API; the in-memory record uses the same names
 * so that a record is its own JSON representation and no mapping layer sits on the hot path.
 */
import { describeValue, MAX_TAG_VALUE_CHARS, MetricValidationError, validateTags, type Tags } from '../model/metric.js';
import { isStorableTime, timeInputMs } from '../model/time.js';

export const KEY_TYPES = ['encryption', 'signing', 'wrapping', 'hmac'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

export const KEY_STATES = ['active', 'rotated', 'expired', 'revoked', 'compromised'] as const;
export type KeyState = (typeof KEY_STATES)[number];

export const KEY_BACKENDS = ['kms', 'hsm', 'vault', 'software'] as const;
export type KeyBackend = (typeof KEY_BACKENDS)[number];

/** States in which any use of the key breaks policy (the `inactive_key_use` rule). */
export const UNUSABLE_KEY_STATES: ReadonlySet<KeyState> = new Set<KeyState>(['revoked', 'expired', 'compromised']);

/**
 * key_id doubles as a tag value and a URL segment. ARNs (`arn:aws:kms:…:key/…`) and Vault
 * paths need `:` and `/`; the server URL-decodes `:key_id`, so `/` arrives encoded as %2F.
 */
export const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:/@+=-]{0,255}$/;
/** Longest key_id (KEY_ID_PATTERN's bound, named so errors can say it). */
export const MAX_KEY_ID_CHARS = 256;
/** Free-form but tag-safe: `AES-256-GCM`, `RSA-2048`, `ECDSA-P256`, `HMAC-SHA256`, `3DES`, `UNKNOWN`. */
export const ALGORITHM_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_./-]{0,63}$/;
export const MAX_OWNER_CHARS = 256;
/**
 * Keys one `POST /api/v1/keys {"keys": [...]}` may register: the batch is validated whole and
 * written in one keys.db transaction, so its size bounds the time the request holds the
 * service. Bigger inventories are registered in several requests.
 */
export const MAX_KEYS_PER_REQUEST = 10_000;
const MS_PER_DAY = 86_400_000;
export const MAX_ROTATION_PERIOD_DAYS = 36_500;

export interface KeyRecord {
  key_id: string;
  key_type: KeyType;
  algorithm: string;
  /** Owning team or service. */
  owner: string;
  backend: KeyBackend;
  /** Epoch ms. */
  created_at: number;
  /** Epoch ms, or null for keys that never expire. */
  expires_at: number | null;
  rotation_period_days: number | null;
  state: KeyState;
  tags: Tags;
  /** Epoch ms of the last `rotated` event (null: never rotated since creation). */
  last_rotated_at: number | null;
  /** Budgeted operations (see KeyPolicy.operationBudgets) since creation or the last rotation. */
  operations_since_rotation: number;
  /** Epoch ms of the last change to this record. */
  updated_at: number;
}

/** A registration or update that breaks a rule; nothing is stored. */
export class KeyValidationError extends Error {
  constructor(message: string, readonly field: string, readonly value: unknown) {
    super(message);
    this.name = 'KeyValidationError';
  }
}

function fail(field: string, value: unknown, rule: string): never {
  throw new KeyValidationError(`key.${field}=${describeValue(value)} ${rule}`, field, value);
}

/**
 * Epoch ms from a number (ms), a Date or an ISO-8601 string, read as every time input of EMMS
 * is (src/model/time.ts: an ISO time without an offset is UTC), in the range of stored times.
 */
export function parseTimeField(field: string, value: unknown): number {
  const ms = timeInputMs(value);
  if (ms === undefined) fail(field, value, 'must be an epoch-millisecond number or an ISO-8601 time');
  if (!isStorableTime(ms)) fail(field, value, 'must be a time in [1970, 2200) (epoch ms or ISO-8601)');
  return ms;
}

function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(field, value, `must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/** What is wrong with a key_id, or null when it is valid (shared by the inventory and event validation). */
export function keyIdProblem(value: unknown): string | null {
  if (typeof value === 'string' && value.length > MAX_KEY_ID_CHARS) return `must be at most ${MAX_KEY_ID_CHARS} characters`;
  if (typeof value !== 'string' || !KEY_ID_PATTERN.test(value)) return `must match ${KEY_ID_PATTERN.source}`;
  return null;
}

export function validateKeyId(value: unknown, field = 'key_id'): string {
  const problem = keyIdProblem(value);
  if (problem !== null) fail(field, value, problem);
  return value as string;
}

function validateAlgorithm(value: unknown): string {
  if (typeof value !== 'string' || !ALGORITHM_PATTERN.test(value)) fail('algorithm', value, `must match ${ALGORITHM_PATTERN.source}`);
  return value;
}

function validateOwner(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > Math.min(MAX_OWNER_CHARS, MAX_TAG_VALUE_CHARS)) {
    fail('owner', value, `must be a non-empty string of at most ${MAX_OWNER_CHARS} characters`);
  }
  return value;
}

function validateRotationPeriod(value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_ROTATION_PERIOD_DAYS) {
    fail('rotation_period_days', value, `must be a number of days in (0, ${MAX_ROTATION_PERIOD_DAYS}] or null`);
  }
  return value;
}

/** The limits of series tags (at most 32, values of at most 1024 characters), errors as `key.tags.team=…`. */
function validateKeyTags(value: unknown): Tags {
  try {
    return { ...validateTags(value, -1) };
  } catch (err) {
    if (err instanceof MetricValidationError) throw new KeyValidationError(`key.${err.message}`, err.field, err.value);
    throw err;
  }
}

const CREATE_FIELDS = new Set([
  'key_id', 'key_type', 'algorithm', 'owner', 'service', 'backend', 'created_at', 'expires_at',
  'rotation_period_days', 'state', 'tags',
]);
const PATCH_FIELDS = new Set([...CREATE_FIELDS].filter((f) => f !== 'key_id'));

function requireObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new KeyValidationError(`key=${describeValue(body)} must be a JSON object`, '', body);
  }
  return body as Record<string, unknown>;
}

function rejectUnknownFields(obj: Record<string, unknown>, allowed: ReadonlySet<string>): void {
  for (const field of Object.keys(obj)) {
    if (!allowed.has(field)) fail(field, obj[field], `is not a known field (allowed: ${[...allowed].join(', ')})`);
  }
}

/** `owner` is the canonical name; the seed calls the same thing `service`. */
function ownerOf(obj: Record<string, unknown>): unknown {
  return obj.owner !== undefined ? obj.owner : obj.service;
}

function checkExpiryAfterCreation(createdAt: number, expiresAt: number | null): void {
  if (expiresAt !== null && expiresAt <= createdAt) {
    fail('expires_at', new Date(expiresAt).toISOString(), `must be after created_at=${new Date(createdAt).toISOString()}`);
  }
}

/** Validates a `POST /api/v1/keys` body into a new record. */
export function validateNewKey(body: unknown, nowMs: number): KeyRecord {
  const obj = requireObject(body);
  rejectUnknownFields(obj, CREATE_FIELDS);
  const createdAt = obj.created_at === undefined ? nowMs : parseTimeField('created_at', obj.created_at);
  const expiresAt = obj.expires_at === undefined || obj.expires_at === null ? null : parseTimeField('expires_at', obj.expires_at);
  checkExpiryAfterCreation(createdAt, expiresAt);
  return {
    key_id: validateKeyId(obj.key_id),
    key_type: oneOf('key_type', obj.key_type, KEY_TYPES),
    algorithm: validateAlgorithm(obj.algorithm),
    owner: validateOwner(ownerOf(obj)),
    backend: oneOf('backend', obj.backend, KEY_BACKENDS),
    created_at: createdAt,
    expires_at: expiresAt,
    rotation_period_days: obj.rotation_period_days === undefined ? null : validateRotationPeriod(obj.rotation_period_days),
    state: obj.state === undefined ? 'active' : oneOf('state', obj.state, KEY_STATES),
    tags: obj.tags === undefined ? {} : validateKeyTags(obj.tags),
    last_rotated_at: null,
    operations_since_rotation: 0,
    updated_at: nowMs,
  };
}

/** Validates a `PATCH /api/v1/keys/{key_id}` body and returns the updated copy of `current`. */
export function applyKeyPatch(current: KeyRecord, body: unknown, nowMs: number): KeyRecord {
  const obj = requireObject(body);
  rejectUnknownFields(obj, PATCH_FIELDS);
  const next: KeyRecord = { ...current, tags: { ...current.tags }, updated_at: nowMs };
  if (obj.key_type !== undefined) next.key_type = oneOf('key_type', obj.key_type, KEY_TYPES);
  if (obj.algorithm !== undefined) next.algorithm = validateAlgorithm(obj.algorithm);
  if (ownerOf(obj) !== undefined) next.owner = validateOwner(ownerOf(obj));
  if (obj.backend !== undefined) next.backend = oneOf('backend', obj.backend, KEY_BACKENDS);
  if (obj.created_at !== undefined) next.created_at = parseTimeField('created_at', obj.created_at);
  if (obj.expires_at !== undefined) next.expires_at = obj.expires_at === null ? null : parseTimeField('expires_at', obj.expires_at);
  if (obj.rotation_period_days !== undefined) next.rotation_period_days = validateRotationPeriod(obj.rotation_period_days);
  if (obj.state !== undefined) next.state = oneOf('state', obj.state, KEY_STATES);
  if (obj.tags !== undefined) next.tags = validateKeyTags(obj.tags);
  checkExpiryAfterCreation(next.created_at, next.expires_at);
  return next;
}

/** The record as the HTTP API shows it: times as ISO-8601 plus derived ages. */
export function keyToJson(key: KeyRecord, nowMs: number): Record<string, unknown> {
  return {
    ...key,
    created_at: new Date(key.created_at).toISOString(),
    expires_at: key.expires_at === null ? null : new Date(key.expires_at).toISOString(),
    last_rotated_at: key.last_rotated_at === null ? null : new Date(key.last_rotated_at).toISOString(),
    updated_at: new Date(key.updated_at).toISOString(),
    age_days: keyAgeDays(key, nowMs),
    days_until_expiry: daysUntilExpiry(key, nowMs),
  };
}

export function keyAgeDays(key: KeyRecord, nowMs: number): number {
  return (nowMs - key.created_at) / MS_PER_DAY;
}

export function daysUntilExpiry(key: KeyRecord, nowMs: number): number | null {
  return key.expires_at === null ? null : (key.expires_at - nowMs) / MS_PER_DAY;
}

/** Time the current key material came into use: the last rotation, else creation. */
export function keyMaterialSince(key: KeyRecord): number {
  return key.last_rotated_at ?? key.created_at;
}

/** True when the key has a rotation period and has gone longer than it without rotating. */
export function isRotationOverdue(key: KeyRecord, nowMs: number, defaultPeriodDays: number | null): boolean {
  const period = key.rotation_period_days ?? defaultPeriodDays;
  if (period === null) return false;
  return nowMs - keyMaterialSince(key) > period * MS_PER_DAY;
}

export { MS_PER_DAY };
