/**
 * The lease contract: how one EMMS node among many becomes the only one that runs a duty
 * that must happen once per cluster (alert evaluation, retention, compaction, health checks),
 * and how that duty moves to another node within a bounded time when its holder dies.
 *
 *   postgres_lease.ts  a PostgreSQL session advisory lock on a dedicated connection
 *   redis_lease.ts     a Redis key set with NX and a TTL, renewed by compare-and-pexpire
 *   SingleNodeLease    (below) the embedded SQLite store: one node, always the holder
 *
 * Lifecycle: `openXLease(options, handlers)` validates the options, connects and makes the
 * first attempt (it rejects when the database cannot be reached at all, so a misconfigured
 * node fails at start-up), then contends in the background: a non-holder retries every
 * `retryMs`, the holder confirms every `renewMs`. `onAcquired` and `onLost` alternate, starting
 * with `onAcquired` (which may run before the open promise resolves). `close()` stops
 * contending and releases the lease if held (another node can take it at once); `onLost` is
 * not called for it. A lease is not reusable after `close()`.
 *
 * `held` is the answer to read right before each guarded action, not a cached flag: it turns
 * false by itself once the holder's last confirmation is older than what the back-end
 * guarantees (a process stopped or an event loop blocked past that time may already have been
 * replaced), even before the timer that would report `onLost` had a chance to run. A duty that
 * started while `held` was true can still overlap its successor's first run by up to the
 * duration of one action past the bound: make guarded actions idempotent or short.
 */

export interface LeaseHandlers {
  /** This node now holds the lease: start (or resume) the guarded duty. */
  onAcquired?: () => void;
  /** This node no longer holds the lease (confirmation failed, connection lost, taken over); `reason` says which. */
  onLost?: (reason: string) => void;
  /** A contention attempt or confirmation failed in a way an operator should see (database unreachable). Never thrown. */
  onError?: (err: Error) => void;
}

export interface Lease {
  /** What the lease guards, e.g. `alerts`; leases of different names are independent. */
  readonly name: string;
  /** True while this node may act as the one holder (see the module comment). */
  readonly held: boolean;
  /** Stops contending, releases the lease if held, closes the connection. Idempotent. */
  close(): Promise<void>;
}

/**
 * A lease whose holder publishes where other nodes reach it, next to the lease itself (the
 * writer lease: standbys forward requests to the writer, src/server/standby/standby_forwarder.ts).
 * What `holderAddress()` answers belongs to the node that holds the lease at that moment: a
 * dead holder's address is never returned, even if its publication is still stored.
 */
export interface AdvertisedLease extends Lease {
  /** Holder only: publishes `address`, replacing what this node published before; rejects when the lease is not held. */
  advertise(address: string): Promise<void>;
  /** What the current holder published; undefined when no node holds the lease or its holder published nothing. */
  holderAddress(): Promise<string | undefined>;
}

export function isAdvertisedLease(lease: Lease): lease is AdvertisedLease {
  return typeof (lease as Partial<AdvertisedLease>).advertise === 'function' && typeof (lease as Partial<AdvertisedLease>).holderAddress === 'function';
}

/** Longest address a holder may publish: a URL of a node is ~30 characters; the bound keeps rows and keys small. */
export const MAX_ADVERTISED_CHARS = 512;

/** Validates an address to publish; the error names the value and the rule. */
export function checkAdvertisedAddress(address: unknown): string {
  if (typeof address !== 'string' || address.length === 0 || address.length > MAX_ADVERTISED_CHARS || /\s/.test(address)) {
    throw new RangeError(`advertised address=${JSON.stringify(typeof address === 'string' ? address.slice(0, 80) : address)} must be 1 to ${MAX_ADVERTISED_CHARS} characters without white space`);
  }
  return address;
}

/** Lease names: short, printable, safe inside a Redis key and a PostgreSQL application_name. */
export const LEASE_NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/** Validates a lease name; the error names the value and the rule. */
export function checkLeaseName(name: unknown): string {
  if (typeof name !== 'string' || !LEASE_NAME_PATTERN.test(name)) {
    throw new RangeError(`lease name=${JSON.stringify(name)} must be 1 to 64 characters of A-Z a-z 0-9 _ . : -`);
  }
  return name;
}

/** Validates a duration option in milliseconds; the error names the option, the value and the range. */
export function checkDurationMs(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${option}=${String(value)} must be an integer number of milliseconds in [${min}, ${max}]`);
  }
  return value;
}

/**
 * How long after sending a successful confirmation a holder may still act, given that no
 * other node can acquire the lease before `boundMs` after that send. The margin covers clock
 * rate drift between this host and the database and timer granularity; it is Redlock's
 * (1% of the bound plus 2 ms, https://redis.io/docs/latest/develop/use/patterns/distributed-locks/).
 */
export function heldWindowMs(boundMs: number): number {
  return boundMs - Math.ceil(boundMs * 0.01) - 2;
}

/** Races `promise` against a timer; the error names what timed out. The timer never keeps the process alive. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * The lease of a node that is alone by construction (the embedded SQLite file admits one
 * process): always held, acquired once right after creation, never lost.
 */
export class SingleNodeLease implements Lease {
  readonly name: string;
  #closed = false;

  constructor(name: string, handlers: LeaseHandlers = {}) {
    this.name = checkLeaseName(name);
    // A microtask, not a synchronous call: the caller has its lease in hand when the handler runs,
    // as with the networked leases whose acquisition always follows a round trip.
    if (handlers.onAcquired) queueMicrotask(() => {
      if (!this.#closed) handlers.onAcquired?.();
    });
  }

  get held(): boolean {
    return !this.#closed;
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

/**
 * The contention loop of a lease (postgres_lease.ts, redis_lease.ts): one step at a time, the
 * next one `delayMs()` after the last ended (undefined: the lease is closed, no more steps).
 * A step's rejection can only come from a handler: it is reported through onError, because a
 * rejection from a timer would end the process. The timer never keeps a process alive: the
 * server's sockets do that.
 */
export class LeaseSteps {
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(
    private readonly name: string,
    private readonly step: () => Promise<void>,
    private readonly delayMs: () => number | undefined,
    private readonly handlers: LeaseHandlers,
  ) {}

  /** Runs a step now; the next ones follow by themselves. */
  run(): Promise<void> {
    const running = this.step()
      .catch((err: unknown) => this.handlers.onError?.(new Error(`lease ${this.name}: a handler failed: ${(err as Error)?.message ?? String(err)}`, { cause: err })))
      .finally(() => {
        this.#running = undefined;
        const delay = this.delayMs();
        if (delay === undefined) return;
        this.#timer = setTimeout(() => void this.run(), delay);
        this.#timer.unref();
      });
    this.#running = running;
    return running;
  }

  /** No step is scheduled any more; resolves once the one running (if any) ended. Call after the lease marked itself closed. */
  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#running;
  }
}
