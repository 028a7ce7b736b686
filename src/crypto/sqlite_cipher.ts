/**
 * Every SQLite connection EMMS opens goes through `openSqlite`: plain better-sqlite3 while
 * encryption at rest is off, SQLite3 Multiple Ciphers (the `better-sqlite3-multiple-ciphers`
 * build, loaded only then) with the data directory's database key while it is on.
 *
 * Whole-database encryption (docs/format/encryption.md): every page of the database file and
 * of its -wal file is encrypted with ChaCha20 and authenticated with Poly1305 (16-byte tag per
 * page), so no table, index, catalogue row or value is written in the clear, and a page altered
 * on disk fails its tag instead of being read. The -shm file holds only WAL index offsets and
 * checksums. Temporary tables and sort spills stay in memory (temp_store=MEMORY): SQLite's temp
 * files are not encrypted.
 *
 * The key is process state, set once at start-up by `useDatabaseKey` (src/crypto/at_rest.ts).
 * Worker threads get it through workerData (`workerDataForDatabases`, read when this module
 * loads in the worker), never through argv, the environment or a log line.
 */
import Database from 'better-sqlite3';
import { createRequire } from 'node:module';
import { isMainThread, workerData } from 'node:worker_threads';
import { DATABASE_CIPHER } from './keyring.js';

export interface DatabaseKey {
  id: string;
  bytes: Uint8Array;
}

type Driver = typeof Database;

/** The field of a worker's workerData that carries the database key. */
const WORKER_KEY_FIELD = 'emmsDatabaseKey';

const requireHere = createRequire(import.meta.url);
let active: { key: DatabaseKey; driver: Driver } | undefined;

/** A database that the key does not open: another key's file, a plaintext file, or page 1 damaged. */
export class DatabaseKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseKeyError';
  }
}

export function cipherDriverPath(): string {
  return requireHere.resolve('better-sqlite3-multiple-ciphers');
}

/** The SQLite3 Multiple Ciphers build (same API as better-sqlite3). */
export function cipherDriver(): Driver {
  return requireHere('better-sqlite3-multiple-ciphers') as Driver;
}

/** Sets (or, with undefined, clears) the key of every connection this thread opens from now on. */
export function useDatabaseKey(key: DatabaseKey | undefined): void {
  active = key === undefined ? undefined : { key: { id: key.id, bytes: Buffer.from(key.bytes) }, driver: cipherDriver() };
}

export function databaseEncryptionOn(): boolean {
  return active !== undefined;
}

/**
 * Page size of a new plaintext file (the metrics database sets its own, database.ts). The
 * feature databases (alerts, keys, auth, health) hold a few rows in 2 to 24 tables and
 * indexes, each of which takes at least one page: at SQLite's default 4 KiB they were 180 KB
 * of a fresh data directory, 0.021 bytes/point of the 24 h TSBS store (bench:peers); at 1 KiB,
 * 45 KB. Encrypted files keep the cipher's page size (each page carries its own tag).
 */
const NEW_FILE_PAGE_SIZE_BYTES = 1024;

/** Opens a database with this thread's key, if any (same options as `new Database`). */
export function openSqlite(path: string, options: Database.Options = {}): Database.Database {
  if (active !== undefined) return openEncrypted(active.driver, path, active.key, options);
  const db = new Database(path, options);
  // Takes effect only before the first table exists; an existing file keeps its page size.
  if (options.readonly !== true && (db.pragma('page_count', { simple: true }) as number) === 0) db.pragma(`page_size = ${NEW_FILE_PAGE_SIZE_BYTES}`);
  return db;
}

/** Opens `path` under `key`, checks that the key reads it, and keeps temporary data in memory. */
export function openEncrypted(driver: Driver, path: string, key: DatabaseKey, options: Database.Options = {}): Database.Database {
  const db = new driver(path, options);
  try {
    applyKey(db, key.bytes);
    // The first read decrypts page 1: a wrong key fails here, before anything is written.
    db.prepare('SELECT count(*) FROM sqlite_master').get();
    if (options.readonly !== true) db.pragma('temp_store = MEMORY');
    return db;
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code === 'SQLITE_NOTADB') {
      throw new DatabaseKeyError(`${path} cannot be read with data key ${key.id}: it was written under another key, without encryption, or its first page is damaged`);
    }
    throw err;
  }
}

export function applyKey(db: Database.Database, bytes: Uint8Array): void {
  db.pragma(`cipher = '${DATABASE_CIPHER}'`);
  // A raw 256-bit key (x'…'): no password KDF, the data key is already random.
  db.pragma(`key = "x'${Buffer.from(bytes).toString('hex')}'"`);
}

/** Re-encrypts a closed database file from one key to another (`PRAGMA rekey`: every page is rewritten). */
export function rekeyDatabaseFile(path: string, from: DatabaseKey, to: DatabaseKey): void {
  const db = openEncrypted(cipherDriver(), path, from, { fileMustExist: true });
  try {
    // SQLite3MC refuses to rekey in WAL mode ("Rekeying is not supported in WAL journal
    // mode"): leaving WAL folds the -wal file's frames (under the old key) into the file first.
    const wal = (db.pragma('journal_mode', { simple: true }) as string).toLowerCase() === 'wal';
    if (wal) db.pragma('journal_mode = DELETE');
    db.pragma(`rekey = "x'${Buffer.from(to.bytes).toString('hex')}'"`);
    if (wal) db.pragma('journal_mode = WAL');
  } finally {
    db.close();
  }
}

/** workerData for a worker thread (piscina pool) that opens databases through this module. */
export function workerDataForDatabases(): Record<string, unknown> {
  return active === undefined ? {} : { [WORKER_KEY_FIELD]: { id: active.key.id, bytes: Buffer.from(active.key.bytes) } };
}

/**
 * For evaluated CommonJS workers (wal_checkpointer.ts, sqlite_snapshot.ts), which cannot import
 * this module: the driver to require and the key to apply with WORKER_APPLY_KEY_SOURCE.
 */
export function evaluatedWorkerDriver(): { driverPath: string; keyHex?: string } {
  if (active === undefined) return { driverPath: requireHere.resolve('better-sqlite3') };
  return { driverPath: cipherDriverPath(), keyHex: Buffer.from(active.key.bytes).toString('hex') };
}

/** JavaScript source of `applyWorkerKey(db)` for those workers (reads workerData.keyHex). */
export const WORKER_APPLY_KEY_SOURCE = `
function applyWorkerKey(db) {
  if (typeof workerData.keyHex !== 'string') return;
  db.pragma("cipher = '${DATABASE_CIPHER}'");
  db.pragma("key = \\"x'" + workerData.keyHex + "'\\"");
  db.pragma('temp_store = MEMORY');
}
`;

// A worker thread started with workerDataForDatabases() opens its databases under that key.
if (!isMainThread && typeof workerData === 'object' && workerData !== null) {
  const carried = (workerData as Record<string, unknown>)[WORKER_KEY_FIELD] as DatabaseKey | undefined;
  if (carried !== undefined) useDatabaseKey(carried);
}
