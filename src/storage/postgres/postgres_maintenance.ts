/**
 * What the PostgreSQL back-end reports of its size and does to give back deleted rows' space.
 *
 * size: pg_total_relation_size (heap + TOAST + indexes) of every table of the store's schema,
 * chunk partitions included: what the store costs on the server's disk, WAL aside.
 *
 * reclaimSpace, after an erasure: VACUUM FULL of each table, chunk partitions one by one.
 * Plain VACUUM only marks dead tuples' space reusable; their bytes stay in the heap and TOAST
 * files until a later row happens to overwrite them, so erased points would remain readable
 * in the data files. VACUUM FULL writes each table into new files and unlinks the old ones.
 * It locks each table ACCESS EXCLUSIVE while it runs (reads and writes of that table wait),
 * which is why it goes partition by partition, and it runs without the statement timeout
 * (a large partition takes longer than one statement may). Out of its reach, as with any
 * PostgreSQL delete: the server's WAL segments until they are recycled and overwritten,
 * replicas' and backups' copies, and blocks the file system has not reused.
 */
import type pg from 'pg';
import { TABLE, qualified } from './postgres_schema.js';
import { listPartitionsSql, monthOfPartition } from './postgres_partitions.js';

export const storeSizeSql = `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relkind = 'r'`;

/** Tables VACUUM FULL rewrites besides the chunk partitions: every one holding erased data or its traces. */
const PLAIN_TABLES = [TABLE.walRecords, TABLE.series, TABLE.marks, TABLE.meta] as const;

/** VACUUM VERBOSE's DETAIL when an open transaction still sees deleted rows (server messages in English). */
const NOT_REMOVABLE = /^(\d+) dead row versions cannot be removed yet/;

/**
 * Runs `body` on a pooled session set up for VACUUM FULL, with the chunk partitions this
 * back-end named (and so can quote: see postgres_partitions.ts). The session has no statement
 * timeout (a large partition takes longer than one statement may) and waits for a table's lock
 * at most `lockTimeoutMs`, so a transaction holding a table open makes the body fail, not hang.
 * Its settings are reset before it goes back to the pool; a session whose body failed may
 * still carry them, so it is not reused.
 */
async function withMaintenanceSession<T>(
  pool: pg.Pool, schema: string, lockTimeoutMs: number, body: (client: pg.PoolClient, months: string[]) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let failed = false;
  try {
    const partitions = await client.query<{ name: string }>(listPartitionsSql, [schema]);
    const months = partitions.rows.map((r) => r.name).filter((name) => monthOfPartition(name) !== undefined);
    await client.query('SET statement_timeout = 0');
    await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
    const result = await body(client, months);
    await client.query('RESET statement_timeout');
    await client.query('RESET lock_timeout');
    return result;
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    client.release(failed);
  }
}

/**
 * Rewrites every table of the store. Throws when a table kept dead rows because another
 * transaction of the database may still read them (an open REPEATABLE READ snapshot, a long
 * report, a prepared transaction): their bytes are then still in the new files, and the caller
 * must try again once that transaction ended. Waiting for a table's lock is bounded by
 * `lockTimeoutMs` (withMaintenanceSession).
 */
export async function reclaimSpace(pool: pg.Pool, schema: string, lockTimeoutMs: number): Promise<void> {
  const kept: string[] = [];
  await withMaintenanceSession(pool, schema, lockTimeoutMs, async (client, months) => {
    let table = '';
    const onNotice = (notice: { detail?: string }): void => {
      const m = NOT_REMOVABLE.exec(notice.detail ?? '');
      if (m !== null && Number(m[1]) > 0) kept.push(`${table}: ${m[1]}`);
    };
    client.on('notice', onNotice);
    try {
      for (const name of [...months, ...PLAIN_TABLES]) {
        table = name;
        await client.query(`VACUUM (FULL, VERBOSE) ${qualified(schema, name)}`);
      }
    } finally {
      client.off('notice', onNotice);
    }
  });
  if (kept.length > 0) {
    throw new Error(
      `deleted rows are still visible to an open transaction of the database, so their bytes remain (${kept.join(', ')} dead rows); ` +
      'run again once it ended (see pg_stat_activity.backend_xmin)',
    );
  }
}

