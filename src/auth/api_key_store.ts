/**
 * API keys in `auth.db`: creation (the token is returned once and only its hash is kept),
 * listing, revocation, and the lookup the authenticator runs on every request.
 *
 * Hot path: `lookupToken` hashes the token (SHA-256, ~1 µs) and probes a Map keyed by the hash;
 * only a miss reads SQLite. The Map holds at most `cacheSize` keys (FIFO eviction: a key evicted
 * while in use costs one indexed read to come back). Revoked and expired keys are cached too,
 * so replaying a dead token does not read SQLite either; unknown tokens are not cached (random
 * guesses would only churn the cache), and the authenticator's failure limit bounds them.
 *
 * Freshness: revocations through this store drop the key from the cache at once; commits by
 * another process (the CLI) drop the whole cache within AuthDatabase's change-check interval.
 *
 * Last use: recorded in memory per request (two property writes) and written for all keys used
 * since the previous flush in one transaction every `lastUsedFlushMs` (default 60 s), so a key's
 * `last_used_at` is at most that stale and costs at most one write per key per interval.
 */
import { QuotaExceededError } from '../tenancy/quota.js';
import { DEFAULT_TENANT, type Principal, type Role } from '../http/route.js';
import { parseNetworkList, type NetworkList } from '../net/cidr.js';
import type { AuthDatabase } from './auth_database.js';
import { AUTH_SQL, type ApiKeyRow } from './auth_schema.js';
import { GLOBAL_TENANT, checkTenantForRole, type NewApiKey } from './api_key_input.js';
import { generateApiKeyToken, generateKeyId, hashApiKeyToken } from './api_key_token.js';
import type Database from 'better-sqlite3';

export interface ApiKeyRecord {
  keyId: string;
  name: string;
  /** A tenant name, or GLOBAL_TENANT (`*`) for operator keys. */
  tenant: string;
  role: Role;
  createdAt: number;
  expiresAt: number | undefined;
  allowedNetworks: string[] | undefined;
  revokedAt: number | undefined;
  lastUsedAt: number | undefined;
}

export interface CreatedApiKey {
  record: ApiKeyRecord;
  /** The only time the token exists outside its owner's hands. */
  token: string;
}

/** What the authenticator needs of a key, cached per token hash. Fields are fixed at load time. */
export interface ApiKeyEntry {
  readonly keyId: string;
  readonly role: Role;
  /** The key's tenant (GLOBAL_TENANT for operators). */
  readonly tenant: string;
  /** Epoch ms; Infinity when the key never expires. */
  readonly expiresAt: number;
  readonly revoked: boolean;
  readonly networks: NetworkList | undefined;
  /** The principal when no `X-Emms-Tenant` changes it (operators: the `default` tenant). */
  readonly principal: Principal;
  lastUsedMs: number;
  dirty: boolean;
}

export interface ApiKeyStoreOptions {
  now?: () => number;
  /** Keys kept in memory; default 10 000. */
  cacheSize?: number;
  /** Milliseconds between writes of last-use times; default 60 000. 0 = no timer (call flushLastUsed). */
  lastUsedFlushMs?: number;
  /** A failed last-use flush (e.g. the file locked past busy_timeout); the times are retried next flush. */
  onFlushError?: (err: unknown) => void;
}

const KEY_STATEMENTS = ['insertKey', 'keyByHash', 'keyById', 'listKeys', 'listKeysOfTenant', 'countKeys', 'countActiveKeysOfTenant', 'revokeKey', 'touchKey', 'ensureTenant'] as const;
type Statements = Record<(typeof KEY_STATEMENTS)[number], Database.Statement>;

export const DEFAULT_API_KEY_CACHE_SIZE = 10_000;
export const DEFAULT_LAST_USED_FLUSH_MS = 60_000;

export class ApiKeyStore {
  readonly #auth: AuthDatabase;
  readonly #db: Database.Database;
  readonly #now: () => number;
  readonly #cacheSize: number;
  readonly #cache = new Map<string, ApiKeyEntry>();
  readonly #dirty = new Map<string, ApiKeyEntry>();
  readonly #onFlushError: (err: unknown) => void;
  readonly #timer: NodeJS.Timeout | undefined;
  readonly #sql: Statements;

