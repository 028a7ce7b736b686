/**
 * A lease held as a Redis key: `SET <prefix>lease:<name> <token> NX PX ttlMs` takes it, a Lua
 * compare-and-pexpire renews it every ttlMs / 3, a Lua compare-and-del releases it. The token
 * is random per acquisition, so a node can only extend or delete its own tenure: a holder that
 * was stopped past the TTL and resumes finds another token and knows it lost.
 *
 * Handover bound: whatever happens to the holder (killed, hung, cut off), the key expires
 * `ttlMs` after its last renewal and another node takes it within `ttlMs + retryMs`; a holder
 * that closes releases it at once. The old holder's `held` turns false `heldWindowMs(ttlMs)`
 * after its last renewal was sent, before the key can have expired.
 *
 * A renewal that fails (timeout, connection lost) or finds another token ends the lease here
 * (`onLost`) with a best-effort release, rather than retrying until the TTL runs out: a duty
 * that stops a little early is harmless, one that runs twice is not.
 *
 * What Redis must provide: one primary. With asynchronous replication a failover to a replica
 * that had not received the key, or a restart without persistence, can let two nodes hold the
 * lease for up to `ttlMs`; run Redis with `appendonly yes` and without automatic failover when
 * that matters (or use the PostgreSQL lease, which has no such window).
 *
 * Advertising (AdvertisedLease): the key's value is `<token>` or `<token> <address>`, so the
 * address lives and expires with the tenure itself; `advertise()` swaps the value by
 * compare-and-set, `holderAddress()` reads whatever the key holds now.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { LeaseSteps, checkAdvertisedAddress, checkDurationMs, checkLeaseName, heldWindowMs, withTimeout, type AdvertisedLease, type LeaseHandlers } from './lease.js';
import { redactedUrl } from '../text/url_password.js';

export interface RedisLeaseOptions {
  /** `redis://[:password@]host:port[/db]`; the password never appears in messages. */
  url: string;
  /** What the lease guards (see LEASE_NAME_PATTERN). */
  name: string;
  /** Prefix of the lease key, the cluster's EMMS key prefix. Default `emms:`. */
  prefix?: string;
  /** Life of the key without renewal, ms: the handover bound. Default 5,000. */
  ttlMs?: number;
  /** How often a non-holder tries to take the key, ms. Default 1,000. */
  retryMs?: number;
}

export const REDIS_LEASE_DEFAULTS = { prefix: 'emms:', ttlMs: 5000, retryMs: 1000 } as const;

const MAX_DURATION_MS = 600_000;
const MAX_PREFIX_CHARS = 128;
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * Whether the key's value is our token, alone or followed by a space and an address: a Lua
 * expression shared by the scripts, so that renewing, advertising and releasing all accept
 * the value whichever of them ran last.
 */
