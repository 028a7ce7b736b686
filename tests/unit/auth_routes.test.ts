import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openAuth } from '../../src/auth/auth_module.js';
import { authRoutes } from '../../src/auth/auth_routes.js';
import { ADMIN_TOKEN_FILE, bootstrapOperatorKey } from '../../src/auth/bootstrap.js';
import { defaultSecurityConfig } from '../../src/config/security_config.js';
import type { HttpMethod, Principal, RouteDefinition } from '../../src/http/route.js';
import { callRoute, type RouteAnswer } from './route_test_kit.js';
import { authKit, T0, type AuthKit } from './auth_test_kit.js';

let kit: AuthKit;
afterEach(() => kit?.cleanup());

type Answer = RouteAnswer;

/** Dispatches like the server (tests/unit/route_test_kit.ts), from a client address outside loopback. */
function call(routes: RouteDefinition[], who: Principal, method: HttpMethod, url: string, body?: unknown): Promise<Answer> {
  return callRoute(routes, who, method, url, body, '10.0.0.1');
}

function setup() {
  kit = authKit();
  const routes = authRoutes({ apiKeys: kit.apiKeys, tenants: kit.tenants, tickets: kit.tickets, now: kit.now });
  const op = kit.apiKeys.create({ name: 'op', tenant: '*', role: 'operator' });
  const admin = kit.apiKeys.create({ name: 'acme admin', tenant: 'acme', role: 'admin' });
  const writer = kit.apiKeys.create({ name: 'acme writer', tenant: 'acme', role: 'writer' });
  const betaAdmin = kit.apiKeys.create({ name: 'beta admin', tenant: 'beta', role: 'admin' });
  return { routes, op, admin, writer, betaAdmin };
}