  constructor(auth: AuthDatabase, options: ApiKeyStoreOptions = {}) {
    this.#auth = auth;
    this.#db = auth.db;
    this.#now = options.now ?? Date.now;
    this.#cacheSize = options.cacheSize ?? DEFAULT_API_KEY_CACHE_SIZE;
    if (!(Number.isInteger(this.#cacheSize) && this.#cacheSize >= 1)) throw new RangeError(`options.cacheSize must be a positive integer; got ${this.#cacheSize}`);
    this.#onFlushError = options.onFlushError ?? (() => {});
    this.#sql = Object.fromEntries(KEY_STATEMENTS.map((k) => [k, this.#db.prepare(AUTH_SQL[k])])) as Statements;
    auth.onExternalChange(() => this.#cache.clear());
    const flushMs = options.lastUsedFlushMs ?? DEFAULT_LAST_USED_FLUSH_MS;
    if (flushMs > 0) {
      this.#timer = setInterval(() => this.flushLastUsed(), flushMs);
      this.#timer.unref();
    }
  }

  /**
   * Creates a key. With `maxActiveInTenant`, refuses (QuotaExceededError) when the tenant
   * already has that many unrevoked, unexpired keys; the count and the insert are one
   * transaction, so two creators (server and CLI) cannot both pass the last slot.
   */
  create(input: NewApiKey, limits: { maxActiveInTenant?: number } = {}): CreatedApiKey {
    const tenant = checkTenantForRole(input.role, input.tenant);
    const token = generateApiKeyToken();
    const now = this.#now();
    const record: ApiKeyRecord = {
      keyId: generateKeyId(),
      name: input.name,
      tenant,
      role: input.role,
      createdAt: now,
      expiresAt: input.expiresAt,
      allowedNetworks: input.allowedNetworks === undefined || input.allowedNetworks.length === 0 ? undefined : [...input.allowedNetworks],
      revokedAt: undefined,
      lastUsedAt: undefined,
    };
    if (record.allowedNetworks !== undefined) parseNetworkList('allowed_networks', record.allowedNetworks);
    this.#db.transaction(() => {
      if (limits.maxActiveInTenant !== undefined && tenant !== GLOBAL_TENANT) {
        const active = this.#sql.countActiveKeysOfTenant.pluck().get(tenant, now) as number;
        if (active >= limits.maxActiveInTenant) {
          throw new QuotaExceededError(tenant, 'apiKeys', limits.maxActiveInTenant, `the tenant has ${active} active API keys`);
        }
      }
      if (tenant !== GLOBAL_TENANT) this.#sql.ensureTenant.run(tenant, now, now);
      this.#insert(record, token);
    }).immediate();
    return { record, token };
  }

  /**
   * Creates `input` only when the file holds no key at all (bootstrap); undefined otherwise.
   * One IMMEDIATE transaction, so a CLI creating a key at the same moment cannot race it.
   */
  createIfNone(input: NewApiKey): CreatedApiKey | undefined {
    let created: CreatedApiKey | undefined;
    this.#db.transaction(() => {
      if ((this.#sql.countKeys.pluck().get() as number) > 0) return;
      const token = generateApiKeyToken();
      const now = this.#now();
      const record: ApiKeyRecord = {
        keyId: generateKeyId(), name: input.name, tenant: checkTenantForRole(input.role, input.tenant), role: input.role,
        createdAt: now, expiresAt: input.expiresAt, allowedNetworks: undefined, revokedAt: undefined, lastUsedAt: undefined,
      };
      this.#insert(record, token);
      created = { record, token };
    }).immediate();
    return created;
  }

  #insert(record: ApiKeyRecord, token: string): void {
    this.#sql.insertKey.run({
      key_id: record.keyId,
      token_hash: hashApiKeyToken(token),
      name: record.name,
      tenant: record.tenant,
      role: record.role,
      created_at: record.createdAt,
      expires_at: record.expiresAt ?? null,
      allowed_networks: record.allowedNetworks === undefined ? null : JSON.stringify(record.allowedNetworks),
    });
  }

  /** Every key, or one tenant's (GLOBAL_TENANT for operator keys), oldest first. */
  list(filter: { tenant?: string } = {}): ApiKeyRecord[] {
    const rows = (filter.tenant === undefined ? this.#sql.listKeys.all() : this.#sql.listKeysOfTenant.all(filter.tenant)) as ApiKeyRow[];
    return rows.map((row) => this.#recordOf(row));
  }

  get(keyId: string): ApiKeyRecord | undefined {
    const row = this.#sql.keyById.get(keyId) as ApiKeyRow | undefined;
    return row === undefined ? undefined : this.#recordOf(row);
  }

  /** Keys in the file, revoked ones included. */
  count(): number {
    return this.#sql.countKeys.pluck().get() as number;
  }

  /** Unrevoked, unexpired keys of a tenant (the `api_keys` quota counts these). */
  countActive(tenant: string): number {
    return this.#sql.countActiveKeysOfTenant.pluck().get(tenant, this.#now()) as number;
  }

  /** Revokes a key (idempotent); undefined when no such key. Effective at once in this process. */
  revoke(keyId: string): ApiKeyRecord | undefined {
    const now = this.#now();
    const row = this.#db.transaction(() => {
      this.#sql.revokeKey.run(now, keyId);
      return this.#sql.keyById.get(keyId) as ApiKeyRow | undefined;
    }).immediate();
    if (row === undefined) return undefined;
    for (const [hash, entry] of this.#cache) if (entry.keyId === keyId) this.#cache.delete(hash);
    return this.#recordOf(row);
  }

  /**
   * The key a token belongs to (revoked and expired keys included: the caller decides), or
   * undefined. O(1) for a cached key; the caller has validated the token's shape.
   */
  lookupToken(token: string): ApiKeyEntry | undefined {
    this.#auth.pollExternalChanges();
    const hash = hashApiKeyToken(token);
    const hit = this.#cache.get(hash);
    if (hit !== undefined) return hit;
    const row = this.#sql.keyByHash.get(hash) as ApiKeyRow | undefined;
    if (row === undefined) return undefined;
    const entry = entryOf(row);
    if (this.#cache.size >= this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(hash, entry);
    return entry;
  }

  /** Notes a successful use; written by the next flush. */
  recordUse(entry: ApiKeyEntry, nowMs: number): void {
    entry.lastUsedMs = nowMs;
    if (!entry.dirty) {
      entry.dirty = true;
      this.#dirty.set(entry.keyId, entry);
    }
  }

  /** Writes the pending last-use times in one transaction; on failure keeps them for the next flush. */
  flushLastUsed(): void {
    if (this.#dirty.size === 0 || !this.#db.open) return;
    const entries = [...this.#dirty.values()];
    try {
      this.#db.transaction(() => {
        for (const e of entries) this.#sql.touchKey.run(e.lastUsedMs, e.keyId);
      })();
    } catch (err) {
      this.#onFlushError(err);
      return;
    }
    for (const e of entries) e.dirty = false;
    this.#dirty.clear();
  }

  /** Keys held in memory (tests, self-metrics). */
  get cachedKeys(): number {
    return this.#cache.size;
  }

  /** Stops the flush timer and writes pending last-use times; the AuthDatabase stays open. */
  close(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.flushLastUsed();
  }

  #recordOf(row: ApiKeyRow): ApiKeyRecord {
    const pending = this.#dirty.get(row.key_id)?.lastUsedMs;
    const stored = row.last_used_at ?? undefined;
    return {
      keyId: row.key_id,
      name: row.name,
      tenant: row.tenant,
      role: row.role as Role,
      createdAt: row.created_at,
      expiresAt: row.expires_at ?? undefined,
      allowedNetworks: row.allowed_networks === null ? undefined : (JSON.parse(row.allowed_networks) as string[]),
      revokedAt: row.revoked_at ?? undefined,
      // A use not yet flushed is newer than the file's.
      lastUsedAt: pending !== undefined && (stored === undefined || pending > stored) ? pending : stored,
    };
  }
}

function entryOf(row: ApiKeyRow): ApiKeyEntry {
  const role = row.role as Role;
  return {
    keyId: row.key_id,
    role,
    tenant: row.tenant,
    expiresAt: row.expires_at ?? Infinity,
    revoked: row.revoked_at !== null,
    networks: row.allowed_networks === null ? undefined : parseNetworkList(`api key ${row.key_id} allowed_networks`, JSON.parse(row.allowed_networks)),
    principal: Object.freeze({ id: row.key_id, kind: 'api_key', role, tenant: role === 'operator' ? DEFAULT_TENANT : row.tenant }),
    lastUsedMs: row.last_used_at ?? 0,
    dirty: false,
  };
}
