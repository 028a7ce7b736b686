/**
 * alerts.db: the version-1 → 2 migration (every row to tenant `default`, channel bodies
 * sealed, running blocks moved out of the audit), sealing of channel secrets at rest, file
 * modes, and tenant scoping of the store's queries.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlertStore } from '../../src/alerts/alert_store.js';
import { SecretBox, SecretBoxError } from '../../src/alerts/secret_box.js';
import { harness, T, T0, type Harness } from './alerts_test_kit.js';

let dir: string;
let h: Harness | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-alert-store-'));
});
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** The version-1 schema as EMMS wrote it before tenants (a fixture: this is what is on disk). */
const V1_DDL = `
CREATE TABLE alert_rules (rule_id TEXT PRIMARY KEY, body TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE alerts (alert_id TEXT PRIMARY KEY, rule_id TEXT NOT NULL, group_key TEXT NOT NULL, state TEXT NOT NULL, priority TEXT NOT NULL, started_at INTEGER NOT NULL, resolved_at INTEGER, body TEXT NOT NULL);
CREATE INDEX alerts_by_state ON alerts (state, started_at);
CREATE INDEX alerts_by_rule ON alerts (rule_id, started_at);
CREATE TABLE alert_silences (silence_id TEXT PRIMARY KEY, ends_at INTEGER NOT NULL, body TEXT NOT NULL);
CREATE TABLE alert_history (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, event TEXT NOT NULL, alert_id TEXT, rule_id TEXT, details TEXT NOT NULL);
CREATE INDEX history_by_time ON alert_history (at);
CREATE INDEX history_by_alert ON alert_history (alert_id, at);
CREATE INDEX history_by_rule ON alert_history (rule_id, at);
CREATE TABLE alert_channels (channel_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE remediation_audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, alert_id TEXT, rule_id TEXT, action TEXT NOT NULL, target TEXT NOT NULL, dry_run INTEGER NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL, until_ms INTEGER);
CREATE INDEX audit_by_time ON remediation_audit (at);
CREATE TABLE alert_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
PRAGMA user_version = 1;
`;

