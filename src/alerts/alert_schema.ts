/**
 * Names and DDL of the alerting's own SQLite file (`alerts.db` in the engine's data directory).
 * Every table name and the DDL live here (STYLE habit 20); alert_store.ts holds the queries.
 *
 * Tenancy: every table has a `tenant` column that leads its primary key or its indexes, so two
 * tenants may hold rules, channels and silences with the same ids.
 *
 * Versions (`PRAGMA user_version`):
 * - 1: one tenant, no `tenant` column; blocks re-applied from the remediation audit.
 * - 2: `tenant` in every table, `origin` of rules (api, config, predefined), the
 *   `blocked_ips` table, channel bodies sealed (secret_box.ts). Opening a version-1 file
 *   migrates it in one transaction: every row becomes tenant `default`, blocks still running
 *   are copied from the audit into blocked_ips, and channel bodies are sealed.
 */

export const ALERTS_DB_FILE = 'alerts.db';
export const ALERTS_SCHEMA_VERSION = 2;

export const T_RULES = 'alert_rules';
export const T_ALERTS = 'alerts';
export const T_SILENCES = 'alert_silences';
export const T_HISTORY = 'alert_history';
export const T_CHANNELS = 'alert_channels';
export const T_AUDIT = 'remediation_audit';
export const T_META = 'alert_meta';
export const T_BLOCKS = 'blocked_ips';

export const ALERTS_DDL = `
CREATE TABLE IF NOT EXISTS ${T_RULES} (
  tenant TEXT NOT NULL,
  rule_id TEXT NOT NULL,
  origin TEXT NOT NULL,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, rule_id)
);
CREATE TABLE IF NOT EXISTS ${T_ALERTS} (
  tenant TEXT NOT NULL,
  alert_id TEXT NOT NULL,
  rule_id TEXT NOT NULL,
  group_key TEXT NOT NULL,
  state TEXT NOT NULL,
  priority TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  resolved_at INTEGER,
  body TEXT NOT NULL,
  PRIMARY KEY (tenant, alert_id)
);
CREATE INDEX IF NOT EXISTS alerts_by_state ON ${T_ALERTS} (tenant, state, started_at);
CREATE INDEX IF NOT EXISTS alerts_by_rule ON ${T_ALERTS} (tenant, rule_id, started_at);
CREATE INDEX IF NOT EXISTS alerts_by_resolved ON ${T_ALERTS} (state, resolved_at);
CREATE TABLE IF NOT EXISTS ${T_SILENCES} (
  tenant TEXT NOT NULL,
  silence_id TEXT NOT NULL,
  ends_at INTEGER NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (tenant, silence_id)
);
CREATE TABLE IF NOT EXISTS ${T_HISTORY} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant TEXT NOT NULL,
  at INTEGER NOT NULL,
  event TEXT NOT NULL,
  alert_id TEXT,
  rule_id TEXT,
  details TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_time ON ${T_HISTORY} (tenant, at);
CREATE INDEX IF NOT EXISTS history_by_alert ON ${T_HISTORY} (tenant, alert_id, at);
CREATE INDEX IF NOT EXISTS history_by_rule ON ${T_HISTORY} (tenant, rule_id, at);
CREATE INDEX IF NOT EXISTS history_by_age ON ${T_HISTORY} (at);
CREATE TABLE IF NOT EXISTS ${T_CHANNELS} (
  tenant TEXT NOT NULL,
  channel_id TEXT NOT NULL,
  body TEXT NOT NULL,
  PRIMARY KEY (tenant, channel_id)
);
CREATE TABLE IF NOT EXISTS ${T_AUDIT} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tenant TEXT NOT NULL,
  at INTEGER NOT NULL,
  alert_id TEXT,
  rule_id TEXT,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  dry_run INTEGER NOT NULL,
  outcome TEXT NOT NULL,
  detail TEXT NOT NULL,
  until_ms INTEGER
);
CREATE INDEX IF NOT EXISTS audit_by_time ON ${T_AUDIT} (tenant, at);
CREATE INDEX IF NOT EXISTS audit_by_age ON ${T_AUDIT} (at);
CREATE TABLE IF NOT EXISTS ${T_META} (
  tenant TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY (tenant, key)
);
CREATE TABLE IF NOT EXISTS ${T_BLOCKS} (
  tenant TEXT NOT NULL,
  ip TEXT NOT NULL,
  until_ms INTEGER NOT NULL,
  rule_id TEXT,
  alert_id TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, ip)
);
`;

