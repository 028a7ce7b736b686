/**
 * Anonymization at ingest, in-process (coverage; the real-server test is
 * tests/integration/anonymize_ingest.test.ts): the engine stores only rewritten tags on every
 * ingest path (rows, columns, SeriesTable), raw tag sets that rewrite alike are one series,
 * group-by on the rewritten tag sums what it should, the remote-write forwarder sees rewritten
 * tags, key events (live and imported from Vault and CloudTrail) are rewritten before policies
 * and keys.db see them, and no raw value is in any file of the data directory afterwards.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAnonymizeSettings } from '../../src/anonymize/anonymize_rules.js';
import { run as importAuditCommand } from '../../src/cli/import_audit_command.js';
import { run as anonymizeCommand } from '../../src/cli/anonymize_command.js';
import { TenantAnonymizers } from '../../src/anonymize/tenant_anonymizers.js';
import { createMetricsSystem } from '../../src/index.js';
import { forwardingEngine } from '../../src/interop/forwarding_engine.js';
import type { ForwardedSeries } from '../../src/interop/remote_write_forwarder.js';
import { importAudit } from '../../src/keys/audit/audit_import.js';
import { parseCloudTrail } from '../../src/keys/audit/cloudtrail_audit.js';
import { parseVaultAudit } from '../../src/keys/audit/vault_audit.js';
import { parseKeyPolicy } from '../../src/keys/key_policy.js';
import { KeyService } from '../../src/keys/key_service.js';
import type { MetricsSystem } from '../../src/model/api.js';
import { scanDirectory } from '../integration/data_dir_scan.js';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
/** Raw values that must never reach the disk (distinctive, so a scan hit is never chance). */
const RAW = {
  ip1: '198.51.100.77', ip2: '198.51.100.78', ip3: '203.0.113.91', ip6: '2001:db8:cafe:beef::77',
  user: 'mallory.subject@example.org', email: 'private.mailbox@example.net',
  actor: 'dave.keyholder@example.org', eventIp: '192.0.2.155', reason: 'suspicious-reason-text-4411',
  vaultActor: 'vault-display-name-erin', vaultIp: '192.0.2.222', trailActor: 'arn:aws:iam::444455556666:user/frank.trail', trailIp: '198.51.100.201',
};

let dir: string;
let anonymizers: TenantAnonymizers;
let engine: MetricsSystem;
let keys: KeyService;
const forwarded: Array<{ tenant: string; series: readonly ForwardedSeries[] }> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-anon-ingest-'));
  anonymizers = TenantAnonymizers.open(parseAnonymizeSettings({
    rules: { client_ip: 'truncate_ip', user: 'hmac', email: 'drop', actor: 'hmac', source_ip: 'truncate_ip', reason: 'hmac' },
    tenants: { acme: { client_ip: 'keep', user: 'drop' } },
  }), { dataDir: dir, keyFile: undefined });
  const inner = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0, anonymizeTags: anonymizers.tagRewriter });
  await inner.start();
  engine = forwardingEngine(inner, (tenant, series) => forwarded.push({ tenant, series }), anonymizers.tagRewriter);
  keys = await KeyService.open(inner, { policy: parseKeyPolicy({ allowed_networks: ['10.0.0.0/8'] }), anonymizeField: anonymizers.fieldRewriter, now: () => T0 + 3_600_000 });
});

