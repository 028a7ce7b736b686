// The lease contract's pure parts (src/cluster/lease.ts), the key derivations, option checks
// and the open-time failures of the PostgreSQL and Redis leases and live updates (a refused
// port: no server needed). The contention and handover behaviour against real servers is in
// tests/integration/cluster_lease.test.ts.
import { freePort } from '../free_port.js';
import { describe, expect, it } from 'vitest';
import { openClusterLease } from '../../src/cluster/cluster_lease.js';
import { checkDurationMs, checkLeaseName, heldWindowMs, SingleNodeLease, withTimeout } from '../../src/cluster/lease.js';
import { advisoryLockKey, openPostgresLease } from '../../src/cluster/postgres_lease.js';
import { redactedUrl } from '../../src/text/url_password.js';
import { openRedisLease, redisLeaseKey } from '../../src/cluster/redis_lease.js';
import { liveChannel, openRedisLiveUpdates } from '../../src/cluster/redis_live_updates.js';

/** A loopback port nothing listens on (bound, then released). */
const refusedPort = freePort;

describe('lease contract helpers', () => {
  it('checks lease names and durations, naming the value and the rule', () => {
    expect(checkLeaseName('alerts')).toBe('alerts');
    expect(checkLeaseName('a'.repeat(64))).toHaveLength(64);
    expect(() => checkLeaseName('')).toThrow('lease name="" must be 1 to 64 characters of A-Z a-z 0-9 _ . : -');
    expect(() => checkLeaseName('a b')).toThrow(/lease name="a b"/);
    expect(() => checkLeaseName('a'.repeat(65))).toThrow(RangeError);
    expect(() => checkLeaseName(undefined)).toThrow(/lease name=undefined/);
    expect(checkDurationMs('retryMs', 50, 10, 100)).toBe(50);
    expect(() => checkDurationMs('retryMs', 5, 10, 100)).toThrow('retryMs=5 must be an integer number of milliseconds in [10, 100]');
    expect(() => checkDurationMs('retryMs', 1.5, 1, 100)).toThrow(/retryMs=1.5/);
    expect(() => checkDurationMs('retryMs', '50', 1, 100)).toThrow(/retryMs=50 must be an integer/);
  });

  it('leaves Redlock\'s drift margin under the bound', () => {
    expect(heldWindowMs(5000)).toBe(5000 - 50 - 2);
    expect(heldWindowMs(1000)).toBe(988);
    expect(heldWindowMs(101)).toBe(101 - 2 - 2);
  });

  it('races a promise against a timer that names what timed out', async () => {
    await expect(withTimeout(Promise.resolve(7), 1000, 'x')).resolves.toBe(7);
    await expect(withTimeout(new Promise(() => undefined), 5, 'confirming')).rejects.toThrow('confirming timed out after 5 ms');
    await expect(withTimeout(Promise.reject(new Error('no')), 1000, 'x')).rejects.toThrow('no');
  });

  it('single-node lease: held from the start, onAcquired once after creation, released by close', async () => {
    let acquired = 0;
    const lease = new SingleNodeLease('alerts', { onAcquired: () => acquired++ });
    expect(lease.name).toBe('alerts');
    expect(lease.held).toBe(true);
    expect(acquired).toBe(0);
    await Promise.resolve();
    expect(acquired).toBe(1);
    await lease.close();
    await lease.close();
    expect(lease.held).toBe(false);
    // Closed before the microtask ran: never reported as acquired.
    const early = new SingleNodeLease('x', { onAcquired: () => acquired++ });
    await early.close();
    await Promise.resolve();
    expect(acquired).toBe(1);
    expect(() => new SingleNodeLease('no spaces')).toThrow(RangeError);
  });
});

