/**
 * The `truncate_ip` rule's arithmetic: an IPv4 address keeps its /24 network (last octet
 * zeroed), an IPv6 address its /48 (the routing prefix a site gets; the subnet and interface
 * parts, which name a LAN and a host, are zeroed). The result is itself an address, written
 * in its canonical form (dotted quad; RFC 5952 for IPv6), so that group-by on the truncated
 * tag merges every spelling of the same network and key policies can still test it against
 * allowed networks at that granularity.
 *
 * Special forms:
 * - An IPv4-mapped IPv6 address (`::ffff:10.1.2.3`, what dual-stack sockets report) is an IPv4
 *   address: it keeps its /24 and stays in mapped form (`::ffff:10.1.2.0`). A /48 of it
 *   would be `::`, erasing everything; its own /24 is the same privacy as plain IPv4.
 * - A zone id (`fe80::1%eth0`) is dropped: it names an interface of the reporting host, which
 *   the truncated address no longer identifies anyway.
 *
 * Pure functions; the caller decides what a value that is not an address becomes (see
 * anonymize_rules.ts: it is pseudonymized, never kept).
 */
import { isIP } from 'node:net';

/** Bits kept of an IPv4 address (last octet zeroed). */
export const IPV4_PREFIX_BITS = 24;
/** Bits kept of an IPv6 address (three 16-bit groups). */
export const IPV6_PREFIX_BITS = 48;
const IPV6_GROUPS_KEPT = IPV6_PREFIX_BITS / 16;

/** The truncated address, or undefined when `value` is not an IPv4 or IPv6 address. */
export function truncateIp(value: string): string | undefined {
  // Bounded before any parsing: the longest IPv6 text with a zone is far below this.
  if (value.length > 100) return undefined;
  const zone = value.indexOf('%');
  const address = zone >= 0 ? value.slice(0, zone) : value;
  const family = isIP(address);
  if (family === 4) return truncateIpv4(address);
  if (family !== 6 || (zone >= 0 && zone === value.length - 1)) return undefined;
  const groups = ipv6Groups(address);
  if (isIpv4Mapped(groups)) {
    const v4 = `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.0`;
    return `::ffff:${v4}`;
  }
  for (let i = IPV6_GROUPS_KEPT; i < 8; i++) groups[i] = 0;
  return formatIpv6(groups);
}

function truncateIpv4(address: string): string {
  return `${address.slice(0, address.lastIndexOf('.'))}.0`;
}

function isIpv4Mapped(g: readonly number[]): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
}

/** The eight 16-bit groups of an address that isIP() accepted as IPv6 (zone removed). */
export function ipv6Groups(address: string): number[] {
  let text = address;
  const tail: number[] = [];
  // An embedded IPv4 tail (`::ffff:1.2.3.4`, `64:ff9b::1.2.3.4`) is two groups.
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) >= 0) {
    const octets = text.slice(lastColon + 1).split('.').map(Number);
    tail.push((octets[0]! << 8) | octets[1]!, (octets[2]! << 8) | octets[3]!);
    text = text.slice(0, lastColon + 1);
    // `::1.2.3.4` leaves `::`; `a:b::1.2.3.4` leaves `a:b::`; `a:b:c:d:e:f:1.2.3.4` leaves `a:…:f:`.
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1);
  }
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const gap = text.indexOf('::');
  let groups: number[];
  if (gap >= 0) {
    const head = parse(text.slice(0, gap));
    const rest = parse(text.slice(gap + 2));
    const zeros = 8 - tail.length - head.length - rest.length;
    groups = [...head, ...new Array<number>(zeros).fill(0), ...rest];
  } else {
    groups = parse(text);
  }
  return [...groups, ...tail];
}

/** RFC 5952 text: lower case, no leading zeros, the longest run (≥ 2) of zero groups as `::`. */
export function formatIpv6(groups: readonly number[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}
