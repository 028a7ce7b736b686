/**
 * The Redis back-end at the contract level (src/storage/backend.ts), against a real,
 * test-owned redis-server (tests/integration/redis_instance.ts): every write op round-trips
 * through load() and the ChunkSource with SQLite's read semantics, a transaction lands whole or
 * not at all, a commit while the server is down rejects, an acknowledged commit survives
 * SIGKILL of redis-server (AOF, appendfsync always), the server's durability settings are
 * checked at open, erased bytes leave the AOF, and passwords never show.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pipeline, Redis } from 'ioredis';
import { startRedis, type RedisInstance } from './redis_instance.js';
import { openRedisBackend, openRedisBackendWithDetails, type RedisBackend } from '../../src/storage/redis/redis_backend.js';
import { RedisChunkSource, defineReadScripts, openRedisChunkSource } from '../../src/storage/redis/redis_chunk_source.js';
import { connectRedis } from '../../src/storage/redis/redis_connection.js';
import { parseRedisLocation } from '../../src/storage/redis/redis_location.js';
import { encodeChunks, type EncodedChunk } from '../../src/storage/chunk_encoding.js';
import type { ChunkRow, SeriesRow, StorageBackend, WalRecordRow } from '../../src/storage/backend.js';
import { decodeChunk } from '../../src/core/codec.js';

let redis: RedisInstance;
let admin: Redis;
let prefixes = 0;

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
  admin.on('error', () => {}); // it sees the SIGKILL test's outage
});

afterAll(async () => {
  admin?.disconnect();
  await redis?.stop();
});

function freshPrefix(): string {
  return `t${++prefixes}-${process.pid}:`;
}

async function open(prefix: string): Promise<RedisBackend> {
  return openRedisBackendWithDetails({ url: redis.url, prefix });
}

/** A chunk of `n` points every `stepMs` from `startMs`, values start + i. */
function chunkOf(startMs: number, n: number, stepMs = 1000, base = 0): EncodedChunk {
  const ts = Float64Array.from({ length: n }, (_, i) => startMs + i * stepMs);
  const vs = Float64Array.from({ length: n }, (_, i) => base + i);
  const [chunk] = encodeChunks(ts, vs);
  return chunk!;
}

function series(id: number, metric = 'cpu'): SeriesRow {
  return { id, tenant: 'default', metricId: metric, canonicalTags: `host=h${id}`, metricType: 'gauge' };
}

function record(id: number, bytes = 16): WalRecordRow {
  return { id, createdMs: 1_700_000_000_000 + id, points: bytes / 4, data: Buffer.alloc(bytes, id) };
}

async function collect(iterable: AsyncIterable<WalRecordRow>): Promise<WalRecordRow[]> {
  const out: WalRecordRow[] = [];
  for await (const r of iterable) out.push(r);
  return out;
}

const HOUR = 3_600_000;

