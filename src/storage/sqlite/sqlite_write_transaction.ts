/**
 * One SQLite write transaction (backend.ts's WriteTransaction): BEGIN when made, each
 * operation run at once, COMMIT or ROLLBACK at the end. An operation that fails (disk full,
 * I/O error) is remembered rather than thrown, as the contract wants of recording calls: the
 * rest are skipped and commit() rolls back and rejects with that error.
 */
import type Database from 'better-sqlite3';
import { CHUNK_FORMAT_VERSION } from '../../core/codec.js';
import { CODEC_EMMS_CHUNK, type EncodedChunk } from '../chunk_encoding.js';
import type { SeriesRow, WalRecordRow, WriteTransaction } from '../backend.js';

export interface SqliteStatements {
  insertSeries: Database.Statement;
  deleteSeries: Database.Statement;
  insertWal: Database.Statement;
  deleteWalUpTo: Database.Statement;
  insertChunk: Database.Statement;
  deleteChunk: Database.Statement;
  upsertMark: Database.Statement;
  deleteMarksUpTo: Database.Statement;
  upsertMeta: Database.Statement;
  deleteMeta: Database.Statement;
}

/** SQLite integers are 64-bit: "every id" as a bound. */
const ALL = Number.MAX_SAFE_INTEGER;

export class SqliteWriteTransaction implements WriteTransaction {
  readonly #db: Database.Database;
  readonly #s: SqliteStatements;
  #failure: unknown;
  #failed = false;
  #finished = false;

  constructor(db: Database.Database, statements: SqliteStatements) {
    this.#db = db;
    this.#s = statements;
    db.exec('BEGIN');
  }

  #run(statement: Database.Statement, ...params: unknown[]): void {
    if (this.#finished) throw new Error('BUG: a write transaction was used after it ended');
    if (this.#failed) return;
    try {
      statement.run(...params);
    } catch (error) {
      this.#failed = true;
      this.#failure = error;
    }
  }

  insertSeries(row: SeriesRow): void {
    this.#run(this.#s.insertSeries, row.tenant, row.metricId, row.canonicalTags, row.id, row.metricType);
  }

  deleteSeries(row: SeriesRow): void {
    this.#run(this.#s.deleteSeries, row.tenant, row.metricId, row.canonicalTags);
  }

  appendWalRecord(record: WalRecordRow): void {
    this.#run(this.#s.insertWal, record.id, record.createdMs, record.points, record.data);
  }

  deleteWalRecordsUpTo(walId: number): void {
    this.#run(this.#s.deleteWalUpTo, Math.min(walId, ALL));
  }

  insertChunk(id: number, seriesId: number, c: EncodedChunk): void {
    this.#run(
      this.#s.insertChunk, id, seriesId, c.minTs, c.maxTs, c.count, CODEC_EMMS_CHUNK, CHUNK_FORMAT_VERSION,
      c.sum, c.min, c.max, c.firstValue, c.lastValue, c.mean, c.m2, c.bytes,
    );
  }

  deleteChunk(id: number): void {
    this.#run(this.#s.deleteChunk, id);
  }

  setMark(seriesId: number, walId: number): void {
    this.#run(this.#s.upsertMark, seriesId, walId);
  }

  deleteMarksUpTo(walId: number): void {
    this.#run(this.#s.deleteMarksUpTo, Math.min(walId, ALL));
  }

  setMeta(key: string, value: string | undefined): void {
    if (value === undefined) this.#run(this.#s.deleteMeta, key);
    else this.#run(this.#s.upsertMeta, key, value);
  }

  commit(): Promise<void> {
    if (this.#finished) throw new Error('BUG: a write transaction was committed after it ended');
    this.#finished = true;
    if (this.#failed) {
      this.#rollbackQuietly();
      return Promise.reject(this.#failure);
    }
    try {
      this.#db.exec('COMMIT');
    } catch (error) {
      this.#rollbackQuietly();
      return Promise.reject(error);
    }
    return Promise.resolve();
  }

  rollback(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#rollbackQuietly();
  }

  #rollbackQuietly(): void {
    // SQLite may have rolled back already (an I/O error ends the transaction).
    if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
  }
}
