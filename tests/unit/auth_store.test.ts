import Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthDatabase } from '../../src/auth/auth_database.js';
import { ApiKeyStore } from '../../src/auth/api_key_store.js';
import { GLOBAL_TENANT } from '../../src/auth/api_key_input.js';
import { hashApiKeyToken, isKeyId } from '../../src/auth/api_key_token.js';
import { TenantRegistry } from '../../src/auth/tenant_registry.js';
import { ConfigError } from '../../src/config/config_error.js';
import { DEFAULT_QUOTAS, QuotaExceededError } from '../../src/tenancy/quota.js';
import { authKit, T0, type AuthKit } from './auth_test_kit.js';

let kit: AuthKit;
const extra: Array<{ close(): void }> = [];
afterEach(() => {
  for (const x of extra.splice(0)) x.close();
  kit?.cleanup();
});

describe('API key store', () => {
  it('creates keys with 256-bit tokens kept only as SHA-256, in a 0600 file', () => {
    kit = authKit();
    const { record, token } = kit.apiKeys.create({ name: 'ingest a', tenant: 'acme', role: 'writer' });
    expect(token).toMatch(/^emms_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token.slice(5), 'base64url')).toHaveLength(32);
    expect(isKeyId(record.keyId)).toBe(true);
    expect(record).toMatchObject({ name: 'ingest a', tenant: 'acme', role: 'writer', createdAt: T0, expiresAt: undefined, revokedAt: undefined });

    const path = join(kit.dir, 'auth.db');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(`${path}-wal`).mode & 0o777).toBe(0o600);
    const raw = new Database(path, { readonly: true });
    const rows = raw.prepare('SELECT * FROM api_keys').all() as Array<Record<string, unknown>>;
    raw.close();
    expect(rows).toHaveLength(1);
    expect(rows[0]!.token_hash).toBe(hashApiKeyToken(token));
    expect(JSON.stringify(rows)).not.toContain(token.slice(5));

    const entry = kit.apiKeys.lookupToken(token)!;
    expect(entry).toMatchObject({ keyId: record.keyId, role: 'writer', tenant: 'acme', revoked: false, expiresAt: Infinity });
    expect(entry.principal).toEqual({ id: record.keyId, kind: 'api_key', role: 'writer', tenant: 'acme' });
    expect(kit.apiKeys.lookupToken(`emms_${'A'.repeat(43)}`)).toBeUndefined();
    expect(kit.apiKeys.list()).toEqual([record]);
    expect(kit.apiKeys.list({ tenant: 'other' })).toEqual([]);
    // The tenant is registered by its first key.
    expect(kit.tenants.get('acme')).toMatchObject({ tenant: 'acme', overrides: {} });
  });

  it('keeps operator keys global and refuses a tenant/role mismatch', () => {
    kit = authKit();
    const op = kit.apiKeys.create({ name: 'op', tenant: GLOBAL_TENANT, role: 'operator' });
    expect(op.record.tenant).toBe('*');
    expect(kit.apiKeys.lookupToken(op.token)!.principal).toEqual({ id: op.record.keyId, kind: 'api_key', role: 'operator', tenant: 'default' });
    expect(() => kit.apiKeys.create({ name: 'x', tenant: 'acme', role: 'operator' })).toThrow(/tenant="acme" must be omitted or "\*" for role operator/);
    expect(() => kit.apiKeys.create({ name: 'x', tenant: '*', role: 'reader' })).toThrow(/tenant="\*" must match/);
  });

  it('answers a cached key without reading SQLite, and bounds the cache', () => {
    kit = authKit();
    const small = new ApiKeyStore(kit.db, { now: kit.now, cacheSize: 3, lastUsedFlushMs: 0 });
    extra.push(small);
    const tokens = Array.from({ length: 5 }, (_, i) => kit.apiKeys.create({ name: `k${i}`, tenant: 'acme', role: 'reader' }).token);
    for (const t of tokens) expect(small.lookupToken(t)).toBeDefined();
    expect(small.cachedKeys).toBe(3);
    // With the database closed underneath, a cached key still answers: no I/O on the hot path.
    const last = small.lookupToken(tokens[4]!)!;
    kit.db.db.close();
    for (let i = 0; i < 1000; i++) expect(small.lookupToken(tokens[4]!)).toBe(last);
    expect(() => small.lookupToken(tokens[0]!)).toThrow(/not open/); // evicted: needs the file
  });

  it('makes a revocation by another handle (the CLI) visible within the change-check interval', () => {
    kit = authKit();
    const { record, token } = kit.apiKeys.create({ name: 'a', tenant: 'acme', role: 'reader' });
    expect(kit.apiKeys.lookupToken(token)!.revoked).toBe(false);

    const cliDb = AuthDatabase.open(kit.dir);
    const cli = new ApiKeyStore(cliDb, { lastUsedFlushMs: 0 });
    expect(cli.revoke(record.keyId)!.revokedAt).toBeGreaterThan(0);
    cli.close();
    cliDb.close();

    kit.clock.now += 999;
    expect(kit.apiKeys.lookupToken(token)!.revoked).toBe(false); // still inside the 1 s bound
    kit.clock.now += 1;
    expect(kit.apiKeys.lookupToken(token)!.revoked).toBe(true);
    expect(kit.apiKeys.get(record.keyId)!.revokedAt).toBeDefined();
  });

  it('revokes in-process at once, idempotently, and reports unknown ids', () => {
    kit = authKit();
    const { record, token } = kit.apiKeys.create({ name: 'a', tenant: 'acme', role: 'reader' });
    kit.apiKeys.lookupToken(token);
    const first = kit.apiKeys.revoke(record.keyId)!;
    expect(kit.apiKeys.lookupToken(token)!.revoked).toBe(true);
    kit.clock.now += 5000;
    expect(kit.apiKeys.revoke(record.keyId)!.revokedAt).toBe(first.revokedAt);
    expect(kit.apiKeys.revoke('ak_0000000000000000')).toBeUndefined();
  });

  it('records last use in memory and writes it at most once per flush, in one batch', () => {
    kit = authKit();
    const a = kit.apiKeys.create({ name: 'a', tenant: 'acme', role: 'reader' });
    const b = kit.apiKeys.create({ name: 'b', tenant: 'acme', role: 'reader' });
    const ea = kit.apiKeys.lookupToken(a.token)!;
    const eb = kit.apiKeys.lookupToken(b.token)!;
    for (let i = 0; i < 100; i++) kit.apiKeys.recordUse(ea, T0 + i);
    kit.apiKeys.recordUse(eb, T0 + 7);
    // The list shows the pending time before it is written.
    expect(kit.apiKeys.get(a.record.keyId)!.lastUsedAt).toBe(T0 + 99);
    const other = new Database(join(kit.dir, 'auth.db'), { readonly: true });
    const stored = () => other.prepare('SELECT key_id, last_used_at FROM api_keys ORDER BY name').all();
    expect(stored()).toEqual([{ key_id: a.record.keyId, last_used_at: null }, { key_id: b.record.keyId, last_used_at: null }]);
    kit.apiKeys.flushLastUsed();
    expect(stored()).toEqual([{ key_id: a.record.keyId, last_used_at: T0 + 99 }, { key_id: b.record.keyId, last_used_at: T0 + 7 }]);
    other.close();
  });

  it('enforces the api_keys quota on active keys only', () => {
    kit = authKit();
    const one = kit.apiKeys.create({ name: 'a', tenant: 'acme', role: 'reader' }, { maxActiveInTenant: 2 });
    kit.apiKeys.create({ name: 'b', tenant: 'acme', role: 'reader', expiresAt: T0 + 1000 }, { maxActiveInTenant: 2 });
    expect(() => kit.apiKeys.create({ name: 'c', tenant: 'acme', role: 'reader' }, { maxActiveInTenant: 2 })).toThrow(QuotaExceededError);
    kit.apiKeys.create({ name: 'other tenant', tenant: 'beta', role: 'reader' }, { maxActiveInTenant: 2 });
    kit.clock.now += 1000; // b expired
    kit.apiKeys.create({ name: 'c', tenant: 'acme', role: 'reader' }, { maxActiveInTenant: 2 });
    kit.apiKeys.revoke(one.record.keyId);
    kit.apiKeys.create({ name: 'd', tenant: 'acme', role: 'reader' }, { maxActiveInTenant: 2 });
    expect(kit.apiKeys.countActive('acme')).toBe(2);
    expect(kit.apiKeys.count()).toBe(5);
  });

  it('refuses a file written by a newer schema', () => {
    kit = authKit();
    kit.db.db.pragma('user_version = 99');
    expect(() => AuthDatabase.open(kit.dir)).toThrow(/user_version=99 was written by a newer EMMS/);
    kit.db.db.pragma('user_version = 1');
  });
});

