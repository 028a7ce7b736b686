/**
 * Test doubles for the server's contracts: an Authenticator over a fixed table of tokens (the
 * real one, src/auth/, is tested on its own), with WebSocket tickets and a failure limit, so
 * the server's 401/403/429 handling can be checked exactly.
 */
import { randomBytes } from 'node:crypto';
import type { AuthResult, Authenticator, Credentials } from '../../src/auth/authenticator.js';
import type { Principal, Role } from '../../src/http/route.js';

function principal(id: string, role: Role, tenant: string): Principal {
  return { id, kind: 'api_key', role, tenant };
}

/** Token → principal. Tenants `a` and `b`; `operator` acts on `default` or the X-Emms-Tenant header. */
export const TOKENS: Readonly<Record<string, Principal>> = {
  'reader-a': principal('ak_reader_a', 'reader', 'a'),
  'writer-a': principal('ak_writer_a', 'writer', 'a'),
  'admin-a': principal('ak_admin_a', 'admin', 'a'),
  'reader-b': principal('ak_reader_b', 'reader', 'b'),
  'writer-b': principal('ak_writer_b', 'writer', 'b'),
  operator: principal('ak_operator', 'operator', 'default'),
};

export function bearer(token: keyof typeof TOKENS | string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

export interface FakeAuthenticatorOptions {
  /** Answer through a promise (as a JWT check does) instead of synchronously. */
  async?: boolean;
  /** Failed attempts per address before 429. Default 1000. */
  failuresBefore429?: number;
  /** false: authentication off, every request is the anonymous operator. */
  required?: boolean;
}

export class FakeAuthenticator implements Authenticator {
  readonly required: boolean;
  readonly seen: Credentials[] = [];
  readonly #options: FakeAuthenticatorOptions;
  readonly #failures = new Map<string, number>();
  readonly #tickets = new Map<string, Principal>();

  constructor(options: FakeAuthenticatorOptions = {}) {
    this.#options = options;
    this.required = options.required ?? true;
  }

  /** A single-use ticket for `token`'s principal, as POST /api/v1/auth/ws-ticket would issue. */
  ticket(token: string): string {
    const t = randomBytes(32).toString('base64url');
    this.#tickets.set(t, TOKENS[token]!);
    return t;
  }

  authenticate(credentials: Credentials): AuthResult | Promise<AuthResult> {
    this.seen.push(credentials);
    const result = this.#check(credentials);
    return this.#options.async === true ? new Promise((resolve) => setTimeout(() => resolve(result), 2)) : result;
  }

  #check(c: Credentials): AuthResult {
    if (!this.required) return { ok: true, principal: { id: 'anonymous', kind: 'anonymous', role: 'operator', tenant: c.tenantHeader ?? 'default' } };
    const limit = this.#options.failuresBefore429 ?? 1000;
    if ((this.#failures.get(c.remoteAddress) ?? 0) >= limit) {
      return { ok: false, status: 429, error: `too many failed authentications from ${c.remoteAddress}`, retryAfterSeconds: 30 };
    }
    let p: Principal | undefined;
    if (c.wsTicket !== undefined) {
      p = this.#tickets.get(c.wsTicket);
      this.#tickets.delete(c.wsTicket);
    } else if (c.authorization !== undefined) {
      const m = /^Bearer (\S+)$/.exec(c.authorization);
      p = m === null ? undefined : TOKENS[m[1]!];
    }
    if (p === undefined) {
      this.#failures.set(c.remoteAddress, (this.#failures.get(c.remoteAddress) ?? 0) + 1);
      return { ok: false, status: 401, error: c.authorization === undefined && c.wsTicket === undefined ? 'credentials required: send Authorization: Bearer <token>' : 'invalid credentials' };
    }
    if (c.tenantHeader !== undefined && c.tenantHeader !== p.tenant) {
      if (p.role !== 'operator') return { ok: false, status: 403, error: `${p.id} may not act on tenant ${c.tenantHeader}` };
      return { ok: true, principal: { ...p, tenant: c.tenantHeader } };
    }
    return { ok: true, principal: p };
  }
}