describe('redis back-end: writes and reads', () => {
  it('round-trips every op through load() and the chunk source, with SQLite\'s read semantics', async () => {
    const backend = await open(freshPrefix());
    const t0 = 10 * HOUR;
    // Series 1: chunk 1 inside hour 10; chunk 2 spans hours 10-11; chunk 3 overlaps chunk 2 (written later).
    const c1 = chunkOf(t0, 60, 1000);
    const c2 = chunkOf(t0 + 30 * 60_000, 3600, 1000, 100);
    const c3 = chunkOf(t0 + 40 * 60_000, 10, 1000, 500);
    const c4 = chunkOf(t0, 5, 60_000, 7); // series 2
    const tx = backend.beginWrite();
    tx.insertSeries(series(1));
    tx.insertSeries(series(2, 'mem'));
    tx.appendWalRecord(record(1));
    tx.appendWalRecord(record(2, 40));
    tx.appendWalRecord(record(3));
    tx.insertChunk(1, 1, c1);
    tx.insertChunk(2, 1, c2);
    tx.insertChunk(3, 1, c3);
    tx.insertChunk(4, 2, c4);
    tx.setMark(1, 2);
    tx.setMark(2, 3);
    tx.setMeta('erasure_scrub_pending', '1');
    await tx.commit();

    const state = await backend.load();
    expect(state.series.sort((a, b) => a.id - b.id)).toEqual([series(1), series(2, 'mem')]);
    expect(state.chunks.sort((a, b) => a.id - b.id)).toEqual([
      { id: 1, seriesId: 1, minTs: c1.minTs, maxTs: c1.maxTs, count: 60 },
      { id: 2, seriesId: 1, minTs: c2.minTs, maxTs: c2.maxTs, count: 3600 },
      { id: 3, seriesId: 1, minTs: c3.minTs, maxTs: c3.maxTs, count: 10 },
      { id: 4, seriesId: 2, minTs: c4.minTs, maxTs: c4.maxTs, count: 5 },
    ]);
    expect([...state.marks].sort()).toEqual([[1, 2], [2, 3]]);
    expect(state.meta.get('erasure_scrub_pending')).toBe('1');
    const records = await collect(state.walRecords());
    expect(records.map((r) => [r.id, r.createdMs, r.points, Buffer.from(r.data).equals(record(r.id, r.id === 2 ? 40 : 16).data)]))
      .toEqual([[1, 1_700_000_000_001, 4, true], [2, 1_700_000_000_002, 10, true], [3, 1_700_000_000_003, 4, true]]);

    const source = backend.chunkSource();
    // Hourly buckets over hours 10-12 with summaries: chunk 1 and 4 lie inside one bucket (no data);
    // chunks 2 (spans two hours) and 3 (inside, but the rule is per chunk) … 3 lies in hour 10 → no data.
    const agg = await source.aggregationRows([1, 2, 99], { startMs: t0, endMs: t0 + 2 * HOUR, maxChunkId: 10, intervalMs: HOUR, summaries: true });
    expect([...agg.keys()]).toEqual([1, 2, 99]);
    const s1 = agg.get(1)!;
    expect(s1.map((r) => r.id)).toEqual([1, 2, 3]); // (min_ts, id) order
    expect(s1.map((r) => r.data === null)).toEqual([true, false, true]);
    expect(decodeChunk(s1[1]!.data!).values[0]).toBe(100);
    expect(stats(s1[0]!)).toEqual({ count: 60, sum: c1.sum, min: c1.min, max: c1.max, first: c1.firstValue, last: c1.lastValue, mean: c1.mean, m2: c1.m2 });
    expect(agg.get(2)!.map((r) => [r.id, r.data])).toEqual([[4, null]]);
    expect(agg.get(99)).toEqual([]);
    // Without summaries every chunk carries its data; a range starting inside chunk 1 needs chunk 1's data.
    const noSummaries = await source.aggregationRows([1], { startMs: t0, endMs: t0 + 2 * HOUR, maxChunkId: 10, intervalMs: HOUR, summaries: false });
    expect(noSummaries.get(1)!.every((r) => r.data instanceof Uint8Array)).toBe(true);
    const partial = await source.aggregationRows([1], { startMs: t0 + 1000, endMs: t0 + 2 * HOUR, maxChunkId: 10, intervalMs: HOUR, summaries: true });
    expect(partial.get(1)!.map((r) => r.data === null)).toEqual([false, false, true]);
    // The snapshot bound hides chunk 3; the range bound [start, end) excludes chunks outside it.
    const bounded = await source.aggregationRows([1], { startMs: t0, endMs: t0 + 2 * HOUR, maxChunkId: 2, intervalMs: HOUR, summaries: true });
    expect(bounded.get(1)!.map((r) => r.id)).toEqual([1, 2]);
    expect((await source.rangeRows(1, c1.maxTs + 1, c3.minTs, 10)).map((r) => r.id)).toEqual([2]);
    expect((await source.rangeRows(1, c1.maxTs, c1.maxTs + 1, 10)).map((r) => r.id)).toEqual([1]);
    expect((await source.rangeRows(1, c2.maxTs + 1, c2.maxTs + 10_000, 10))).toEqual([]);
    const raw = await source.rangeRows(1, t0, t0 + HOUR, 10);
    expect(raw.map((r) => [r.id, r.data instanceof Uint8Array])).toEqual([[1, true], [2, true], [3, true]]);
    const data = await source.chunkData([3, 1]);
    expect(decodeChunk(data.get(3)!).values[0]).toBe(500);
    expect(decodeChunk(data.get(1)!).timestamps.length).toBe(60);

    // newestBefore: strictly before, bounded by maxChunkId; newest: the newest point of all.
    expect(await source.newestBefore([1, 2, 99], c1.maxTs + 1, 10)).toEqual(new Map([[1, { max_ts: c1.maxTs, last: c1.lastValue }]]));
    expect((await source.newestBefore([2], c4.maxTs + 1, 10)).get(2)).toEqual({ max_ts: c4.maxTs, last: c4.lastValue });
    expect((await source.newestBefore([1], c1.maxTs, 10)).get(1)).toBeUndefined();
    expect((await source.newestBefore([1], c2.maxTs + 1, 1)).get(1)).toEqual({ max_ts: c1.maxTs, last: c1.lastValue });
    expect((await source.newest([1])).get(1)).toEqual({ max_ts: c2.maxTs, last: c2.lastValue });

    // Deletions, in a second transaction.
    const tx2 = backend.beginWrite();
    tx2.deleteChunk(2, 1);
    tx2.deleteSeries(series(2, 'mem'));
    tx2.deleteChunk(4, 2);
    tx2.deleteWalRecordsUpTo(2);
    tx2.deleteMarksUpTo(2);
    tx2.setMeta('erasure_scrub_pending', undefined);
    await tx2.commit();
    const after = await backend.load();
    expect(after.series.map((s) => s.id)).toEqual([1]);
    expect(after.chunks.map((c) => c.id).sort()).toEqual([1, 3]);
    expect([...after.marks]).toEqual([[2, 3]]);
    expect(after.meta.size).toBe(0);
    expect((await collect(after.walRecords())).map((r) => r.id)).toEqual([3]);
    expect((await source.rangeRows(1, t0, t0 + 2 * HOUR, 10)).map((r) => r.id)).toEqual([1, 3]);
    expect((await source.newest([1, 2])).get(2)).toBeUndefined();

    const tx3 = backend.beginWrite();
    tx3.deleteWalRecordsUpTo(Infinity);
    tx3.deleteMarksUpTo(Infinity);
    await tx3.commit();
    const empty = await backend.load();
    expect(empty.marks.size).toBe(0);
    expect(await collect(empty.walRecords())).toEqual([]);
    await backend.close();
  });

  it('breaks ties of newest points by the higher chunk id', async () => {
    const backend = await open(freshPrefix());
    const tx = backend.beginWrite();
    tx.insertChunk(10, 5, chunkOf(1000, 3, 1000, 1));
    tx.insertChunk(9, 5, chunkOf(2000, 2, 1000, 50)); // same max_ts (3000), older write
    tx.insertChunk(11, 5, chunkOf(500, 2, 100, 80)); // older points, newest write
    await tx.commit();
    const source = backend.chunkSource();
    expect((await source.newest([5])).get(5)).toEqual({ max_ts: 3000, last: 3 });
    expect((await source.newestBefore([5], 4000, 9)).get(5)).toEqual({ max_ts: 3000, last: 51 });
    expect((await source.newestBefore([5], 3000, 100)).get(5)).toEqual({ max_ts: 600, last: 81 });
    await backend.close();
  });

  it('streams many write-ahead records in id order, in batches', async () => {
    const backend = await open(freshPrefix());
    const tx = backend.beginWrite();
    for (let id = 1; id <= 150; id++) tx.appendWalRecord(record(id * 7));
    await tx.commit();
    const ids = (await collect((await backend.load()).walRecords())).map((r) => r.id);
    expect(ids).toEqual(Array.from({ length: 150 }, (_, i) => (i + 1) * 7));
    await backend.close();
  });

  it('reads 64 series of 10 chunks in a bounded number of round trips', async () => {
    const backend = await open(freshPrefix());
    const tx = backend.beginWrite();
    let id = 0;
    for (let s = 1; s <= 64; s++) for (let c = 0; c < 10; c++) tx.insertChunk(++id, s, chunkOf(c * HOUR, 100, 1000, s));
    await tx.commit();
    const exec = vi.spyOn(Pipeline.prototype, 'exec');
    try {
      const rows = await backend.chunkSource().aggregationRows(Array.from({ length: 64 }, (_, i) => i + 1), {
        startMs: 0, endMs: 10 * HOUR, maxChunkId: id, intervalMs: 2 * HOUR, summaries: true,
      });
      expect([...rows.values()].every((r) => r.length === 10)).toBe(true);
      // Chunks of hour 1, 3, 5 … start in one 2 h bucket and end in it: answered from stats.
      expect(rows.get(7)!.filter((r) => r.data === null).length).toBe(10);
      expect(exec.mock.calls.length).toBe(1);
      // Chunks whose bytes are needed (1-minute buckets) bring them in the same round trip.
      exec.mockClear();
      const withData = await backend.chunkSource().aggregationRows([1, 2], { startMs: 0, endMs: 10 * HOUR, maxChunkId: id, intervalMs: 60_000, summaries: true });
      expect(withData.get(2)!.every((r) => r.data instanceof Uint8Array)).toBe(true);
      expect(exec.mock.calls.length).toBe(1);
      // Past the inline byte budget the rest comes in one more round trip, the same rows.
      const connection = await connectRedis(parseRedisLocation({ url: redis.url, prefix: backend.keys.prefix }), 'test');
      defineReadScripts(connection);
      const small = new RedisChunkSource(connection, backend.keys, parseRedisLocation({ url: redis.url }), true, 1);
      exec.mockClear();
      expect(await small.aggregationRows([1, 2], { startMs: 0, endMs: 10 * HOUR, maxChunkId: id, intervalMs: 60_000, summaries: true })).toEqual(withData);
      expect(exec.mock.calls.length).toBe(2);
      await small.close();
    } finally {
      exec.mockRestore();
    }
    await backend.close();
  });
});

