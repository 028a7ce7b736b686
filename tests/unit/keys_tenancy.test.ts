/**
 * The key service with many tenants: isolation of inventory, events, violations and derived
 * series; routes' access and tenant from the credentials; the stream frame handler's checks;
 * per-tenant quota; migration of a keys.db written before tenants; bounded inputs.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HttpError, ROLES, type HttpRequest, type Principal, type Role, type RouteDefinition } from '../../src/http/route.js';
import { KeyEventValidationError } from '../../src/keys/key_events.js';
import { KeyValidationError } from '../../src/keys/key_model.js';
import { KeyPolicyConfigError, parseKeyPolicy } from '../../src/keys/key_policy.js';
import { keyRoutes } from '../../src/keys/key_routes.js';
import { keyEventIngestor, KeyNotFoundError, KeyService, type KeyServiceOptions } from '../../src/keys/key_service.js';
import { DEFAULT_QUOTAS, QuotaExceededError } from '../../src/tenancy/quota.js';
import { MemorySystem } from './keys_memory_system.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 1);
let dir: string;
let engine: MemorySystem;
let clock = T0;
const now = () => clock;

function open(options: KeyServiceOptions = {}): Promise<KeyService> {
  return KeyService.open(engine.asSystem, { now, ...options });
}

function key(id: string, extra: Record<string, unknown> = {}) {
  return { key_id: id, key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'payments', backend: 'kms', created_at: T0 - DAY, ...extra };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-keys-tenancy-'));
  engine = new MemorySystem(dir);
  clock = T0;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('tenant isolation', () => {
  it('two tenants with the same key id: inventory, events, violations and series never meet', async () => {
    const keys = await open();
    expect(keys.tenant).toBe('default');
    const acme = keys.forTenant('acme');
    const globex = keys.forTenant('globex');
    expect(keys.forTenant('acme')).toBe(acme);
    acme.registerKey(key('k1', { owner: 'acme-pay' }));
    globex.registerKey(key('k1', { owner: 'globex-ledger', algorithm: 'RSA-4096', key_type: 'signing' }));
    acme.registerKey(key('only-acme'));

    expect(acme.getKey('k1')!.owner).toBe('acme-pay');
    expect(globex.getKey('k1')!.owner).toBe('globex-ledger');
    expect(globex.getKey('only-acme')).toBeUndefined();
    expect(globex.hasKey('only-acme')).toBe(false);
    expect(() => globex.updateKey('only-acme', { owner: 'x' })).toThrow(KeyNotFoundError);
    expect(acme.listKeys().map((k) => k.key_id)).toEqual(['k1', 'only-acme']);
    expect(globex.listKeys().map((k) => k.key_id)).toEqual(['k1']);
    expect(keys.size).toBe(0);
    expect(keys.tenants().sort()).toEqual(['acme', 'globex']);
    await expect(globex.ingestEvents([{ key_id: 'only-acme', event_type: 'encrypt' }])).rejects.toThrow(/key_events\[0\]\.key_id="only-acme" is not a registered key/);

    await acme.ingestEvents([{ key_id: 'k1', event_type: 'encrypt', count: 5, timestamp: T0 }]);
    await globex.ingestEvents([{ key_id: 'k1', event_type: 'encrypt', count: 7, timestamp: T0 }]);
    await globex.ingestEvents([{ key_id: 'k1', event_type: 'revoked', timestamp: T0 + 1 }, { key_id: 'k1', event_type: 'sign', timestamp: T0 + 2, count: 2 }]);
    expect(acme.total('crypto.key.encryption_ops', 'k1')).toBe(5);
    expect(globex.total('crypto.key.encryption_ops', 'k1')).toBe(7);
    expect(engine.view('acme').lastValue('crypto.key.encryption_ops', 'k1')).toBe(5);
    expect(engine.view('globex').lastValue('crypto.key.encryption_ops', 'k1')).toBe(7);
    expect(engine.view('default').series.size).toBe(0);
    expect(acme.getKey('k1')!.state).toBe('active');
    expect(globex.getKey('k1')!.state).toBe('revoked');
    expect(globex.violations().map((v) => [v.key_id, v.rule, v.count])).toEqual([['k1', 'inactive_key_use', 2]]);
    expect(acme.violations()).toEqual([]);
    expect(acme.violations({ keyId: 'k1' })).toEqual([]);
    expect(engine.view('acme').lastValue('crypto.key.policy_violations', 'k1')).toBeUndefined();
    expect(engine.view('globex').lastValue('crypto.key.policy_violations', 'k1')).toBe(2);
    // A violation row shows no tenant: it is always the caller's own.
    expect(Object.keys(globex.violations()[0]!)).not.toContain('tenant');

    // The periodic evaluation covers every tenant, writing each one's gauges to its own view.
    const r = await keys.evaluate();
    expect(r).toMatchObject({ tenants: 2, keys: 3 });
    expect(engine.view('acme').lastValue('crypto.key.age_days', 'only-acme')).toBe(1);
    expect(engine.view('globex').lastValue('crypto.key.age_days', 'only-acme')).toBeUndefined();
    const active = (t: string) => Object.fromEntries([...engine.view(t).series.values()].filter((s) => s.metricId === 'crypto.key.active').map((s) => [s.tags.algorithm, s.vs.at(-1)]));
    expect(active('acme')).toEqual({ 'AES-256-GCM': 2 });
    expect(active('globex')).toEqual({ 'RSA-4096': 0 });

    // Audit ids are per tenant: one tenant's import does not hide the other's.
    acme.markImported('vault', ['req-1']);
    expect(acme.importedAmong('vault', ['req-1', 'req-2'])).toEqual(new Set(['req-1']));
    expect(globex.importedAmong('vault', ['req-1'])).toEqual(new Set());
    await keys.close();

    // After a restart every tenant has its own keys, totals and open conditions back.
    const again = await open();
    expect(again.forTenant('globex').getKey('k1')!.owner).toBe('globex-ledger');
    expect(again.forTenant('acme').total('crypto.key.encryption_ops', 'k1')).toBe(5);
    expect(again.forTenant('globex').total('crypto.key.encryption_ops', 'k1')).toBe(7);
    expect(again.forTenant('globex').total('crypto.key.signing_ops', 'k1')).toBe(2);
    expect(again.forTenant('acme').importedAmong('vault', ['req-1']).size).toBe(1);
    await again.close();
  });

  it('refuses tenant names outside the pattern', async () => {
    const keys = await open();
    expect(() => keys.forTenant('no spaces')).toThrow(RangeError);
    expect(() => keys.forTenant('')).toThrow(/tenant="" must match/);
    await keys.close();
  });

  it('200 tenants: each keeps its own keys and counts (sampled), one evaluation covers them all', async () => {
    const keys = await open({ policy: parseKeyPolicy({ max_age_days: 1 }) });
    const tenants = Array.from({ length: 200 }, (_, i) => `t${i}`);
    for (const [i, t] of tenants.entries()) {
      const view = keys.forTenant(t);
      view.registerKeys([key('shared', { owner: `owner-${i}` }), key(`own-${i}`)]);
      await view.ingestEvents([{ key_id: 'shared', event_type: 'decrypt', count: i + 1, timestamp: T0 }]);
    }
    clock = T0 + 2 * DAY;
    const r = await keys.evaluate();
    expect(r).toMatchObject({ tenants: 200, keys: 400, violations: 400 });
    for (const i of [0, 1, 57, 133, 199]) {
      const view = keys.forTenant(`t${i}`);
      expect(view.listKeys().map((k) => k.key_id)).toEqual([`own-${i}`, 'shared']);
      expect(view.getKey('shared')!.owner).toBe(`owner-${i}`);
      expect(engine.view(`t${i}`).lastValue('crypto.key.decryption_ops', 'shared')).toBe(i + 1);
      expect(view.violations().map((v) => `${v.key_id}:${v.rule}`).sort()).toEqual([`own-${i}:max_age`, 'shared:max_age']);
    }
    await keys.close();
  });
});

describe('routes', () => {
  const ACCESS: Record<string, Role> = {
    'POST /api/v1/keys/events': 'writer',
    'POST /api/v1/keys': 'admin',
    'GET /api/v1/keys': 'reader',
    'GET /api/v1/keys/:key_id': 'reader',
    'PATCH /api/v1/keys/:key_id': 'admin',
    'GET /api/v1/keys/:key_id/violations': 'reader',
    'GET /api/v1/policy/violations': 'reader',
  };

  function call(routes: RouteDefinition[], principal: Principal, method: string, path: string, body?: unknown, query = '') {
    for (const r of routes) {
      if (r.method !== method) continue;
      const names: string[] = [];
      const re = new RegExp('^' + r.pattern.replace(/:([a-z_]+)/g, (_m, n: string) => (names.push(n), '([^/]+)')) + '$');
      const m = re.exec(path);
      if (m === null) continue;
      const params = Object.fromEntries(names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
      const req: HttpRequest = { method: method as HttpRequest['method'], path, params, query: new URLSearchParams(query), headers: {}, body, remoteAddress: '10.0.0.1', principal };
      return Promise.resolve(r.handler(req));
    }
    throw new Error(`no route ${method} ${path}`);
  }
  const as = (tenant: string, role: Role = 'admin'): Principal => ({ id: `ak_${tenant}`, kind: 'api_key', role, tenant });

  it('every route declares its access: views reader, event ingest writer, inventory changes admin', async () => {
    const keys = await open();
    const routes = keyRoutes(keys, now);
    expect(Object.fromEntries(routes.map((r) => [`${r.method} ${r.pattern}`, r.access]))).toEqual(ACCESS);
    for (const r of routes) expect(ROLES).toContain(r.access);
    await keys.close();
  });

  it('acts on the caller\'s tenant only: another tenant\'s key is 404, a tenant in the body is refused', async () => {
    const keys = await open();
    const routes = keyRoutes(keys, now);
    await call(routes, as('acme'), 'POST', '/api/v1/keys', key('k1'));
    await call(routes, as('acme'), 'POST', '/api/v1/keys/events', { events: [{ key_id: 'k1', event_type: 'encrypt', count: 3 }] });
    expect(keys.forTenant('acme').hasKey('k1')).toBe(true);
    expect(keys.hasKey('k1')).toBe(false);
    const other = as('globex', 'reader');
    await expect(call(routes, other, 'GET', '/api/v1/keys/k1')).rejects.toMatchObject({ status: 404 });
    await expect(call(routes, other, 'GET', '/api/v1/keys/k1/violations')).rejects.toMatchObject({ status: 404 });
    await expect(call(routes, as('globex'), 'PATCH', '/api/v1/keys/k1', { owner: 'x' })).rejects.toMatchObject({ status: 404 });
    await expect(call(routes, as('globex', 'writer'), 'POST', '/api/v1/keys/events', { events: [{ key_id: 'k1', event_type: 'encrypt' }] }))
      .rejects.toMatchObject({ status: 400, body: { index: 0, field: 'key_id' } });
    expect((await call(routes, other, 'GET', '/api/v1/keys')).body).toEqual({ keys: [], count: 0 });
    // The tenant comes from the credentials; naming one in the body is refused, not obeyed.
    await expect(call(routes, as('globex'), 'POST', '/api/v1/keys', { ...key('k2'), tenant: 'acme' }))
      .rejects.toMatchObject({ status: 400, body: { field: 'tenant' } });
    await expect(call(routes, as('globex', 'writer'), 'POST', '/api/v1/keys/events', { events: [{ key_id: 'k1', event_type: 'encrypt', tenant: 'acme' }] }))
      .rejects.toMatchObject({ status: 400, body: { field: 'tenant' } });
    expect(keys.forTenant('acme').total('crypto.key.encryption_ops', 'k1')).toBe(3);
    await keys.close();
  });

  it('refuses oversized query parameters naming them', async () => {
    const keys = await open();
    const routes = keyRoutes(keys, now);
    await expect(call(routes, as('acme', 'reader'), 'GET', '/api/v1/keys', undefined, `owner=${'o'.repeat(300)}`))
      .rejects.toMatchObject({ status: 400, body: { field: 'owner' } });
    await expect(call(routes, as('acme', 'reader'), 'GET', '/api/v1/policy/violations', undefined, `key_id=${'k'.repeat(300)}`))
      .rejects.toThrow(/key_id="k{80}…\(300 chars\)" must be at most 256 characters/);
    await keys.close();
  });
});

describe('stream frames', () => {
  it('key_events go to the principal\'s tenant; no principal or a reader is refused', async () => {
    const keys = await open();
    keys.forTenant('acme').registerKey(key('k1'));
    const ingest = keyEventIngestor(keys);
    const events = [{ key_id: 'k1', event_type: 'decrypt', count: 4 }];
    await expect(ingest(events, { remoteAddress: '10.0.0.1', seq: 1 })).rejects.toMatchObject({ status: 401 });
    const reader: Principal = { id: 'ak_r', kind: 'api_key', role: 'reader', tenant: 'acme' };
    await expect(ingest(events, { principal: reader, remoteAddress: '10.0.0.1', seq: 2 })).rejects.toThrow(/role=reader of ak_r may not ingest key events \(needs writer\)/);
    await expect(ingest(events, { principal: { ...reader, role: 'writer', tenant: 'globex' }, remoteAddress: '10.0.0.1', seq: 3 }))
      .rejects.toThrow(/key_id="k1" is not a registered key/);
    expect(await ingest(events, { principal: { ...reader, role: 'writer' }, remoteAddress: '10.0.0.1', seq: 4 })).toEqual({ accepted: 1 });
    expect(await ingest(events, { principal: { ...reader, role: 'operator' }, remoteAddress: '10.0.0.1', seq: 5 })).toEqual({ accepted: 1 });
    expect(keys.forTenant('acme').total('crypto.key.decryption_ops', 'k1')).toBe(8);
    await keys.close();
  });
});

describe('quota', () => {
  it('refuses registrations past the tenant\'s keys quota, whole, without touching other tenants', async () => {
    const keys = await open({ quotas: (t) => ({ ...DEFAULT_QUOTAS, keys: t === 'small' ? 2 : 100 }) });
    const small = keys.forTenant('small');
    small.registerKey(key('a'));
    expect(() => small.registerKeys([key('b'), key('c')])).toThrow(QuotaExceededError);
    expect(small.size).toBe(1); // all or nothing
    small.registerKey(key('b'));
    let err: unknown;
    try {
      small.registerKey(key('c'));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect(err).toMatchObject({ tenant: 'small', quota: 'keys', limit: 2 });
    expect((err as Error).message).toMatch(/tenant small: quota keys=2 reached: 2 keys registered, 1 more refused/);
    keys.forTenant('big').registerKeys([key('a'), key('b'), key('c')]);
    await keys.close();
    // Nothing past the quota reached keys.db.
    const again = await open();
    expect(again.forTenant('small').listKeys().map((k) => k.key_id)).toEqual(['a', 'b']);
    await again.close();
  });

  it('the HTTP route passes QuotaExceededError through for the server\'s 429', async () => {
    const keys = await open({ quotas: () => ({ ...DEFAULT_QUOTAS, keys: 0 }) });
    const route = keyRoutes(keys, now).find((r) => r.method === 'POST' && r.pattern === '/api/v1/keys')!;
    const req: HttpRequest = {
      method: 'POST', path: '/api/v1/keys', params: {}, query: new URLSearchParams(), headers: {}, body: key('k'), remoteAddress: '::1',
      principal: { id: 'ak', kind: 'api_key', role: 'admin', tenant: 'acme' },
    };
    await expect(Promise.resolve(route.handler(req))).rejects.toBeInstanceOf(QuotaExceededError);
    await keys.close();
  });
});

describe('keys.db written before tenants (schema version 1)', () => {
  const V1_DDL = `
    CREATE TABLE keys (key_id TEXT PRIMARY KEY, key_type TEXT NOT NULL, algorithm TEXT NOT NULL, owner TEXT NOT NULL,
      backend TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER, rotation_period_days REAL, state TEXT NOT NULL,
      tags TEXT NOT NULL, last_rotated_at INTEGER, operations_since_rotation INTEGER NOT NULL, updated_at INTEGER NOT NULL);
    CREATE TABLE policy_violations (id INTEGER PRIMARY KEY AUTOINCREMENT, key_id TEXT NOT NULL, rule TEXT NOT NULL,
      reason TEXT NOT NULL, timestamp INTEGER NOT NULL, count INTEGER NOT NULL, event_type TEXT, actor TEXT, source_ip TEXT);
    CREATE INDEX policy_violations_by_key ON policy_violations (key_id, timestamp);
    CREATE TABLE meta (name TEXT PRIMARY KEY, value REAL NOT NULL) WITHOUT ROWID;
    CREATE TABLE imported_records (source TEXT NOT NULL, record_id TEXT NOT NULL, PRIMARY KEY (source, record_id)) WITHOUT ROWID;
    CREATE TABLE open_conditions (key_id TEXT NOT NULL, rule TEXT NOT NULL, since INTEGER NOT NULL, PRIMARY KEY (key_id, rule)) WITHOUT ROWID;`;

  function writeV1(userVersion: number): void {
    const db = new Database(join(dir, 'keys.db'));
    db.exec(V1_DDL);
    const ins = db.prepare(`INSERT INTO keys VALUES (?, 'encryption', 'AES-256-GCM', 'legacy', 'vault', ?, NULL, 30, ?, '{"team":"blue"}', NULL, 12, ?)`);
    ins.run('old-1', T0 - 100 * DAY, 'active', T0 - DAY);
    ins.run('old-2', T0 - 50 * DAY, 'revoked', T0 - DAY);
    db.prepare(`INSERT INTO policy_violations (key_id, rule, reason, timestamp, count, event_type, actor, source_ip)
      VALUES ('old-2', 'inactive_key_use', 'decrypt on a revoked key', ?, 3, 'decrypt', 'svc', '10.0.0.9')`).run(T0 - 2 * DAY);
    db.prepare(`INSERT INTO meta VALUES ('min_backfill_ts', ?)`).run(T0 - 10 * DAY);
    db.prepare(`INSERT INTO imported_records VALUES ('vault', 'req-1')`).run();
    db.prepare(`INSERT INTO open_conditions VALUES ('old-1', 'rotation_overdue', ?)`).run(T0 - 70 * DAY);
    db.pragma(`user_version = ${userVersion}`);
    db.close();
  }

  it('migrates every row to tenant default on open, keeps ids, and later tenants start empty', async () => {
    writeV1(1);
    // Counters written before the migration live in the default tenant's series.
    await engine.collectMetrics([{ metricId: 'crypto.key.decryption_ops', metricType: 'counter', tags: { key_id: 'old-2' }, timestamp: T0 - 2 * DAY, value: 40 }]);
    const keys = await open({ policy: parseKeyPolicy({ default_rotation_period_days: 30 }) });
    expect(keys.listKeys().map((k) => [k.key_id, k.state, k.owner, k.operations_since_rotation, k.tags])).toEqual([
      ['old-1', 'active', 'legacy', 12, { team: 'blue' }], ['old-2', 'revoked', 'legacy', 12, { team: 'blue' }],
    ]);
    expect(keys.violations()).toEqual([{
      id: 1, key_id: 'old-2', rule: 'inactive_key_use', reason: 'decrypt on a revoked key', timestamp: T0 - 2 * DAY, count: 3,
      event_type: 'decrypt', actor: 'svc', source_ip: '10.0.0.9',
    }]);
    expect(keys.importedAmong('vault', ['req-1']).size).toBe(1);
    expect(keys.total('crypto.key.decryption_ops', 'old-2')).toBe(40);
    // The open condition survived: the next evaluation does not record rotation_overdue again.
    await keys.evaluate();
    expect(keys.violations({ rule: 'rotation_overdue' })).toEqual([]);
    expect(keys.forTenant('acme').size).toBe(0);
    expect(keys.forTenant('acme').violations()).toEqual([]);
    expect(keys.forTenant('acme').importedAmong('vault', ['req-1']).size).toBe(0);
    // The same key id in another tenant is a different key.
    keys.forTenant('acme').registerKey(key('old-1'));
    await keys.close();

    const db = new Database(join(dir, 'keys.db'), { readonly: true });
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    expect(db.prepare('SELECT tenant, key_id FROM keys ORDER BY tenant, key_id').all()).toEqual([
      { tenant: 'acme', key_id: 'old-1' }, { tenant: 'default', key_id: 'old-1' }, { tenant: 'default', key_id: 'old-2' },
    ]);
    expect(db.prepare("SELECT name FROM sqlite_master WHERE name LIKE '%_v1' OR name = 'policy_violations_by_key'").all()).toEqual([]);
    db.close();
    // A second open finds version 2 and changes nothing.
    const again = await open();
    expect(again.size).toBe(2);
    await again.close();
  });

  it('migrates version-1 tables at user_version 0 (a file cut off before its version was set)', async () => {
    writeV1(0);
    const keys = await open();
    expect(keys.size).toBe(2);
    await keys.close();
  });

  it('refuses a file of an unknown version, naming it', async () => {
    const db = new Database(join(dir, 'keys.db'));
    db.pragma('user_version = 9');
    db.close();
    await expect(open()).rejects.toThrow(/keys\.db schema version 9 is not supported \(expected 2, or 1 to migrate\)/);
  });
});

describe('bounded inputs', () => {
  it('key ids, names, tags, batches and policy globs have limits; errors name field and value', async () => {
    const keys = await open();
    const long = 'k'.repeat(300);
    expect(() => keys.registerKey(key(long))).toThrow(/key\.key_id="k{80}…\(300 chars\)" must be at most 256 characters/);
    expect(() => keys.registerKey(key('k', { owner: 'o'.repeat(257) }))).toThrow(/key\.owner=.* must be a non-empty string of at most 256 characters/);
    expect(() => keys.registerKey(key('k', { algorithm: 'A'.repeat(65) }))).toThrow(/key\.algorithm=/);
    expect(() => keys.registerKey(key('k', { tags: { team: 't'.repeat(1025) } }))).toThrow(/key\.tags\.team=.* must be at most 1024 characters/);
    const many = Object.fromEntries(Array.from({ length: 33 }, (_, i) => [`t${i}`, 'v']));
    expect(() => keys.registerKey(key('k', { tags: many }))).toThrow(/key\.tags=object must have at most 32 tags/);
    let err: unknown;
    try {
      keys.registerKey(key('k', { tags: { 'bad key': 'v' } }));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(KeyValidationError);
    expect((err as KeyValidationError).field).toBe('tags.bad key');
    expect(() => keys.registerKeys(Array.from({ length: 10_001 }, (_, i) => key(`k${i}`)))).toThrow(/keys=array\(10001\) must hold at most 10000 keys per request/);
    expect(keys.size).toBe(0);

    keys.registerKey(key('k'));
    const bad = async (events: unknown, re: RegExp) => {
      const e = await keys.ingestEvents(events).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(KeyEventValidationError);
      expect((e as Error).message).toMatch(re);
    };
    await bad([{ key_id: long, event_type: 'encrypt' }], /key_events\[0\]\.key_id="k{80}…\(300 chars\)" must be at most 256 characters/);
    await bad([{ key_id: 'k', event_type: 'encrypt', actor: 'a'.repeat(1025) }], /key_events\[0\]\.actor=.* at most 1024 characters/);
    await bad(Array.from({ length: 100_001 }, () => ({ key_id: 'k', event_type: 'encrypt' })), /key_events=array\(100001\) must hold at most 100000 events/);
    await keys.close();

    expect(() => parseKeyPolicy({ operation_budgets: [{ algorithms: ['A'.repeat(600)], event_types: ['encrypt'], max_operations: 1 }] }))
      .toThrow(/key_policies\.operation_budgets\[0\]\.algorithms\[0\]="A{80}…\(600 chars\)" must be a non-empty glob/);
    expect(() => parseKeyPolicy({ operation_budgets: [{ algorithms: ['-'], event_types: ['encrypt'], max_operations: 1 }] })).toThrow(KeyPolicyConfigError);
  });

  it('policy globs match in linear time, with ? for one character', async () => {
    const policy = parseKeyPolicy({ operation_budgets: [{ algorithms: ['*A*A*A*A*A*A*A*A*A*A*B', 'AES???GCM'], event_types: ['encrypt'], max_operations: 1 }] });
    const keys = await open({ policy });
    keys.registerKey(key('slow', { algorithm: 'A'.repeat(64) }));
    keys.registerKey(key('gcm', { algorithm: 'AES-256-GCM' }));
    const started = performance.now();
    await keys.ingestEvents([{ key_id: 'slow', event_type: 'encrypt', count: 5 }, { key_id: 'gcm', event_type: 'encrypt', count: 5 }]);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(keys.violations({ rule: 'operation_budget' }).map((v) => v.key_id)).toEqual(['gcm']);
    await keys.close();
  });
});

describe('times', () => {
  it('are read as everywhere else in EMMS: ISO without offset is UTC, digit strings are epoch ms, other forms are refused', async () => {
    const keys = await open();
    expect(keys.registerKey(key('a', { expires_at: '2030-01-01T00:00:00' })).expires_at).toBe(Date.UTC(2030, 0, 1));
    expect(keys.registerKey(key('b', { expires_at: String(Date.UTC(2031, 0, 1)) })).expires_at).toBe(Date.UTC(2031, 0, 1));
    expect(() => keys.registerKey(key('c', { expires_at: 'Jan 1 2030' }))).toThrow(/key\.expires_at="Jan 1 2030" must be an epoch-millisecond number or an ISO-8601 time/);
    expect(() => keys.registerKey(key('c', { expires_at: Date.UTC(2200, 0, 1) }))).toThrow(/must be a time in \[1970, 2200\)/);
    await keys.ingestEvents([{ key_id: 'a', event_type: 'rotated', timestamp: '2025-01-01T12:00:00' }]);
    expect(keys.getKey('a')!.last_rotated_at).toBe(Date.UTC(2025, 0, 1, 12));
    await expect(keys.ingestEvents([{ key_id: 'a', event_type: 'rotated', timestamp: 'Wed, 01 Jan 2025 12:00:00 GMT' }])).rejects.toThrow(/key_events\[0\]\.timestamp=/);
    await keys.close();
  });
});

it('HttpError is what the frame handler throws (the server nacks with its message)', async () => {
  const keys = await open();
  await expect(keyEventIngestor(keys)([], { remoteAddress: '::1', seq: null })).rejects.toBeInstanceOf(HttpError);
  await keys.close();
});
