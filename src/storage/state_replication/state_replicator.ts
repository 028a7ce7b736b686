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
 * Durability: a state change is committed to the local file first (the HTTP answer does not
 * wait for the upload); the uploader picks it up within uploadIntervalMs (default 25 ms) plus
 * one back-end round trip. A node killed inside that window keeps the change in its local
 * outbox; it reaches the cluster only if that node starts again on the same data directory.
 *
 * Every node applies the whole log, its own uploads included: replaying the log from any
 * earlier cursor then converges on the same state (the capture skips remote rows that have a
 * local change still waiting in the outbox, which is later in log order once uploaded).
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
import { SqliteChangeCapture, type RowChange } from './sqlite_change_capture.js';
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
  now?: () => number;
}

export const STATE_REPLICATION_DEFAULTS = { uploadIntervalMs: 25, tailIntervalMs: 100, batchRows: 500, catchUpMs: 60_000 } as const;

/**
 * Lag from which /health calls replication `lagging`: the tail reaches the end of the log every
 * tick (tailIntervalMs) when it can, so 10 s is a hundred missed ticks, not a busy moment.
 */
const LAGGING_AFTER_MS = 10_000;
const CURSOR_KEY = 'cursor';
const ORIGIN_KEY = 'origin';
/** Batches one tick moves at most, so one tick never monopolises the event loop. */
const BATCHES_PER_TICK = 8;

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
  readonly #uploadMs: number;
  readonly #tailMs: number;
  readonly #batch: number;
  readonly #catchUpMs: number;
  readonly #now: () => number;
  #cursor: string;
  #uploaded = 0;
  #applied = 0;
  #errors = 0;
  #caughtUpAt = 0;
  #lastTail = 0;
  #work: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: StateReplicatorOptions, replicas: Replica[], origin: string, cursor: string) {
    this.#log = options.log;
    this.#replicas = replicas;
    this.#onError = options.onError;
    this.#uploadMs = options.uploadIntervalMs ?? STATE_REPLICATION_DEFAULTS.uploadIntervalMs;
    this.#tailMs = options.tailIntervalMs ?? STATE_REPLICATION_DEFAULTS.tailIntervalMs;
    this.#batch = options.batchRows ?? STATE_REPLICATION_DEFAULTS.batchRows;
    this.#catchUpMs = options.catchUpMs ?? STATE_REPLICATION_DEFAULTS.catchUpMs;
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
    return new StateReplicator(options, replicas, origin, cursor);
  }

  /**
   * Applies the log up to its end (as of the last read), batchRows at a time. Fails with
   * StateCatchUpError when that takes longer than catchUpMs; returns the rows read.
   */
  async catchUp(): Promise<number> {
    const deadline = this.#now() + this.#catchUpMs;
    let read = 0;
    for (;;) {
      const got = await this.#serial(() => this.#tailBatch());
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
    await this.#log.close();
    for (const r of this.#replicas) if (r.db.open) r.db.close();
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
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Uploads one batch of a file's outbox; false when it was empty. */
  async #uploadBatch(r: Replica): Promise<boolean> {
    if (!r.db.open) return false;
    const pending = r.capture.pending(this.#batch);
    if (pending === undefined) return false;
    await this.#log.append(pending.changes.map((c) => ({ origin: this.origin, db: r.name, change: JSON.stringify(c), rowKey: JSON.stringify([r.name, c.t, c.k]) })));
    r.capture.acknowledge(pending.upTo);
    this.#uploaded += pending.changes.length;
    return true;
  }

  /** Reads and applies one batch of the log; returns the entries read. */
  async #tailBatch(): Promise<number> {
    this.#lastTail = this.#now();
    const entries = await this.#log.readAfter(this.#cursor, this.#batch);
    if (entries.length > 0) this.#applyEntries(entries);
    if (entries.length < this.#batch) this.#caughtUpAt = this.#lastTail;
    return entries.length;
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
    this.#onError(err instanceof Error ? err : new Error(String(err)));
  }
}
