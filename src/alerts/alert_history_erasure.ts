/**
 * Subject erasure in the alerting's file (`alerts.db`): history events and remediation audit
 * entries that name a subject, for `POST /api/v1/erasure`.
 *
 * "Names" means: the value is the event's alert or rule id, or a JSON string anywhere in its
 * details (labels, group keys and series tags are stored there as JSON strings), or the
 * remediation's target (a blocked address). Matched as the JSON-quoted value, so `alice`
 * does not match `alice2`. Active alerts and blocked addresses are not touched: the running
 * alerting holds them in memory and rewrites them, and a block is security state that ends on
 * its own (docs/security.md says so).
 *
 * A connection of its own (history is appended and read back by query, never cached). After
 * deleting, VACUUM and an emptied -wal file leave the erased strings in no page.
 */
import { openSqlite } from '../crypto/sqlite_cipher.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ALERTS_DB_FILE, T_ALERTS, T_AUDIT, T_BLOCKS, T_CHANNELS, T_HISTORY, T_META, T_RULES, T_SILENCES } from './alert_schema.js';

const DELETE_HISTORY = `DELETE FROM ${T_HISTORY} WHERE tenant = @tenant AND (alert_id = @value OR rule_id = @value OR instr(details, @quoted) > 0)`;
const DELETE_REMEDIATION = `DELETE FROM ${T_AUDIT} WHERE tenant = @tenant AND (target = @value OR alert_id = @value OR rule_id = @value OR instr(detail, @quoted) > 0)`;

export interface AlertErasureCounts {
  historyEvents: number;
  remediationEntries: number;
}

/** Deletes one tenant's alert history and remediation entries naming `value`. */
export function eraseAlertHistoryNaming(dataDir: string, tenant: string, value: string): AlertErasureCounts {
  const path = join(dataDir, ALERTS_DB_FILE);
  if (!existsSync(path)) return { historyEvents: 0, remediationEntries: 0 };
  const db = openSqlite(path);
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('secure_delete = ON');
    const params = { tenant, value, quoted: JSON.stringify(value) };
    let counts: AlertErasureCounts = { historyEvents: 0, remediationEntries: 0 };
    db.transaction(() => {
      counts = { historyEvents: db.prepare(DELETE_HISTORY).run(params).changes, remediationEntries: db.prepare(DELETE_REMEDIATION).run(params).changes };
    })();
    if (counts.historyEvents + counts.remediationEntries > 0) {
      db.exec('VACUUM');
      db.pragma('wal_checkpoint(TRUNCATE)');
    }
    return counts;
  } finally {
    db.close();
  }
}

/** Every table of a tenant, for tenant deletion. */
const TENANT_TABLES = [T_RULES, T_ALERTS, T_SILENCES, T_HISTORY, T_CHANNELS, T_AUDIT, T_META, T_BLOCKS];

/**
 * Deletes every row of a tenant in alerts.db. The caller first removes the tenant's rules,
 * channels and blocks through the running alerting, so that nothing in memory writes them back.
 */
export function eraseTenantAlerting(dataDir: string, tenant: string): number {
  const path = join(dataDir, ALERTS_DB_FILE);
  if (!existsSync(path)) return 0;
  const db = openSqlite(path);
  try {
    db.pragma('busy_timeout = 5000');
    db.pragma('secure_delete = ON');
    let deleted = 0;
    db.transaction(() => {
      for (const table of TENANT_TABLES) deleted += db.prepare(`DELETE FROM ${table} WHERE tenant = ?`).run(tenant).changes;
    })();
    db.exec('VACUUM');
    db.pragma('wal_checkpoint(TRUNCATE)');
    return deleted;
  } finally {
    db.close();
  }
}
