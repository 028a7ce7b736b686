/**
 * The contract between the server and authentication: the server hands over what a request
 * carries and gets back a principal or a refusal; how tokens are checked (API keys, JWT,
 * WebSocket tickets) stays behind it (src/auth/).
 *
 * The server calls `authenticate` once per HTTP request and once per WebSocket upgrade, never
 * per stream frame: a connection keeps the principal it was opened with.
 */
import type { Principal } from '../http/route.js';

export interface Credentials {
  /** The `Authorization` header, e.g. `Bearer emms_…` or `Bearer <JWT>`. */
  authorization: string | undefined;
  /** The `X-Emms-Tenant` header: the tenant an operator acts on (refused for other roles naming another tenant). */
  tenantHeader: string | undefined;
  /**
   * A single-use WebSocket ticket (`POST /api/v1/auth/ws-ticket`), which browsers present as a
   * `Sec-WebSocket-Protocol` entry because they cannot set `Authorization` on an upgrade.
   */
  wsTicket?: string | undefined;
  /** Canonical client address (src/server/remote_address.ts). */
  remoteAddress: string;
  /**
   * For dashboard sessions (src/dashboard/session_authenticator.ts): the `Cookie` header, the
   * request method and the CSRF header, since a cookie alone must not authorize a state change.
   */
  cookie?: string | undefined;
  method?: string | undefined;
  csrfToken?: string | undefined;
}

export type AuthResult =
  | { ok: true; principal: Principal }
  /**
   * 401: no or invalid credentials; 403: valid credentials refused (address outside the key's
   * networks, tenant header without the right); 429: too many failures from this address.
   * `error` is safe to show the client: it never echoes a token.
   */
  | { ok: false; status: 401 | 403 | 429; error: string; retryAfterSeconds?: number };

export interface Authenticator {
  /** False when `security.auth` is off: every request is the anonymous operator. */
  readonly required: boolean;
  authenticate(credentials: Credentials): AuthResult | Promise<AuthResult>;
  /**
   * False once the credential behind `principal` was revoked or expired. The server asks this
   * every few seconds for the principals of open streams (which are authenticated only at the
   * upgrade) and closes those whose credential ended. Optional: without it streams stay open.
   */
  stillValid?(principal: Principal): boolean;
}
