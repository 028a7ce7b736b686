/**
 * The Redis back-end of the storage contract (src/storage/backend.ts). Key layout, value
 * formats and what each appendfsync setting gives: redis_keys.ts; the write transaction:
 * redis_write_transaction.ts; reads: redis_chunk_source.ts.
 *
 * Open: parse the URL (redis_location.ts), connect a writer and a reader connection (a
 * query's multi-megabyte replies then never sit in front of a commit's EXEC reply), verify the
 * server's durability and eviction settings (redis_server_checks.ts: refuses appendfsync other
 * than always unless options.durability allows everysec), and claim or check the layout key.
 */
import type { Redis } from 'ioredis';
import type { RedisStorageOptions } from '../../model/api.js';
import type {
  BackendSize, BackendState, ChunkMetaRow, ChunkSource, SeriesRow, StorageBackend, WalRecordRow, WorkerSourceSpec, WriteTransaction,
} from '../backend.js';
import { RedisKeys, unpackChunkMeta, unpackSeries, unpackWalRecord } from './redis_keys.js';
import { RedisWriteTransaction } from './redis_write_transaction.js';
import { RedisChunkSource, defineReadScripts } from './redis_chunk_source.js';
import { RedisBackendError, connectRedis, redisError } from './redis_connection.js';
import { parseRedisLocation, type RedisLocation } from './redis_location.js';
import { claimLayout, judgeDurability, readServerConfig, type RedisServerDurability } from './redis_server_checks.js';
import { waitForAofRewrite, waitForSnapshot } from './redis_persistence.js';

/** Entries per HSCAN/ZRANGE page at load: a page of series rows is ~100 KB. */
const LOAD_PAGE = 1000;
/** Write-ahead records per GET pipeline in walRecords(): ~64 × 50 KB ≈ 3 MB held at once. */
export const WAL_READ_BATCH = 64;
/** Keys per SCAN page and MEMORY USAGE pipeline in size(). */
const SIZE_PAGE = 1000;

export class RedisBackend implements StorageBackend {
  readonly kind = 'redis' as const;
  readonly location: string;
  /** What the server's configuration gives an acknowledged point (for /health). */
  readonly durability: RedisServerDurability;
  readonly keys: RedisKeys;
  readonly #where: RedisLocation;
  readonly #url: string;
  readonly #writer: Redis;
  readonly #reader: RedisChunkSource;
  readonly #readerConnection: Redis;
  #closed = false;

  constructor(where: RedisLocation, url: string, writer: Redis, reader: Redis, durability: RedisServerDurability) {
    this.#where = where;
    this.#url = url;
    this.location = where.redacted;
    this.keys = new RedisKeys(where.prefix);
    this.#writer = writer;
    this.#readerConnection = reader;
    this.#reader = new RedisChunkSource(reader, this.keys, where, false);
    this.durability = durability;
  }

