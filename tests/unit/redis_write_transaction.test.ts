/**
 * The Redis write transaction's queue (src/storage/redis/redis_write_transaction.ts), on a
 * fake connection: commands in op order, folded where the same variadic command repeats, one
 * MULTI per commit, and failures named with the password redacted. The real server's side is
 * tests/integration/redis_backend.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { RedisWriteTransaction } from '../../src/storage/redis/redis_write_transaction.js';
import { RedisKeys } from '../../src/storage/redis/redis_keys.js';
import { parseRedisLocation } from '../../src/storage/redis/redis_location.js';
import { encodeChunks } from '../../src/storage/chunk_encoding.js';

const location = parseRedisLocation({ url: 'redis://:sekrit@127.0.0.1:6379', prefix: 'p:' });
const keys = new RedisKeys('p:');
const chunk = encodeChunks(Float64Array.of(1, 2), Float64Array.of(3, 4))[0]!;

function fakeRedis(exec: () => Promise<unknown>): { redis: Redis; sent: unknown[][]; multis: number } {
  const state = { sent: [] as unknown[][], multis: 0, redis: undefined as unknown as Redis };
  state.redis = {
    multi() {
      state.multis++;
      return { call: (...args: unknown[]) => state.sent.push(args.map((a) => (Buffer.isBuffer(a) ? 'bytes' : a))), exec };
    },
  } as unknown as Redis;
  return state;
}

describe('redis write transaction', () => {
  it('queues commands in op order, folding repeats of the same command on the same key', async () => {
    const fake = fakeRedis(async () => [[null, 'OK']]);
    const tx = new RedisWriteTransaction(fake.redis, keys, location);
    tx.insertSeries({ id: 1, tenant: 't', metricId: 'm', canonicalTags: '', metricType: 'gauge' });
    tx.insertSeries({ id: 2, tenant: 't', metricId: 'm', canonicalTags: 'a=b', metricType: 'gauge' });
    tx.appendWalRecord({ id: 5, createdMs: 10, points: 1, data: Uint8Array.of(1) });
    tx.insertChunk(3, 1, chunk);
    tx.setMark(1, 5);
    tx.setMark(2, 5);
    tx.deleteMarksUpTo(Infinity);
    tx.deleteWalRecordsUpTo(4);
    tx.deleteChunk(3, 1);
    tx.deleteSeries({ id: 2, tenant: 't', metricId: 'm', canonicalTags: 'a=b', metricType: 'gauge' });
    tx.setMeta('k', 'v');
    tx.setMeta('k', undefined);
    expect(tx.queuedCommands).toBe(15);
    await tx.commit();
    expect(fake.multis).toBe(1);
    expect(fake.sent.map((c) => c.slice(0, 2))).toEqual([
      ['HSET', 'p:series'], ['SET', 'p:w:5'], ['ZADD', 'p:wal'], ['SET', 'p:c:3'], ['ZADD', 'p:s:1'], ['HSET', 'p:chunks'],
      ['ZADD', 'p:marks'], ['ZREMRANGEBYSCORE', 'p:marks'], ['EVAL', expect.stringContaining('ZRANGEBYSCORE')],
      ['UNLINK', 'p:c:3'], ['ZREM', 'p:s:1'], ['HDEL', 'p:chunks'], ['HDEL', 'p:series'], ['HSET', 'p:meta'], ['HDEL', 'p:meta'],
    ]);
    expect(fake.sent[0]).toEqual(['HSET', 'p:series', '1', '["t","m","","gauge"]', '2', '["t","m","a=b","gauge"]']);
    expect(fake.sent[6]).toEqual(['ZADD', 'p:marks', '5', '1', '5', '2']);
    expect(fake.sent[7]).toEqual(['ZREMRANGEBYSCORE', 'p:marks', '-inf', '+inf']);
    expect(fake.sent[8]!.slice(2)).toEqual(['1', 'p:wal', 'p:w:', '4']);
  });

  it('commits nothing for an empty transaction, and is unusable after', async () => {
    const fake = fakeRedis(async () => []);
    const tx = new RedisWriteTransaction(fake.redis, keys, location);
    await tx.commit();
    expect(fake.multis).toBe(0);
    expect(() => tx.setMeta('a', 'b')).toThrow('BUG: setMeta() on a write transaction that was already committed or rolled back');
  });

  it('rejects naming the location (password redacted) when EXEC fails or a command inside it failed', async () => {
    const lost = new RedisWriteTransaction(fakeRedis(async () => { throw new Error('Connection is closed (sekrit).'); }).redis, keys, location);
    lost.setMeta('a', 'b');
    await expect(lost.commit()).rejects.toThrow('redis redis://:***@127.0.0.1:6379: commit of 1 command failed: Connection is closed (***).');
    const partial = new RedisWriteTransaction(fakeRedis(async () => [[null, 1], [new Error('WRONGTYPE'), null]]).redis, keys, location);
    partial.appendWalRecord({ id: 1, createdMs: 1, points: 0, data: new Uint8Array(0) });
    await expect(partial.commit()).rejects.toThrow(/BUG: command 2 of 2 \(ZADD\) failed inside EXEC, the others were applied: WRONGTYPE/);
    const discarded = new RedisWriteTransaction(fakeRedis(async () => null).redis, keys, location);
    discarded.setMeta('a', 'b');
    await expect(discarded.commit()).rejects.toThrow(/EXEC returned no replies/);
  });

  it('validates every value before queuing it', () => {
    const tx = new RedisWriteTransaction(fakeRedis(async () => []).redis, keys, location);
    expect(() => tx.insertSeries({ id: 1.5, tenant: 't', metricId: 'm', canonicalTags: '', metricType: 'gauge' })).toThrow('insertSeries: row.id=1.5');
    expect(() => tx.appendWalRecord({ id: 1, createdMs: Infinity, points: 1, data: new Uint8Array(0) })).toThrow('record.createdMs=Infinity must be a finite number');
    expect(() => tx.appendWalRecord({ id: 1, createdMs: 1, points: -1, data: new Uint8Array(0) })).toThrow('record.points=-1 must be an integer in [0, 2^32)');
    expect(() => tx.insertChunk(1, 1, { ...chunk, minTs: 5, maxTs: 4 })).toThrow('insertChunk: chunk 1 has minTs=5 > maxTs=4');
    expect(() => tx.setMark(1, -2)).toThrow('setMark: walId=-2');
    expect(() => tx.deleteMarksUpTo(-Infinity)).toThrow('deleteMarksUpTo: walId=-Infinity');
    expect(() => tx.setMeta('', 'x')).toThrow('setMeta: key="" must be a non-empty string');
    expect(() => tx.setMeta('k', 5 as unknown as string)).toThrow('setMeta: value of k must be a string or undefined; got number');
    expect(tx.queuedCommands).toBe(0);
    tx.rollback();
  });
});
