/**
 * Key events → derived series, state changes and policy rules, against a small in-memory
 * MetricsSystem (tests/unit/keys_memory_system.ts; the real engine is exercised by
 * tests/integration/keys_engine.test.ts). One tenant here; keys_tenancy.test.ts covers many.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MetricsSystem } from '../../src/model/api.js';
import { KeyEventValidationError } from '../../src/keys/key_events.js';
import { KeyValidationError } from '../../src/keys/key_model.js';
import { parseKeyPolicy, KeyPolicyConfigError } from '../../src/keys/key_policy.js';
import { KeyConflictError, KeyService } from '../../src/keys/key_service.js';
import { keyRoutes } from '../../src/keys/key_routes.js';
import { HttpError, type HttpRequest, type RouteDefinition } from '../../src/http/route.js';
import { MemorySystem } from './keys_memory_system.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 1);
let dir: string;
let engine: MemorySystem;
let clock = T0;
const now = () => clock;

async function open(policyJson?: unknown, resolutionMs?: number): Promise<KeyService> {
  return KeyService.open(engine as unknown as MetricsSystem, { policy: parseKeyPolicy(policyJson), now, ...(resolutionMs !== undefined ? { resolutionMs } : {}) });
}

function key(id: string, extra: Record<string, unknown> = {}) {
  return { key_id: id, key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'payments', backend: 'kms', created_at: T0 - DAY, ...extra };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-keys-'));
  engine = new MemorySystem(dir);
  clock = T0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('key inventory', () => {
  it('registers, lists with filters, patches and refuses bad input naming field and value', async () => {
    const svc = await open();
    svc.registerKey(key('k1', { expires_at: new Date(T0 + 10 * DAY).toISOString() }));
    svc.registerKey(key('k2', { algorithm: 'RSA-2048', key_type: 'signing', owner: 'release' }));
    svc.registerKey(key('k3', { expires_at: T0 + 100 * DAY }));
    expect(() => svc.registerKey(key('k1'))).toThrow(KeyConflictError);
    expect(() => svc.registerKey(key('k4', { key_type: 'aes' }))).toThrow(/key\.key_type="aes" must be one of encryption, signing, wrapping, hmac/);
    expect(() => svc.registerKey(key('k4', { backend: 'disk' }))).toThrow(KeyValidationError);
    expect(() => svc.registerKey(key('k4', { expires_at: T0 - 2 * DAY }))).toThrow(/expires_at.*must be after created_at/);
    expect(() => svc.registerKey(key('bad id'))).toThrow(/key\.key_id="bad id"/);
    expect(() => svc.registerKey({ ...key('k5'), colour: 'red' })).toThrow(/key\.colour="red" is not a known field/);
    expect(svc.listKeys({ algorithm: 'rsa_2048' }).map((k) => k.key_id)).toEqual(['k2']);
    expect(svc.listKeys({ owner: 'payments' }).map((k) => k.key_id)).toEqual(['k1', 'k3']);
    expect(svc.listKeys({ expiringWithinDays: 30 }).map((k) => k.key_id)).toEqual(['k1']);
    svc.updateKey('k1', { state: 'compromised', tags: { team: 'red' } });
    expect(svc.listKeys({ state: 'compromised' }).map((k) => k.key_id)).toEqual(['k1']);
    await svc.close();
    const again = await open();
    expect(again.getKey('k1')?.state).toBe('compromised');
    expect(again.getKey('k1')?.tags).toEqual({ team: 'red' });
    expect(again.size).toBe(3);
    await again.close();
  });
});

describe('key events → derived series', () => {
  it('counts every event type exactly, as cumulative counters tagged by key', async () => {
    const svc = await open();
    svc.registerKey(key('k1'));
    svc.registerKey(key('k2', { algorithm: 'ECDSA-P256', key_type: 'signing', owner: 'release', backend: 'hsm' }));
    const events: Array<Record<string, unknown>> = [];
    const expected: Record<string, number> = {};
    const types = ['accessed', 'encrypt', 'decrypt', 'sign', 'verify', 'unauthorized_access', 'security_event'];
    let t = T0;
    for (let i = 0; i < 500; i++) {
      const type = types[i % types.length]!;
      const keyId = i % 3 === 0 ? 'k2' : 'k1';
      const count = 1 + (i % 4);
      events.push({ key_id: keyId, event_type: type, timestamp: (t += 7), count, actor: 'svc', source_ip: '10.0.0.1' });
      expected[`${type}|${keyId}`] = (expected[`${type}|${keyId}`] ?? 0) + count;
    }
    // Two batches, the second out of order inside itself.
    await svc.ingestEvents(events.slice(0, 300));
    await svc.ingestEvents(events.slice(300).reverse());
    const metricOf: Record<string, string> = {
      accessed: 'crypto.key.access_count', encrypt: 'crypto.key.encryption_ops', decrypt: 'crypto.key.decryption_ops',
      sign: 'crypto.key.signing_ops', verify: 'crypto.key.verification_ops', unauthorized_access: 'crypto.key.unauthorized_access',
      security_event: 'crypto.key.security_events',
    };
    for (const [k, n] of Object.entries(expected)) {
      const [type, keyId] = k.split('|') as [string, string];
      expect(engine.lastValue(metricOf[type]!, keyId), k).toBe(n);
      expect(svc.total(metricOf[type]!, keyId)).toBe(n);
    }
    const series = [...engine.series.values()].find((s) => s.metricId === 'crypto.key.signing_ops' && s.tags.key_id === 'k2')!;
    expect(series.metricType).toBe('counter');
    expect(series.tags).toEqual({ key_id: 'k2', key_type: 'signing', algorithm: 'ECDSA-P256', backend: 'hsm', owner: 'release' });
    // Cumulative and non-decreasing in time.
    for (let i = 1; i < series.vs.length; i++) {
      expect(series.vs[i]!).toBeGreaterThan(series.vs[i - 1]!);
      expect(series.ts[i]!).toBeGreaterThan(series.ts[i - 1]!);
    }
    await svc.close();
  });

  it('coalesces events of one series within the resolution into one point and resumes totals after a restart', async () => {
    let svc = await open(undefined, 1);
    svc.registerKey(key('k1'));
    await svc.ingestEvents([
      { key_id: 'k1', event_type: 'encrypt', timestamp: T0 }, { key_id: 'k1', event_type: 'encrypt', timestamp: T0, count: 2 },
      { key_id: 'k1', event_type: 'encrypt', timestamp: T0 + 1 },
    ]);
    const s = [...engine.series.values()].find((x) => x.metricId === 'crypto.key.encryption_ops')!;
    expect(s.ts).toEqual([T0, T0 + 1]);
    expect(s.vs).toEqual([3, 4]);
    await svc.close();
    svc = await open(); // default resolution: 1 s
    await svc.ingestEvents([
      { key_id: 'k1', event_type: 'encrypt', timestamp: T0 + 2, count: 10 }, { key_id: 'k1', event_type: 'encrypt', timestamp: T0 + 900 },
      { key_id: 'k1', event_type: 'encrypt', timestamp: T0 + 1000, count: 5 }, { key_id: 'k1', event_type: 'encrypt', timestamp: T0 + 1999 },
    ]);
    expect(s.ts).toEqual([T0, T0 + 1, T0 + 900, T0 + 1999]);
    expect(s.vs).toEqual([3, 4, 15, 21]);
    await svc.close();
  });

  it('recovers the total after a restart when older events were written behind newer ones (backfill)', async () => {
    let svc = await open();
    svc.registerKey(key('k1'));
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'sign', timestamp: T0 + 10_000, count: 5 }]);
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'sign', timestamp: T0, count: 3 }]); // an import of older events
    await svc.close();
    expect((await engine.latest('crypto.key.signing_ops'))[0]!.value).toBe(5); // newest by time is not the total
    svc = await open();
    expect(svc.total('crypto.key.signing_ops', 'k1')).toBe(8);
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'sign', timestamp: T0 + 20_000 }]);
    expect(engine.lastValue('crypto.key.signing_ops', 'k1')).toBe(9);
    await svc.close();
  });

  it('refuses a whole batch naming index, field and value; unknown keys and types are refused', async () => {
    const svc = await open();
    svc.registerKey(key('k1'));
    const good = { key_id: 'k1', event_type: 'encrypt' };
    const cases: Array<[unknown, RegExp]> = [
      [[good, { key_id: 'nope', event_type: 'encrypt' }], /key_events\[1\]\.key_id="nope" is not a registered key/],
      [[good, good, { key_id: 'k1', event_type: 'explode' }], /key_events\[2\]\.event_type="explode" is not a known event type/],
      [[{ ...good, count: 0 }], /key_events\[0\]\.count=0 must be an integer/],
      [[{ ...good, count: 1.5 }], /key_events\[0\]\.count=1\.5/],
      [[{ ...good, timestamp: 'yesterday' }], /key_events\[0\]\.timestamp="yesterday"/],
      [[{ ...good, source_ip: '999.1.1.1' }], /key_events\[0\]\.source_ip="999\.1\.1\.1" must be an IPv4 or IPv6 address/],
      [[{ ...good, outcome: 'meh' }], /key_events\[0\]\.outcome="meh"/],
      [[], /at least one event/],
      ['x', /must be an array/],
    ];
    for (const [batch, re] of cases) {
      const err = await svc.ingestEvents(batch).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KeyEventValidationError);
      expect(String((err as Error).message)).toMatch(re);
    }
    expect(engine.series.size).toBe(0);
    await svc.close();
  });

  it('rolls totals back when the engine refuses a batch', async () => {
    const svc = await open();
    svc.registerKey(key('k1'));
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'decrypt', timestamp: T0, count: 5 }]);
    engine.failNext = true;
    await expect(svc.ingestEvents([{ key_id: 'k1', event_type: 'decrypt', timestamp: T0 + 1, count: 7 }])).rejects.toThrow('disk full');
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'decrypt', timestamp: T0 + 2, count: 1 }]);
    expect(engine.lastValue('crypto.key.decryption_ops', 'k1')).toBe(6);
    await svc.close();
  });

  it('state follows events: created/expired/revoked; rotation keeps the key active; revoked stays revoked', async () => {
    const svc = await open();
    svc.registerKey(key('k1'));
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'created', timestamp: T0 - 5 * DAY }]);
    expect(svc.getKey('k1')!.created_at).toBe(T0 - 5 * DAY);
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'rotated', timestamp: T0 }]);
    expect(svc.getKey('k1')).toMatchObject({ state: 'active', last_rotated_at: T0 });
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'expired', timestamp: T0 + 1 }]);
    expect(svc.getKey('k1')!.state).toBe('expired');
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'revoked', timestamp: T0 + 2 }]);
    expect(svc.getKey('k1')!.state).toBe('revoked');
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'created', timestamp: T0 + 3 }]);
    expect(svc.getKey('k1')!.state).toBe('revoked');
    expect(engine.lastValue('crypto.key.created_total', 'k1')).toBe(2);
    expect(engine.lastValue('crypto.key.rotated_total', 'k1')).toBe(1);
    expect(engine.lastValue('crypto.key.expired_total', 'k1')).toBe(1);
    expect(engine.lastValue('crypto.key.revoked_total', 'k1')).toBe(1);
    await svc.close();
    const again = await open();
    expect(again.getKey('k1')!.state).toBe('revoked');
    await again.close();
  });
});

describe('key policies', () => {
  it('inactive_key_use: every use of a revoked, expired or compromised key is a violation with its reason', async () => {
    const svc = await open();
    for (const id of ['r', 'e', 'c', 'ok']) svc.registerKey(key(id));
    svc.updateKey('c', { state: 'compromised' });
    await svc.ingestEvents([
      { key_id: 'r', event_type: 'revoked', timestamp: T0 },
      { key_id: 'r', event_type: 'decrypt', timestamp: T0 + 1, count: 3 },
      { key_id: 'e', event_type: 'expired', timestamp: T0 },
      { key_id: 'e', event_type: 'sign', timestamp: T0 + 1 },
      { key_id: 'c', event_type: 'encrypt', timestamp: T0 + 1 },
      { key_id: 'ok', event_type: 'encrypt', timestamp: T0 + 1 },
    ]);
    const v = svc.violations({ rule: 'inactive_key_use' });
    expect(v.map((x) => [x.key_id, x.reason, x.count]).sort()).toEqual([
      ['c', 'encrypt on a compromised key', 1], ['e', 'sign on a expired key', 1], ['r', 'decrypt on a revoked key', 3],
    ]);
    expect(engine.lastValue('crypto.key.policy_violations', 'r')).toBe(3);
    expect(engine.lastValue('crypto.key.policy_violations', 'ok')).toBeUndefined();
    await svc.close();
  });

  it('source_network: events from outside allowed_networks (IPv4, IPv6, v4-mapped) are violations', async () => {
    const svc = await open({ allowed_networks: ['10.0.0.0/8', '2001:db8::/32'] });
    svc.registerKey(key('k1'));
    await svc.ingestEvents([
      { key_id: 'k1', event_type: 'decrypt', source_ip: '10.9.8.7' },
      { key_id: 'k1', event_type: 'decrypt', source_ip: '::ffff:10.1.1.1' },
      { key_id: 'k1', event_type: 'decrypt', source_ip: '2001:db8::5' },
      { key_id: 'k1', event_type: 'decrypt', source_ip: '203.0.113.9' },
      { key_id: 'k1', event_type: 'decrypt', source_ip: '2001:db9::1' },
      { key_id: 'k1', event_type: 'decrypt' },
    ]);
    const v = svc.violations({ rule: 'source_network' });
    expect(v.map((x) => x.source_ip).sort()).toEqual(['2001:db9::1', '203.0.113.9']);
    expect(v[0]!.reason).toMatch(/outside allowed_networks 10\.0\.0\.0\/8, 2001:db8::\/32/);
    await svc.close();
  });

  it('weak and disallowed algorithms: RSA-1024, 3DES, HMAC-SHA1 flagged once per key, not on every check', async () => {
    const svc = await open({ allowed_algorithms: ['AES-256-GCM', 'RSA-2048', 'HMAC-SHA256', 'RSA-1024'] });
    svc.registerKey(key('rsa1024', { algorithm: 'RSA-1024', key_type: 'signing' }));
    svc.registerKey(key('tdes', { algorithm: '3DES' }));
    svc.registerKey(key('hsha1', { algorithm: 'HMAC-SHA1', key_type: 'hmac' }));
    svc.registerKey(key('ed', { algorithm: 'Ed25519', key_type: 'signing' }));
    svc.registerKey(key('good', { algorithm: 'aes256-gcm96' }));
    for (const id of ['rsa1024', 'tdes', 'hsha1', 'ed', 'good']) await svc.ingestEvents([{ key_id: id, event_type: 'accessed' }]);
    await svc.evaluate();
    await svc.evaluate();
    const v = svc.violations();
    const byKey = Object.fromEntries(v.map((x) => [x.key_id, `${x.rule}: ${x.reason}`]));
    expect(byKey.rsa1024).toBe('weak_algorithm: algorithm RSA-1024 has 1024-bit keys; RSA needs at least 2048');
    expect(byKey.tdes).toMatch(/^weak_algorithm: algorithm 3DES is forbidden/);
    expect(byKey.hsha1).toMatch(/^weak_algorithm: algorithm HMAC-SHA1 is forbidden \(HMAC with SHA1\)/);
    expect(byKey.ed).toBe('algorithm_not_allowed: algorithm Ed25519 is not in allowed_algorithms');
    expect(byKey.good).toBeUndefined();
    expect(v).toHaveLength(4);
    await svc.close();
  });

  it('max_age and rotation period: recorded when they start to hold, again only after a rotation cleared them', async () => {
    const svc = await open({ max_age_days: 400, default_rotation_period_days: 90 });
    svc.registerKey(key('k1', { created_at: T0 - 100 * DAY }));
    svc.registerKey(key('k2', { created_at: T0 - 10 * DAY, rotation_period_days: 5 }));
    svc.registerKey(key('k3', { created_at: T0 - 10 * DAY }));
    await svc.evaluate();
    expect(svc.violations().map((v) => `${v.key_id}:${v.rule}`).sort()).toEqual(['k1:rotation_overdue', 'k2:rotation_overdue']);
    await svc.ingestEvents([{ key_id: 'k2', event_type: 'rotated', timestamp: T0 }]);
    clock = T0 + 3 * DAY;
    await svc.evaluate();
    expect(svc.violations({ keyId: 'k2' })).toHaveLength(1);
    clock = T0 + 6 * DAY;
    await svc.evaluate();
    expect(svc.violations({ keyId: 'k2' })).toHaveLength(2);
    clock = T0 + 301 * DAY;
    await svc.evaluate();
    expect(svc.violations({ keyId: 'k1' }).map((v) => v.rule).sort()).toEqual(['max_age', 'rotation_overdue']);
    expect(svc.violations({ keyId: 'k1', rule: 'max_age' })[0]!.reason).toBe('key is 401.0 days old; max_age_days is 400');
    await svc.close();
  });

  it('operation budget: AES-GCM encryptions beyond the budget are flagged once; rotation resets the count', async () => {
    const svc = await open({ operation_budgets: [{ algorithms: ['AES*GCM*'], event_types: ['encrypt'], max_operations: 100 }] });
    svc.registerKey(key('k1'));
    svc.registerKey(key('cbc', { algorithm: 'AES-256-CBC' }));
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'encrypt', count: 60 }, { key_id: 'cbc', event_type: 'encrypt', count: 500 }]);
    expect(svc.violations()).toHaveLength(0);
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'encrypt', count: 41 }, { key_id: 'k1', event_type: 'decrypt', count: 1000 }]);
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'encrypt', count: 5 }]);
    const v = svc.violations({ rule: 'operation_budget' });
    expect(v).toHaveLength(1);
    expect(v[0]!.reason).toBe('101 encrypt operations since last rotation exceed the budget of 100 for AES-256-GCM');
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'rotated' }]);
    expect(svc.getKey('k1')!.operations_since_rotation).toBe(0);
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'encrypt', count: 101 }]);
    expect(svc.violations({ rule: 'operation_budget' })).toHaveLength(2);
    await svc.close();
    // The budget count survives a restart (flushed at close at the latest).
    const again = await open({ operation_budgets: [{ algorithms: ['AES*GCM*'], event_types: ['encrypt'], max_operations: 100 }] });
    expect(again.getKey('k1')!.operations_since_rotation).toBe(101);
    expect(again.getKey('cbc')!.operations_since_rotation).toBe(0);
    await again.close();
  });

  it('a client-reported policy_violation is recorded with its reason', async () => {
    const svc = await open();
    svc.registerKey(key('k1'));
    await svc.ingestEvents([{ key_id: 'k1', event_type: 'policy_violation', reason: 'exported without approval', actor: 'audit-bot' }]);
    expect(svc.violations()[0]).toMatchObject({ key_id: 'k1', rule: 'reported', reason: 'exported without approval', actor: 'audit-bot' });
    expect(engine.lastValue('crypto.key.policy_violations', 'k1')).toBe(1);
    await svc.close();
  });

  it('refuses bad policy configuration naming the setting and value', () => {
    expect(() => parseKeyPolicy({ max_age_days: -1 })).toThrow(/key_policies\.max_age_days=-1 must be a positive number/);
    expect(() => parseKeyPolicy({ allowed_networks: ['10.0.0.0/33'] })).toThrow(/key_policies\.allowed_networks\[0\]="10\.0\.0\.0\/33"/);
    expect(() => parseKeyPolicy({ operation_budgets: [{ algorithms: ['AES*'], event_types: ['zap'], max_operations: 1 }] })).toThrow(KeyPolicyConfigError);
    expect(() => parseKeyPolicy({ max_agee_days: 1 })).toThrow(/key_policies\.max_agee_days=1 is not a known setting/);
  });
});

describe('periodic evaluation', () => {
  it('expires keys past expires_at and writes age, expiry, rotation and active-by-algorithm gauges', async () => {
    const svc = await open();
    svc.registerKey(key('a', { created_at: T0 - 10 * DAY, expires_at: T0 + 5 * DAY, rotation_period_days: 7 }));
    svc.registerKey(key('b', { created_at: T0 - 2 * DAY, expires_at: T0 + DAY / 2 }));
    svc.registerKey(key('c', { algorithm: 'RSA-4096', key_type: 'signing' }));
    clock = T0 + DAY;
    const r = await svc.evaluate();
    expect(r).toMatchObject({ keys: 3, expired: 1 });
    expect(svc.getKey('b')!.state).toBe('expired');
    expect(engine.lastValue('crypto.key.expired_total', 'b')).toBe(1);
    expect(engine.lastValue('crypto.key.age_days', 'a')).toBeCloseTo(11, 9);
    expect(engine.lastValue('crypto.key.days_until_expiry', 'a')).toBeCloseTo(4, 9);
    expect(engine.lastValue('crypto.key.rotation_overdue', 'a')).toBe(1);
    expect(engine.lastValue('crypto.key.rotation_overdue', 'c')).toBe(0);
    const active = (await engine.latest('crypto.key.active')).map((p) => [p.tags.algorithm, p.value]).sort();
    expect(active).toEqual([['AES-256-GCM', 1], ['RSA-4096', 1]]);
    await svc.close();
  });
});

describe('periodic checks', () => {
  it('start() evaluates on the configured interval: gauges and policy conditions', async () => {
    const svc = await KeyService.open(engine as unknown as MetricsSystem, { policy: parseKeyPolicy({ check_interval_seconds: 1, max_age_days: 1 }) });
    svc.registerKey(key('k1', { created_at: Date.now() - 3 * DAY }));
    svc.start();
    // The first cycle runs after 1 s; poll rather than guess how late a loaded machine runs it.
    const deadline = Date.now() + 5000;
    while (svc.violations({ rule: 'max_age' }).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(svc.violations({ rule: 'max_age' })).toHaveLength(1);
    while (engine.lastValue('crypto.key.age_days', 'k1') === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await svc.close();
    expect(engine.lastValue('crypto.key.age_days', 'k1')).toBeCloseTo(3, 3);
  });
});

describe('HTTP routes', () => {
  function call(routes: RouteDefinition[], method: string, path: string, body?: unknown, query = '') {
    for (const r of routes) {
      if (r.method !== method) continue;
      const names: string[] = [];
      const re = new RegExp('^' + r.pattern.replace(/:([a-z_]+)/g, (_m, n: string) => (names.push(n), '([^/]+)')) + '$');
      const m = re.exec(path);
      if (m === null) continue;
      const params = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
      const req: HttpRequest = {
        method: method as HttpRequest['method'], path, params, query: new URLSearchParams(query), headers: {}, body, remoteAddress: '127.0.0.1',
        principal: { id: 'ak_test', kind: 'api_key', role: 'admin', tenant: 'default' },
      };
      return Promise.resolve(r.handler(req));
    }
    throw new Error(`no route ${method} ${path}`);
  }

  it('serves the key API with 201/400/404/409 and event ingest', async () => {
    const svc = await open();
    const routes = keyRoutes(svc, now);
    const created = await call(routes, 'POST', '/api/v1/keys', key('arn:aws:kms:us-east-1:1:key/abc'));
    expect(created.status).toBe(201);
    expect((created.body as Record<string, unknown>).created_at).toBe(new Date(T0 - DAY).toISOString());
    await expect(call(routes, 'POST', '/api/v1/keys', key('arn:aws:kms:us-east-1:1:key/abc'))).rejects.toMatchObject({ status: 409 });
    await expect(call(routes, 'POST', '/api/v1/keys', { key_id: 'x' })).rejects.toMatchObject({ status: 400, body: { field: 'key_type' } });
    const got = await call(routes, 'GET', '/api/v1/keys/' + encodeURIComponent('arn:aws:kms:us-east-1:1:key/abc'));
    expect((got.body as Record<string, unknown>).age_days).toBe(1);
    await expect(call(routes, 'GET', '/api/v1/keys/nope')).rejects.toBeInstanceOf(HttpError);
    await expect(call(routes, 'GET', '/api/v1/keys/nope')).rejects.toMatchObject({ status: 404 });
    const patched = await call(routes, 'PATCH', '/api/v1/keys/' + encodeURIComponent('arn:aws:kms:us-east-1:1:key/abc'), { owner: 'ledger' });
    expect((patched.body as Record<string, unknown>).owner).toBe('ledger');
    const ing = await call(routes, 'POST', '/api/v1/keys/events', { events: [{ key_id: 'arn:aws:kms:us-east-1:1:key/abc', event_type: 'encrypt', count: 3 }] });
    expect(ing.body).toEqual({ accepted: 1, violations: 0 });
    await expect(call(routes, 'POST', '/api/v1/keys/events', { events: [{ key_id: 'zzz', event_type: 'encrypt' }] }))
      .rejects.toMatchObject({ status: 400, body: { index: 0, field: 'key_id' } });
    const bulk = await call(routes, 'POST', '/api/v1/keys', { keys: [key('b1'), key('b2', { owner: 'ledger' })] });
    expect((bulk.body as { count: number }).count).toBe(2);
    await expect(call(routes, 'POST', '/api/v1/keys', { keys: [key('b3'), key('b4', { backend: 'tape' })] }))
      .rejects.toMatchObject({ status: 400, body: { field: 'keys[1].backend' } });
    expect(svc.hasKey('b3')).toBe(false); // all or nothing
    const list = await call(routes, 'GET', '/api/v1/keys', undefined, 'owner=ledger');
    expect((list.body as { count: number }).count).toBe(2);
    await expect(call(routes, 'GET', '/api/v1/keys', undefined, 'expiring_within_days=soon')).rejects.toMatchObject({ status: 400 });
    await expect(call(routes, 'GET', '/api/v1/policy/violations', undefined, 'rule=nope')).rejects.toMatchObject({ status: 400 });
    await svc.close();
  });
});
