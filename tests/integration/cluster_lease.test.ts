// Leases against real servers (src/cluster/postgres_lease.ts, redis_lease.ts): three contender
// processes (cluster_lease_child.ts, driven by cluster_lease_contenders.ts) on a test-owned PostgreSQL and Redis; their `held` samples
// must never overlap and must cover the steady periods (exactly one holder), a SIGKILLed holder
// must be replaced within the stated bound, and a SIGSTOPped one too, after which it must know,
// on resuming, that it no longer holds the lease. In-process cases cover what a child process
// cannot show to coverage: a terminated session, a blocked event loop, an intruding token, a
// release on close, a Redis restart.
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClusterLease } from '../../src/cluster/cluster_lease.js';
import type { Lease } from '../../src/cluster/lease.js';
import { advisoryLockKey, openPostgresLease } from '../../src/cluster/postgres_lease.js';
import { openRedisLease, redisLeaseKey } from '../../src/cluster/redis_lease.js';
import { handoverScenario, killContenders, SCHEDULING_SLACK_MS, waitFor } from './cluster_lease_contenders.js';
import { startPostgres, type PostgresInstance } from './postgres_instance.js';
import { startRedis, type RedisInstance } from './redis_instance.js';

afterAll(killContenders);

describe('PostgreSQL advisory-lock lease', () => {
  let server: PostgresInstance;
  let admin: pg.Client;

  /** The test's own connection; the server is killed on purpose, so its errors are expected. */
  function adminClient(): pg.Client {
    const client = new pg.Client({ connectionString: server.url });
    client.on('error', () => undefined);
    return client;
  }

  beforeAll(async () => {
    server = await startPostgres();
    admin = adminClient();
    await admin.connect();
  });

  afterAll(async () => {
    await admin?.end();
    await server?.stop();
  });

  it('three contender processes: one holder at a time; SIGKILL hands over within retryMs, SIGSTOP within holderTimeoutMs + retryMs', async () => {
    const options = { schema: 'cluster_lease_test', retryMs: 100, renewMs: 100, holderTimeoutMs: 1500 };
    const measured = await handoverScenario('postgres', server.url, 'alerts', options, {
      killedMs: options.retryMs,
      hungMs: options.holderTimeoutMs + options.retryMs,
      hungAtLeastMs: options.holderTimeoutMs - options.renewMs - 50,
    });
    console.info(`postgres lease handover (shared, noisy 2-core machine): SIGKILL ${measured.killedMs} ms (bound ${options.retryMs} ms), SIGSTOP ${measured.hungMs} ms (bound ${options.holderTimeoutMs + options.retryMs} ms)`);
  });

  /** The backend pid holding lease `name`'s advisory lock (pg_locks splits the 64-bit key into two oids). */
  async function holderPid(name: string, schema: string): Promise<number | undefined> {
    const key = BigInt.asUintN(64, advisoryLockKey(schema, name));
    const r = await admin.query<{ pid: number }>(
      "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = $1::oid AND objid = $2::oid AND objsubid = 1",
      [(key >> 32n).toString(), (key & 0xffffffffn).toString()],
    );
    return r.rows[0]?.pid;
  }

  it('in process: a terminated session is a loss, close hands over at once, a blocked event loop ends `held` by itself', async () => {
    const schema = 'cluster_lease_inproc';
    const events: string[] = [];
    const opts = { url: server.url, name: 'retention', schema, retryMs: 50, renewMs: 100, holderTimeoutMs: 1000 };
    const handlers = (who: string) => ({
      onAcquired: () => events.push(`${who}+`),
      onLost: (reason: string) => events.push(`${who}- ${reason}`),
    });
    let a: Lease | undefined;
    let b: Lease | undefined;
    try {
      // Through the factory the lead wires: the storage settings decide the lease.
      a = await openClusterLease({ storage: 'postgresql', postgres: { url: server.url, schema }, postgresTiming: { retryMs: 50, renewMs: 100, holderTimeoutMs: 1000 } }, 'retention', handlers('a'));
      expect(a.held).toBe(true);
      expect(a.name).toBe('retention');
      b = await openPostgresLease(opts, handlers('b'));
      expect(b.held).toBe(false);
      const pid = await holderPid('retention', schema);
      expect(pid).toBeDefined();
      const app = await admin.query<{ application_name: string }>('SELECT application_name FROM pg_stat_activity WHERE pid = $1', [pid]);
      expect(app.rows[0]!.application_name).toBe('emms-lease:retention');

      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await waitFor(() => b!.held, 'b to take over from a terminated session');
      expect(a.held).toBe(false);
      expect(events.find((e) => e.startsWith('a- '))).toMatch(/^a- (the lease session on postgres:\/\/emms:\*\*\*@127\.0\.0\.1:\d+\/emms ended|confirming the session)/);

      await b.close();
      expect(b.held).toBe(false);
      const closedAt = performance.now();
      await waitFor(() => a!.held, 'a to take over from a closed lease');
      expect(performance.now() - closedAt).toBeLessThan(opts.retryMs + SCHEDULING_SLACK_MS);

      // A stall longer than holderTimeoutMs: the server may have ended the session meanwhile,
      // so `held` must be false the moment the loop runs again, before any timer reports it.
      const spinUntil = performance.now() + opts.holderTimeoutMs + 100;
      while (performance.now() < spinUntil) { /* a blocked event loop */ }
      expect(a.held).toBe(false);
      await waitFor(() => events.filter((e) => e.startsWith('a- ')).length === 2, 'a to report the loss after the stall');
      await waitFor(() => a!.held, 'a to take the lease again');
      expect(events.filter((e) => e === 'a+')).toHaveLength(3);
    } finally {
      await a?.close();
      await b?.close();
    }
    expect(await holderPid('retention', schema)).toBeUndefined();
  });

  it('in process: a hung backend makes the holder step down (nobody holds until it ends); a crashed server is survived', async () => {
    const schema = 'cluster_lease_faults';
    const events: string[] = [];
    const errors: string[] = [];
    const opts = { url: server.url, name: 'compaction', schema, retryMs: 50, renewMs: 100, holderTimeoutMs: 1000 };
    const lease = await openPostgresLease(opts, {
      onAcquired: () => events.push('+'),
      onLost: (reason) => events.push(`- ${reason}`),
      onError: (err) => errors.push(err.message),
    });
    const other = await openPostgresLease(opts, {});
    try {
      expect(lease.held).toBe(true);
      const pid = (await holderPid('compaction', schema))!;
      // The holder's server process stops answering: its confirmation times out and it steps
      // down; the stopped backend still owns the lock, so nobody else may hold it either.
      process.kill(pid, 'SIGSTOP');
      try {
        await waitFor(() => events.length === 2, 'the holder to step down');
        expect(events[1]).toMatch(/^- confirming the session on postgres:\/\/emms:\*\*\*@127\.0\.0\.1:\d+\/emms failed: confirming the lease session timed out after 100 ms$/);
        expect(lease.held).toBe(false);
        expect(other.held).toBe(false);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      // Resumed, the backend finds its client gone and ends, freeing the lock.
      await waitFor(() => lease.held || other.held, 'a holder once the stopped backend ended');

      await server.kill();
      await waitFor(() => !lease.held && !other.held, 'both to have no lease with the server down');
      await waitFor(() => errors.some((m) => m.includes('cannot open a session on postgres://emms:***@')), 'a reconnection failure reported');
      expect(errors.every((m) => !m.includes(new URL(server.url).password))).toBe(true);
      await server.restart();
      await admin.end().catch(() => undefined);
      admin = adminClient();
      await admin.connect();
      await waitFor(() => lease.held || other.held, 'a holder after the server restarted', 30_000);
      expect(lease.held && other.held).toBe(false);
    } finally {
      await lease.close();
      await other.close();
    }
  });
});

describe('Redis key lease', () => {
  let server: RedisInstance;
  let admin: Redis;

  beforeAll(async () => {
    server = await startRedis();
    admin = new Redis(server.url);
    // The test kills the server on purpose; the admin client's reconnection errors are expected.
    admin.on('error', () => undefined);
  });

  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });

  it('three contender processes: one holder at a time; SIGKILL and SIGSTOP hand over within ttlMs + retryMs', async () => {
    const options = { prefix: 'cluster-test:', ttlMs: 1500, retryMs: 100 };
    const measured = await handoverScenario('redis', server.url, 'alerts', options, {
      killedMs: options.ttlMs + options.retryMs,
      hungMs: options.ttlMs + options.retryMs,
      hungAtLeastMs: options.ttlMs - options.ttlMs / 3 - 50,
    });
    console.info(`redis lease handover (shared, noisy 2-core machine): SIGKILL ${measured.killedMs} ms, SIGSTOP ${measured.hungMs} ms (bound ${options.ttlMs + options.retryMs} ms)`);
  });

  it('in process: an intruding token is a loss, close releases the key, a Redis restart is survived', async () => {
    const prefix = 'inproc:';
    const key = redisLeaseKey(prefix, 'health');
    const events: string[] = [];
    const errors: string[] = [];
    const opts = { url: server.url, name: 'health', prefix, ttlMs: 600, retryMs: 50 };
    const handlers = (who: string) => ({
      onAcquired: () => events.push(`${who}+`),
      onLost: (reason: string) => events.push(`${who}- ${reason}`),
      onError: (err: Error) => errors.push(err.message),
    });
    let a: Lease | undefined;
    let b: Lease | undefined;
    try {
      // A PostgreSQL cluster whose leases Redis holds, through the factory the lead wires.
      a = await openClusterLease({ storage: 'postgresql', postgres: { url: 'postgres://unused@127.0.0.1/emms' }, redis: { url: server.url, prefix }, holder: 'redis', redisTiming: { ttlMs: 600, retryMs: 50 } }, 'health', handlers('a'));
      b = await openRedisLease(opts, handlers('b'));
      expect(a.held).toBe(true);
      expect(b.held).toBe(false);
      expect(await admin.pttl(key)).toBeGreaterThan(0);

      // Another client overwrites the key: the holder's next renewal finds a foreign token.
      await admin.set(key, 'intruder', 'PX', 300);
      await waitFor(() => events.includes('a- the key holds another token (it expired and was taken, or was overwritten)'), 'a to notice the intruder');
      expect(a.held).toBe(false);
      await waitFor(() => a!.held || b!.held, 'someone to take the lease after the intruder\'s key expired');

      const holder = a.held ? a : b;
      const other = holder === a ? b : a;
      await holder.close();
      expect(await admin.get(key)).not.toBe('intruder');
      const closedAt = performance.now();
      await waitFor(() => other.held, 'the other contender to take the released key');
      expect(performance.now() - closedAt).toBeLessThan(opts.retryMs + SCHEDULING_SLACK_MS);

      // Redis dies: the holder cannot renew and says so; after the restart (AOF replayed, the
      // key expires on its own) the lease is taken again.
      await server.kill();
      await waitFor(() => !other.held && events.some((e) => e.startsWith(`${other === a ? 'a' : 'b'}- `) && e.includes('renew')), 'the holder to lose the lease with Redis down');
      expect(errors.some((m) => m.includes('redis://:***@127.0.0.1') && !m.includes(server.password))).toBe(true);
      await server.restart();
      await waitFor(() => other.held, 'the lease taken again after the restart', 30_000);
    } finally {
      await a?.close();
      await b?.close();
    }
    expect(await admin.exists(key)).toBe(0);
  });

  it('in process: handlers that throw are reported through onError and the lease goes on', async () => {
    const errors: string[] = [];
    const lease = await openRedisLease({ url: server.url, name: 'throwing', prefix: 'throw:', ttlMs: 300, retryMs: 20 }, {
      onAcquired: () => { throw new Error('acquired boom'); },
      onLost: () => { throw new Error('lost boom'); },
      onError: (err) => errors.push(err.message),
    });
    try {
      expect(lease.held).toBe(true);
      await admin.set(redisLeaseKey('throw:', 'throwing'), 'intruder', 'PX', 100);
      await waitFor(() => errors.includes('lease throwing: the onLost handler failed: lost boom'), 'the onLost failure reported');
      await waitFor(() => errors.filter((m) => m === 'lease throwing: a handler failed: acquired boom').length === 2 && lease.held, 'the lease taken again');
    } finally {
      await lease.close();
    }
  });
});
