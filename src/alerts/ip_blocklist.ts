/**
 * Source addresses denied at EMMS's own API for a period (the `block_ip` remediation). The
 * server consults `isBlocked(remoteAddress)` on every request, so it is a Map lookup;
 * expired entries are removed lazily on lookup and by `prune()`.
 */
import { isIP } from 'node:net';

export interface BlockedAddress {
  ip: string;
  until_ms: number;
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) and `10.0.0.1` are the same address. */
export function normalizeIp(ip: string): string {
  const trimmed = ip.trim().toLowerCase();
  return trimmed.startsWith('::ffff:') && isIP(trimmed.slice(7)) === 4 ? trimmed.slice(7) : trimmed;
}

export class IpBlocklist {
  readonly #until = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Blocks until `untilMs`; a longer existing block is kept. Throws on a malformed address. */
  block(ip: string, untilMs: number): void {
    const key = normalizeIp(ip);
    if (isIP(key) === 0) throw new TypeError(`ip=${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
    if (!Number.isFinite(untilMs)) throw new RangeError(`untilMs=${untilMs} must be a finite epoch-millisecond time`);
    const current = this.#until.get(key) ?? 0;
    if (untilMs > current) this.#until.set(key, untilMs);
  }

  unblock(ip: string): boolean {
    return this.#until.delete(normalizeIp(ip));
  }

  isBlocked(ip: string, nowMs: number = this.now()): boolean {
    if (this.#until.size === 0) return false;
    const key = normalizeIp(ip);
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (until > nowMs) return true;
    this.#until.delete(key);
    return false;
  }

  list(nowMs: number = this.now()): BlockedAddress[] {
    this.prune(nowMs);
    return [...this.#until].map(([ip, until_ms]) => ({ ip, until_ms }));
  }

  prune(nowMs: number = this.now()): void {
    for (const [ip, until] of this.#until) if (until <= nowMs) this.#until.delete(ip);
  }

  get size(): number {
    return this.#until.size;
  }
}