const OURS = "local v = redis.call('GET', KEYS[1]); local ours = v == ARGV[1] or (v and string.sub(v, 1, #ARGV[1] + 1) == ARGV[1] .. ' ');";
/** Extends the key's life only if it still holds our token: 1 when extended, 0 otherwise. */
const RENEW_SCRIPT = `${OURS} if ours then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
/** Replaces the value (keeping the TTL) only if it still holds our token: 1 when replaced, 0 otherwise. */
const ADVERTISE_SCRIPT = `${OURS} if ours then redis.call('SET', KEYS[1], ARGV[1] .. ' ' .. ARGV[2], 'KEEPTTL') return 1 else return 0 end`;
/** Deletes the key only if it still holds our token. */
const RELEASE_SCRIPT = `${OURS} if ours then return redis.call('DEL', KEYS[1]) else return 0 end`;

/** The key of lease `name` under `prefix`. */
export function redisLeaseKey(prefix: string, name: string): string {
  return `${prefix}lease:${name}`;
}

/** Connects, takes the first turn at the key, and keeps contending until `close()`. */
export async function openRedisLease(options: RedisLeaseOptions, handlers: LeaseHandlers = {}): Promise<AdvertisedLease> {
  const lease = new RedisLease(options, handlers);
  await lease.start();
  return lease;
}

type State = 'contending' | 'held' | 'closed';

class RedisLease implements AdvertisedLease {
  readonly name: string;
  readonly #url: string;
  readonly #key: string;
  readonly #ttlMs: number;
  readonly #retryMs: number;
  readonly #renewMs: number;
  readonly #handlers: LeaseHandlers;
  readonly #client: Redis;
  #state: State = 'contending';
  /** The client's last error event: why a first connection failed. */
  #lastClientError: Error | undefined;
  #token = '';
  /** performance.now() when the last successful SET or renewal was sent. */
  #confirmedAt = 0;
  readonly #steps: LeaseSteps;

  constructor(options: RedisLeaseOptions, handlers: LeaseHandlers) {
    this.name = checkLeaseName(options.name);
    this.#steps = new LeaseSteps(this.name, () => (this.#state === 'held' ? this.#renew() : this.#attempt()),
      () => (this.#state === 'closed' ? undefined : this.#state === 'held' ? this.#renewMs : this.#retryMs), handlers);
    if (typeof options.url !== 'string' || options.url === '') throw new RangeError('redis lease url must be a non-empty redis:// URL');
    const prefix = options.prefix ?? REDIS_LEASE_DEFAULTS.prefix;
    if (typeof prefix !== 'string' || prefix.length > MAX_PREFIX_CHARS) throw new RangeError(`redis lease prefix=${JSON.stringify(prefix)} must be a string of at most ${MAX_PREFIX_CHARS} characters`);
    this.#url = options.url;
    this.#key = redisLeaseKey(prefix, this.name);
    this.#ttlMs = checkDurationMs('ttlMs', options.ttlMs ?? REDIS_LEASE_DEFAULTS.ttlMs, 30, MAX_DURATION_MS);
    this.#retryMs = checkDurationMs('retryMs', options.retryMs ?? REDIS_LEASE_DEFAULTS.retryMs, 10, MAX_DURATION_MS);
    // A third of the TTL: two renewals may fail or be late before the key can expire under a live holder.
    this.#renewMs = Math.floor(this.#ttlMs / 3);
    this.#handlers = handlers;
    this.#client = new Redis(options.url, {
      lazyConnect: true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: this.#renewMs,
      // A command must fail, not wait in a queue across reconnects: a late SET or renewal
      // answers a question about a time that has passed.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: () => this.#retryMs,
    });
    this.#client.on('error', (err: Error) => {
      this.#lastClientError = err;
      if (this.#state !== 'closed') this.#handlers.onError?.(new Error(`lease ${this.name} on ${redactedUrl(this.#url)}: ${err.message}`, { cause: err }));
    });
  }

  get held(): boolean {
    return this.#state === 'held' && performance.now() < this.#confirmedAt + heldWindowMs(this.#ttlMs);
  }

  /** The first connection and attempt: a Redis that cannot be reached fails the open. */
  async start(): Promise<void> {
    try {
      await this.#client.connect();
    } catch (err) {
      this.#state = 'closed';
      this.#client.disconnect();
      // ioredis rejects connect() with "Connection is closed."; the socket's own error (ECONNREFUSED, a DNS failure) says why.
      const why = this.#lastClientError ?? (err as Error);
      throw new Error(`lease ${this.name}: cannot connect to ${redactedUrl(this.#url)}: ${why.message}`, { cause: why });
    }
    await this.#steps.run();
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    const wasHeld = this.#state === 'held';
    this.#state = 'closed';
    await this.#steps.stop();
    // Released at once so the next holder need not wait out the TTL.
    if (wasHeld) await this.#release(this.#token);
    await withTimeout(this.#client.quit(), this.#renewMs, 'closing the lease connection').catch(() => undefined);
    this.#client.disconnect();
  }

  async advertise(address: string): Promise<void> {
    checkAdvertisedAddress(address);
    if (!this.held) throw new Error(`lease ${this.name}: only its holder may advertise an address`);
    const replaced = await this.#client.eval(ADVERTISE_SCRIPT, 1, this.#key, this.#token, address);
    if (replaced !== 1) throw new Error(`lease ${this.name}: the key holds another token (the lease was lost)`);
  }

  async holderAddress(): Promise<string | undefined> {
    const value = await this.#client.get(this.#key);
    if (value === null) return undefined;
    const space = value.indexOf(' ');
    return space < 0 ? undefined : value.slice(space + 1);
  }

  async #attempt(): Promise<void> {
    const token = randomBytes(18).toString('base64url');
    const sentAt = performance.now();
    let reply: string | null;
    try {
      reply = await this.#client.set(this.#key, token, 'PX', this.#ttlMs, 'NX');
    } catch {
      // Unreachable Redis is reported by the client's 'error' events; a timed-out SET may have
      // landed, in which case the key expires after ttlMs like any holder's.
      return;
    }
    if (reply !== 'OK') return;
    if (this.#state !== 'contending') {
      await this.#release(token);
      return;
    }
    this.#token = token;
    this.#state = 'held';
    this.#confirmedAt = sentAt;
    this.#handlers.onAcquired?.();
  }

  async #renew(): Promise<void> {
    const sentAt = performance.now();
    if (!this.held) return this.#lose(`not renewed for ${Math.round(sentAt - this.#confirmedAt)} ms (process stopped or event loop blocked): the key may have expired and been taken`);
    let extended: unknown;
    try {
      extended = await this.#client.eval(RENEW_SCRIPT, 1, this.#key, this.#token, this.#ttlMs);
    } catch (err) {
      return this.#lose(`renewing the key on ${redactedUrl(this.#url)} failed: ${(err as Error).message}`);
    }
    if (this.#state !== 'held') return;
    if (extended !== 1) return this.#lose('the key holds another token (it expired and was taken, or was overwritten)');
    this.#confirmedAt = sentAt;
  }

  #lose(reason: string): void {
    if (this.#state !== 'held') return;
    this.#state = 'contending';
    void this.#release(this.#token);
    try {
      this.#handlers.onLost?.(reason);
    } catch (err) {
      // #lose also runs from a connection's 'error' event, where a throw would end the process.
      this.#handlers.onError?.(new Error(`lease ${this.name}: the onLost handler failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
    }
  }

  /** Compare-and-delete; a failure leaves the key to expire on its own. */
  async #release(token: string): Promise<void> {
    await this.#client.eval(RELEASE_SCRIPT, 1, this.#key, token).catch(() => undefined);
  }
}
