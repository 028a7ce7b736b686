/**
 * The durable queue of remote write out: batches waiting for their receiver, in a SQLite file
 * of the data directory (`remote_write_queue.db`), one row per request body ready to send
 * (snappy-compressed WriteRequest). `append` commits with `synchronous = FULL`, so a batch is
 * on disk (fsynced) before the ingest it came from is acknowledged; a row is deleted only after
 * its receiver answered 2xx. Together: at-least-once delivery across restarts and crashes.
 *
 * Bounded: each destination's rows may hold `maxBytes` of bodies. Past it the oldest rows of
 * that destination are deleted and counted (the newest data is kept and ingest is never refused
 * for a slow receiver; `emms_remote_write_dropped_samples_total{reason="backlog_full"}` says
 * what was lost).
 *
 * Lifecycle: open(), then any calls from the one thread that owns it, then close().
 */
import type Database from 'better-sqlite3';
import { openSqlite } from '../crypto/sqlite_cipher.js';
import { join } from 'node:path';

export const QUEUE_FILE_NAME = 'remote_write_queue.db';
const SCHEMA_VERSION = 1;

export interface QueuedBatch {
  id: number;
  enqueuedMs: number;
  samples: number;
  body: Uint8Array;
}

export interface Backlog {
  batches: number;
  bytes: number;
  samples: number;
  /** Enqueue time of the oldest waiting batch, epoch ms; undefined when empty. */
  oldestEnqueuedMs: number | undefined;
}

export interface NewBatch {
  target: string;
  samples: number;
  body: Uint8Array;
}

export class RemoteWriteQueue {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement;
  readonly #peek: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #oldestOf: Database.Statement;
  readonly #backlog = new Map<string, Backlog>();

  private constructor(db: Database.Database) {
    this.#db = db;
    this.#insert = db.prepare('INSERT INTO rw_queue (target, enqueued_ms, samples, bytes, body) VALUES (?, ?, ?, ?, ?)');
    this.#peek = db.prepare('SELECT id, enqueued_ms AS enqueuedMs, samples, body FROM rw_queue WHERE target = ? ORDER BY id LIMIT 1');
    this.#delete = db.prepare('DELETE FROM rw_queue WHERE id = ? RETURNING samples, bytes');
    this.#oldestOf = db.prepare('SELECT MIN(enqueued_ms) AS t FROM rw_queue WHERE target = ?');
    const rows = db.prepare('SELECT target, COUNT(*) AS batches, SUM(bytes) AS bytes, SUM(samples) AS samples, MIN(enqueued_ms) AS oldest FROM rw_queue GROUP BY target').all() as Array<{ target: string; batches: number; bytes: number; samples: number; oldest: number }>;
    for (const r of rows) this.#backlog.set(r.target, { batches: r.batches, bytes: r.bytes, samples: r.samples, oldestEnqueuedMs: r.oldest });
  }

  /** Opens (creating) the queue file in `dataDir`. */
  static open(dataDir: string): RemoteWriteQueue {
    const db = openSqlite(join(dataDir, QUEUE_FILE_NAME));
    try {
      db.pragma('journal_mode = WAL');
      // FULL: the WAL is fsynced at every commit, so an appended batch survives power loss.
      db.pragma('synchronous = FULL');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) throw new Error(`${QUEUE_FILE_NAME} has schema version ${version}, newer than this EMMS (${SCHEMA_VERSION})`);
      db.exec(`CREATE TABLE IF NOT EXISTS rw_queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        target TEXT NOT NULL,
        enqueued_ms REAL NOT NULL,
        samples INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        body BLOB NOT NULL)`);
      db.exec('CREATE INDEX IF NOT EXISTS rw_queue_target ON rw_queue (target, id)');
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      return new RemoteWriteQueue(db);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  backlog(target: string): Backlog {
    return this.#backlog.get(target) ?? { batches: 0, bytes: 0, samples: 0, oldestEnqueuedMs: undefined };
  }

  /** Appends every batch in one fsynced transaction; returns when they are durable. */
  append(batches: readonly NewBatch[], nowMs: number): void {
    if (batches.length === 0) return;
    this.#db.transaction(() => {
      for (const b of batches) this.#insert.run(b.target, nowMs, b.samples, b.body.byteLength, b.body);
    })();
    for (const b of batches) {
      const backlog = this.backlog(b.target);
      backlog.batches++;
      backlog.bytes += b.body.byteLength;
      backlog.samples += b.samples;
      backlog.oldestEnqueuedMs ??= nowMs;
      this.#backlog.set(b.target, backlog);
    }
  }

  /** The oldest waiting batch of `target`. */
  peek(target: string): QueuedBatch | undefined {
    const row = this.#peek.get(target) as { id: number; enqueuedMs: number; samples: number; body: Buffer } | undefined;
    return row === undefined ? undefined : { id: row.id, enqueuedMs: row.enqueuedMs, samples: row.samples, body: row.body };
  }

  /** Deletes a batch (delivered, or given up on). */
  remove(target: string, id: number): void {
    const row = this.#delete.get(id) as { samples: number; bytes: number } | undefined;
    if (row === undefined) return;
    const backlog = this.backlog(target);
    backlog.batches--;
    backlog.bytes -= row.bytes;
    backlog.samples -= row.samples;
    backlog.oldestEnqueuedMs = backlog.batches === 0 ? undefined : ((this.#oldestOf.get(target) as { t: number | null }).t ?? undefined);
    this.#backlog.set(target, backlog);
  }

  /** Drops `target`'s oldest batches until its bodies fit in `maxBytes`; returns the samples dropped. */
  trim(target: string, maxBytes: number): number {
    let dropped = 0;
    while (this.backlog(target).bytes > maxBytes) {
      const oldest = this.peek(target);
      if (oldest === undefined) break;
      this.remove(target, oldest.id);
      dropped += oldest.samples;
    }
    return dropped;
  }

  close(): void {
    this.#db.close();
  }
}
