/**
 * Connection pools to the store's PostgreSQL (the `pg` driver), configured the same way for
 * the back-end's writer and readers and for each query worker's source:
 *
 * - `statement_timeout` and `application_name` are startup parameters of every connection, so
 *   no statement of EMMS runs unbounded and `pg_stat_activity` shows who is connected.
 * - BIGINT columns come back as numbers, not strings: every id and timestamp EMMS stores is a
 *   safe integer (ids from the engine, times < year 2200), and the engine works in numbers.
 *   The parser is this pool's own (`types`), so other `pg` users in the process are untouched.
 * - An idle connection that dies (server restart, network cut) makes the pool emit `error`;
 *   without a listener Node would end the process. The pool drops such a connection and the
 *   next statement opens a new one, so the event is only counted.
 */
import pg from 'pg';
import type { PostgresLocation } from './postgres_location.js';

export const APPLICATION_NAME = 'emms';
export const DEFAULT_POOL_SIZE = 4;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;
/** Bounds of the options: a pool is a few connections; a timeout fits PostgreSQL's int4 ms. */
export const MAX_POOL_SIZE = 100;
export const MAX_STATEMENT_TIMEOUT_MS = 2_147_483_647;

const INT8_OID = 20;

function parseInt8(text: string): number {
  return Number(text);
}

/** pg's TypeOverrides contract: the default parsers, BIGINT (text format) as a number. */
const TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary'): (value: string) => unknown {
    if (oid === INT8_OID && format !== 'binary') return parseInt8;
    return (pg.types.getTypeParser as (oid: number, format?: string) => (value: string) => unknown)(oid, format);
  },
};

export interface PoolSettings {
  size: number;
  statementTimeoutMs: number;
}

/** Checks an integer option, naming the field and the value. */
export function integerOption(field: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${field} must be an integer in [${min}, ${max}]; got ${String(value)}`);
  }
  return value;
}

export interface ManagedPool {
  readonly pool: pg.Pool;
  /** Idle connections lost so far (each replaced on the next statement). */
  idleErrors(): number;
  end(): Promise<void>;
}

export function createPool(location: PostgresLocation, settings: PoolSettings): ManagedPool {
  const pool = new pg.Pool({
    connectionString: location.url,
    max: settings.size,
    statement_timeout: settings.statementTimeoutMs,
    application_name: APPLICATION_NAME,
    types: TYPES,
    // A connection attempt waits at most this long (a dead host must not hang open()).
    connectionTimeoutMillis: Math.min(settings.statementTimeoutMs, 10_000),
    idleTimeoutMillis: 30_000,
  } as pg.PoolConfig);
  let idleErrors = 0;
  pool.on('error', () => {
    idleErrors++;
  });
  // A connection lost while checked out (server killed, pg_terminate_backend) fails the
  // statement it runs and is then emitted as `error` on the client, where pg-pool keeps no
  // listener: without this one Node would end the process. The statement's failure is what
  // callers see; they release such a client as broken.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  let ended: Promise<void> | undefined;
  return {
    pool,
    idleErrors: () => idleErrors,
    end(): Promise<void> {
      ended ??= pool.end();
      return ended;
    },
  };
}
