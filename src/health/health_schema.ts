/** Names and DDL of the health monitor's own SQLite file (`health.db` in the engine's data directory). */

export const HEALTH_DB_FILE = 'health.db';
export const HEALTH_SCHEMA_VERSION = 1;

export const HEALTH_DDL = `
CREATE TABLE IF NOT EXISTS targets (
  target_id TEXT PRIMARY KEY,
  definition TEXT NOT NULL,
  last_status TEXT NOT NULL DEFAULT 'unknown',
  last_check INTEGER,
  last_response_time_ms REAL,
  last_status_code INTEGER,
  last_error TEXT,
  consecutive_failures INTEGER NOT NULL DEFAULT 0
);
`;

export const HEALTH_SQL = {
  selectTargets: 'SELECT * FROM targets',
  insertTarget: 'INSERT INTO targets (target_id, definition) VALUES (?, ?)',
  deleteTarget: 'DELETE FROM targets WHERE target_id = ?',
  updateStatus: `UPDATE targets SET last_status = @last_status, last_check = @last_check,
    last_response_time_ms = @last_response_time_ms, last_status_code = @last_status_code,
    last_error = @last_error, consecutive_failures = @consecutive_failures WHERE target_id = @target_id`,
} as const;
