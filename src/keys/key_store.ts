/**
 * Persistence of the key inventory, policy violations and open policy conditions in
 * `keys.db` (better-sqlite3, WAL), every row keyed by tenant. The in-memory inventory in
 * KeyService is the working copy; this file only loads it at start and writes each batch's
 * changes in one transaction. A file of schema version 1 (before tenants) is migrated on open;
 * its rows become tenant `default`.
 */
import type Database from 'better-sqlite3';
import { openSqlite } from '../crypto/sqlite_cipher.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { KeyBackend, KeyRecord, KeyState, KeyType } from './key_model.js';
import { KEYS_DDL, KEYS_MIGRATE_V1_TO_V2, KEYS_SCHEMA_VERSION, KEYS_V1_TABLES, SQL } from './key_schema.js';
import type { PolicyRule } from './key_policy.js';

export interface ViolationRecord {
  id?: number;
  key_id: string;
  rule: PolicyRule;
  reason: string;
  /** Epoch ms of the offending event, or of the check that found the condition. */
  timestamp: number;
  count: number;
  event_type: string | null;
  actor: string | null;
  source_ip: string | null;
}

/** What one ingest batch or periodic check of one tenant changed, written in one transaction. */
export interface KeyStoreChanges {
  keys: Iterable<KeyRecord>;
  violations: readonly ViolationRecord[];
  openedConditions: ReadonlyArray<{ keyId: string; rule: string; since: number }>;
  closedConditions: ReadonlyArray<{ keyId: string; rule: string }>;
  /** meta rows to set (name → value). */
  meta?: ReadonlyArray<[string, number]>;
}

export interface ViolationFilter {
  keyId?: string;
  rule?: string;
  limit?: number;
}

interface KeyRow {
  tenant: string; key_id: string; key_type: string; algorithm: string; owner: string; backend: string;
  created_at: number; expires_at: number | null; rotation_period_days: number | null; state: string;
  tags: string; last_rotated_at: number | null; operations_since_rotation: number; updated_at: number;
}

