/**
 * Persistence of the alerting state in its own SQLite file (`alerts.db` in the engine's data
 * directory, WAL mode) so it never contends with the ingest writer. Every table name and the
 * DDL live here (STYLE habit 20). Rows keep the columns that are filtered on plus a JSON body
 * for the rest: alert records change shape more often than they are queried by field.
 */
import Database from 'better-sqlite3';
import type { AlertRecord, AlertState, HistoryEvent, HistoryEventKind, Silence } from './alert.js';
import type { AlertRule, Priority } from './rule.js';

export const ALERTS_DB_FILE = 'alerts.db';
const SCHEMA_VERSION = 1;

const T_RULES = 'alert_rules';
const T_ALERTS = 'alerts';
const T_SILENCES = 'alert_silences';
const T_HISTORY = 'alert_history';
const T_CHANNELS = 'alert_channels';
const T_AUDIT = 'remediation_audit';
const T_META = 'alert_meta';

const DDL = `
CREATE TABLE IF NOT EXISTS ${T_RULES} (
  rule_id TEXT PRIMARY KEY,
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ${T_ALERTS} (
  alert_id TEXT PRIMARY KEY,
  rule_id TEXT NOT NULL,
  group_key TEXT NOT NULL,
  state TEXT NOT NULL,
  priority TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  resolved_at INTEGER,
  body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_by_state ON ${T_ALERTS} (state, started_at);
CREATE INDEX IF NOT EXISTS alerts_by_rule ON ${T_ALERTS} (rule_id, started_at);
CREATE TABLE IF NOT EXISTS ${T_SILENCES} (
  silence_id TEXT PRIMARY KEY,
  ends_at INTEGER NOT NULL,
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ${T_HISTORY} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  event TEXT NOT NULL,
  alert_id TEXT,
  rule_id TEXT,
  details TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_by_time ON ${T_HISTORY} (at);
CREATE INDEX IF NOT EXISTS history_by_alert ON ${T_HISTORY} (alert_id, at);
CREATE INDEX IF NOT EXISTS history_by_rule ON ${T_HISTORY} (rule_id, at);
CREATE TABLE IF NOT EXISTS ${T_CHANNELS} (
  channel_id TEXT PRIMARY KEY,
  body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ${T_AUDIT} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
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
CREATE INDEX IF NOT EXISTS audit_by_time ON ${T_AUDIT} (at);
CREATE TABLE IF NOT EXISTS ${T_META} (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

export interface AlertFilter {
  state?: AlertState | 'active' | 'acknowledged';
  priority?: Priority;
  rule_id?: string;
  limit?: number;
}

export interface HistoryFilter {
  alert_id?: string;
  rule_id?: string;
  event?: HistoryEventKind;
  sinceMs?: number;
  untilMs?: number;
  limit?: number;
}

export type RemediationOutcome = 'ok' | 'dry_run' | 'failed' | 'rate_limited' | 'refused';

export interface AuditEntry {
  at: number;
  alert_id: string | null;
  rule_id: string | null;
  action: string;
  target: string;
  dry_run: boolean;
  outcome: RemediationOutcome;
  detail: string;
  /** End of the block / enhanced-monitoring period, when the action has one. */
  until_ms: number | null;
}

export class AlertStore {
  readonly #db: Database.Database;
  readonly #upsertAlert: Database.Statement;
  readonly #insertHistory: Database.Statement;
  readonly #deleteAlert: Database.Statement;

  constructor(readonly path: string) {
    this.#db = new Database(path);
    this.#db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode is durable against process crashes, which is what restarts need;
    // the alert state is rebuilt from the metrics themselves after a power loss anyway.
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    const version = this.#db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      throw new Error(`${path}: alert database schema version ${version} is newer than this EMMS (${SCHEMA_VERSION})`);
    }
    this.#db.exec(DDL);
    this.#db.pragma(`user_version = ${SCHEMA_VERSION}`);
    this.#upsertAlert = this.#db.prepare(
      `INSERT INTO ${T_ALERTS} (alert_id, rule_id, group_key, state, priority, started_at, resolved_at, body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(alert_id) DO UPDATE SET state = excluded.state, priority = excluded.priority,
         resolved_at = excluded.resolved_at, body = excluded.body`,
    );
    this.#deleteAlert = this.#db.prepare(`DELETE FROM ${T_ALERTS} WHERE alert_id = ?`);
    this.#insertHistory = this.#db.prepare(
      `INSERT INTO ${T_HISTORY} (at, event, alert_id, rule_id, details) VALUES (?, ?, ?, ?, ?)`,
    );
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  // ---- meta ----
  getMeta(key: string): string | undefined {
    const row = this.#db.prepare(`SELECT value FROM ${T_META} WHERE key = ?`).get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.#db.prepare(`INSERT INTO ${T_META} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`).run(key, value);
  }

  // ---- rules ----
  loadRules(): AlertRule[] {
    const rows = this.#db.prepare(`SELECT body FROM ${T_RULES} ORDER BY created_at, rowid`).all() as Array<{ body: string }>;
    return rows.map((r) => JSON.parse(r.body) as AlertRule);
  }

  saveRule(rule: AlertRule, nowMs: number): void {
    this.#db
      .prepare(
        `INSERT INTO ${T_RULES} (rule_id, body, created_at, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(rule_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`,
      )
      .run(rule.rule_id, JSON.stringify(rule), nowMs, nowMs);
  }

  saveRules(rules: readonly AlertRule[], nowMs: number): void {
    this.#db.transaction(() => {
      for (const r of rules) this.saveRule(r, nowMs);
    })();
  }

  deleteRule(ruleId: string): boolean {
    return this.#db.prepare(`DELETE FROM ${T_RULES} WHERE rule_id = ?`).run(ruleId).changes > 0;
  }

  // ---- alerts ----
  /** Pending and firing alerts, to rebuild the evaluator's state after a restart. */
  loadActiveAlerts(): AlertRecord[] {
    const rows = this.#db.prepare(`SELECT body FROM ${T_ALERTS} WHERE state IN ('pending', 'firing')`).all() as Array<{ body: string }>;
    return rows.map((r) => JSON.parse(r.body) as AlertRecord);
  }

  getAlert(alertId: string): AlertRecord | undefined {
    const row = this.#db.prepare(`SELECT body FROM ${T_ALERTS} WHERE alert_id = ?`).get(alertId) as { body: string } | undefined;
    return row ? (JSON.parse(row.body) as AlertRecord) : undefined;
  }

  listAlerts(filter: AlertFilter): AlertRecord[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.state === 'active' || filter.state === 'acknowledged') where.push(`state IN ('pending', 'firing')`);
    else if (filter.state !== undefined) {
      where.push('state = ?');
      args.push(filter.state);
    }
    if (filter.priority !== undefined) {
      where.push('priority = ?');
      args.push(filter.priority);
    }
    if (filter.rule_id !== undefined) {
      where.push('rule_id = ?');
      args.push(filter.rule_id);
    }
    const sql = `SELECT body FROM ${T_ALERTS} ${where.length ? 'WHERE ' + where.join(' AND ') : ''}
      ORDER BY started_at DESC, alert_id LIMIT ?`;
    args.push(filter.limit ?? 1000);
    const rows = this.#db.prepare(sql).all(...args) as Array<{ body: string }>;
    let out = rows.map((r) => JSON.parse(r.body) as AlertRecord);
    if (filter.state === 'acknowledged') out = out.filter((a) => a.acknowledged_at !== null);
    return out;
  }

  countAlerts(state: AlertState): number {
    return (this.#db.prepare(`SELECT count(*) AS n FROM ${T_ALERTS} WHERE state = ?`).get(state) as { n: number }).n;
  }

  /** Writes changed alerts, drops cleared ones and appends history events in one transaction. */
  saveCycle(alerts: Iterable<AlertRecord>, events: readonly HistoryEvent[], deletedAlertIds: readonly string[] = []): void {
    this.#db.transaction(() => {
      for (const id of deletedAlertIds) this.#deleteAlert.run(id);
      for (const a of alerts) {
        this.#upsertAlert.run(a.alert_id, a.rule_id, a.group_key, a.state, a.priority, a.started_at, a.resolved_at, JSON.stringify(a));
      }
      for (const e of events) this.#insertHistory.run(e.at, e.event, e.alert_id, e.rule_id, JSON.stringify(e.details));
    })();
  }

  /** Drops resolved alerts and history older than the cut-off; returns rows removed. */
  prune(beforeMs: number): number {
    return this.#db.transaction(() => {
      const a = this.#db.prepare(`DELETE FROM ${T_ALERTS} WHERE state = 'resolved' AND resolved_at < ?`).run(beforeMs).changes;
      const h = this.#db.prepare(`DELETE FROM ${T_HISTORY} WHERE at < ?`).run(beforeMs).changes;
      const r = this.#db.prepare(`DELETE FROM ${T_AUDIT} WHERE at < ?`).run(beforeMs).changes;
      const s = this.#db.prepare(`DELETE FROM ${T_SILENCES} WHERE ends_at < ?`).run(beforeMs).changes;
      return a + h + r + s;
    })();
  }

  // ---- history ----
  appendHistory(events: readonly HistoryEvent[]): void {
    if (events.length === 0) return;
    this.saveCycle([], events);
  }

  listHistory(filter: HistoryFilter): HistoryEvent[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.alert_id !== undefined) { where.push('alert_id = ?'); args.push(filter.alert_id); }
    if (filter.rule_id !== undefined) { where.push('rule_id = ?'); args.push(filter.rule_id); }
    if (filter.event !== undefined) { where.push('event = ?'); args.push(filter.event); }
    if (filter.sinceMs !== undefined) { where.push('at >= ?'); args.push(filter.sinceMs); }
    if (filter.untilMs !== undefined) { where.push('at < ?'); args.push(filter.untilMs); }
    args.push(filter.limit ?? 1000);
    const rows = this.#db
      .prepare(`SELECT at, event, alert_id, rule_id, details FROM ${T_HISTORY} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY at DESC, id DESC LIMIT ?`)
      .all(...args) as Array<{ at: number; event: HistoryEventKind; alert_id: string | null; rule_id: string | null; details: string }>;
    return rows.map((r) => ({ at: r.at, event: r.event, alert_id: r.alert_id, rule_id: r.rule_id, details: JSON.parse(r.details) as Record<string, unknown> }));
  }

  // ---- silences ----
  loadSilences(): Silence[] {
    const rows = this.#db.prepare(`SELECT body FROM ${T_SILENCES}`).all() as Array<{ body: string }>;
    return rows.map((r) => JSON.parse(r.body) as Silence);
  }

  saveSilence(s: Silence): void {
    this.#db
      .prepare(`INSERT INTO ${T_SILENCES} (silence_id, ends_at, body) VALUES (?, ?, ?) ON CONFLICT(silence_id) DO UPDATE SET ends_at = excluded.ends_at, body = excluded.body`)
      .run(s.silence_id, s.ends_at, JSON.stringify(s));
  }

  // ---- channels ----
  loadChannels(): Array<Record<string, unknown>> {
    const rows = this.#db.prepare(`SELECT body FROM ${T_CHANNELS} ORDER BY channel_id`).all() as Array<{ body: string }>;
    return rows.map((r) => JSON.parse(r.body) as Record<string, unknown>);
  }

  saveChannel(id: string, config: Record<string, unknown>): void {
    this.#db.prepare(`INSERT INTO ${T_CHANNELS} (channel_id, body) VALUES (?, ?) ON CONFLICT(channel_id) DO UPDATE SET body = excluded.body`).run(id, JSON.stringify(config));
  }

  deleteChannel(id: string): boolean {
    return this.#db.prepare(`DELETE FROM ${T_CHANNELS} WHERE channel_id = ?`).run(id).changes > 0;
  }

  // ---- remediation audit ----
  appendAudit(e: AuditEntry): void {
    this.#db
      .prepare(`INSERT INTO ${T_AUDIT} (at, alert_id, rule_id, action, target, dry_run, outcome, detail, until_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(e.at, e.alert_id, e.rule_id, e.action, e.target, e.dry_run ? 1 : 0, e.outcome, e.detail, e.until_ms);
  }

  listAudit(limit = 1000, sinceMs = 0): AuditEntry[] {
    const rows = this.#db
      .prepare(`SELECT at, alert_id, rule_id, action, target, dry_run, outcome, detail, until_ms FROM ${T_AUDIT} WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?`)
      .all(sinceMs, limit) as Array<Omit<AuditEntry, 'dry_run'> & { dry_run: number }>;
    return rows.map((r) => ({ ...r, dry_run: r.dry_run === 1 }));
  }
}
