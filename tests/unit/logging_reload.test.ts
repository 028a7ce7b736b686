/**
 * SIGHUP reload in-process (src/app/config_reload.ts): what counts as live or restart-only,
 * each live section applied (log level, default quotas through the real TenantRegistry,
 * alerting rules through the real Alerting with an active alert carried over), TLS re-read,
 * and a refused file (bad value, bad rule) changing nothing.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { changedKeys, planReload, reloadConfig, reloadTargetsOf, type ReloadTargets, type RuleChanges } from '../../src/app/config_reload.js';
import { loadConfig, type EmmsConfig, type LogLevel } from '../../src/config/config.js';
import { DEFAULT_QUOTAS, type TenantQuotas } from '../../src/tenancy/quota.js';
import { cycleAt, harness, T0, type Harness } from './alerts_test_kit.js';
import { authKit, type AuthKit } from './auth_test_kit.js';

const dir = mkdtempSync(join(tmpdir(), 'emms-reload-unit-'));
let n = 0;
function configFrom(file: unknown): EmmsConfig {
  const path = join(dir, `main${n++}.json`);
  writeFileSync(path, JSON.stringify(file));
  return loadConfig({ configPath: path, env: {} });
}

const rule = (id: string, threshold = 90) => ({ rule_id: id, name: id, metric_pattern: 'cpu', threshold_value: threshold, comparison: '>', duration_seconds: 0, priority: 'HIGH' });

interface Recorded {
  levels: LogLevel[];
  quotas: Array<Readonly<TenantQuotas>>;
  rules: unknown[][];
  tls: number;
}

function fakeTargets(options: { tls?: boolean; tlsFails?: boolean; rulesThrow?: boolean } = {}): { targets: ReloadTargets; rec: Recorded } {
  const rec: Recorded = { levels: [], quotas: [], rules: [], tls: 0 };
  return {
    rec,
    targets: {
      setLogLevel: (l) => rec.levels.push(l),
      setDefaultQuotas: (q) => rec.quotas.push(q),
      reloadAlertingRules: (r): RuleChanges => {
        if (options.rulesThrow === true) throw new RangeError('alerting.rules[0]: threshold_value must be a number');
        rec.rules.push([...r]);
        return { added: r.map((x) => (x as { rule_id: string }).rule_id), changed: [], removed: [] };
      },
      reloadTls: options.tls === true ? async () => {
        rec.tls++;
        if (options.tlsFails === true) throw new Error('key does not match the certificate');
        return { applied: true, detail: 'new certificate CN=x' };
      } : undefined,
    },
  };
}

function logs(): { log: (level: string, message: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { lines, log: (level, message) => lines.push(`${level} ${message}`) };
}

let h: Harness | undefined;
let kit: AuthKit | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
  kit?.cleanup();
  kit = undefined;
});

describe('planReload / changedKeys', () => {
  it('sorts changed keys into live and restart-only', () => {
    const before = configFrom({ monitoring: { log_level: 'info' } });
    const after = configFrom({
      monitoring: { log_level: 'debug' }, deployment: { port: 9999 }, query: { max_series: 5 },
      security: { quotas: { rules: 7 }, metrics_access: 'reader' }, alerting: { rules: [rule('a')], interval_seconds: 30 },
    });
    const plan = planReload(before, after);
    expect(plan.live.sort()).toEqual(['alerting.rules', 'monitoring.log_level', 'security.quotas.rules']);
    expect(plan.restartNeeded.sort()).toEqual(['alerting.interval_seconds', 'deployment.port', 'query.max_series', 'security.metrics_access']);
    expect(planReload(before, configFrom({ monitoring: { log_level: 'info' } }))).toEqual({ live: [], restartNeeded: [] });
  });

  it('compares nested objects by key and arrays whole', () => {
    expect(changedKeys({ a: { b: 1, c: [1, 2] } }, { a: { b: 1, c: [1, 3] }, d: 1 }, 'x')).toEqual(['x.a.c', 'x.d']);
    expect(changedKeys(undefined, {}, 'y')).toEqual(['y']);
  });
});

describe('reloadConfig', () => {
  it('applies log level, quotas and rules, logs each change and the restart-only keys', async () => {
    const current = configFrom({});
    const { targets, rec } = fakeTargets();
    const l = logs();
    const outcome = await reloadConfig(current, () => configFrom({ monitoring: { log_level: 'warn' }, security: { quotas: { api_keys: 3 } }, alerting: { rules: [rule('hot')] }, deployment: { port: 1234 } }), targets, l.log);
    expect(outcome.applied).toBe(true);
    expect(rec.levels).toEqual(['warn']);
    expect(rec.quotas.map((q) => q.apiKeys)).toEqual([3]);
    expect(rec.rules).toEqual([[rule('hot')]]);
    expect(l.lines).toEqual(expect.arrayContaining([
      'info SIGHUP: monitoring.log_level: info → warn',
      `info SIGHUP: security.quotas.api_keys: ${DEFAULT_QUOTAS.apiKeys} → 3`,
      'info SIGHUP: alerting.rules: added [hot], changed [], removed []',
      'warn SIGHUP: deployment.port changed; it takes effect at restart',
    ]));
    // The running settings now hold the live sections only: the port still needs a restart.
    expect(outcome.config).toMatchObject({ logLevel: 'warn', port: current.port, security: { quotas: { apiKeys: 3 } } });
    const again = await reloadConfig(outcome.config, () => configFrom({ monitoring: { log_level: 'warn' }, security: { quotas: { api_keys: 3 } }, alerting: { rules: [rule('hot')] } }), targets, l.log);
    expect(again.changes).toEqual([]);
    expect(rec.rules).toHaveLength(1);
  });

  it('refuses an unreadable or invalid file, or an invalid rule, and changes nothing', async () => {
    const current = configFrom({});
    for (const load of [
      () => loadConfig({ configPath: join(dir, 'missing.json'), env: {} }),
      () => configFrom({ monitoring: { log_level: 'loud' } }),
      () => configFrom({ alerting: { channels: [{ id: 'x', type: 'carrier-pigeon' }] } }),
    ]) {
      const { targets, rec } = fakeTargets({ tls: true });
      const l = logs();
      const outcome = await reloadConfig(current, load, targets, l.log);
      expect(outcome).toMatchObject({ applied: false, changes: [], config: current });
      expect(rec).toEqual({ levels: [], quotas: [], rules: [], tls: 0 });
      expect(l.lines[0]).toMatch(/^error SIGHUP: configuration refused, nothing changed: /);
    }
    const { targets, rec } = fakeTargets({ rulesThrow: true });
    const l = logs();
    const outcome = await reloadConfig(current, () => configFrom({ monitoring: { log_level: 'debug' }, alerting: { rules: [{ rule_id: 'bad' }] } }), targets, l.log);
    expect(outcome.applied).toBe(false);
    expect(rec.levels).toEqual([]);
    expect(l.lines).toEqual(['error SIGHUP: configuration refused, nothing changed: alerting.rules[0]: threshold_value must be a number']);
  });

  it('re-reads the TLS files and reports a failure without refusing the rest', async () => {
    const current = configFrom({});
    const ok = fakeTargets({ tls: true });
    const l = logs();
    const outcome = await reloadConfig(current, () => configFrom({}), ok.targets, l.log);
    expect(ok.rec.tls).toBe(1);
    expect(outcome.changes).toEqual(['TLS certificate reloaded: new certificate CN=x']);
    expect(l.lines).toContain('info SIGHUP: configuration re-read; nothing changed');
    const bad = fakeTargets({ tls: true, tlsFails: true });
    const l2 = logs();
    const o2 = await reloadConfig(current, () => configFrom({ monitoring: { log_level: 'error' } }), bad.targets, l2.log);
    expect(o2.applied).toBe(true);
    expect(bad.rec.levels).toEqual(['error']);
    expect(l2.lines).toContain('error SIGHUP: TLS certificate not reloaded, the old one stays: key does not match the certificate');
  });
});

describe('the real targets', () => {
  it('TenantRegistry.setDefaults: tenants without overrides get the new defaults, overrides stay applied over them', () => {
    kit = authKit();
    kit.tenants.setQuotas('pay', { api_keys: 2 }, 'test');
    const targets = reloadTargetsOf({ auth: { tenants: kit.tenants }, alerting: { reloadConfigRules: () => ({ added: [], changed: [], removed: [] }) }, server: { reloadTls: async () => ({ applied: true, detail: '' }) } }, () => undefined, false);
    expect(targets.reloadTls).toBeUndefined();
    targets.setDefaultQuotas({ ...DEFAULT_QUOTAS, rules: 5, apiKeys: 50 });
    expect(kit.tenants.defaults.rules).toBe(5);
    expect(kit.tenants.quotaLookup('other')).toMatchObject({ rules: 5, apiKeys: 50 });
    expect(kit.tenants.quotaLookup('pay')).toMatchObject({ rules: 5, apiKeys: 2 });
  });

  it('Alerting.reloadConfigRules: adds, changes (keeping the active alert), removes; an invalid rule changes nothing', async () => {
    h = harness({ rules: [rule('keep', 90), rule('gone', 90)] });
    const alerting = h.alerting;
    h.system.add('cpu', { host: 'a' }, T0, 95);
    await cycleAt(h, 1);
    const firing = alerting.listAlerts('default').filter((a) => a.rule_id === 'keep');
    expect(firing).toHaveLength(1);

    const targets = reloadTargetsOf({ auth: { tenants: { setDefaults: () => undefined } }, alerting, server: { reloadTls: async () => ({ applied: false, detail: '' }) } }, () => undefined, true);
    expect(() => targets.reloadAlertingRules([rule('keep', 80), { rule_id: 'broken' }])).toThrow(/alerting\.rules\[1\]/);
    expect(alerting.listRules('default').map((r) => r.rule_id).sort()).toEqual(['gone', 'keep']);

    const changes = targets.reloadAlertingRules([rule('keep', 80), rule('new', 10)]);
    expect(changes).toEqual({ added: ['new'], changed: ['keep'], removed: ['gone'] });
    expect(alerting.getRule('default', 'keep')?.threshold_value).toBe(80);
    expect(alerting.listAlerts('default').filter((a) => a.rule_id === 'keep').map((a) => a.alert_id)).toEqual(firing.map((a) => a.alert_id));
    // Same rules again: nothing to do.
    expect(targets.reloadAlertingRules([rule('keep', 80), rule('new', 10)])).toEqual({ added: [], changed: [], removed: [] });
    // Config rules still cannot be changed through the API.
    expect(() => alerting.updateRule('default', 'new', { threshold_value: 1 })).toThrow(/configuration file/);
    // A disabled rule resolves its alerts.
    targets.reloadAlertingRules([{ ...rule('keep', 80), enabled: false }]);
    expect(alerting.listAlerts('default', { state: 'firing' }).filter((a) => a.rule_id === 'keep')).toEqual([]);
  });
});

process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