afterAll(async () => {
  await keys?.close();
  await engine?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const def = () => anonymizers.forTenant('default')!;

describe('tags on every ingest path', () => {
  it('rows: raw sets that rewrite alike are one series; group-by sums per /24', async () => {
    await engine.collectMetrics([
      { metricId: 'http.requests', value: 1, timestamp: T0, tags: { client_ip: RAW.ip1, user: RAW.user, email: RAW.email } },
      { metricId: 'http.requests', value: 2, timestamp: T0 + 1000, tags: { client_ip: RAW.ip2, user: RAW.user, email: 'other.mailbox@example.net' } },
      { metricId: 'http.requests', value: 4, timestamp: T0 + 2000, tags: { client_ip: RAW.ip3, user: RAW.user } },
      { metricId: 'http.requests', value: 8, timestamp: T0 + 3000, tags: { client_ip: RAW.ip6, user: 'someone-else' } },
    ]);
    const series = await engine.listSeries('http.requests');
    const pseudo = def().field('user', RAW.user)!;
    expect(series.map((s) => s.tags).sort((a, b) => a.client_ip!.localeCompare(b.client_ip!))).toEqual([
      { client_ip: '198.51.100.0', user: pseudo },
      { client_ip: '2001:db8:cafe::', user: def().field('user', 'someone-else') },
      { client_ip: '203.0.113.0', user: pseudo },
    ]);
    const sums = await engine.queryAggregated({ metricPattern: 'http.requests', aggregation: 'sum', interval: '1h', groupBy: ['client_ip'], startTime: T0 - 1, endTime: T0 + 10_000 });
    const bySubnet = Object.fromEntries(sums.map((s) => [s.tags.client_ip, s.values[0]]));
    expect(bySubnet).toEqual({ '198.51.100.0': 3, '203.0.113.0': 4, '2001:db8:cafe::': 8 });
    const byUser = await engine.queryAggregated({ metricPattern: 'http.requests', aggregation: 'sum', interval: '1h', groupBy: ['user'], startTime: T0 - 1, endTime: T0 + 10_000 });
    expect(byUser.find((s) => s.tags.user === pseudo)!.values[0]).toBe(7);
  });

  it('columns and the SeriesTable path rewrite the same way, into the same series', async () => {
    await engine.collectSeries([{ metricId: 'http.requests', tags: { client_ip: '198.51.100.3', user: RAW.user }, timestamps: [T0 + 4000], values: [16] }]);
    const table = engine.createSeriesTable!();
    const n = table.add({ metricId: 'http.requests', tags: { client_ip: '198.51.100.250', user: RAW.user, email: RAW.email } });
    expect(table.size).toBe(1);
    await table.collect(Int32Array.of(n), Float64Array.of(T0 + 5000), Float64Array.of(32));
    await engine.collectMetric({ metricId: 'http.requests', value: 64, timestamp: T0 + 6000, tags: { client_ip: '198.51.100.9', user: RAW.user } });
    expect(await engine.listSeries('http.requests')).toHaveLength(3);
    const sums = await engine.queryAggregated({ metricPattern: 'http.requests', aggregation: 'sum', interval: '1h', groupBy: ['client_ip'], tags: { client_ip: '198.51.100.0' }, startTime: T0 - 1, endTime: T0 + 10_000 });
    expect(sums[0]!.values[0]).toBe(1 + 2 + 16 + 32 + 64);
  });

  it('a tenant override is honoured (acme keeps addresses, drops users)', async () => {
    await engine.forTenant('acme').collectMetrics([{ metricId: 'http.requests', value: 5, timestamp: T0, tags: { client_ip: '192.0.2.17', user: 'acme-user' } }]);
    expect((await engine.forTenant('acme').listSeries('http.requests')).map((s) => s.tags)).toEqual([{ client_ip: '192.0.2.17' }]);
  });

  it('the forwarder only ever saw rewritten tags', () => {
    const text = JSON.stringify(forwarded);
    for (const raw of [RAW.ip1, RAW.ip2, RAW.ip3, RAW.ip6, RAW.user, RAW.email]) expect(text).not.toContain(raw);
    expect(forwarded.some((f) => f.series.some((s) => s.tags.client_ip === '198.51.100.0'))).toBe(true);
    expect(forwarded.find((f) => f.tenant === 'acme')!.series[0]!.tags).toEqual({ client_ip: '192.0.2.17' });
  });
});

describe('key events', () => {
  it('live events are rewritten before policies and keys.db see them', async () => {
    keys.registerKeys([{ key_id: 'orders-dek', key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'payments', backend: 'vault', created_at: T0 - 86_400_000 }]);
    const r = await keys.ingestEvents([
      { key_id: 'orders-dek', event_type: 'encrypt', timestamp: T0 + 1000, actor: RAW.actor, source_ip: RAW.eventIp },
      { key_id: 'orders-dek', event_type: 'unauthorized_access', timestamp: T0 + 2000, actor: RAW.actor, source_ip: RAW.eventIp, outcome: 'denied' },
      { key_id: 'orders-dek', event_type: 'policy_violation', timestamp: T0 + 3000, actor: RAW.actor, reason: RAW.reason },
    ]);
    expect(r.accepted).toBe(3);
    const violations = keys.violations({});
    expect(violations.length).toBeGreaterThanOrEqual(2);
    const actor = def().field('actor', RAW.actor);
    for (const v of violations) {
      expect(v.actor).toBe(actor);
      expect(JSON.stringify(v)).not.toContain(RAW.eventIp);
    }
    // The source address is truncated, so a source_network policy still checks it (192.0.2.0 is outside 10/8).
    expect(violations.find((v) => v.rule === 'source_network')!.source_ip).toBe('192.0.2.0');
    expect(violations.find((v) => v.rule === 'reported')!.reason).toBe(def().field('reason', RAW.reason));
  });

  it('the Vault and CloudTrail importers go through the same rules', async () => {
    const vault = JSON.stringify({
      time: new Date(T0 + 10_000).toISOString(), type: 'response', auth: { display_name: RAW.vaultActor },
      request: { id: 'req-anon-1', operation: 'update', mount_type: 'transit', mount_point: 'transit/', path: 'transit/encrypt/orders-dek', data: {}, remote_address: RAW.vaultIp },
    });
    const fromVault = await importAudit(keys, parseVaultAudit(`${vault}\n`), true, 'vault');
    expect(fromVault.events).toBe(1);
    const arn = 'arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const trail = JSON.stringify({ Records: [{
      eventVersion: '1.08', eventSource: 'kms.amazonaws.com', eventName: 'Decrypt', eventTime: new Date(T0 + 20_000).toISOString(), eventID: 'ev-anon-1',
      awsRegion: 'us-east-1', sourceIPAddress: RAW.trailIp, userIdentity: { type: 'IAMUser', arn: RAW.trailActor },
      requestParameters: { encryptionAlgorithm: 'SYMMETRIC_DEFAULT' }, resources: [{ ARN: arn, type: 'AWS::KMS::Key' }],
    }] });
    const fromTrail = await importAudit(keys, parseCloudTrail(trail), true, 'cloudtrail');
    expect(fromTrail.events).toBe(1);
    const stored = JSON.stringify(keys.violations({}));
    for (const raw of [RAW.vaultActor, RAW.vaultIp, RAW.trailActor, RAW.trailIp]) expect(stored).not.toContain(raw);
    expect(stored).toContain(def().field('actor', RAW.trailActor)!);
    expect(stored).toContain('198.51.100.0');
  });
});