/** A plain VACUUM of the tables a checkpoint and compaction delete from (see PostgresBackend.close). */
export async function vacuumAfterStop(pool: pg.Pool, schema: string): Promise<void> {
  for (const name of [TABLE.walRecords, TABLE.marks, TABLE.chunks]) await pool.query(`VACUUM ${qualified(schema, name)}`);
}

/**
 * A partition is rewritten at a clean stop only up to this size, SQLite's bound for its own
 * stop-time VACUUM (sqlite_backend.ts): past it the rewrite's time, not the space, dominates.
 */
const REWRITE_MAX_BYTES = 512 * 1024 * 1024;
/** ... and only when at least this share of it is free space (again SQLite's rule). */
const REWRITE_MIN_FREE_SHARE = 0.25;

/**
 * A chunk row's bytes in the partition's heap besides its data: tuple header, the fixed
 * columns, the TOAST pointer and the line pointer. Measured: 0.16 MB for 1,025 rows after a
 * rewrite (24 h TSBS, pgprobe 2026-12-07), 156 bytes a row.
 */
const ROW_BYTES = 160;

/**
 * A chunk partition's row and TOAST files (their main forks: indexes and free-space maps stay
 * what they are after a rewrite) against the bytes its live rows take there. `pg_column_size`
 * reads a TOASTed value's stored size from its pointer, without fetching it (a whole-row
 * `pg_column_size(t.*)` would fetch and count it again).
 */
const partitionUsageSql = (table: string): string =>
  `SELECT pg_total_relation_size(c.oid)::bigint AS total,
          (pg_relation_size(c.oid) + coalesce(pg_relation_size(nullif(c.reltoastrelid, 0)), 0))::bigint AS files,
          (SELECT coalesce(count(*) * ${ROW_BYTES} + sum(pg_column_size(t.data)), 0) FROM ${table} t)::bigint AS live
     FROM pg_class c WHERE c.oid = '${table}'::regclass`;

/**
 * Gives the space of deleted chunk rows back to the file system at a clean stop, as SQLite's
 * stop-time VACUUM does. Compaction deletes the small chunks it merges: on the 24 h TSBS load
 * the newest partition held 9.4 MB of live chunk bytes in 21.7 MB of files after the plain
 * VACUUM, which makes that space reusable but keeps it (pgprobe, 2026-12-07: 2.64 bytes/point
 * after a restart against 1.16 for SQLite). VACUUM FULL rewrites a partition into new files;
 * it takes the partition's ACCESS EXCLUSIVE lock, which nothing else of this store waits for
 * once the writer stops, and `lock_timeout` makes a foreign reader holding it a skip, not a wait.
 * Returns the partitions rewritten.
 */
export async function rewriteSparsePartitions(pool: pg.Pool, schema: string, lockTimeoutMs: number): Promise<string[]> {
  return withMaintenanceSession(pool, schema, lockTimeoutMs, async (client, months) => {
    const rewritten: string[] = [];
    for (const name of months) {
      const table = qualified(schema, name);
      const usage = await client.query<{ total: string; files: string; live: string }>(partitionUsageSql(table));
      const total = Number(usage.rows[0]?.total ?? 0);
      const files = Number(usage.rows[0]?.files ?? 0);
      const live = Number(usage.rows[0]?.live ?? 0);
      if (files === 0 || total > REWRITE_MAX_BYTES || (files - live) / files < REWRITE_MIN_FREE_SHARE) continue;
      await client.query(`VACUUM FULL ${table}`);
      rewritten.push(name);
    }
    return rewritten;
  });
}
