/**
 * health.db: the targets of every tenant and the last result of each, so status survives a
 * restart. Opened once by the ProbeMonitor, which keeps the same rows in memory and writes
 * through; nothing else opens the file.
 */
import type Database from 'better-sqlite3';
import { openSqlite } from '../crypto/sqlite_cipher.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { MIGRATE_V1_TO_V2, PROBE_DDL, PROBE_SCHEMA_VERSION, PROBE_SQL } from './probe_schema.js';
import { MIN_INTERVAL_SECONDS, type ProbeTarget, type TargetState, type TargetStatus } from './probe_target.js';

export interface StoredTarget {
  tenant: string;
  target: ProbeTarget;
  state: TargetState;
}

interface Row {
  tenant: string; target_id: string; definition: string; last_status: string; last_check: number | null;
  last_response_time_ms: number | null; last_status_code: number | null; last_error: string | null; consecutive_failures: number;
}

export class ProbeStore {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #updateStatus: Database.Statement;

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#insert = db.prepare(PROBE_SQL.insertTarget);
    this.#delete = db.prepare(PROBE_SQL.deleteTarget);
    this.#updateStatus = db.prepare(PROBE_SQL.updateStatus);
  }

  /** Opens (creating or migrating) the file; errors name the path and the version found. */
  static open(path: string): ProbeStore {
    mkdirSync(dirname(path), { recursive: true });
    const db = openSqlite(path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > PROBE_SCHEMA_VERSION) {
        throw new Error(`${path}: health.db schema version ${version} is newer than this EMMS supports (${PROBE_SCHEMA_VERSION})`);
      }
      const columns = (db.prepare(PROBE_SQL.tableColumns).all() as Array<{ name: string }>).map((c) => c.name);
      db.transaction(() => {
        // By shape, not only by version: a version-1 table is one without `tenant`.
        if (columns.length > 0 && !columns.includes('tenant')) db.exec(MIGRATE_V1_TO_V2);
        else db.exec(PROBE_DDL);
        db.pragma(`user_version = ${PROBE_SCHEMA_VERSION}`);
      })();
      return new ProbeStore(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  load(): StoredTarget[] {
    return (this.#db.prepare(PROBE_SQL.selectTargets).all() as Row[]).map((r) => {
      const target = JSON.parse(r.definition) as ProbeTarget;
      // Files written before the 1 s floor may hold faster targets; they are slowed down, not dropped.
      target.interval = Math.max(MIN_INTERVAL_SECONDS, target.interval);
      return {
        tenant: r.tenant,
        target,
        state: {
          status: r.last_status as TargetStatus, last_check: r.last_check, last_response_time_ms: r.last_response_time_ms,
          last_status_code: r.last_status_code, last_error: r.last_error, consecutive_failures: r.consecutive_failures,
        },
      };
    });
  }

  insert(tenant: string, target: ProbeTarget): void {
    this.#insert.run(tenant, target.target_id, JSON.stringify(target));
  }

  delete(tenant: string, targetId: string): void {
    this.#delete.run(tenant, targetId);
  }

  updateStatus(tenant: string, targetId: string, state: TargetState): void {
    this.#updateStatus.run({ tenant, target_id: targetId, ...state, last_status: state.status });
  }

  close(): void {
    this.#db.close();
  }
}
