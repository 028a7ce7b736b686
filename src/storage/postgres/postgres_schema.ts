/**
 * Every PostgreSQL table and its DDL, in one place (STYLE.md habit 20), and the migrations
 * that create them.
 *
 * Layout (one schema per store, default `emms`; several EMMS nodes share it):
 *
 *   schema_versions (version, description, applied_at)   migrations applied, in order
 *   series          id → tenant, metric_id, tags, metric_type
 *   wal_records     id → created_ms, points, data          columnar batches not yet in chunks
 *   chunks          (id, max_ts) → series_id, min_ts, count, codec, format_version,
 *                   sum, min, max, first, last, mean, m2, data
 *                   PARTITION BY RANGE (max_ts): one partition per UTC month (postgres_partitions.ts)
 *   marks           series_id → wal_id
 *   meta            key → value
 *   state_log       version (bigserial) → origin, db, change, row_key   the latest change of each
 *                   row of the nodes' feature databases (auth.db, alerts.db …),
 *                   src/storage/state_replication/; an append deletes the row's older entries
 *                   and `deletion` marks a row's deletion, dropped after a while (migration 3)
 *   state_claims    name → owner                   cluster-wide first-come claims (bootstrap key)
 *   state_meta      key → value (bigint)           `deletion_horizon`: the newest dropped deletion's version
 *
 * Why the shapes:
 * - `series` is keyed by the engine's id, with a UNIQUE index on (tenant, metric_id, md5(tags)):
 *   two nodes that create the same series under different ids fail the second commit rather
 *   than splitting the series. md5 because a B-tree entry must stay under ~2.7 KB and canonical
 *   tags may reach 32 × 1 KB values.
 * - `chunks` is partitioned by max_ts so retention drops whole months (DROP TABLE, no dead
 *   rows, no VACUUM) and range reads prune partitions ending before their start. The primary
 *   key must hold the partition key, hence (id, max_ts).
 * - `data` columns are STORAGE EXTERNAL: chunk and record bytes are already compressed (WASM
 *   codec, lz4), so TOAST's pglz attempt would only cost CPU on every insert.
 * - Times are BIGINT milliseconds since the epoch, as in the SQLite schema.
 */
import type pg from 'pg';

/** Schema names: a plain lower-case identifier, so it is quoted without escaping. */
export const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
export const DEFAULT_SCHEMA = 'emms';

export const TABLE = {
  schemaVersions: 'schema_versions',
  series: 'series',
  walRecords: 'wal_records',
  chunks: 'chunks',
  marks: 'marks',
  meta: 'meta',
  stateLog: 'state_log',
  stateClaims: 'state_claims',
  stateMeta: 'state_meta',
} as const;

/** Checks `options.schema` (or the spec's), naming the field and the value. */
export function checkSchemaName(value: unknown, field = 'options.schema'): string {
  if (value === undefined) return DEFAULT_SCHEMA;
  if (typeof value !== 'string' || !SCHEMA_NAME.test(value)) {
    throw new RangeError(`${field} must match ${SCHEMA_NAME.source} (a lower-case identifier); got ${JSON.stringify(value)}`);
  }
  return value;
}

/** `"schema"."table"`: both are checked identifiers, so quoting needs no escaping. */
export function qualified(schema: string, table: string): string {
  return `"${schema}"."${table}"`;
}

/**
 * Advisory lock keys (the two-int4 form, pg_advisory_xact_lock(key1, key2)): key1 is
 * hashtext('emms:<schema>'), so stores in different schemas never wait on each other; key2
 * says what is locked. Month partitions use 1 + year × 12 + month (≥ 12), so they never meet
 * MIGRATION_LOCK.
 */
export const ADVISORY_NAMESPACE = 'emms:';
export const MIGRATION_LOCK = 0;
/** Serialises appends to state_log so versions commit in order (src/storage/state_replication/). */
export const STATE_LOG_LOCK = 1;
export const lockSql = 'SELECT pg_advisory_xact_lock(hashtext($1), $2)';

export interface Migration {
  version: number;
  description: string;
  statements(schema: string): string[];
}

