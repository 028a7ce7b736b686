/**
 * The storage conformance suite (storage_conformance.case.ts) on the Redis back-end: one
 * test-owned redis-server (appendonly yes, appendfsync always) for the file, a key prefix per
 * store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describeStorageConformance, type ConformanceStore, type ConformanceTarget } from './storage_conformance.case.js';
import { startRedis, type RedisInstance } from './redis_instance.js';
import { CHUNK_HEADER_BYTES, RedisKeys } from '../../src/storage/redis/redis_keys.js';

let instance: RedisInstance | undefined;
let stores = 0;

function running(): RedisInstance {
  if (instance === undefined) throw new Error('BUG: freshStore() before setUp()');
  return instance;
}

/** Deletes every key of a prefix (SCAN + UNLINK). */
async function dropPrefix(redis: Redis, keys: RedisKeys): Promise<void> {
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', keys.matchAll(), 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await redis.unlink(...found);
  } while (cursor !== '0');
}

const target: ConformanceTarget = {
  name: 'redis',
  async setUp() {
    instance = await startRedis();
  },
  async tearDown() {
    await instance?.stop();
    instance = undefined;
  },
  async freshStore(): Promise<ConformanceStore> {
    const { url } = running();
    const prefix = `conformance${++stores}-${process.pid}:`;
    const keys = new RedisKeys(prefix);
    const dir = mkdtempSync(join(tmpdir(), 'emms-conformance-redis-'));
    return {
      options: { storage: 'redis', redis: { url, prefix }, path: join(dir, 'metrics.db') },
      env: { METRICS_STORAGE_TYPE: 'redis', METRICS_REDIS_URL: url, METRICS_REDIS_PREFIX: prefix },
      async corruptChunk() {
        const redis = new Redis(url);
        try {
          const [, found] = await redis.scan('0', 'MATCH', `${keys.matchAll().slice(0, -1)}c:*`, 'COUNT', 100_000);
          const key = found[0];
          if (key === undefined) throw new Error(`no chunk under prefix ${prefix} to corrupt`);
          // Overwrite the codec bytes' start (the stats header stays readable): decoding must fail.
          await redis.setrange(key, CHUNK_HEADER_BYTES, Buffer.alloc(16, 0xff));
          return Number(key.slice(keys.chunkPrefix.length));
        } finally {
          redis.disconnect();
        }
      },
      async dispose() {
        const redis = new Redis(url);
        try {
          await dropPrefix(redis, keys);
        } finally {
          redis.disconnect();
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  },
};

describeStorageConformance(target);
