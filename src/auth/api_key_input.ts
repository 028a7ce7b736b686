/**
 * Checks what a caller asks for when creating an API key (HTTP body or CLI flags) and turns it
 * into a NewApiKey; every error names the field and the value. Who may create which key is not
 * decided here (auth_routes.ts does that); only what a key can be.
 */
import { ROLES, TENANT_NAME_PATTERN, type Role } from '../http/route.js';
import { NetworkListError, parseNetworkList } from '../net/cidr.js';

/**
 * The tenant of operator keys. Operators are global: their keys belong to no tenant, so no
 * tenant's admin lists or revokes them, and `*` can never collide with a tenant name
 * (TENANT_NAME_PATTERN has no `*`). An operator acts on `X-Emms-Tenant`, else `default`.
 */
export const GLOBAL_TENANT = '*';

const MAX_NAME_CHARS = 128;
const MAX_KEY_NETWORKS = 100;

export interface NewApiKey {
  name: string;
  /** A tenant name, or GLOBAL_TENANT for (and only for) role `operator`. */
  tenant: string;
  role: Role;
  /** Epoch milliseconds; undefined = never expires. */
  expiresAt?: number | undefined;
  /** CIDRs or addresses; undefined = wherever the server accepts clients. */
  allowedNetworks?: readonly string[] | undefined;
}

export class ApiKeyValidationError extends Error {
  constructor(readonly field: string, readonly value: unknown, rule: string) {
    super(`${field}=${describe(value)} ${rule}`);
    this.name = 'ApiKeyValidationError';
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string' && value.length > 140) return `${JSON.stringify(value.slice(0, 140))}…`;
  if (Array.isArray(value)) return `(an array of ${value.length})`;
  return JSON.stringify(value) ?? String(value);
}

export function parseKeyName(value: unknown): string {
  // Control characters would let a name forge lines in `emms apikey list` and in logs.
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_NAME_CHARS || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new ApiKeyValidationError('name', value, `must be a non-empty string of at most ${MAX_NAME_CHARS} printable characters`);
  }
  return value;
}

export function parseRole(value: unknown): Role {
  if (typeof value !== 'string' || !(ROLES as readonly string[]).includes(value)) throw new ApiKeyValidationError('role', value, `must be one of ${ROLES.join(', ')}`);
  return value as Role;
}

export function isTenantName(value: unknown): value is string {
  return typeof value === 'string' && TENANT_NAME_PATTERN.test(value);
}

export function parseTenantName(field: string, value: unknown): string {
  if (!isTenantName(value)) throw new ApiKeyValidationError(field, value, `must match ${TENANT_NAME_PATTERN}`);
  return value;
}

/** ISO-8601 date-time (e.g. `2026-01-31T00:00:00Z`), strictly in the future. */
export function parseExpiresAt(value: unknown, nowMs: number): number {
  const ms = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value) ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) throw new ApiKeyValidationError('expires_at', value, 'must be an ISO-8601 date-time such as "2030-01-31T00:00:00Z"');
  if (ms <= nowMs) throw new ApiKeyValidationError('expires_at', value, `must be in the future (now is ${new Date(nowMs).toISOString()})`);
  return ms;
}

/** An array of CIDRs; an empty array means no restriction. */
export function parseAllowedNetworks(value: unknown): string[] | undefined {
  if (!Array.isArray(value) || value.length > MAX_KEY_NETWORKS) {
    throw new ApiKeyValidationError('allowed_networks', value, `must be an array of at most ${MAX_KEY_NETWORKS} CIDRs such as "10.0.0.0/8"`);
  }
  if (value.length === 0) return undefined;
  try {
    return [...parseNetworkList('allowed_networks', value).entries];
  } catch (err) {
    if (err instanceof NetworkListError) throw new ApiKeyValidationError(err.field, err.value, 'must be a CIDR or an IP address');
    throw err;
  }
}

/**
 * The tenant/role pair of a key: operator keys are global (GLOBAL_TENANT; a named tenant is
 * refused rather than silently dropped), every other key belongs to one named tenant.
 */
export function checkTenantForRole(role: Role, tenant: string | undefined): string {
  if (role === 'operator') {
    if (tenant !== undefined && tenant !== GLOBAL_TENANT) {
      throw new ApiKeyValidationError('tenant', tenant, `must be omitted or "${GLOBAL_TENANT}" for role operator (operator keys are global)`);
    }
    return GLOBAL_TENANT;
  }
  if (tenant === undefined) throw new ApiKeyValidationError('tenant', tenant, `is required for role ${role}`);
  return parseTenantName('tenant', tenant);
}
