/**
 * Reads of committed chunks from Redis (the ChunkSource of backend.ts), on the writer's read
 * connection or, in query workers, on a connection of their own (openRedisChunkSource).
 *
 * Round trips per call, whatever the number of series and chunks:
 * - aggregationRows / rangeRows: 1 pipeline of CHUNK_ROWS scripts (one per SCRIPT_SERIES
 *   series: the index range and the 96-byte headers, filtered server-side exactly as SQLite's
 *   chunksForAggregation, with the codec bytes of the chunks that need them up to
 *   INLINE_DATA_BYTES per script) + 1 pipeline of GETRANGEs only for bytes past that budget.
 *   A chunk answered from its stats never sends its bytes. (Headers first and bytes in a
 *   second round trip measured 1.8-3.4x SQLite's p50 on the 24 h hourly read of
 *   bench/redis_backend.bench.ts on a loaded 2-core machine, 25 ms p50 in one run; bytes inline
 *   6 ms, 2.6x, in the next: each round trip waits for the scheduler.)
 * - newestBefore / newest: 1 pipeline of NEWEST_EDGE scripts.
 * - chunkData: 1 pipeline of GETRANGEs.
 * A chunk the engine admitted (id ≤ maxChunkId) is not deleted while its read is registered
 * (StorageEngine.beginSnapshotRead), so the bytes fetched in the second round trip are those of
 * the headers of the first; one that vanished anyway (another writer on the prefix) is an error
 * naming it, not a silent gap.
 */
import type { Redis } from 'ioredis';
import type { AggregationRead, ChunkEdge, ChunkRow, ChunkSource, WorkerSourceSpec } from '../backend.js';
import { CHUNK_HEADER_BYTES, RedisKeys, chunkEdgeOf, luaNumberArg, scoreArg, unpackChunkHeader } from './redis_keys.js';
import { CHUNK_ROWS_SCRIPT, INLINE_DATA_BYTES, NEWEST_EDGE_SCRIPT } from './redis_scripts.js';
import { connectRedis, redisError } from './redis_connection.js';
import { parseRedisLocation, type RedisLocation } from './redis_location.js';

/** Series per script call: the engine reads 64 per call (PREFETCH_SERIES); a bigger ask is split so other clients' commands run between the scripts. */
export const SCRIPT_SERIES = 64;

type ScriptReply = Array<Array<Buffer | number>>;

interface ScriptedRedis extends Redis {
  emmsChunkRowsBuffer(...args: (string | number)[]): Promise<ScriptReply>;
  emmsNewestEdgeBuffer(...args: (string | number)[]): Promise<Array<Buffer | [Buffer, Buffer]>>;
}

/** Registers the read scripts on a connection (ioredis sends EVALSHA, and the script itself once after a NOSCRIPT). */
export function defineReadScripts(redis: Redis): void {
  redis.defineCommand('emmsChunkRows', { lua: CHUNK_ROWS_SCRIPT });
  redis.defineCommand('emmsNewestEdge', { lua: NEWEST_EDGE_SCRIPT });
}

export class RedisChunkSource implements ChunkSource {
  readonly #redis: ScriptedRedis;
  readonly #keys: RedisKeys;
  readonly #location: RedisLocation;
  readonly #ownsConnection: boolean;
  readonly #inlineDataBytes: number;

  /** `redis` must have had defineReadScripts() called on it. */
  constructor(redis: Redis, keys: RedisKeys, location: RedisLocation, ownsConnection: boolean, inlineDataBytes = INLINE_DATA_BYTES) {
    this.#redis = redis as ScriptedRedis;
    this.#keys = keys;
    this.#location = location;
    this.#ownsConnection = ownsConnection;
    this.#inlineDataBytes = inlineDataBytes;
  }

  async aggregationRows(seriesIds: readonly number[], read: AggregationRead): Promise<Map<number, ChunkRow[]>> {
    return this.#rows(seriesIds, read.startMs, read.endMs, read.maxChunkId, read.intervalMs, read.summaries);
  }

