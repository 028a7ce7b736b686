/**
 * Chunk reads from PostgreSQL (backend.ts's ChunkSource). The engine's thread reads through
 * the back-end's pool (PostgresBackend.chunkSource); each query worker opens its own small
 * pool from a WorkerSourceSpec (openPostgresChunkSource). Every call is ONE statement, so it
 * sees one snapshot of committed chunks, like SQLite's one-statement reads.
 *
 * Same answers as the SQLite source (../schema.ts): rows overlapping [start, end) with
 * id ≤ maxChunkId, in (min_ts, id) order per series; aggregationRows leaves `data` null only
 * when summaries are on and the chunk lies inside the range and inside one bucket,
 * floor(min_ts / interval) = floor(max_ts / interval) computed in float8 exactly as the
 * reader's JS re-check does (Math.floor of an IEEE division), so both always agree.
 *
 * - Many series per statement: `series_id = ANY($1::bigint[])` (one round trip per 64 series).
 * - Bounds are bound as BIGINT so the (series_id, max_ts) index and partition pruning apply;
 *   a bound that is fractional or infinite is first rounded the way the comparison means it
 *   (`x >= start` ⇔ `x >= ceil(start)` for integer x) and clamped to safe integers.
 * - Rows come unsorted from the server and are put in (min_ts, id) order here: an ORDER BY
 *   would make PostgreSQL sort tuples with their blobs (megabytes, past work_mem).
 * - newestBefore/newest: one LATERAL probe per series, each a backward index scan stopping at
 *   its first row, not a scan of the series' history.
 */
import type pg from 'pg';
import type { AggregationRead, ChunkEdge, ChunkRow, ChunkSource, WorkerSourceSpec } from '../backend.js';
import { inMinTsOrder } from '../chunk_order.js';
import { TABLE, checkSchemaName, qualified } from './postgres_schema.js';
import { parsePostgresLocation, wrapPostgresError, type PostgresLocation } from './postgres_location.js';
import { DEFAULT_STATEMENT_TIMEOUT_MS, MAX_STATEMENT_TIMEOUT_MS, createPool, integerOption, type ManagedPool } from './postgres_connection.js';

const STATS = 'id, series_id, min_ts, max_ts, count, codec, format_version, sum, min, max, first, last, mean, m2';
const SAFE = Number.MAX_SAFE_INTEGER;
/** Connections of a query worker's own pool: a worker runs one task's reads at a time. */
export const WORKER_POOL_SIZE = 2;

/** A lower bound `x >= v` as an integer bound. */
export function lowerBound(v: number): number {
  if (Number.isNaN(v)) throw new RangeError(`BUG: a read bound is NaN`);
  return Math.max(-SAFE, Math.min(SAFE, Math.ceil(v)));
}

/** An upper bound `x < v` as an integer bound (same rounding: x < v ⇔ x < ceil(v)). */
export const upperBound = lowerBound;

/** `id <= v` as an integer bound. */
export function idBound(v: number): number {
  if (Number.isNaN(v)) throw new RangeError(`BUG: maxChunkId is NaN`);
  return Math.max(-SAFE, Math.min(SAFE, Math.floor(v)));
}

/** The SQL of one store's reads. */
export function readSql(schema: string): Record<'aggregation' | 'range' | 'data' | 'newestBefore' | 'newest', string> {
  const chunks = qualified(schema, TABLE.chunks);
  return {
    aggregation: `SELECT ${STATS},
        CASE WHEN $1::boolean AND min_ts >= $2 AND max_ts < $3
                  AND floor(min_ts::float8 / $4::float8) = floor(max_ts::float8 / $4::float8)
             THEN NULL ELSE data END AS data
      FROM ${chunks}
      WHERE series_id = ANY($5::bigint[]) AND max_ts >= $2::bigint AND min_ts < $3::bigint AND id <= $6::bigint`,
    range: `SELECT ${STATS}, data FROM ${chunks}
      WHERE series_id = $1::bigint AND max_ts >= $2::bigint AND min_ts < $3::bigint AND id <= $4::bigint`,
    data: `SELECT id, data FROM ${chunks} WHERE id = ANY($1::bigint[])`,
    newestBefore: `SELECT s.id AS series_id, c.max_ts, c.last
      FROM unnest($1::bigint[]) AS s(id)
      CROSS JOIN LATERAL (
        SELECT max_ts, last FROM ${chunks}
        WHERE series_id = s.id AND max_ts < $2::bigint AND id <= $3::bigint
        ORDER BY max_ts DESC, id DESC LIMIT 1
      ) c`,
    newest: `SELECT s.id AS series_id, c.max_ts, c.last
      FROM unnest($1::bigint[]) AS s(id)
      CROSS JOIN LATERAL (
        SELECT max_ts, last FROM ${chunks} WHERE series_id = s.id ORDER BY max_ts DESC, id DESC LIMIT 1
      ) c`,
  };
}

