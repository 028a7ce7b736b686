/**
 * The Authenticator the server calls (src/auth/authenticator.ts): turns what a request carries
 * into a principal, or a refusal the client may see.
 *
 *   Authorization: Bearer emms_…   → API key (auth.db, cached; revocation, expiry, allowed networks)
 *   Authorization: Bearer <JWT>     → the identity provider's token (jwt_verifier.ts), when configured
 *   WebSocket ticket (no Authorization) → the principal the ticket was issued to, once
 *   X-Emms-Tenant: <tenant>         → operators act on that tenant; for anyone else it must name
 *                                     their own tenant (403 otherwise)
 *
 * Failures: every refusal calls `onFailure(sourceIp, reason)` (the app counts them in
 * `security.auth.failures{source_ip}`; it must not throw) and, except a refusal for being over
 * the limit, drains the address's failure bucket (auth_failure_limiter.ts); an address over
 * `failuresPerMinute` gets 429 with `retryAfterSeconds` before its credentials are looked at.
 * Error texts name the key id, the claim or the header, never the token.
 *
 * Hot path (a cached API key): limiter probe (one Map lookup, skipped while no address has
 * failed), SHA-256 of the token, one Map lookup, three comparisons. No SQLite, no await: the
 * result is returned synchronously. Only a JWT seen for the first time returns a Promise.
 *
 * With authentication off (`required: false`) every request is the anonymous operator acting
 * on `X-Emms-Tenant` or `default`; nothing is verified or counted.
 */
import type { AuthResult, Authenticator, Credentials } from './authenticator.js';
import { DEFAULT_TENANT, TENANT_NAME_PATTERN, type Principal } from '../http/route.js';
import { AuthFailureLimiter } from './auth_failure_limiter.js';
import { API_KEY_TOKEN_PREFIX, isApiKeyTokenShape } from './api_key_token.js';
import type { ApiKeyStore } from './api_key_store.js';
import { JwtVerificationError, looksLikeJwt, type JwtIdentity, type JwtVerifier } from './jwt_verifier.js';
import type { WsTicketIssuer } from './ws_tickets.js';

export type AuthFailureReason =
  | 'missing_credentials'
  | 'malformed_authorization'
  | 'invalid_token'
  | 'unknown_api_key'
  | 'revoked_api_key'
  | 'expired_api_key'
  | 'network_not_allowed'
  | 'jwt_not_configured'
  | 'invalid_jwt'
  | 'invalid_ws_ticket'
  | 'invalid_tenant_header'
  | 'tenant_not_allowed'
  | 'rate_limited';

export interface TokenAuthenticatorOptions {
  /** `security.auth === 'on'`. */
  required: boolean;
  apiKeys: ApiKeyStore;
  /** Present when `security.jwt` is configured. */
  jwt?: JwtVerifier | undefined;
  /** Present when WebSocket tickets are served (auth_routes.ts issues them). */
  tickets?: WsTicketIssuer | undefined;
  /** `security.limits.auth_failures_per_minute`. */
  failuresPerMinute: number;
  /** Source addresses whose failures are tracked at once (default 50 000). */
  maxTrackedAddresses?: number;
  onFailure?: (sourceIp: string, reason: AuthFailureReason) => void;
  now?: () => number;
}

type Refusal = Extract<AuthResult, { ok: false }>;

/** The longest Authorization header looked at (a JWT with many claims fits easily). */
const MAX_AUTHORIZATION_CHARS = 16_400;

export class TokenAuthenticator implements Authenticator {
  readonly required: boolean;
  readonly #apiKeys: ApiKeyStore;
  readonly #jwt: JwtVerifier | undefined;
  readonly #tickets: WsTicketIssuer | undefined;
  readonly #limiter: AuthFailureLimiter;
  readonly #onFailure: (sourceIp: string, reason: AuthFailureReason) => void;
  readonly #now: () => number;
  readonly #anonymousDefault: AuthResult = Object.freeze({ ok: true, principal: anonymous(DEFAULT_TENANT) });

