/**
 * Subject erasure in the key inventory's file (`keys.db`): the key-event records (policy
 * violations, with the event's key id, actor and source address) that name a subject, for
 * `POST /api/v1/erasure` and tenant deletion.
 *
 * A connection of its own (through openSqlite, so an encrypted file opens too), not
 * KeyStore's: violations are only appended and read back by query, never held in memory, so
 * deleting them beside a running KeyService is safe, and the key inventory's code stays
 * unaware of erasure. The statements live here rather than in
 * key_schema.ts because nothing else runs them. After deleting, the file is rebuilt (VACUUM)
 * and its -wal emptied, so the erased strings are in no page of either.
 */
import type Database from 'better-sqlite3';
import { openSqlite } from '../crypto/sqlite_cipher.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { KEYS_DB_FILE } from './key_schema.js';

/** Fields of a key-event record that can name a subject. */
export const KEY_EVENT_SUBJECT_FIELDS = ['key_id', 'actor', 'source_ip'] as const;

const DELETE_NAMING = `DELETE FROM policy_violations WHERE tenant = @tenant AND (key_id = @value OR actor = @value OR source_ip = @value)`;
const DELETE_TENANT = ['keys', 'policy_violations', 'open_conditions', 'imported_records', 'meta'].map((t) => `DELETE FROM ${t} WHERE tenant = @tenant`);

/** Opens keys.db of a data directory for an erasure, or undefined when there is none yet. */
function openKeysFile(dataDir: string): Database.Database | undefined {
  const path = join(dataDir, KEYS_DB_FILE);
  if (!existsSync(path)) return undefined;
  const db = openSqlite(path);
  db.pragma('busy_timeout = 5000');
  return db;
}

function scrub(db: Database.Database): void {
  db.exec('VACUUM');
  db.pragma('wal_checkpoint(TRUNCATE)');
}

/** Deletes one tenant's key-event records naming `value`; returns how many went. */
export function eraseKeyEventsNaming(dataDir: string, tenant: string, value: string): number {
  const db = openKeysFile(dataDir);
  if (db === undefined) return 0;
  try {
    db.pragma('secure_delete = ON');
    const deleted = db.prepare(DELETE_NAMING).run({ tenant, value }).changes;
    if (deleted > 0) scrub(db);
    return deleted;
  } finally {
    db.close();
  }
}

/**
 * Deletes every row of a tenant: key inventory, key-event records and evaluation state. The
 * caller first makes the running KeyService forget the tenant (KeyService.forgetTenant), or it
 * would write them back.
 */
export function eraseTenantKeyEvents(dataDir: string, tenant: string): number {
  const db = openKeysFile(dataDir);
  if (db === undefined) return 0;
  try {
    db.pragma('secure_delete = ON');
    let deleted = 0;
    db.transaction(() => {
      for (const sql of DELETE_TENANT) deleted += db.prepare(sql).run({ tenant }).changes;
    })();
    scrub(db);
    return deleted;
  } finally {
    db.close();
  }
}
