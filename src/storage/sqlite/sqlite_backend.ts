/**
 * The SQLite back-end (the embedded default): one database file in WAL mode, written by one
 * connection on the engine's thread, read through memory-mapped read-only connections
 * (sqlite_chunk_source.ts) here and in query workers. Tables and statements: ../schema.ts.
 *
 * Writes are synchronous underneath: `beginWrite()` opens the transaction (BEGIN) and each
 * recorded operation runs at once; `commit()` runs COMMIT before it returns, so its promise is
 * already settled. The engine's write path therefore costs what it cost before the contract
 * existed: no thread hop, no queue, one transaction per group commit.
 *
 * What only SQLite needs lives here: the writer lock file (one engine per file), the -wal
 * checkpoint worker (wal_checkpointer.ts), free space given back while running
 * (free_space_return.ts), VACUUM at stop, and the scrub after an erasure.
 */
import type Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { acquireWriterLock } from './writer_lock.js';
import { openDatabase, type Durability } from './database.js';
import { SQL } from './schema.js';
import { WalCheckpointer, WAL_CATCH_UP_PAGES } from './wal_checkpointer.js';
import { FreeSpaceReturn } from './free_space_return.js';
import { SqliteChunkSource } from './sqlite_chunk_source.js';
import { snapshotSqliteFile } from './sqlite_snapshot.js';
import { SqliteWriteTransaction, type SqliteStatements } from './sqlite_write_transaction.js';
import type {
  BackendSize, BackendState, ChunkMetaRow, ChunkSource, FreeSpace, FreeSpaceStep, SeriesRow, StorageBackend, WalRecordRow, WorkerSourceSpec, WriteTransaction,
} from '../backend.js';
import type { MetricType } from '../../model/metric.js';

/** Size of SQLite's -wal file at which the checkpoint worker starts (small stores never need it). */
const SQLITE_WAL_WORKER_START_BYTES = 4 * 1024 * 1024;
/** Commits between two looks at the -wal file's size until the worker runs. */
const SQLITE_WAL_PROBE_COMMITS = 32;
/** stop() rewrites files up to this size with VACUUM; bigger ones only when a quarter is free pages. */
const VACUUM_MAX_BYTES = 512 * 1024 * 1024;
const VACUUM_MIN_FREE_SHARE = 4;
/** Times a busy `wal_checkpoint(TRUNCATE)` is retried (each waits the connection's busy timeout). */
const TRUNCATE_ATTEMPTS = 5;
/** Write-ahead records read per step of replay: bounds the memory replay holds at once. */
const REPLAY_BATCH_RECORDS = 256;

export interface SqliteBackendOptions {
  path: string;
  durability?: Durability | undefined;
  /** Page size of a new database file. */
  pageSizeBytes?: number | undefined;
}

export class SqliteBackend implements StorageBackend {
  readonly kind = 'sqlite' as const;
  readonly location: string;
  /** The writer connection: the maintenance hooks that only SQLite has (REINDEX, VACUUM, secure_delete) and tests use it. */
  readonly db: Database.Database;
  readonly #statements: SqliteStatements;
  readonly #releaseLock: () => void;
  readonly #walWorker: WalCheckpointer;
  readonly #freeSpace: FreeSpaceReturn;
  #source: SqliteChunkSource | undefined;
  #commitsSinceWalProbe = 0;
  #catchUpScheduled = false;
  #closed = false;

