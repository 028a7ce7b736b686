import { afterEach, describe, expect, it } from 'vitest';
import { AuthFailureLimiter, sourceKey } from '../../src/auth/auth_failure_limiter.js';
import { ticketFromProtocols, ticketProtocol, WS_PROTOCOL, WsTicketIssuer, WsTicketLimitError } from '../../src/auth/ws_tickets.js';
import { authKit, T0, type AuthKit } from './auth_test_kit.js';

let kit: AuthKit;
afterEach(() => kit?.cleanup());

function refusal(r: Awaited<ReturnType<AuthKit['auth']>>): { status: number; error: string; retryAfterSeconds?: number } {
  if (r.ok) throw new Error(`expected a refusal; got principal ${JSON.stringify(r.principal)}`);
  return r;
}

describe('token authenticator: API keys', () => {
  it('authenticates a key synchronously and refuses missing, malformed and unknown tokens without echoing them', async () => {
    kit = authKit();
    const { record, token } = kit.apiKeys.create({ name: 'w', tenant: 'acme', role: 'writer' });
    const sync = kit.authenticator.authenticate({ authorization: `Bearer ${token}`, tenantHeader: undefined, remoteAddress: '10.0.0.1' });
    expect(sync).not.toBeInstanceOf(Promise);
    expect(sync).toEqual({ ok: true, principal: { id: record.keyId, kind: 'api_key', role: 'writer', tenant: 'acme' } });
    expect(await kit.auth({ authorization: `bearer   ${token}` })).toMatchObject({ ok: true });

    const wrong = `emms_${'x'.repeat(43)}`;
    const cases: Array<[string | undefined, number, RegExp]> = [
      [undefined, 401, /authentication required/],
      [`Basic ${token}`, 401, /must be "Bearer <token>"/],
      [`Bearer ${token} extra`, 401, /must be "Bearer <token>"/],
      [`Bearer ${wrong}`, 401, /^invalid API key$/],
      [`Bearer ${token.slice(0, -1)}`, 401, /^invalid API key$/],
      ['Bearer not-a-token', 401, /neither an EMMS API key nor a JWT/],
      ['Bearer aaa.bbb.ccc', 401, /JWT authentication is not configured/],
    ];
    for (const [authorization, status, error] of cases) {
      const r = refusal(await kit.auth({ authorization }));
      expect(r.status).toBe(status);
      expect(r.error).toMatch(error);
      expect(r.error).not.toContain(token.slice(5, 20));
      expect(r.error).not.toContain('x'.repeat(20));
    }
    expect(kit.failures.map((f) => f.reason)).toEqual([
      'missing_credentials', 'malformed_authorization', 'malformed_authorization', 'unknown_api_key', 'unknown_api_key', 'invalid_token', 'jwt_not_configured',
    ]);
    expect(new Set(kit.failures.map((f) => f.ip))).toEqual(new Set(['10.0.0.1']));
  });

  it('refuses revoked and expired keys, naming the key id', async () => {
    kit = authKit();
    const revoked = kit.apiKeys.create({ name: 'r', tenant: 'acme', role: 'reader' });
    const expiring = kit.apiKeys.create({ name: 'e', tenant: 'acme', role: 'reader', expiresAt: T0 + 60_000 });
    expect((await kit.auth({ authorization: `Bearer ${expiring.token}` })).ok).toBe(true);
    kit.apiKeys.revoke(revoked.record.keyId);
    expect(refusal(await kit.auth({ authorization: `Bearer ${revoked.token}` }))).toMatchObject({ status: 401, error: `API key ${revoked.record.keyId} has been revoked` });
    kit.clock.now = T0 + 59_999;
    expect((await kit.auth({ authorization: `Bearer ${expiring.token}` })).ok).toBe(true);
    kit.clock.now = T0 + 60_000;
    expect(refusal(await kit.auth({ authorization: `Bearer ${expiring.token}` }))).toMatchObject({
      status: 401, error: `API key ${expiring.record.keyId} expired at 2030-01-01T00:01:00.000Z`,
    });
    expect(kit.failures.map((f) => f.reason)).toEqual(['revoked_api_key', 'expired_api_key']);
  });

  it("checks the key's allowed networks, IPv4-mapped addresses included", async () => {
    kit = authKit();
    const { record, token } = kit.apiKeys.create({ name: 'n', tenant: 'acme', role: 'writer', allowedNetworks: ['10.1.0.0/16', '2001:db8::/32'] });
    for (const remoteAddress of ['10.1.2.3', '::ffff:10.1.9.9', '2001:db8::7']) {
      expect((await kit.auth({ authorization: `Bearer ${token}`, remoteAddress })).ok).toBe(true);
    }
    for (const remoteAddress of ['10.2.0.1', '127.0.0.1', '2001:db9::1']) {
      const r = refusal(await kit.auth({ authorization: `Bearer ${token}`, remoteAddress }));
      expect(r.status).toBe(403);
      expect(r.error).toBe(`API key ${record.keyId} may not be used from ${remoteAddress} (allowed: 10.1.0.0/16, 2001:db8::/32)`);
    }
  });

  it('honours X-Emms-Tenant for operators only', async () => {
    kit = authKit();
    const admin = kit.apiKeys.create({ name: 'a', tenant: 'acme', role: 'admin' });
    const op = kit.apiKeys.create({ name: 'op', tenant: '*', role: 'operator' });
    expect((await kit.principal(op.token)).tenant).toBe('default');
    expect(await kit.principal(op.token, 'beta')).toEqual({ id: op.record.keyId, kind: 'api_key', role: 'operator', tenant: 'beta' });
    expect((await kit.principal(admin.token, 'acme')).tenant).toBe('acme');
    const other = refusal(await kit.auth({ authorization: `Bearer ${admin.token}`, tenantHeader: 'beta' }));
    expect(other).toMatchObject({ status: 403 });
    expect(other.error).toMatch(/X-Emms-Tenant="beta" names a tenant other than this credential's \(acme\); only an operator/);
    const invalid = refusal(await kit.auth({ authorization: `Bearer ${op.token}`, tenantHeader: 'a b/../c' }));
    expect(invalid).toMatchObject({ status: 403 });
    expect(invalid.error).toMatch(/X-Emms-Tenant="a b\/..\/c" is not a tenant name/);
    expect(kit.failures.map((f) => f.reason)).toEqual(['tenant_not_allowed', 'invalid_tenant_header']);
  });

  it('with authentication off, everyone is the anonymous operator of the header tenant or default', async () => {
    kit = authKit({ required: false });
    expect(kit.authenticator.required).toBe(false);
    expect(await kit.auth({})).toEqual({ ok: true, principal: { id: 'anonymous', kind: 'anonymous', role: 'operator', tenant: 'default' } });
    expect(await kit.auth({ tenantHeader: 'acme', authorization: 'Bearer junk' })).toEqual({ ok: true, principal: { id: 'anonymous', kind: 'anonymous', role: 'operator', tenant: 'acme' } });
    expect(refusal(await kit.auth({ tenantHeader: '../x' })).status).toBe(403);
    expect(kit.failures).toEqual([]);
  });
});

describe('token authenticator: failure rate limit', () => {
  it('answers 429 past the per-minute limit, per source address, and recovers at the configured rate', async () => {
    kit = authKit({ failuresPerMinute: 5 });
    const { token } = kit.apiKeys.create({ name: 'ok', tenant: 'acme', role: 'reader' });
    const bad = { authorization: `Bearer emms_${'b'.repeat(43)}`, remoteAddress: '203.0.113.9' };
    for (let i = 0; i < 5; i++) expect(refusal(await kit.auth(bad)).status).toBe(401);
    const limited = refusal(await kit.auth(bad));
    expect(limited).toMatchObject({ status: 429, retryAfterSeconds: 12 });
    // A valid key from the limited address still works: bad tokens from the operator's own
    // address (a local process, a web page) must not lock the operator out.
    expect((await kit.auth({ authorization: `Bearer ${token}`, remoteAddress: '203.0.113.9' })).ok).toBe(true);
    expect((await kit.auth({ authorization: `Bearer ${token}`, remoteAddress: '203.0.113.10' })).ok).toBe(true);
    expect(refusal(await kit.auth({ authorization: undefined, remoteAddress: '203.0.113.9' })).status).toBe(429);
    expect(kit.failures.filter((f) => f.reason === 'rate_limited')).toHaveLength(2);

    // 60 s / 5 = one more failure allowed every 12 s; 429s did not drain the bucket further.
    kit.clock.now += 11_999;
    expect(refusal(await kit.auth(bad)).status).toBe(429);
    kit.clock.now += 1;
    expect(refusal(await kit.auth(bad)).status).toBe(401);
    expect(refusal(await kit.auth(bad)).status).toBe(429);
    kit.clock.now += 60_000;
    expect((await kit.auth({ authorization: `Bearer ${token}`, remoteAddress: '203.0.113.9' })).ok).toBe(true);
  });

  it('tracks a bounded number of addresses, evicting the least recently failed', () => {
    const clock = { now: T0 };
    const limiter = new AuthFailureLimiter({ failuresPerMinute: 2, maxAddresses: 100, now: () => clock.now });
    limiter.recordFailure('192.0.2.1');
    limiter.recordFailure('192.0.2.1');
    expect(limiter.retryAfterSeconds('192.0.2.1')).toBe(30);
    for (let i = 0; i < 1000; i++) limiter.recordFailure(`198.51.${i >> 8}.${i & 255}`);
    expect(limiter.trackedAddresses).toBe(100);
    expect(limiter.retryAfterSeconds('192.0.2.1')).toBeUndefined(); // evicted
    expect(limiter.retryAfterSeconds('198.51.3.231')).toBeUndefined(); // one failure of two
    limiter.recordFailure('198.51.3.231');
    expect(limiter.retryAfterSeconds('198.51.3.231')).toBe(30);
  });

  it('counts IPv6 clients per /64 and IPv4-mapped ones as IPv4', () => {
    expect(sourceKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:db8:1:2:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(sourceKey('2001:db8::5')).toBe('2001:db8:0:0::/64');
    expect(sourceKey('::1')).toBe('0:0:0:0::/64');
    expect(sourceKey('::ffff:198.51.100.4')).toBe('198.51.100.4');
    expect(sourceKey('198.51.100.4')).toBe('198.51.100.4');
  });
});

describe('WebSocket tickets', () => {
  it('parses the ticket out of Sec-WebSocket-Protocol', () => {
    const ticket = 'A'.repeat(43);
    expect(ticketFromProtocols(`${WS_PROTOCOL}, ${ticketProtocol(ticket)}`)).toBe(ticket);
    expect(ticketFromProtocols(`emms.ticket.${ticket},emms.v1`)).toBe(ticket);
    expect(ticketFromProtocols('emms.v1')).toBeUndefined();
    expect(ticketFromProtocols(undefined)).toBeUndefined();
    expect(ticketFromProtocols('emms.v1, emms.ticket.short')).toBeUndefined();
    expect(ticketFromProtocols(`emms.v1, emms.ticket.${ticket}x`)).toBeUndefined();
  });

  it('authenticates once, within 30 s, as the principal it was issued to', async () => {
    kit = authKit();
    const { token } = kit.apiKeys.create({ name: 'w', tenant: 'acme', role: 'writer' });
    const principal = await kit.principal(token);
    const { ticket, expiresInSeconds } = kit.tickets.issue(principal);
    expect(expiresInSeconds).toBe(30);
    expect(ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(await kit.auth({ wsTicket: ticket })).toEqual({ ok: true, principal });
    const replay = refusal(await kit.auth({ wsTicket: ticket }));
    expect(replay.status).toBe(401);
    expect(replay.error).not.toContain(ticket);

    const late = kit.tickets.issue(principal).ticket;
    kit.clock.now += 30_000;
    expect(refusal(await kit.auth({ wsTicket: late })).status).toBe(401);
    expect(kit.tickets.outstanding).toBe(0);
    expect(kit.failures.map((f) => f.reason)).toEqual(['invalid_ws_ticket', 'invalid_ws_ticket']);
  });

  it('bounds outstanding tickets per principal and overall, and frees them as they expire', () => {
    const clock = { now: T0 };
    const issuer = new WsTicketIssuer({ now: () => clock.now, maxPerPrincipal: 3, maxTotal: 5 });
    const p = (id: string) => ({ id, kind: 'api_key' as const, role: 'reader' as const, tenant: 'acme' });
    for (let i = 0; i < 3; i++) issuer.issue(p('a'));
    expect(() => issuer.issue(p('a'))).toThrow(WsTicketLimitError);
    issuer.issue(p('b'));
    const used = issuer.issue(p('b')).ticket;
    expect(() => issuer.issue(p('c'))).toThrow(/on this server \(limit 5\)/);
    expect(issuer.redeem(used)).toEqual(p('b'));
    issuer.issue(p('c'));
    clock.now += 30_000;
    for (let i = 0; i < 3; i++) issuer.issue(p('a'));
    expect(issuer.outstanding).toBe(3);
  });
});
