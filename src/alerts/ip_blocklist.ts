/**
 * Source addresses denied at EMMS's own API for a period (the `block_ip` remediation). The
 * server consults `isBlocked(remoteAddress)` on every request, so that is one Map lookup;
 * expired entries are removed lazily on lookup and by `prune()`.
 *
 * A block is server-wide in effect (a blocked address is refused for every tenant), but each
 * tenant's rules hold their own entries: the address stays blocked while any tenant's block
 * runs, each tenant lists and lifts only its own, and the entry records which rule made it.
 *
 * What may never be blocked, whatever a rule says:
 * - loopback and the configured administrator networks (`security.admin_networks`), so the
 *   operator cannot be locked out by points someone wrote with `source_ip=127.0.0.1`;
 * - addresses that never reached EMMS: the `source_ip` tag is data any writer can send, so a
 *   block needs `wasSeenClient(ip)` to confirm the server saw that address as a client (the
 *   server or authenticator records them, e.g. on authentication failures; the app wires it).
 * A refused block is logged with its reason and surfaces in the remediation audit.
 */
import { isIP } from 'node:net';
import { ipv4OfMapped, isLoopbackAddress, NO_NETWORKS, type NetworkList } from '../net/cidr.js';

/** The longest block a rule may ask for (7 days); rule validation refuses longer. */
export const MAX_BLOCK_SECONDS = 7 * 86_400;

export interface BlockOrigin {
  tenant: string;
  rule_id: string | null;
  alert_id: string | null;
}

export interface BlockEntry extends BlockOrigin {
  ip: string;
  until_ms: number;
  created_at: number;
}

export type BlockRefusal = 'invalid_address' | 'loopback' | 'admin_network' | 'not_seen';

export class BlockRefusedError extends Error {
  constructor(readonly ip: string, readonly reason: BlockRefusal, message: string) {
    super(message);
    this.name = 'BlockRefusedError';
  }
}

export interface IpBlocklistOptions {
  now?: () => number;
  /** Never blocked, like loopback (`security.admin_networks`). */
  adminNetworks?: NetworkList;
  /**
   * True when the server saw `ip` as a client (e.g. it failed to authenticate). Default: no
   * address was seen, so nothing is ever blocked until the app wires the server's record.
   */
  wasSeenClient?: (ip: string) => boolean;
  log?: (level: 'warn' | 'info', message: string) => void;
}

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) and `10.0.0.1` are the same address. */
export function normalizeIp(ip: string): string {
  const trimmed = ip.trim().toLowerCase();
  return ipv4OfMapped(trimmed) ?? trimmed;
}

export class IpBlocklist {
  /** Address → the latest end of any tenant's block: the server's lookup. */
  readonly #until = new Map<string, number>();
  /** Address → tenant → entry. */
  readonly #entries = new Map<string, Map<string, BlockEntry>>();
  readonly #now: () => number;
  readonly #admin: NetworkList;
  readonly #wasSeen: (ip: string) => boolean;
  readonly #log: (level: 'warn' | 'info', message: string) => void;

  constructor(options: IpBlocklistOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#admin = options.adminNetworks ?? NO_NETWORKS;
    this.#wasSeen = options.wasSeenClient ?? (() => false);
    this.#log = options.log ?? (() => undefined);
  }

