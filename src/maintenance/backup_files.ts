/**
 * Which files of a data directory a backup holds, and how a backup is cut down to one tenant.
 *
 * Held: every SQLite database at the top of the data directory (`metrics.db` and the
 * features' `auth.db`, `alerts.db`, `keys.db`, `health.db`, and any a later feature adds),
 * each as a consistent snapshot; every `*.key` file (`secrets.key`, without
 * which the sealed channel secrets of alerts.db do not open, and the audit trail's
 * `audit.key`); and the append-only logs (`audit.log`) up to their last complete line.
 * Not held: `admin.token` (a bearer credential, and auth.db keeps only its hash: the operator
 * keeps the token, or makes a new key with `emms apikey`), lock files, and SQLite's -wal/-shm
 * files (a snapshot is self-contained).
 *
 * A tenant backup keeps, in the metrics store, that tenant's series and points only
 * (src/storage/sqlite_tenant_extract.ts), and in each feature database the rows whose
 * `tenant` column names it; every feature table has one (the schemas put it first in their
 * keys). Rows of other tenants and global rows (the operator's keys, tenant `*`) are left
 * out; tables without a tenant column (none today) are kept as they are. The audit log and
 * its key are left out: the log is one hash chain over every tenant's records. secrets.key,
 * shared by every tenant, is held, so that the tenant's sealed channel secrets open after a
 * restore; an archive is as sensitive as the data directory.
 */
import { openSqlite } from '../crypto/sqlite_cipher.js';
import { KEYRING_FILE } from '../crypto/keyring.js';
import { createReadStream, createWriteStream, existsSync, promises as fs, readdirSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import { DATABASE_FILE_NAME } from '../model/data_directory.js';
import { TABLE } from '../storage/sqlite/schema.js';

/** The key sealing alert channel secrets (src/alerts/secret_box.ts SECRETS_KEY_FILE). */
export const SECRETS_KEY_FILE = 'secrets.key';
const LOG_NAME = /^[a-z0-9_]+\.log$/;
/** Bytes read back from a copied log's end to find its last complete line. */
const LOG_TAIL_BYTES = 1024 * 1024;
const DATABASE_NAME = /^[a-z0-9_]+\.db$/;

/** The feature databases of a data directory (every `*.db` but the metrics store), sorted. */
export function featureDatabases(dataDir: string): string[] {
  return readdirSync(dataDir)
    .filter((name) => DATABASE_NAME.test(name) && name !== DATABASE_FILE_NAME)
    .sort();
}

const KEY_NAME = /^[a-z0-9_]+\.key$/;

/**
 * The key files of a data directory (`secrets.key`, the audit trail's `audit.key`, any a later
 * feature adds: every `*.key` at the top), sorted: without them a feature's sealed or signed
 * rows do not open or verify after a restore.
 */
export function keyFiles(dataDir: string, tenant?: string): string[] {
  // keyring.json: the wrapped data keys of encryption at rest, without which an encrypted
  // copy does not open (the master key, never in the data directory, is not copied).
  const names = readdirSync(dataDir).filter((name) => KEY_NAME.test(name) || name === KEYRING_FILE).sort();
  return tenant === undefined ? names : names.filter((name) => name === SECRETS_KEY_FILE || name === KEYRING_FILE);
}

/**
 * The append-only logs of a data directory (the audit trail's `audit.log`), in full backups
 * only: the audit log is one hash chain over every tenant's records, which a tenant's share
 * of it would break.
 */
export function appendOnlyLogs(dataDir: string, tenant?: string): string[] {
  return tenant === undefined ? readdirSync(dataDir).filter((name) => LOG_NAME.test(name)).sort() : [];
}

/**
 * Copies an append-only log up to its last complete line: a writer may be half-way through a
 * line while it is copied, and the copy must not end in a torn record.
 */
export async function copyCompleteLines(source: string, destination: string): Promise<void> {
  const size = (await fs.stat(source)).size;
  if (size === 0) {
    await fs.writeFile(destination, '');
    return;
  }
  await pipeline(createReadStream(source, { start: 0, end: size - 1 }), createWriteStream(destination, { mode: 0o600 }));
  const handle = await fs.open(destination, 'r+');
  try {
    const tail = Math.min(size, LOG_TAIL_BYTES);
    const buffer = Buffer.alloc(tail);
    await handle.read(buffer, 0, tail, size - tail);
    const lastNewline = buffer.lastIndexOf(0x0a);
    await handle.truncate(lastNewline < 0 ? 0 : size - tail + lastNewline + 1);
  } finally {
    await handle.close();
  }
}

/** Deletes every row of another tenant from a staged copy of a feature database, then vacuums it. */
export function reduceFeatureDatabaseToTenant(path: string, tenant: string): void {
  const db = openSqlite(path);
  try {
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).pluck().all() as string[];
    db.transaction(() => {
      for (const table of tables) {
        const columns = db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[];
        if (!columns.includes('tenant')) continue;
        db.prepare(`DELETE FROM "${table.replaceAll('"', '""')}" WHERE tenant IS NOT ?`).run(tenant);
      }
    })();
    // Deleted rows stay readable in free pages until the file is rewritten.
    db.pragma('journal_mode = DELETE');
    db.exec('VACUUM');
  } finally {
    db.close();
  }
}

/** Tenants named in the staged metrics store and in auth.db's tenant registry, sorted. */
export function tenantsIn(stagingDir: string): string[] {
  const tenants = new Set<string>();
  const collect = (file: string, sql: string): void => {
    const path = join(stagingDir, file);
    if (!existsSync(path)) return;
    const db = openSqlite(path, { readonly: true });
    try {
      for (const t of db.prepare(sql).pluck().all() as string[]) tenants.add(t);
    } catch {
      // A file without that table (an older layout) names no tenant.
    } finally {
      db.close();
    }
  };
  collect(DATABASE_FILE_NAME, `SELECT DISTINCT tenant FROM ${TABLE.series}`);
  // auth.db's tenant registry (src/auth/auth_schema.ts): tenants without series yet.
  collect('auth.db', 'SELECT tenant FROM tenants');
  return [...tenants].sort();
}

/** Series in the staged metrics store. */
export function seriesIn(stagingDir: string): number {
  const db = openSqlite(join(stagingDir, DATABASE_FILE_NAME), { readonly: true });
  try {
    return db.prepare(`SELECT COUNT(*) FROM ${TABLE.series}`).pluck().get() as number;
  } finally {
    db.close();
  }
}