describe('emms import-audit --config', () => {
  it('applies the file\'s rules and key before writing', async () => {
    const cliDir = mkdtempSync(join(tmpdir(), 'emms-anon-cli-'));
    try {
      const config = join(cliDir, 'main.json');
      writeFileSync(config, JSON.stringify({ security: { anonymize: { actor: 'hmac', source_ip: 'truncate_ip' }, anonymize_key_file: join(cliDir, 'k.key') }, key_policies: { allowed_networks: ['10.0.0.0/8'] } }));
      const trail = join(cliDir, 'vault.log');
      writeFileSync(trail, `${JSON.stringify({
        time: new Date(T0).toISOString(), type: 'response', auth: { display_name: RAW.vaultActor },
        request: { id: 'req-cli-1', operation: 'update', mount_type: 'transit', mount_point: 'transit/', path: 'transit/encrypt/k1', data: {}, remote_address: RAW.vaultIp },
      })}\n`);
      const write = process.stdout.write;
      process.stdout.write = (() => true) as typeof process.stdout.write;
      let code: number;
      try {
        code = await importAuditCommand(['--format', 'vault', trail, '--data', cliDir, '--config', config]);
      } finally {
        process.stdout.write = write;
      }
      expect(code).toBe(0);
      expect(scanDirectory(cliDir, { strings: [RAW.vaultActor, RAW.vaultIp] }).filter((h) => h.file !== 'vault.log')).toEqual([]);
      expect(scanDirectory(cliDir, { strings: ['192.0.2.0'] }).some((h) => h.file === 'keys.db' || h.file.startsWith('keys.db'))).toBe(true);
    } finally {
      rmSync(cliDir, { recursive: true, force: true });
    }
  });
});

