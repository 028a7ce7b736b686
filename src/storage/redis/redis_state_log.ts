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
 * found in the `state:latest` hash, is XDELed before the new one is added; a deletion is
 * listed in `state:deletions` by its entry's time (the stream id's milliseconds, the server's
 * clock), any other change takes the row off that list.
 * KEYS: stream, latest hash, deletions zset. ARGV: origin, db, change, row key, deletion 1|0 … (five per entry).
 */
const APPEND_SCRIPT = `
local n = #ARGV / 5
for i = 0, n - 1 do
  local b = i * 5
  local k = ARGV[b + 4]
  local old = redis.call('HGET', KEYS[2], k)
  if old then redis.call('XDEL', KEYS[1], old) end
  local id = redis.call('XADD', KEYS[1], '*', 'o', ARGV[b + 1], 'd', ARGV[b + 2], 'c', ARGV[b + 3])
  redis.call('HSET', KEYS[2], k, id)
  if ARGV[b + 5] == '1' then
    redis.call('ZADD', KEYS[3], tonumber(string.match(id, '^(%d+)')), k)
  else
    redis.call('ZREM', KEYS[3], k)
  end
end
return n`;

/**
 * Drops the deletion entries older than ARGV[1] ms by the server's clock, at most ARGV[2], and
 * raises the horizon to the newest dropped id, in one atomic script.
 * KEYS: stream, latest hash, deletions zset, horizon string.
 */
const DROP_DELETIONS_SCRIPT = `
local t = redis.call('TIME')
local bound = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local rows = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', '(' .. string.format('%.0f', bound), 'LIMIT', 0, tonumber(ARGV[2]))
local newest = redis.call('GET', KEYS[4])
local function later(a, b)
  if not b then return true end
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am > bm or (am == bm and as > bs)
end
for _, k in ipairs(rows) do
  local id = redis.call('HGET', KEYS[2], k)
  if id then
    redis.call('XDEL', KEYS[1], id)
    redis.call('HDEL', KEYS[2], k)
    if later(id, newest) then newest = id end
  end
  redis.call('ZREM', KEYS[3], k)
end
if newest then redis.call('SET', KEYS[4], newest) end
return #rows`;

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
    const args = entries.flatMap((e) => [e.origin, e.db, e.change, e.rowKey, e.deletion ? '1' : '0']);
    try {
      await this.#redis.eval(APPEND_SCRIPT, 3, this.#keys.stateLog, this.#keys.stateLatest, this.#keys.stateDeletions, ...args);
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

  async dropDeletions(ageMs: number, limit: number): Promise<number> {
    const k = this.#keys;
    try {
      return (await this.#redis.eval(DROP_DELETIONS_SCRIPT, 4, k.stateLog, k.stateLatest, k.stateDeletions, k.stateHorizon, Math.round(ageMs), limit)) as number;
    } catch (err) {
      throw redisError(this.#location, 'state log deletion drop', err);
    }
  }

  async missedDeletions(cursor: string): Promise<boolean> {
    if (cursor === START) return false;
    const at = idParts(checkedId(cursor));
    let horizon: string | null;
    try {
      horizon = await this.#redis.get(this.#keys.stateHorizon);
    } catch (err) {
      throw redisError(this.#location, 'state log horizon read', err);
    }
    if (horizon === null || !STREAM_ID.test(horizon)) return false;
    const h = idParts(horizon);
    return at[0] < h[0] || (at[0] === h[0] && at[1] < h[1]);
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

function idParts(id: string): [bigint, bigint] {
  const [ms, seq] = id.split('-');
  return [BigInt(ms!), BigInt(seq!)];
}
