/**
 * What a PostgreSQL write transaction sends: the recorded operations folded into their net
 * effect, then into a few multi-row statements (one per table and kind, not one per row).
 *
 * Folding keeps the meaning of running the operations one by one, in order, as SQLite does:
 * per key, the last operation wins, and a ranged delete ("records ≤ w") also removes what
 * the same transaction wrote earlier inside its range. The net effect is then applied as
 * "ranged deletes, keyed deletes, then inserts", which gives that same final state because
 * after folding no key is both deleted by a later step and written by an earlier one.
 *
 * Statements:
 * - keyed rows go as arrays (`unnest($1::bigint[], …)`, `= ANY($1)`): one statement text
 *   whatever the row count, so PostgreSQL parses it once per call;
 * - byte columns (write-ahead records, chunks) go as multi-row VALUES whose BYTEA parameters
 *   the driver sends in binary: inside an array literal they would travel as hex text, twice
 *   their size, and cost an escape pass on both sides;
 * - a transaction of inserts and upserts only (the ingest path: new series, one record, some
 *   chunks and marks) becomes ONE statement of data-modifying CTEs. A single statement is
 *   atomic without BEGIN/COMMIT, so the commit is one round trip instead of three or more
 *   (pg's client runs queued queries one after another, it does not pipeline). Deletes never
 *   go into CTEs: sibling CTEs see the same snapshot, and a row touched by two of them is
 *   left in an unspecified state (PostgreSQL docs, "Data-Modifying Statements in WITH").
 */
import { CHUNK_FORMAT_VERSION } from '../../core/codec.js';
import { CODEC_EMMS_CHUNK, type EncodedChunk } from '../chunk_encoding.js';
import type { SeriesRow, WalRecordRow } from '../backend.js';
import { TABLE, qualified } from './postgres_schema.js';
import { monthOf, type MonthIndex, type Statement } from './postgres_partitions.js';

/** Ids and wal ids are safe integers: "every id" as a bound. */
const ALL = Number.MAX_SAFE_INTEGER;
/** Rows per multi-row VALUES statement: 13 parameters per chunk, PostgreSQL's limit is 65,535. */
export const ROWS_PER_VALUES_STATEMENT = 1000;
/** Most parameters one combined statement carries before the plan is sent as a transaction. */
export const MAX_COMBINED_PARAMETERS = 30_000;

export interface ChunkInsert {
  id: number;
  seriesId: number;
  chunk: EncodedChunk;
}

function identityOf(row: SeriesRow): string {
  return JSON.stringify([row.tenant, row.metricId, row.canonicalTags]);
}

/** The net effect of a transaction's recorded operations. */
export class WritePlan {
  readonly seriesDeletes = new Map<string, SeriesRow>();
  readonly seriesInserts = new Map<string, SeriesRow>();
  walDeleteUpTo: number | undefined;
  readonly walInserts = new Map<number, WalRecordRow>();
  readonly chunkDeletes = new Set<number>();
  readonly chunkInserts = new Map<number, ChunkInsert>();
  markDeleteUpTo: number | undefined;
  readonly markDeletes = new Set<number>();
  readonly markUpserts = new Map<number, number>();
  readonly meta = new Map<string, string | undefined>();

  insertSeries(row: SeriesRow): void {
    this.seriesInserts.set(identityOf(row), row);
  }

  deleteSeries(row: SeriesRow): void {
    const key = identityOf(row);
    this.seriesInserts.delete(key);
    this.seriesDeletes.set(key, row);
  }

  appendWalRecord(record: WalRecordRow): void {
    this.walInserts.set(record.id, record);
  }

  deleteWalRecordsUpTo(walId: number): void {
    this.walDeleteUpTo = Math.max(this.walDeleteUpTo ?? -Infinity, walId);
    for (const id of this.walInserts.keys()) if (id <= walId) this.walInserts.delete(id);
  }

  insertChunk(id: number, seriesId: number, chunk: EncodedChunk): void {
    this.chunkInserts.set(id, { id, seriesId, chunk });
  }

  deleteChunk(id: number): void {
    // A chunk written by this same transaction never reached the table: forgetting it is the delete.
    if (!this.chunkInserts.delete(id)) this.chunkDeletes.add(id);
  }