/** Runs a CLI `run` with stdout and stderr captured. */
async function captured(run: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const write = { out: process.stdout.write, err: process.stderr.write };
  let out = '';
  let err = '';
  process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await run(), out, err };
  } finally {
    process.stdout.write = write.out;
    process.stderr.write = write.err;
  }
}

describe('emms anonymize', () => {
  it('prints the stored form under the configuration\'s rules and key, never creating a key', async () => {
    const cfgDir = mkdtempSync(join(tmpdir(), 'emms-anon-cfg-'));
    try {
      const config = join(cfgDir, 'main.json');
      writeFileSync(config, JSON.stringify({ security: { anonymize: { rules: { user: 'hmac', ip: 'truncate_ip', mail: 'drop' }, tenants: { acme: { user: 'keep' } } } } }));
      // The server's data directory (its key) and the config file it was started with.
      const r = await captured(() => anonymizeCommand(['--config', config, '--data', dir, 'user', RAW.user, 'someone-else']));
      expect(r).toMatchObject({ code: 0, out: `${def().field('user', RAW.user)}\n${def().field('user', 'someone-else')}\n` });
      expect((await captured(() => anonymizeCommand(['--config', config, '--data', dir, 'ip', RAW.ip6]))).out).toBe('2001:db8:cafe::\n');
      expect((await captured(() => anonymizeCommand(['--config', config, '--data', dir, 'mail', 'x']))).out).toBe('(dropped)\n');
      expect((await captured(() => anonymizeCommand(['--config', config, '--data', dir, '--tenant', 'acme', 'user', '--', '--raw']))).out).toBe('--raw\n');
      const missing = await captured(() => anonymizeCommand(['--config', config, '--data', join(cfgDir, 'nowhere'), 'user', 'x']));
      expect(missing.code).toBe(1);
      expect(missing.err).toContain('anonymization key file');
      expect((await captured(() => anonymizeCommand(['--config', config, 'user']))).code).toBe(2);
      expect((await captured(() => anonymizeCommand(['user', 'x']))).err).toContain('--config is required');
      expect((await captured(() => anonymizeCommand(['--config', config, '--tenant', 'bad tenant', 'user', 'x']))).code).toBe(2);
      expect((await captured(() => anonymizeCommand(['--config', config, '--bogus']))).code).toBe(2);
      expect((await captured(() => anonymizeCommand(['--help']))).out).toContain('Usage: emms anonymize');
      writeFileSync(config, JSON.stringify({ security: { anonymize: { user: 'scramble' } } }));
      expect((await captured(() => anonymizeCommand(['--config', config, 'user', 'x']))).err).toContain('security.anonymize.user');
    } finally {
      rmSync(cfgDir, { recursive: true, force: true });
    }
  });
});

describe('the data directory after stop', () => {
  it('holds none of the raw values', async () => {
    await keys.close();
    await engine.stop();
    const hits = scanDirectory(dir, { strings: Object.values(RAW) });
    expect(hits).toEqual([]);
    // The pseudonyms and truncated addresses are there (the scan does find what is stored).
    expect(scanDirectory(dir, { strings: ['198.51.100.0', def().field('user', RAW.user)!] }).length).toBeGreaterThan(0);
  });

  it('control: without rules the same scan finds the raw values', async () => {
    const plainDir = mkdtempSync(join(tmpdir(), 'emms-anon-control-'));
    try {
      const plain = createMetricsSystem({ path: join(plainDir, 'metrics.db'), queryWorkers: 0 });
      await plain.start();
      await plain.collectMetrics([{ metricId: 'http.requests', value: 1, timestamp: T0, tags: { client_ip: RAW.ip1, user: RAW.user } }]);
      await plain.stop();
      expect(scanDirectory(plainDir, { strings: [RAW.ip1, RAW.user] }).map((h) => h.needle)).toEqual(expect.arrayContaining([expect.stringContaining(RAW.ip1), expect.stringContaining(RAW.user)]));
    } finally {
      rmSync(plainDir, { recursive: true, force: true });
    }
  });
});
