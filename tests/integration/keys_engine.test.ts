/**
 * Key events through the real embedded engine: derived counts read back by querying the
 * engine equal the events sent, across a restart, per tenant, and the audit importers
 * (library and CLI, with --tenant) produce the counts of their fixtures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetricsSystem } from '../../src/index.js';
import type { MetricsSystem } from '../../src/model/api.js';
import type { Principal } from '../../src/http/route.js';
import { importAudit } from '../../src/keys/audit/audit_import.js';
import { parseVaultAudit } from '../../src/keys/audit/vault_audit.js';
import { EVENT_COUNTER_METRIC, KEY_EVENT_TYPES } from '../../src/keys/key_events.js';
import { parseKeyPolicy } from '../../src/keys/key_policy.js';
import { keyEventIngestor, KeyService } from '../../src/keys/key_service.js';
import { run as importAuditCommand } from '../../src/cli/import_audit_command.js';
import { readFileSync } from 'node:fs';

let dir: string;
let system: MetricsSystem;
const WRITER: Principal = { id: 'ak_writer', kind: 'api_key', role: 'writer', tenant: 'default' };
const fixture = (name: string) => new URL(`../fixtures/audit/${name}`, import.meta.url);

async function startEngine(): Promise<MetricsSystem> {
  const s = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 });
  await s.start();
  return s;
}

/** Total per key of a counter metric, as the engine answers (largest stored cumulative value) for `tenant`. */
async function engineTotals(metricId: string, tenant = 'default'): Promise<Record<string, number>> {
  const series = await system.forTenant(tenant).queryAggregated({
    metricPattern: metricId, startTime: 0, endTime: Date.UTC(2200, 0, 1), aggregation: 'max', interval: '1w', groupBy: ['key_id'],
  });
  const out: Record<string, number> = {};
  for (const s of series) out[s.tags.key_id!] = Math.max(...s.values);
  return out;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-keys-int-'));
  system = await startEngine();
});
afterEach(async () => {
  if (system.running) await system.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('key events into the real engine', () => {
  it('derived counters equal the events sent, per key and type, across a restart', async () => {
    let keys = await KeyService.open(system, { policy: parseKeyPolicy({ operation_budgets: [] }) });
    const keyIds = Array.from({ length: 20 }, (_, i) => `key-${i}`);
    for (const id of keyIds) keys.registerKey({ key_id: id, key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'team', backend: 'vault' });
    let ingest = keyEventIngestor(keys);
    // Lifecycle events change state (and a revoked key's use adds violations): use only the
    // usage/security types here, so every count is exactly what was sent.
    const types = KEY_EVENT_TYPES.filter((t) => !['created', 'rotated', 'expired', 'revoked', 'policy_violation'].includes(t));
    const expected = new Map<string, number>();
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const t0 = Date.UTC(2026, 0, 1);
    for (let batch = 0; batch < 10; batch++) {
      const events = [];
      for (let i = 0; i < 500; i++) {
        const key = keyIds[Math.floor(rand() * keyIds.length)]!;
        const type = types[Math.floor(rand() * types.length)]!;
        const count = 1 + Math.floor(rand() * 3);
        events.push({ key_id: key, event_type: type, count, timestamp: t0 + batch * 1000 + Math.floor(rand() * 1000) });
        const k = `${EVENT_COUNTER_METRIC[type]}|${key}`;
        expected.set(k, (expected.get(k) ?? 0) + count);
      }
      expect(await ingest(events, { principal: WRITER, remoteAddress: '10.0.0.1', seq: batch })).toEqual({ accepted: 500 });
      if (batch === 4) {
        // Restart both: the totals must resume from what the engine stored.
        await keys.close();
        await system.stop();
        system = await startEngine();
        keys = await KeyService.open(system, { policy: parseKeyPolicy({ operation_budgets: [] }) });
        ingest = keyEventIngestor(keys);
      }
    }
    for (const type of types) {
      const metric = EVENT_COUNTER_METRIC[type];
      const totals = await engineTotals(metric);
      for (const id of keyIds) expect(totals[id] ?? 0, `${metric} ${id}`).toBe(expected.get(`${metric}|${id}`) ?? 0);
    }
    // The newest point of each series is its total too (events were sent in time order per batch).
    const latest = await system.latest('crypto.key.encryption_ops');
    for (const p of latest) expect(p.value).toBe(expected.get(`crypto.key.encryption_ops|${p.tags.key_id}`));
    expect(latest[0]!.metricType).toBe('counter');
    await keys.close();
  });

  it('backfilled older events: the total survives a restart of both engine and service', async () => {
    let keys = await KeyService.open(system);
    keys.registerKey({ key_id: 'k', key_type: 'signing', algorithm: 'Ed25519', owner: 'o', backend: 'software' });
    const t = Date.UTC(2026, 0, 2);
    await keys.ingestEvents([{ key_id: 'k', event_type: 'verify', timestamp: t, count: 10 }]);
    await keys.ingestEvents([{ key_id: 'k', event_type: 'verify', timestamp: t - 86_400_000, count: 4 }]);
    await keys.close();
    await system.stop();
    system = await startEngine();
    keys = await KeyService.open(system);
    expect(keys.total('crypto.key.verification_ops', 'k')).toBe(14);
    await keys.ingestEvents([{ key_id: 'k', event_type: 'verify', timestamp: t + 1 }]);
    expect((await system.latest('crypto.key.verification_ops'))[0]!.value).toBe(15);
    await keys.close();
  });

  it('state, violations and gauges land in the engine', async () => {
    const keys = await KeyService.open(system);
    keys.registerKey({ key_id: 'old-rsa', key_type: 'signing', algorithm: 'RSA-1024', owner: 'legacy', backend: 'hsm' });
    keys.registerKey({ key_id: 'aes', key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'app', backend: 'kms' });
    await keys.ingestEvents([
      { key_id: 'aes', event_type: 'revoked' },
      { key_id: 'aes', event_type: 'decrypt', count: 4, timestamp: Date.now() + 1 },
      { key_id: 'old-rsa', event_type: 'sign' },
    ]);
    await keys.evaluate();
    expect(keys.getKey('aes')!.state).toBe('revoked');
    expect(await engineTotals('crypto.key.policy_violations')).toEqual({ aes: 4, 'old-rsa': 1 });
    const active = await system.latest('crypto.key.active');
    expect(Object.fromEntries(active.map((p) => [p.tags.algorithm, p.value]))).toEqual({ 'AES-256-GCM': 0, 'RSA-1024': 1 });
    expect((await system.latest('crypto.key.age_days')).length).toBe(2);
    await keys.close();
  });
});

describe('audit import into the real engine', () => {
  it('Vault log: counts per key in the engine equal the fixture', async () => {
    const keys = await KeyService.open(system);
    const data = parseVaultAudit(readFileSync(fixture('vault_audit.log'), 'utf8'));
    const summary = await importAudit(keys, data, true, 'vault');
    expect(summary).toEqual({ registered: 3, events: 17, duplicates: 0, skipped: 1, ignored: 2, violations: 1 });
    // Importing the same trail again counts nothing twice.
    expect(await importAudit(keys, data, true, 'vault')).toMatchObject({ registered: 0, events: 0, duplicates: 17 });
    expect(await engineTotals('crypto.key.encryption_ops')).toEqual({ payments: 7, legacy: 1 });
    expect(await engineTotals('crypto.key.decryption_ops')).toEqual({ payments: 4 });
    expect(await engineTotals('crypto.key.unauthorized_access')).toEqual({ payments: 1 });
    expect(await engineTotals('crypto.key.signing_ops')).toEqual({ signer: 2 });
    // legacy was deleted, then used: one inactive_key_use violation.
    expect(keys.getKey('legacy')!.state).toBe('revoked');
    expect(keys.violations({ keyId: 'legacy' })[0]).toMatchObject({ rule: 'inactive_key_use', reason: 'encrypt on a revoked key' });
    expect(keys.getKey('payments')).toMatchObject({ algorithm: 'AES-256-GCM', backend: 'vault', last_rotated_at: Date.parse('2024-03-01T10:08:00.0009Z') });
    await keys.close();
  });

  it('emms import-audit --format cloudtrail FILE --data DIR', async () => {
    await system.stop();
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
    let code: number;
    try {
      code = await importAuditCommand(['--format', 'cloudtrail', fixture('cloudtrail_kms.json').pathname, '--data', dir]);
    } finally {
      process.stdout.write = write;
    }
    expect(code).toBe(0);
    expect(out.join('')).toMatch(/imported 16 key events \(3 keys registered, 0 already imported, \d+ policy violations, 0 records skipped, 2 not about keys\)/);
    system = await startEngine();
    const A = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const C = 'arn:aws:kms:us-east-1:111122223333:key/5b1c9e2d-3f4a-4b6c-8d7e-9f0a1b2c3d4e';
    expect(await engineTotals('crypto.key.encryption_ops')).toEqual({ [A]: 3, [C]: 1 });
    expect(await engineTotals('crypto.key.decryption_ops')).toEqual({ [A]: 3 });
    expect(await engineTotals('crypto.key.unauthorized_access')).toEqual({ [A]: 1 });
    const keys = await KeyService.open(system);
    expect(keys.getKey(C)!.state).toBe('revoked');
    expect(keys.size).toBe(3);
    await keys.close();
    const writeErr = process.stderr.write.bind(process.stderr);
    const err: string[] = [];
    process.stderr.write = ((chunk: string) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      expect(await importAuditCommand(['--format', 'syslog', 'x'])).toBe(2);
    } finally {
      process.stderr.write = writeErr;
    }
    expect(err.join('')).toMatch(/--format="syslog" must be vault or cloudtrail/);
  });
});

describe('tenants in the real engine', () => {
  it('same key id in two tenants: each tenant\'s series hold its own counts, across a restart', async () => {
    let keys = await KeyService.open(system);
    const spec = { key_id: 'dek', key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'o', backend: 'kms' };
    keys.forTenant('acme').registerKey(spec);
    keys.forTenant('globex').registerKey({ ...spec, owner: 'g' });
    const t = Date.UTC(2026, 0, 3);
    const ingest = keyEventIngestor(keys);
    await ingest([{ key_id: 'dek', event_type: 'encrypt', count: 3, timestamp: t }], { principal: { ...WRITER, tenant: 'acme' }, remoteAddress: '10.0.0.1', seq: 1 });
    await ingest([{ key_id: 'dek', event_type: 'encrypt', count: 11, timestamp: t }], { principal: { ...WRITER, tenant: 'globex' }, remoteAddress: '10.0.0.1', seq: 2 });
    await keys.evaluate();
    expect(await engineTotals('crypto.key.encryption_ops', 'acme')).toEqual({ dek: 3 });
    expect(await engineTotals('crypto.key.encryption_ops', 'globex')).toEqual({ dek: 11 });
    expect(await engineTotals('crypto.key.encryption_ops')).toEqual({});
    expect((await system.forTenant('globex').latest('crypto.key.age_days')).map((p) => p.tags.owner)).toEqual(['g']);
    expect(await system.latest('crypto.key.*')).toEqual([]);
    await keys.close();
    await system.stop();
    system = await startEngine();
    keys = await KeyService.open(system);
    expect(keys.forTenant('acme').total('crypto.key.encryption_ops', 'dek')).toBe(3);
    expect(keys.forTenant('globex').total('crypto.key.encryption_ops', 'dek')).toBe(11);
    await keys.forTenant('globex').ingestEvents([{ key_id: 'dek', event_type: 'encrypt', timestamp: t + 1 }]);
    expect(await engineTotals('crypto.key.encryption_ops', 'globex')).toEqual({ dek: 12 });
    await keys.close();
  });

  it('emms import-audit --tenant T imports into that tenant only', async () => {
    await system.stop();
    const out: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    const writeErr = process.stderr.write.bind(process.stderr);
    const err: string[] = [];
    process.stdout.write = ((chunk: string) => (out.push(String(chunk)), true)) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string) => (err.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      expect(await importAuditCommand(['--format', 'vault', fixture('vault_audit.log').pathname, '--data', dir, '--tenant', 'acme'])).toBe(0);
      expect(await importAuditCommand(['--format', 'vault', 'x', '--tenant', 'no spaces'])).toBe(2);
    } finally {
      process.stdout.write = write;
      process.stderr.write = writeErr;
    }
    expect(out.join('')).toMatch(/imported 17 key events \(3 keys registered.* for tenant acme/);
    expect(err.join('')).toMatch(/record 21 skipped: not JSON[\s\S]*--tenant="no spaces" must match/);
    system = await startEngine();
    expect(await engineTotals('crypto.key.encryption_ops', 'acme')).toEqual({ payments: 7, legacy: 1 });
    expect(await engineTotals('crypto.key.encryption_ops')).toEqual({});
    const keys = await KeyService.open(system);
    expect(keys.size).toBe(0);
    expect(keys.forTenant('acme').size).toBe(3);
    await keys.close();
  });
});

describe('authentication failures per source address', () => {
  it('writes security.auth.failures{source_ip} summing to the unauthorized_access events sent', async () => {
    const keys = await KeyService.open(system, { policy: parseKeyPolicy({ operation_budgets: [] }) });
    keys.registerKey({ key_id: 'hsm-signing', key_type: 'signing', algorithm: 'ECDSA-P256', owner: 'pki', backend: 'hsm' });
    const t0 = Date.UTC(2026, 10, 26, 3, 0, 0);
    // Two events at one millisecond from one address must both count (a second point at the
    // same timestamp would otherwise replace the first).
    await keys.ingestEvents([
      { key_id: 'hsm-signing', event_type: 'unauthorized_access', source_ip: '203.0.113.9', timestamp: t0, count: 3 },
      { key_id: 'hsm-signing', event_type: 'unauthorized_access', source_ip: '203.0.113.9', timestamp: t0, count: 4 },
      { key_id: 'hsm-signing', event_type: 'unauthorized_access', source_ip: '203.0.113.9', timestamp: t0 + 60_000 },
      { key_id: 'hsm-signing', event_type: 'unauthorized_access', source_ip: '2001:db8::7', timestamp: t0 + 1 },
      { key_id: 'hsm-signing', event_type: 'unauthorized_access', timestamp: t0 + 2 },
    ]);
    const sums = await system.queryAggregated({
      metricPattern: 'security.auth.failures', startTime: t0 - 1, endTime: t0 + 3_600_000, aggregation: 'sum', interval: '1h', groupBy: ['source_ip'],
    });
    const bySource = Object.fromEntries(sums.map((s) => [s.tags.source_ip, [...s.values]]));
    expect(bySource).toEqual({ '203.0.113.9': [8], '2001:db8::7': [1] });
    await keys.close();
  });
});