function stats(r: ChunkRow): Record<string, number> {
  return { count: r.count, sum: r.sum, min: r.min, max: r.max, first: r.first, last: r.last, mean: r.mean, m2: r.m2 };
}

describe('redis back-end: transactions', () => {
  it('rollback leaves nothing, and a finished transaction refuses every call', async () => {
    const backend = await open(freshPrefix());
    const tx = backend.beginWrite();
    tx.insertSeries(series(1));
    tx.insertChunk(1, 1, chunkOf(0, 10));
    tx.appendWalRecord(record(1));
    tx.rollback();
    const state = await backend.load();
    expect([state.series, state.chunks, await collect(state.walRecords())]).toEqual([[], [], []]);
    expect(() => tx.insertSeries(series(2))).toThrow(/already committed or rolled back/);
    await expect(tx.commit()).rejects.toThrow(/already/);
    const tx2 = backend.beginWrite();
    tx2.setMeta('k', 'v');
    await tx2.commit();
    expect(() => tx2.setMark(1, 1)).toThrow(/BUG: setMark\(\)/);
    expect(() => tx2.rollback()).toThrow(/BUG/);
    await backend.close();
  });

  it('refuses invalid values when recorded, naming the field and value', async () => {
    const backend = await open(freshPrefix());
    const tx = backend.beginWrite();
    expect(() => tx.insertChunk(1, 1, { ...chunkOf(0, 3), maxTs: NaN })).toThrow('insertChunk: chunk.maxTs=NaN must be a finite number');
    expect(() => tx.insertChunk(-1, 1, chunkOf(0, 3))).toThrow('insertChunk: id=-1 must be a non-negative safe integer');
    expect(() => tx.deleteWalRecordsUpTo(1.5)).toThrow('walId=1.5');
    tx.rollback();
    await backend.close();
  });

  it('lands a transaction for readers all at once (a concurrent reader sees none or all of it)', async () => {
    const prefix = freshPrefix();
    const writer = await open(prefix);
    const reader = await openRedisChunkSource({ kind: 'redis', url: redis.url, prefix });
    const seen = new Set<number>();
    let done = false;
    const watching = (async () => {
      while (!done) {
        const rows = await reader.aggregationRows([1], { startMs: 0, endMs: 1e12, maxChunkId: 1e9, intervalMs: HOUR, summaries: true });
        seen.add(rows.get(1)!.length);
      }
    })();
    for (let round = 0; round < 20; round++) {
      const tx = writer.beginWrite();
      for (let c = 1; c <= 50; c++) tx.insertChunk(round * 50 + c, 1, chunkOf((round * 50 + c) * 1000, 2));
      await tx.commit();
    }
    done = true;
    await watching;
    expect([...seen].every((n) => n % 50 === 0)).toBe(true);
    await reader.close();
    await writer.close();
  });

  it('two back-ends on one prefix see each other\'s chunks', async () => {
    const prefix = freshPrefix();
    const a = await open(prefix);
    const b = await openRedisBackend({ url: redis.url, prefix });
    const tx = a.beginWrite();
    tx.insertSeries(series(1));
    tx.insertChunk(1, 1, chunkOf(0, 10));
    await tx.commit();
    expect((await b.chunkSource().rangeRows(1, 0, 1e9, 1)).map((r) => r.id)).toEqual([1]);
    const tx2 = b.beginWrite();
    tx2.insertChunk(2, 1, chunkOf(20_000, 10));
    await tx2.commit();
    expect((await a.chunkSource().rangeRows(1, 0, 1e9, 2)).map((r) => r.id)).toEqual([1, 2]);
    expect((await a.load()).chunks.length).toBe(2);
    await a.close();
    await b.close();
  });
});