describe('auth routes', () => {
  it('declares an access level on every route', () => {
    const { routes } = setup();
    expect(routes.map((r) => `${r.method} ${r.pattern} ${r.access}`)).toEqual([
      'POST /api/v1/auth/ws-ticket reader',
      'GET /api/v1/auth/whoami reader',
      'POST /api/v1/auth/keys admin',
      'GET /api/v1/auth/keys admin',
      'DELETE /api/v1/auth/keys/:key_id admin',
      'GET /api/v1/tenants operator',
      'GET /api/v1/tenants/:tenant operator',
      'PUT /api/v1/tenants/:tenant operator',
    ]);
  });

  it('lets an admin create keys of its own tenant up to its own role, and nothing more', async () => {
    const { routes, admin } = setup();
    const p = await kit.principal(admin.token);
    const created = await call(routes, p, 'POST', '/api/v1/auth/keys', { name: 'ci', role: 'writer', expires_at: '2031-01-01T00:00:00Z', allowed_networks: ['10.0.0.0/8'] });
    expect(created.status).toBe(201);
    expect(created.headers).toEqual({ 'cache-control': 'no-store' });
    expect(created.body).toMatchObject({ name: 'ci', tenant: 'acme', role: 'writer', expires_at: '2031-01-01T00:00:00.000Z', allowed_networks: ['10.0.0.0/8'], created_at: new Date(T0).toISOString() });
    expect(Object.keys(created.body).slice(0, 2)).toEqual(['key_id', 'token']);
    const token = created.body.token as string;
    expect((await kit.principal(token)).role).toBe('writer');
    expect((await call(routes, p, 'POST', '/api/v1/auth/keys', { name: 'same tenant named', tenant: 'acme', role: 'admin' })).status).toBe(201);

    const operatorKey = await call(routes, p, 'POST', '/api/v1/auth/keys', { name: 'x', role: 'operator' });
    expect(operatorKey).toMatchObject({ status: 403 });
    expect(operatorKey.body.error).toMatch(/role="operator" is above your own role \(admin\)/);
    const otherTenant = await call(routes, p, 'POST', '/api/v1/auth/keys', { name: 'x', tenant: 'beta', role: 'reader' });
    expect(otherTenant).toMatchObject({ status: 403 });
    expect(otherTenant.body.error).toMatch(/tenant="beta" is not your tenant \(acme\)/);

    for (const [body, field, message] of [
      [{ role: 'reader' }, 'name', /name=undefined must be a non-empty string/],
      [{ name: 'x', role: 'root' }, 'role', /role="root" must be one of reader, writer, admin, operator/],
      [{ name: 'x', role: 'reader', expires_at: '2020-01-01T00:00:00Z' }, 'expires_at', /expires_at="2020-01-01T00:00:00Z" must be in the future/],
      [{ name: 'x', role: 'reader', expires_at: 'tomorrow' }, 'expires_at', /must be an ISO-8601 date-time/],
      [{ name: 'x', role: 'reader', allowed_networks: ['10.0.0.0/33'] }, 'allowed_networks[0]', /allowed_networks\[0\]="10.0.0.0\/33" must be a CIDR/],
      [{ name: 'x', role: 'reader', owner: 'me' }, 'owner', /"owner" is not a field of this request/],
      [[1], 'body', /the body must be a JSON object/],
    ] as const) {
      const r = await call(routes, p, 'POST', '/api/v1/auth/keys', body);
      expect(r.status).toBe(400);
      expect(r.body.field).toBe(field);
      expect(r.body.error).toMatch(message);
    }
    const writer = await kit.principal((await call(routes, p, 'POST', '/api/v1/auth/keys', { name: 'w', role: 'writer' })).body.token as string);
    expect((await call(routes, writer, 'POST', '/api/v1/auth/keys', { name: 'x', role: 'reader' })).status).toBe(403);
  });

  it('lets an operator create keys of any tenant and role, operator keys being global', async () => {
    const { routes, op } = setup();
    const p = await kit.principal(op.token);
    const forGamma = await call(routes, p, 'POST', '/api/v1/auth/keys', { name: 'g', tenant: 'gamma', role: 'admin' });
    expect(forGamma).toMatchObject({ status: 201, body: { tenant: 'gamma', role: 'admin' } });
    const viaHeader = await call(routes, await kit.principal(op.token, 'delta'), 'POST', '/api/v1/auth/keys', { name: 'd', role: 'reader' });
    expect(viaHeader.body.tenant).toBe('delta');
    expect((await call(routes, p, 'POST', '/api/v1/auth/keys', { name: 'op2', role: 'operator' })).body.tenant).toBe('*');
    expect((await call(routes, p, 'POST', '/api/v1/auth/keys', { name: 'op3', role: 'operator', tenant: 'gamma' })).status).toBe(400);
    expect((await call(routes, p, 'POST', '/api/v1/auth/keys', { name: 'bad', role: 'reader', tenant: 'no spaces' })).status).toBe(400);
  });

  it("lists keys without tokens or hashes, scoped to the admin's tenant; operators see all or ?tenant=", async () => {
    const { routes, op, admin, writer } = setup();
    const pa = await kit.principal(admin.token);
    const list = await call(routes, pa, 'GET', '/api/v1/auth/keys');
    expect(list.status).toBe(200);
    const keys = list.body.keys as Array<Record<string, unknown>>;
    expect(keys.map((k) => k.key_id)).toEqual([admin.record.keyId, writer.record.keyId]);
    expect(Object.keys(keys[0]!).sort()).toEqual(['allowed_networks', 'created_at', 'expires_at', 'key_id', 'last_used_at', 'name', 'revoked_at', 'role', 'state', 'tenant']);
    const text = JSON.stringify(list.body);
    for (const t of [op.token, admin.token, writer.token]) expect(text).not.toContain(t.slice(5));
    expect(text).not.toMatch(/[0-9a-f]{64}/);
    expect(keys[0]!.last_used_at).toBe(new Date(T0).toISOString());
    expect((await call(routes, pa, 'GET', '/api/v1/auth/keys?tenant=beta')).status).toBe(403);

    const po = await kit.principal(op.token);
    expect(((await call(routes, po, 'GET', '/api/v1/auth/keys')).body.count)).toBe(4);
    expect(((await call(routes, po, 'GET', '/api/v1/auth/keys?tenant=beta')).body.keys as Array<{ name: string }>).map((k) => k.name)).toEqual(['beta admin']);
    expect(((await call(routes, po, 'GET', '/api/v1/auth/keys?tenant=*')).body.keys as Array<{ name: string }>).map((k) => k.name)).toEqual(['op']);
  });

  it("revokes keys of the caller's tenant; another tenant's key is 404", async () => {
    const { routes, op, admin, writer, betaAdmin } = setup();
    const pa = await kit.principal(admin.token);
    expect(await call(routes, pa, 'DELETE', `/api/v1/auth/keys/${betaAdmin.record.keyId}`)).toMatchObject({ status: 404, body: { error: `API key "${betaAdmin.record.keyId}" not found` } });
    expect((await call(routes, pa, 'DELETE', `/api/v1/auth/keys/${op.record.keyId}`)).status).toBe(404);
    expect((await call(routes, pa, 'DELETE', '/api/v1/auth/keys/ak_0000000000000000')).status).toBe(404);
    const revoked = await call(routes, pa, 'DELETE', `/api/v1/auth/keys/${writer.record.keyId}`);
    expect(revoked).toMatchObject({ status: 200, body: { key_id: writer.record.keyId, state: 'revoked', revoked_at: new Date(T0).toISOString() } });
    expect(await kit.auth({ authorization: `Bearer ${writer.token}` })).toMatchObject({ ok: false, status: 401 });
    expect((await call(routes, await kit.principal(op.token), 'DELETE', `/api/v1/auth/keys/${betaAdmin.record.keyId}`)).status).toBe(200);
  });

  it('enforces the api_keys quota, with per-tenant overrides set by the operator', async () => {
    const { routes, op, admin } = setup();
    const po = await kit.principal(op.token);
    const pa = await kit.principal(admin.token);
    const put = await call(routes, po, 'PUT', '/api/v1/tenants/acme', { quotas: { api_keys: 3 } });
    expect(put).toMatchObject({ status: 200, body: { tenant: 'acme', overrides: { api_keys: 3 }, active_api_keys: 2 } });
    expect((put.body.quotas as Record<string, number>).api_keys).toBe(3);
    expect((await call(routes, pa, 'POST', '/api/v1/auth/keys', { name: 'third', role: 'reader' })).status).toBe(201);
    const over = await call(routes, pa, 'POST', '/api/v1/auth/keys', { name: 'fourth', role: 'reader' });
    expect(over.status).toBe(429);
    expect(over.body.error).toMatch(/tenant acme: quota api_keys=3 reached/);
    expect((await call(routes, po, 'POST', '/api/v1/auth/keys', { name: 'fourth', tenant: 'acme', role: 'reader' })).status).toBe(429);
  });

  it('manages tenants for the operator only', async () => {
    const { routes, op, admin } = setup();
    const po = await kit.principal(op.token);
    const created = await call(routes, po, 'PUT', '/api/v1/tenants/newco', { quotas: { targets: 5 } });
    expect(created).toMatchObject({ status: 201, body: { tenant: 'newco', overrides: { targets: 5 }, active_api_keys: 0 } });
    expect(((await call(routes, po, 'GET', '/api/v1/tenants')).body.tenants as Array<{ tenant: string }>).map((t) => t.tenant)).toEqual(['acme', 'beta', 'newco']);
    expect((await call(routes, po, 'GET', '/api/v1/tenants/newco')).body).toMatchObject({ tenant: 'newco', quotas: { targets: 5 } });
    expect(kit.tenants.quotaLookup('newco').targets).toBe(5);
    expect((await call(routes, po, 'GET', '/api/v1/tenants/nobody')).status).toBe(404);
    const bad = await call(routes, po, 'PUT', '/api/v1/tenants/newco', { quotas: { targets: -1 } });
    expect(bad).toMatchObject({ status: 400, body: { field: 'quotas.targets' } });
    expect(bad.body.error).toMatch(/quotas.targets=-1 .* must be an integer/);
    expect((await call(routes, po, 'PUT', '/api/v1/tenants/a%20b', { quotas: {} })).status).toBe(400);
    const pa = await kit.principal(admin.token);
    for (const [method, url] of [['GET', '/api/v1/tenants'], ['GET', '/api/v1/tenants/acme'], ['PUT', '/api/v1/tenants/acme']] as const) {
      expect((await call(routes, pa, method, url, { quotas: {} })).status).toBe(403);
    }
  });

  it('answers whoami and issues WebSocket tickets to any role', async () => {
    const { routes, writer } = setup();
    const reader = kit.apiKeys.create({ name: 'r', tenant: 'acme', role: 'reader' });
    const pr = await kit.principal(reader.token);
    expect((await call(routes, pr, 'GET', '/api/v1/auth/whoami')).body).toEqual({ id: reader.record.keyId, kind: 'api_key', role: 'reader', tenant: 'acme' });
    const t = await call(routes, await kit.principal(writer.token), 'POST', '/api/v1/auth/ws-ticket');
    expect(t.status).toBe(200);
    const ticket = t.body.ticket as string;
    expect(t.body).toEqual({ ticket, expires_in_seconds: 30, protocol: `emms.ticket.${ticket}`, protocols: ['emms.v1', `emms.ticket.${ticket}`] });
    expect(await kit.auth({ wsTicket: ticket })).toMatchObject({ ok: true, principal: { id: writer.record.keyId, tenant: 'acme' } });
    for (let i = 0; i < 16; i++) await call(routes, pr, 'POST', '/api/v1/auth/ws-ticket');
    expect((await call(routes, pr, 'POST', '/api/v1/auth/ws-ticket')).status).toBe(429);
  });
});

