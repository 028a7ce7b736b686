/**
 * Who may talk to the server, decided before any handler runs, in this order for every HTTP
 * request and WebSocket upgrade:
 *
 *   0. who the client is: the socket's address, or behind `security.trusted_proxies` the address
 *      they name in X-Forwarded-For (forwarded_for.ts); every step below uses that address;
 *   1. `security.allowed_networks`: a client outside is refused (403) and its connection closed;
 *   2. the ip blocklist (alerting's `block_ip`): likewise;
 *   3. on a loopback bind, the Host header must be localhost, 127.0.0.1 or [::1] (any port) or one
 *      of `security.allowed_hosts` (421): a page on another site that rebinds its DNS name to
 *      127.0.0.1 sends its own name as Host, so this closes DNS rebinding;
 *   4. WebSocket upgrades from browsers (they send Origin) must come from the server's own origin
 *      or one of `security.allowed_origins` (403): any page the operator visits could otherwise
 *      open the stream;
 *   5. the route's access: `public`, or a role that the authenticated principal must hold (401
 *      without valid credentials, 403 with too weak a role, 429 after too many failures).
 *
 * The tenant always comes from the principal (src/http/route.ts), never from the request.
 */
import type { AuthResult, Authenticator, Credentials } from '../auth/authenticator.js';
import type { SecurityConfig } from '../config/security_config.js';
import { roleAtLeast, type Principal, type Role, type RouteAccess } from '../http/route.js';
import { isLoopbackBind } from '../net/cidr.js';
import { clientAddressOf, ForwardedForError } from './forwarded_for.js';

/** An answer that ends the request before its handler. */
export interface Refusal {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
  /** Close the connection after the answer (the client is not welcome to send more). */
  close: boolean;
}

export interface AccessControlOptions {
  security: SecurityConfig;
  authenticator: Authenticator;
  /** The listen address (config.host): loopback binds check Host. */
  bindHost: string;
  /** Whether the server speaks TLS (its own origin is then https://). */
  tls: boolean;
  ipBlocklist?: { isBlocked(ip: string): boolean } | undefined;
}

const LOOPBACK_HOST_NAMES: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The host name of a Host header value: lower case, without the port; IPv6 keeps its brackets. */
export function hostNameOf(host: string): string {
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const close = h.indexOf(']');
    return close < 0 ? h : h.slice(0, close + 1);
  }
  const colon = h.indexOf(':');
  return colon < 0 ? h : h.slice(0, colon);
}

export class AccessControl {
  readonly #security: SecurityConfig;
  readonly #authenticator: Authenticator;
  readonly #checkHost: boolean;
  readonly #allowedHosts: ReadonlySet<string>;
  readonly #allowedOrigins: ReadonlySet<string>;
  readonly #scheme: string;
  readonly #blocklist: { isBlocked(ip: string): boolean } | undefined;

  constructor(options: AccessControlOptions) {
    this.#security = options.security;
    this.#authenticator = options.authenticator;
    this.#checkHost = isLoopbackBind(options.bindHost);
    this.#allowedHosts = new Set(options.security.allowedHosts.map((h) => h.toLowerCase()));
    this.#allowedOrigins = new Set(options.security.allowedOrigins.map((o) => o.toLowerCase().replace(/\/$/, '')));
    this.#scheme = options.tls ? 'https' : 'http';
    this.#blocklist = options.ipBlocklist;
  }