describe('tenant registry', () => {
  it('serves config defaults and per-tenant overrides in O(1), persisted and shared', () => {
    kit = authKit();
    const defaults = { ...DEFAULT_QUOTAS, apiKeys: 7 };
    const registry = new TenantRegistry(kit.db, defaults, { now: kit.now });
    const lookup = registry.quotaLookup;
    expect(lookup('acme').apiKeys).toBe(7);
    const { record, created } = registry.setQuotas('acme', { api_keys: 3, targets: 5 }, 'test');
    expect(created).toBe(true);
    expect(record).toMatchObject({ tenant: 'acme', overrides: { api_keys: 3, targets: 5 } });
    expect(record.quotas).toMatchObject({ apiKeys: 3, targets: 5, rules: DEFAULT_QUOTAS.rules });
    expect(lookup('acme')).toMatchObject({ apiKeys: 3, targets: 5 });
    expect(lookup('beta').apiKeys).toBe(7);
    expect(registry.setQuotas('acme', { rules: 9 }, 'test').created).toBe(false);
    expect(lookup('acme')).toMatchObject({ apiKeys: 7, rules: 9, targets: DEFAULT_QUOTAS.targets });

    expect(() => registry.setQuotas('acme', { api_keys: -1 }, 'PUT /api/v1/tenants/acme')).toThrow(ConfigError);
    expect(() => registry.setQuotas('acme', { bogus: 1 }, 'test')).toThrow(/quotas.bogus/);

    // A second process changes an override: this one reloads when it notices.
    const otherDb = AuthDatabase.open(kit.dir);
    new TenantRegistry(otherDb, defaults).setQuotas('acme', { rules: 11 }, 'test');
    otherDb.close();
    expect(lookup('acme').rules).toBe(9);
    kit.clock.now += 1000;
    kit.db.pollExternalChanges();
    expect(lookup('acme').rules).toBe(11);
    expect(registry.list().map((t) => t.tenant)).toEqual(['acme']);
  });
});
