/**
 * Monthly partitions of the chunks table (declarative RANGE partitioning on max_ts, UTC
 * months): named `chunks_YYYY_MM`, covering [first ms of the month, first ms of the next).
 *
 * - Created on demand, inside the transaction that first writes a chunk ending in that month:
 *   `CREATE TABLE IF NOT EXISTS … PARTITION OF …` after an advisory transaction lock keyed by
 *   the month, so two nodes (or a writer and retention) creating or dropping the same month
 *   take turns; the second finds the table and skips it. Locks are taken in month order, so
 *   two transactions needing several months cannot deadlock. There is no DEFAULT partition:
 *   a chunk always lands in its month's table, and dropping a month never has to scan one.
 * - Creating (and dropping) a partition locks the parent table ACCESS EXCLUSIVE until the
 *   transaction ends: reads of chunks wait for it, once a month per node at most.
 * - Retention drops whole months whose end is at or before its cutoff: every chunk in them
 *   ends before the cutoff, so they hold only expired points.
 */
import { ADVISORY_NAMESPACE, TABLE, lockSql, qualified } from './postgres_schema.js';

/** Years partitions may cover (Date.UTC maps years below 100 to 19xx); EMMS stores [1970, 2200) (src/model/metric.ts). */
const MIN_YEAR = 1000;
const MAX_YEAR = 9999;
const NAME = /^chunks_(\d{4})_(\d{2})$/;

/** A UTC month as one integer: year × 12 + month (0-based). */
export type MonthIndex = number;

export function monthOf(ms: number): MonthIndex {
  const d = new Date(ms);
  const year = d.getUTCFullYear();
  if (!Number.isFinite(ms) || !(year >= MIN_YEAR && year <= MAX_YEAR)) {
    throw new RangeError(`BUG: chunk max_ts=${ms} is outside the years ${MIN_YEAR}–${MAX_YEAR} chunk partitions cover`);
  }
  return year * 12 + d.getUTCMonth();
}

/** [from, to) of a month, in ms since the epoch. */
export function monthBounds(month: MonthIndex): [number, number] {
  const year = Math.floor(month / 12);
  const m = month % 12;
  return [Date.UTC(year, m, 1), Date.UTC(year, m + 1, 1)];
}

export function partitionName(month: MonthIndex): string {
  const year = Math.floor(month / 12);
  return `${TABLE.chunks}_${String(year).padStart(4, '0')}_${String((month % 12) + 1).padStart(2, '0')}`;
}

/** The month of a partition this module named, or undefined for any other table. */
export function monthOfPartition(name: string): MonthIndex | undefined {
  const m = NAME.exec(name);
  if (m === null) return undefined;
  const month = Number(m[2]);
  if (month < 1 || month > 12) return undefined;
  return Number(m[1]) * 12 + month - 1;
}

/** Advisory lock key2 of a month (key1 is the schema's namespace). */
export function monthLockKey(month: MonthIndex): number {
  return 1 + month;
}

export interface Statement {
  text: string;
  values?: unknown[];
}

/** Statements that make sure each month's partition exists, to run first in a transaction. */
export function createPartitionStatements(schema: string, months: Iterable<MonthIndex>): Statement[] {
  const out: Statement[] = [];
  for (const month of [...new Set(months)].sort((a, b) => a - b)) {
    const [from, to] = monthBounds(month);
    const table = qualified(schema, partitionName(month));
    out.push({ text: lockSql, values: [ADVISORY_NAMESPACE + schema, monthLockKey(month)] });
    out.push({
      text: `CREATE TABLE IF NOT EXISTS ${table} PARTITION OF ${qualified(schema, TABLE.chunks)} FOR VALUES FROM (${from}) TO (${to})`,
    });
    // Partitions do not inherit the parent's column storage (PostgreSQL 15).
    out.push({ text: `ALTER TABLE ${table} ALTER COLUMN data SET STORAGE EXTERNAL` });
  }
  return out;
}

/** Lists the chunk partitions of a schema: (name). */
export const listPartitionsSql = `SELECT c.relname AS name
  FROM pg_inherits i
  JOIN pg_class c ON c.oid = i.inhrelid
  JOIN pg_class p ON p.oid = i.inhparent
  JOIN pg_namespace n ON n.oid = p.relnamespace
  WHERE n.nspname = $1 AND p.relname = '${TABLE.chunks}'`;

/** Months whose partitions lie wholly before `cutoffMs` (their end ≤ cutoff), oldest first. */
export function monthsBefore(months: Iterable<MonthIndex>, cutoffMs: number): MonthIndex[] {
  return [...months].filter((m) => monthBounds(m)[1] <= cutoffMs).sort((a, b) => a - b);
}

/**
 * The time below which dropChunkPartitionsBefore(cutoffMs) removed every chunk: the start of
 * the cutoff's month (chunks ending before it lived in dropped months). An engine keeping a
 * chunk catalogue forgets its chunks with maxTs below this.
 */
export function partitionFloor(cutoffMs: number): number {
  if (cutoffMs <= Date.UTC(MIN_YEAR, 0, 1)) return cutoffMs;
  if (cutoffMs >= Date.UTC(MAX_YEAR + 1, 0, 1)) return Date.UTC(MAX_YEAR + 1, 0, 1);
  return monthBounds(monthOf(cutoffMs))[0];
}
