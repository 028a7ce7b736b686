/**
 * Every Redis key and packed value of the Redis back-end, in one place (as src/storage/schema.ts
 * is for SQLite): no other file spells a key.
 *
 * Layout (P = RedisStorageOptions.prefix, default `emms:`):
 *
 *   P layout        string   "1"                         refuses to open a newer layout
 *   P meta          hash     key → value                  small flags (an erasure's pending scrub)
 *   P series        hash     series id → JSON [tenant, metric id, canonical tags, type]
 *   P chunks        hash     chunk id → 28 bytes: series id f64, min_ts f64, max_ts f64, count u32
 *                                                          the catalogue load() reads in one HSCAN
 *   P c:<id>        string   96-byte header + codec bytes (layout below)
 *   P s:<series id> zset     member chunk id, score max_ts  time-ordered index of a series' chunks
 *   P w:<id>        string   12-byte header + encodeWalRecord bytes
 *   P wal           zset     member record id, score id     the records, oldest first
 *   P marks         zset     member series id, score wal id
 *   P health        string   last checkWritable() time, ms
 *   P state:log     stream   {o: origin, d: db, c: change}  the shared state log of the nodes'
 *                                                          feature databases (redis_state_log.ts)
 *   P state:latest  hash     row key → stream id           each row's one entry in state:log
 *                                                          (compaction: an append XDELs the older)
 *   P state:deletions zset   member row key, score ms      rows whose entry is a deletion, by age
 *   P state:horizon string   stream id                     the newest deletion entry dropped
 *   P state:claim:<name> string owner                      cluster-wide first-come claims
 *
 * Chunk value (little-endian):
 *
 *   +---------+-------+----------------+-----------+---------+--------------+---------+---------+
 *   | version | codec | format_version | count u32 | id f64  | series id f64| min_ts  | max_ts  |
 *   | u8 = 1  | u8    | u16            |           |         |              | f64     | f64     |
 *   +---------+-------+----------------+-----------+---------+--------------+---------+---------+
 *   | sum f64 | min f64 | max f64 | first f64 | last f64 | mean f64 | m2 f64 | data (codec bytes) |
 *   +---------+---------+---------+-----------+----------+----------+--------+--------------------+
 *     0         1       2                4           8         16             24        32
 *     40        48        56        64          72         80         88       96
 *
 * Why the shapes:
 * - One string per chunk with the stats packed in front: GETRANGE 0..95 reads the stats without
 *   the codec bytes (what SQLite's "data last" column order buys), and a string costs less
 *   memory than a two-field hash (a ~9.5 KB field leaves the compact listpack encoding).
 * - The per-series index is scored by max_ts, like SQLite's (series_id, max_ts) index: a range
 *   read starts at the first chunk that can overlap (ZRANGEBYSCORE start +inf) and filters
 *   min_ts < end on the headers, server-side (redis_read_scripts.ts).
 * - Marks are a sorted set scored by wal id (not a hash): deleteMarksUpTo is one
 *   ZREMRANGEBYSCORE, O(log n + removed), with no script reading every mark.
 * - The key set is meant for one standalone Redis (or a primary with replicas): transactions
 *   touch many keys, which Redis Cluster allows only within one hash slot.
 *
 * Durability (what an acknowledged commit survives; checked at open, redis_server_checks.ts):
 * - appendonly yes + appendfsync always (the default demand): Redis writes and fsyncs the AOF
 *   before it replies to EXEC, so an acknowledged point survives Redis being killed, a kernel
 *   crash and a power loss (given a disk that honours fsync). Redis fsyncs once per event-loop
 *   turn for every client's writes, a group commit of its own.
 * - appendfsync everysec (accepted with `durability: 'everysec'`): the AOF write(2) happens
 *   before the reply, the fsync in the background once a second. A killed Redis loses nothing
 *   (the kernel holds the write) unless the disk was so slow that Redis postponed the write
 *   (it does so up to 2 s); a power loss or kernel crash loses up to ~2 s of acknowledged points.
 * - appendfsync no: the kernel flushes when it likes (~30 s): refused.
 * - appendonly no (RDB snapshots only): a killed Redis loses everything since the last snapshot:
 *   refused.
 * - A transaction is written to the AOF as one MULTI … EXEC block: a block torn by a crash is
 *   dropped whole when Redis loads the file (aof-load-truncated yes, the default), so recovery
 *   never lands half a commit.
 * - Replicas: EXEC is acknowledged by the primary alone; a failover to a replica that had not
 *   received the tail loses it (Redis replication is asynchronous).
 */
