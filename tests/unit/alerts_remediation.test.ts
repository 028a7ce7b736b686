import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertView } from '../../src/alerts/alert.js';
import { BlockRefusedError, IpBlocklist, MAX_BLOCK_SECONDS } from '../../src/alerts/ip_blocklist.js';
import { RemediationExecutor } from '../../src/alerts/remediation.js';
import type { AlertRule } from '../../src/alerts/rule.js';
import { parseNetworkList } from '../../src/net/cidr.js';
import { STRICT_EGRESS } from '../../src/net/egress_guard.js';
import { cycleAt, harness, T, T0, type Harness } from './alerts_test_kit.js';

let h: Harness;
afterEach(async () => {
  await h?.cleanup();
});

const authRule = (remediation: unknown[]): Record<string, unknown> => ({
  rule_id: 'auth', name: 'Auth failures', metric_pattern: 'security\\.auth\\.failures', threshold_value: 10, comparison: '>',
  aggregation: 'sum', window_seconds: 300, group_by: ['source_ip'], priority: 'CRITICAL', remediation,
});

function burst(ip: string, n: number, fromS = 0, tenant = T): void {
  const system = h.system.forTenant(tenant);
  for (let i = 0; i < n; i++) system.add('security.auth.failures', { source_ip: ip }, T0 + (fromS + i) * 1000, 1);
}

const origin = { tenant: 'acme', rule_id: 'r', alert_id: 'a' };

describe('IpBlocklist', () => {
  it('blocks until the deadline, normalises IPv4-mapped addresses and keeps each tenant its own entry', () => {
    let now = 1000;
    const b = new IpBlocklist({ now: () => now, wasSeenClient: () => true });
    b.block('10.1.2.3', 5000, origin);
    b.block('2001:db8::1', 3000, origin);
    b.block('10.1.2.3', 2000, origin); // a shorter block does not shorten the longer one
    b.block('10.1.2.3', 4000, { ...origin, tenant: 'other' });
    expect(b.isBlocked('10.1.2.3')).toBe(true);
    expect(b.isBlocked('::FFFF:10.1.2.3')).toBe(true);
    expect(b.isBlocked('10.1.2.4')).toBe(false);
    now = 3500;
    expect(b.list('acme').map((e) => [e.ip, e.until_ms])).toEqual([['10.1.2.3', 5000]]);
    expect(b.list('other').map((e) => [e.ip, e.until_ms])).toEqual([['10.1.2.3', 4000]]);
    // Lifting one tenant's block leaves the other's in force.
    expect(b.unblock('acme', '10.1.2.3')).toBe(true);
    expect(b.unblock('acme', '10.1.2.3')).toBe(false);
    expect(b.isBlocked('10.1.2.3')).toBe(true);
    expect(b.isBlocked('10.1.2.3', 4000)).toBe(false);
    expect(() => b.block('not-an-ip', 9000, origin)).toThrow(/"not-an-ip" refused: not an IPv4 or IPv6 address/);
  });

  it('never blocks loopback or administrator networks, nor addresses the server never saw, and says why', () => {
    const logged: string[] = [];
    const seen = new Set(['203.0.113.5', '10.1.0.7', '127.0.0.1']);
    const b = new IpBlocklist({
      now: () => 0,
      adminNetworks: parseNetworkList('security.admin_networks', ['10.1.0.0/24']),
      wasSeenClient: (ip) => seen.has(ip),
      log: (_level, m) => logged.push(m),
    });
    const refusal = (ip: string): string => {
      try {
        b.block(ip, 60_000, origin);
      } catch (err) {
        expect(err).toBeInstanceOf(BlockRefusedError);
        return (err as BlockRefusedError).reason;
      }
      return 'blocked';
    };
    expect(['127.0.0.1', '::1', '::ffff:127.0.0.1', '127.8.9.10', '10.1.0.7', '198.51.100.1', '203.0.113.5'].map(refusal))
      .toEqual(['loopback', 'loopback', 'loopback', 'loopback', 'admin_network', 'not_seen', 'blocked']);
    expect(b.size).toBe(1);
    expect(logged.filter((m) => m.includes('refused'))).toHaveLength(6);
    expect(logged.find((m) => m.includes('198.51.100.1'))).toMatch(/never saw this address as a client.*tenant acme, rule r/);
  });

  it('bounds a block to MAX_BLOCK_SECONDS and drops protected entries on restore', () => {
    const b = new IpBlocklist({ now: () => 0, wasSeenClient: () => true, adminNetworks: parseNetworkList('a', ['192.0.2.0/24']) });
    expect(b.block('198.51.100.9', 366 * 86_400_000, origin).until_ms).toBe(MAX_BLOCK_SECONDS * 1000);
    expect(b.restore({ ...origin, ip: '127.0.0.1', until_ms: 10_000, created_at: 0 })).toBe(false);
    expect(b.restore({ ...origin, ip: '192.0.2.4', until_ms: 10_000, created_at: 0 })).toBe(false);
    expect(b.restore({ ...origin, ip: '198.51.100.10', until_ms: 10_000, created_at: 0 })).toBe(true);
    expect(b.list().map((e) => e.ip).sort()).toEqual(['198.51.100.10', '198.51.100.9']);
  });
});

