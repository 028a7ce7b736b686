/**
 * What the Redis back-end accepts of a server's configuration (src/storage/redis/redis_server_checks.ts).
 */
import { describe, expect, it } from 'vitest';
import { judgeDurability, readServerConfig } from '../../src/storage/redis/redis_server_checks.js';

const safe = { appendonly: 'yes', appendfsync: 'always', maxmemoryPolicy: 'noeviction' };

describe('redis durability checks', () => {
  it('accepts appendfsync always, and everysec only when asked', () => {
    expect(judgeDurability(safe, 'always').appendfsync).toBe('always');
    expect(judgeDurability(safe, 'everysec').appendfsync).toBe('always');
    expect(judgeDurability({ ...safe, appendfsync: 'everysec' }, 'everysec').description).toMatch(/~2 s/);
    expect(() => judgeDurability({ ...safe, appendfsync: 'everysec' }, 'always')).toThrow(/appendfsync=everysec does not fsync.*durability='everysec'/);
    expect(() => judgeDurability({ ...safe, maxmemoryPolicy: 'volatile-lru' }, 'always')).not.toThrow();
  });

  it('refuses what can lose acknowledged points whatever the demand', () => {
    expect(() => judgeDurability({ ...safe, appendfsync: 'no' }, 'everysec')).toThrow('appendfsync=no does not fsync each acknowledged write (needed: always)');
    expect(() => judgeDurability({ ...safe, appendonly: 'no' }, 'everysec')).toThrow(/appendonly=no: without the append-only file/);
    expect(() => judgeDurability({ ...safe, maxmemoryPolicy: 'allkeys-lfu' }, 'everysec')).toThrow(/maxmemory-policy=allkeys-lfu lets Redis evict/);
  });

  it('treats a disabled CONFIG as unknown durability, accepted only with everysec', () => {
    expect(() => judgeDurability(undefined, 'always')).toThrow(/CONFIG GET is disabled.*durability='everysec'/);
    expect(judgeDurability(undefined, 'everysec').appendfsync).toBe('unknown');
    expect(() => judgeDurability(safe, 'sometimes' as 'always')).toThrow(`options.redis.durability="sometimes" must be 'always' or 'everysec'`);
  });
});

describe('redis server configuration read', () => {
  const answering = (reply: () => unknown) => ({ call: async () => reply() }) as unknown as Parameters<typeof readServerConfig>[0];

  it('reads appendonly, appendfsync and maxmemory-policy', async () => {
    const values = await readServerConfig(answering(() => ['appendonly', 'yes', 'appendfsync', 'always', 'appendfilename', 'x', 'maxmemory-policy', 'noeviction']));
    expect(values).toEqual({ appendonly: 'yes', appendfsync: 'always', maxmemoryPolicy: 'noeviction' });
  });

  it('answers undefined when CONFIG is disabled, and passes other failures on', async () => {
    expect(await readServerConfig(answering(() => { throw new Error("ERR unknown command 'CONFIG'"); }))).toBeUndefined();
    expect(await readServerConfig(answering(() => { throw new Error('NOPERM this user has no permissions to run the config command'); }))).toBeUndefined();
    await expect(readServerConfig(answering(() => { throw new Error('Connection is closed.'); }))).rejects.toThrow('Connection is closed.');
  });
});