import type { EncodedChunk } from '../chunk_encoding.js';
import { CODEC_EMMS_CHUNK } from '../chunk_encoding.js';
import { CHUNK_FORMAT_VERSION } from '../../core/codec.js';
import type { ChunkEdge, ChunkMetaRow, ChunkRow, SeriesRow, WalRecordRow } from '../backend.js';
import type { MetricType } from '../../model/metric.js';

/** Bump when a key or value changes shape; open refuses a store with a higher one. */
export const REDIS_LAYOUT_VERSION = 1;
export const CHUNK_VALUE_VERSION = 1;
export const CHUNK_HEADER_BYTES = 96;
export const WAL_HEADER_BYTES = 12;
export const CHUNK_META_BYTES = 28;

/** Key names of one prefix. */
export class RedisKeys {
  readonly layout: string;
  readonly meta: string;
  readonly series: string;
  readonly chunks: string;
  readonly wal: string;
  readonly marks: string;
  readonly health: string;
  readonly stateLog: string;
  readonly stateLatest: string;
  readonly stateDeletions: string;
  readonly stateHorizon: string;
  /** Prefix of chunk value keys (`P c:`), for the scripts that build them from ids. */
  readonly chunkPrefix: string;
  /** Prefix of wal record keys (`P w:`). */
  readonly walPrefix: string;

  constructor(readonly prefix: string) {
    this.layout = `${prefix}layout`;
    this.meta = `${prefix}meta`;
    this.series = `${prefix}series`;
    this.chunks = `${prefix}chunks`;
    this.wal = `${prefix}wal`;
    this.marks = `${prefix}marks`;
    this.health = `${prefix}health`;
    this.stateLog = `${prefix}state:log`;
    this.stateLatest = `${prefix}state:latest`;
    this.stateDeletions = `${prefix}state:deletions`;
    this.stateHorizon = `${prefix}state:horizon`;
    this.chunkPrefix = `${prefix}c:`;
    this.walPrefix = `${prefix}w:`;
  }

  chunk(id: number): string {
    return `${this.chunkPrefix}${id}`;
  }

  seriesChunks(seriesId: number): string {
    return `${this.prefix}s:${seriesId}`;
  }

  walRecord(id: number): string {
    return `${this.walPrefix}${id}`;
  }

  stateClaim(name: string): string {
    return `${this.prefix}state:claim:${name}`;
  }