  async rangeRows(seriesId: number, startMs: number, endMs: number, maxChunkId: number): Promise<ChunkRow[]> {
    return (await this.#rows([seriesId], startMs, endMs, maxChunkId, 0, false)).get(seriesId)!;
  }

  async chunkData(ids: readonly number[]): Promise<Map<number, Uint8Array>> {
    const out = new Map<number, Uint8Array>();
    if (ids.length === 0) return out;
    const pipeline = this.#redis.pipeline();
    for (const id of ids) pipeline.getrangeBuffer(this.#keys.chunk(id), CHUNK_HEADER_BYTES, -1);
    const replies = await this.#run('chunk data read', () => pipeline.exec());
    ids.forEach((id, i) => out.set(id, this.#dataOf(id, replies[i])));
    return out;
  }

  async newestBefore(seriesIds: readonly number[], timeMs: number, maxChunkId: number): Promise<Map<number, ChunkEdge>> {
    return this.#edges(seriesIds, `(${scoreArg(timeMs)}`, maxChunkId);
  }

  async newest(seriesIds: readonly number[]): Promise<Map<number, ChunkEdge>> {
    return this.#edges(seriesIds, '+inf', Infinity);
  }

  async close(): Promise<void> {
    if (!this.#ownsConnection) return;
    try {
      await this.#redis.quit();
    } catch {
      this.#redis.disconnect();
    }
  }

  async #rows(seriesIds: readonly number[], startMs: number, endMs: number, maxChunkId: number, intervalMs: number, summaries: boolean): Promise<Map<number, ChunkRow[]>> {
    const out = new Map<number, ChunkRow[]>();
    for (const id of seriesIds) out.set(id, []);
    if (seriesIds.length === 0) return out;
    const groups = slices(seriesIds, SCRIPT_SERIES);
    const pipeline = this.#redis.pipeline() as unknown as ScriptedRedis;
    const args = [
      this.#keys.chunkPrefix, scoreArg(startMs), luaNumberArg(startMs), luaNumberArg(endMs), luaNumberArg(maxChunkId),
      luaNumberArg(Number.isFinite(intervalMs) && intervalMs > 0 ? intervalMs : 0), summaries ? '1' : '0', String(this.#inlineDataBytes),
    ];
    for (const group of groups) {
      void pipeline.emmsChunkRowsBuffer(group.length, ...group.map((s) => this.#keys.seriesChunks(s)), ...args);
    }
    const replies = await this.#run('chunk index read', () => (pipeline as unknown as ReturnType<Redis['pipeline']>).exec());
    const needData: ChunkRow[] = [];
    groups.forEach((group, g) => {
      const perSeries = resultOf(replies[g]) as ScriptReply;
      group.forEach((seriesId, s) => {
        const flat = perSeries[s] ?? [];
        const rows = out.get(seriesId)!;
        for (let k = 0; k + 2 < flat.length; k += 3) {
          const id = Number((flat[k] as Buffer).toString());
          const row = unpackChunkHeader(id, flat[k + 1] as Buffer);
          if (row.series_id !== seriesId) throw new Error(`chunk ${id}: its header names series ${row.series_id}, its index is series ${seriesId}'s`);
          rows.push(row);
          const data = flat[k + 2];
          if (Buffer.isBuffer(data)) row.data = this.#dataOf(id, [null, data]);
          else if (data === 1) needData.push(row);
        }
        inMinTsOrder(rows);
      });
    });
    if (needData.length > 0) {
      const data = await this.chunkData(needData.map((r) => r.id));
      for (const row of needData) row.data = data.get(row.id)!;
    }
    return out;
  }

  async #edges(seriesIds: readonly number[], upper: string, maxChunkId: number): Promise<Map<number, ChunkEdge>> {
    const out = new Map<number, ChunkEdge>();
    if (seriesIds.length === 0) return out;
    const groups = slices(seriesIds, SCRIPT_SERIES);
    const pipeline = this.#redis.pipeline() as unknown as ScriptedRedis;
    for (const group of groups) {
      void pipeline.emmsNewestEdgeBuffer(group.length, ...group.map((s) => this.#keys.seriesChunks(s)), this.#keys.chunkPrefix, upper, luaNumberArg(maxChunkId));
    }
    const replies = await this.#run('newest chunk read', () => (pipeline as unknown as ReturnType<Redis['pipeline']>).exec());
    groups.forEach((group, g) => {
      const perSeries = resultOf(replies[g]) as Array<Buffer | [Buffer, Buffer]>;
      group.forEach((seriesId, s) => {
        const found = perSeries[s];
        if (Array.isArray(found)) out.set(seriesId, chunkEdgeOf(Number(found[0].toString()), found[1]));
      });
    });
    return out;
  }

  #dataOf(id: number, reply: [Error | null, unknown] | undefined): Uint8Array {
    const data = resultOf(reply) as Buffer;
    // A real chunk has at least its codec header: an empty reply is a missing key.
    if (data.length === 0) throw new Error(`chunk ${id} vanished during a read (deleted by another writer on prefix ${this.#keys.prefix})`);
    return data;
  }

  async #run<T extends Array<[Error | null, unknown]>>(what: string, call: () => Promise<T | null>): Promise<T> {
    let result: T | null;
    try {
      result = await call();
    } catch (error) {
      throw redisError(this.#location, what, error);
    }
    if (result === null) throw redisError(this.#location, what, new Error('pipeline returned no replies'));
    // A pipeline resolves with per-command errors in place: surface the first, named.
    const failed = (result as Array<[Error | null, unknown]>).find(([error]) => error !== null);
    if (failed !== undefined) throw redisError(this.#location, what, failed[0]);
    return result;
  }
}

/** Opens a ChunkSource on a connection of its own (query workers: chunk_sources.ts). */
export async function openRedisChunkSource(spec: Extract<WorkerSourceSpec, { kind: 'redis' }>): Promise<ChunkSource> {
  const location = parseRedisLocation({ url: spec.url, prefix: spec.prefix });
  const redis = await connectRedis(location, 'reader');
  defineReadScripts(redis);
  return new RedisChunkSource(redis, new RedisKeys(location.prefix), location, true);
}

function resultOf(reply: [Error | null, unknown] | undefined): unknown {
  if (reply === undefined) throw new Error('BUG: a pipeline returned fewer replies than commands');
  if (reply[0] !== null) throw reply[0];
  return reply[1];
}

function slices<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** The script returns max_ts order (the index's); readers need (min_ts, id) order, as SQLite's readers restore it. */
function inMinTsOrder(rows: ChunkRow[]): void {
  for (let k = 1; k < rows.length; k++) {
    const a = rows[k - 1]!;
    const b = rows[k]!;
    if (a.min_ts > b.min_ts || (a.min_ts === b.min_ts && a.id > b.id)) {
      rows.sort((x, y) => x.min_ts - y.min_ts || x.id - y.id);
      return;
    }
  }
}
