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
 * Rewrites every table of the store. Throws when a table kept dead rows because another
 * transaction of the database may still read them (an open REPEATABLE READ snapshot, a long
 * report, a prepared transaction): their bytes are then still in the new files, and the caller
 * must try again once that transaction ended. Waiting for a table's lock is bounded by
 * `lockTimeoutMs`: a transaction holding the table open makes this fail, not hang.
 */
export async function reclaimSpace(pool: pg.Pool, schema: string, lockTimeoutMs: number): Promise<void> {
  const client = await pool.connect();
  let failed = false;
  const kept: string[] = [];
  let table = '';
  const onNotice = (notice: { detail?: string }): void => {
    const m = NOT_REMOVABLE.exec(notice.detail ?? '');
    if (m !== null && Number(m[1]) > 0) kept.push(`${table}: ${m[1]}`);
  };
  client.on('notice', onNotice);
  try {
    const partitions = await client.query<{ name: string }>(listPartitionsSql, [schema]);
    await client.query('SET statement_timeout = 0');
    await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(lockTimeoutMs))}`);
    // Only partitions this back-end named (and so can quote): see postgres_partitions.ts.
    const months = partitions.rows.map((r) => r.name).filter((name) => monthOfPartition(name) !== undefined);
    for (const name of [...months, ...PLAIN_TABLES]) {
      table = name;
      await client.query(`VACUUM (FULL, VERBOSE) ${qualified(schema, name)}`);
    }
    await client.query('RESET statement_timeout');
    await client.query('RESET lock_timeout');
  } catch (error) {
    failed = true;
    throw error;
  } finally {
    client.off('notice', onNotice);
    // A failed connection may still carry the session settings above: it is not reused.
    client.release(failed);
  }
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
