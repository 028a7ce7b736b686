/**
 * The writer's published address next to its lease (AdvertisedLease in src/cluster/lease.ts),
 * on a test-owned PostgreSQL and Redis, in process: a contender reads the holder's address;
 * once the holder is gone (its session ended, its key released) the old address is never
 * answered again, although PostgreSQL keeps its row; the next holder's replaces it; only a
 * holder may advertise; and the Redis value with an address still renews and releases.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AdvertisedLease } from '../../src/cluster/lease.js';
import { LEASE_HOLDERS_TABLE, openPostgresLease } from '../../src/cluster/postgres_lease.js';
import { openRedisLease, redisLeaseKey } from '../../src/cluster/redis_lease.js';
import { waitFor } from './cluster_failover_node.js';
import { startPostgres, type PostgresInstance } from './postgres_instance.js';
import { startRedis, type RedisInstance } from './redis_instance.js';

const A = 'http://10.0.0.1:8080';
const B = 'http://10.0.0.2:8080';

async function holderHandover(open: (name: string) => Promise<AdvertisedLease>, name: string): Promise<void> {
  const first = await open(name);
  const second = await open(name);
  try {
    expect(first.held).toBe(true);
    expect(second.held).toBe(false);
    // Held but nothing published yet: no address.
    expect(await second.holderAddress()).toBeUndefined();
    await expect(second.advertise(B)).rejects.toThrow(/only its holder/);
    await first.advertise(A);
    expect(await second.holderAddress()).toBe(A);
    expect(await first.holderAddress()).toBe(A);
    await expect(first.advertise('has space')).rejects.toThrow(RangeError);
    await first.close();
    // Gone: its address is not answered, whether or not the second took over yet.
    const after = await second.holderAddress();
    expect(after === undefined || after === B).toBe(true);
    await waitFor('the second contender to take the lease', () => second.held, 10_000);
    expect(await second.holderAddress()).toBeUndefined();
    await second.advertise(B);
    expect(await second.holderAddress()).toBe(B);
  } finally {
    await first.close();
    await second.close();
  }
}

describe('advertised holder address on PostgreSQL', () => {
  let server: PostgresInstance;
  beforeAll(async () => {
    server = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('is the current holder\'s only; a dead holder\'s row is not answered', async () => {
    const open = (name: string) => openPostgresLease({ url: server.url, name, schema: 'standby_lease', retryMs: 50, renewMs: 200 });
    await holderHandover(open, 'writer');
    // The row of the last holder stays after it is gone, and is still not answered.
    const probe = await open('writer');
    try {
      expect(probe.held).toBe(true);
      const other = await open('writer');
      try {
        expect(await other.holderAddress()).toBeUndefined();
      } finally {
        await other.close();
      }
    } finally {
      await probe.close();
    }
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    try {
      const rows = await admin.query(`SELECT name, address FROM standby_lease.${LEASE_HOLDERS_TABLE}`);
      expect(rows.rows).toEqual([{ name: 'writer', address: B }]);
    } finally {
      await admin.end();
    }
  }, 60_000);
});

describe('advertised holder address on Redis', () => {
  let server: RedisInstance;
  beforeAll(async () => {
    server = await startRedis();
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('lives in the lease key; renewals and the release still recognise the value', async () => {
    const open = (name: string) => openRedisLease({ url: server.url, name, prefix: 'standby:', ttlMs: 300, retryMs: 50 });
    await holderHandover(open, 'writer');
    const redis = new Redis(server.url);
    try {
      const lease = await open('renewed');
      await lease.advertise(A);
      // Several renewals (every ttl / 3 = 100 ms) after the value changed: still held, same address.
      await new Promise((r) => setTimeout(r, 700));
      expect(lease.held).toBe(true);
      expect(await redis.get(redisLeaseKey('standby:', 'renewed'))).toMatch(new RegExp(` ${A.replace(/[.:/]/g, '\\$&')}$`));
      await lease.close();
      expect(await redis.exists(redisLeaseKey('standby:', 'renewed'))).toBe(0);
    } finally {
      redis.disconnect();
    }
  }, 60_000);
});
