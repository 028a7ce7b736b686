/**
 * The Redis back-end answers every read of the contract exactly as the SQLite back-end does
 * (src/storage/schema.ts is the reference: chunksForAggregationMany's data-NULL rule,
 * chunksInRange, newestChunkBefore, newestChunkOfSeries): the same random chunk sets written
 * to both (overlapping chunks, equal max_ts, deletions), then random reads compared row by row,
 * stats and bytes included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type RedisInstance } from './redis_instance.js';
import { openRedisBackend } from '../../src/storage/redis/redis_backend.js';
import { SqliteBackend } from '../../src/storage/sqlite/sqlite_backend.js';
import { encodeChunks } from '../../src/storage/chunk_encoding.js';
import type { ChunkRow, StorageBackend } from '../../src/storage/backend.js';
import { mulberry32 } from '../../bench/data_shapes.js';

let redis: RedisInstance;
let dir: string;

beforeAll(async () => {
  redis = await startRedis();
  dir = mkdtempSync(join(tmpdir(), 'emms-redis-equivalence-'));
});

afterAll(async () => {
  await redis?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const SERIES = [1, 2, 3, 4, 5];

function normalized(rows: ChunkRow[] | undefined): unknown[] {
  return (rows ?? []).map((r) => ({ ...r, data: r.data === null || r.data === undefined ? null : Buffer.from(r.data).toString('hex') }));
}

async function writeRandomChunks(backends: StorageBackend[], random: () => number): Promise<number> {
  const base = 1_767_225_600_000; // 2026-01-01, hour-aligned
  let id = 0;
  const owners = new Map<number, number>();
  for (let round = 0; round < 4; round++) {
    const txs = backends.map((b) => b.beginWrite());
    for (let k = 0; k < 25; k++) {
      const seriesId = SERIES[Math.floor(random() * SERIES.length)]!;
      const step = [1000, 10_000, MINUTE][Math.floor(random() * 3)]!;
      // Starts on a coarse grid so that chunks overlap and end at equal times now and then.
      const start = base + Math.floor(random() * 48) * 30 * MINUTE;
      const n = 1 + Math.floor(random() * 200);
      const ts = Float64Array.from({ length: n }, (_, i) => start + i * step);
      const vs = Float64Array.from({ length: n }, () => Math.round(random() * 1000) / 10);
      const chunk = encodeChunks(ts, vs)[0]!;
      owners.set(++id, seriesId);
      for (const tx of txs) tx.insertChunk(id, seriesId, chunk);
    }
    // Delete a few chunks written earlier (as compaction does).
    for (let d = 0; d < 3 && id > 10; d++) {
      const victim = 1 + Math.floor(random() * (id - 1));
      const owner = owners.get(victim);
      if (owner === undefined) continue;
      for (const tx of txs) tx.deleteChunk(victim, owner);
      owners.delete(victim);
    }
    await Promise.all(txs.map((tx) => tx.commit()));
  }
  return id;
}

describe('redis back-end equals the SQLite back-end on reads', () => {
  it('aggregationRows, rangeRows, newestBefore and newest agree on random chunk sets', async () => {
    let rows = 0;
    let fromStats = 0;
    for (const seed of [1, 2, 3]) {
      const random = mulberry32(seed);
      const sqlite = SqliteBackend.open({ path: join(dir, `seed${seed}.db`) });
      const redisBackend = await openRedisBackend({ url: redis.url, prefix: `eq${seed}-${process.pid}:` });
      const backends = [sqlite, redisBackend];
      const maxId = await writeRandomChunks(backends, random);
      const [a, b] = [sqlite.chunkSource(), redisBackend.chunkSource()];
      const base = 1_767_225_600_000;
      for (let q = 0; q < 60; q++) {
        const start = base + Math.floor(random() * 30 * 4) * 15 * MINUTE - (random() < 0.3 ? 7_000 : 0);
        const end = start + (1 + Math.floor(random() * 24)) * HOUR + (random() < 0.3 ? 3_000 : 0);
        const read = {
          startMs: start, endMs: end, maxChunkId: 1 + Math.floor(random() * maxId),
          intervalMs: [MINUTE, HOUR, 6 * HOUR, 24 * HOUR][Math.floor(random() * 4)]!, summaries: random() < 0.7,
        };
        const [ra, rb] = await Promise.all([a.aggregationRows(SERIES, read), b.aggregationRows(SERIES, read)]);
        for (const s of SERIES) {
          expect(normalized(rb.get(s)), `seed ${seed} query ${q} series ${s}`).toEqual(normalized(ra.get(s)));
          for (const row of ra.get(s) ?? []) {
            rows++;
            if (row.data === null) fromStats++;
          }
        }
        const s = SERIES[q % SERIES.length]!;
        expect(normalized(await b.rangeRows(s, start, end, read.maxChunkId))).toEqual(normalized(await a.rangeRows(s, start, end, read.maxChunkId)));
        expect(await b.newestBefore(SERIES, start, read.maxChunkId)).toEqual(await a.newestBefore(SERIES, start, read.maxChunkId));
      }
      expect(await b.newest(SERIES)).toEqual(await a.newest(SERIES));
      const [la, lb] = await Promise.all([sqlite.load(), redisBackend.load()]);
      const byId = (x: { id: number }, y: { id: number }): number => x.id - y.id;
      expect(lb.chunks.sort(byId)).toEqual(la.chunks.sort(byId));
      await sqlite.close();
      await redisBackend.close();
    }
    // The comparison covered both kinds of rows, many of each.
    expect(rows).toBeGreaterThan(500);
    expect(fromStats).toBeGreaterThan(50);
    expect(rows - fromStats).toBeGreaterThan(50);
  });
});
