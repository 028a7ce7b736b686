/**
 * Keeps a node's feature databases (auth.db, alerts.db, keys.db, health.db) equal to the
 * cluster's: uploads the node's own row changes to the shared state log and applies the log to
 * the local files, in log order (last writer wins by log position). See
 * sqlite_change_capture.ts for the SQLite side and state_log.ts for the log.
 *
 * Lifecycle:
 *   const r = StateReplicator.open({ log, databases, onError });  // installs the capture
 *   await r.catchUp();      // whole log applied, bounded by catchUpMs; before acting as writer
 *   r.start();              // upload every uploadIntervalMs, tail every tailIntervalMs
 *   await r.flush();        // the node's changes so far are in the log
 *   await r.close();        // a last bounded flush, then the connections close
 *
 *   const mark = r.changeMark();  // after a local commit: the outbox ids it reached
 *   await r.shared(mark, 5000);   // those changes are in the log (StateNotSharedError: not yet)
 *
 * Durability: a state change is committed to the local file first; the uploader picks it up
 * within uploadIntervalMs (default 25 ms) plus one back-end round trip, or at once when
 * someone waits for it with `shared()`. The HTTP answer to a state change waits that way
 * (src/app/shared_state_answers.ts), so an acknowledged change is in the shared log. A
 * change nobody waits for (an alert transition of the evaluator, key use recorded in the
 * background) is in the log within that window; a node killed inside it keeps the change in its
 * local outbox, and it reaches the cluster only if that node starts again on the same data
 * directory.
 *
 * Every node applies the whole log, its own uploads included: replaying the log from any
 * earlier cursor then converges on the same state (the capture skips remote rows that have a
 * local change still waiting in the outbox, which is later in log order once uploaded).
 *
 * Deletions: every node drops deletion entries older than deletionRetentionMs (7 days) from
 * the log every dropDeletionsEveryMs (1 h; idempotent, so it needs no lease), so the log holds
 * the live rows and the last week's deletions. A node whose cursor is below a dropped
 * deletion (away, or its tail stalled, for longer than that) resyncs: it re-reads the whole log
 * and removes the local rows the log no longer holds (#resync).
 *
 * Cursor: the log position applied so far is stored in each file's meta table inside the
 * transaction that applies the batch, and files are applied in a fixed order, so after a
 * crash the LAST file of the order holds the oldest cursor: reading resumes from there, and
 * replaying a batch into a file that already has it is idempotent.
 *
 * Messages never carry row contents: errors name the file and the table.
 */
import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { rowId, SqliteChangeCapture, type RowChange } from './sqlite_change_capture.js';
import { START, type StateLog, type StoredStateLogEntry } from './state_log.js';

export interface ReplicatedDatabase {
  /** The file name (auth.db …): the same on every node, used in the log. */
  name: string;
  /** An open connection of its own to the file (the caller opens it with the data key). */
  db: Database.Database;
  /** Tables kept local (not replicated). */
  exclude?: readonly string[];
}

export interface StateReplicatorOptions {
  log: StateLog;
  databases: readonly ReplicatedDatabase[];
  onError: (err: Error) => void;
  uploadIntervalMs?: number;
  tailIntervalMs?: number;
  /** Rows per upload batch and per log read. */
  batchRows?: number;
  /** Longest catchUp() may take before it fails. */
  catchUpMs?: number;
  /**
   * Age (by the log back-end's clock) after which deletion entries are dropped from the log; a
   * node whose cursor is older than a dropped one re-reads the whole log (resync).
   */
  deletionRetentionMs?: number;
  /** How often this node drops old deletion entries. */
  dropDeletionsEveryMs?: number;
  /** Told after each resync: the entries read and the local rows removed. */
  onResync?: (read: number, removed: number) => void;
  now?: () => number;
}

export const STATE_REPLICATION_DEFAULTS = {
  uploadIntervalMs: 25, tailIntervalMs: 100, batchRows: 500, catchUpMs: 60_000,
  deletionRetentionMs: 7 * 86_400_000, dropDeletionsEveryMs: 3_600_000,
} as const;

/**
 * Lag from which /health calls replication `lagging`: the tail reaches the end of the log every
 * tick (tailIntervalMs) when it can, so 10 s is a hundred missed ticks, not a busy moment.
 */
