/**
 * Names and DDL of the key inventory's own SQLite file (`keys.db` in the engine's data
 * directory, never the engine's database). Every table and column literal of src/keys/ lives
 * here (STYLE.md habit 20).
 */

export const KEYS_DB_FILE = 'keys.db';
export const KEYS_SCHEMA_VERSION = 1;

export const KEYS_DDL = `
CREATE TABLE IF NOT EXISTS keys (
  key_id TEXT PRIMARY KEY,
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
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_violations (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  key_id TEXT NOT NULL,
  rule TEXT NOT NULL,
  reason TEXT NOT NULL,
  timestamp INTEGER NOT NULL,
  count INTEGER NOT NULL,
  event_type TEXT,
  actor TEXT,
  source_ip TEXT
);
CREATE INDEX IF NOT EXISTS policy_violations_by_key ON policy_violations (key_id, timestamp);
CREATE TABLE IF NOT EXISTS meta (
  name TEXT PRIMARY KEY,
  value REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS imported_records (
  source TEXT NOT NULL,
  record_id TEXT NOT NULL,
  PRIMARY KEY (source, record_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS open_conditions (
  key_id TEXT NOT NULL,
  rule TEXT NOT NULL,
  since INTEGER NOT NULL,
  PRIMARY KEY (key_id, rule)
) WITHOUT ROWID;
`;

export const SQL = {
  selectKeys: 'SELECT * FROM keys',
  upsertKey: `INSERT INTO keys (key_id, key_type, algorithm, owner, backend, created_at, expires_at,
      rotation_period_days, state, tags, last_rotated_at, operations_since_rotation, updated_at)
    VALUES (@key_id, @key_type, @algorithm, @owner, @backend, @created_at, @expires_at,
      @rotation_period_days, @state, @tags, @last_rotated_at, @operations_since_rotation, @updated_at)
    ON CONFLICT (key_id) DO UPDATE SET key_type = excluded.key_type, algorithm = excluded.algorithm,
      owner = excluded.owner, backend = excluded.backend, created_at = excluded.created_at,
      expires_at = excluded.expires_at, rotation_period_days = excluded.rotation_period_days,
      state = excluded.state, tags = excluded.tags, last_rotated_at = excluded.last_rotated_at,
      operations_since_rotation = excluded.operations_since_rotation, updated_at = excluded.updated_at`,
  insertViolation: `INSERT INTO policy_violations (key_id, rule, reason, timestamp, count, event_type, actor, source_ip)
    VALUES (@key_id, @rule, @reason, @timestamp, @count, @event_type, @actor, @source_ip)`,
  selectViolations: `SELECT * FROM policy_violations WHERE (@key_id IS NULL OR key_id = @key_id)
    AND (@rule IS NULL OR rule = @rule) ORDER BY id DESC LIMIT @limit`,
  selectOpenConditions: 'SELECT key_id, rule, since FROM open_conditions',
  insertOpenCondition: 'INSERT OR IGNORE INTO open_conditions (key_id, rule, since) VALUES (?, ?, ?)',
  deleteOpenCondition: 'DELETE FROM open_conditions WHERE key_id = ? AND rule = ?',
  selectMeta: 'SELECT value FROM meta WHERE name = ?',
  selectImported: 'SELECT 1 FROM imported_records WHERE source = ? AND record_id = ?',
  insertImported: 'INSERT OR IGNORE INTO imported_records (source, record_id) VALUES (?, ?)',
  upsertMeta: 'INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value',
} as const;

/** meta.name of the oldest timestamp ever written behind a counter series' newest point. */
export const META_MIN_BACKFILL_TS = 'min_backfill_ts';
