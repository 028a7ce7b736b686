/**
 * Opens the metrics database: pragmas, schema, version check.
 *
 * - WAL journal mode: readers (query workers) never block the writer, and a commit is one
 *   append to the -wal file.
 * - synchronous=NORMAL: in WAL mode a committed transaction survives the process being killed
 *   (SIGKILL, crash) because it is in the OS's page cache; only a power loss or kernel crash can
 *   lose the last transactions. `durability: 'full'` (synchronous=FULL) fsyncs every commit for
 *   that case, at the cost of one fsync per group commit.
 * - wal_autocheckpoint=0: the -wal file is copied into the database by a worker thread
 *   (wal_checkpointer.ts), not by whichever commit crosses a threshold.
 * - auto_vacuum=INCREMENTAL: write-ahead records come and go; their pages go back to the file
 *   system without rewriting the whole file, in short steps once the running engine settled
 *   (free_space_return.ts) and at stop().
 */
import type Database from 'better-sqlite3';
import { databaseEncryptionOn, openSqlite } from '../../crypto/sqlite_cipher.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DDL, PAGE_SIZE_BYTES, SCHEMA_VERSION, SQL } from './schema.js';

export type Durability = 'process' | 'full';

export interface OpenOptions {
  readonly?: boolean;
  durability?: Durability;
  /** Page size for a new database file (ignored for an existing one). */
  pageSizeBytes?: number | undefined;
}

/**
 * Page size of a new database under encryption at rest, where each page keeps 32 bytes for its
 * nonce and tag (docs/format/encryption.md). Chosen for the store a user keeps for months, whose
 * chunks are full after compaction (~9.5 KB for a day of 10 s TSBS points): there, 8 KiB pages
 * cost +1.1 % bytes/point over plaintext 1 KiB pages, against +5.1–5.3 % at 1, 2 and 4 KiB
 * (`bench/encryption.bench.ts`, 24 h). A young store of small chunks pays more at 8 KiB: +7.5 %
 * with 6 h chunks (~2.4 KB; `EMMS_BENCH_QUICK=1`), where 2 KiB pages cost nothing, because
 * three such cells fill an 8 KiB leaf page to ~88 %. Reads fetch 2 pages per full chunk instead of 5.
 */
const ENCRYPTED_PAGE_SIZE_BYTES = 8192;

/** Page cache per connection; negative = KiB. 64 MiB keeps the chunk index hot. */
const CACHE_SIZE_KIB = 65_536;

export function openDatabase(path: string, options: OpenOptions = {}): Database.Database {
  if (options.readonly === true) {
    const db = openSqlite(path, { readonly: true, fileMustExist: true });
    db.pragma(`cache_size = -${CACHE_SIZE_KIB}`);
    return db;
  }
  mkdirSync(dirname(path), { recursive: true });
  const db = openSqlite(path);
  try {
    // page_size and auto_vacuum only take effect before the first table exists.
    const fresh = (db.pragma('page_count', { simple: true }) as number) === 0;
    if (fresh) {
      db.pragma(`page_size = ${options.pageSizeBytes ?? (databaseEncryptionOn() ? ENCRYPTED_PAGE_SIZE_BYTES : PAGE_SIZE_BYTES)}`);
      db.pragma('auto_vacuum = INCREMENTAL');
    }
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
    // Off: a commit that checkpoints stalls its acknowledgements for 30-130 ms; SqliteBackend's
    // WalCheckpointer copies the -wal file from another thread instead.
    db.pragma('wal_autocheckpoint = 0');
    db.pragma(`cache_size = -${CACHE_SIZE_KIB}`);
    db.pragma('temp_store = MEMORY');
    db.transaction(() => {
      for (const statement of DDL) db.exec(statement);
      const row = db.prepare(SQL.readSchemaVersion).get() as { value: string } | undefined;
      if (row === undefined) {
        db.prepare(SQL.writeSchemaVersion).run(String(SCHEMA_VERSION));
      } else if (Number(row.value) !== SCHEMA_VERSION) {
        throw new Error(`${path}: schema_version=${row.value} is not supported by this build (expected ${SCHEMA_VERSION})`);
      }
    })();
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}