  private constructor(path: string, db: Database.Database, releaseLock: () => void) {
    this.location = path;
    this.db = db;
    this.#releaseLock = releaseLock;
    this.#statements = {
      insertSeries: db.prepare(SQL.insertSeries),
      deleteSeries: db.prepare(SQL.deleteSeries),
      insertWal: db.prepare(SQL.insertWalRecord),
      deleteWalUpTo: db.prepare(SQL.deleteWalRecordsUpTo),
      insertChunk: db.prepare(SQL.insertChunk),
      deleteChunk: db.prepare(SQL.deleteChunk),
      upsertMark: db.prepare(SQL.upsertHeadMark),
      deleteMarksUpTo: db.prepare(SQL.deleteHeadMarksUpTo),
      upsertMeta: db.prepare(SQL.upsertMeta),
      deleteMeta: db.prepare(SQL.deleteMeta),
    };
    this.#walWorker = new WalCheckpointer(path);
    this.#freeSpace = new FreeSpaceReturn(db, path, this.#walWorker);
  }

  /** Opens (creating if missing) the file and takes its writer lock. */
  static open(options: SqliteBackendOptions): SqliteBackend {
    const path = resolve(options.path);
    const releaseLock = acquireWriterLock(path);
    try {
      const db = openDatabase(path, { durability: options.durability ?? 'process', pageSizeBytes: options.pageSizeBytes });
      return new SqliteBackend(path, db, releaseLock);
    } catch (error) {
      releaseLock();
      throw error;
    }
  }

  async load(): Promise<BackendState> {
    const db = this.db;
    const series: SeriesRow[] = [];
    for (const [id, tenant, metricId, canonicalTags, metricType] of db.prepare(SQL.allSeries).raw().iterate() as IterableIterator<[number, string, string, string, string]>) {
      series.push({ id, tenant, metricId, canonicalTags, metricType: metricType as MetricType });
    }
    const chunks: ChunkMetaRow[] = [];
    for (const [id, seriesId, minTs, maxTs, count] of db.prepare(SQL.allChunkMeta).raw().iterate() as IterableIterator<[number, number, number, number, number]>) {
      chunks.push({ id, seriesId, minTs, maxTs, count });
    }
    const marks = new Map<number, number>();
    for (const [sid, walId] of db.prepare(SQL.allHeadMarks).raw().iterate() as IterableIterator<[number, number]>) marks.set(sid, walId);
    const meta = new Map<string, string>();
    for (const [key, value] of db.prepare(SQL.allMeta).raw().iterate() as IterableIterator<[string, string]>) meta.set(key, value);
    const recordsAfter = db.prepare(SQL.walRecordsAfter).raw();
    return {
      series, chunks, marks, meta,
      async *walRecords(): AsyncIterable<WalRecordRow> {
        let after = 0;
        for (;;) {
          const rows = recordsAfter.all(after, REPLAY_BATCH_RECORDS) as Array<[number, Uint8Array, number, number]>;
          for (const [id, data, createdMs, points] of rows) yield { id, data, createdMs, points };
          if (rows.length < REPLAY_BATCH_RECORDS) return;
          after = rows[rows.length - 1]![0];
        }
      },
    };
  }

  beginWrite(): WriteTransaction {
    if (this.#closed) throw new Error(`${this.location}: storage is closed`);
    return new SqliteWriteTransaction(this.db, this.#statements);
  }

  chunkSource(): ChunkSource {
    this.#source ??= SqliteChunkSource.open(this.location);
    return this.#source;
  }

  workerSource(): WorkerSourceSpec {
    return { kind: 'sqlite', path: this.location };
  }

  async checkWritable(): Promise<void> {
    if (this.#closed) throw new Error(`${this.location}: storage is closed`);
    this.#statements.upsertMeta.run('last_write_check_ms', String(Date.now()));
  }

  async size(): Promise<BackendSize> {
    return { bytes: databaseFileBytes(this.location) };
  }

  /**
   * Starts the -wal checkpoint worker once the file has grown, and checkpoints on this
   * connection when the worker has not caught up (see wal_checkpointer.ts).
   */
  afterCommit(): void {
    const worker = this.#walWorker;
    if (!worker.running) {
      if (++this.#commitsSinceWalProbe < SQLITE_WAL_PROBE_COMMITS) return;
      this.#commitsSinceWalProbe = 0;
      let bytes = 0;
      try {
        bytes = statSync(this.location + '-wal').size;
      } catch {
        return;
      }
      if (bytes >= SQLITE_WAL_WORKER_START_BYTES) worker.start();
    } else if (worker.walPages > WAL_CATCH_UP_PAGES && !this.#catchUpScheduled) {
      // After the acknowledgements of this commit, not before.
      this.#catchUpScheduled = true;
      setImmediate(() => {
        this.#catchUpScheduled = false;
        if (this.#closed || worker.walPages <= WAL_CATCH_UP_PAGES) return;
        this.db.pragma('wal_checkpoint(PASSIVE)');
        worker.walPages = 0;
      });
    }
  }

  /** The -wal checkpoint worker's last failure, for /health. */
  get lastError(): string | undefined {
    return this.#walWorker.lastError;
  }

  /**
   * SQLite leaves deleted content in free pages, in unused parts of live pages and in old
   * frames of the -wal file. `secure_delete` zeroes what gets deleted from here on; VACUUM
   * rebuilds the file without free pages or remnants of earlier deletions;
   * `wal_checkpoint(TRUNCATE)` empties the -wal file. Synchronous: commits wait.
   * Throws when a reader kept the -wal file from being emptied (the caller retries later).
   */
  async reclaimDeletedSpace(): Promise<void> {
    const db = this.db;
    const previous = db.pragma('secure_delete', { simple: true }) as number;
    db.pragma('secure_delete = ON');
    try {
      truncateWal(db);
      db.exec('VACUUM');
      if (!truncateWal(db)) throw new Error(`${this.location}: a reader kept the -wal file from being emptied; the scrub runs again at the next start`);
    } finally {
      db.pragma(`secure_delete = ${previous === 1 ? 'ON' : 'OFF'}`);
    }
  }

  /** Turns secure_delete on until the returned function is called (an erasure's deletions). */
  beginSecureDelete(): () => void {
    const previous = this.db.pragma('secure_delete', { simple: true }) as number;
    this.db.pragma('secure_delete = ON');
    return () => {
      this.db.pragma(`secure_delete = ${previous === 1 ? 'ON' : 'OFF'}`);
    };
  }

  /**
   * auto_vacuum=INCREMENTAL (database.ts): free pages go back to the file system without
   * rewriting the file; a stopped store's close() runs a full VACUUM where it pays.
   */
  returnFreeSpace(): void {
    this.db.pragma('incremental_vacuum');
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Free pages and the -wal file (free_space_return.ts). */
  freeSpace(): FreeSpace {
    if (this.#closed) return { freeBytes: 0, storeBytes: 0 };
    return this.#freeSpace.figures();
  }

  /** One step of giving them back while the store runs (free_space_return.ts). */
  returnFreeSpaceStep(deadline: number): FreeSpaceStep {
    if (this.#closed) return 'done';
    return this.#freeSpace.step(deadline);
  }

  async rebuildIndexes(): Promise<void> {
    this.db.exec('REINDEX');
  }

  async snapshotTo(destinationPath: string): Promise<void> {
    await snapshotSqliteFile(this.location, destinationPath);
  }

  async close(options: { compact: boolean } = { compact: true }): Promise<void> {
    if (this.#closed) return;
    this.#walWorker.close();
    try {
      await this.#source?.close();
      if (options.compact) this.#compactFile();
    } finally {
      this.#closed = true;
      this.db.close();
      this.#releaseLock();
    }
  }

  async abandon(): Promise<void> {
    if (this.#closed) return;
    this.#walWorker.close();
    await this.#source?.close();
    this.#closed = true;
    this.db.close();
    this.#releaseLock();
  }

  /**
   * Returns free pages (deleted write-ahead records, rewritten chunks) to the file system.
   * VACUUM rewrites the live data compactly; its cost follows the live size, so it runs when
   * the file is small or the garbage is a good share of it. Otherwise incremental_vacuum moves
   * pages into the holes one by one (measured: 5.1 s vs 1.3 s for VACUUM on the 24 h TSBS file,
   * 10 MB live and ~45 MB of deleted records; both leave ~1.155 bytes/point).
   */
  #compactFile(): void {
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    if (free === 0) {
      // Nothing to return.
    } else if (pages * pageSize <= VACUUM_MAX_BYTES || free * VACUUM_MIN_FREE_SHARE >= pages) {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      this.db.exec('VACUUM');
    } else {
      this.db.pragma('incremental_vacuum');
    }
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }
}

/** `wal_checkpoint(TRUNCATE)` until it was not kept busy by a reader; whether it succeeded. */
export function truncateWal(db: Database.Database): boolean {
  for (let attempt = 0; attempt < TRUNCATE_ATTEMPTS; attempt++) {
    const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
    if (result === undefined || result.busy === 0) return true;
  }
  return false;
}

/** Bytes of the database file and its -wal and -shm companions. */
export function databaseFileBytes(path: string): number {
  let total = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      total += statSync(path + suffix).size;
    } catch {
      // A missing -wal/-shm (after close) counts as zero.
    }
  }
  return total;
}
