/**
 * Names and DDL of the key inventory's own SQLite file (`keys.db` in the engine's data
 * directory, never the engine's database). Every table and column literal of src/keys/ lives
 * here (STYLE.md habit 20).
 *
 * Tenancy: every table has a `tenant` column that leads its primary or unique key, so two
 * tenants may hold the same key_id, record the same audit ids and keep their own meta values.
 *
 * Versions (`PRAGMA user_version`):
 * - 1: one tenant, no `tenant` column;
 * - 2: `tenant` in every table. Opening a version-1 file migrates it in one transaction:
 *   every row becomes tenant `default` (KEYS_MIGRATE_V1_TO_V2).
 */

export const KEYS_DB_FILE = 'keys.db';
export const KEYS_SCHEMA_VERSION = 2;

export const KEYS_DDL = `
CREATE TABLE IF NOT EXISTS keys (
  tenant TEXT NOT NULL,
  key_id TEXT NOT NULL,
  key_type TEXT NOT NULL,
  algorithm TEXT NOT NULL,
  owner TEXT NOT NULL,
  backend TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  rotation_period_days REAL,
  state TEXT NOT NULL,
  tags TEXT NOT NULL,
  last_rotated_at INTEGER,
  operations_since_rotation INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, key_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS policy_violations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant TEXT NOT NULL,
  key_id TEXT NOT NULL,
  rule TEXT NOT NULL,
  reason TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  count INTEGER NOT NULL,
  event_type TEXT,
  actor TEXT,
  source_ip TEXT
);
CREATE INDEX IF NOT EXISTS policy_violations_by_tenant ON policy_violations (tenant, id);
CREATE INDEX IF NOT EXISTS policy_violations_by_tenant_key ON policy_violations (tenant, key_id, id);
CREATE TABLE IF NOT EXISTS meta (
  tenant TEXT NOT NULL,
  name TEXT NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY (tenant, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS imported_records (
  tenant TEXT NOT NULL,
  source TEXT NOT NULL,
  record_id TEXT NOT NULL,
  PRIMARY KEY (tenant, source, record_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS open_conditions (
  tenant TEXT NOT NULL,
  key_id TEXT NOT NULL,
  rule TEXT NOT NULL,
  since INTEGER NOT NULL,
  PRIMARY KEY (tenant, key_id, rule)
) WITHOUT ROWID;
`;

/** Tables of version 1, renamed aside before KEYS_DDL creates their version-2 shapes. */
export const KEYS_V1_TABLES = ['keys', 'policy_violations', 'meta', 'imported_records', 'open_conditions'] as const;

/**
 * Copies the renamed version-1 tables (`<table>_v1`) into the version-2 tables as tenant
 * `default` and drops them (their indexes go with them). Run after KEYS_DDL, in the same
 * transaction as the renames.
 */
export const KEYS_MIGRATE_V1_TO_V2 = `
INSERT INTO keys (tenant, key_id, key_type, algorithm, owner, backend, created_at, expires_at,
    rotation_period_days, state, tags, last_rotated_at, operations_since_rotation, updated_at)
  SELECT 'default', key_id, key_type, algorithm, owner, backend, created_at, expires_at,
    rotation_period_days, state, tags, last_rotated_at, operations_since_rotation, updated_at FROM keys_v1;
INSERT INTO policy_violations (id, tenant, key_id, rule, reason, timestamp, count, event_type, actor, source_ip)
  SELECT id, 'default', key_id, rule, reason, timestamp, count, event_type, actor, source_ip FROM policy_violations_v1;
INSERT INTO meta (tenant, name, value) SELECT 'default', name, value FROM meta_v1;
INSERT INTO imported_records (tenant, source, record_id) SELECT 'default', source, record_id FROM imported_records_v1;
INSERT INTO open_conditions (tenant, key_id, rule, since) SELECT 'default', key_id, rule, since FROM open_conditions_v1;
DROP TABLE keys_v1;
DROP TABLE policy_violations_v1;
DROP TABLE meta_v1;
DROP TABLE imported_records_v1;
DROP TABLE open_conditions_v1;
`;

/** Columns of a violation as the API shows it (no tenant: the caller's own). */
const VIOLATION_COLUMNS = 'id, key_id, rule, reason, timestamp, count, event_type, actor, source_ip';

export const SQL = {
  selectKeys: 'SELECT * FROM keys',
  upsertKey: `INSERT INTO keys (tenant, key_id, key_type, algorithm, owner, backend, created_at, expires_at,
      rotation_period_days, state, tags, last_rotated_at, operations_since_rotation, updated_at)
    VALUES (@tenant, @key_id, @key_type, @algorithm, @owner, @backend, @created_at, @expires_at,
      @rotation_period_days, @state, @tags, @last_rotated_at, @operations_since_rotation, @updated_at)
    ON CONFLICT (tenant, key_id) DO UPDATE SET key_type = excluded.key_type, algorithm = excluded.algorithm,
      owner = excluded.owner, backend = excluded.backend, created_at = excluded.created_at,
      expires_at = excluded.expires_at, rotation_period_days = excluded.rotation_period_days,
      state = excluded.state, tags = excluded.tags, last_rotated_at = excluded.last_rotated_at,
      operations_since_rotation = excluded.operations_since_rotation, updated_at = excluded.updated_at`,
  insertViolation: `INSERT INTO policy_violations (tenant, key_id, rule, reason, timestamp, count, event_type, actor, source_ip)
    VALUES (@tenant, @key_id, @rule, @reason, @timestamp, @count, @event_type, @actor, @source_ip)`,
  selectViolations: `SELECT ${VIOLATION_COLUMNS} FROM policy_violations WHERE tenant = @tenant
    AND (@key_id IS NULL OR key_id = @key_id) AND (@rule IS NULL OR rule = @rule) ORDER BY id DESC LIMIT @limit`,
  selectOpenConditions: 'SELECT tenant, key_id, rule, since FROM open_conditions',
  insertOpenCondition: 'INSERT OR IGNORE INTO open_conditions (tenant, key_id, rule, since) VALUES (?, ?, ?, ?)',
  deleteOpenCondition: 'DELETE FROM open_conditions WHERE tenant = ? AND key_id = ? AND rule = ?',
  selectMetaByTenant: 'SELECT tenant, value FROM meta WHERE name = ?',
  selectImported: 'SELECT 1 FROM imported_records WHERE tenant = ? AND source = ? AND record_id = ?',
  insertImported: 'INSERT OR IGNORE INTO imported_records (tenant, source, record_id) VALUES (?, ?, ?)',
  upsertMeta: 'INSERT INTO meta (tenant, name, value) VALUES (?, ?, ?) ON CONFLICT (tenant, name) DO UPDATE SET value = excluded.value',
  tableColumns: 'SELECT name FROM pragma_table_info(?)',
} as const;

/** meta.name of the oldest timestamp ever written behind a counter series' newest point. */
export const META_MIN_BACKFILL_TS = 'min_backfill_ts';