describe('bootstrap', () => {
  it('creates an operator key and a 0600 admin.token on a data directory without keys, once', async () => {
    kit = authKit();
    writeFileSync(join(kit.dir, ADMIN_TOKEN_FILE), 'stale\n', { mode: 0o644 });
    const boot = bootstrapOperatorKey(kit.apiKeys, kit.dir)!;
    expect(boot.tokenPath).toBe(join(kit.dir, ADMIN_TOKEN_FILE));
    expect(statSync(boot.tokenPath).mode & 0o777).toBe(0o600);
    const token = readFileSync(boot.tokenPath, 'utf8').trim();
    expect(token).toMatch(/^emms_/);
    expect(await kit.principal(token, 'acme')).toEqual({ id: boot.keyId, kind: 'api_key', role: 'operator', tenant: 'acme' });
    expect(bootstrapOperatorKey(kit.apiKeys, kit.dir)).toBeUndefined();
    expect(kit.apiKeys.count()).toBe(1);
  });

  it('is wired by openAuth from the security config', async () => {
    kit = authKit();
    const failures: string[] = [];
    const auth = openAuth({ dataDir: join(kit.dir, 'data'), security: defaultSecurityConfig(), onFailure: (ip, reason) => failures.push(`${ip} ${reason}`) });
    try {
      const boot = auth.bootstrap()!;
      expect(statSync(join(kit.dir, 'data', 'auth.db')).mode & 0o777).toBe(0o600);
      const token = readFileSync(boot.tokenPath, 'utf8').trim();
      expect(await auth.authenticator.authenticate({ authorization: `Bearer ${token}`, tenantHeader: undefined, remoteAddress: '127.0.0.1' })).toMatchObject({ ok: true, principal: { role: 'operator' } });
      expect(await auth.authenticator.authenticate({ authorization: undefined, tenantHeader: undefined, remoteAddress: '127.0.0.1' })).toMatchObject({ ok: false, status: 401 });
      expect(failures).toEqual(['127.0.0.1 missing_credentials']);
      expect(auth.quotaLookup('acme').apiKeys).toBe(100);
      expect(auth.routes).toHaveLength(8);
      expect(auth.bootstrap()).toBeUndefined();
    } finally {
      auth.close();
    }
  });
});
