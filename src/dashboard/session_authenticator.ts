/**
 * Cookie sessions in front of the token authenticator: a request without `Authorization` (and
 * without a WebSocket ticket) that carries a live dashboard session cookie authenticates as the
 * credential the session signed in with, re-checked on every request (a revoked key or an
 * expired JWT ends the session at once). Anything else goes to the inner authenticator as is,
 * so API clients see no difference.
 *
 * CSRF: SameSite=Strict already keeps other sites from sending the cookie; as a second,
 * independent guard every state-changing method (anything but GET and HEAD) must also carry
 * the session's CSRF token in `X-Emms-CSRF`, which only a page of this origin can have read.
 * `X-Emms-Tenant` applies as for tokens: an operator switches tenant, anyone else may only name
 * their own.
 */
import type { AuthResult, Authenticator, Credentials } from '../auth/authenticator.js';
import type { Principal } from '../http/route.js';
import { sessionIdFromCookie } from './session_cookie.js';
import { csrfMatches, type DashboardSession, type SessionStore } from './session_store.js';

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);

export class SessionAuthenticator implements Authenticator {
  readonly #inner: Authenticator;
  readonly #sessions: SessionStore;

  constructor(inner: Authenticator, sessions: SessionStore) {
    this.#inner = inner;
    this.#sessions = sessions;
  }

  get required(): boolean {
    return this.#inner.required;
  }

  /** The session a request's cookie names, if live. */
  sessionOf(cookie: string | undefined): DashboardSession | undefined {
    return this.#sessions.get(sessionIdFromCookie(cookie));
  }

  authenticate(c: Credentials): AuthResult | Promise<AuthResult> {
    const bearer = c.authorization !== undefined && c.authorization !== '';
    const ticket = c.wsTicket !== undefined && c.wsTicket !== '';
    if (bearer || ticket || c.cookie === undefined || c.cookie === '' || !this.required) return this.#inner.authenticate(c);
    const session = this.sessionOf(c.cookie);
    if (session === undefined) {
      // Not counted as an authentication failure: browsers send whatever cookies localhost
      // has (other apps' too) with every asset request, and an ended session is no attack.
      return { ok: false, status: 401, error: 'not signed in: the dashboard session has ended or was never started; sign in again, or send "Authorization: Bearer <token>"' };
    }
    if (c.method !== undefined && !SAFE_METHODS.has(c.method.toUpperCase()) && !csrfMatches(session, c.csrfToken)) {
      return { ok: false, status: 403, error: `${c.method.toUpperCase()} with a dashboard session needs the session's CSRF token in X-Emms-CSRF` };
    }
    return this.#inner.authenticate({ authorization: `Bearer ${session.credential}`, tenantHeader: c.tenantHeader, remoteAddress: c.remoteAddress });
  }

  stillValid(principal: Principal): boolean {
    return this.#inner.stillValid?.(principal) ?? true;
  }
}
