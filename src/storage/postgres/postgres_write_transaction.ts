/**
 * PostgreSQL write transactions (backend.ts's WriteTransaction): the recording calls only
 * fold into a WritePlan (postgres_write_plan.ts); `commit()` sends the plan and resolves once
 * PostgreSQL has committed it (synchronous_commit as the server is configured: on by
 * default, so the commit record is flushed to its WAL first).
 *
 * How a commit travels:
 * - a plan of inserts and upserts only, with every chunk's month partition known to exist,
 *   is one statement: one round trip, atomic by itself;
 * - anything else is BEGIN, the statements and COMMIT on one connection, each sent when the
 *   previous answered (pg runs a connection's queries one at a time either way; queueing them
 *   unawaited saved nothing measurable and is deprecated in pg 8). A failed statement is
 *   followed by ROLLBACK; a connection that failed without a server error (lost, timed out
 *   on the client) is destroyed, not returned to the pool.
 * - a chunk for a month without a partition first creates it (postgres_partitions.ts). If
 *   another node dropped a partition this node believed existed, the insert fails with
 *   "no partition found for row"; the writer then re-reads the partition list and sends the
 *   whole plan once more.
 *
 * A commit whose connection breaks after COMMIT was sent rejects, although PostgreSQL may have
 * committed it: what was committed is then read back at the next load(); what is rejected is
 * never acknowledged, so no client is told "stored" about a point that is not.
 */
import type pg from 'pg';
import type { EncodedChunk } from '../chunk_encoding.js';
import type { SeriesRow, WalRecordRow, WriteTransaction } from '../backend.js';
import { WritePlan, planStatements, type PlannedWrite } from './postgres_write_plan.js';
import { createPartitionStatements, listPartitionsSql, monthOf, monthOfPartition, type MonthIndex } from './postgres_partitions.js';
import { wrapPostgresError, type PostgresLocation } from './postgres_location.js';

/** How long creating next month's partition ahead of need may wait for the chunks table's lock. */
export const PREPARE_LOCK_TIMEOUT_MS = 2_000;
/** How often commits look whether next month's partition exists yet. */
export const PREPARE_INTERVAL_MS = 3_600_000;

/** SQLSTATE 23514 with this text: a row for a range no partition covers. */
const NO_PARTITION = /no partition of relation .* found for row/;

function isMissingPartition(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  return e?.code === '23514' && typeof e.message === 'string' && NO_PARTITION.test(e.message);
}

/** Sends plans for one store; remembers which month partitions exist. */
export class PostgresWriter {
  readonly #pool: pg.Pool;
  readonly #schema: string;
  readonly #location: PostgresLocation;
  readonly #months = new Set<MonthIndex>();
  #lastPrepareMs = 0;

  constructor(pool: pg.Pool, schema: string, location: PostgresLocation) {
    this.#pool = pool;
    this.#schema = schema;
    this.#location = location;
  }

