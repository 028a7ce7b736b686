/**
 * The egress policy: what outgoing connections (health probes, webhooks, Slack, Alertmanager,
 * remediation webhooks) may reach. A client of the API chooses those destinations, so without
 * this check EMMS is a port scanner of the networks it sits in and a reader of cloud metadata
 * endpoints. Addresses are checked after DNS resolution, in the `lookup` that the connection
 * itself uses, so a name that resolves to a public address at check time and to 127.0.0.1 at
 * connect time (DNS rebinding) is still refused.
 *
 * Refused unless `security.egress_allow` lists them: loopback, private (RFC 1918, fc00::/7),
 * link-local (169.254/16 with the metadata address 169.254.169.254, fe80::/10), carrier-grade
 * NAT (100.64/10), "this network" (0/8, ::), multicast, broadcast and reserved ranges.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import { NetworkListError, parseNetworkList, type NetworkList } from './cidr.js';

const INTERNAL_NETWORKS = parseNetworkList('internal networks', [
  '0.0.0.0/8', '10.0.0.0/8', '100.64.0.0/10', '127.0.0.0/8', '169.254.0.0/16', '172.16.0.0/12', '192.0.0.0/24',
  '192.168.0.0/16', '198.18.0.0/15', '224.0.0.0/4', '240.0.0.0/4',
  '::/128', '::1/128', '64:ff9b::/96', 'fc00::/7', 'fe80::/10', 'ff00::/8',
]);

export class EgressRefusedError extends Error {
  readonly code = 'EEGRESS';
  constructor(readonly host: string, readonly address: string) {
    super(`egress to ${host} (${address}) refused: loopback, private, link-local and metadata addresses need security.egress_allow`);
    this.name = 'EgressRefusedError';
  }
}

export interface EgressPolicy {
  /** Networks (CIDRs) that may be reached although internal. */
  readonly allowNetworks: NetworkList;
  /** Host names (lower case, exact) that may be reached whatever they resolve to. */
  readonly allowHosts: ReadonlySet<string>;
}

/** Parses `security.egress_allow`: CIDRs, addresses, or exact host names. */
export function parseEgressPolicy(field: string, entries: unknown): EgressPolicy {
  if (entries === undefined) return { allowNetworks: parseNetworkList(field, []), allowHosts: new Set() };
  if (!Array.isArray(entries)) throw new NetworkListError(field, entries, 'must be an array of CIDRs, addresses or host names');
  const networks: string[] = [];
  const hosts = new Set<string>();
  for (const entry of entries) {
    if (typeof entry === 'string' && isIP(entry.split('/')[0]!.trim()) === 0 && /^[A-Za-z0-9.-]{1,253}$/.test(entry)) hosts.add(entry.toLowerCase());
    else networks.push(entry as string);
  }
  return { allowNetworks: parseNetworkList(field, networks), allowHosts: hosts };
}

/** The policy with nothing allowed beyond public addresses. */
export const STRICT_EGRESS: EgressPolicy = { allowNetworks: parseNetworkList('egress', []), allowHosts: new Set() };

/** True when `address` may be connected to under `policy`. */
export function egressAddressAllowed(address: string, policy: EgressPolicy): boolean {
  if (!INTERNAL_NETWORKS.contains(address)) return true;
  return policy.allowNetworks.contains(address);
}

/** Throws EgressRefusedError when `host` resolved to `address` may not be reached. */
export function checkEgress(host: string, address: string, policy: EgressPolicy): void {
  if (policy.allowHosts.has(host.toLowerCase())) return;
  if (!egressAddressAllowed(address, policy)) throw new EgressRefusedError(host, address);
}

/**
 * Throws EgressRefusedError when `host` is a literal address (`10.0.0.1`, `[::1]`) the policy
 * refuses. Node calls no `lookup` for a literal, so guardedLookup never sees one: callers that
 * connect to a URL's or a target's host check it here first.
 */
export function checkLiteralEgress(host: string, policy: EgressPolicy): void {
  const bare = host.replace(/^\[|\]$/g, '');
  if (isIP(bare) !== 0) checkEgress(bare, bare, policy);
}

/**
 * A `lookup` for `net.connect`, `tls.connect` and `http.request` that resolves as usual and
 * refuses internal addresses: the check and the connection use the same answer.
 */
export function guardedLookup(policy: EgressPolicy): LookupFunction {
  return ((hostname: string, options: unknown, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    const opts = (typeof options === 'object' && options !== null ? options : {}) as { all?: boolean; family?: number };
    dnsLookup(hostname, { ...opts, all: true }, (err, addresses) => {
      if (err !== null) return callback(err, '', 0);
      const list = addresses as LookupAddress[];
      for (const a of list) {
        try {
          checkEgress(hostname, a.address, policy);
        } catch (refused) {
          return callback(refused as NodeJS.ErrnoException, '', 0);
        }
      }
      if (opts.all === true) return callback(null, list);
      const first = list[0];
      if (first === undefined) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      callback(null, first.address, first.family);
    });
  }) as LookupFunction;
}

/**
 * Resolves `host` once and checks every address; for callers that connect by address (pass the
 * result on, so nothing resolves again between check and connect).
 */
export async function resolveEgress(host: string, policy: EgressPolicy): Promise<{ address: string; family: number }> {
  const bare = host.replace(/^\[|\]$/g, '');
  const literal = isIP(bare);
  if (literal !== 0) {
    checkLiteralEgress(bare, policy);
    return { address: bare, family: literal };
  }
  const addresses = await new Promise<LookupAddress[]>((resolve, reject) => {
    dnsLookup(host, { all: true }, (err, list) => (err !== null ? reject(err) : resolve(list)));
  });
  for (const a of addresses) checkEgress(host, a.address, policy);
  const first = addresses[0];
  if (first === undefined) throw Object.assign(new Error(`no address for ${host}`), { code: 'ENOTFOUND' });
  return first;
}