  setMark(seriesId: number, walId: number): void {
    this.markUpserts.set(seriesId, walId);
  }

  deleteMarksUpTo(walId: number): void {
    this.markDeleteUpTo = Math.max(this.markDeleteUpTo ?? -Infinity, walId);
    for (const [seriesId, mark] of this.markUpserts) {
      if (mark > walId) continue;
      // The earlier setMark replaced the stored row, and this delete removes it: the stored
      // row goes even when its own (older) wal id was above the range.
      this.markUpserts.delete(seriesId);
      this.markDeletes.add(seriesId);
    }
  }

  setMeta(key: string, value: string | undefined): void {
    this.meta.set(key, value);
  }

  /** Months of the chunks this plan inserts (their partitions must exist). */
  months(): Set<MonthIndex> {
    const out = new Set<MonthIndex>();
    for (const c of this.chunkInserts.values()) out.add(monthOf(c.chunk.maxTs));
    return out;
  }
}

/** Numbered parameters of one statement. */
export class Params {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** A statement body written against a Params, so several can share one combined statement. */
type Piece = (p: Params) => string;

function bounded(walId: number): number {
  return Math.min(walId, ALL);
}

function deletePieces(schema: string, plan: WritePlan): Piece[] {
  const out: Piece[] = [];
  if (plan.seriesDeletes.size > 0) {
    const rows = [...plan.seriesDeletes.values()];
    out.push((p) => `DELETE FROM ${qualified(schema, TABLE.series)} s
      USING unnest(${p.add(rows.map((r) => r.tenant))}::text[], ${p.add(rows.map((r) => r.metricId))}::text[], ${p.add(rows.map((r) => r.canonicalTags))}::text[]) AS u(tenant, metric_id, tags)
      WHERE s.tenant = u.tenant AND s.metric_id = u.metric_id AND md5(s.tags) = md5(u.tags) AND s.tags = u.tags`);
  }
  if (plan.walDeleteUpTo !== undefined) {
    const upTo = bounded(plan.walDeleteUpTo);
    out.push((p) => `DELETE FROM ${qualified(schema, TABLE.walRecords)} WHERE id <= ${p.add(upTo)}::bigint`);
  }
  if (plan.chunkDeletes.size > 0) {
    const ids = [...plan.chunkDeletes];
    out.push((p) => `DELETE FROM ${qualified(schema, TABLE.chunks)} WHERE id = ANY(${p.add(ids)}::bigint[])`);
  }
  if (plan.markDeleteUpTo !== undefined) {
    const upTo = bounded(plan.markDeleteUpTo);
    out.push((p) => `DELETE FROM ${qualified(schema, TABLE.marks)} WHERE wal_id <= ${p.add(upTo)}::bigint`);
  }
  if (plan.markDeletes.size > 0) {
    const ids = [...plan.markDeletes];
    out.push((p) => `DELETE FROM ${qualified(schema, TABLE.marks)} WHERE series_id = ANY(${p.add(ids)}::bigint[])`);
  }
  const metaDeletes = [...plan.meta].filter(([, v]) => v === undefined).map(([k]) => k);
  if (metaDeletes.length > 0) {
    out.push((p) => `DELETE FROM ${qualified(schema, TABLE.meta)} WHERE key = ANY(${p.add(metaDeletes)}::text[])`);
  }
  return out;
}

function inBatches<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function insertPieces(schema: string, plan: WritePlan): Piece[] {
  const out: Piece[] = [];
  if (plan.seriesInserts.size > 0) {
    const rows = [...plan.seriesInserts.values()];
    out.push((p) => `INSERT INTO ${qualified(schema, TABLE.series)} (id, tenant, metric_id, tags, metric_type)
      SELECT * FROM unnest(${p.add(rows.map((r) => r.id))}::bigint[], ${p.add(rows.map((r) => r.tenant))}::text[],
        ${p.add(rows.map((r) => r.metricId))}::text[], ${p.add(rows.map((r) => r.canonicalTags))}::text[], ${p.add(rows.map((r) => r.metricType))}::text[])`);
  }
  for (const batch of inBatches([...plan.walInserts.values()], ROWS_PER_VALUES_STATEMENT)) {
    out.push((p) => `INSERT INTO ${qualified(schema, TABLE.walRecords)} (id, created_ms, points, data) VALUES ` +
      batch.map((r) => `(${p.add(r.id)}::bigint, ${p.add(r.createdMs)}::bigint, ${p.add(r.points)}::integer, ${p.add(r.data)}::bytea)`).join(', '));
  }
  for (const batch of inBatches([...plan.chunkInserts.values()], ROWS_PER_VALUES_STATEMENT)) {
    out.push((p) => `INSERT INTO ${qualified(schema, TABLE.chunks)}
      (id, series_id, min_ts, max_ts, count, codec, format_version, sum, min, max, first, last, mean, m2, data) VALUES ` +
      batch.map(({ id, seriesId, chunk: c }) =>
        `(${p.add(id)}::bigint, ${p.add(seriesId)}::bigint, ${p.add(c.minTs)}::bigint, ${p.add(c.maxTs)}::bigint, ${p.add(c.count)}::integer, ` +
        `${CODEC_EMMS_CHUNK}, ${CHUNK_FORMAT_VERSION}, ${p.add(c.sum)}::float8, ${p.add(c.min)}::float8, ${p.add(c.max)}::float8, ` +
        `${p.add(c.firstValue)}::float8, ${p.add(c.lastValue)}::float8, ${p.add(c.mean)}::float8, ${p.add(c.m2)}::float8, ${p.add(c.bytes)}::bytea)`,
      ).join(', '));
  }
  if (plan.markUpserts.size > 0) {
    const seriesIds = [...plan.markUpserts.keys()];
    const walIds = [...plan.markUpserts.values()];
    out.push((p) => `INSERT INTO ${qualified(schema, TABLE.marks)} (series_id, wal_id)
      SELECT * FROM unnest(${p.add(seriesIds)}::bigint[], ${p.add(walIds)}::bigint[])
      ON CONFLICT (series_id) DO UPDATE SET wal_id = EXCLUDED.wal_id`);
  }
  const metaSets = [...plan.meta].filter((e): e is [string, string] => e[1] !== undefined);
  if (metaSets.length > 0) {
    out.push((p) => `INSERT INTO ${qualified(schema, TABLE.meta)} (key, value)
      SELECT * FROM unnest(${p.add(metaSets.map(([k]) => k))}::text[], ${p.add(metaSets.map(([, v]) => v))}::text[])
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`);
  }
  return out;
}

function alone(piece: Piece): Statement {
  const p = new Params();
  const text = piece(p);
  return { text, values: p.values };
}

/** Parameters the plan's inserts bind (to decide whether they fit one combined statement). */
function insertParameterCount(plan: WritePlan): number {
  return (plan.seriesInserts.size > 0 ? 5 : 0) + plan.walInserts.size * 4 + plan.chunkInserts.size * 13 +
    (plan.markUpserts.size > 0 ? 2 : 0) + (plan.meta.size > 0 ? 2 : 0);
}

export interface PlannedWrite {
  /** Statements in order; run inside BEGIN…COMMIT unless `atomic`. */
  statements: Statement[];
  /** True when `statements` is one statement that needs no transaction around it. */
  atomic: boolean;
}

/**
 * The statements of a plan. `before` (partition creation) runs first, inside the same
 * transaction. An empty plan gives no statement at all.
 */
export function planStatements(schema: string, plan: WritePlan, before: readonly Statement[] = []): PlannedWrite {
  const deletes = deletePieces(schema, plan);
  const inserts = insertPieces(schema, plan);
  if (before.length === 0 && deletes.length === 0 && inserts.length === 1) return { statements: [alone(inserts[0]!)], atomic: true };
  if (before.length === 0 && deletes.length === 0 && inserts.length > 1 && insertParameterCount(plan) <= MAX_COMBINED_PARAMETERS) {
    const p = new Params();
    const ctes = inserts.map((piece, i) => `w${i} AS (${piece(p)})`);
    return { statements: [{ text: `WITH ${ctes.join(',\n')}\nSELECT 1`, values: p.values }], atomic: true };
  }
  return { statements: [...before, ...deletes.map(alone), ...inserts.map(alone)], atomic: false };
}
