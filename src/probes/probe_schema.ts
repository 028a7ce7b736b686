/**
 * Names and DDL of the prober's own SQLite file. The file keeps its historical name
 * `health.db` (in the engine's data directory) so that existing installations keep their
 * targets across the rename of the feature to "probes".
 *
 * Version 2 keys every target by tenant: `(tenant, target_id)` is the primary key, so two
 * tenants may each have a target `api`. A version-1 file (no tenant column) is migrated on open:
 * its rows become tenant `default`.
 */
import { DEFAULT_TENANT } from '../model/tenant.js';

export const PROBE_DB_FILE = 'health.db';
export const PROBE_SCHEMA_VERSION = 2;

const TARGETS_V2 = `
CREATE TABLE IF NOT EXISTS targets (
  tenant TEXT NOT NULL,
  target_id TEXT NOT NULL,
  definition TEXT NOT NULL,
  last_status TEXT NOT NULL DEFAULT 'unknown',
  last_check INTEGER,
  last_response_time_ms REAL,
  last_status_code INTEGER,
  last_error TEXT,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, target_id)
);
`;

export const PROBE_DDL = TARGETS_V2;

const STATE_COLUMNS = 'definition, last_status, last_check, last_response_time_ms, last_status_code, last_error, consecutive_failures';

/** Version 1 → 2: the table gains `tenant`, part of the key; existing rows become tenant `default`. */
export const MIGRATE_V1_TO_V2 = `
ALTER TABLE targets RENAME TO targets_v1;
${TARGETS_V2}
INSERT INTO targets (tenant, target_id, ${STATE_COLUMNS}) SELECT '${DEFAULT_TENANT}', target_id, ${STATE_COLUMNS} FROM targets_v1;
DROP TABLE targets_v1;
`;

export const PROBE_SQL = {
  tableColumns: "SELECT name FROM pragma_table_info('targets')",
  selectTargets: 'SELECT * FROM targets',
  insertTarget: 'INSERT INTO targets (tenant, target_id, definition) VALUES (?, ?, ?)',
  deleteTarget: 'DELETE FROM targets WHERE tenant = ? AND target_id = ?',
  updateStatus: `UPDATE targets SET last_status = @last_status, last_check = @last_check,
    last_response_time_ms = @last_response_time_ms, last_status_code = @last_status_code,
    last_error = @last_error, consecutive_failures = @consecutive_failures WHERE tenant = @tenant AND target_id = @target_id`,
} as const;