  /**
   * Step 0: the client's address. A trusted proxy's header that cannot be read leaves the
   * socket's address and a 400 refusal naming the header, for the caller to answer with.
   */
  clientAddress(socketAddress: string, forwardedFor: string | undefined): { address: string; refusal?: Refusal } {
    try {
      return { address: clientAddressOf(socketAddress, forwardedFor, this.#security.trustedProxies) };
    } catch (err) {
      if (!(err instanceof ForwardedForError)) throw err;
      return { address: socketAddress, refusal: { status: 400, body: { error: err.message }, close: true } };
    }
  }

  /** Steps 1 and 2: the client's address. */
  networkRefusal(remoteAddress: string): Refusal | undefined {
    const allowed = this.#security.allowedNetworks;
    if (allowed !== undefined && allowed.entries.length > 0 && !allowed.contains(remoteAddress)) {
      return { status: 403, body: { error: `client address ${remoteAddress} is outside security.allowed_networks` }, close: true };
    }
    if (this.#blocklist?.isBlocked(remoteAddress) === true) {
      return { status: 403, body: { error: `client address ${remoteAddress} is blocked` }, close: true };
    }
    return undefined;
  }

  /** Step 3: Host on a loopback bind. */
  hostRefusal(host: string | undefined): Refusal | undefined {
    if (!this.#checkHost) return undefined;
    if (host !== undefined && host !== '') {
      const lower = host.trim().toLowerCase();
      const name = hostNameOf(lower);
      if (LOOPBACK_HOST_NAMES.has(name) || this.#allowedHosts.has(name) || this.#allowedHosts.has(lower)) return undefined;
    }
    return {
      status: 421,
      body: {
        error: `Host ${JSON.stringify(host ?? '')} is not accepted on this loopback-only server (DNS rebinding guard): use localhost, 127.0.0.1 or [::1], or list the name in security.allowed_hosts`,
      },
      close: true,
    };
  }

  /** Step 4: a browser's Origin on a WebSocket upgrade. */
  originRefusal(origin: string | undefined, host: string | undefined): Refusal | undefined {
    if (origin === undefined || origin === '') return undefined;
    const o = origin.trim().toLowerCase().replace(/\/$/, '');
    if (host !== undefined && host !== '' && o === `${this.#scheme}://${host.trim().toLowerCase()}`) return undefined;
    if (this.#allowedOrigins.has(o)) return undefined;
    return {
      status: 403,
      body: { error: `WebSocket from origin ${JSON.stringify(origin)} refused: only this server's own origin and security.allowed_origins may open the stream` },
      close: true,
    };
  }

  /** Whether a request to a route of this access must present credentials. */
  needsCredentials(access: RouteAccess, authorization: string | undefined, cookie?: string): boolean {
    // A cookie may carry a dashboard session (src/dashboard/session_authenticator.ts).
    return access !== 'public' || (authorization !== undefined && authorization !== '') || (cookie !== undefined && cookie !== '');
  }

  authenticate(credentials: Credentials): AuthResult | Promise<AuthResult> {
    return this.#authenticator.authenticate(credentials);
  }

  /**
   * Step 5 for one route: the answer to a failed authentication (on a role route), or to a
   * principal whose role is below the route's; undefined when the request may go on.
   */
  accessRefusal(result: AuthResult, access: RouteAccess, what: string): Refusal | undefined {
    if (!result.ok) {
      // On a public route, credentials that do not check out are ignored (no principal).
      if (access === 'public') return undefined;
      return authRefusal(result);
    }
    if (access === 'public') return undefined;
    return roleRefusal(result.principal, access, what);
  }
}

/** 401 (with the Bearer challenge), 403 or 429 (with Retry-After) from a failed authentication. */
export function authRefusal(result: Extract<AuthResult, { ok: false }>): Refusal {
  const headers: Record<string, string> = {};
  if (result.status === 401) headers['www-authenticate'] = 'Bearer realm="emms"';
  if (result.status === 429) headers['retry-after'] = String(Math.max(1, Math.ceil(result.retryAfterSeconds ?? 60)));
  return { status: result.status, body: { error: result.error }, headers, close: false };
}

/** 403 naming the role needed, or undefined when `principal` holds at least `required`. */
export function roleRefusal(principal: Principal, required: Role, what: string): Refusal | undefined {
  if (roleAtLeast(principal.role, required)) return undefined;
  return {
    status: 403,
    body: { error: `${what} needs role ${required}; ${principal.id} has role ${principal.role}`, required_role: required },
    close: false,
  };
}
