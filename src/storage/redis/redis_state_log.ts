/**
 * The shared state log in Redis (keys in redis_keys.ts): stream `P state:log`, position = entry
 * id; claims are `P state:claim:<name>` strings taken with SET NX. A batch is one script, which
 * Redis runs with no other command in between (and writes to the AOF as one transaction), and
 * stream ids grow with every XADD, so entries are visible in position order. Durability is the Redis
 * server's appendfsync setting, as for the metrics (redis_keys.ts, "Durability").
 */
import type { Redis } from 'ioredis';
import { connectRedis, redisError } from './redis_connection.js';
import { RedisKeys } from './redis_keys.js';
import { parseRedisLocation, type RedisLocation } from './redis_location.js';
import { START, type StateLog, type StateLogEntry, type StoredStateLogEntry } from '../state_replication/state_log.js';

export interface RedisStateLogOptions {
  url: string;
  prefix?: string;
}

const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

/**
 * Appends a batch and compacts (state_log.ts) in one atomic script: each row's older entry,
 * found in the `state:latest` hash, is XDELed before the new one is added.
 * KEYS: stream, latest hash. ARGV: origin, db, change, row key … (four per entry).
 */
const APPEND_SCRIPT = `
local n = #ARGV / 4
for i = 0, n - 1 do
  local k = ARGV[i * 4 + 4]
  local old = redis.call('HGET', KEYS[2], k)
  if old then redis.call('XDEL', KEYS[1], old) end
  local id = redis.call('XADD', KEYS[1], '*', 'o', ARGV[i * 4 + 1], 'd', ARGV[i * 4 + 2], 'c', ARGV[i * 4 + 3])
  redis.call('HSET', KEYS[2], k, id)
end
return n`;

export class RedisStateLog implements StateLog {
  readonly describe: string;
  readonly #redis: Redis;
  readonly #location: RedisLocation;
  readonly #keys: RedisKeys;

  private constructor(redis: Redis, location: RedisLocation) {
    this.#redis = redis;
    this.#location = location;
    this.#keys = new RedisKeys(location.prefix);
    this.describe = `redis ${location.redacted}`;
  }

  static async open(options: RedisStateLogOptions): Promise<RedisStateLog> {
    const location = parseRedisLocation({ url: options.url, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) });
    return new RedisStateLog(await connectRedis(location, 'state-log'), location);
  }

  async append(entries: readonly StateLogEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const args = entries.flatMap((e) => [e.origin, e.db, e.change, e.rowKey]);
    try {
      await this.#redis.eval(APPEND_SCRIPT, 2, this.#keys.stateLog, this.#keys.stateLatest, ...args);
    } catch (err) {
      throw redisError(this.#location, 'state log append', err);
    }
  }

  async readAfter(cursor: string, limit: number): Promise<StoredStateLogEntry[]> {
    const from = cursor === START ? '-' : `(${checkedId(cursor)}`;
    let rows: Array<[string, string[]]>;
    try {
      rows = await this.#redis.xrange(this.#keys.stateLog, from, '+', 'COUNT', limit);
    } catch (err) {
      throw redisError(this.#location, 'state log read', err);
    }
    return rows.map(([id, fields]) => {
      const f: Record<string, string> = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
      return { position: id, origin: f.o ?? '', db: f.d ?? '', change: f.c ?? 'null' };
    });
  }

  async claim(name: string, owner: string): Promise<string> {
    const key = this.#keys.stateClaim(name);
    try {
      await this.#redis.set(key, owner, 'NX');
      return (await this.#redis.get(key)) ?? owner;
    } catch (err) {
      throw redisError(this.#location, `claim ${name}`, err);
    }
  }

  async close(): Promise<void> {
    this.#redis.disconnect();
  }
}

function checkedId(cursor: string): string {
  if (!STREAM_ID.test(cursor)) throw new RangeError(`state log cursor ${JSON.stringify(cursor.slice(0, 48))} is not a Redis stream id`);
  return cursor;
}