/** Tables of version 1, renamed aside (`<table>_v1`) before ALERTS_DDL creates their version-2 shapes. */
export const ALERTS_V1_TABLES = [T_RULES, T_ALERTS, T_SILENCES, T_HISTORY, T_CHANNELS, T_AUDIT, T_META] as const;

/** Version-1 index names, which would otherwise clash with the version-2 ones. */
export const ALERTS_V1_INDEXES = ['alerts_by_state', 'alerts_by_rule', 'history_by_time', 'history_by_alert', 'history_by_rule', 'audit_by_time'] as const;

/**
 * Copies the renamed version-1 tables into the version-2 ones as tenant `default` and drops
 * them. Run after ALERTS_DDL, in the same transaction as the renames. Blocks still running are
 * taken from the audit (version 1 re-applied them from there); the protected-address checks of
 * the blocklist run again when they are restored.
 */
export const ALERTS_MIGRATE_V1_TO_V2 = `
INSERT INTO ${T_RULES} (tenant, rule_id, origin, body, created_at, updated_at)
  SELECT 'default', rule_id, CASE WHEN rule_id LIKE 'predefined.%' THEN 'predefined' ELSE 'api' END, body, created_at, updated_at FROM ${T_RULES}_v1;
INSERT INTO ${T_ALERTS} (tenant, alert_id, rule_id, group_key, state, priority, started_at, resolved_at, body)
  SELECT 'default', alert_id, rule_id, group_key, state, priority, started_at, resolved_at, body FROM ${T_ALERTS}_v1;
INSERT INTO ${T_SILENCES} (tenant, silence_id, ends_at, body) SELECT 'default', silence_id, ends_at, body FROM ${T_SILENCES}_v1;
INSERT INTO ${T_HISTORY} (id, tenant, at, event, alert_id, rule_id, details)
  SELECT id, 'default', at, event, alert_id, rule_id, details FROM ${T_HISTORY}_v1;
INSERT INTO ${T_CHANNELS} (tenant, channel_id, body) SELECT 'default', channel_id, body FROM ${T_CHANNELS}_v1;
INSERT INTO ${T_AUDIT} (id, tenant, at, alert_id, rule_id, action, target, dry_run, outcome, detail, until_ms)
  SELECT id, 'default', at, alert_id, rule_id, action, target, dry_run, outcome, detail, until_ms FROM ${T_AUDIT}_v1;
INSERT INTO ${T_META} (tenant, key, value) SELECT 'default', key, value FROM ${T_META}_v1;
INSERT OR REPLACE INTO ${T_BLOCKS} (tenant, ip, until_ms, rule_id, alert_id, created_at)
  SELECT 'default', target, MAX(until_ms), rule_id, alert_id, at FROM ${T_AUDIT}_v1
  WHERE action = 'block_ip' AND outcome = 'ok' AND until_ms IS NOT NULL GROUP BY target;
DROP TABLE ${T_RULES}_v1;
DROP TABLE ${T_ALERTS}_v1;
DROP TABLE ${T_SILENCES}_v1;
DROP TABLE ${T_HISTORY}_v1;
DROP TABLE ${T_CHANNELS}_v1;
DROP TABLE ${T_AUDIT}_v1;
DROP TABLE ${T_META}_v1;
`;
