/**
 * What the Redis back-end verifies about a server before it trusts it with acknowledged points:
 * the durability its configuration gives (redis_keys.ts explains each setting), that it never
 * evicts keys on its own, and that the keys under the prefix are of a layout this build reads.
 */
import type { Redis } from 'ioredis';
import type { RedisStorageOptions } from '../../model/api.js';
import { REDIS_LAYOUT_VERSION, type RedisKeys } from './redis_keys.js';

export type RedisDurabilityDemand = NonNullable<RedisStorageOptions['durability']>;

/** What the server's configuration was found to give. */
export interface RedisServerDurability {
  /** `always`, `everysec`, or `unknown` when CONFIG is disabled (managed Redis services do). */
  appendfsync: 'always' | 'everysec' | 'no' | 'unknown';
  /** One sentence for /health and messages. */
  description: string;
}

/** The server configuration values the checks read (CONFIG GET); undefined when CONFIG is unavailable. */
export interface RedisConfigValues {
  appendonly: string;
  appendfsync: string;
  maxmemoryPolicy: string;
}

export async function readServerConfig(redis: Redis): Promise<RedisConfigValues | undefined> {
  let pairs: string[];
  try {
    pairs = (await redis.call('CONFIG', 'GET', 'append*', 'maxmemory-policy')) as string[];
  } catch (error) {
    // A renamed or disabled CONFIG answers "unknown command"; any other failure is real.
    if (/unknown command|NOPERM|no permissions/i.test((error as Error).message)) return undefined;
    throw error;
  }
  const values = new Map<string, string>();
  for (let i = 0; i + 1 < pairs.length; i += 2) values.set(pairs[i]!, pairs[i + 1]!);
  return {
    appendonly: values.get('appendonly') ?? '',
    appendfsync: values.get('appendfsync') ?? '',
    maxmemoryPolicy: values.get('maxmemory-policy') ?? '',
  };
}

/**
 * Decides whether a server so configured may hold the store. Throws a message saying what is
 * wrong and the two ways out (configure Redis, or accept less with options.redis.durability).
 */
export function judgeDurability(config: RedisConfigValues | undefined, demand: RedisDurabilityDemand): RedisServerDurability {
  if (demand !== 'always' && demand !== 'everysec') {
    throw new RangeError(`options.redis.durability=${JSON.stringify(demand)} must be 'always' or 'everysec'`);
  }
  if (config === undefined) {
    if (demand === 'always') {
      throw new Error(
        "CONFIG GET is disabled on this server, so its durability cannot be verified; set options.redis.durability='everysec' " +
        'to accept a server whose fsync policy is unknown',
      );
    }
    return { appendfsync: 'unknown', description: 'unknown: CONFIG GET is disabled on the server (accepted by durability=everysec)' };
  }
  if (config.maxmemoryPolicy.startsWith('allkeys-')) {
    throw new Error(`maxmemory-policy=${config.maxmemoryPolicy} lets Redis evict stored chunks and records; set it to noeviction (or a volatile-* policy)`);
  }
  if (config.appendonly !== 'yes') {
    throw new Error(
      `appendonly=${config.appendonly}: without the append-only file a killed Redis loses every point since its last snapshot; ` +
      'start redis-server with --appendonly yes --appendfsync always',
    );
  }
  if (config.appendfsync === 'always') {
    return { appendfsync: 'always', description: 'appendonly yes, appendfsync always: an acknowledged point survives a killed Redis and a power loss' };
  }
  if (config.appendfsync === 'everysec' && demand === 'everysec') {
    return { appendfsync: 'everysec', description: 'appendonly yes, appendfsync everysec: a power loss can lose the last ~2 s of acknowledged points' };
  }
  throw new Error(
    `appendfsync=${config.appendfsync} does not fsync each acknowledged write (needed: always` +
    `${config.appendfsync === 'everysec' ? "; or accept up to ~2 s of loss on power failure with options.redis.durability='everysec'" : ''})`,
  );
}

/** Creates the layout key of an empty prefix, or refuses a layout this build does not read. */
export async function claimLayout(redis: Redis, keys: RedisKeys): Promise<void> {
  await redis.set(keys.layout, String(REDIS_LAYOUT_VERSION), 'NX');
  const stored = await redis.get(keys.layout);
  const version = Number(stored);
  if (!Number.isInteger(version) || version < 1) {
    throw new Error(`key ${keys.layout}=${JSON.stringify(stored)} is not a layout version: the prefix holds something else`);
  }
  if (version > REDIS_LAYOUT_VERSION) {
    throw new Error(`key ${keys.layout}=${version}: the store was written by a newer EMMS (this one reads layout ${REDIS_LAYOUT_VERSION}); upgrade EMMS`);
  }
}
