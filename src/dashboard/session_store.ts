/**
 * Dashboard sessions: what a browser holds instead of a bearer token. Signing in with an API
 * key or a JWT creates a session; the browser keeps only its id, in an HttpOnly cookie
 * (session_cookie.ts), and sends a CSRF token (given to the page at sign-in) with every
 * state-changing call (session_authenticator.ts).
 *
 * The credential stays on the server, in memory, so that each request is re-authenticated
 * with it: a key revoked or a JWT expired ends its sessions at once, and the principal (role,
 * tenant) is always the credential's current one. Sessions end at `ttlMs` after sign-in, at a
 * JWT's own `exp` when earlier, at sign-out, and when the server restarts (nothing persisted:
 * a stolen database file carries no live sessions).
 *
 * Memory is bounded: at most `maxSessions` overall and `maxPerPrincipal` per credential; past
 * either, the oldest session of that scope is dropped (signing in again is the remedy, not a
 * refusal that a script could use to lock a user out).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal } from '../http/route.js';

/** 8 hours: a working day, after which the user signs in again. */
export const DEFAULT_SESSION_TTL_MS = 8 * 3600_000;
export const DEFAULT_MAX_SESSIONS = 10_000;
export const DEFAULT_MAX_SESSIONS_PER_PRINCIPAL = 32;

/** base64url of 32 random bytes, as issued. */
const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export interface DashboardSession {
  /** sha256 of the id the cookie carries (the store never keeps the id itself). */
  readonly key: string;
  readonly csrfToken: string;
  /** The bearer credential signed in with (`emms_…` or a JWT); never leaves the server. */
  readonly credential: string;
  /** The principal at sign-in (its own tenant, before any X-Emms-Tenant switch). */
  readonly principal: Principal;
  readonly createdMs: number;
  readonly expiresMs: number;
}

export interface SessionStoreOptions {
  ttlMs?: number;
  maxSessions?: number;
  maxPerPrincipal?: number;
  now?: () => number;
}

function keyOf(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

export class SessionStore {
  readonly ttlMs: number;
  readonly #maxSessions: number;
  readonly #maxPerPrincipal: number;
  readonly #now: () => number;
  /** Insertion order = creation order, so the oldest session is first. */
  readonly #sessions = new Map<string, DashboardSession>();

  constructor(options: SessionStoreOptions = {}) {
    this.ttlMs = options.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    this.#maxSessions = options.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.#maxPerPrincipal = options.maxPerPrincipal ?? DEFAULT_MAX_SESSIONS_PER_PRINCIPAL;
    this.#now = options.now ?? Date.now;
    if (!(this.ttlMs > 0)) throw new RangeError(`SessionStore: ttlMs must be positive; got ${this.ttlMs}`);
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** A new session for `principal`; returns the id for the cookie (not stored) and the session. */
  create(credential: string, principal: Principal): { id: string; session: DashboardSession } {
    const now = this.#now();
    this.#sweep(now);
    const mine = [...this.#sessions.values()].filter((s) => s.principal.id === principal.id);
    for (const s of mine.slice(0, Math.max(0, mine.length - this.#maxPerPrincipal + 1))) this.#sessions.delete(s.key);
    while (this.#sessions.size >= this.#maxSessions) {
      const oldest = this.#sessions.keys().next().value;
      if (oldest === undefined) break;
      this.#sessions.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const expiresMs = Math.min(now + this.ttlMs, principal.expiresAtMs ?? Number.POSITIVE_INFINITY);
    const session: DashboardSession = { key: keyOf(id), csrfToken: randomBytes(32).toString('base64url'), credential, principal, createdMs: now, expiresMs };
    this.#sessions.set(session.key, session);
    return { id, session };
  }

  /** The live session of a cookie's id; undefined when unknown, malformed or expired. */
  get(id: string | undefined): DashboardSession | undefined {
    if (id === undefined || !SESSION_ID_PATTERN.test(id)) return undefined;
    const key = keyOf(id);
    const session = this.#sessions.get(key);
    if (session === undefined) return undefined;
    if (this.#now() >= session.expiresMs) {
      this.#sessions.delete(key);
      return undefined;
    }
    return session;
  }

  /** Ends a session (sign-out); true when it existed. */
  delete(id: string | undefined): boolean {
    if (id === undefined || !SESSION_ID_PATTERN.test(id)) return false;
    return this.#sessions.delete(keyOf(id));
  }

  #sweep(now: number): void {
    // Sessions share one TTL except JWT-bounded ones, so this is a full pass; it runs on
    // sign-in only, which is rare next to requests.
    for (const [key, s] of this.#sessions) if (now >= s.expiresMs) this.#sessions.delete(key);
  }
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfMatches(session: DashboardSession, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(session.csrfToken);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}
