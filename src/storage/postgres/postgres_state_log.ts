/**
 * The shared state log in PostgreSQL: table `state_log` (migration 2 of postgres_schema.ts),
 * position = its bigserial `version`.
 *
 * Order: a sequence hands out numbers at INSERT time but rows become visible at COMMIT, so
 * two nodes appending at once could commit 8 before 7, and a reader that saw 8 would skip 7
 * for ever. Appends therefore take a transaction-level advisory lock (STATE_LOG_LOCK) first:
 * one appender at a time, so versions are committed in order. Appends are small and rare (a
 * few per second), so the lock costs nothing measurable. Dropping old deletions
 * (`dropDeletions`) takes the same lock and raises state_meta's `deletion_horizon` in the
 * same transaction.
 */
import type pg from 'pg';
import { createPool, type ManagedPool } from './postgres_connection.js';
import { parsePostgresLocation, redactSecrets, type PostgresLocation } from './postgres_location.js';
import { ADVISORY_NAMESPACE, STATE_LOG_LOCK, TABLE, checkSchemaName, lockSql, migrate, qualified } from './postgres_schema.js';
import { START, type StateLog, type StateLogEntry, type StoredStateLogEntry } from '../state_replication/state_log.js';

/** The state_meta key of the newest dropped deletion's version (state_log.ts, deletions). */
const DELETION_HORIZON = 'deletion_horizon';

export interface PostgresStateLogOptions {
  url: string;
  schema?: string;
  statementTimeoutMs?: number;
}

export class PostgresStateLog implements StateLog {
  readonly describe: string;
  readonly #pool: ManagedPool;
  readonly #location: PostgresLocation;
  readonly #schema: string;

  private constructor(pool: ManagedPool, location: PostgresLocation, schema: string) {
    this.#pool = pool;
    this.#location = location;
    this.#schema = schema;
    this.describe = `postgresql ${location.redacted} schema ${schema}`;
  }

  /** Connects and applies the schema migrations (the state tables are migration 2). */
  static async open(options: PostgresStateLogOptions): Promise<PostgresStateLog> {
    const location = parsePostgresLocation(options.url, 'storage.postgres.url');
    const schema = checkSchemaName(options.schema, 'storage.postgres.schema');
    // One connection: the replicator sends one statement at a time (state_replicator.ts), and
    // every node's connections count against the server's max_connections.
    const pool = createPool(location, { size: 1, statementTimeoutMs: options.statementTimeoutMs ?? 30_000 });
    const log = new PostgresStateLog(pool, location, schema);
    try {
      await log.#withClient((client) => migrate(client, schema));
    } catch (err) {
      await pool.end();
      throw err;
    }
    return log;
  }

  async append(entries: readonly StateLogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await this.#withClient(async (client) => {
      await client.query('BEGIN');
      try {
        await client.query(lockSql, [ADVISORY_NAMESPACE + this.#schema, STATE_LOG_LOCK]);
        const table = qualified(this.#schema, TABLE.stateLog);
        const rowKeys = entries.map((e) => e.rowKey);
        // Compaction (state_log.ts): the rows' older entries go in the same transaction.
        await client.query(`DELETE FROM ${table} WHERE md5(row_key) = ANY (SELECT md5(k) FROM unnest($1::text[]) AS k) AND row_key = ANY ($1::text[])`, [rowKeys]);
        await client.query(
          `INSERT INTO ${table} (origin, db, change, row_key, deletion) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::boolean[])`,
          [entries.map((e) => e.origin), entries.map((e) => e.db), entries.map((e) => e.change), rowKeys, entries.map((e) => e.deletion)],
        );
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  async readAfter(cursor: string, limit: number): Promise<StoredStateLogEntry[]> {
    const result = await this.#withClient((client) => client.query<{ version: number; origin: string; db: string; change: string }>(
      `SELECT version, origin, db, change FROM ${qualified(this.#schema, TABLE.stateLog)} WHERE version > $1::bigint ORDER BY version LIMIT $2`,
      [cursor, limit],
    ));
    return result.rows.map((r) => ({ position: String(r.version), origin: r.origin, db: r.db, change: r.change }));
  }

  async dropDeletions(ageMs: number, limit: number): Promise<number> {
    const table = qualified(this.#schema, TABLE.stateLog);
    return this.#withClient(async (client) => {
      await client.query('BEGIN');
      try {
        // Under the append lock, so the horizon and the appends agree on the order of versions.
        await client.query(lockSql, [ADVISORY_NAMESPACE + this.#schema, STATE_LOG_LOCK]);
        // The server's clock, as written_at's: the nodes' clocks play no part.
        const gone = await client.query<{ n: string; newest: string | null }>(
          `WITH gone AS (
             DELETE FROM ${table} WHERE version IN (
               SELECT version FROM ${table} WHERE deletion AND written_at < now() - make_interval(secs => $1::double precision / 1000) ORDER BY version LIMIT $2
             ) RETURNING version
           ) SELECT count(*) AS n, max(version) AS newest FROM gone`,
          [ageMs, limit],
        );
        const { n, newest } = gone.rows[0]!;
        if (newest !== null) {
          await client.query(
            `INSERT INTO ${qualified(this.#schema, TABLE.stateMeta)} (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = GREATEST(${qualified(this.#schema, TABLE.stateMeta)}.value, excluded.value)`,
            [DELETION_HORIZON, newest],
          );
        }
        await client.query('COMMIT');
        return Number(n);
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
  }

  async missedDeletions(cursor: string): Promise<boolean> {
    if (cursor === START) return false;
    const result = await this.#withClient((client) => client.query<{ value: string }>(
      `SELECT value FROM ${qualified(this.#schema, TABLE.stateMeta)} WHERE key = $1`, [DELETION_HORIZON],
    ));
    const horizon = result.rows[0]?.value;
    if (!/^\d{1,19}$/.test(cursor)) throw new RangeError(`state log cursor ${JSON.stringify(cursor.slice(0, 48))} is not a state_log version`);
    return horizon !== undefined && BigInt(cursor) < BigInt(horizon);
  }

  async claim(name: string, owner: string): Promise<string> {
    const table = qualified(this.#schema, TABLE.stateClaims);
    return this.#withClient(async (client) => {
      await client.query(`INSERT INTO ${table} (name, owner) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, [name, owner]);
      const held = await client.query<{ owner: string }>(`SELECT owner FROM ${table} WHERE name = $1`, [name]);
      return held.rows[0]!.owner;
    });
  }

  async close(): Promise<void> {
    await this.#pool.end();
  }

  async #withClient<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.pool.connect();
    } catch (err) {
      throw this.#error('cannot connect', err);
    }
    let broken = false;
    try {
      return await work(client);
    } catch (err) {
      broken = true;
      throw this.#error('state log', err);
    } finally {
      client.release(broken);
    }
  }

  #error(what: string, cause: unknown): Error {
    const detail = redactSecrets(cause instanceof Error ? cause.message : String(cause), this.#location.secrets);
    return new Error(`${this.describe}: ${what}: ${detail}`);
  }
}
