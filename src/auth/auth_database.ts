/**
 * Opens `<data dir>/auth.db` and notices commits made by other processes (the `emms apikey`
 * CLI beside a running server).
 *
 * Change detection: `PRAGMA data_version` changes on a connection when ANOTHER connection has
 * committed since the last time it was read, and never for the connection's own writes. The
 * server keeps API keys and quota overrides in memory, so it reads the pragma at most once per
 * `changeCheckIntervalMs` (default 1 s), lazily from the request path (`pollExternalChanges()`
 * is a clock comparison unless the interval has passed), and drops its caches when it changed.
 * Bound: a key revoked by the CLI is refused by every request that starts more than
 * `changeCheckIntervalMs` after the CLI's commit.
 *
 * Permissions: the file holds token hashes and the tenant registry, so it is created with mode
 * 0600 before SQLite opens it; SQLite creates `-wal` and `-shm` with the database file's mode.
 */
import type Database from 'better-sqlite3';
import { openSqlite } from '../crypto/sqlite_cipher.js';
import { closeSync, constants, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { AUTH_DB_FILE, AUTH_DDL, AUTH_SCHEMA_VERSION, AUTH_SQL } from './auth_schema.js';

export interface AuthDatabaseOptions {
  /** Milliseconds between two reads of `PRAGMA data_version`; default 1000. */
  changeCheckIntervalMs?: number;
  now?: () => number;
}

export const DEFAULT_CHANGE_CHECK_INTERVAL_MS = 1000;

/**
 * A CLI commit takes milliseconds; waiting this long for its lock beats failing a request.
 * Kept short because better-sqlite3 waits on the event loop's thread.
 */
const BUSY_TIMEOUT_MS = 2000;

export class AuthDatabase {
  readonly db: Database.Database;
  readonly path: string;
  readonly #now: () => number;
  readonly #intervalMs: number;
  readonly #listeners: Array<() => void> = [];
  readonly #dataVersion: Database.Statement;
  #lastVersion: number;
  #nextCheckMs: number;

  /** Opens (creating with mode 0600 when missing) `<dataDir>/auth.db`. */
  static open(dataDir: string, options: AuthDatabaseOptions = {}): AuthDatabase {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const path = join(dataDir, AUTH_DB_FILE);
    // O_CREAT without O_TRUNC: creates the file 0600 (before umask, which only removes bits),
    // and leaves an existing file as it is.
    closeSync(openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600));
    const db = openSqlite(path);
    try {
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > AUTH_SCHEMA_VERSION) {
        throw new Error(`${path}: user_version=${version} was written by a newer EMMS (this build reads ${AUTH_SCHEMA_VERSION})`);
      }
      db.exec(AUTH_DDL);
      if (version < AUTH_SCHEMA_VERSION) db.pragma(`user_version = ${AUTH_SCHEMA_VERSION}`);
    } catch (err) {
      db.close();
      throw err;
    }
    return new AuthDatabase(db, path, options);
  }

  private constructor(db: Database.Database, path: string, options: AuthDatabaseOptions) {
    this.db = db;
    this.path = path;
    this.#now = options.now ?? Date.now;
    this.#intervalMs = options.changeCheckIntervalMs ?? DEFAULT_CHANGE_CHECK_INTERVAL_MS;
    this.#dataVersion = db.prepare(AUTH_SQL.dataVersion).pluck();
    this.#lastVersion = this.#dataVersion.get() as number;
    this.#nextCheckMs = this.#now() + this.#intervalMs;
  }

  /** Called when another process has committed to the file (caches must be dropped). */
  onExternalChange(listener: () => void): void {
    this.#listeners.push(listener);
  }

  /**
   * Cheap enough for every request: reads `PRAGMA data_version` only when the check interval
   * has passed, and tells the listeners when another process committed since the last read.
   */
  pollExternalChanges(): void {
    const t = this.#now();
    if (t < this.#nextCheckMs) return;
    this.checkExternalChanges(t);
  }

  /** The check itself, whatever the interval; tests and the CLI-facing paths call it directly. */
  checkExternalChanges(t: number = this.#now()): boolean {
    this.#nextCheckMs = t + this.#intervalMs;
    const version = this.#dataVersion.get() as number;
    if (version === this.#lastVersion) return false;
    this.#lastVersion = version;
    for (const listener of this.#listeners) listener();
    return true;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
