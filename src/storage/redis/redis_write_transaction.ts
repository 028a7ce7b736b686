/**
 * The Redis back-end's write transaction: the recording calls validate their arguments and
 * queue Redis commands; commit() sends them as ONE MULTI … EXEC, which Redis applies
 * atomically (no other client's command runs in between, a reader sees all of it or none)
 * and, under appendfsync always, writes and fsyncs to the AOF before its reply. commit()
 * resolves only on EXEC's reply.
 *
 * MULTI/EXEC does not roll back: a command that fails while EXEC runs leaves the others
 * applied. Only two kinds of failure exist, and neither is left to EXEC time:
 * - errors Redis finds while queuing (a wrong argument count, OOM under maxmemory, READONLY
 *   on a replica, a lost connection) make EXEC discard everything (EXECABORT): commit rejects,
 *   nothing applied;
 * - errors found while executing (a score that is not a number, a key of the wrong type) are
 *   ruled out before queuing: every id, time and score is validated here (finite, integer ids),
 *   and the prefix's keys are only ever written by this back-end with these types.
 * A commit whose EXEC was sent but whose reply never came (the connection dropped, the
 * command timed out) is in doubt: it rejects, and Redis may still have applied it. Every
 * command is idempotent under the engine's ids (SET, ZADD, HSET, deletions), so the engine's
 * retry of such a batch writes the same rows again rather than different ones.
 */
import type { Redis } from 'ioredis';
import type { SeriesRow, WalRecordRow, WriteTransaction } from '../backend.js';
import type { EncodedChunk } from '../chunk_encoding.js';
import { packChunkMeta, packChunkValue, packSeries, packWalRecord, scoreArg, type RedisKeys } from './redis_keys.js';
import { DELETE_WAL_UP_TO_SCRIPT } from './redis_scripts.js';
import { redisError } from './redis_connection.js';
import type { RedisLocation } from './redis_location.js';

type Arg = string | Buffer;

/** Commands whose arguments after the key may be extended by a following command of the same kind and key. */
const MERGEABLE = new Set(['HSET', 'HDEL', 'ZADD', 'ZREM']);

export class RedisWriteTransaction implements WriteTransaction {
  readonly #redis: Redis;
  readonly #keys: RedisKeys;
  readonly #location: RedisLocation;
  #commands: Arg[][] = [];
  #state: 'open' | 'committing' | 'done' = 'open';

  constructor(redis: Redis, keys: RedisKeys, location: RedisLocation) {
    this.#redis = redis;
    this.#keys = keys;
    this.#location = location;
  }

  /** Commands queued so far (for tests and the bench). */
  get queuedCommands(): number {
    return this.#commands.length;
  }

  insertSeries(row: SeriesRow): void {
    this.#open('insertSeries');
    requireId('insertSeries', 'row.id', row.id);
    this.#push('HSET', this.#keys.series, String(row.id), packSeries(row));
  }

  deleteSeries(row: SeriesRow): void {
    this.#open('deleteSeries');
    requireId('deleteSeries', 'row.id', row.id);
    this.#push('HDEL', this.#keys.series, String(row.id));
  }

  appendWalRecord(record: WalRecordRow): void {
    this.#open('appendWalRecord');
    requireId('appendWalRecord', 'record.id', record.id);
    requireFinite('appendWalRecord', 'record.createdMs', record.createdMs);
    requireCount('appendWalRecord', 'record.points', record.points);
    this.#push('SET', this.#keys.walRecord(record.id), packWalRecord(record));
    this.#push('ZADD', this.#keys.wal, String(record.id), String(record.id));
  }

  deleteWalRecordsUpTo(walId: number): void {
    this.#open('deleteWalRecordsUpTo');
    requireBound('deleteWalRecordsUpTo', walId);
    this.#push('EVAL', DELETE_WAL_UP_TO_SCRIPT, '1', this.#keys.wal, this.#keys.walPrefix, scoreArg(walId));
  }

