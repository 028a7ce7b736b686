/**
 * Lists of client or destination networks, written as CIDRs (`10.0.0.0/8`, `::1/128`) or single
 * addresses, matched with node's `net.BlockList` (a linear scan over a few ranges, no regex on
 * the address). IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`) match the IPv4 ranges, because
 * a dual-stack socket reports IPv4 clients that way.
 */
import { BlockList, isIP } from 'node:net';

export class NetworkListError extends Error {
  constructor(readonly field: string, readonly value: unknown, rule: string) {
    super(`${field}=${JSON.stringify(value) ?? String(value)} ${rule}`);
    this.name = 'NetworkListError';
  }
}

export interface NetworkList {
  /** The entries as given, for answers and logs. */
  readonly entries: readonly string[];
  /** True when `address` (IPv4 or IPv6 text) falls in one of the networks. */
  contains(address: string): boolean;
}

/** Parses `entries` (each a CIDR or an address); errors name `field[i]` and the value. */
export function parseNetworkList(field: string, entries: unknown): NetworkList {
  if (!Array.isArray(entries)) throw new NetworkListError(field, entries, 'must be an array of CIDRs such as "10.0.0.0/8" or "::1/128"');
  if (entries.length > 10_000) throw new NetworkListError(field, `(${entries.length} entries)`, 'must have at most 10000 entries');
  const list = new BlockList();
  const kept: string[] = [];
  entries.forEach((entry, i) => {
    if (typeof entry !== 'string' || entry.length > 64) throw new NetworkListError(`${field}[${i}]`, entry, 'must be a CIDR or an IP address');
    const slash = entry.indexOf('/');
    const address = slash < 0 ? entry.trim() : entry.slice(0, slash).trim();
    const family = isIP(address);
    if (family === 0) throw new NetworkListError(`${field}[${i}]`, entry, 'must be a CIDR or an IP address');
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const maxPrefix = family === 4 ? 32 : 128;
    const prefixText = slash < 0 ? String(maxPrefix) : entry.slice(slash + 1).trim();
    const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!(prefix >= 0 && prefix <= maxPrefix)) throw new NetworkListError(`${field}[${i}]`, entry, `has a prefix length outside [0, ${maxPrefix}]`);
    list.addSubnet(address, prefix, type);
    kept.push(entry);
  });
  return { entries: kept, contains: (address) => listContains(list, address) };
}

function listContains(list: BlockList, address: string): boolean {
  const family = isIP(address);
  if (family === 4) return list.check(address, 'ipv4');
  if (family !== 6) return false;
  if (list.check(address, 'ipv6')) return true;
  const mapped = ipv4OfMapped(address);
  return mapped !== undefined && list.check(mapped, 'ipv4');
}

/** `::ffff:1.2.3.4` (or its hex form) → `1.2.3.4`; undefined for other IPv6 addresses. */
export function ipv4OfMapped(address: string): string | undefined {
  const lower = address.toLowerCase();
  if (!lower.startsWith('::ffff:')) return undefined;
  const rest = lower.slice(7);
  if (isIP(rest) === 4) return rest;
  const m = /^([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(rest);
  if (m === null) return undefined;
  const hi = parseInt(m[1]!, 16);
  const lo = parseInt(m[2]!, 16);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** The empty list: contains nothing. */
export const NO_NETWORKS: NetworkList = { entries: [], contains: () => false };

/** Loopback: 127.0.0.0/8 and ::1 (and their IPv4-mapped forms). */
export const LOOPBACK_NETWORKS: NetworkList = parseNetworkList('loopback', ['127.0.0.0/8', '::1/128']);

/** True when `address` is a loopback address. */
export function isLoopbackAddress(address: string): boolean {
  return LOOPBACK_NETWORKS.contains(address);
}

/** True when a listen address only accepts connections from this machine. */
export function isLoopbackBind(host: string): boolean {
  return host === 'localhost' || isLoopbackAddress(host);
}