function writeV1(path: string): void {
  const db = new Database(path);
  db.exec(V1_DDL);
  const rule = { rule_id: 'cpu', name: 'CPU', description: '', metric_pattern: 'cpu', threshold_value: 90, comparison: '>', duration_seconds: 0, priority: 'HIGH',
    use_anomaly_detection: false, ml_sensitivity: 0.5, anomaly_method: 'auto', tags: {}, aggregation: 'last', window_seconds: 300, group_by: null,
    channels: ['hook'], escalation: [], remediation: [{ type: 'command', command: 'isolate' }], labels: {}, annotations: {}, enabled: true, resolve_after_seconds: 0 };
  db.prepare('INSERT INTO alert_rules VALUES (?, ?, ?, ?)').run('cpu', JSON.stringify(rule), T0, T0);
  const alert = { alert_id: 'a1', rule_id: 'cpu', name: 'CPU', group_key: 'cpu\u0000host=a', state: 'firing', priority: 'HIGH', metric_id: 'cpu', tags: { host: 'a' },
    value: 95, threshold: 90, anomaly_score: null, started_at: T0, fired_at: T0, resolved_at: null, acknowledged_by: null, acknowledged_at: null, ack_comment: null,
    escalation_level: 0, annotations: {}, labels: {}, false_since: null, notified_state: 'firing', remediated: true, updated_at: T0 };
  db.prepare('INSERT INTO alerts VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run('a1', 'cpu', alert.group_key, 'firing', 'HIGH', T0, null, JSON.stringify(alert));
  db.prepare('INSERT INTO alert_silences VALUES (?, ?, ?)').run('s1', T0 + 3_600_000, JSON.stringify({ silence_id: 's1', matchers: { rule_id: 'cpu' }, starts_at: T0, ends_at: T0 + 3_600_000, created_by: 'ann', comment: '', created_at: T0 }));
  db.prepare('INSERT INTO alert_history (at, event, alert_id, rule_id, details) VALUES (?, ?, ?, ?, ?)').run(T0, 'firing', 'a1', 'cpu', '{}');
  db.prepare('INSERT INTO alert_channels VALUES (?, ?)').run('hook', JSON.stringify({ id: 'hook', type: 'webhook', url: 'https://hooks.example.org/x', secret: 'plaintext-secret-1234' }));
  const audit = db.prepare('INSERT INTO remediation_audit (at, alert_id, rule_id, action, target, dry_run, outcome, detail, until_ms) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?)');
  // The lock-out of issue 12: 127.0.0.1 blocked for 366 days; and an ordinary block.
  audit.run(T0, 'a1', 'cpu', 'block_ip', '127.0.0.1', 'ok', 'blocked', T0 + 366 * 86_400_000);
  audit.run(T0, 'a1', 'cpu', 'block_ip', '198.51.100.4', 'ok', 'blocked', T0 + 3_600_000);
  db.prepare('INSERT INTO alert_meta VALUES (?, ?)').run('predefined_rules_installed', new Date(T0).toISOString());
  db.close();
}

describe('alerts.db', () => {
  it('migrates a version-1 file: rows to tenant default, channel secrets sealed, blocks out of the audit', async () => {
    writeV1(join(dir, 'alerts.db'));
    const logged: string[] = [];
    h = harness({ databasePath: join(dir, 'alerts.db'), log: (_l, m) => logged.push(m), remediation: { commands: { isolate: '/bin/true' } } });
    h.clock.t = T0 + 1000;
    await h.reopen();
    const a = h.alerting;
    expect(a.listRules(T).map((r) => [r.rule_id, r.channels, r.remediation])).toEqual([['cpu', ['hook'], []]]);
    expect(logged).toContain('rule default/cpu: command actions dropped (only rules of the configuration file may run commands)');
    expect(a.listAlerts(T, { state: 'firing' }).map((x) => x.alert_id)).toEqual(['a1']);
    expect(a.listSilences(T).map((s) => s.silence_id)).toEqual(['s1']);
    expect(a.history(T, { alert_id: 'a1' }).map((e) => e.event)).toEqual(['firing']);
    expect(a.remediationAudit(T)).toHaveLength(2);
    expect(a.listChannels(T).find((c) => c.id === 'hook')).toMatchObject({ secret: '[redacted]' });
    // Nothing of another tenant.
    expect(a.listRules('acme')).toEqual([]);
    expect(a.listAlerts('acme')).toEqual([]);
    // The loopback lock-out is dropped (and logged); the ordinary block is back.
    expect(a.ipBlocklist.isBlocked('127.0.0.1')).toBe(false);
    expect(a.ipBlocklist.isBlocked('198.51.100.4')).toBe(true);
    expect(a.listBlockedIps(T).map((b) => b.ip)).toEqual(['198.51.100.4']);
    expect(logged.some((m) => m.includes('"127.0.0.1"') && m.includes('loopback'))).toBe(true);
    await h.alerting.stop();

    const db = new Database(join(dir, 'alerts.db'), { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    const channel = db.prepare('SELECT tenant, body FROM alert_channels').get() as { tenant: string; body: string };
    expect(channel.tenant).toBe('default');
    expect(channel.body.startsWith('sealed:v1:')).toBe(true);
    expect((db.prepare('SELECT count(*) AS n FROM blocked_ips').get() as { n: number }).n).toBe(1);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name LIKE '%_v1'").all()).toEqual([]);
    db.close();
    expect(readFileSync(join(dir, 'alerts.db')).includes('plaintext-secret-1234')).toBe(false);
  });

  it('creates alerts.db and secrets.key with mode 0600 and keeps secrets out of the file', async () => {
    h = harness();
    h.alerting.putChannel(T, { id: 'hook', type: 'webhook', url: 'https://hooks.example.org/x?token=tok-5678', secret: 'sekret-91011', headers: { authorization: 'Bearer bear-1213' } });
    await h.alerting.stop();
    expect(statSync(join(h.dir, 'alerts.db')).mode & 0o777).toBe(0o600);
    expect(statSync(join(h.dir, 'secrets.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(h.dir, 'secrets.key')).size).toBe(32);
    const bytes = readFileSync(join(h.dir, 'alerts.db'));
    for (const s of ['tok-5678', 'sekret-91011', 'bear-1213']) expect(bytes.includes(s)).toBe(false);
    // Reopened with the same key: the channel is back, whole.
    await h.reopen();
    expect(h.alerting.getChannel(T, 'hook')).toMatchObject({ url: 'https://hooks.example.org/x?token=[redacted]' });
  });

  it('seals with AES-256-GCM bound to the row: another key or another row does not open', () => {
    const box = SecretBox.openKeyFile(join(dir, 'secrets.key'));
    const again = SecretBox.openKeyFile(join(dir, 'secrets.key'));
    const sealed = box.seal('{"secret":"x"}', 'alert_channels/acme/hook');
    expect(again.open(sealed, 'alert_channels/acme/hook')).toBe('{"secret":"x"}');
    expect(() => box.open(sealed, 'alert_channels/globex/hook')).toThrow(SecretBoxError);
    expect(() => SecretBox.fromKey(new Uint8Array(32).fill(7)).open(sealed, 'alert_channels/acme/hook')).toThrow(/does not open with this key/);
    writeFileSync(join(dir, 'short.key'), 'abc', { mode: 0o600 });
    expect(() => SecretBox.openKeyFile(join(dir, 'short.key'))).toThrow(`secret key file ${join(dir, 'short.key')} must hold exactly 32 bytes; it holds 3`);
    writeFileSync(join(dir, 'open.key'), Buffer.alloc(32), { mode: 0o644 });
    expect(() => SecretBox.openKeyFile(join(dir, 'open.key'))).toThrow(/readable by group or others/);
  });

  it('scopes every query by tenant', () => {
    const store = new AlertStore(join(dir, 'alerts.db'), SecretBox.fromKey(new Uint8Array(32)));
    try {
      store.saveChannel('acme', 'ops', { id: 'ops', type: 'webhook', url: 'http://a' });
      store.saveChannel('globex', 'ops', { id: 'ops', type: 'webhook', url: 'http://g' });
      expect(store.loadChannels().map((c) => [c.tenant, c.config.url])).toEqual([['acme', 'http://a'], ['globex', 'http://g']]);
      store.appendHistory([{ tenant: 'acme', at: 1, event: 'rule_created', alert_id: null, rule_id: 'r', details: {} }]);
      expect(store.listHistory('acme', {})).toHaveLength(1);
      expect(store.listHistory('globex', {})).toHaveLength(0);
      expect(store.deleteChannel('globex', 'ops')).toBe(true);
      expect(store.loadChannels().map((c) => c.tenant)).toEqual(['acme']);
    } finally {
      store.close();
    }
  });
});