  /** Why `ip` may never be blocked, or undefined when it may. */
  protectedReason(ip: string): BlockRefusal | undefined {
    const key = normalizeIp(ip);
    if (isIP(key) === 0) return 'invalid_address';
    if (isLoopbackAddress(key)) return 'loopback';
    if (this.#admin.contains(key)) return 'admin_network';
    return undefined;
  }

  /**
   * Blocks `ip` until `untilMs` (at most MAX_BLOCK_SECONDS from now) on behalf of `origin`; a
   * longer running block of the same tenant is kept. Throws BlockRefusedError (and logs why)
   * for protected addresses and addresses the server never saw.
   */
  block(ip: string, untilMs: number, origin: BlockOrigin): BlockEntry {
    const refused = this.check(ip, origin);
    if (refused !== undefined) throw refused;
    const key = normalizeIp(ip);
    if (!Number.isFinite(untilMs)) throw new RangeError(`untilMs=${untilMs} must be a finite epoch-millisecond time`);
    const now = this.#now();
    return this.#put({ ...origin, ip: key, until_ms: Math.min(untilMs, now + MAX_BLOCK_SECONDS * 1000), created_at: now });
  }

  /**
   * Why `block(ip, …, origin)` would be refused (logged here), or undefined when it would
   * not. Remediation asks first, so a refused block uses none of the hourly action budget.
   */
  check(ip: string, origin: BlockOrigin): BlockRefusedError | undefined {
    const key = normalizeIp(ip);
    const refusal = this.protectedReason(key) ?? (this.#wasSeen(key) ? undefined : 'not_seen');
    if (refusal === undefined) return undefined;
    const message = `block_ip ${JSON.stringify(ip)} refused: ${REFUSAL_TEXT[refusal]} (tenant ${origin.tenant}, rule ${origin.rule_id ?? '-'})`;
    this.#log('warn', message);
    return new BlockRefusedError(ip, refusal, message);
  }

  /**
   * Re-applies a stored block after a restart. The server's record of seen clients does not
   * survive a restart, so that check is not repeated; the protected-address checks are (the
   * configuration may have changed). Returns false for a block dropped.
   */
  restore(entry: BlockEntry): boolean {
    const refusal = this.protectedReason(entry.ip);
    if (refusal !== undefined) {
      this.#log('warn', `stored block of ${JSON.stringify(entry.ip)} (tenant ${entry.tenant}) dropped: ${REFUSAL_TEXT[refusal]}`);
      return false;
    }
    const now = this.#now();
    if (entry.until_ms <= now) return false;
    this.#put({ ...entry, ip: normalizeIp(entry.ip), until_ms: Math.min(entry.until_ms, now + MAX_BLOCK_SECONDS * 1000) });
    return true;
  }

  /** Lifts `tenant`'s block of `ip`; the address stays blocked while another tenant's block runs. */
  unblock(tenant: string, ip: string): boolean {
    const key = normalizeIp(ip);
    const byTenant = this.#entries.get(key);
    if (!byTenant?.delete(tenant)) return false;
    this.#recompute(key);
    return true;
  }

  isBlocked(ip: string, nowMs: number = this.#now()): boolean {
    if (this.#until.size === 0) return false;
    const key = normalizeIp(ip);
    const until = this.#until.get(key);
    if (until === undefined) return false;
    if (until > nowMs) return true;
    this.#expire(key, nowMs);
    return false;
  }

  /** Running blocks of one tenant, or of all (`tenant` undefined); newest first. */
  list(tenant?: string, nowMs: number = this.#now()): BlockEntry[] {
    this.prune(nowMs);
    const out: BlockEntry[] = [];
    for (const byTenant of this.#entries.values()) {
      for (const e of byTenant.values()) if (tenant === undefined || e.tenant === tenant) out.push({ ...e });
    }
    return out.sort((a, b) => b.created_at - a.created_at || (a.ip < b.ip ? -1 : 1));
  }

  prune(nowMs: number = this.#now()): void {
    for (const key of [...this.#entries.keys()]) this.#expire(key, nowMs);
  }

  /** Addresses blocked now (any tenant). */
  get size(): number {
    return this.#until.size;
  }

  #put(entry: BlockEntry): BlockEntry {
    let byTenant = this.#entries.get(entry.ip);
    if (!byTenant) this.#entries.set(entry.ip, (byTenant = new Map()));
    const current = byTenant.get(entry.tenant);
    if (current !== undefined && current.until_ms >= entry.until_ms) return { ...current };
    byTenant.set(entry.tenant, entry);
    this.#recompute(entry.ip);
    return { ...entry };
  }

  #expire(key: string, nowMs: number): void {
    const byTenant = this.#entries.get(key);
    if (byTenant) for (const [t, e] of byTenant) if (e.until_ms <= nowMs) byTenant.delete(t);
    this.#recompute(key);
  }

  #recompute(key: string): void {
    const byTenant = this.#entries.get(key);
    let until = -Infinity;
    if (byTenant) for (const e of byTenant.values()) until = Math.max(until, e.until_ms);
    if (until === -Infinity) {
      this.#entries.delete(key);
      this.#until.delete(key);
    } else {
      this.#until.set(key, until);
    }
  }
}

const REFUSAL_TEXT: Record<BlockRefusal, string> = {
  invalid_address: 'not an IPv4 or IPv6 address',
  loopback: 'loopback addresses are never blocked',
  admin_network: 'the address is in security.admin_networks, which are never blocked',
  not_seen: 'EMMS never saw this address as a client (the source_ip tag alone is not evidence)',
};
