/**
 * Dashboard sessions in-process: the store (ids, expiry, bounds), the cookie, the cookie-aware
 * authenticator (CSRF on state changes, re-authentication with the stored credential, tenant
 * switching left to the inner authenticator) and the page/asset/session routes.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AuthResult, Authenticator, Credentials } from '../../src/auth/authenticator.js';
import { dashboardRoutes } from '../../src/dashboard/dashboard_routes.js';
import { createDashboard } from '../../src/dashboard/dashboard.js';
import { DASHBOARD_CSP, assetHeaders, pageHeaders } from '../../src/dashboard/security_headers.js';
import { SessionAuthenticator } from '../../src/dashboard/session_authenticator.js';
import { SESSION_COOKIE, clearedSessionCookie, sessionCookie, sessionIdFromCookie } from '../../src/dashboard/session_cookie.js';
import { SessionStore, csrfMatches } from '../../src/dashboard/session_store.js';
import { loadDashboardAssets } from '../../src/dashboard/static_assets.js';
import type { HttpRequest, Principal } from '../../src/http/route.js';
import type { MetricsSystem } from '../../src/model/api.js';

const OPERATOR: Principal = { id: 'ak_op', kind: 'api_key', role: 'operator', tenant: 'default' };
const READER: Principal = { id: 'ak_reader', kind: 'api_key', role: 'reader', tenant: 'acme' };

/** Tokens `tok-op` and `tok-reader`; X-Emms-Tenant as the real authenticator applies it. */
class FakeAuthenticator implements Authenticator {
  required = true;
  calls: Credentials[] = [];
  revoked = new Set<string>();
  authenticate(c: Credentials): AuthResult {
    this.calls.push(c);
    const token = c.authorization?.replace(/^Bearer /, '');
    const p = token === 'tok-op' ? OPERATOR : token === 'tok-reader' ? READER : undefined;
    if (p === undefined || this.revoked.has(p.id)) return { ok: false, status: 401, error: 'invalid API key' };
    if (c.tenantHeader !== undefined && c.tenantHeader !== p.tenant) {
      return p.role === 'operator' ? { ok: true, principal: { ...p, tenant: c.tenantHeader } } : { ok: false, status: 403, error: 'tenant_not_allowed' };
    }
    return { ok: true, principal: p };
  }
  stillValid(p: Principal): boolean {
    return !this.revoked.has(p.id);
  }
}

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => { t += ms; } };
}

describe('SessionStore', () => {
  it('issues unguessable ids, finds live sessions, forgets ended ones', () => {
    const c = clock();
    const store = new SessionStore({ ttlMs: 1000, now: c.now });
    const { id, session } = store.create('tok-op', OPERATOR);
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(session.key).not.toBe(id);
    expect(store.get(id)).toBe(session);
    expect(store.get('short')).toBeUndefined();
    expect(store.get(undefined)).toBeUndefined();
    expect(store.get('A'.repeat(43))).toBeUndefined();
    c.advance(1000);
    expect(store.get(id)).toBeUndefined();
    expect(store.size).toBe(0);
    const again = store.create('tok-op', OPERATOR);
    expect(store.delete(again.id)).toBe(true);
    expect(store.delete(again.id)).toBe(false);
    expect(store.delete('bad id')).toBe(false);
  });

  it('ends a JWT session at the token\'s own exp when that is earlier', () => {
    const c = clock();
    const store = new SessionStore({ ttlMs: 10_000, now: c.now });
    const { session } = store.create('jwt', { id: 'jwt:alice', kind: 'jwt', role: 'reader', tenant: 'acme', expiresAtMs: c.now() + 500 });
    expect(session.expiresMs).toBe(c.now() + 500);
  });

  it('is bounded per principal and overall, dropping the oldest', () => {
    const store = new SessionStore({ maxPerPrincipal: 2, maxSessions: 3 });
    const a = store.create('tok-op', OPERATOR);
    const b = store.create('tok-op', OPERATOR);
    const c = store.create('tok-op', OPERATOR);
    expect(store.get(a.id)).toBeUndefined();
    expect(store.get(b.id)).toBeDefined();
    expect(store.get(c.id)).toBeDefined();
    store.create('tok-reader', READER);
    const e = store.create('tok-reader', { ...READER, id: 'ak_other' });
    expect(store.size).toBe(3);
    expect(store.get(b.id)).toBeUndefined();
    expect(store.get(e.id)).toBeDefined();
    expect(() => new SessionStore({ ttlMs: 0 })).toThrow(/ttlMs must be positive; got 0/);
  });

  it('compares CSRF tokens in constant time and refuses missing or wrong ones', () => {
    const { session } = new SessionStore().create('tok-op', OPERATOR);
    expect(csrfMatches(session, session.csrfToken)).toBe(true);
    expect(csrfMatches(session, undefined)).toBe(false);
    expect(csrfMatches(session, 'x')).toBe(false);
    expect(csrfMatches(session, `${session.csrfToken.slice(0, -1)}A`)).toBe(session.csrfToken.endsWith('A'));
  });
});

