/**
 * Rewrites of Redis' persistence files, waited for: what reclaimDeletedSpace() needs so that
 * erased values leave the disk. An AOF keeps every write ever made until BGREWRITEAOF replaces
 * it with the current data set; an RDB snapshot keeps the data set of its time until BGSAVE
 * replaces it.
 *
 * Both run in a forked child; the wait polls INFO persistence every POLL_MS (a condition, not
 * a fixed sleep) and gives up after RECLAIM_TIMEOUT_MS (the rewrite then carries on in Redis,
 * and the error says so). A rewrite writes the whole data set: ~1 s per GB on a fast disk.
 */
import type { Redis } from 'ioredis';

/** Longest reclaimDeletedSpace() waits for one rewrite, ms. */
export const RECLAIM_TIMEOUT_MS = 300_000;
const POLL_MS = 25;

export async function persistenceInfo(redis: Redis): Promise<Map<string, string>> {
  const text = await redis.info('persistence');
  const out = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) out.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return out;
}

/** Starts an AOF rewrite that begins after this call and waits for it to finish. */
export async function waitForAofRewrite(redis: Redis, timeoutMs = RECLAIM_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const before = Number((await persistenceInfo(redis)).get('aof_rewrites') ?? 0);
  // A rewrite already running holds a data set from before the caller's deletions: Redis
  // refuses a second one while it runs, so wait for it, then ask again.
  await startWhenIdle(redis, 'BGREWRITEAOF', 'aof_rewrite_in_progress', deadline, timeoutMs);
  await waitUntil(redis, deadline, timeoutMs, 'the AOF rewrite', (info) =>
    info.get('aof_rewrite_in_progress') === '0' && info.get('aof_rewrite_scheduled') === '0' && Number(info.get('aof_rewrites') ?? 0) > before);
  const status = (await persistenceInfo(redis)).get('aof_last_bgrewrite_status');
  if (status !== 'ok') throw new Error(`the AOF rewrite ended with status ${status} (see the Redis log)`);
}

/** Takes an RDB snapshot that begins after this call and waits for it. */
export async function waitForSnapshot(redis: Redis, timeoutMs = RECLAIM_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const before = Number((await persistenceInfo(redis)).get('rdb_saves') ?? 0);
  await startWhenIdle(redis, 'BGSAVE', 'rdb_bgsave_in_progress', deadline, timeoutMs);
  await waitUntil(redis, deadline, timeoutMs, 'the RDB snapshot', (info) =>
    info.get('rdb_bgsave_in_progress') === '0' && Number(info.get('rdb_saves') ?? 0) > before);
  const info = await persistenceInfo(redis);
  if (info.get('rdb_last_bgsave_status') !== 'ok') throw new Error(`the RDB snapshot ended with status ${info.get('rdb_last_bgsave_status')} (see the Redis log)`);
}

async function startWhenIdle(redis: Redis, command: 'BGREWRITEAOF' | 'BGSAVE', busyField: string, deadline: number, timeoutMs: number): Promise<void> {
  for (;;) {
    try {
      await redis.call(command);
      return;
    } catch (error) {
      if (!/already in progress/i.test((error as Error).message)) throw error;
    }
    await waitUntil(redis, deadline, timeoutMs, `the running ${command}`, (info) => info.get(busyField) === '0');
  }
}

async function waitUntil(redis: Redis, deadline: number, timeoutMs: number, what: string, done: (info: Map<string, string>) => boolean): Promise<void> {
  while (!done(await persistenceInfo(redis))) {
    if (Date.now() > deadline) throw new Error(`${what} did not finish within ${timeoutMs} ms (it goes on in Redis)`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