describe('keys and locations', () => {
  it('derives a stable 64-bit advisory key per (schema, name)', () => {
    const k = advisoryLockKey('emms', 'alerts');
    expect(typeof k).toBe('bigint');
    expect(k).toBe(advisoryLockKey('emms', 'alerts'));
    expect(k >= -(2n ** 63n) && k < 2n ** 63n).toBe(true);
    expect(advisoryLockKey('emms2', 'alerts')).not.toBe(k);
    expect(advisoryLockKey('emms', 'retention')).not.toBe(k);
    // The separator keeps ("ab","c") and ("a","bc") apart.
    expect(advisoryLockKey('ab', 'c')).not.toBe(advisoryLockKey('a', 'bc'));
  });

  it('names the Redis lease key and the live channel under the cluster prefix', () => {
    expect(redisLeaseKey('emms:', 'alerts')).toBe('emms:lease:alerts');
    expect(liveChannel('emms:')).toBe('emms:live');
    expect(liveChannel('prod:')).toBe('prod:live');
  });

  it('masks passwords in locations and never echoes an unparsable URL', () => {
    expect(redactedUrl('postgres://emms:s3cr@t@127.0.0.1:5433/emms')).toBe('postgres://emms:***@127.0.0.1:5433/emms');
    expect(redactedUrl('redis://:pw@127.0.0.1:6379/0')).toBe('redis://:***@127.0.0.1:6379/0');
    expect(redactedUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    expect(redactedUrl('not a url with password hunter2')).toBe('<unparsable URL>');
  });
});

describe('openClusterLease', () => {
  it('gives the embedded SQLite store a single-node lease', async () => {
    const lease = await openClusterLease({ storage: 'sqlite' }, 'alerts');
    expect(lease).toBeInstanceOf(SingleNodeLease);
    expect(lease.held).toBe(true);
    await lease.close();
  });

  it('names the missing setting or the bad holder', async () => {
    await expect(openClusterLease({ storage: 'postgresql' }, 'alerts')).rejects.toThrow('lease alerts: leases held by PostgreSQL need storage.postgres.url (METRICS_POSTGRES_URL)');
    await expect(openClusterLease({ storage: 'redis' }, 'alerts')).rejects.toThrow('lease alerts: leases held by Redis need storage.redis.url (METRICS_REDIS_URL)');
    await expect(openClusterLease({ storage: 'postgresql', postgres: { url: 'postgres://u@h/d' }, holder: 'redis' }, 'alerts')).rejects.toThrow(/held by Redis need/);
    await expect(openClusterLease({ storage: 'mongo' as 'sqlite' }, 'alerts')).rejects.toThrow('lease alerts: holder="mongo" must be one of sqlite, postgresql, redis');
  });
});

describe('opening leases and live updates', () => {
  it('rejects bad options before any I/O, naming the option', async () => {
    const url = 'postgres://u:p@127.0.0.1:1/db';
    await expect(openPostgresLease({ url, name: 'bad name' })).rejects.toThrow(/lease name="bad name"/);
    await expect(openPostgresLease({ url: '', name: 'a' })).rejects.toThrow('postgres lease url must be a non-empty postgres:// URL');
    await expect(openPostgresLease({ url, name: 'a', retryMs: 0 })).rejects.toThrow(/retryMs=0/);
    await expect(openPostgresLease({ url, name: 'a', renewMs: 1000, holderTimeoutMs: 2000 })).rejects.toThrow('holderTimeoutMs=2000 must be an integer number of milliseconds in [3000, 600000]');
    const r = 'redis://:p@127.0.0.1:1';
    await expect(openRedisLease({ url: r, name: 'a', ttlMs: 10 })).rejects.toThrow(/ttlMs=10/);
    await expect(openRedisLease({ url: '', name: 'a' })).rejects.toThrow('redis lease url must be a non-empty redis:// URL');
    await expect(openRedisLease({ url: r, name: 'a', prefix: 'p'.repeat(129) })).rejects.toThrow(/prefix=/);
    await expect(openRedisLiveUpdates({ url: r, nodeId: 'a b' }, { onNotice: () => undefined })).rejects.toThrow(/nodeId="a b"/);
    await expect(openRedisLiveUpdates({ url: '' }, { onNotice: () => undefined })).rejects.toThrow(/url must be a non-empty/);
    await expect(openRedisLiveUpdates({ url: r, prefix: 'p'.repeat(129) }, { onNotice: () => undefined })).rejects.toThrow(/prefix=/);
  });

  it('fails the open when the server cannot be reached, naming it with the password masked', async () => {
    const port = await refusedPort();
    const pgFailure = await openPostgresLease({ url: `postgres://emms:hunter2@127.0.0.1:${port}/emms`, name: 'alerts' }).catch((e: Error) => e);
    expect(pgFailure).toBeInstanceOf(Error);
    expect((pgFailure as Error).message).toContain(`lease alerts: cannot open a session on postgres://emms:***@127.0.0.1:${port}/emms`);
    expect((pgFailure as Error).message).not.toContain('hunter2');
    const redisFailure = await openRedisLease({ url: `redis://:hunter2@127.0.0.1:${port}`, name: 'alerts' }).catch((e: Error) => e);
    expect((redisFailure as Error).message).toContain(`lease alerts: cannot connect to redis://:***@127.0.0.1:${port}`);
    expect((redisFailure as Error).message).not.toContain('hunter2');
    const liveFailure = await openRedisLiveUpdates({ url: `redis://:hunter2@127.0.0.1:${port}` }, { onNotice: () => undefined }).catch((e: Error) => e);
    expect((liveFailure as Error).message).toContain(`live updates: cannot subscribe on redis://:***@127.0.0.1:${port}`);
    expect((liveFailure as Error).message).not.toContain('hunter2');
  });
});
