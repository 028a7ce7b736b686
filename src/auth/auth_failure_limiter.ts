/**
 * Limits failed authentications per source address (`security.limits.auth_failures_per_minute`)
 * with a token bucket per address: capacity = the per-minute limit, refilled continuously at
 * limit/60 per second. A client may fail `limit` times in a burst, then once every 60/limit
 * seconds; while its bucket is empty every request from it gets 429 before any credential is
 * looked at (so guessing costs the server nothing). A refused request does not drain the bucket
 * further: the address gets back exactly the configured rate.
 *
 * IPv6 clients are counted per /64: one host commonly holds a whole /64, so counting single
 * addresses would give it 2^64 buckets.
 *
 * Memory: at most `maxAddresses` buckets. A failing address moves to the back of the Map
 * (insertion order = least recently failed first), and a new address beyond the cap evicts the
 * front one, which has had the longest time to refill.
 */
import { isIP } from 'node:net';
import { ipv4OfMapped } from '../net/cidr.js';

export interface AuthFailureLimiterOptions {
  /** Failures allowed per minute and address (burst size and refill rate). */
  failuresPerMinute: number;
  /** Addresses tracked at once; default 50 000 (~5 MB). */
  maxAddresses?: number;
  now?: () => number;
}

interface Bucket {
  tokens: number;
  atMs: number;
}

export const DEFAULT_MAX_TRACKED_ADDRESSES = 50_000;

export class AuthFailureLimiter {
  readonly #capacity: number;
  readonly #perMs: number;
  readonly #maxAddresses: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: AuthFailureLimiterOptions) {
    const { failuresPerMinute } = options;
    if (!(Number.isInteger(failuresPerMinute) && failuresPerMinute >= 1)) {
      throw new RangeError(`options.failuresPerMinute must be a positive integer; got ${failuresPerMinute}`);
    }
    this.#capacity = failuresPerMinute;
    this.#perMs = failuresPerMinute / 60_000;
    this.#maxAddresses = options.maxAddresses ?? DEFAULT_MAX_TRACKED_ADDRESSES;
    this.#now = options.now ?? Date.now;
  }

  /** Seconds until `address` may try again, or undefined when it may try now. */
  retryAfterSeconds(address: string): number | undefined {
    if (this.#buckets.size === 0) return undefined;
    const bucket = this.#buckets.get(sourceKey(address));
    if (bucket === undefined) return undefined;
    const tokens = this.#refilled(bucket, this.#now());
    if (tokens >= 1) return undefined;
    return Math.max(1, Math.ceil((1 - tokens) / this.#perMs / 1000));
  }

  /** Counts one failure of `address`. */
  recordFailure(address: string): void {
    const key = sourceKey(address);
    const now = this.#now();
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= this.#maxAddresses) this.#buckets.delete(this.#buckets.keys().next().value as string);
      this.#buckets.set(key, { tokens: this.#capacity - 1, atMs: now });
      return;
    }
    bucket.tokens = this.#refilled(bucket, now) - 1;
    bucket.atMs = now;
    this.#buckets.delete(key);
    this.#buckets.set(key, bucket);
  }

  get trackedAddresses(): number {
    return this.#buckets.size;
  }

  #refilled(bucket: Bucket, now: number): number {
    return Math.min(this.#capacity, bucket.tokens + (now - bucket.atMs) * this.#perMs);
  }
}

/** The unit a bucket counts: an IPv4 address, or an IPv6 /64. */
export function sourceKey(address: string): string {
  if (address.indexOf(':') < 0) return address;
  const mapped = ipv4OfMapped(address);
  if (mapped !== undefined) return mapped;
  const zone = address.indexOf('%');
  const text = zone < 0 ? address : address.slice(0, zone);
  if (isIP(text) !== 6) return address;
  const split = text.split('::');
  const head = split[0] === '' ? [] : split[0]!.split(':');
  const tail = split.length < 2 || split[1] === '' ? [] : split[1]!.split(':');
  const tailGroups = tail.reduce((n, g) => n + (g.includes('.') ? 2 : 1), 0);
  const groups = split.length < 2 ? head : [...head, ...new Array<string>(8 - head.length - tailGroups).fill('0'), ...tail];
  return `${groups.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