describe('session cookie', () => {
  it('is HttpOnly, SameSite=Strict, Secure under TLS, and read back from a Cookie header among others', () => {
    expect(sessionCookie('abc', 3_600_500, false)).toBe(`${SESSION_COOKIE}=abc; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict`);
    expect(sessionCookie('abc', 1000, true)).toMatch(/; Secure$/);
    expect(clearedSessionCookie(true)).toBe(`${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict; Secure`);
    expect(sessionIdFromCookie(`theme=dark; ${SESSION_COOKIE}=xyz ; other=1`)).toBe('xyz');
    expect(sessionIdFromCookie('theme=dark; broken')).toBeUndefined();
    expect(sessionIdFromCookie(undefined)).toBeUndefined();
    expect(sessionIdFromCookie(`${SESSION_COOKIE}=${'x'.repeat(9000)}`)).toBeUndefined();
  });
});

describe('SessionAuthenticator', () => {
  function setup() {
    const inner = new FakeAuthenticator();
    const store = new SessionStore();
    const auth = new SessionAuthenticator(inner, store);
    const { id, session } = store.create('tok-reader', READER);
    const cookie = `${SESSION_COOKIE}=${id}`;
    return { inner, store, auth, id, session, cookie };
  }
  const base = { authorization: undefined, tenantHeader: undefined, remoteAddress: '127.0.0.1' };

  it('authenticates a live session cookie as its credential, re-checked on every request', () => {
    const { inner, auth, cookie } = setup();
    expect(auth.required).toBe(true);
    expect(auth.authenticate({ ...base, cookie, method: 'GET' })).toEqual({ ok: true, principal: READER });
    expect(inner.calls.at(-1)).toMatchObject({ authorization: 'Bearer tok-reader' });
    inner.revoked.add(READER.id);
    expect(auth.authenticate({ ...base, cookie, method: 'GET' })).toMatchObject({ ok: false, status: 401 });
    expect(auth.stillValid(READER)).toBe(false);
  });

  it('needs the CSRF header for anything but GET and HEAD', () => {
    const { auth, cookie, session } = setup();
    expect(auth.authenticate({ ...base, cookie, method: 'POST' })).toMatchObject({ ok: false, status: 403, error: expect.stringContaining('X-Emms-CSRF') });
    expect(auth.authenticate({ ...base, cookie, method: 'DELETE', csrfToken: 'wrong' })).toMatchObject({ ok: false, status: 403 });
    expect(auth.authenticate({ ...base, cookie, method: 'PUT', csrfToken: session.csrfToken })).toMatchObject({ ok: true });
    expect(auth.authenticate({ ...base, cookie, method: 'HEAD' })).toMatchObject({ ok: true });
  });

  it('leaves bearer tokens, tickets and cookie-less requests to the inner authenticator, and does not count stray cookies', () => {
    const { inner, auth } = setup();
    expect(auth.authenticate({ ...base, authorization: 'Bearer tok-op', cookie: 'emms_session=whatever' })).toEqual({ ok: true, principal: OPERATOR });
    expect(auth.authenticate({ ...base, wsTicket: 't' })).toMatchObject({ ok: false, status: 401 });
    const calls = inner.calls.length;
    expect(auth.authenticate({ ...base, cookie: 'theme=dark' })).toMatchObject({ ok: false, status: 401, error: expect.stringContaining('not signed in') });
    expect(inner.calls.length).toBe(calls);
    expect(auth.authenticate({ ...base, cookie: '' })).toMatchObject({ ok: false, status: 401 });
    expect(inner.calls.length).toBe(calls + 1);
  });

  it('applies X-Emms-Tenant through the inner authenticator: only an operator switches', () => {
    const inner = new FakeAuthenticator();
    const store = new SessionStore();
    const auth = new SessionAuthenticator(inner, store);
    const op = store.create('tok-op', OPERATOR);
    const reader = store.create('tok-reader', READER);
    expect(auth.authenticate({ ...base, cookie: `${SESSION_COOKIE}=${op.id}`, tenantHeader: 'acme' })).toMatchObject({ ok: true, principal: { tenant: 'acme' } });
    expect(auth.authenticate({ ...base, cookie: `${SESSION_COOKIE}=${reader.id}`, tenantHeader: 'default' })).toMatchObject({ ok: false, status: 403 });
  });

  it('passes everything through when authentication is off', () => {
    const inner = new FakeAuthenticator();
    inner.required = false;
    const auth = new SessionAuthenticator(inner, new SessionStore());
    auth.authenticate({ ...base, cookie: 'emms_session=x' });
    expect(inner.calls).toHaveLength(1);
    expect(new SessionAuthenticator({ required: true, authenticate: () => ({ ok: false, status: 401, error: '' }) }, new SessionStore()).stillValid(READER)).toBe(true);
  });
});