export class KeyStore {
  readonly #db: Database.Database;
  readonly #upsertKey: Database.Statement;
  readonly #insertViolation: Database.Statement;
  readonly #insertOpen: Database.Statement;
  readonly #deleteOpen: Database.Statement;
  readonly #upsertMeta: Database.Statement;
  readonly #selectImported: Database.Statement;
  readonly #insertImported: Database.Statement;
  readonly #selectViolations: Database.Statement;
  readonly #commit: (tenant: string, changes: KeyStoreChanges) => void;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.#db = openSqlite(path);
    try {
      this.#db.pragma('journal_mode = WAL');
      // NORMAL is durable across process crashes in WAL mode (only an OS crash can lose the
      // last commits), the same trade the engine makes for its own file.
      this.#db.pragma('synchronous = NORMAL');
      this.#prepareSchema(path);
    } catch (err) {
      this.#db.close();
      throw err;
    }
    this.#upsertKey = this.#db.prepare(SQL.upsertKey);
    this.#insertViolation = this.#db.prepare(SQL.insertViolation);
    this.#insertOpen = this.#db.prepare(SQL.insertOpenCondition);
    this.#deleteOpen = this.#db.prepare(SQL.deleteOpenCondition);
    this.#upsertMeta = this.#db.prepare(SQL.upsertMeta);
    this.#selectImported = this.#db.prepare(SQL.selectImported);
    this.#insertImported = this.#db.prepare(SQL.insertImported);
    this.#selectViolations = this.#db.prepare(SQL.selectViolations);
    this.#commit = this.#db.transaction((tenant: string, changes: KeyStoreChanges) => {
      for (const k of changes.keys) this.#upsertKey.run({ ...k, tenant, tags: JSON.stringify(k.tags) });
      for (const v of changes.violations) this.#insertViolation.run({ ...v, tenant });
      for (const o of changes.openedConditions) this.#insertOpen.run(tenant, o.keyId, o.rule, o.since);
      for (const c of changes.closedConditions) this.#deleteOpen.run(tenant, c.keyId, c.rule);
      for (const [name, value] of changes.meta ?? []) this.#upsertMeta.run(tenant, name, value);
    });
  }

  /** Creates the tables of a new file, migrates a version-1 file, refuses unknown versions. */
  #prepareSchema(path: string): void {
    let version = this.#db.pragma('user_version', { simple: true }) as number;
    // Version 1 created its tables before setting user_version: a file cut off between the
    // two holds version-1 tables at version 0.
    if (version === 0 && this.#hasTable('keys') && !this.#columns('keys').includes('tenant')) version = 1;
    if (version === 0) {
      this.#db.transaction(() => {
        this.#db.exec(KEYS_DDL);
        this.#db.pragma(`user_version = ${KEYS_SCHEMA_VERSION}`);
      })();
    } else if (version === 1) {
      this.#db.transaction(() => {
        for (const table of KEYS_V1_TABLES) {
          // A version-1 file may lack tables added late in version 1; create them empty.
          if (!this.#hasTable(table)) continue;
          this.#db.exec(`ALTER TABLE ${table} RENAME TO ${table}_v1`);
        }
        this.#db.exec(KEYS_DDL);
        for (const table of KEYS_V1_TABLES) {
          if (!this.#hasTable(`${table}_v1`)) this.#db.exec(`CREATE TABLE ${table}_v1 AS SELECT * FROM ${table} WHERE 0`);
        }
        this.#db.exec(KEYS_MIGRATE_V1_TO_V2);
        this.#db.pragma(`user_version = ${KEYS_SCHEMA_VERSION}`);
      })();
    } else if (version !== KEYS_SCHEMA_VERSION) {
      throw new Error(`${path}: keys.db schema version ${version} is not supported (expected ${KEYS_SCHEMA_VERSION}, or 1 to migrate)`);
    }
  }

  #hasTable(name: string): boolean {
    return this.#columns(name).length > 0;
  }

  #columns(table: string): string[] {
    return (this.#db.prepare(SQL.tableColumns).all(table) as Array<{ name: string }>).map((r) => r.name);
  }

  /** Every tenant's keys. */
  loadKeys(): Array<{ tenant: string; record: KeyRecord }> {
    return (this.#db.prepare(SQL.selectKeys).all() as KeyRow[]).map((r) => ({
      tenant: r.tenant,
      record: {
        key_id: r.key_id,
        key_type: r.key_type as KeyType,
        algorithm: r.algorithm,
        owner: r.owner,
        backend: r.backend as KeyBackend,
        created_at: r.created_at,
        expires_at: r.expires_at,
        rotation_period_days: r.rotation_period_days,
        state: r.state as KeyState,
        tags: JSON.parse(r.tags) as Record<string, string>,
        last_rotated_at: r.last_rotated_at,
        operations_since_rotation: r.operations_since_rotation,
        updated_at: r.updated_at,
      },
    }));
  }

  loadOpenConditions(): Array<{ tenant: string; key_id: string; rule: string; since: number }> {
    return this.#db.prepare(SQL.selectOpenConditions).all() as Array<{ tenant: string; key_id: string; rule: string; since: number }>;
  }

  /** The value of meta row `name` per tenant that has one. */
  metaByTenant(name: string): Map<string, number> {
    const rows = this.#db.prepare(SQL.selectMetaByTenant).all(name) as Array<{ tenant: string; value: number }>;
    return new Map(rows.map((r) => [r.tenant, r.value]));
  }

  /** The ids among `ids` that `tenant` already imported from `source` (audit-trail record ids). */
  importedAmong(tenant: string, source: string, ids: Iterable<string>): Set<string> {
    const seen = new Set<string>();
    for (const id of ids) if (this.#selectImported.get(tenant, source, id) !== undefined) seen.add(id);
    return seen;
  }

  markImported(tenant: string, source: string, ids: Iterable<string>): void {
    this.#db.transaction(() => {
      for (const id of ids) this.#insertImported.run(tenant, source, id);
    })();
  }

  commit(tenant: string, changes: KeyStoreChanges): void {
    this.#commit(tenant, changes);
  }

  /** `tenant`'s violations, newest first. */
  violations(tenant: string, filter: ViolationFilter): ViolationRecord[] {
    return this.#selectViolations.all({
      tenant,
      key_id: filter.keyId ?? null,
      rule: filter.rule ?? null,
      limit: filter.limit ?? 1000,
    }) as ViolationRecord[];
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