/** Ordered; a new one appends (never edit an applied one: nodes compare versions, not DDL). */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'tables of the storage contract; chunks partitioned by month of max_ts',
    statements: (s) => [
      `CREATE TABLE ${qualified(s, TABLE.series)} (
         id BIGINT PRIMARY KEY,
         tenant TEXT NOT NULL,
         metric_id TEXT NOT NULL,
         tags TEXT NOT NULL,
         metric_type TEXT NOT NULL
       )`,
      `CREATE UNIQUE INDEX series_identity ON ${qualified(s, TABLE.series)} (tenant, metric_id, md5(tags))`,
      `CREATE TABLE ${qualified(s, TABLE.walRecords)} (
         id BIGINT PRIMARY KEY,
         created_ms BIGINT NOT NULL,
         points INTEGER NOT NULL,
         data BYTEA NOT NULL
       )`,
      `ALTER TABLE ${qualified(s, TABLE.walRecords)} ALTER COLUMN data SET STORAGE EXTERNAL`,
      `CREATE TABLE ${qualified(s, TABLE.chunks)} (
         id BIGINT NOT NULL,
         series_id BIGINT NOT NULL,
         min_ts BIGINT NOT NULL,
         max_ts BIGINT NOT NULL,
         count INTEGER NOT NULL,
         codec SMALLINT NOT NULL,
         format_version SMALLINT NOT NULL,
         sum DOUBLE PRECISION NOT NULL,
         min DOUBLE PRECISION NOT NULL,
         max DOUBLE PRECISION NOT NULL,
         first DOUBLE PRECISION NOT NULL,
         last DOUBLE PRECISION NOT NULL,
         mean DOUBLE PRECISION NOT NULL,
         m2 DOUBLE PRECISION NOT NULL,
         data BYTEA NOT NULL,
         PRIMARY KEY (id, max_ts)
       ) PARTITION BY RANGE (max_ts)`,
      `ALTER TABLE ${qualified(s, TABLE.chunks)} ALTER COLUMN data SET STORAGE EXTERNAL`,
      `CREATE INDEX chunks_by_series_max_ts ON ${qualified(s, TABLE.chunks)} (series_id, max_ts)`,
      `CREATE TABLE ${qualified(s, TABLE.marks)} (series_id BIGINT PRIMARY KEY, wal_id BIGINT NOT NULL)`,
      `CREATE TABLE ${qualified(s, TABLE.meta)} (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
    ],
  },
  {
    version: 2,
    description: 'shared state log of the feature databases, and cluster-wide claims',
    statements: (s) => [
      `CREATE TABLE ${qualified(s, TABLE.stateLog)} (
         version BIGSERIAL PRIMARY KEY,
         origin TEXT NOT NULL,
         db TEXT NOT NULL,
         change TEXT NOT NULL,
         row_key TEXT NOT NULL,
         written_at TIMESTAMPTZ NOT NULL DEFAULT now()
       )`,
      `CREATE INDEX state_log_by_row ON ${qualified(s, TABLE.stateLog)} (md5(row_key))`,
      `CREATE TABLE ${qualified(s, TABLE.stateClaims)} (
         name TEXT PRIMARY KEY,
         owner TEXT NOT NULL,
         claimed_at TIMESTAMPTZ NOT NULL DEFAULT now()
       )`,
    ],
  },
  {
    version: 3,
    description: 'deletions in the shared state log are marked, so old ones can be dropped',
    statements: (s) => [
      `ALTER TABLE ${qualified(s, TABLE.stateLog)} ADD COLUMN deletion BOOLEAN NOT NULL DEFAULT false`,
      // Entries of earlier builds: a RowChange is written by JSON.stringify as {"t":…,"k":…,"r":…},
      // so a deletion (r null) and only a deletion ends so; a text test, since a malformed entry
      // (skipped by readers) must not fail the migration as a ::jsonb cast would.
      `UPDATE ${qualified(s, TABLE.stateLog)} SET deletion = true WHERE right(change, 10) = ',"r":null}'`,
      `CREATE INDEX state_log_deletions ON ${qualified(s, TABLE.stateLog)} (written_at) WHERE deletion`,
      `CREATE TABLE ${qualified(s, TABLE.stateMeta)} (key TEXT PRIMARY KEY, value BIGINT NOT NULL)`,
    ],
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Brings the schema to LATEST_SCHEMA_VERSION in one transaction, under the migration lock, so
 * two nodes starting at once apply each migration exactly once (the second waits, then finds
 * nothing to do). Refuses a schema a newer build has migrated: this build would misread it.
 * Returns the versions it applied.
 */
export async function migrate(client: pg.ClientBase, schema: string, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const latest = migrations[migrations.length - 1]!.version;
  await client.query('BEGIN');
  try {
    await client.query(lockSql, [ADVISORY_NAMESPACE + schema, MIGRATION_LOCK]);
    // Looked up before CREATE SCHEMA: a role without CREATE on the database may still use a
    // schema an administrator made for it.
    const exists = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rowCount === 0) await client.query(`CREATE SCHEMA "${schema}"`);
    await client.query(`CREATE TABLE IF NOT EXISTS ${qualified(schema, TABLE.schemaVersions)} (
      version INTEGER PRIMARY KEY,
      description TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`);
    const newest = await client.query<{ v: number | null }>(`SELECT max(version) AS v FROM ${qualified(schema, TABLE.schemaVersions)}`);
    const current = newest.rows[0]?.v ?? 0;
    if (current > latest) {
      throw new Error(
        `schema "${schema}" is at version ${current}, newer than this build knows (${latest}): ` +
        'upgrade EMMS on this node, or point it at another schema (storage.postgres.schema)',
      );
    }
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= current) continue;
      for (const statement of m.statements(schema)) await client.query(statement);
      await client.query(
        `INSERT INTO ${qualified(schema, TABLE.schemaVersions)} (version, description) VALUES ($1, $2)`,
        [m.version, m.description],
      );
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
