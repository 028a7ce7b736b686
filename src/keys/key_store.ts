/**
 * Persistence of the key inventory, policy violations and open policy conditions in
 * `keys.db` (better-sqlite3, WAL). The in-memory inventory in KeyService is the working copy;
 * this file only loads it at start and writes each batch's changes in one transaction.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { KeyBackend, KeyRecord, KeyState, KeyType } from './key_model.js';
import { KEYS_DDL, KEYS_SCHEMA_VERSION, SQL } from './key_schema.js';
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

/** What one ingest batch or periodic check changed, written in one transaction. */
export interface KeyStoreChanges {
  keys: Iterable<KeyRecord>;
  violations: readonly ViolationRecord[];
  openedConditions: ReadonlyArray<{ keyId: string; rule: string; since: number }>;
  closedConditions: ReadonlyArray<{ keyId: string; rule: string }>;
  /** meta rows to set (name → value). */
  meta?: ReadonlyArray<[string, number]>;
}

interface KeyRow {
  key_id: string; key_type: string; algorithm: string; owner: string; backend: string;
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
  readonly #commit: (changes: KeyStoreChanges) => void;

  constructor(path: string) {
    mkdirSync(dirname(path), { recursive: true });
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    // NORMAL is durable across process crashes in WAL mode (only an OS crash can lose the
    // last commits), the same trade the engine makes for its own file.
    this.#db.pragma('synchronous = NORMAL');
    this.#db.exec(KEYS_DDL);
    const version = this.#db.pragma('user_version', { simple: true }) as number;
    if (version === 0) this.#db.pragma(`user_version = ${KEYS_SCHEMA_VERSION}`);
    else if (version !== KEYS_SCHEMA_VERSION) {
      throw new Error(`${path}: keys.db schema version ${version} is not supported (expected ${KEYS_SCHEMA_VERSION})`);
    }
    this.#upsertKey = this.#db.prepare(SQL.upsertKey);
    this.#insertViolation = this.#db.prepare(SQL.insertViolation);
    this.#insertOpen = this.#db.prepare(SQL.insertOpenCondition);
    this.#deleteOpen = this.#db.prepare(SQL.deleteOpenCondition);
    this.#upsertMeta = this.#db.prepare(SQL.upsertMeta);
    this.#commit = this.#db.transaction((changes: KeyStoreChanges) => {
      for (const k of changes.keys) this.#upsertKey.run({ ...k, tags: JSON.stringify(k.tags) });
      for (const v of changes.violations) this.#insertViolation.run(v);
      for (const o of changes.openedConditions) this.#insertOpen.run(o.keyId, o.rule, o.since);
      for (const c of changes.closedConditions) this.#deleteOpen.run(c.keyId, c.rule);
      for (const [name, value] of changes.meta ?? []) this.#upsertMeta.run(name, value);
    });
  }

  loadKeys(): KeyRecord[] {
    return (this.#db.prepare(SQL.selectKeys).all() as KeyRow[]).map((r) => ({
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
    }));
  }

  loadOpenConditions(): Array<{ key_id: string; rule: string; since: number }> {
    return this.#db.prepare(SQL.selectOpenConditions).all() as Array<{ key_id: string; rule: string; since: number }>;
  }

  /** The ids among `ids` already imported from `source` (audit-trail record ids). */
  importedAmong(source: string, ids: Iterable<string>): Set<string> {
    const stmt = this.#db.prepare(SQL.selectImported);
    const seen = new Set<string>();
    for (const id of ids) if (stmt.get(source, id) !== undefined) seen.add(id);
    return seen;
  }

  markImported(source: string, ids: Iterable<string>): void {
    const stmt = this.#db.prepare(SQL.insertImported);
    this.#db.transaction(() => {
      for (const id of ids) stmt.run(source, id);
    })();
  }

  meta(name: string): number | null {
    const row = this.#db.prepare(SQL.selectMeta).get(name) as { value: number } | undefined;
    return row === undefined ? null : row.value;
  }

  commit(changes: KeyStoreChanges): void {
    this.#commit(changes);
  }

  violations(filter: { keyId?: string; rule?: string; limit?: number }): ViolationRecord[] {
    return this.#db.prepare(SQL.selectViolations).all({
      key_id: filter.keyId ?? null,
      rule: filter.rule ?? null,
      limit: filter.limit ?? 1000,
    }) as ViolationRecord[];
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