describe('remediation', () => {
  it('blocks the offending address once per alert, audits it, and lists and lifts it per tenant', async () => {
    const blocked: Array<[string, string, number]> = [];
    h = harness({ hooks: { onIpBlocked: (e) => blocked.push([e.tenant, e.ip, e.until_ms]) } });
    h.alerting.addRule(T, authRule([{ type: 'block_ip', duration_seconds: 600 }]));
    burst('198.51.100.7', 12);
    await cycleAt(h, 15);
    await cycleAt(h, 30);
    expect(blocked).toEqual([[T, '198.51.100.7', T0 + 15_000 + 600_000]]);
    expect(h.alerting.ipBlocklist.isBlocked('198.51.100.7', T0 + 16_000)).toBe(true);
    const audit = h.alerting.remediationAudit(T);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'block_ip', target: '198.51.100.7', outcome: 'ok', dry_run: false, until_ms: T0 + 615_000, rule_id: 'auth' });
    const alertId = h.alerting.listAlerts(T, { state: 'firing' })[0]!.alert_id;
    expect(h.alerting.listBlockedIps(T)).toEqual([{ tenant: T, ip: '198.51.100.7', until_ms: T0 + 615_000, rule_id: 'auth', alert_id: alertId, created_at: T0 + 15_000 }]);
    expect(h.alerting.listBlockedIps('acme')).toEqual([]);
    expect(() => h.alerting.unblockIp('acme', '198.51.100.7')).toThrow(/no block of "198.51.100.7" by this tenant's rules/);
    expect(() => h.alerting.unblockIp(T, 'nope')).toThrow(/ip="nope" is not an IPv4 or IPv6 address/);

    // Persisted: still blocked after a restart, until lifted; lifted stays lifted.
    await h.reopen();
    expect(h.alerting.ipBlocklist.isBlocked('198.51.100.7', T0 + 40_000)).toBe(true);
    h.alerting.unblockIp(T, '::ffff:198.51.100.7');
    expect(h.alerting.ipBlocklist.isBlocked('198.51.100.7', T0 + 40_000)).toBe(false);
    await h.reopen();
    expect(h.alerting.listBlockedIps(T)).toEqual([]);
  });

  it('refuses to block loopback, administrator networks and addresses never seen, without spending the hourly budget', async () => {
    const logged: string[] = [];
    h = harness({
      remediation: { maxActionsPerHour: 1 },
      adminNetworks: parseNetworkList('security.admin_networks', ['192.0.2.0/24']),
      wasSeenClient: (ip) => ip !== '198.51.100.66',
      log: (_l, m) => logged.push(m),
    });
    h.alerting.addRule(T, authRule([{ type: 'block_ip', duration_seconds: 600 }]));
    for (const ip of ['127.0.0.1', '::1', '192.0.2.10', '198.51.100.66']) burst(ip, 11);
    await cycleAt(h, 15);
    expect(h.alerting.ipBlocklist.size).toBe(0);
    const audit = h.alerting.remediationAudit(T);
    expect(audit.map((e) => e.outcome)).toEqual(['refused', 'refused', 'refused', 'refused']);
    expect(Object.fromEntries(audit.map((e) => [e.target, e.detail.replace(/^block_ip "[^"]+" refused: /, '').replace(/ \(tenant.*$/, '')]))).toEqual({
      '127.0.0.1': 'loopback addresses are never blocked',
      '::1': 'loopback addresses are never blocked',
      '192.0.2.10': 'the address is in security.admin_networks, which are never blocked',
      '198.51.100.66': 'EMMS never saw this address as a client (the source_ip tag alone is not evidence)',
    });
    expect(logged).toHaveLength(4);
    // The budget of one block per hour is still there for a real one.
    burst('198.51.100.1', 11, 20);
    await cycleAt(h, 45);
    expect(h.alerting.ipBlocklist.isBlocked('198.51.100.1', T0 + 46_000)).toBe(true);
  });

  it('in dry-run mode audits what it would do and does nothing', async () => {
    h = harness({ remediation: { dryRun: true } });
    h.alerting.addRule(T, authRule([{ type: 'block_ip', duration_seconds: 600 }]));
    burst('198.51.100.8', 12);
    await cycleAt(h, 15);
    expect(h.alerting.ipBlocklist.isBlocked('198.51.100.8', T0 + 16_000)).toBe(false);
    expect(h.alerting.remediationAudit(T).map((e) => [e.outcome, e.dry_run, e.target])).toEqual([['dry_run', true, '198.51.100.8']]);
  });

  it('rate-limits each action type per tenant per sliding hour', async () => {
    h = harness({ remediation: { maxActionsPerHour: 2 } });
    for (const tenant of [T, 'acme']) h.alerting.addRule(tenant, authRule([{ type: 'block_ip', duration_seconds: 600 }]));
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) burst(ip, 11);
    burst('198.51.100.20', 11, 0, 'acme');
    await cycleAt(h, 15);
    expect(h.alerting.remediationAudit(T).map((e) => e.outcome).sort()).toEqual(['ok', 'ok', 'rate_limited']);
    // Another tenant's budget is its own.
    expect(h.alerting.remediationAudit('acme').map((e) => [e.target, e.outcome])).toEqual([['198.51.100.20', 'ok']]);
    expect(h.alerting.ipBlocklist.size).toBe(3);
    // An hour later the window has room again.
    burst('192.0.2.4', 11, 3700);
    await cycleAt(h, 3715);
    expect(h.alerting.ipBlocklist.isBlocked('192.0.2.4', T0 + 3_716_000)).toBe(true);
  });

  it('runs commands only for rules of the configuration file, with the alert on stdin', async () => {
    h = harness();
    const out = join(h.dir, 'stdin.json');
    const script = join(h.dir, 'record.sh');
    writeFileSync(script, `#!/bin/sh\ncat > '${out}'\necho recorded\n`);
    chmodSync(script, 0o755);
    await h.reopen({ remediation: { commands: { record: script } }, rules: [authRule([{ type: 'command', command: 'record' }])] });
    // An API rule with a command action is refused, naming the field.
    expect(() => h.alerting.addRule(T, { ...authRule([{ type: 'command', command: 'record' }]), rule_id: 'api' })).toThrow(/rule.remediation\[0\].type="command" is only accepted in rules of the configuration file/);
    expect(() => h.alerting.updateRule(T, 'auth', { threshold_value: 1 })).toThrow(/defined in the alerting section of the configuration file/);
    expect(() => h.alerting.deleteRule(T, 'auth')).toThrow(/defined in the alerting section of the configuration file/);
    burst('192.0.2.50', 11);
    await cycleAt(h, 15);
    const audit = h.alerting.remediationAudit(T);
    expect(audit.find((e) => e.target === 'record')).toMatchObject({ outcome: 'ok', detail: 'exit 0: recorded' });
    expect(existsSync(out)).toBe(true);
    const alert = JSON.parse(readFileSync(out, 'utf8')) as { rule_id: string; series: { tags: Record<string, string> } };
    expect(alert.rule_id).toBe('auth');
    expect(alert.series.tags.source_ip).toBe('192.0.2.50');
    // A configuration rule naming a command outside the allow-list stops the start, naming it.
    await expect(h.reopen({ remediation: { commands: { record: script } }, rules: [{ ...authRule([{ type: 'command', command: 'constructor' }]) }] })).rejects.toThrow(/alerting.rules\[0\]: rule.remediation\[0\].command="constructor" is not in alerting.remediation.commands/);
    // Removed from the configuration: removed from the rules.
    await h.reopen({ remediation: { commands: { record: script } } });
    expect(h.alerting.listRules(T)).toEqual([]);
  });

  it('looks commands up safely: __proto__, constructor and other Object.prototype names find nothing', async () => {
    h = harness();
    const audit: Array<{ target: string; outcome: string; detail: string }> = [];
    const store = { appendAudit: (e: { target: string; outcome: string; detail: string }) => audit.push(e), listAudit: () => [] };
    const commands = JSON.parse('{"__proto__": "/bin/true-from-json"}') as Record<string, string>;
    const executor = new RemediationExecutor(store as never, { blockIp: () => '', blockRefusal: () => undefined, enhanceMonitoring: () => undefined }, () => T0, { commands });
    const alert = { alert_id: 'a', rule_id: 'r', series: { metric_id: 'm', tags: {} } } as unknown as AlertView;
    const names = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'];
    const rule = { rule_id: 'r', remediation: names.map((command) => ({ type: 'command', command })) } as unknown as AlertRule;
    executor.run(T, alert, rule, true);
    await executor.idle();
    expect(audit.map((e) => [e.target, e.outcome])).toEqual(names.map((n) => [n, 'refused']));
    expect(audit.every((e) => /is not allowed by the alerting configuration/.test(e.detail))).toBe(true);
    // `__proto__` from JSON is an own name like any other: the operator configured it.
    expect(executor.isAllowedCommand('__proto__')).toBe(true);
    expect(executor.isAllowedCommand('constructor')).toBe(false);
    // Not from the configuration file: refused whatever the name.
    audit.length = 0;
    executor.run(T, alert, { rule_id: 'r', remediation: [{ type: 'command', command: '__proto__' }] } as unknown as AlertRule, false);
    await executor.idle();
    expect(audit.map((e) => [e.outcome, e.detail])).toEqual([['refused', 'command actions run only for rules of the configuration file (alerting.rules)']]);
  });

  it('posts the alert to a remediation webhook through the egress guard and audits failures', async () => {
    const received: unknown[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.statusCode = req.url === '/fail' ? 500 : 200;
        res.end('internal detail that must not leak');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      h = harness();
      h.alerting.addRule(T, authRule([{ type: 'webhook', url: `http://127.0.0.1:${port}/ok?token=abc` }, { type: 'webhook', url: `http://127.0.0.1:${port}/fail` }]));
      burst('192.0.2.60', 11);
      await cycleAt(h, 15);
      expect(received).toHaveLength(2);
      expect(received[0]).toMatchObject({ action: 'remediation', rule_id: 'auth', alert: { series: { tags: { source_ip: '192.0.2.60' } } } });
      const audit = h.alerting.remediationAudit(T);
      expect(Object.fromEntries(audit.map((e) => [e.target, [e.outcome, e.detail]]))).toEqual({
        [`http://127.0.0.1:${port}/ok?token=[redacted]`]: ['ok', 'delivered'],
        [`http://127.0.0.1:${port}/fail`]: ['failed', `POST http://127.0.0.1:${port}/fail answered 500`],
      });
      expect(h.alerting.getRule(T, 'auth')!.remediation[0]).toEqual({ type: 'webhook', url: `http://127.0.0.1:${port}/ok?token=[redacted]` });

      // Without an egress allowance loopback is refused, and nothing is sent.
      await h.reopen({ egress: STRICT_EGRESS });
      burst('192.0.2.61', 11, 400);
      await cycleAt(h, 415);
      expect(received).toHaveLength(2);
      const refused = h.alerting.remediationAudit(T).filter((e) => e.at === T0 + 415_000);
      expect(refused.map((e) => e.detail)).toEqual([
        expect.stringMatching(/^POST http:\/\/127\.0\.0\.1:\d+\/(ok\?token=\[redacted\]|fail) refused: egress to 127\.0\.0\.1 \(127\.0\.0\.1\) refused/),
        expect.stringMatching(/refused: egress to 127\.0\.0\.1/),
      ]);
    } finally {
      server.close();
    }
  });

  it('refuses block_ip when the alert carries no address', async () => {
    h = harness();
    h.alerting.addRule(T, { ...authRule([{ type: 'block_ip', duration_seconds: 60 }]), group_by: [] });
    burst('192.0.2.70', 11);
    await cycleAt(h, 15);
    expect(h.alerting.remediationAudit(T).map((e) => e.outcome)).toEqual(['refused']);
  });
});