  constructor(options: TokenAuthenticatorOptions) {
    this.required = options.required;
    this.#apiKeys = options.apiKeys;
    this.#jwt = options.jwt;
    this.#tickets = options.tickets;
    this.#now = options.now ?? Date.now;
    this.#limiter = new AuthFailureLimiter({ failuresPerMinute: options.failuresPerMinute, maxAddresses: options.maxTrackedAddresses, now: this.#now });
    this.#onFailure = options.onFailure ?? (() => {});
  }

  /**
   * The failure limit applies to failures only: a valid API key (one hash and a Map lookup) or
   * an already verified JWT is accepted whatever its address did before, so a process that
   * sends bad tokens from the operator's own address (loopback included) cannot lock the
   * operator out. A limited address gets 429 for every failing attempt, and before the one
   * costly step, verifying a JWT that is not in the cache.
   */
  authenticate(c: Credentials): AuthResult | Promise<AuthResult> {
    if (!this.required) return this.#anonymous(c.tenantHeader);
    const authorization = c.authorization;
    if (authorization === undefined || authorization === '') {
      if (c.wsTicket !== undefined && c.wsTicket !== '') return this.#ticket(c.wsTicket, c);
      return this.#fail(c, 401, 'missing_credentials', 'authentication required: send "Authorization: Bearer <token>"');
    }
    const token = bearerToken(authorization);
    if (token === undefined) return this.#fail(c, 401, 'malformed_authorization', 'the Authorization header must be "Bearer <token>"');
    if (token.startsWith(API_KEY_TOKEN_PREFIX)) return this.#apiKey(token, c);
    if (looksLikeJwt(token)) {
      if (this.#jwt === undefined) return this.#fail(c, 401, 'jwt_not_configured', 'JWT authentication is not configured on this server (security.jwt)');
      return this.#jwtToken(this.#jwt, token, c);
    }
    return this.#fail(c, 401, 'invalid_token', 'the bearer token is neither an EMMS API key nor a JWT');
  }

  stillValid(principal: Principal): boolean {
    // A JWT stream ends with its token's `exp`; an anonymous one (authentication off) never.
    if (principal.kind === 'jwt') return principal.expiresAtMs === undefined || this.#now() < principal.expiresAtMs;
    if (principal.kind !== 'api_key') return true;
    // Read from the file, not the token cache: a revocation by another process (emms apikey
    // revoke) is seen at once.
    const record = this.#apiKeys.get(principal.id);
    return record !== undefined && record.revokedAt === undefined && (record.expiresAt === undefined || this.#now() < record.expiresAt);
  }

  #apiKey(token: string, c: Credentials): AuthResult {
    const entry = isApiKeyTokenShape(token) ? this.#apiKeys.lookupToken(token) : undefined;
    if (entry === undefined) return this.#fail(c, 401, 'unknown_api_key', 'invalid API key');
    if (entry.revoked) return this.#fail(c, 401, 'revoked_api_key', `API key ${entry.keyId} has been revoked`);
    const now = this.#now();
    if (now >= entry.expiresAt) return this.#fail(c, 401, 'expired_api_key', `API key ${entry.keyId} expired at ${new Date(entry.expiresAt).toISOString()}`);
    if (entry.networks !== undefined && !entry.networks.contains(c.remoteAddress)) {
      return this.#fail(c, 403, 'network_not_allowed', `API key ${entry.keyId} may not be used from ${c.remoteAddress} (allowed: ${entry.networks.entries.join(', ')})`);
    }
    const result = this.#withTenant(entry.principal, c);
    if (result.ok) this.#apiKeys.recordUse(entry, now);
    return result;
  }

  #jwtToken(jwt: JwtVerifier, token: string, c: Credentials): AuthResult {
    const cached = jwt.verifyCached(token);
    if (cached !== undefined) return this.#withTenant(jwtPrincipal(cached), c);
    const limited = this.#limited(c);
    if (limited !== undefined) return limited;
    let identity: JwtIdentity;
    try {
      identity = jwt.verify(token);
    } catch (err) {
      if (!(err instanceof JwtVerificationError)) throw err;
      return this.#fail(c, 401, 'invalid_jwt', err.message);
    }
    return this.#withTenant(jwtPrincipal(identity), c);
  }