const LAGGING_AFTER_MS = 10_000;
const CURSOR_KEY = 'cursor';
const ORIGIN_KEY = 'origin';
/** Set in every file while a resync runs, cleared by its sweep: a crash in between resyncs again. */
const RESYNC_KEY = 'resync';
/** A read need not be followed by a deletion-horizon check when the previous read reached the end this recently. */
const HORIZON_CHECK_MS = 60_000;
/** Deletion entries dropped per call (dropDeletions), so one call stays short. */
const DROP_BATCH = 1_000;
/** Batches one tick moves at most, so one tick never monopolises the event loop. */
const BATCHES_PER_TICK = 8;

/**
 * A change committed on this node that is not in the shared log within the time waited: the
 * log is unreachable or slow. The change stays in the local outbox and is uploaded when the log
 * answers again, unless this node's data directory is lost first.
 */
export class StateNotSharedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateNotSharedError';
  }
}

/** One caller of shared(): settled by the uploader, or by its timer. */
interface ShareWaiter {
  mark: readonly number[];
  resolve: () => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

export class StateCatchUpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateCatchUpError';
  }
}

export interface StateReplicationStatus {
  origin: string;
  cursor: string;
  outboxRows: number;
  uploadedRows: number;
  appliedRows: number;
  errors: number;
  /** When the tail last read up to the end of the log (ms epoch); 0 = never. */
  caughtUpAtMs: number;
  /** Full re-reads of the log since start (the node was below the deletion horizon). */
  resyncs: number;
  /** Deletion entries this node dropped from the log since start. */
  droppedDeletions: number;
}

interface Replica {
  name: string;
  db: Database.Database;
  capture: SqliteChangeCapture;
}

export class StateReplicator {
  readonly origin: string;
  readonly #log: StateLog;
  readonly #replicas: Replica[];
  readonly #onError: (err: Error) => void;
  readonly #onResync: ((read: number, removed: number) => void) | undefined;
  readonly #uploadMs: number;
  readonly #tailMs: number;
  readonly #batch: number;
  readonly #catchUpMs: number;
  readonly #deletionRetentionMs: number;
  readonly #dropEveryMs: number;
  readonly #now: () => number;
  #cursor: string;
  #uploaded = 0;
  #applied = 0;
  #errors = 0;
  #caughtUpAt = 0;
  #lastTail = 0;
  /** When a read last reached the end of the log; 0: not since start. */
  #endReachedAt = 0;
  #lastDrop = 0;
  #resyncPending: boolean;
  #resyncs = 0;
  #droppedDeletions = 0;
  #work: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #waiters = new Set<ShareWaiter>();
  /** An upload queued for waiters, ahead of the next tick; at most one at a time. */
  #kicked = false;
  /** The last failed upload or read, for the message of a wait that timed out (already redacted by the log). */
  #lastError: string | undefined;

  private constructor(options: StateReplicatorOptions, replicas: Replica[], origin: string, cursor: string, resyncPending: boolean) {
    this.#log = options.log;
    this.#replicas = replicas;
    this.#onError = options.onError;
    this.#onResync = options.onResync;
    this.#uploadMs = options.uploadIntervalMs ?? STATE_REPLICATION_DEFAULTS.uploadIntervalMs;
    this.#tailMs = options.tailIntervalMs ?? STATE_REPLICATION_DEFAULTS.tailIntervalMs;
    this.#batch = options.batchRows ?? STATE_REPLICATION_DEFAULTS.batchRows;
    this.#catchUpMs = options.catchUpMs ?? STATE_REPLICATION_DEFAULTS.catchUpMs;
    this.#deletionRetentionMs = options.deletionRetentionMs ?? STATE_REPLICATION_DEFAULTS.deletionRetentionMs;
    this.#dropEveryMs = options.dropDeletionsEveryMs ?? STATE_REPLICATION_DEFAULTS.dropDeletionsEveryMs;
    this.#resyncPending = resyncPending;
    this.#now = options.now ?? Date.now;
    this.origin = origin;
    this.#cursor = cursor;
  }

  /** Installs the capture on every file; throws ReplicationSchemaError naming a table it cannot key. */
  static open(options: StateReplicatorOptions): StateReplicator {
    if (options.databases.length === 0) throw new RangeError('state replication needs at least one database');
    const names = new Set(options.databases.map((d) => d.name));
    if (names.size !== options.databases.length) throw new RangeError('state replication: database names must be unique');
    const replicas = options.databases.map((d) => ({ name: d.name, db: d.db, capture: new SqliteChangeCapture(d.db, d.exclude) }));
    // One id per data directory, kept across restarts (it names the node in the log and in claims).
    const first = replicas[0]!.capture;
    let origin = first.meta(ORIGIN_KEY);
    if (origin === undefined) {
      origin = randomUUID();
      first.setMeta(ORIGIN_KEY, origin);
    }
    const cursor = replicas[replicas.length - 1]!.capture.meta(CURSOR_KEY) ?? START;
    const resyncPending = replicas.some((r) => r.capture.meta(RESYNC_KEY) !== undefined);
    return new StateReplicator(options, replicas, origin, cursor, resyncPending);
  }

