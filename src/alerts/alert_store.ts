/**
 * Persistence of the alerting state in its own SQLite file (`alerts.db` in the engine's data
 * directory, WAL mode, mode 0600) so it never contends with the ingest writer. Table names, DDL
 * and the version-1 migration are in alert_schema.ts. Rows keep the columns that are filtered
 * on plus a JSON body for the rest: alert records change shape more often than they are
 * queried by field. Every query is scoped by tenant except the server-wide ones (restore,
 * prune, blocks).
 *
 * Channel bodies hold secrets (webhook secrets and headers, URL tokens): they are sealed with
 * the SecretBox (AES-256-GCM, key in `<data dir>/secrets.key`), and plaintext rows of older
 * files are sealed when the file is opened.
 */
import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { openSqlite } from '../crypto/sqlite_cipher.js';
import type { AlertRecord, AlertState, HistoryEvent, HistoryEventKind } from './alert.js';
import {
  ALERTS_DDL, ALERTS_MIGRATE_V1_TO_V2, ALERTS_SCHEMA_VERSION, ALERTS_V1_INDEXES, ALERTS_V1_TABLES,
  T_ALERTS, T_AUDIT, T_BLOCKS, T_CHANNELS, T_HISTORY, T_META, T_RULES, T_SILENCES,
} from './alert_schema.js';
import type { BlockEntry } from './ip_blocklist.js';
import type { AlertRule, Priority } from './rule.js';
import { SecretBox } from './secret_box.js';
import type { Silence } from './silences.js';

export { ALERTS_DB_FILE } from './alert_schema.js';

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
  tenant: string;
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

/** Where a rule came from: only `config` rules may run `command` actions. */
export type RuleOrigin = 'api' | 'config' | 'predefined';

export interface StoredRule {
  tenant: string;
  origin: RuleOrigin;
  rule: AlertRule;
}

export interface AlertKey {
  tenant: string;
  alert_id: string;
}

const channelAad = (tenant: string, id: string): string => `${T_CHANNELS}/${tenant}/${id}`;

export class AlertStore {
  readonly #db: Database.Database;
  readonly #box: SecretBox;
  readonly #upsertAlert: Database.Statement;
  readonly #insertHistory: Database.Statement;
  readonly #deleteAlert: Database.Statement;

