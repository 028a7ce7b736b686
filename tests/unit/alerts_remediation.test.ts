import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IpBlocklist } from '../../src/alerts/ip_blocklist.js';
import { cycleAt, harness, T0, type Harness } from './alerts_test_kit.js';

let h: Harness;
afterEach(async () => {
  await h?.cleanup();
});

const authRule = (remediation: unknown[]): Record<string, unknown> => ({
  rule_id: 'auth', name: 'Auth failures', metric_pattern: 'security\\.auth\\.failures', threshold_value: 10, comparison: '>',
  aggregation: 'sum', window_seconds: 300, group_by: ['source_ip'], priority: 'CRITICAL', remediation,
});

function burst(ip: string, n: number, fromS = 0): void {
  for (let i = 0; i < n; i++) h.system.add('security.auth.failures', { source_ip: ip }, T0 + (fromS + i) * 1000, 1);
}

describe('IpBlocklist', () => {
  it('blocks until the deadline, normalises IPv4-mapped addresses and refuses garbage', () => {
    let now = 1000;
    const b = new IpBlocklist(() => now);
    b.block('10.1.2.3', 5000);
    b.block('2001:db8::1', 3000);
    b.block('10.1.2.3', 2000); // a shorter block does not shorten the longer one
    expect(b.isBlocked('10.1.2.3')).toBe(true);
    expect(b.isBlocked('::FFFF:10.1.2.3')).toBe(true);
    expect(b.isBlocked('10.1.2.4')).toBe(false);
    now = 4000;
    expect(b.list()).toEqual([{ ip: '10.1.2.3', until_ms: 5000 }]);
    expect(b.isBlocked('10.1.2.3', 5000)).toBe(false);
    expect(() => b.block('not-an-ip', 9000)).toThrow(/ip="not-an-ip" is not an IPv4 or IPv6 address/);
  });
});

describe('remediation', () => {
  it('blocks the offending address once per alert and audits it', async () => {
    const hookCalls: Array<[string, number]> = [];
    h = harness({ hooks: { blockIp: (ip, until) => hookCalls.push([ip, until]) } });
    h.alerting.addRule(authRule([{ type: 'block_ip', duration_seconds: 600 }]));
    burst('198.51.100.7', 12);
    await cycleAt(h, 15);
    await cycleAt(h, 30);
    expect(hookCalls).toEqual([['198.51.100.7', T0 + 15_000 + 600_000]]);
    expect(h.alerting.ipBlocklist.isBlocked('198.51.100.7', T0 + 16_000)).toBe(true);
    const audit = h.alerting.remediationAudit();
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ action: 'block_ip', target: '198.51.100.7', outcome: 'ok', dry_run: false, until_ms: T0 + 615_000, rule_id: 'auth' });
  });

  it('in dry-run mode audits what it would do and does nothing', async () => {
    h = harness({ remediation: { dryRun: true } });
    h.alerting.addRule(authRule([{ type: 'block_ip', duration_seconds: 600 }]));
    burst('198.51.100.8', 12);
    await cycleAt(h, 15);
    expect(h.alerting.ipBlocklist.isBlocked('198.51.100.8', T0 + 16_000)).toBe(false);
    expect(h.alerting.remediationAudit().map((e) => [e.outcome, e.dry_run, e.target])).toEqual([['dry_run', true, '198.51.100.8']]);
  });

  it('rate-limits each action type per sliding hour', async () => {
    h = harness({ remediation: { maxActionsPerHour: 2 } });
    h.alerting.addRule(authRule([{ type: 'block_ip', duration_seconds: 600 }]));
    for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3']) burst(ip, 11);
    await cycleAt(h, 15);
    const outcomes = h.alerting.remediationAudit().map((e) => e.outcome).sort();
    expect(outcomes).toEqual(['ok', 'ok', 'rate_limited']);
    expect(h.alerting.ipBlocklist.size).toBe(2);
    // An hour later the window has room again.
    burst('192.0.2.4', 11, 3700);
    await cycleAt(h, 3715);
    expect(h.alerting.ipBlocklist.isBlocked('192.0.2.4', T0 + 3_716_000)).toBe(true);
  });

  it('refuses commands the configuration does not allow, and runs allowed ones with the alert on stdin', async () => {
    h = harness();
    const out = join(h.dir, 'stdin.json');
    const script = join(h.dir, 'record.sh');
    writeFileSync(script, `#!/bin/sh\ncat > '${out}'\necho recorded\n`);
    chmodSync(script, 0o755);
    await h.reopen({ remediation: { commands: { record: script } } });
    h.alerting.addRule(authRule([{ type: 'command', command: 'record' }, { type: 'command', command: 'format_disk' }]));
    burst('192.0.2.50', 11);
    await cycleAt(h, 15);
    const audit = h.alerting.remediationAudit();
    expect(audit.find((e) => e.target === 'format_disk')).toMatchObject({ outcome: 'refused' });
    expect(audit.find((e) => e.target === 'record')).toMatchObject({ outcome: 'ok', detail: 'exit 0: recorded' });
    expect(existsSync(out)).toBe(true);
    const alert = JSON.parse(readFileSync(out, 'utf8')) as { rule_id: string; series: { tags: Record<string, string> } };
    expect(alert.rule_id).toBe('auth');
    expect(alert.series.tags.source_ip).toBe('192.0.2.50');
  });

  it('posts the alert to a remediation webhook and audits failures', async () => {
    const received: unknown[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body));
        res.statusCode = req.url === '/fail' ? 500 : 200;
        res.end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      h = harness();
      h.alerting.addRule(authRule([{ type: 'webhook', url: `http://127.0.0.1:${port}/ok` }, { type: 'webhook', url: `http://127.0.0.1:${port}/fail` }]));
      burst('192.0.2.60', 11);
      await cycleAt(h, 15);
      expect(received).toHaveLength(2);
      expect(received[0]).toMatchObject({ action: 'remediation', rule_id: 'auth', alert: { series: { tags: { source_ip: '192.0.2.60' } } } });
      const outcomes = Object.fromEntries(h.alerting.remediationAudit().map((e) => [new URL(e.target).pathname, e.outcome]));
      expect(outcomes).toEqual({ '/ok': 'ok', '/fail': 'failed' });
    } finally {
      server.close();
    }
  });

  it('refuses block_ip when the alert carries no address', async () => {
    h = harness();
    h.alerting.addRule({ ...authRule([{ type: 'block_ip', duration_seconds: 60 }]), group_by: [] });
    burst('192.0.2.70', 11);
    await cycleAt(h, 15);
    expect(h.alerting.remediationAudit().map((e) => e.outcome)).toEqual(['refused']);
  });
});
