/**
 * Waiting for Redis' persistence rewrites (src/storage/redis/redis_persistence.ts) on a fake
 * connection that plays INFO persistence step by step: a rewrite already running is waited
 * out before ours starts, ours must finish, failures and timeouts are reported. The real
 * server's side: tests/integration/redis_backend.test.ts (erased bytes leave the AOF).
 */
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { persistenceInfo, waitForAofRewrite, waitForSnapshot } from '../../src/storage/redis/redis_persistence.js';

/** INFO persistence answers in order (the last repeats); commands answer from `replies`. */
function fake(infos: Array<Record<string, string | number>>, replies: Record<string, Array<() => unknown>>): { redis: Redis; calls: string[] } {
  const calls: string[] = [];
  let i = 0;
  const redis = {
    async info() {
      const info = infos[Math.min(i++, infos.length - 1)]!;
      return `# Persistence\r\n${Object.entries(info).map(([k, v]) => `${k}:${v}`).join('\r\n')}\r\n`;
    },
    async call(command: string) {
      calls.push(command);
      const next = replies[command]?.shift();
      return next === undefined ? 'OK' : next();
    },
  } as unknown as Redis;
  return { redis, calls };
}

const idle = { aof_rewrite_in_progress: 0, aof_rewrite_scheduled: 0, aof_rewrites: 3, aof_last_bgrewrite_status: 'ok' };

describe('redis persistence rewrites', () => {
  it('parses INFO persistence', async () => {
    const info = await persistenceInfo(fake([idle], {}).redis);
    expect(info.get('aof_rewrites')).toBe('3');
    expect(info.has('# Persistence')).toBe(false);
  });

  it('waits for a rewrite already running, then for its own', async () => {
    const busy = () => {
      throw new Error('ERR Background append only file rewriting already in progress');
    };
    const { redis, calls } = fake([
      idle, // before
      { ...idle, aof_rewrite_in_progress: 1 }, // the running one…
      { ...idle, aof_rewrites: 4 }, // …finished
      { ...idle, aof_rewrite_in_progress: 1, aof_rewrites: 4 }, // ours runs
      { ...idle, aof_rewrites: 5 }, // and finished
    ], { BGREWRITEAOF: [busy] });
    await waitForAofRewrite(redis, 5000);
    expect(calls).toEqual(['BGREWRITEAOF', 'BGREWRITEAOF']);
  });

  it('reports a failed rewrite, a timeout, and other errors', async () => {
    await expect(waitForAofRewrite(fake([idle, { ...idle, aof_rewrites: 4, aof_last_bgrewrite_status: 'err' }], {}).redis, 5000))
      .rejects.toThrow('the AOF rewrite ended with status err (see the Redis log)');
    await expect(waitForAofRewrite(fake([idle, { ...idle, aof_rewrite_in_progress: 1 }], {}).redis, 60))
      .rejects.toThrow('the AOF rewrite did not finish within 60 ms (it goes on in Redis)');
    await expect(waitForAofRewrite(fake([idle], { BGREWRITEAOF: [() => { throw new Error('NOPERM'); }] }).redis, 5000)).rejects.toThrow('NOPERM');
  });

  it('takes an RDB snapshot and waits for it', async () => {
    const base = { rdb_bgsave_in_progress: 0, rdb_saves: 1, rdb_last_bgsave_status: 'ok' };
    const { redis, calls } = fake([base, { ...base, rdb_bgsave_in_progress: 1 }, { ...base, rdb_saves: 2 }], {});
    await waitForSnapshot(redis, 5000);
    expect(calls).toEqual(['BGSAVE']);
    await expect(waitForSnapshot(fake([base, { ...base, rdb_saves: 2, rdb_last_bgsave_status: 'err' }], {}).redis, 5000))
      .rejects.toThrow('the RDB snapshot ended with status err');
  });
});