/** Summaries need a finite positive bucket; otherwise every chunk comes with its data (always allowed). */
function summariesUsable(read: AggregationRead): boolean {
  return read.summaries && Number.isFinite(read.intervalMs) && read.intervalMs > 0;
}

function edges(rows: readonly { series_id: number; max_ts: number; last: number }[]): Map<number, ChunkEdge> {
  const out = new Map<number, ChunkEdge>();
  for (const r of rows) out.set(r.series_id, { max_ts: r.max_ts, last: r.last });
  return out;
}

export class PostgresChunkSource implements ChunkSource {
  readonly #pool: pg.Pool;
  readonly #location: PostgresLocation;
  readonly #sql: ReturnType<typeof readSql>;
  /** Prepared statement names are per connection; the schema keeps two stores' apart. */
  readonly #prefix: string;
  /** Ends the pool at close() when this source owns it (a worker's). */
  readonly #owned: ManagedPool | undefined;

  constructor(pool: pg.Pool, schema: string, location: PostgresLocation, owned?: ManagedPool) {
    this.#pool = pool;
    this.#location = location;
    this.#sql = readSql(schema);
    this.#prefix = `emms_${schema}_`;
    this.#owned = owned;
  }

  /** Named: each connection prepares the statement once and then skips parsing and planning (~30 % of a 64-series read). */
  async #query<R extends pg.QueryResultRow>(action: string, name: keyof ReturnType<typeof readSql>, values: unknown[]): Promise<R[]> {
    try {
      return (await this.#pool.query<R>({ name: `${this.#prefix}${name}`, text: this.#sql[name], values })).rows;
    } catch (error) {
      throw wrapPostgresError(error, this.#location, action);
    }
  }

  async aggregationRows(seriesIds: readonly number[], read: AggregationRead): Promise<Map<number, ChunkRow[]>> {
    const bySeries = new Map<number, ChunkRow[]>();
    for (const id of seriesIds) bySeries.set(id, []);
    if (seriesIds.length === 0) return bySeries;
    const summaries = summariesUsable(read);
    const rows = await this.#query<ChunkRow>('aggregation read', 'aggregation', [
      summaries, lowerBound(read.startMs), upperBound(read.endMs), summaries ? read.intervalMs : 1,
      seriesIds, idBound(read.maxChunkId),
    ]);
    for (const row of rows) bySeries.get(row.series_id)?.push(row);
    for (const list of bySeries.values()) inMinTsOrder(list);
    return bySeries;
  }

  async rangeRows(seriesId: number, startMs: number, endMs: number, maxChunkId: number): Promise<ChunkRow[]> {
    const rows = await this.#query<ChunkRow>('range read', 'range', [seriesId, lowerBound(startMs), upperBound(endMs), idBound(maxChunkId)]);
    return inMinTsOrder(rows);
  }

  async chunkData(ids: readonly number[]): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>();
    if (ids.length === 0) return out;
    const rows = await this.#query<{ id: number; data: Uint8Array }>('chunk data read', 'data', [ids]);
    for (const r of rows) out.set(r.id, r.data);
    return out;
  }

  async newestBefore(seriesIds: readonly number[], timeMs: number, maxChunkId: number): Promise<Map<number, ChunkEdge>> {
    if (seriesIds.length === 0) return new Map();
    return edges(await this.#query('newest-before read', 'newestBefore', [seriesIds, upperBound(timeMs), idBound(maxChunkId)]));
  }

  async newest(seriesIds: readonly number[]): Promise<Map<number, ChunkEdge>> {
    if (seriesIds.length === 0) return new Map();
    return edges(await this.#query('newest read', 'newest', [seriesIds]));
  }

  async close(): Promise<void> {
    await this.#owned?.end();
  }
}

/** A query worker's source: its own pool (chunk_sources.ts calls this in the worker's thread). */
export async function openPostgresChunkSource(spec: Extract<WorkerSourceSpec, { kind: 'postgresql' }>): Promise<ChunkSource> {
  const location = parsePostgresLocation(spec.url, 'spec.url');
  const schema = checkSchemaName(spec.schema, 'spec.schema');
  const statementTimeoutMs = integerOption('spec.statementTimeoutMs', spec.statementTimeoutMs, DEFAULT_STATEMENT_TIMEOUT_MS, 1, MAX_STATEMENT_TIMEOUT_MS);
  const managed = createPool(location, { size: WORKER_POOL_SIZE, statementTimeoutMs });
  return new PostgresChunkSource(managed.pool, schema, location, managed);
}