describe('redis back-end: the server', () => {
  it('names the location with the password redacted, in errors too', async () => {
    const backend = await open(freshPrefix());
    expect(backend.location).toBe(`redis://:***@127.0.0.1:${redis.port}`);
    expect(backend.location).not.toContain(redis.password);
    expect(backend.durability.appendfsync).toBe('always');
    await backend.close();
    const wrong = redis.url.replace(redis.password, `${redis.password}x`);
    const failure = await openRedisBackend({ url: wrong }).then(() => 'opened', (e: Error) => e.message);
    expect(failure).toContain(`redis://:***@127.0.0.1:${redis.port}`);
    expect(failure).not.toContain(redis.password);
    expect(failure).toMatch(/WRONGPASS|invalid password/i);
  });

  it('checks durability and eviction settings at open', async () => {
    const prefix = freshPrefix();
    try {
      await admin.config('SET', 'appendfsync', 'everysec');
      await expect(open(prefix)).rejects.toThrow(/refused: appendfsync=everysec does not fsync each acknowledged write/);
      const relaxed = await openRedisBackendWithDetails({ url: redis.url, prefix, durability: 'everysec' });
      expect(relaxed.durability.appendfsync).toBe('everysec');
      await relaxed.close();
      await admin.config('SET', 'appendfsync', 'always');
      await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
      await expect(open(prefix)).rejects.toThrow(/maxmemory-policy=allkeys-lru/);
    } finally {
      await admin.config('SET', 'appendfsync', 'always');
      await admin.config('SET', 'maxmemory-policy', 'noeviction');
    }
  });

  it('refuses a layout written by a newer EMMS, and a prefix holding something else', async () => {
    const prefix = freshPrefix();
    await admin.set(`${prefix}layout`, '2');
    await expect(open(prefix)).rejects.toThrow(`key ${prefix}layout=2: the store was written by a newer EMMS (this one reads layout 1)`);
    await admin.set(`${prefix}layout`, 'x');
    await expect(open(prefix)).rejects.toThrow(/is not a layout version/);
    await expect(openRedisBackend({ url: redis.url, prefix: 'has space' })).rejects.toThrow(/options.redis.prefix="has space"/);
  });

  it('reports its size, checks writability, and drops erased bytes from the AOF', async () => {
    const backend = await open(freshPrefix());
    const before = (await backend.size()).bytes;
    const marker = `ERASE-ME-${process.pid}-${Date.now()}`;
    const tx = backend.beginWrite();
    tx.insertChunk(1, 1, { ...chunkOf(0, 3), bytes: Buffer.from(marker.repeat(400)) });
    await tx.commit();
    expect((await backend.size()).bytes).toBeGreaterThan(before + marker.length * 400);
    await backend.checkWritable();
    expect(aofHolds(marker)).toBe(true);
    const tx2 = backend.beginWrite();
    tx2.deleteChunk(1, 1);
    await tx2.commit();
    await backend.reclaimDeletedSpace();
    // The rewrite's old files are removed in Redis' background thread: wait for that.
    await waitFor(() => !aofHolds(marker), 10_000);
    await backend.close();
  });

  it('rejects a commit while the server is down, then recovers; an acknowledged commit survives SIGKILL', async () => {
    const prefix = freshPrefix();
    const backend = await open(prefix);
    const tx = backend.beginWrite();
    tx.insertSeries(series(1));
    tx.appendWalRecord(record(1, 400));
    tx.insertChunk(1, 1, chunkOf(0, 100));
    await tx.commit();
    // Killed right after the acknowledgement: appendfsync always means the AOF has it.
    await redis.kill();
    const down = backend.beginWrite();
    down.appendWalRecord(record(2));
    const failure = await down.commit().then(() => 'committed', (e: Error) => e.message);
    expect(failure).toContain(`redis redis://:***@127.0.0.1:${redis.port}: commit of 2 commands failed`);
    expect(failure).not.toContain(redis.password);
    await expect(backend.checkWritable()).rejects.toThrow(/write check/);
    await redis.restart();
    // The back-end reconnects by itself.
    await waitFor(async () => backend.checkWritable().then(() => true, () => false), 15_000);
    const state = await backend.load();
    expect(state.series).toEqual([series(1)]);
    expect(state.chunks.map((c) => c.id)).toEqual([1]);
    expect((await collect(state.walRecords())).map((r) => r.id)).toEqual([1]);
    const rows = await backend.chunkSource().rangeRows(1, 0, 1e9, 1);
    expect(decodeChunk(rows[0]!.data!).timestamps.length).toBe(100);
    await backend.close();
    // A fresh connection (as a restarted EMMS) sees it too.
    const again: StorageBackend = await openRedisBackend({ url: redis.url, prefix });
    expect((await again.load()).chunks.length).toBe(1);
    await again.abandon();
  });
});

function aofHolds(marker: string): boolean {
  const dir = join(redis.dir, 'appendonlydir');
  return readdirSync(dir).some((f) => readFileSync(join(dir, f)).includes(marker));
}

async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
