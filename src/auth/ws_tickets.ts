/**
 * WebSocket tickets: how a browser authenticates a WebSocket without putting a token in a URL.
 * Browsers cannot set `Authorization` on an upgrade, and a `?token=` query lands in proxy and
 * access logs. Instead the page calls `POST /api/v1/auth/ws-ticket` with its credentials and
 * opens the socket with `new WebSocket(url, ['emms.v1', 'emms.ticket.<ticket>'])`; the server
 * takes the ticket out of `Sec-WebSocket-Protocol` (`ticketFromProtocols`) and answers with
 * `emms.v1` only, never echoing the ticket.
 *
 * A ticket is 256 random bits, valid for 30 s and for one upgrade, and carries the principal
 * (tenant included) it was issued to. Outstanding tickets are bounded per principal and overall,
 * so a client cannot fill memory by asking for tickets it never uses. A key revoked after a
 * ticket was issued can still open one socket with it within those 30 s.
 */
import { randomBytes } from 'node:crypto';
import type { Principal } from '../http/route.js';

/** The application subprotocol the server selects. */
export const WS_PROTOCOL = 'emms.v1';
/** Prefix of the subprotocol entry carrying a ticket: `emms.ticket.<ticket>`. */
export const WS_TICKET_PROTOCOL_PREFIX = 'emms.ticket.';
export const WS_TICKET_TTL_SECONDS = 30;
export const DEFAULT_MAX_TICKETS_PER_PRINCIPAL = 16;
export const DEFAULT_MAX_TICKETS = 10_000;

/** base64url of 32 bytes. */
const TICKET_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * The ticket in a `Sec-WebSocket-Protocol` header value (`emms.v1, emms.ticket.<ticket>`), or
 * undefined when there is none or it is malformed.
 */
export function ticketFromProtocols(headerValue: string | undefined): string | undefined {
  if (headerValue === undefined || headerValue.length > 4096) return undefined;
  for (const part of headerValue.split(',')) {
    const entry = part.trim();
    if (!entry.startsWith(WS_TICKET_PROTOCOL_PREFIX)) continue;
    const ticket = entry.slice(WS_TICKET_PROTOCOL_PREFIX.length);
    return TICKET_PATTERN.test(ticket) ? ticket : undefined;
  }
  return undefined;
}

/** The `Sec-WebSocket-Protocol` entry that presents `ticket`. */
export function ticketProtocol(ticket: string): string {
  return WS_TICKET_PROTOCOL_PREFIX + ticket;
}

/** Too many outstanding tickets (for this principal, or overall); the route answers 429. */
export class WsTicketLimitError extends Error {
  constructor(readonly limit: number, scope: string) {
    super(`too many outstanding WebSocket tickets ${scope} (limit ${limit}); use or let expire the ones already issued (they last ${WS_TICKET_TTL_SECONDS} s)`);
    this.name = 'WsTicketLimitError';
  }
}

export interface WsTicketOptions {
  now?: () => number;
  maxPerPrincipal?: number;
  maxTotal?: number;
}

interface Outstanding {
  principal: Principal;
  expiresMs: number;
}

export class WsTicketIssuer {
  readonly #now: () => number;
  readonly #maxPerPrincipal: number;
  readonly #maxTotal: number;
  /** Insertion order = expiry order (one TTL for all), so expired tickets sit at the front. */
  readonly #tickets = new Map<string, Outstanding>();
  readonly #perPrincipal = new Map<string, number>();

  constructor(options: WsTicketOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#maxPerPrincipal = options.maxPerPrincipal ?? DEFAULT_MAX_TICKETS_PER_PRINCIPAL;
    this.#maxTotal = options.maxTotal ?? DEFAULT_MAX_TICKETS;
  }

  /** A new single-use ticket for `principal`; throws WsTicketLimitError past the bounds. */
  issue(principal: Principal): { ticket: string; expiresInSeconds: number } {
    const now = this.#now();
    this.#sweep(now);
    const held = this.#perPrincipal.get(principal.id) ?? 0;
    if (held >= this.#maxPerPrincipal) throw new WsTicketLimitError(this.#maxPerPrincipal, `for ${principal.id}`);
    if (this.#tickets.size >= this.#maxTotal) throw new WsTicketLimitError(this.#maxTotal, 'on this server');
    const ticket = randomBytes(32).toString('base64url');
    this.#tickets.set(ticket, { principal, expiresMs: now + WS_TICKET_TTL_SECONDS * 1000 });
    this.#perPrincipal.set(principal.id, held + 1);
    return { ticket, expiresInSeconds: WS_TICKET_TTL_SECONDS };
  }

  /** The ticket's principal, consuming the ticket; undefined when unknown, used or expired. */
  redeem(ticket: string): Principal | undefined {
    const found = this.#tickets.get(ticket);
    if (found === undefined) return undefined;
    this.#forget(ticket, found);
    return this.#now() < found.expiresMs ? found.principal : undefined;
  }

  /** Tickets issued and neither used nor swept yet. */
  get outstanding(): number {
    return this.#tickets.size;
  }

  #sweep(now: number): void {
    for (const [ticket, t] of this.#tickets) {
      if (t.expiresMs > now) break;
      this.#forget(ticket, t);
    }
  }

  #forget(ticket: string, t: Outstanding): void {
    this.#tickets.delete(ticket);
    const n = (this.#perPrincipal.get(t.principal.id) ?? 1) - 1;
    if (n <= 0) this.#perPrincipal.delete(t.principal.id);
    else this.#perPrincipal.set(t.principal.id, n);
  }
}