  insertChunk(id: number, seriesId: number, chunk: EncodedChunk): void {
    this.#open('insertChunk');
    requireId('insertChunk', 'id', id);
    requireId('insertChunk', 'seriesId', seriesId);
    requireFinite('insertChunk', 'chunk.minTs', chunk.minTs);
    requireFinite('insertChunk', 'chunk.maxTs', chunk.maxTs);
    requireCount('insertChunk', 'chunk.count', chunk.count);
    if (chunk.minTs > chunk.maxTs) throw new RangeError(`insertChunk: chunk ${id} has minTs=${chunk.minTs} > maxTs=${chunk.maxTs}`);
    this.#push('SET', this.#keys.chunk(id), packChunkValue(id, seriesId, chunk));
    this.#push('ZADD', this.#keys.seriesChunks(seriesId), scoreArg(chunk.maxTs), String(id));
    this.#push('HSET', this.#keys.chunks, String(id), packChunkMeta(seriesId, chunk));
  }

  deleteChunk(id: number, seriesId: number): void {
    this.#open('deleteChunk');
    requireId('deleteChunk', 'id', id);
    requireId('deleteChunk', 'seriesId', seriesId);
    this.#push('UNLINK', this.#keys.chunk(id));
    this.#push('ZREM', this.#keys.seriesChunks(seriesId), String(id));
    this.#push('HDEL', this.#keys.chunks, String(id));
  }

  setMark(seriesId: number, walId: number): void {
    this.#open('setMark');
    requireId('setMark', 'seriesId', seriesId);
    requireId('setMark', 'walId', walId);
    this.#push('ZADD', this.#keys.marks, String(walId), String(seriesId));
  }

  deleteMarksUpTo(walId: number): void {
    this.#open('deleteMarksUpTo');
    requireBound('deleteMarksUpTo', walId);
    this.#push('ZREMRANGEBYSCORE', this.#keys.marks, '-inf', scoreArg(walId));
  }

  setMeta(key: string, value: string | undefined): void {
    this.#open('setMeta');
    if (typeof key !== 'string' || key.length === 0) throw new RangeError(`setMeta: key=${JSON.stringify(key)} must be a non-empty string`);
    if (value === undefined) this.#push('HDEL', this.#keys.meta, key);
    else if (typeof value !== 'string') throw new RangeError(`setMeta: value of ${key} must be a string or undefined; got ${typeof value}`);
    else this.#push('HSET', this.#keys.meta, key, value);
  }

  async commit(): Promise<void> {
    this.#open('commit');
    this.#state = 'committing';
    const commands = this.#commands;
    this.#commands = [];
    try {
      if (commands.length === 0) return;
      const multi = this.#redis.multi();
      for (const [name, ...args] of commands) multi.call(name as string, ...args);
      const replies = await multi.exec();
      if (replies === null) throw new Error('EXEC returned no replies (the transaction was discarded)');
      const failed = replies.findIndex(([error]) => error !== null);
      if (failed >= 0) {
        // Ruled out by the validation above; if it happens, the rest of EXEC was applied.
        throw new Error(`BUG: command ${failed + 1} of ${replies.length} (${String(commands[failed]?.[0])}) failed inside EXEC, the others were applied: ${replies[failed]![0]!.message}`);
      }
    } catch (error) {
      throw redisError(this.#location, `commit of ${commands.length} command${commands.length === 1 ? '' : 's'} failed`, error);
    } finally {
      this.#state = 'done';
    }
  }

  rollback(): void {
    this.#open('rollback');
    this.#commands = [];
    this.#state = 'done';
  }

  #open(call: string): void {
    if (this.#state !== 'open') throw new Error(`BUG: ${call}() on a write transaction that was already ${this.#state === 'done' ? 'committed or rolled back' : 'committing'}`);
  }

  /** Queues a command, folding it into the previous one when both are the same variadic command on the same key. */
  #push(name: string, key: string, ...args: Arg[]): void {
    const last = this.#commands[this.#commands.length - 1];
    if (last !== undefined && MERGEABLE.has(name) && last[0] === name && last[1] === key) {
      last.push(...args);
      return;
    }
    this.#commands.push([name, key, ...args]);
  }
}

function requireId(call: string, field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${call}: ${field}=${value} must be a non-negative safe integer`);
}

function requireCount(call: string, field: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new RangeError(`${call}: ${field}=${value} must be an integer in [0, 2^32)`);
}

function requireFinite(call: string, field: string, value: number): void {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new RangeError(`${call}: ${field}=${value} must be a finite number`);
}

/** An id bound: a non-negative integer, or Infinity for "all". */
function requireBound(call: string, value: number): void {
  if (value !== Infinity && (!Number.isSafeInteger(value) || value < 0)) throw new RangeError(`${call}: walId=${value} must be a non-negative safe integer or Infinity`);
}