  /** Re-reads which month partitions exist (at open, and after another node dropped one). */
  async loadPartitions(): Promise<MonthIndex[]> {
    const result = await this.#pool.query<{ name: string }>(listPartitionsSql, [this.#schema]);
    this.#months.clear();
    for (const row of result.rows) {
      const month = monthOfPartition(row.name);
      if (month !== undefined) this.#months.add(month);
    }
    return [...this.#months].sort((a, b) => a - b);
  }

  /**
   * Creates the partitions of this month and the next (by the wall clock) ahead of need, in a
   * transaction of their own that waits at most PREPARE_LOCK_TIMEOUT_MS for the parent's lock:
   * creating a partition inside a write transaction queues every other statement on chunks
   * behind its ACCESS EXCLUSIVE request, so it should happen rarely and not on the ingest path.
   * Failures are ignored: a commit still creates what it needs. Called at open and, at most
   * once per PREPARE_INTERVAL_MS, after commits.
   */
  async prepareMonths(nowMs = Date.now()): Promise<void> {
    this.#lastPrepareMs = nowMs;
    const current = monthOf(nowMs);
    const missing = [current, current + 1].filter((m) => !this.#months.has(m));
    if (missing.length === 0) return;
    const client = await this.#pool.connect().catch(() => undefined);
    if (client === undefined) return;
    let broken = false;
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = ${PREPARE_LOCK_TIMEOUT_MS}`);
      for (const statement of createPartitionStatements(this.#schema, missing)) await client.query(statement);
      await client.query('COMMIT');
      for (const m of missing) this.#months.add(m);
    } catch {
      await client.query('ROLLBACK').catch(() => { broken = true; });
    } finally {
      client.release(broken);
    }
  }

  /** After retention dropped partitions: they no longer exist. */
  forgetPartitions(months: Iterable<MonthIndex>): void {
    for (const m of months) this.#months.delete(m);
  }

  async execute(plan: WritePlan): Promise<void> {
    let months: MonthIndex[];
    try {
      months = [...plan.months()];
    } catch (error) {
      throw wrapPostgresError(error, this.#location, 'commit');
    }
    for (let attempt = 0; ; attempt++) {
      const missing = months.filter((m) => !this.#months.has(m));
      const planned = planStatements(this.#schema, plan, createPartitionStatements(this.#schema, missing));
      if (planned.statements.length === 0) return;
      try {
        await this.#run(planned);
        for (const m of missing) this.#months.add(m);
        if (Date.now() - this.#lastPrepareMs > PREPARE_INTERVAL_MS) void this.prepareMonths();
        return;
      } catch (error) {
        if (attempt === 0 && isMissingPartition(error)) {
          await this.loadPartitions().catch(() => undefined);
          continue;
        }
        throw wrapPostgresError(error, this.#location, 'commit');
      }
    }
  }

  async #run(planned: PlannedWrite): Promise<void> {
    if (planned.atomic) {
      await this.#pool.query(planned.statements[0]!);
      return;
    }
    const client = await this.#pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      try {
        for (const statement of planned.statements) await client.query(statement);
        const done = await client.query('COMMIT');
        if (done.command !== 'COMMIT') throw new Error(`BUG: COMMIT answered ${done.command} although every statement succeeded`);
      } catch (error) {
        // After a failed statement PostgreSQL holds the transaction aborted until ROLLBACK; a
        // connection that cannot even roll back is dropped rather than reused.
        await client.query('ROLLBACK').catch(() => { broken = true; });
        throw error;
      }
    } catch (error) {
      broken ||= (error as { code?: unknown }).code === undefined;
      throw error;
    } finally {
      client.release(broken);
    }
  }
}

/** One transaction: records into a plan, sends it at commit(). */
export class PostgresWriteTransaction implements WriteTransaction {
  readonly #writer: PostgresWriter;
  readonly #plan = new WritePlan();
  #finished = false;

  constructor(writer: PostgresWriter) {
    this.#writer = writer;
  }

  #open(): WritePlan {
    if (this.#finished) throw new Error('BUG: a write transaction was used after it ended');
    return this.#plan;
  }

  insertSeries(row: SeriesRow): void {
    this.#open().insertSeries(row);
  }

  deleteSeries(row: SeriesRow): void {
    this.#open().deleteSeries(row);
  }

  appendWalRecord(record: WalRecordRow): void {
    this.#open().appendWalRecord(record);
  }

  deleteWalRecordsUpTo(walId: number): void {
    this.#open().deleteWalRecordsUpTo(walId);
  }

  insertChunk(id: number, seriesId: number, chunk: EncodedChunk): void {
    this.#open().insertChunk(id, seriesId, chunk);
  }

  deleteChunk(id: number): void {
    this.#open().deleteChunk(id);
  }

  setMark(seriesId: number, walId: number): void {
    this.#open().setMark(seriesId, walId);
  }

  deleteMarksUpTo(walId: number): void {
    this.#open().deleteMarksUpTo(walId);
  }

  setMeta(key: string, value: string | undefined): void {
    this.#open().setMeta(key, value);
  }

  commit(): Promise<void> {
    if (this.#finished) throw new Error('BUG: a write transaction was committed after it ended');
    this.#finished = true;
    return this.#writer.execute(this.#plan);
  }

  /** Nothing was sent yet: forgetting the plan is the rollback. Idempotent, as SQLite's. */
  rollback(): void {
    this.#finished = true;
  }
}
