/**
 * The PostgreSQL back-end (`storage: 'postgresql'`): the storage contract (backend.ts) over
 * one schema of a PostgreSQL database, which several EMMS nodes may share. Tables and
 * migrations: postgres_schema.ts; chunk partitions: postgres_partitions.ts; writes:
 * postgres_write_transaction.ts; reads: postgres_chunk_source.ts.
 *
 * Lifecycle: openPostgresBackend() connects, migrates the schema (creating it when missing)
 * and reads the partition list → load() → write transactions and reads → close().
 *
 * Durability: a commit resolves after PostgreSQL committed it, which with the server's
 * defaults (fsync on, synchronous_commit on) means its WAL is flushed to disk; a server with
 * synchronous_commit off acknowledges before that, and EMMS then inherits its window.
 *
 * Connections: one pool (options.poolSize, default 4) serves the writer (one transaction at
 * a time), load() and this thread's reads; each query worker has its own small pool.
 */
import type pg from 'pg';
import type { PostgresStorageOptions } from '../../model/api.js';
import type { MetricType } from '../../model/metric.js';
import type { BackendSize, BackendState, ChunkMetaRow, ChunkSource, SeriesRow, StorageBackend, WalRecordRow, WorkerSourceSpec, WriteTransaction } from '../backend.js';
import { TABLE, checkSchemaName, migrate, qualified } from './postgres_schema.js';
import { parsePostgresLocation, wrapPostgresError, type PostgresLocation } from './postgres_location.js';
import {
  DEFAULT_POOL_SIZE, DEFAULT_STATEMENT_TIMEOUT_MS, MAX_POOL_SIZE, MAX_STATEMENT_TIMEOUT_MS, createPool, integerOption, type ManagedPool,
} from './postgres_connection.js';
import { PostgresWriteTransaction, PostgresWriter } from './postgres_write_transaction.js';
import { PostgresChunkSource } from './postgres_chunk_source.js';
import { ADVISORY_NAMESPACE, lockSql } from './postgres_schema.js';
import { listPartitionsSql, monthLockKey, monthOfPartition, monthsBefore, partitionFloor, partitionName } from './postgres_partitions.js';
import { reclaimSpace, rewriteSparsePartitions, storeSizeSql, vacuumAfterStop } from './postgres_maintenance.js';

/** Write-ahead records per SELECT of replay: bounds the bytes load() holds at once (~256 × 50 KB). */
export const REPLAY_BATCH_RECORDS = 256;

export interface ChunkPartitionRetention {
  /**
   * Drops every month partition of chunks lying wholly before `cutoffMs` (its end ≤ cutoff)
   * and returns how many chunks they held. Afterwards no chunk with max_ts below
   * partitionFloor(cutoffMs) remains; chunks of the cutoff's own month are untouched (delete
   * those one by one). Takes each month's advisory lock, so it never races a node creating it.
   */
  dropChunkPartitionsBefore(cutoffMs: number): Promise<number>;
}

export class PostgresBackend implements StorageBackend, ChunkPartitionRetention {
  readonly kind = 'postgresql' as const;
  readonly location: string;
  readonly schema: string;
  readonly #where: PostgresLocation;
  readonly #managed: ManagedPool;
  readonly #statementTimeoutMs: number;
  readonly #writer: PostgresWriter;
  readonly #source: PostgresChunkSource;
  #closed = false;
  /** Ends load()'s snapshot when walRecords() was not read to its end (else close() would wait for it). */
  #endSnapshot: (() => void) | undefined;

  private constructor(where: PostgresLocation, schema: string, managed: ManagedPool, statementTimeoutMs: number) {
    this.#where = where;
    this.location = where.redacted;
    this.schema = schema;
    this.#managed = managed;
    this.#statementTimeoutMs = statementTimeoutMs;
    this.#writer = new PostgresWriter(managed.pool, schema, where);
    this.#source = new PostgresChunkSource(managed.pool, schema, where);
  }

  static async open(options: PostgresStorageOptions): Promise<PostgresBackend> {
    const where = parsePostgresLocation(options?.url, 'options.url');
    const schema = checkSchemaName(options.schema, 'options.schema');
    const size = integerOption('options.poolSize', options.poolSize, DEFAULT_POOL_SIZE, 1, MAX_POOL_SIZE);
    const statementTimeoutMs = integerOption('options.statementTimeoutMs', options.statementTimeoutMs, DEFAULT_STATEMENT_TIMEOUT_MS, 1, MAX_STATEMENT_TIMEOUT_MS);
    const managed = createPool(where, { size, statementTimeoutMs });
    try {
      const client = await managed.pool.connect();
      try {
        await migrate(client, schema);
      } finally {
        client.release();
      }
      const backend = new PostgresBackend(where, schema, managed, statementTimeoutMs);
      await backend.#writer.loadPartitions();
      await backend.#writer.prepareMonths();
      return backend;
    } catch (error) {
      await managed.end().catch(() => undefined);
      throw wrapPostgresError(error, where, `open schema "${schema}"`);
    }
  }