  #ticket(ticket: string, c: Credentials): AuthResult {
    const principal = this.#tickets?.redeem(ticket);
    if (principal === undefined) return this.#fail(c, 401, 'invalid_ws_ticket', 'WebSocket ticket unknown, already used or expired (tickets last 30 s and open one connection)');
    return this.#withTenant(principal, c);
  }

  /** Applies X-Emms-Tenant: operators switch tenant; others may only name their own. */
  #withTenant(principal: Principal, c: Credentials): AuthResult {
    const header = c.tenantHeader;
    if (header === undefined || header === '' || header === principal.tenant) return { ok: true, principal };
    if (!TENANT_NAME_PATTERN.test(header)) {
      return this.#fail(c, 403, 'invalid_tenant_header', `X-Emms-Tenant=${quoteHeader(header)} is not a tenant name (must match ${TENANT_NAME_PATTERN})`);
    }
    if (principal.role === 'operator') return { ok: true, principal: { ...principal, tenant: header } };
    return this.#fail(c, 403, 'tenant_not_allowed', `X-Emms-Tenant=${quoteHeader(header)} names a tenant other than this credential's (${principal.tenant}); only an operator may act on another tenant`);
  }

  #anonymous(header: string | undefined): AuthResult {
    if (header === undefined || header === '' || header === DEFAULT_TENANT) return this.#anonymousDefault;
    if (!TENANT_NAME_PATTERN.test(header)) {
      return { ok: false, status: 403, error: `X-Emms-Tenant=${quoteHeader(header)} is not a tenant name (must match ${TENANT_NAME_PATTERN})` };
    }
    return { ok: true, principal: anonymous(header) };
  }

  /** A 429 when `c`'s address is over the failure limit, else undefined. */
  #limited(c: Credentials): Refusal | undefined {
    const retryAfterSeconds = this.#limiter.retryAfterSeconds(c.remoteAddress);
    if (retryAfterSeconds === undefined) return undefined;
    this.#onFailure(c.remoteAddress, 'rate_limited');
    return { ok: false, status: 429, error: `too many failed authentications from ${c.remoteAddress}; retry in ${retryAfterSeconds} s`, retryAfterSeconds };
  }

  #fail(c: Credentials, status: 401 | 403, reason: AuthFailureReason, error: string): Refusal {
    const limited = this.#limited(c);
    if (limited !== undefined) return limited;
    this.#limiter.recordFailure(c.remoteAddress);
    this.#onFailure(c.remoteAddress, reason);
    return { ok: false, status, error };
  }
}

/** The token of `Bearer <token>` (scheme case-insensitive, RFC 7235), or undefined. */
function bearerToken(header: string): string | undefined {
  if (header.length > MAX_AUTHORIZATION_CHARS || header.length < 8) return undefined;
  if (header.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = header.slice(7).trim();
  return token === '' || /\s/.test(token) ? undefined : token;
}

function quoteHeader(value: string): string {
  return JSON.stringify(value.length > 128 ? `${value.slice(0, 128)}…` : value);
}

function anonymous(tenant: string): Principal {
  return Object.freeze({ id: 'anonymous', kind: 'anonymous', role: 'operator', tenant });
}

function jwtPrincipal(identity: JwtIdentity): Principal {
  return { id: identity.id, kind: 'jwt', role: identity.role, tenant: identity.tenant, expiresAtMs: identity.expiresAtMs };
}