  constructor(readonly path: string, secretBox: SecretBox) {
    this.#box = secretBox;
    if (path !== ':memory:') createPrivate(path);
    this.#db = openSqlite(path);
    this.#db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode is durable against process crashes, which is what restarts need;
    // the alert state is rebuilt from the metrics themselves after a power loss anyway.
    this.#db.pragma('synchronous = NORMAL');
    this.#db.pragma('busy_timeout = 5000');
    // Deleted content is overwritten, so a removed channel or a resealed plaintext row leaves
    // no secret in free pages.
    this.#db.pragma('secure_delete = ON');
    try {
      this.#migrate();
    } catch (err) {
      this.#db.close();
      throw err;
    }
    this.#upsertAlert = this.#db.prepare(
      `INSERT INTO ${T_ALERTS} (tenant, alert_id, rule_id, group_key, state, priority, started_at, resolved_at, body)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(tenant, alert_id) DO UPDATE SET state = excluded.state, priority = excluded.priority,
         resolved_at = excluded.resolved_at, body = excluded.body`,
    );
    this.#deleteAlert = this.#db.prepare(`DELETE FROM ${T_ALERTS} WHERE tenant = ? AND alert_id = ?`);
    this.#insertHistory = this.#db.prepare(
      `INSERT INTO ${T_HISTORY} (tenant, at, event, alert_id, rule_id, details) VALUES (?, ?, ?, ?, ?, ?)`,
    );
  }

  #migrate(): void {
    const version = this.#db.pragma('user_version', { simple: true }) as number;
    if (version > ALERTS_SCHEMA_VERSION) {
      throw new Error(`${this.path}: alert database schema version ${version} is newer than this EMMS (${ALERTS_SCHEMA_VERSION})`);
    }
    const hasV1Tables = version < 2 && this.#db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(T_RULES) !== undefined;
    let resealed = 0;
    this.#db.transaction(() => {
      if (hasV1Tables) {
        for (const index of ALERTS_V1_INDEXES) this.#db.exec(`DROP INDEX IF EXISTS ${index}`);
        for (const table of ALERTS_V1_TABLES) this.#db.exec(`ALTER TABLE ${table} RENAME TO ${table}_v1`);
      }
      this.#db.exec(ALERTS_DDL);
      if (hasV1Tables) this.#db.exec(ALERTS_MIGRATE_V1_TO_V2);
      // Plaintext channel rows (version 1, or written by hand) are sealed now.
      const rows = this.#db.prepare(`SELECT tenant, channel_id, body FROM ${T_CHANNELS}`).all() as Array<{ tenant: string; channel_id: string; body: string }>;
      const reseal = this.#db.prepare(`UPDATE ${T_CHANNELS} SET body = ? WHERE tenant = ? AND channel_id = ?`);
      for (const r of rows) {
        if (SecretBox.isSealed(r.body)) continue;
        reseal.run(this.#box.seal(r.body, channelAad(r.tenant, r.channel_id)), r.tenant, r.channel_id);
        resealed++;
      }
      this.#db.pragma(`user_version = ${ALERTS_SCHEMA_VERSION}`);
    })();
    if (resealed > 0 || hasV1Tables) {
      // Once: rewrite the file so no page of the old plaintext rows survives (WAL included).
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
      this.#db.exec('VACUUM');
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    }
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  // ---- meta ----
  getMeta(tenant: string, key: string): string | undefined {
    const row = this.#db.prepare(`SELECT value FROM ${T_META} WHERE tenant = ? AND key = ?`).get(tenant, key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(tenant: string, key: string, value: string): void {
    this.#db.prepare(`INSERT INTO ${T_META} (tenant, key, value) VALUES (?, ?, ?) ON CONFLICT(tenant, key) DO UPDATE SET value = excluded.value`).run(tenant, key, value);
  }

  // ---- rules ----
  loadRules(): StoredRule[] {
    const rows = this.#db.prepare(`SELECT tenant, origin, body FROM ${T_RULES} ORDER BY created_at, rowid`).all() as Array<{ tenant: string; origin: RuleOrigin; body: string }>;
    return rows.map((r) => ({ tenant: r.tenant, origin: r.origin, rule: JSON.parse(r.body) as AlertRule }));
  }

  saveRule(tenant: string, origin: RuleOrigin, rule: AlertRule, nowMs: number): void {
    this.#db
      .prepare(
        `INSERT INTO ${T_RULES} (tenant, rule_id, origin, body, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT(tenant, rule_id) DO UPDATE SET origin = excluded.origin, body = excluded.body, updated_at = excluded.updated_at`,
      )
      .run(tenant, rule.rule_id, origin, JSON.stringify(rule), nowMs, nowMs);
  }

  saveRules(rules: readonly StoredRule[], nowMs: number): void {
    this.#db.transaction(() => {
      for (const r of rules) this.saveRule(r.tenant, r.origin, r.rule, nowMs);
    })();
  }

  deleteRule(tenant: string, ruleId: string): boolean {
    return this.#db.prepare(`DELETE FROM ${T_RULES} WHERE tenant = ? AND rule_id = ?`).run(tenant, ruleId).changes > 0;
  }

  // ---- alerts ----
  /** Pending and firing alerts of every tenant, to rebuild the evaluator's state after a restart. */
  loadActiveAlerts(): AlertRecord[] {
    const rows = this.#db.prepare(`SELECT tenant, body FROM ${T_ALERTS} WHERE state IN ('pending', 'firing')`).all() as Array<{ tenant: string; body: string }>;
    return rows.map((r) => ({ ...(JSON.parse(r.body) as AlertRecord), tenant: r.tenant }));
  }

  getAlert(tenant: string, alertId: string): AlertRecord | undefined {
    const row = this.#db.prepare(`SELECT body FROM ${T_ALERTS} WHERE tenant = ? AND alert_id = ?`).get(tenant, alertId) as { body: string } | undefined;
    return row ? { ...(JSON.parse(row.body) as AlertRecord), tenant } : undefined;
  }

  listAlerts(tenant: string, filter: AlertFilter): AlertRecord[] {
    const where: string[] = ['tenant = ?'];
    const args: unknown[] = [tenant];
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
    const sql = `SELECT body FROM ${T_ALERTS} WHERE ${where.join(' AND ')} ORDER BY started_at DESC, alert_id LIMIT ?`;
    args.push(filter.limit ?? 1000);
    const rows = this.#db.prepare(sql).all(...args) as Array<{ body: string }>;
    let out = rows.map((r) => ({ ...(JSON.parse(r.body) as AlertRecord), tenant }));
    if (filter.state === 'acknowledged') out = out.filter((a) => a.acknowledged_at !== null);
    return out;
  }

  /** Alerts in `state`, of one tenant or (null) of all. */
  countAlerts(tenant: string | null, state: AlertState): number {
    const row = tenant === null
      ? this.#db.prepare(`SELECT count(*) AS n FROM ${T_ALERTS} WHERE state = ?`).get(state)
      : this.#db.prepare(`SELECT count(*) AS n FROM ${T_ALERTS} WHERE tenant = ? AND state = ?`).get(tenant, state);
    return (row as { n: number }).n;
  }

  /** Writes changed alerts, drops cleared ones and appends history events in one transaction. */
  saveCycle(alerts: Iterable<AlertRecord>, events: readonly HistoryEvent[], deleted: readonly AlertKey[] = []): void {
    this.#db.transaction(() => {
      for (const k of deleted) this.#deleteAlert.run(k.tenant, k.alert_id);
      for (const a of alerts) {
        this.#upsertAlert.run(a.tenant, a.alert_id, a.rule_id, a.group_key, a.state, a.priority, a.started_at, a.resolved_at, JSON.stringify(a));
      }
      for (const e of events) this.#insertHistory.run(e.tenant, e.at, e.event, e.alert_id, e.rule_id, JSON.stringify(e.details));
    })();
  }

  /** Drops resolved alerts, history, audit, silences and blocks older than the cut-off; returns rows removed. */
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

  listHistory(tenant: string, filter: HistoryFilter): HistoryEvent[] {
    const where: string[] = ['tenant = ?'];
    const args: unknown[] = [tenant];
    if (filter.alert_id !== undefined) { where.push('alert_id = ?'); args.push(filter.alert_id); }
    if (filter.rule_id !== undefined) { where.push('rule_id = ?'); args.push(filter.rule_id); }
    if (filter.event !== undefined) { where.push('event = ?'); args.push(filter.event); }
    if (filter.sinceMs !== undefined) { where.push('at >= ?'); args.push(filter.sinceMs); }
    if (filter.untilMs !== undefined) { where.push('at < ?'); args.push(filter.untilMs); }
    args.push(filter.limit ?? 1000);
    const rows = this.#db
      .prepare(`SELECT at, event, alert_id, rule_id, details FROM ${T_HISTORY} WHERE ${where.join(' AND ')} ORDER BY at DESC, id DESC LIMIT ?`)
      .all(...args) as Array<{ at: number; event: HistoryEventKind; alert_id: string | null; rule_id: string | null; details: string }>;
    return rows.map((r) => ({ tenant, at: r.at, event: r.event, alert_id: r.alert_id, rule_id: r.rule_id, details: JSON.parse(r.details) as Record<string, unknown> }));
  }

  // ---- silences ----
  loadSilences(): Silence[] {
    const rows = this.#db.prepare(`SELECT tenant, body FROM ${T_SILENCES}`).all() as Array<{ tenant: string; body: string }>;
    return rows.map((r) => ({ ...(JSON.parse(r.body) as Silence), tenant: r.tenant }));
  }

  saveSilence(s: Silence): void {
    this.#db
      .prepare(`INSERT INTO ${T_SILENCES} (tenant, silence_id, ends_at, body) VALUES (?, ?, ?, ?) ON CONFLICT(tenant, silence_id) DO UPDATE SET ends_at = excluded.ends_at, body = excluded.body`)
      .run(s.tenant, s.silence_id, s.ends_at, JSON.stringify(s));
  }

  // ---- channels (sealed) ----
  loadChannels(): Array<{ tenant: string; config: Record<string, unknown> }> {
    const rows = this.#db.prepare(`SELECT tenant, channel_id, body FROM ${T_CHANNELS} ORDER BY tenant, channel_id`).all() as Array<{ tenant: string; channel_id: string; body: string }>;
    return rows.map((r) => ({ tenant: r.tenant, config: JSON.parse(this.#box.open(r.body, channelAad(r.tenant, r.channel_id))) as Record<string, unknown> }));
  }

  saveChannel(tenant: string, id: string, config: Record<string, unknown>): void {
    const body = this.#box.seal(JSON.stringify(config), channelAad(tenant, id));
    this.#db.prepare(`INSERT INTO ${T_CHANNELS} (tenant, channel_id, body) VALUES (?, ?, ?) ON CONFLICT(tenant, channel_id) DO UPDATE SET body = excluded.body`).run(tenant, id, body);
  }

  deleteChannel(tenant: string, id: string): boolean {
    return this.#db.prepare(`DELETE FROM ${T_CHANNELS} WHERE tenant = ? AND channel_id = ?`).run(tenant, id).changes > 0;
  }

  // ---- remediation audit ----
  appendAudit(e: AuditEntry): void {
    this.#db
      .prepare(`INSERT INTO ${T_AUDIT} (tenant, at, alert_id, rule_id, action, target, dry_run, outcome, detail, until_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(e.tenant, e.at, e.alert_id, e.rule_id, e.action, e.target, e.dry_run ? 1 : 0, e.outcome, e.detail, e.until_ms);
  }

  /** One tenant's audit, newest first; `tenant` null: every tenant's (rate-limit windows on open). */
  listAudit(tenant: string | null, limit = 1000, sinceMs = 0): AuditEntry[] {
    const cols = 'tenant, at, alert_id, rule_id, action, target, dry_run, outcome, detail, until_ms';
    const rows = (tenant === null
      ? this.#db.prepare(`SELECT ${cols} FROM ${T_AUDIT} WHERE at >= ? ORDER BY at DESC, id DESC LIMIT ?`).all(sinceMs, limit)
      : this.#db.prepare(`SELECT ${cols} FROM ${T_AUDIT} WHERE tenant = ? AND at >= ? ORDER BY at DESC, id DESC LIMIT ?`).all(tenant, sinceMs, limit)
    ) as Array<Omit<AuditEntry, 'dry_run'> & { dry_run: number }>;
    return rows.map((r) => ({ ...r, dry_run: r.dry_run === 1 }));
  }

  // ---- blocked addresses ----
  loadBlocks(): BlockEntry[] {
    return this.#db.prepare(`SELECT tenant, ip, until_ms, rule_id, alert_id, created_at FROM ${T_BLOCKS}`).all() as BlockEntry[];
  }

  saveBlock(b: BlockEntry): void {
    this.#db
      .prepare(`INSERT INTO ${T_BLOCKS} (tenant, ip, until_ms, rule_id, alert_id, created_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(tenant, ip) DO UPDATE SET until_ms = excluded.until_ms, rule_id = excluded.rule_id, alert_id = excluded.alert_id, created_at = excluded.created_at`)
      .run(b.tenant, b.ip, b.until_ms, b.rule_id, b.alert_id, b.created_at);
  }

  deleteBlock(tenant: string, ip: string): boolean {
    return this.#db.prepare(`DELETE FROM ${T_BLOCKS} WHERE tenant = ? AND ip = ?`).run(tenant, ip).changes > 0;
  }

  deleteExpiredBlocks(nowMs: number): number {
    return this.#db.prepare(`DELETE FROM ${T_BLOCKS} WHERE until_ms <= ?`).run(nowMs).changes;
  }
}

/**
 * Creates the database file with mode 0600 before SQLite opens it (SQLite would create it with
 * the umask's mode, and its -wal and -shm files copy the main file's mode); an existing file is
 * narrowed to 0600, since it holds sealed secrets and alert contents.
 */
function createPrivate(path: string): void {
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    for (const f of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  }
}