  /** A SCAN MATCH pattern for every key of the prefix (glob characters in it escaped). */
  matchAll(): string {
    return `${this.prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  }
}

export function packChunkValue(id: number, seriesId: number, c: EncodedChunk): Buffer {
  const out = Buffer.allocUnsafe(CHUNK_HEADER_BYTES + c.bytes.length);
  out.writeUInt8(CHUNK_VALUE_VERSION, 0);
  out.writeUInt8(CODEC_EMMS_CHUNK, 1);
  out.writeUInt16LE(CHUNK_FORMAT_VERSION, 2);
  out.writeUInt32LE(c.count, 4);
  out.writeDoubleLE(id, 8);
  out.writeDoubleLE(seriesId, 16);
  out.writeDoubleLE(c.minTs, 24);
  out.writeDoubleLE(c.maxTs, 32);
  out.writeDoubleLE(c.sum, 40);
  out.writeDoubleLE(c.min, 48);
  out.writeDoubleLE(c.max, 56);
  out.writeDoubleLE(c.firstValue, 64);
  out.writeDoubleLE(c.lastValue, 72);
  out.writeDoubleLE(c.mean, 80);
  out.writeDoubleLE(c.m2, 88);
  out.set(c.bytes, CHUNK_HEADER_BYTES);
  return out;
}

/** A stored chunk header that cannot be read: named by the chunk's key id. */
export class ChunkHeaderError extends Error {
  constructor(readonly chunkId: number, detail: string) {
    super(`chunk ${chunkId}: stored header ${detail}`);
    this.name = 'ChunkHeaderError';
  }
}

/** Reads a chunk's header (the first CHUNK_HEADER_BYTES of its value) into a row without data. */
export function unpackChunkHeader(chunkId: number, header: Buffer): ChunkRow {
  if (header.length < CHUNK_HEADER_BYTES) throw new ChunkHeaderError(chunkId, `is ${header.length} bytes, shorter than ${CHUNK_HEADER_BYTES}`);
  const version = header.readUInt8(0);
  if (version !== CHUNK_VALUE_VERSION) throw new ChunkHeaderError(chunkId, `has version ${version} (expected ${CHUNK_VALUE_VERSION})`);
  const id = header.readDoubleLE(8);
  if (id !== chunkId) throw new ChunkHeaderError(chunkId, `names chunk ${id}`);
  return {
    id,
    series_id: header.readDoubleLE(16),
    min_ts: header.readDoubleLE(24),
    max_ts: header.readDoubleLE(32),
    count: header.readUInt32LE(4),
    codec: header.readUInt8(1),
    format_version: header.readUInt16LE(2),
    sum: header.readDoubleLE(40),
    min: header.readDoubleLE(48),
    max: header.readDoubleLE(56),
    first: header.readDoubleLE(64),
    last: header.readDoubleLE(72),
    mean: header.readDoubleLE(80),
    m2: header.readDoubleLE(88),
    data: null,
  };
}

/** The edge (newest point) a header records. */
export function chunkEdgeOf(chunkId: number, header: Buffer): ChunkEdge {
  const row = unpackChunkHeader(chunkId, header);
  return { max_ts: row.max_ts, last: row.last };
}

export function packChunkMeta(seriesId: number, c: EncodedChunk): Buffer {
  const out = Buffer.allocUnsafe(CHUNK_META_BYTES);
  out.writeDoubleLE(seriesId, 0);
  out.writeDoubleLE(c.minTs, 8);
  out.writeDoubleLE(c.maxTs, 16);
  out.writeUInt32LE(c.count, 24);
  return out;
}

export function unpackChunkMeta(id: number, value: Buffer): ChunkMetaRow {
  if (value.length !== CHUNK_META_BYTES) throw new ChunkHeaderError(id, `catalogue entry is ${value.length} bytes (expected ${CHUNK_META_BYTES})`);
  return { id, seriesId: value.readDoubleLE(0), minTs: value.readDoubleLE(8), maxTs: value.readDoubleLE(16), count: value.readUInt32LE(24) };
}

export function packWalRecord(record: WalRecordRow): Buffer {
  const out = Buffer.allocUnsafe(WAL_HEADER_BYTES + record.data.length);
  out.writeDoubleLE(record.createdMs, 0);
  out.writeUInt32LE(record.points, 8);
  out.set(record.data, WAL_HEADER_BYTES);
  return out;
}

export function unpackWalRecord(id: number, value: Buffer): WalRecordRow {
  if (value.length < WAL_HEADER_BYTES) throw new Error(`wal record ${id}: stored value is ${value.length} bytes, shorter than its ${WAL_HEADER_BYTES}-byte header`);
  return { id, createdMs: value.readDoubleLE(0), points: value.readUInt32LE(8), data: value.subarray(WAL_HEADER_BYTES) };
}

export function packSeries(row: SeriesRow): string {
  return JSON.stringify([row.tenant, row.metricId, row.canonicalTags, row.metricType]);
}

export function unpackSeries(id: number, value: string): SeriesRow {
  const parsed: unknown = JSON.parse(value);
  if (!Array.isArray(parsed) || parsed.length !== 4 || !parsed.every((v) => typeof v === 'string')) {
    throw new Error(`series ${id}: stored value ${JSON.stringify(value.slice(0, 200))} is not [tenant, metric, tags, type]`);
  }
  const [tenant, metricId, canonicalTags, metricType] = parsed as [string, string, string, MetricType];
  return { id, tenant, metricId, canonicalTags, metricType };
}

/** A score or bound for ZADD/ZRANGEBYSCORE: Redis spells infinities `+inf`/`-inf`. */
export function scoreArg(value: number): string {
  if (value === Infinity) return '+inf';
  if (value === -Infinity) return '-inf';
  return String(value);
}

/**
 * A number for a Lua script's tonumber(): infinities become ±1e308 (Lua's tonumber of "inf"
 * depends on the C library), which compares the same against any timestamp or id.
 */
export function luaNumberArg(value: number): string {
  if (value === Infinity) return '1e308';
  if (value === -Infinity) return '-1e308';
  return String(value);
}