  /**
   * Applies the log up to its end (as of the last read), batchRows at a time. Fails with
   * StateCatchUpError when that takes longer than catchUpMs; returns the rows read.
   */
  async catchUp(): Promise<number> {
    const deadline = this.#now() + this.#catchUpMs;
    let read = 0;
    for (;;) {
      const got = await this.#serial(() => this.#tailBatch(deadline));
      read += got;
      if (got < this.#batch) return read;
      if (this.#now() > deadline) {
        throw new StateCatchUpError(`state catch-up from ${this.#log.describe} did not reach the end of the log within ${this.#catchUpMs} ms (${read} entries applied, at position ${this.#cursor})`);
      }
    }
  }

  /** Starts the periodic upload and tail; errors go to onError and the loop goes on. */
  start(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const tick = (): void => {
      this.#timer = undefined;
      void this.#serial(() => this.#tick()).finally(() => {
        if (!this.#closed) this.#timer = setTimeout(tick, this.#uploadMs);
      });
    };
    this.#timer = setTimeout(tick, this.#uploadMs);
  }

  /** Resolves once every change committed locally before the call is in the log. */
  flush(): Promise<void> {
    return this.#serial(async () => {
      for (const r of this.#replicas) while (await this.#uploadBatch(r)) { /* until empty */ }
    });
  }

  /**
   * Per file (in `databases` order), the id of the newest change recorded so far: a mark taken
   * after a local commit covers that commit. Two marks differ only if something was changed in
   * between. A few microseconds: one indexed read per file.
   */
  changeMark(): number[] {
    return this.#replicas.map((r) => (r.db.open ? r.capture.lastSeq() : 0));
  }

  /**
   * Resolves once every change up to `mark` (changeMark()) is in the shared log, uploading at
   * once rather than at the next tick. Rejects with StateNotSharedError after `timeoutMs`, or
   * when the node stops first; the changes then stay in the outbox and are uploaded later.
   */
  shared(mark: readonly number[], timeoutMs: number): Promise<void> {
    if (this.#uploadedThrough(mark)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: ShareWaiter = {
        mark, resolve, reject,
        timer: setTimeout(() => {
          this.#waiters.delete(waiter);
          const cause = this.#lastError === undefined ? 'no answer yet' : `last error: ${this.#lastError}`;
          reject(new StateNotSharedError(`the change is committed on this node but was not in the shared state log (${this.#log.describe}) within ${timeoutMs} ms (${cause}); it stays in this node's outbox and is uploaded when the log answers again`));
        }, timeoutMs),
      };
      if (this.#closed) {
        clearTimeout(waiter.timer);
        reject(this.#stoppedError());
        return;
      }
      this.#waiters.add(waiter);
      this.#kick();
    });
  }

  /** A claim under this node's origin; true when this node holds it. */
  async claim(name: string): Promise<boolean> {
    return (await this.#log.claim(name, this.origin)) === this.origin;
  }

  status(): StateReplicationStatus {
    return {
      origin: this.origin,
      cursor: this.#cursor,
      outboxRows: this.#replicas.reduce((n, r) => n + (r.db.open ? r.capture.outboxRows() : 0), 0),
      uploadedRows: this.#uploaded,
      appliedRows: this.#applied,
      errors: this.#errors,
      caughtUpAtMs: this.#caughtUpAt,
      resyncs: this.#resyncs,
      droppedDeletions: this.#droppedDeletions,
    };
  }

  /**
   * The `state_replication` component of GET /health. `lagging` when the node has not read to
   * the end of the shared log for LAGGING_AFTER_MS (a stalled tail: an entry it cannot apply,
   * or the database unreachable); /health stays 200, since points are still taken.
   */
  health(): Record<string, unknown> {
    const s = this.status();
    const lagMs = s.caughtUpAtMs === 0 ? undefined : Math.max(0, this.#now() - s.caughtUpAtMs);
    return {
      status: lagMs !== undefined && lagMs <= LAGGING_AFTER_MS ? 'ok' : 'lagging',
      log: this.#log.describe,
      lag_seconds: lagMs === undefined ? null : lagMs / 1000,
      outbox_rows: s.outboxRows,
      errors: s.errors,
    };
  }

  /** Prometheus text for /metrics. */
  metrics(): string {
    const s = this.status();
    const age = s.caughtUpAtMs === 0 ? -1 : Math.max(0, (this.#now() - s.caughtUpAtMs) / 1000);
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, value: number): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    };
    metric('emms_state_replication_outbox_rows', 'gauge', 'Local state changes not yet in the shared state log.', s.outboxRows);
    metric('emms_state_replication_uploaded_rows_total', 'counter', 'Row changes this node wrote to the shared state log.', s.uploadedRows);
    metric('emms_state_replication_applied_rows_total', 'counter', 'Row changes of the shared state log applied to the local files.', s.appliedRows);
    metric('emms_state_replication_errors_total', 'counter', 'Failed uploads or log reads (retried at the next tick).', s.errors);
    metric('emms_state_replication_resyncs_total', 'counter', 'Full re-reads of the shared state log (this node was below its deletion horizon).', s.resyncs);
    metric('emms_state_replication_dropped_deletions_total', 'counter', 'Deletion entries older than the retention this node dropped from the shared state log.', s.droppedDeletions);
    metric('emms_state_replication_lag_seconds', 'gauge', 'Seconds since this node last read to the end of the shared state log (-1: never).', age);
    return lines.join('\n') + '\n';
  }

  /** Stops the loops, tries a last flush (bounded by one upload batch per file), closes the log. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#serial(async () => {
      for (const r of this.#replicas) {
        try {
          await this.#uploadBatch(r);
        } catch (err) {
          this.#fail(err);
        }
      }
    });
    this.#settleWaiters();
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(this.#stoppedError());
    }
    this.#waiters.clear();
    await this.#log.close();
    for (const r of this.#replicas) if (r.db.open) r.db.close();
  }

  #stoppedError(): StateNotSharedError {
    return new StateNotSharedError(`the change is committed on this node but this node stopped before it reached the shared state log (${this.#log.describe}); it stays in this node's outbox and is uploaded when the node starts again on the same data directory`);
  }

  /** Whether no change up to `mark` is left in any outbox. */
  #uploadedThrough(mark: readonly number[]): boolean {
    return this.#replicas.every((r, i) => !r.db.open || mark[i] === undefined || mark[i] === 0 || !r.capture.pendingThrough(mark[i]!));
  }

  #settleWaiters(): void {
    for (const w of this.#waiters) {
      if (!this.#uploadedThrough(w.mark)) continue;
      clearTimeout(w.timer);
      this.#waiters.delete(w);
      w.resolve();
    }
  }

  /**
   * Uploads now for the waiters instead of at the next tick. One queued upload serves every
   * waiter that arrived before it ran (it drains the outboxes); a failure leaves them to the
   * tick's retries and their timers.
   */
  #kick(): void {
    if (this.#kicked) return;
    this.#kicked = true;
    void this.#serial(async () => {
      this.#kicked = false;
      try {
        for (const r of this.#replicas) while (await this.#uploadBatch(r)) { /* until empty */ }
      } catch (err) {
        this.#fail(err);
      }
    });
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#work.then(work);
    this.#work = run.then(() => undefined, () => undefined);
    return run;
  }

  async #tick(): Promise<void> {
    try {
      for (const r of this.#replicas) {
        for (let i = 0; i < BATCHES_PER_TICK && (await this.#uploadBatch(r)); i++) { /* bounded */ }
      }
      if (this.#now() - this.#lastTail >= this.#tailMs) {
        for (let i = 0; i < BATCHES_PER_TICK && (await this.#tailBatch()) === this.#batch; i++) { /* bounded */ }
      }
      if (this.#now() - this.#lastDrop >= this.#dropEveryMs) {
        this.#lastDrop = this.#now();
        for (let i = 0; i < BATCHES_PER_TICK; i++) {
          const dropped = await this.#log.dropDeletions(this.#deletionRetentionMs, DROP_BATCH);
          this.#droppedDeletions += dropped;
          if (dropped < DROP_BATCH) break;
        }
      }
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Uploads one batch of a file's outbox; false when it was empty. */
  async #uploadBatch(r: Replica): Promise<boolean> {
    if (!r.db.open) return false;
    const pending = r.capture.pending(this.#batch);
    if (pending === undefined) return false;
    await this.#log.append(pending.changes.map((c) => ({ origin: this.origin, db: r.name, change: JSON.stringify(c), rowKey: JSON.stringify([r.name, c.t, c.k]), deletion: c.r === null })));
    r.capture.acknowledge(pending.upTo);
    this.#uploaded += pending.changes.length;
    this.#lastError = undefined;
    if (this.#waiters.size > 0) this.#settleWaiters();
    return true;
  }

  /**
   * Reads and applies one batch of the log; returns the entries read. When the reader may be
   * below the deletion horizon (state_log.ts), it resyncs instead. The horizon is read after
   * the batch: a drop before the read shows in it; one after the read came too late to hide
   * anything from this batch. It is skipped only while the previous read reached the end of
   * the log moments ago (less than a tenth of the retention): entries after such a cursor are
   * far younger than any deletion dropped.
   */
  async #tailBatch(deadline = this.#now() + this.#catchUpMs): Promise<number> {
    const started = this.#now();
    this.#lastTail = started;
    if (this.#resyncPending) return this.#resync(deadline);
    const from = this.#cursor;
    const entries = await this.#log.readAfter(from, this.#batch);
    const recent = this.#endReachedAt > 0 && started - this.#endReachedAt < Math.min(HORIZON_CHECK_MS, this.#deletionRetentionMs / 10);
    if (!recent && (await this.#log.missedDeletions(from))) return this.#resync(deadline);
    if (entries.length > 0) this.#applyEntries(entries);
    if (entries.length < this.#batch) this.#caughtUpAt = this.#endReachedAt = started;
    return entries.length;
  }

  /**
   * Re-reads the whole log into the files and then removes the local rows the log does not
   * hold (deleted elsewhere while this node was away, their deletion entries since dropped).
   * Flagged in every file first, so a crash in between resyncs again. Rows with a local change
   * still in the outbox are kept (uploaded later, they win). Returns the entries read; bounded
   * by `deadline` (StateCatchUpError), retried from the start at the next tick or catch-up.
   */
  async #resync(deadline: number): Promise<number> {
    this.#resyncPending = true;
    for (const r of this.#replicas) if (r.db.open) r.capture.setMeta(RESYNC_KEY, '1');
    this.#cursor = START;
    const seen = new Map<string, Set<string>>(this.#replicas.map((r) => [r.name, new Set<string>()]));
    let read = 0;
    for (;;) {
      const entries = await this.#log.readAfter(this.#cursor, this.#batch);
      for (const e of entries) {
        try {
          const change = JSON.parse(e.change) as RowChange;
          seen.get(e.db)?.add(rowId(change.t, change.k));
        } catch {
          // reported by #applyEntries
        }
      }
      if (entries.length > 0) this.#applyEntries(entries);
      read += entries.length;
      if (entries.length < this.#batch) break;
      if (this.#now() > deadline) {
        throw new StateCatchUpError(`state resync from ${this.#log.describe} did not reach the end of the log by its deadline (${read} entries applied, at position ${this.#cursor}); it starts again from the beginning`);
      }
    }
    let removed = 0;
    for (const r of this.#replicas) if (r.db.open) removed += r.capture.sweep(seen.get(r.name)!, RESYNC_KEY);
    this.#resyncPending = false;
    this.#resyncs++;
    this.#caughtUpAt = this.#endReachedAt = this.#now();
    this.#onResync?.(read, removed);
    return read;
  }

  #applyEntries(entries: readonly StoredStateLogEntry[]): void {
    const position = entries[entries.length - 1]!.position;
    const byDb = new Map<string, RowChange[]>();
    for (const e of entries) {
      let change: RowChange;
      try {
        change = JSON.parse(e.change) as RowChange;
      } catch {
        this.#fail(new Error(`state log entry ${e.position} of ${e.db} is not JSON; skipped`));
        continue;
      }
      let list = byDb.get(e.db);
      if (list === undefined) byDb.set(e.db, (list = []));
      list.push(change);
    }
    for (const r of this.#replicas) {
      if (!r.db.open) continue;
      try {
        this.#applied += r.capture.apply(byDb.get(r.name) ?? [], CURSOR_KEY, position);
      } catch (err) {
        throw new Error(`applying the shared state log to ${r.name} at position ${position}: ${(err as Error).message}`);
      }
    }
    this.#cursor = position;
  }

  #fail(err: unknown): void {
    this.#errors++;
    const error = err instanceof Error ? err : new Error(String(err));
    this.#lastError = error.message;
    this.#onError(error);
  }
}