  #table(name: string): string {
    return qualified(this.schema, name);
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error(`BUG: ${this.location} (schema "${this.schema}") was used after close()`);
  }

  /**
   * Series, chunk catalogue, marks and meta from one REPEATABLE READ snapshot, and the
   * write-ahead records streamed afterwards from that same snapshot: another node landing a
   * cut in between (chunks in, records out) can then neither hide points nor show them twice.
   * The snapshot's connection is held until walRecords() has been read (or close()); while
   * it is, DDL on these tables by other nodes (a partition created or dropped, VACUUM FULL)
   * waits, which is why partitions are created ahead of need (PostgresWriter.prepareMonths).
   */
  async load(): Promise<BackendState> {
    this.#checkOpen();
    let client: pg.PoolClient;
    try {
      client = await this.#managed.pool.connect();
    } catch (error) {
      throw wrapPostgresError(error, this.#where, 'load');
    }
    let released = false;
    const release = (failed: boolean): void => {
      if (released) return;
      released = true;
      this.#endSnapshot = undefined;
      if (failed) client.release(true);
      else void client.query('COMMIT').then(() => client.release(), () => client.release(true));
    };
    this.#endSnapshot = () => release(true);
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const series = await client.query<[number, string, string, string, string]>({
        text: `SELECT id, tenant, metric_id, tags, metric_type FROM ${this.#table(TABLE.series)}`, rowMode: 'array',
      });
      const chunks = await client.query<[number, number, number, number, number]>({
        text: `SELECT id, series_id, min_ts, max_ts, count FROM ${this.#table(TABLE.chunks)}`, rowMode: 'array',
      });
      const marks = await client.query<[number, number]>({ text: `SELECT series_id, wal_id FROM ${this.#table(TABLE.marks)}`, rowMode: 'array' });
      const meta = await client.query<[string, string]>({ text: `SELECT key, value FROM ${this.#table(TABLE.meta)}`, rowMode: 'array' });
      const where = this.#where;
      const walTable = this.#table(TABLE.walRecords);
      return {
        series: series.rows.map(([id, tenant, metricId, canonicalTags, metricType]): SeriesRow => ({
          id, tenant, metricId, canonicalTags, metricType: metricType as MetricType,
        })),
        chunks: chunks.rows.map(([id, seriesId, minTs, maxTs, count]): ChunkMetaRow => ({ id, seriesId, minTs, maxTs, count })),
        marks: new Map(marks.rows),
        meta: new Map(meta.rows),
        async *walRecords(): AsyncIterable<WalRecordRow> {
          if (released) throw new Error('BUG: walRecords() of a load() was read twice, or after close()');
          let last = -1;
          try {
            for (;;) {
              const batch = await client.query<[number, number, number, Uint8Array]>({
                text: `SELECT id, created_ms, points, data FROM ${walTable} WHERE id > $1 ORDER BY id LIMIT ${REPLAY_BATCH_RECORDS}`,
                values: [last],
                rowMode: 'array',
              });
              for (const [id, createdMs, points, data] of batch.rows) yield { id, createdMs, points, data };
              if (batch.rows.length < REPLAY_BATCH_RECORDS) break;
              last = batch.rows[batch.rows.length - 1]![0];
            }
            release(false);
          } catch (error) {
            release(true);
            throw wrapPostgresError(error, where, 'read write-ahead records');
          } finally {
            // An iteration abandoned early (break) still ends the snapshot.
            release(false);
          }
        },
      };
    } catch (error) {
      release(true);
      throw wrapPostgresError(error, this.#where, 'load');
    }
  }

  beginWrite(): WriteTransaction {
    this.#checkOpen();
    return new PostgresWriteTransaction(this.#writer);
  }

  chunkSource(): ChunkSource {
    return this.#source;
  }

  workerSource(): WorkerSourceSpec {
    return { kind: 'postgresql', url: this.#where.url, schema: this.schema, statementTimeoutMs: this.#statementTimeoutMs };
  }

  /** A real one-row write, committed: a read-only replica, a full disk or lost rights show here. */
  async checkWritable(): Promise<void> {
    this.#checkOpen();
    try {
      await this.#managed.pool.query(
        `INSERT INTO ${this.#table(TABLE.meta)} (key, value) VALUES ('last_write_check_ms', $1)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`,
        [String(Date.now())],
      );
    } catch (error) {
      throw wrapPostgresError(error, this.#where, 'write check');
    }
  }

  async size(): Promise<BackendSize> {
    this.#checkOpen();
    try {
      const result = await this.#managed.pool.query<{ bytes: number }>(storeSizeSql, [this.schema]);
      return { bytes: result.rows[0]?.bytes ?? 0 };
    } catch (error) {
      throw wrapPostgresError(error, this.#where, 'size');
    }
  }

  async reclaimDeletedSpace(): Promise<void> {
    this.#checkOpen();
    try {
      await reclaimSpace(this.#managed.pool, this.schema, this.#statementTimeoutMs);
    } catch (error) {
      throw wrapPostgresError(error, this.#where, 'reclaim deleted space');
    }
  }

  async dropChunkPartitionsBefore(cutoffMs: number): Promise<number> {
    this.#checkOpen();
    const client = await this.#managed.pool.connect().catch((error: unknown) => {
      throw wrapPostgresError(error, this.#where, 'drop chunk partitions');
    });
    let failed = false;
    try {
      const listed = await client.query<{ name: string }>(listPartitionsSql, [this.schema]);
      const months = monthsBefore(listed.rows.map((r) => monthOfPartition(r.name)).filter((m): m is number => m !== undefined), cutoffMs);
      if (months.length === 0) return 0;
      await client.query('BEGIN');
      let removed = 0;
      for (const month of months) {
        await client.query(lockSql, [ADVISORY_NAMESPACE + this.schema, monthLockKey(month)]);
        const table = this.#table(partitionName(month));
        // The lock taken, another node may have dropped it meanwhile: count and drop only if present.
        const present = await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [table]);
        if (present.rows[0]?.present !== true) continue;
        const count = await client.query<{ n: number }>(`SELECT count(*)::bigint AS n FROM ${table}`);
        removed += count.rows[0]?.n ?? 0;
        await client.query(`DROP TABLE ${table}`);
      }
      await client.query('COMMIT');
      this.#writer.forgetPartitions(months);
      return removed;
    } catch (error) {
      failed = true;
      await client.query('ROLLBACK').catch(() => undefined);
      throw wrapPostgresError(error, this.#where, `drop chunk partitions before ${cutoffMs}`);
    } finally {
      client.release(failed);
    }
  }

  /** The contract's retention by time range (backend.ts): drops the month partitions below the cutoff's month. */
  async dropChunksBefore(cutoffMs: number): Promise<number> {
    await this.dropChunkPartitionsBefore(cutoffMs);
    return partitionFloor(cutoffMs);
  }

  /** See ChunkPartitionRetention: chunks with maxTs below this are gone after dropChunkPartitionsBefore(cutoffMs). */
  partitionFloor(cutoffMs: number): number {
    return partitionFloor(cutoffMs);
  }

  /**
   * `compact` (a clean stop, after the engine's checkpoint and compaction): a plain VACUUM of
   * the write-ahead records, marks and chunk partitions. The checkpoint deleted every record;
   * until a VACUUM the dead rows keep their pages, and the store measured ~5 bytes/point more
   * (bench/storage_backends.bench.ts, 6 h TSBS). A VACUUM truncates the emptied pages at the end
   * of a table and takes no lock that writers wait for; autovacuum would do the same later.
   * Then the chunk partitions that compaction left sparse are rewritten
   * (rewriteSparsePartitions), as SQLite's stop-time VACUUM does. Without `compact` (a crash
   * test's abandon) it only ends the connections.
   */
  async close(options: { compact: boolean } = { compact: false }): Promise<void> {
    if (this.#closed) return;
    this.#endSnapshot?.();
    try {
      if (options.compact) {
        await vacuumAfterStop(this.#managed.pool, this.schema);
        await rewriteSparsePartitions(this.#managed.pool, this.schema, this.#statementTimeoutMs);
      }
    } catch {
      // Only space: autovacuum reclaims it later.
    } finally {
      this.#closed = true;
      await this.#managed.end();
    }
  }

  async abandon(): Promise<void> {
    await this.close({ compact: false });
  }
}

export function openPostgresBackend(options: PostgresStorageOptions): Promise<PostgresBackend> {
  return PostgresBackend.open(options);
}