const webRoot = mkdtempSync(join(tmpdir(), 'emms-web-'));
mkdirSync(join(webRoot, 'assets'));
writeFileSync(join(webRoot, 'index.html'), '<!doctype html><title>EMMS</title>');
writeFileSync(join(webRoot, 'assets', 'app-ABCDEF1234.js'), 'console.log(1)');
writeFileSync(join(webRoot, 'assets', 'emms-0123456789.wasm'), new Uint8Array([0, 97, 115, 109]));
writeFileSync(join(webRoot, 'assets', 'notes.txt'), 'not an asset');
afterAll(() => rmSync(webRoot, { recursive: true, force: true }));

function request(method: HttpRequest['method'], path: string, init: Partial<HttpRequest> = {}): HttpRequest {
  return { method, path, params: {}, query: new URLSearchParams(), headers: {}, body: undefined, remoteAddress: '127.0.0.1', principal: undefined, ...init };
}

describe('dashboard routes', () => {
  const inner = new FakeAuthenticator();
  const sessions = new SessionStore();
  const routes = dashboardRoutes({ assets: loadDashboardAssets(webRoot), sessions, authenticator: inner, secure: true });
  const route = (method: string, pattern: string) => routes.find((r) => r.method === method && r.pattern === pattern)!;

  it('serves the page with the CSP, and hashed assets as immutable', async () => {
    const page = await route('GET', '/').handler(request('GET', '/'));
    expect(page).toMatchObject({ contentType: 'text/html; charset=utf-8', body: '<!doctype html><title>EMMS</title>' });
    expect(page.headers!['content-security-policy']).toBe(DASHBOARD_CSP);
    const js = await route('GET', '/assets/:name').handler(request('GET', '/assets/app-ABCDEF1234.js', { params: { name: 'app-ABCDEF1234.js' } }));
    expect(js).toMatchObject({ contentType: 'text/javascript; charset=utf-8', headers: assetHeaders() });
    const wasm = await route('GET', '/assets/:name').handler(request('GET', '/assets/x', { params: { name: 'emms-0123456789.wasm' } }));
    expect(wasm.contentType).toBe('application/wasm');
    await expect(async () => route('GET', '/assets/:name').handler(request('GET', '/assets/notes.txt', { params: { name: 'notes.txt' } }))).rejects.toMatchObject({ status: 404 });
    await expect(async () => route('GET', '/assets/:name').handler(request('GET', '/assets/', { params: {} }))).rejects.toMatchObject({ status: 404 });
    expect(pageHeaders()['x-frame-options']).toBe('DENY');
    expect(routes.every((r) => r.schema !== undefined)).toBe(true);
  });

  it('answers 503 naming the fix when the front end was not built', async () => {
    const missing = dashboardRoutes({ assets: loadDashboardAssets(join(webRoot, 'nope')), sessions, authenticator: inner, secure: false });
    const r = await missing.find((x) => x.pattern === '/')!.handler(request('GET', '/'));
    expect(r.status).toBe(503);
    expect(String(r.body)).toContain('npm run build:web');
  });

  it('signs in with a valid token only, sets the cookie and answers the CSRF token', async () => {
    const signIn = route('POST', '/api/v1/dashboard/session');
    await expect(async () => signIn.handler(request('POST', '/s', { body: {} }))).rejects.toMatchObject({ status: 400, body: { parameter: 'token' } });
    await expect(async () => signIn.handler(request('POST', '/s', { body: { token: 'a b' } }))).rejects.toMatchObject({ status: 400 });
    await expect(async () => signIn.handler(request('POST', '/s', { body: { token: 'nope' } }))).rejects.toMatchObject({ status: 401, message: 'invalid API key' });
    const ok = await signIn.handler(request('POST', '/s', { body: { token: ' tok-reader ' } }));
    expect(ok.status).toBe(201);
    const setCookie = ok.headers!['set-cookie']!;
    expect(setCookie).toMatch(/^emms_session=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=28800; HttpOnly; SameSite=Strict; Secure$/);
    const body = ok.body as { principal: Principal; csrf_token: string };
    expect(body.principal).toEqual({ id: READER.id, kind: 'api_key', role: 'reader', tenant: 'acme' });
    const cookie = setCookie.split(';')[0]!;
    const session = sessions.get(sessionIdFromCookie(cookie))!;
    expect(session.credential).toBe('tok-reader');
    expect(body.csrf_token).toBe(session.csrfToken);

    const current = route('GET', '/api/v1/dashboard/session');
    expect((await current.handler(request('GET', '/s', { headers: { cookie }, principal: READER }))).body).toMatchObject({ signed_in: true, csrf_token: session.csrfToken });
    expect((await current.handler(request('GET', '/s', { headers: {} }))).body).toEqual({ signed_in: false });

    const signOut = route('DELETE', '/api/v1/dashboard/session');
    await expect(async () => signOut.handler(request('DELETE', '/s', { headers: { cookie } }))).rejects.toMatchObject({ status: 403 });
    const out = await signOut.handler(request('DELETE', '/s', { headers: { cookie, 'x-emms-csrf': session.csrfToken } }));
    expect(out).toMatchObject({ body: { signed_out: true }, headers: { 'set-cookie': clearedSessionCookie(true) } });
    expect(sessions.get(sessionIdFromCookie(cookie))).toBeUndefined();
    expect((await signOut.handler(request('DELETE', '/s', { headers: { cookie } }))).body).toEqual({ signed_out: false });
  });
});

describe('createDashboard', () => {
  it('wraps the authenticator, mounts the routes and the live socket, and starts/stops its hub', () => {
    const engine = { running: false } as unknown as MetricsSystem;
    const d = createDashboard({ engine, authenticator: new FakeAuthenticator(), tls: false, webRoot });
    expect(d.built).toBe(true);
    expect(d.authenticator).toBeInstanceOf(SessionAuthenticator);
    expect(d.routes.map((r) => `${r.method} ${r.pattern}`)).toContain('POST /api/v1/dashboard/session');
    expect(d.sockets.map((s) => s.path)).toEqual(['/api/v1/live']);
    d.start();
    d.stop();
    expect(d.hub.size).toBe(0);
  });
});