  async load(): Promise<BackendState> {
    try {
      const series = await this.#loadSeries();
      const chunks = await this.#loadChunkMetas();
      const marks = await this.#loadMarks();
      const meta = new Map(Object.entries(await this.#writer.hgetall(this.keys.meta)));
      return { series, chunks, marks, meta, walRecords: () => this.#walRecords() };
    } catch (error) {
      throw this.#error('load', error);
    }
  }

  beginWrite(): WriteTransaction {
    if (this.#closed) throw new RedisBackendError(`redis ${this.location}: the back-end is closed`);
    return new RedisWriteTransaction(this.#writer, this.keys, this.#where);
  }

  chunkSource(): ChunkSource {
    return this.#reader;
  }

  workerSource(): WorkerSourceSpec {
    return { kind: 'redis', url: this.#url, prefix: this.keys.prefix };
  }

  async checkWritable(): Promise<void> {
    try {
      await this.#writer.set(this.keys.health, String(Date.now()));
    } catch (error) {
      throw this.#error('write check', error);
    }
  }

  /**
   * MEMORY USAGE of every key of the prefix, found by SCAN: cost O(keys in the database) for
   * the SCAN and one round trip per SIZE_PAGE keys of ours (~1 s per million chunks), which
   * suits a stats call, not a hot path. Aggregates (the hashes, the indexes) are estimated by
   * Redis from 5 sampled elements (MEMORY USAGE's default).
   */
  async size(): Promise<BackendSize> {
    let bytes = 0;
    try {
      let cursor = '0';
      do {
        const [next, keys] = await this.#writer.scan(cursor, 'MATCH', this.keys.matchAll(), 'COUNT', SIZE_PAGE);
        cursor = next;
        if (keys.length === 0) continue;
        const pipeline = this.#writer.pipeline();
        for (const key of keys) pipeline.call('MEMORY', 'USAGE', key);
        for (const [error, used] of (await pipeline.exec()) ?? []) if (error === null) bytes += Number(used ?? 0);
      } while (cursor !== '0');
    } catch (error) {
      throw this.#error('size', error);
    }
    return { bytes };
  }

  /**
   * Deleted keys leave Redis' memory at once (UNLINK); their bytes stay in the append-only file
   * (and in an RDB snapshot, when the server takes them) until it is rewritten. Rewrites the AOF
   * (and takes a snapshot when `save` is configured) and waits for them, within
   * RECLAIM_TIMEOUT_MS (redis_persistence.ts). Replicas rewrite their own files on their own
   * schedule: an erasure is gone from a replica's disk only after its next rewrite.
   */
  async reclaimDeletedSpace(): Promise<void> {
    try {
      await waitForAofRewrite(this.#writer);
      const config = await this.#writer.call('CONFIG', 'GET', 'save').catch(() => undefined) as string[] | undefined;
      if (config !== undefined && (config[1] ?? '') !== '') await waitForSnapshot(this.#writer);
    } catch (error) {
      throw this.#error('reclaiming deleted space', error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([quit(this.#writer), quit(this.#readerConnection)]);
  }

  async abandon(): Promise<void> {
    this.#closed = true;
    this.#writer.disconnect();
    this.#readerConnection.disconnect();
  }

  async #loadSeries(): Promise<SeriesRow[]> {
    // HSCAN may return an entry twice (while Redis rehashes): keyed by id.
    const byId = new Map<number, SeriesRow>();
    let cursor = '0';
    do {
      const [next, flat] = await this.#writer.hscan(this.keys.series, cursor, 'COUNT', LOAD_PAGE);
      cursor = next;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const id = Number(flat[i]);
        byId.set(id, unpackSeries(id, flat[i + 1]!));
      }
    } while (cursor !== '0');
    return [...byId.values()];
  }

  async #loadChunkMetas(): Promise<ChunkMetaRow[]> {
    const byId = new Map<number, ChunkMetaRow>();
    let cursor = '0';
    do {
      const [next, flat] = await this.#writer.hscanBuffer(this.keys.chunks, cursor, 'COUNT', LOAD_PAGE);
      cursor = next.toString();
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const id = Number(flat[i]!.toString());
        byId.set(id, unpackChunkMeta(id, flat[i + 1]!));
      }
    } while (cursor !== '0');
    return [...byId.values()];
  }

  async #loadMarks(): Promise<Map<number, number>> {
    const marks = new Map<number, number>();
    for (let from = 0; ; from += LOAD_PAGE) {
      const flat = await this.#writer.zrange(this.keys.marks, from, from + LOAD_PAGE - 1, 'WITHSCORES');
      for (let i = 0; i + 1 < flat.length; i += 2) marks.set(Number(flat[i]), Number(flat[i + 1]));
      if (flat.length < LOAD_PAGE * 2) return marks;
    }
  }

  /** Oldest first, WAL_READ_BATCH records per round trip; a record deleted meanwhile (its points are in chunks) is skipped. */
  async *#walRecords(): AsyncGenerator<WalRecordRow> {
    let after = '-inf';
    for (;;) {
      let ids: string[];
      let values: Array<[Error | null, unknown]>;
      try {
        ids = await this.#writer.zrangebyscore(this.keys.wal, after, '+inf', 'LIMIT', 0, WAL_READ_BATCH);
        if (ids.length === 0) return;
        const pipeline = this.#writer.pipeline();
        for (const id of ids) pipeline.getBuffer(this.keys.walRecord(Number(id)));
        values = (await pipeline.exec()) ?? [];
      } catch (error) {
        throw this.#error('write-ahead record read', error);
      }
      for (let i = 0; i < ids.length; i++) {
        const [error, value] = values[i] ?? [new Error('no reply'), null];
        if (error !== null) throw this.#error(`write-ahead record ${ids[i]} read`, error);
        if (value !== null) yield unpackWalRecord(Number(ids[i]), value as Buffer);
      }
      after = `(${ids[ids.length - 1]}`;
    }
  }

  #error(what: string, cause: unknown): Error {
    return cause instanceof RedisBackendError ? cause : redisError(this.#where, what, cause);
  }
}

/** Opens the Redis back-end (the registry hook of src/storage/backends.ts). */
export async function openRedisBackend(options: RedisStorageOptions): Promise<StorageBackend> {
  return openRedisBackendWithDetails(options);
}

/** openRedisBackend with the concrete type (tests and the bench read `durability` and `keys`). */
export async function openRedisBackendWithDetails(options: RedisStorageOptions): Promise<RedisBackend> {
  const where = parseRedisLocation(options);
  const writer = await connectRedis(where, 'writer');
  let reader: Redis | undefined;
  try {
    let durability: RedisServerDurability;
    try {
      durability = judgeDurability(await readServerConfig(writer), options.durability ?? 'always');
    } catch (error) {
      throw redisError(where, 'refused', error);
    }
    try {
      await claimLayout(writer, new RedisKeys(where.prefix));
    } catch (error) {
      throw redisError(where, 'refused', error);
    }
    reader = await connectRedis(where, 'reader');
    defineReadScripts(reader);
    return new RedisBackend(where, options.url, writer, reader, durability);
  } catch (error) {
    writer.disconnect();
    reader?.disconnect();
    throw error;
  }
}

async function quit(redis: Redis): Promise<void> {
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}
