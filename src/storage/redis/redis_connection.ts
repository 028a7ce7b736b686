/**
 * One ioredis connection as the Redis back-end wants it, and the one way its errors are worded.
 *
 * Settings and why:
 * - enableOfflineQueue false: a command issued while the connection is down fails at once
 *   (a commit rejects, the engine refuses the batch) instead of waiting, unbounded, for Redis.
 * - autoResendUnfulfilledCommands false: a MULTI/EXEC whose reply was lost is not sent again
 *   behind the engine's back; its commit rejected (see redis_write_transaction.ts, "in doubt").
 * - commandTimeout: no command waits longer than COMMAND_TIMEOUT_MS (a stalled disk under
 *   appendfsync always holds every reply).
 * - reconnection stays on (ioredis' default back-off, ≤ 2 s): the back-end recovers by itself
 *   once Redis is back.
 */
import { Redis } from 'ioredis';
import { scrubSecret, type RedisLocation } from './redis_location.js';

/** Longest any one command or transaction may take, ms (as PostgreSQL's statement timeout). */
export const COMMAND_TIMEOUT_MS = 30_000;
/** Longest the TCP connect and the ready check may take at open, ms. */
export const CONNECT_TIMEOUT_MS = 10_000;

/** An error of the Redis back-end: names the location (password redacted) and keeps the cause. */
export class RedisBackendError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RedisBackendError';
  }
}

/** `redis redis://:***@host:port/0: <what>: <driver message>`, with any password scrubbed. */
export function redisError(location: RedisLocation, what: string, cause: unknown): RedisBackendError {
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new RedisBackendError(scrubSecret(`redis ${location.redacted}: ${what}: ${detail}`, location.settings), { cause });
}

/** Opens a connection (role names it in CLIENT LIST) and waits until Redis is ready. */
export async function connectRedis(location: RedisLocation, role: string): Promise<Redis> {
  const s = location.settings;
  const redis = new Redis({
    host: s.host,
    port: s.port,
    db: s.db,
    ...(s.username === undefined ? {} : { username: s.username }),
    ...(s.password === undefined ? {} : { password: s.password }),
    ...(s.tls ? { tls: {} } : {}),
    connectionName: `emms-${role}`,
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
  });
  // ioredis prints unhandled 'error' events to the console; failures reach callers through
  // the rejected commands instead. At connect, the event carries the reason (WRONGPASS, a
  // refused connection) that connect()'s own rejection ("Connection is closed") lacks.
  let reason: unknown;
  redis.on('error', (error: unknown) => {
    reason ??= error;
  });
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw redisError(location, 'cannot connect', reason ?? error);
  }
  return redis;
}
