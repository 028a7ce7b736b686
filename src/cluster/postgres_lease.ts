/**
 * A lease held as a PostgreSQL session advisory lock (`pg_try_advisory_lock`) on a connection
 * of its own. The lock lives exactly as long as the session that took it, so the server, not
 * a timestamp column, decides who holds it: nothing to clean up after a crash.
 *
 * Contention: a non-holder tries the lock every `retryMs`. The holder confirms its session
 * every `renewMs` (`SELECT 1`, at most `renewMs` long); a failed or late confirmation, or an
 * error on the connection, ends the lease here (`onLost`) and closes the session so the
 * server frees the lock for the others.
 *
 * Handover bounds (tested with SIGKILLed and SIGSTOPped holder processes in
 * tests/integration/cluster_lease.test.ts):
 * - the holder's process dies or its connection closes: PostgreSQL, waiting on that socket,
 *   sees it close and ends the session at once, releasing the lock; another node takes it at
 *   its next attempt, within `retryMs` (plus one round trip).
 * - the holder hangs, is stopped, or its host or network disappears with the TCP connection
 *   left open: the session is set `idle_session_timeout = holderTimeoutMs` (PostgreSQL 14+), a
 *   server-side timer that needs nothing from the network, so the server ends the session
 *   `holderTimeoutMs` after its last statement; another node takes it within
 *   `holderTimeoutMs + retryMs`. `tcp_keepalives_*` and `tcp_user_timeout` (set to at least
 *   that long) cut a dead peer the server is still sending to, which the idle timer does not
 *   cover; `statement_timeout` bounds a confirmation the server is slow to answer.
 * - the old holder's `held` turns false `heldWindowMs(holderTimeoutMs)` after its last
 *   confirmation was sent, before the server can have freed the lock that way.
 *
 * The key is 64 bits of SHA-256 over the schema and the lease name: advisory locks are per
 * database, and two EMMS clusters sharing one database through different schemas must not
 * share leases. Connect directly or through a session-pooling proxy: a transaction-pooling
 * proxy (PgBouncer `pool_mode=transaction`) would hand the session, and its lock, around.
 *
 * Advertising (AdvertisedLease): the holder writes its address into `<schema>.emms_lease_holders`
 * with its session's backend pid; `holderAddress()` returns a row only while that pid holds the
 * advisory lock (pg_locks), so the address of a holder whose session ended is never returned,
 * although its row stays until the next holder replaces it.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import { LeaseSteps, checkAdvertisedAddress, checkDurationMs, checkLeaseName, heldWindowMs, withTimeout, type AdvertisedLease, type LeaseHandlers } from './lease.js';
import { redactedUrl } from '../text/url_password.js';

export interface PostgresLeaseOptions {
  /** `postgres://user:password@host:port/database`; the password never appears in messages. */
  url: string;
  /** What the lease guards (see LEASE_NAME_PATTERN). */
  name: string;
  /** The EMMS schema of the cluster; part of the lock key. Default `emms`. */
  schema?: string;
  /** How often a non-holder tries the lock, ms. Default 1,000. */
  retryMs?: number;
  /** How often the holder confirms its session, ms; also the longest a confirmation may take. Default 1,000. */
  renewMs?: number;
  /** Idle time after which the server ends a silent holder's session, ms (the hung-holder bound). Default 5,000; at least 3 × renewMs. */
  holderTimeoutMs?: number;
}

export const POSTGRES_LEASE_DEFAULTS = { schema: 'emms', retryMs: 1000, renewMs: 1000, holderTimeoutMs: 5000 } as const;

const MAX_DURATION_MS = 600_000;
/** Connecting, authenticating and setting up the session; generous because it is off every hot path. */
const CONNECT_TIMEOUT_MS = 10_000;

/** The advisory lock key of lease `name` in `schema`: the first 8 bytes of SHA-256, as a signed 64-bit integer. */
export function advisoryLockKey(schema: string, name: string): bigint {
  const digest = createHash('sha256').update(`emms-lease\u0000${schema}\u0000${name}`).digest();
  return digest.readBigInt64BE(0);
}

/** Where holders publish their address, in the cluster's schema. */
export const LEASE_HOLDERS_TABLE = 'emms_lease_holders';
/** SQLSTATEs of a table or schema that does not exist (yet): no holder has published anything. */
const UNDEFINED_TABLE = '42P01';
const INVALID_SCHEMA_NAME = '3F000';

/** Connects, takes the first turn at the lock, and keeps contending until `close()`. */
export async function openPostgresLease(options: PostgresLeaseOptions, handlers: LeaseHandlers = {}): Promise<AdvertisedLease> {
  const lease = new PostgresLease(options, handlers);
  await lease.start();
  return lease;
}

type State = 'contending' | 'held' | 'closed';

