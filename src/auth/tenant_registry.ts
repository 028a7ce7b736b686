/**
 * The tenant registry in `auth.db`: which tenants exist (created by the operator, or by the
 * first API key of a tenant) and their quota overrides over `security.quotas`.
 *
 * `quotaLookup` is what every quota-enforcing service receives: one Map probe, falling back to
 * the configured defaults for tenants without overrides. Overrides are kept in memory; writes
 * through this registry update the Map at once, writes by another process reload it when
 * AuthDatabase notices them.
 */
import type Database from 'better-sqlite3';
import { parseQuotas } from '../config/security_config.js';
import { QUOTA_CONFIG_KEYS, QUOTA_NAMES, type QuotaLookup, type TenantQuotas } from '../tenancy/quota.js';
import type { AuthDatabase } from './auth_database.js';
import { AUTH_SQL, type TenantRow } from './auth_schema.js';

export interface TenantRecord {
  tenant: string;
  /** The overrides only, in main.json spelling (`{"api_keys": 5}`). */
  overrides: Record<string, number>;
  /** What is in force: defaults with the overrides applied. */
  quotas: Readonly<TenantQuotas>;
  createdAt: number;
  updatedAt: number;
}

export class TenantRegistry {
  readonly #db: Database.Database;
  #defaults: Readonly<TenantQuotas>;
  readonly #now: () => number;
  /** Tenants with overrides only → their quotas in force. */
  #effective = new Map<string, Readonly<TenantQuotas>>();
  readonly #byName: Database.Statement;
  readonly #list: Database.Statement;
  readonly #withOverrides: Database.Statement;
  readonly #upsert: Database.Statement;
  readonly #ensure: Database.Statement;

  /** The quotas in force for a tenant: O(1), no I/O. */
  readonly quotaLookup: QuotaLookup = (tenant) => this.#effective.get(tenant) ?? this.#defaults;

  constructor(auth: AuthDatabase, defaults: Readonly<TenantQuotas>, options: { now?: () => number } = {}) {
    this.#db = auth.db;
    this.#defaults = Object.freeze({ ...defaults });
    this.#now = options.now ?? Date.now;
    this.#byName = this.#db.prepare(AUTH_SQL.tenantByName);
    this.#list = this.#db.prepare(AUTH_SQL.listTenants);
    this.#withOverrides = this.#db.prepare(AUTH_SQL.tenantsWithOverrides);
    this.#upsert = this.#db.prepare(AUTH_SQL.upsertTenantQuotas);
    this.#ensure = this.#db.prepare(AUTH_SQL.ensureTenant);
    this.#reload();
    auth.onExternalChange(() => this.#reload());
  }

  get(tenant: string): TenantRecord | undefined {
    const row = this.#byName.get(tenant) as TenantRow | undefined;
    return row === undefined ? undefined : this.#recordOf(row);
  }

  list(): TenantRecord[] {
    return (this.#list.all() as TenantRow[]).map((row) => this.#recordOf(row));
  }

  /** Registers a tenant with default quotas if it is not registered yet. */
  ensure(tenant: string): void {
    const now = this.#now();
    this.#ensure.run(tenant, now, now);
  }

  /**
   * Replaces a tenant's overrides with `raw` (`{"api_keys": 5, …}`; `{}` = back to defaults),
   * registering the tenant if needed. Throws ConfigError naming the quota and value.
   */
  setQuotas(tenant: string, raw: unknown, source: string): { record: TenantRecord; created: boolean } {
    const quotas = Object.freeze(parseQuotas('quotas', raw, this.#defaults, source));
    const overrides = overridesOf(raw as Record<string, unknown>);
    const created = this.#db.transaction(() => {
      const existed = this.#byName.get(tenant) !== undefined;
      this.#upsert.run({ tenant, quotas: JSON.stringify(overrides), now: this.#now() });
      return !existed;
    }).immediate();
    if (Object.keys(overrides).length === 0) this.#effective.delete(tenant);
    else this.#effective.set(tenant, quotas);
    return { record: this.get(tenant)!, created };
  }

  /**
   * Tenant deletion (src/app/tenant_deletion.ts): the registry row and the tenant's API keys,
   * which the caller has revoked (revocation is what closes their open streams). Returns the
   * API keys deleted. secure_delete, so the key names leave the pages they were on.
   */
  remove(tenant: string): number {
    const keys = this.#db.transaction(() => {
      this.#db.prepare(AUTH_SQL.deleteTenant).run(tenant);
      return this.#db.prepare(AUTH_SQL.deleteKeysOfTenant).run(tenant).changes;
    });
    const previous = this.#db.pragma('secure_delete', { simple: true }) as number;
    this.#db.pragma('secure_delete = ON');
    try {
      const deleted = keys.immediate();
      this.#effective.delete(tenant);
      return deleted;
    } finally {
      this.#db.pragma(`secure_delete = ${previous === 1 ? 'ON' : 'OFF'}`);
    }
  }

  /** The defaults (`security.quotas`) in force for tenants without overrides. */
  get defaults(): Readonly<TenantQuotas> {
    return this.#defaults;
  }

  /**
   * New defaults (`security.quotas` re-read on SIGHUP): tenants without overrides get them at
   * once, tenants with overrides get their overrides applied over them.
   */
  setDefaults(defaults: Readonly<TenantQuotas>): void {
    this.#defaults = Object.freeze({ ...defaults });
    this.#reload();
  }

  #reload(): void {
    const next = new Map<string, Readonly<TenantQuotas>>();
    for (const row of this.#withOverrides.all() as Array<Pick<TenantRow, 'tenant' | 'quotas'>>) {
      next.set(row.tenant, this.#quotasOf(row.tenant, row.quotas));
    }
    this.#effective = next;
  }

  #quotasOf(tenant: string, text: string): Readonly<TenantQuotas> {
    return Object.freeze(parseQuotas(`tenants[${tenant}].quotas`, JSON.parse(text), this.#defaults, 'auth.db'));
  }

  #recordOf(row: TenantRow): TenantRecord {
    return {
      tenant: row.tenant,
      overrides: JSON.parse(row.quotas) as Record<string, number>,
      quotas: this.#quotasOf(row.tenant, row.quotas),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }
}

/** The quotas named in `raw` (already validated by parseQuotas), in main.json spelling. */
function overridesOf(raw: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const q of QUOTA_NAMES) {
    const name = QUOTA_CONFIG_KEYS[q];
    if (raw[name] !== undefined) out[name] = raw[name] as number;
  }
  return out;
}

/** Quotas in main.json spelling, for API answers. */
export function quotasToJson(quotas: Readonly<TenantQuotas>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const q of QUOTA_NAMES) out[QUOTA_CONFIG_KEYS[q]] = quotas[q];
  return out;
}
