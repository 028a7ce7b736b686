/**
 * The client address of a request that came through proxies (`security.trusted_proxies`): a
 * load balancer, or an EMMS standby forwarding to its writer (standby_http_forward.ts).
 *
 * Each proxy appends the address of the socket it received the request on to
 * `X-Forwarded-For`, so the header reads `client, proxy1, proxy2` and the socket is the last
 * proxy. Only what trusted proxies appended can be believed: anything to the left of them was
 * written by whoever sent the request, and a client can put any address there. So, when the
 * socket address is a trusted proxy, the header is read from the right and the first address
 * that is not itself a trusted proxy is the client (nginx `real_ip_recursive on`); when every
 * address is a trusted proxy, the left-most one. When the socket is not a trusted proxy the
 * header is not read at all: the socket is the client.
 *
 * Bounds: at most MAX_FORWARDED_FOR_CHARS characters and MAX_FORWARDED_FOR_HOPS addresses,
 * parsed in one pass of `split` and node's address parser (no regular expression). Every
 * entry must be an address (optionally `[v6]:port` or `v4:port`, as some balancers write);
 * anything else makes the whole header a ForwardedForError (400): a proxy that writes garbage
 * is misconfigured, and guessing which part to believe would let a client choose.
 */
import { isIP } from 'node:net';
import { ipv4OfMapped, type NetworkList } from '../net/cidr.js';

export const FORWARDED_FOR_HEADER = 'x-forwarded-for';
/** Longest header accepted: 40 hops of the longest IPv6 text fit; a real chain is a few hops. */
export const MAX_FORWARDED_FOR_CHARS = 2048;
/** Most addresses in the header: more proxies than any real deployment chains. */
export const MAX_FORWARDED_FOR_HOPS = 32;
/** Characters of a refused header quoted back in the error. */
const QUOTED_CHARS = 120;

/** An X-Forwarded-For header that cannot be read: answered 400, naming the header and value. */
export class ForwardedForError extends Error {
  readonly status = 400;
  constructor(value: string, rule: string) {
    const quoted = value.length > QUOTED_CHARS ? `${value.slice(0, QUOTED_CHARS)}…` : value;
    super(`header X-Forwarded-For=${JSON.stringify(quoted)} ${rule}`);
    this.name = 'ForwardedForError';
  }
}

/**
 * An address in the canonical text the access checks and logs use (remote_address.ts): dotted
 * quad for IPv4 and IPv4-mapped IPv6, RFC 5952 compressed lower case for IPv6. Undefined when
 * `text` is not a bare address (zone ids, host names and shortened IPv4 forms are not).
 */
export function canonicalAddressText(text: string): string | undefined {
  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6 || text.includes('%')) return undefined;
  // The WHATWG URL serializer writes IPv6 hosts in RFC 5952 form (lower case, longest zero run as ::).
  const compressed = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  return ipv4OfMapped(compressed) ?? compressed;
}

/** One entry: an address, `[address]`, `[address]:port` or `IPv4:port`. */
function entryAddress(entry: string): string | undefined {
  let text = entry;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return undefined;
    const rest = text.slice(close + 1);
    if (rest !== '' && !isPort(rest.slice(1), rest[0])) return undefined;
    text = text.slice(1, close);
    return isIP(text) === 6 ? canonicalAddressText(text) : undefined;
  }
  const colon = text.indexOf(':');
  if (colon >= 0 && colon === text.lastIndexOf(':')) {
    if (!isPort(text.slice(colon + 1), ':')) return undefined;
    text = text.slice(0, colon);
    return isIP(text) === 4 ? text : undefined;
  }
  return canonicalAddressText(text);
}

function isPort(digits: string, separator: string | undefined): boolean {
  if (separator !== ':' || digits.length === 0 || digits.length > 5) return false;
  for (let i = 0; i < digits.length; i++) {
    const c = digits.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return Number(digits) <= 65535;
}

/** The addresses of an X-Forwarded-For value, left (the claimed client) to right (the last proxy), canonical. */
export function parseForwardedFor(value: string): string[] {
  if (value.length > MAX_FORWARDED_FOR_CHARS) throw new ForwardedForError(value, `is longer than ${MAX_FORWARDED_FOR_CHARS} characters`);
  const entries = value.split(',');
  if (entries.length > MAX_FORWARDED_FOR_HOPS) throw new ForwardedForError(value, `lists ${entries.length} addresses; at most ${MAX_FORWARDED_FOR_HOPS} are accepted`);
  return entries.map((raw) => {
    const entry = raw.trim();
    const address = entryAddress(entry);
    if (address === undefined) throw new ForwardedForError(value, `has ${JSON.stringify(entry.slice(0, 64))}, which is not an IP address`);
    return address;
  });
}

/**
 * The client's address: `socketAddress` (canonical) unless it is a trusted proxy and the
 * request carries X-Forwarded-For, then the right-most address of the header that is not a
 * trusted proxy. Throws ForwardedForError for a header of a trusted proxy that cannot be read.
 */
export function clientAddressOf(socketAddress: string, forwardedFor: string | undefined, trusted: NetworkList): string {
  if (forwardedFor === undefined || forwardedFor.trim() === '' || trusted.entries.length === 0 || !trusted.contains(socketAddress)) return socketAddress;
  const hops = parseForwardedFor(forwardedFor);
  for (let i = hops.length - 1; i > 0; i--) {
    if (!trusted.contains(hops[i]!)) return hops[i]!;
  }
  return hops[0]!;
}

/**
 * The X-Forwarded-For a proxy of ours (a standby) sends on: the client's own header only when
 * the client is itself a trusted proxy (otherwise it is a claim anyone could make), then the
 * client's socket address. Throws ForwardedForError when the client's header cannot be read,
 * or when the result would pass the bounds the next hop applies.
 */
export function forwardedForToSend(socketAddress: string, forwardedFor: string | undefined, trusted: NetworkList): string {
  if (forwardedFor === undefined || forwardedFor.trim() === '' || trusted.entries.length === 0 || !trusted.contains(socketAddress)) return socketAddress;
  const hops = parseForwardedFor(forwardedFor);
  if (hops.length + 1 > MAX_FORWARDED_FOR_HOPS) throw new ForwardedForError(forwardedFor, `lists ${hops.length} addresses; with this proxy's the next hop would refuse more than ${MAX_FORWARDED_FOR_HOPS}`);
  const out = [...hops, socketAddress].join(', ');
  if (out.length > MAX_FORWARDED_FOR_CHARS) throw new ForwardedForError(forwardedFor, `with this proxy's address would pass ${MAX_FORWARDED_FOR_CHARS} characters`);
  return out;
}