class PostgresLease implements AdvertisedLease {
  readonly name: string;
  readonly #url: string;
  readonly #key: string;
  readonly #schema: string;
  /** The key as pg_locks shows it: classid (high 32 bits) and objid (low 32 bits), objsubid 1. */
  readonly #lockWords: [string, string];
  readonly #retryMs: number;
  readonly #renewMs: number;
  readonly #holderTimeoutMs: number;
  readonly #handlers: LeaseHandlers;
  #state: State = 'contending';
  #client: pg.Client | null = null;
  /** performance.now() when the last successful acquisition or confirmation was sent. */
  #confirmedAt = 0;
  readonly #steps: LeaseSteps;

  constructor(options: PostgresLeaseOptions, handlers: LeaseHandlers) {
    this.name = checkLeaseName(options.name);
    this.#steps = new LeaseSteps(this.name, () => (this.#state === 'held' ? this.#confirm() : this.#attempt()),
      () => (this.#state === 'closed' ? undefined : this.#state === 'held' ? this.#renewMs : this.#retryMs), handlers);
    if (typeof options.url !== 'string' || options.url === '') throw new RangeError('postgres lease url must be a non-empty postgres:// URL');
    this.#url = options.url;
    const schema = options.schema ?? POSTGRES_LEASE_DEFAULTS.schema;
    const key = advisoryLockKey(schema, this.name);
    this.#key = key.toString();
    const unsigned = BigInt.asUintN(64, key);
    this.#lockWords = [(unsigned >> 32n).toString(), (unsigned & 0xffffffffn).toString()];
    this.#schema = schema;
    this.#retryMs = checkDurationMs('retryMs', options.retryMs ?? POSTGRES_LEASE_DEFAULTS.retryMs, 10, MAX_DURATION_MS);
    this.#renewMs = checkDurationMs('renewMs', options.renewMs ?? POSTGRES_LEASE_DEFAULTS.renewMs, 10, MAX_DURATION_MS);
    this.#holderTimeoutMs = checkDurationMs('holderTimeoutMs', options.holderTimeoutMs ?? POSTGRES_LEASE_DEFAULTS.holderTimeoutMs, 3 * this.#renewMs, MAX_DURATION_MS);
    this.#handlers = handlers;
  }

  get held(): boolean {
    return this.#state === 'held' && performance.now() < this.#confirmedAt + heldWindowMs(this.#holderTimeoutMs);
  }

  /** The first connection and attempt: a database that cannot be reached fails the open. */
  async start(): Promise<void> {
    try {
      this.#client = await this.#connect();
    } catch (err) {
      this.#state = 'closed';
      throw err;
    }
    await this.#steps.run();
  }

  async close(): Promise<void> {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    await this.#steps.stop();
    const client = this.#client;
    this.#client = null;
    // Ending the session releases the lock at once; a connection too wedged to end is cut.
    if (client) await withTimeout(client.end(), this.#renewMs, 'closing the lease connection').catch(() => dropConnection(client));
  }

  async advertise(address: string): Promise<void> {
    checkAdvertisedAddress(address);
    const client = this.#client;
    if (!this.held || client === null) throw new Error(`lease ${this.name}: only its holder may advertise an address`);
    const schema = this.#quotedSchema();
    // Looked up before CREATE SCHEMA, as the store does: a role without CREATE on the database may use a pre-created schema.
    const exists = await withTimeout(client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [this.#schema]), this.#renewMs, 'looking up the schema');
    if (exists.rowCount === 0) await withTimeout(client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`), this.#renewMs, 'creating the schema');
    await withTimeout(client.query(`CREATE TABLE IF NOT EXISTS ${schema}.${LEASE_HOLDERS_TABLE} (name text PRIMARY KEY, pid integer NOT NULL, address text NOT NULL, since timestamptz NOT NULL)`),
      this.#renewMs, 'creating the lease holders table');
    await withTimeout(client.query(
      `INSERT INTO ${schema}.${LEASE_HOLDERS_TABLE} (name, pid, address, since) VALUES ($1, pg_backend_pid(), $2, now())
       ON CONFLICT (name) DO UPDATE SET pid = EXCLUDED.pid, address = EXCLUDED.address, since = EXCLUDED.since`,
      [this.name, address]), this.#renewMs, 'publishing the holder address');
  }

  async holderAddress(): Promise<string | undefined> {
    if (this.#state === 'closed') throw new Error(`lease ${this.name} is closed`);
    const client = this.#client;
    // The contention loop owns (re)connecting; between its attempts there is no session to ask on.
    if (client === null) throw new Error(`lease ${this.name}: the lease session is being re-opened`);
    try {
      const r = await withTimeout(client.query<{ address: string }>(
        `SELECT h.address FROM ${this.#quotedSchema()}.${LEASE_HOLDERS_TABLE} h
         WHERE h.name = $1 AND EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.pid = h.pid
           AND l.classid::bigint = $2::bigint AND l.objid::bigint = $3::bigint AND l.objsubid = 1)`,
        [this.name, this.#lockWords[0], this.#lockWords[1]]), this.#renewMs, 'reading the holder address');
      return r.rows[0]?.address;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === UNDEFINED_TABLE || code === INVALID_SCHEMA_NAME) return undefined;
      throw err;
    }
  }

  /** The schema as an identifier; storage settings allow only [a-z_][a-z0-9_]*, so quoting is enough. */
  #quotedSchema(): string {
    return `"${this.#schema.replaceAll('"', '""')}"`;
  }

  async #attempt(): Promise<void> {
    let client = this.#client;
    try {
      client ??= this.#client = await this.#connect();
    } catch (err) {
      this.#handlers.onError?.(err as Error);
      return;
    }
    const sentAt = performance.now();
    let acquired: boolean;
    try {
      const r = await withTimeout(client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [this.#key]), this.#renewMs, 'pg_try_advisory_lock');
      acquired = r.rows[0]?.ok === true;
    } catch {
      // A session whose answer is lost may hold the lock without knowing: ending it frees the lock.
      this.#forget(client);
      return;
    }
    if (!acquired || this.#state !== 'contending' || this.#client !== client) return;
    this.#state = 'held';
    this.#confirmedAt = sentAt;
    this.#handlers.onAcquired?.();
  }

  async #confirm(): Promise<void> {
    const client = this.#client;
    const sentAt = performance.now();
    if (!this.held) {
      return this.#lose(`not confirmed for ${Math.round(sentAt - this.#confirmedAt)} ms (process stopped or event loop blocked): the server may have given the lock to another node`);
    }
    if (client === null) return this.#lose('the lease connection was closed');
    try {
      await withTimeout(client.query('SELECT 1'), this.#renewMs, 'confirming the lease session');
    } catch (err) {
      return this.#lose(`confirming the session on ${redactedUrl(this.#url)} failed: ${(err as Error).message}`);
    }
    if (this.#state === 'held' && this.#client === client) this.#confirmedAt = sentAt;
  }

  #lose(reason: string): void {
    if (this.#state !== 'held') return;
    this.#state = 'contending';
    if (this.#client) this.#forget(this.#client);
    try {
      this.#handlers.onLost?.(reason);
    } catch (err) {
      // #lose also runs from a connection's 'error' event, where a throw would end the process.
      this.#handlers.onError?.(new Error(`lease ${this.name}: the onLost handler failed: ${(err as Error)?.message ?? String(err)}`, { cause: err }));
    }
  }

  /** Drops a connection that can no longer be trusted; the next attempt opens a new one. */
  #forget(client: pg.Client): void {
    if (this.#client === client) this.#client = null;
    dropConnection(client);
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.#url,
      application_name: `emms-lease:${this.name}`,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
    });
    // Without a listener an asynchronous connection error (the server ending the session)
    // would crash the process; with one, the holder learns of it before its next confirmation.
    client.on('error', (err) => {
      if (this.#client !== client) return;
      if (this.#state === 'held') this.#lose(`the lease session on ${redactedUrl(this.#url)} ended: ${err.message}`);
      else this.#forget(client);
    });
    try {
      await client.connect();
      await withTimeout(client.query(this.#sessionSettings()), CONNECT_TIMEOUT_MS, 'setting up the session');
    } catch (err) {
      dropConnection(client);
      const message = (err as Error).message;
      const hint = message.includes('idle_session_timeout') ? ' (PostgreSQL 14 or newer is required: idle_session_timeout bounds a hung holder\'s tenure)' : '';
      throw new Error(`lease ${this.name}: cannot open a session on ${redactedUrl(this.#url)}: ${message}${hint}`, { cause: err });
    }
    return client;
  }

  /** One simple-protocol round trip; every value is an integer computed here, none from input. */
  #sessionSettings(): string {
    const keepaliveIdleS = Math.max(1, Math.ceil(this.#holderTimeoutMs / 1000));
    return [
      `SET idle_session_timeout = ${this.#holderTimeoutMs}`,
      `SET statement_timeout = ${this.#renewMs}`,
      `SET tcp_keepalives_idle = ${keepaliveIdleS}`,
      'SET tcp_keepalives_interval = 1',
      'SET tcp_keepalives_count = 3',
      `SET tcp_user_timeout = ${this.#holderTimeoutMs}`,
    ].join('; ');
  }
}

/** Cuts a connection without waiting for the server: the socket closes, the session and its locks end. */
function dropConnection(client: pg.Client): void {
  (client.connection as unknown as { stream?: { destroy(): void } }).stream?.destroy();
  client.end().catch(() => undefined);
}
