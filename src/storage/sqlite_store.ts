/**
 * The SQLite storage engine: series catalogue, write-ahead records, heads, chunks, compaction
 * and retention over one database file. Ingest hands it validated columnar batches
 * (`commit`); queries read chunks through their own statements and heads through `head()`.
 *
 * Write path of one group commit (one SQLite transaction):
 *   1. rows for series created since the last commit;
 *   2. one write-ahead record holding every point of the group (columnar, lz4);
 *   3. points appended to their series' heads; a head reaching HEAD_CUT_POINTS is encoded
 *      into a chunk, and `head_marks` records that the series' points of records up to this
 *      one are in chunks (replay skips them).
 * The promise of every batch of the group resolves after the commit returns.
 *
 * Checkpoint (when the records exceed WAL_CHECKPOINT_BYTES or the oldest is older than
 * WAL_MAX_AGE_MS): in the background, in slices of MAINTENANCE_SLICE_MS between commits (paced
 * by MAINTENANCE_PAUSE_PER_WORK so that commits keep up with the load meanwhile), every
 * head holding points of records up to the newest one (W) is cut like a full head (chunk +
 * mark), then the records ≤ W and marks ≤ W are deleted. A kill midway leaves records and
 * marks that replay honours, so nothing is lost or doubled. (Done in one go, a checkpoint of
 * ~15M head points stalled the event loop, and every acknowledgement, for seconds.) At stop
 * the checkpoint is one transaction (`checkpoint()`). Compaction then merges a series' small or overlapping chunks into chunks of up
 * to MAX_CHUNK_POINTS, newest write winning on equal timestamps.
 *
 * Lifecycle: `SqliteStore.open()` (loads series and chunk catalogue, replays records), any
 * number of commit()/reads, `close()` (checkpoint, compaction, file compaction, close).
 */
import type Database from 'better-sqlite3';
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { acquireWriterLock } from './writer_lock.js';
import { openDatabase, type Durability } from './database.js';
import { SQL } from './schema.js';
import { SeriesIndex } from './series_index.js';
import { SeriesHead, sortDedupLastWins } from './head.js';
import { ChunkStore, CorruptChunkError, MAX_CHUNK_POINTS, describeSeries, type ChunkMeta } from './chunk_store.js';
import { decodeWalRecord, encodeWalRecord } from './write_ahead_log.js';
import { WalCheckpointer, WAL_CATCH_UP_PAGES } from './wal_checkpointer.js';
import { parseCanonicalTags, type MetricType } from '../model/metric.js';
import type { StorageStats } from '../model/api.js';

/**
 * Points at which a head is cut into a chunk (each series at its own point in [2048, 4096],
 * see cutAt). Bounds head memory to 64 KiB per busy series
 * (1,000 series: 64 MiB); compaction later packs consecutive cuts into chunks of up to
 * MAX_CHUNK_POINTS, which is what the storage target needs.
 */
export const HEAD_CUT_POINTS = 4096;
/** Write-ahead bytes that trigger a checkpoint: bounds replay at start (~12M points, about a second). */
export const WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024;
/** Age of the oldest write-ahead record that triggers a checkpoint (so idle series get cut). */
export const WAL_MAX_AGE_MS = 2 * 3600_000;
/** Background compaction packs a run of small chunks only when it merges at least this many. */
const PACK_RUN_BACKGROUND = 4;
/**
 * Longest the background checkpoint or compaction holds the event loop per slice; commits (and
 * their acks) run between slices. A commit arriving meanwhile waits up to this long: at half the
 * maximum rate 4 ms gave a steady ack p99 of 35–39 ms, 8 ms 42–49 ms (target 50 ms).
 */
const MAINTENANCE_SLICE_MS = 4;
/**
 * Pause after a slice per millisecond of its work: 3 leaves background maintenance a quarter of
 * the main thread. A 64 MiB checkpoint (~9M points, ~0.6 s of work) then spreads over ~2.5 s,
 * while records for the next one take ~5 s to accumulate even at the maximum rate.
 */
const MAINTENANCE_PAUSE_PER_WORK = 3;
/** Time stop() spends packing chunks at most (see close()). */
const CLOSE_COMPACTION_BUDGET_MS = 3000;
/** How often the age of the write-ahead records and retention are checked. */
const MAINTENANCE_INTERVAL_MS = 30_000;
/** stop() rewrites files up to this size with VACUUM; bigger ones only when a quarter is free pages. */
const VACUUM_MAX_BYTES = 512 * 1024 * 1024;
const VACUUM_MIN_FREE_SHARE = 4;
const DAY_MS = 86_400_000;
/** Size of SQLite's -wal file at which the checkpoint worker starts (small stores never need it). */
const SQLITE_WAL_WORKER_START_BYTES = 4 * 1024 * 1024;
/** Commits between two looks at the -wal file's size until the worker runs. */
const SQLITE_WAL_PROBE_COMMITS = 32;

/** A validated, series-resolved batch: entry i is point i. */
export interface IngestBatch {
  seriesIds: Uint32Array;
  timestamps: Float64Array;
  values: Float64Array;
  length: number;
}

export interface StoreOptions {
  path: string;
  tenant: string;
  durability?: Durability;
  /** 0 = keep forever. */
  retentionDays?: number;
  /** Tests shrink these to exercise cuts and checkpoints with few points. */
  headCutPoints?: number | undefined;
  walCheckpointBytes?: number | undefined;
  /** MAINTENANCE_SLICE_MS; tests set 0 (one head or series per slice) to interleave slices with commits. */
  maintenanceSliceMs?: number | undefined;
  /** Page size of a new database file. */
  pageSizeBytes?: number | undefined;
}

export class SqliteStore {
  readonly path: string;
  readonly tenant: string;
  readonly index = new SeriesIndex();
  readonly chunks: ChunkStore;
  readonly db: Database.Database;

  readonly #heads: (SeriesHead | undefined)[] = [];
  readonly #headCutPoints: number;
  readonly #walCheckpointBytes: number;
  readonly #maintenanceSliceMs: number;
  readonly #retentionMs: number;
  readonly #insertSeries: Database.Statement;
  readonly #insertWal: Database.Statement;
  readonly #upsertMark: Database.Statement;
  readonly #deleteAllWal: Database.Statement;
  readonly #deleteAllMarks: Database.Statement;
  readonly #deleteWalUpTo: Database.Statement;
  readonly #deleteMarksUpTo: Database.Statement;
  /** Flat [id, bytes, createdMs] of every write-ahead record, oldest first. */
  #walLog: number[] = [];
  #lastWalId = 0;
  /** A checkpoint in progress: heads of `sids` from `next` on still to cut, then records ≤ upTo go. */
  #backgroundCheckpoint: { upTo: number; sids: number[]; next: number } | undefined;
  /** Background compaction in progress over `sids` from `next` on. */
  #backgroundCompaction: { sids: number[]; next: number } | undefined;
  #sliceScheduled = false;
  readonly #healthWrite: Database.Statement;
  #walBytes = 0;
  #walRecords = 0;
  #walOldestMs = 0;
  #headPoints = 0;
  #pointsIngested = 0;
  #batchesIngested = 0;
  /** Reads running in other threads against a snapshot; compaction waits for them. */
  #snapshotReaders = 0;
  #maintenanceDeferred = false;
  #maintenanceScheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #sqliteWal: WalCheckpointer;
  #commitsSinceWalProbe = 0;
  #catchUpScheduled = false;
  readonly #releaseLock: () => void;

  private constructor(options: StoreOptions, releaseLock: () => void) {
    this.#releaseLock = releaseLock;
    this.path = options.path;
    this.tenant = options.tenant;
    this.#headCutPoints = Math.min(options.headCutPoints ?? HEAD_CUT_POINTS, MAX_CHUNK_POINTS);
    this.#walCheckpointBytes = options.walCheckpointBytes ?? WAL_CHECKPOINT_BYTES;
    this.#maintenanceSliceMs = options.maintenanceSliceMs ?? MAINTENANCE_SLICE_MS;
    this.#retentionMs = (options.retentionDays ?? 0) * DAY_MS;
    this.db = openDatabase(options.path, { durability: options.durability ?? 'process', pageSizeBytes: options.pageSizeBytes });
    this.chunks = new ChunkStore(this.db);
    this.#insertSeries = this.db.prepare(SQL.insertSeries);
    this.#insertWal = this.db.prepare(SQL.insertWalRecord);
    this.#upsertMark = this.db.prepare(SQL.upsertHeadMark);
    this.#deleteAllWal = this.db.prepare(SQL.deleteAllWalRecords);
    this.#deleteAllMarks = this.db.prepare(SQL.deleteAllHeadMarks);
    this.#deleteWalUpTo = this.db.prepare(SQL.deleteWalRecordsUpTo);
    this.#deleteMarksUpTo = this.db.prepare(SQL.deleteHeadMarksUpTo);
    this.#healthWrite = this.db.prepare(SQL.writeHealthCheck);
    this.#sqliteWal = new WalCheckpointer(this.path);
  }

  static open(options: StoreOptions): SqliteStore {
    const path = resolve(options.path);
    const releaseLock = acquireWriterLock(path);
    let store: SqliteStore;
    try {
      store = new SqliteStore({ ...options, path }, releaseLock);
    } catch (error) {
      releaseLock();
      throw error;
    }
    try {
      store.#loadState();
      store.applyRetention(Date.now());
    } catch (error) {
      store.db.close();
      releaseLock();
      throw error;
    }
    store.#timer = setInterval(() => store.#maintain(), MAINTENANCE_INTERVAL_MS);
    store.#timer.unref();
    return store;
  }

  /** (Re)builds every in-memory structure from the database: series, chunk catalogue, heads. */
  #loadState(): void {
    this.index.reset();
    const series = this.db.prepare(SQL.allSeries).raw().all() as Array<[number, string, string, string, string]>;
    for (const [id, tenant, metricId, tags, metricType] of series) {
      // Ids are global to the file: other tenants' ids are reserved so new series never reuse them.
      if (tenant !== this.tenant) this.index.reserve(id);
      else this.index.load({ id, metricId, metricType: metricType as MetricType, tags: Object.freeze(parseCanonicalTags(tags)), canonicalTags: tags });
    }
    this.chunks.load(this.db);
    this.#heads.length = 0;
    this.#headPoints = 0;
    const marks = new Map<number, number>();
    for (const [sid, walId] of this.db.prepare(SQL.allHeadMarks).raw().iterate() as IterableIterator<[number, number]>) marks.set(sid, walId);
    this.#walBytes = 0;
    this.#walRecords = 0;
    this.#walOldestMs = 0;
    this.#walLog = [];
    this.#lastWalId = 0;
    this.#backgroundCheckpoint = undefined;
    this.#backgroundCompaction = undefined;
    const records = this.db.prepare(SQL.allWalRecords).raw().iterate() as IterableIterator<[number, Uint8Array, number]>;
    for (const [walId, data, createdMs] of records) {
      const { seriesIds, timestamps, values } = decodeWalRecord(data, walId);
      for (let i = 0; i < seriesIds.length; i++) {
        const sid = seriesIds[i]!;
        const mark = marks.get(sid);
        if (mark !== undefined && mark >= walId) continue;
        this.#headFor(sid).append(timestamps[i]!, values[i]!);
        this.#headPoints++;
      }
      this.#walBytes += data.length;
      this.#walRecords++;
      if (this.#walOldestMs === 0) this.#walOldestMs = createdMs;
      this.#walLog.push(walId, data.length, createdMs);
      this.#lastWalId = walId;
    }
  }

  #headFor(seriesId: number): SeriesHead {
    let head = this.#heads[seriesId];
    if (head === undefined) {
      head = this.#newHead(seriesId);
      this.#heads[seriesId] = head;
    }
    return head;
  }

  /**
   * Points at which this series' head is cut: spread over [cut/2, cut] by a hash of the id, so
   * that series fed in lockstep (one point each per scrape) are not all encoded in the same
   * commit, which would stall that one acknowledgement (1,000 TSBS series: ~4M points at once).
   */
  #cutAt(seriesId: number): number {
    const cut = this.#headCutPoints;
    const spread = Math.floor(cut / 2);
    return spread < 1 ? cut : cut - (Math.imul(seriesId, 0x9e3779b1) >>> 0) % spread;
  }

  /**
   * A head whose initial capacity (16…31 points, by a hash of the id) staggers its doublings
   * too: with equal capacities, 1,000 lockstep series all reallocated 64 MB in the same batch
   * (measured: that batch took 40 ms instead of 1.3 ms).
   */
  #newHead(seriesId: number): SeriesHead {
    return new SeriesHead(this.#cutAt(seriesId), 16 + ((Math.imul(seriesId, 0x85ebca6b) >>> 0) % 16));
  }

  /** The series' head, or undefined when it has none (never had points since the last cut). */
  head(seriesId: number): SeriesHead | undefined {
    const head = this.#heads[seriesId];
    return head !== undefined && head.length > 0 ? head : undefined;
  }

  /**
   * Makes a group of batches durable (see the file comment). Throws when SQLite does; the
   * in-memory state is then rebuilt from the database, so nothing of the group remains.
   */
  commit(batches: readonly IngestBatch[]): void {
    if (this.#closed) throw new Error('storage is closed');
    let total = 0;
    for (const b of batches) total += b.length;
    if (total === 0) return;
    const merged = batches.length === 1 ? batches[0]! : concatBatches(batches, total);
    const record = encodeWalRecord(merged.seriesIds, merged.timestamps, merged.values, total);
    const newSeries = this.index.takePending();
    const nowMs = Date.now();
    let walId = 0;
    try {
      this.db.transaction(() => {
        for (const s of newSeries) this.#insertSeries.run(this.tenant, s.metricId, s.canonicalTags, s.id, s.metricType);
        walId = Number(this.#insertWal.run(nowMs, total, record).lastInsertRowid);
        const { seriesIds, timestamps, values } = merged;
        const heads = this.#heads;
        let toCut: number[] | undefined;
        for (let i = 0; i < total;) {
          const sid = seriesIds[i]!;
          let head = heads[sid];
          if (head === undefined) {
            head = this.#newHead(sid);
            heads[sid] = head;
          }
          // A run of one series (the columnar form sends 100+ points per series) goes in at once.
          let end = i + 1;
          while (end < total && seriesIds[end] === sid) end++;
          const before = head.length;
          if (end - i === 1) head.append(timestamps[i]!, values[i]!);
          else head.appendRun(timestamps, values, i, end);
          if (before < head.cutAt && head.length >= head.cutAt) (toCut ??= []).push(sid);
          i = end;
        }
        if (toCut !== undefined) {
          for (const sid of toCut) this.#cutHead(sid, walId);
        }
      })();
    } catch (error) {
      this.#loadState();
      throw error;
    }
    this.#headPoints += total;
    this.#walBytes += record.length;
    if (this.#walRecords++ === 0) this.#walOldestMs = nowMs;
    this.#walLog.push(walId, record.length, nowMs);
    this.#lastWalId = walId;
    this.#pointsIngested += total;
    this.#batchesIngested += batches.length;
    this.#watchSqliteWal();
    if (this.#walBytes > this.#walCheckpointBytes && !this.#maintenanceScheduled) {
      // After the acknowledgement, not before: the batch that crossed the limit should not wait.
      this.#maintenanceScheduled = true;
      setImmediate(() => {
        this.#maintenanceScheduled = false;
        this.#maintain();
      });
    }
  }

  /**
   * Starts the -wal checkpoint worker once the file has grown, and checkpoints on this
   * connection when the worker has not caught up (see wal_checkpointer.ts).
   */
  #watchSqliteWal(): void {
    const worker = this.#sqliteWal;
    if (!worker.running) {
      if (++this.#commitsSinceWalProbe < SQLITE_WAL_PROBE_COMMITS) return;
      this.#commitsSinceWalProbe = 0;
      let bytes = 0;
      try {
        bytes = statSync(this.path + '-wal').size;
      } catch {
        return;
      }
      if (bytes >= SQLITE_WAL_WORKER_START_BYTES) worker.start();
    } else if (worker.walPages > WAL_CATCH_UP_PAGES && !this.#catchUpScheduled) {
      // After the acknowledgements of this commit, not before.
      this.#catchUpScheduled = true;
      setImmediate(() => {
        this.#catchUpScheduled = false;
        if (this.#closed || worker.walPages <= WAL_CATCH_UP_PAGES) return;
        this.db.pragma('wal_checkpoint(PASSIVE)');
        worker.walPages = 0;
      });
    }
  }

  /** Encodes a head into chunks and marks its records as done. Inside a transaction. */
  #cutHead(seriesId: number, walId: number): void {
    const head = this.#heads[seriesId];
    if (head === undefined || head.length === 0) return;
    const before = head.length;
    const { timestamps, values } = head.sorted();
    this.chunks.write(seriesId, timestamps, values);
    this.#upsertMark.run(seriesId, walId);
    this.#headPoints -= before;
    head.clear(this.#headCutPoints);
  }

  /** Cuts every head and deletes every write-ahead record, in one transaction. */
  checkpoint(): void {
    const touched: number[] = [];
    this.db.transaction(() => {
      for (let sid = 0; sid < this.#heads.length; sid++) {
        const head = this.#heads[sid];
        if (head === undefined || head.length === 0) continue;
        const { timestamps, values } = head.sorted();
        this.chunks.write(sid, timestamps, values);
        touched.push(sid);
      }
      this.#deleteAllWal.run();
      this.#deleteAllMarks.run();
    })();
    for (const sid of touched) this.#heads[sid]!.clear(this.#headCutPoints);
    this.#headPoints = 0;
    this.#walBytes = 0;
    this.#walRecords = 0;
    this.#walOldestMs = 0;
    this.#walLog = [];
    this.#backgroundCheckpoint = undefined;
  }

  /** Starts a background checkpoint of everything written so far, and runs its first slice. */
  #startBackgroundCheckpoint(): void {
    if (this.#backgroundCheckpoint !== undefined) return;
    this.#backgroundCheckpoint = this.#newCheckpoint();
    this.#maintenanceSlice();
  }

  #newCheckpoint(): { upTo: number; sids: number[]; next: number } {
    const sids: number[] = [];
    for (let sid = 0; sid < this.#heads.length; sid++) {
      const head = this.#heads[sid];
      if (head !== undefined && head.length > 0) sids.push(sid);
    }
    return { upTo: this.#lastWalId, sids, next: 0 };
  }

  /**
   * One slice of background maintenance (see the file comment): cuts checkpoint heads, or
   * compacts series, until MAINTENANCE_SLICE_MS passed; schedules the next slice if unfinished.
   * Cut heads are marked with the newest record, exactly as a cut during a commit.
   */
  #maintenanceSlice(): void {
    if (this.#closed) return;
    // Each slice makes progress (one head or series at least), then goes on until the deadline.
    const sliceStart = performance.now();
    const deadline = sliceStart + this.#maintenanceSliceMs;
    const cp = this.#backgroundCheckpoint;
    if (cp !== undefined) {
      try {
        this.db.transaction(() => {
          const walId = this.#lastWalId;
          if (cp.next < cp.sids.length) {
            do this.#cutHead(cp.sids[cp.next++]!, walId);
            while (cp.next < cp.sids.length && performance.now() < deadline);
          }
          if (cp.next === cp.sids.length) {
            this.#deleteWalUpTo.run(cp.upTo);
            this.#deleteMarksUpTo.run(cp.upTo);
          }
        })();
      } catch (error) {
        // Heads may have been cleared inside the rolled-back transaction: rebuild from the file.
        this.#loadState();
        throw error;
      }
      if (cp.next === cp.sids.length) {
        this.#backgroundCheckpoint = undefined;
        this.#dropWalLogUpTo(cp.upTo);
        this.#backgroundCompaction = { sids: [...this.chunks.seriesWithChunks()], next: 0 };
        // Records kept coming meanwhile: if they passed the limit again, checkpoint again first.
        if (this.#walBytes > this.#walCheckpointBytes) this.#backgroundCheckpoint = this.#newCheckpoint();
      }
    } else if (this.#backgroundCompaction !== undefined) {
      if (this.#snapshotReaders > 0) {
        // Compaction deletes chunks a reader may be reading: resumed by endSnapshotRead().
        this.#maintenanceDeferred = true;
        return;
      }
      const c = this.#backgroundCompaction;
      while (c.next < c.sids.length) {
        try {
          this.compactSeries(c.sids[c.next++]!, PACK_RUN_BACKGROUND);
        } catch (error) {
          if (!(error instanceof CorruptChunkError)) throw error;
        }
        if (performance.now() >= deadline) break;
      }
      if (c.next === c.sids.length) this.#backgroundCompaction = undefined;
    }
    if ((this.#backgroundCheckpoint !== undefined || this.#backgroundCompaction !== undefined) && !this.#sliceScheduled) {
      this.#sliceScheduled = true;
      const next = (): void => {
        this.#sliceScheduled = false;
        this.#maintenanceSlice();
      };
      // Paced when the slice used its whole budget (much work left): back to back, slices took
      // ~2/3 of the main thread for a second per checkpoint at half the maximum rate, commits
      // fell behind the load and the queued acknowledgements waited up to 175 ms (p99). A
      // slice that finished early leaves little to do: the rest follows at once. Tests (slice 0)
      // interleave on setImmediate.
      const now = performance.now();
      const pauseMs = this.#maintenanceSliceMs > 0 && now >= deadline ? Math.ceil((now - sliceStart) * MAINTENANCE_PAUSE_PER_WORK) : 0;
      if (pauseMs > 0) setTimeout(next, pauseMs);
      else setImmediate(next);
    }
  }

  /** Forgets the accounting of records ≤ upTo (deleted by a background checkpoint). */
  #dropWalLogUpTo(upTo: number): void {
    const log = this.#walLog;
    let k = 0;
    while (k < log.length && log[k]! <= upTo) k += 3;
    this.#walLog = log.slice(k);
    this.#walBytes = 0;
    for (let j = 1; j < this.#walLog.length; j += 3) this.#walBytes += this.#walLog[j]!;
    this.#walRecords = this.#walLog.length / 3;
    this.#walOldestMs = this.#walRecords > 0 ? this.#walLog[2]! : 0;
  }

  /**
   * Merges a series' overlapping chunks, and packs consecutive small ones into chunks of up to
   * MAX_CHUNK_POINTS. Only chunks that overlap one another are merged with precedence (newer id
   * wins); a cluster's output replaces all of its members, so no chunk outside the cluster
   * shares a timestamp with it and precedence elsewhere is untouched.
   *
   * `minPackRun`: a run of non-overlapping chunks is rewritten only if it has at least this many
   * chunks. Background compaction uses PACK_RUN_BACKGROUND so that a point is rewritten about
   * log4(MAX_CHUNK_POINTS / cut size) times, not once per checkpoint; stop() packs every run.
   */
  compactSeries(seriesId: number, minPackRun = 2): boolean {
    const list = this.chunks.chunksOf(seriesId);
    if (list.length < 2) return false;
    const clusters: ChunkMeta[][] = [];
    let current: ChunkMeta[] = [list[0]!];
    let currentMax = list[0]!.maxTs;
    let currentCount = list[0]!.count;
    for (let k = 1; k < list.length; k++) {
      const c = list[k]!;
      if (c.minTs <= currentMax || currentCount + c.count <= MAX_CHUNK_POINTS) {
        current.push(c);
        currentCount += c.count;
        if (c.maxTs > currentMax) currentMax = c.maxTs;
      } else {
        clusters.push(current);
        current = [c];
        currentMax = c.maxTs;
        currentCount = c.count;
      }
    }
    clusters.push(current);
    const work = clusters.filter((c) => c.length >= minPackRun || (c.length > 1 && hasOverlap(c)));
    if (work.length === 0) return false;
    const name = describeSeries(this.index.get(seriesId));
    this.db.transaction(() => {
      for (const cluster of work) {
        const byAge = [...cluster].sort((a, b) => a.id - b.id);
        let total = 0;
        for (const c of byAge) total += c.count;
        const ts = new Float64Array(total);
        const vs = new Float64Array(total);
        let o = 0;
        const overlapping = hasOverlap(cluster);
        // Without overlaps the chunks concatenate in time order; with them, precedence by age.
        for (const c of overlapping ? byAge : cluster) {
          const d = this.chunks.read(seriesId, c, name);
          ts.set(d.timestamps, o);
          vs.set(d.values, o);
          o += d.timestamps.length;
        }
        const merged = overlapping ? sortDedupLastWins(ts, vs) : { timestamps: ts, values: vs };
        this.chunks.delete(seriesId, new Set(cluster.map((c) => c.id)));
        this.chunks.write(seriesId, merged.timestamps, merged.values);
      }
    })();
    return true;
  }

  /**
   * Compacts every series (stop(), checkpoints). Deferred while snapshot readers run. A series
   * with a chunk that does not decode is left as it is: queries report it, naming the chunk.
   */
  compactAll(minPackRun = 2, deadlineMs = Infinity): void {
    if (this.#snapshotReaders > 0) {
      this.#maintenanceDeferred = true;
      return;
    }
    for (const sid of [...this.chunks.seriesWithChunks()]) {
      try {
        this.compactSeries(sid, minPackRun);
      } catch (error) {
        if (!(error instanceof CorruptChunkError)) throw error;
      }
      if (Date.now() >= deadlineMs) return;
    }
  }

  /** Deletes chunks whose newest point is older than the retention period. */
  applyRetention(nowMs: number): number {
    if (this.#retentionMs <= 0) return 0;
    if (this.#snapshotReaders > 0) {
      this.#maintenanceDeferred = true;
      return 0;
    }
    const cutoff = nowMs - this.#retentionMs;
    let deleted = 0;
    this.db.transaction(() => {
      for (const sid of [...this.chunks.seriesWithChunks()]) {
        const old = new Set<number>();
        for (const c of this.chunks.chunksOf(sid)) if (c.maxTs < cutoff) old.add(c.id);
        if (old.size > 0) {
          this.chunks.delete(sid, old);
          deleted += old.size;
        }
      }
    })();
    return deleted;
  }

  /**
   * Marks the start of a read in another thread (a query worker with its own connection):
   * chunks written after `maxChunkId` are invisible to it (their points are in the heads it was
   * handed), and compaction/retention wait until `endSnapshotRead()`.
   */
  beginSnapshotRead(): { maxChunkId: number } {
    this.#snapshotReaders++;
    return { maxChunkId: this.chunks.maxChunkId };
  }

  endSnapshotRead(): void {
    this.#snapshotReaders--;
    if (this.#snapshotReaders === 0 && this.#maintenanceDeferred) {
      this.#maintenanceDeferred = false;
      setImmediate(() => this.#maintain());
    }
  }

  #maintain(): void {
    if (this.#closed) return;
    if (this.#snapshotReaders > 0) {
      this.#maintenanceDeferred = true;
      return;
    }
    const now = Date.now();
    if (this.#walBytes > this.#walCheckpointBytes || (this.#walRecords > 0 && now - this.#walOldestMs > WAL_MAX_AGE_MS)) {
      this.#startBackgroundCheckpoint();
    } else if (this.#backgroundCompaction !== undefined) {
      this.#maintenanceSlice();
    }
    this.applyRetention(now);
  }

  stats(): StorageStats {
    return {
      series: this.index.size,
      chunks: this.chunks.chunkCount,
      headPoints: this.#headPoints,
      walBytes: this.#walBytes,
      pointsIngested: this.#pointsIngested,
      batchesIngested: this.#batchesIngested,
      diskBytes: databaseFileBytes(this.path),
    };
  }

  /** Throws when the database cannot be written: performs a one-row write and commit. */
  checkWritable(): void {
    if (this.#closed) throw new Error(`${this.path}: storage is closed`);
    this.#healthWrite.run(String(Date.now()));
  }

  /**
   * Flushes every head into chunks, deletes the write-ahead records, compacts chunks and the
   * file, and closes. A later open() finds every point in chunks.
   */
  close(): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#sqliteWal.close();
    try {
      this.checkpoint();
      this.#snapshotReaders = 0;
      // Bounded: a supervisor allows 10 s after SIGTERM, and packing every series after a busy
      // run took 8 s (bench/server_ingest.bench.ts, 8,000 series). Chunks left unpacked are
      // valid, only smaller; later compactions pack them.
      this.compactAll(2, Date.now() + CLOSE_COMPACTION_BUDGET_MS);
      this.applyRetention(Date.now());
      this.#compactFile();
    } finally {
      this.#closed = true;
      this.db.close();
      this.#releaseLock();
    }
  }

  /**
   * Closes without checkpoint, compaction or anything else: what a killed process leaves
   * behind (heads only in write-ahead records, the -wal file in place). For crash tests.
   */
  abandon(): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#sqliteWal.close();
    this.#closed = true;
    this.db.close();
    this.#releaseLock();
  }

  /**
   * Returns free pages (deleted write-ahead records, rewritten chunks) to the file system.
   * VACUUM rewrites the live data compactly; its cost follows the live size, so it runs when
   * the file is small or the garbage is a good share of it. Otherwise incremental_vacuum moves
   * pages into the holes one by one (measured: 5.1 s vs 1.3 s for VACUUM on the 24 h TSBS file,
   * 10 MB live and ~45 MB of deleted records; both leave ~1.155 bytes/point).
   */
  #compactFile(): void {
    const pageSize = this.db.pragma('page_size', { simple: true }) as number;
    const pages = this.db.pragma('page_count', { simple: true }) as number;
    const free = this.db.pragma('freelist_count', { simple: true }) as number;
    if (free === 0) {
      // Nothing to return.
    } else if (pages * pageSize <= VACUUM_MAX_BYTES || free * VACUUM_MIN_FREE_SHARE >= pages) {
      this.db.pragma('wal_checkpoint(TRUNCATE)');
      this.db.exec('VACUUM');
    } else {
      this.db.pragma('incremental_vacuum');
    }
    this.db.pragma('wal_checkpoint(TRUNCATE)');
  }
}

/** Whether chunks given in (minTs, id) order overlap in time. */
function hasOverlap(sortedByMinTs: readonly ChunkMeta[]): boolean {
  let maxSoFar = -Infinity;
  for (const c of sortedByMinTs) {
    if (c.minTs <= maxSoFar) return true;
    if (c.maxTs > maxSoFar) maxSoFar = c.maxTs;
  }
  return false;
}

function concatBatches(batches: readonly IngestBatch[], total: number): IngestBatch {
  const seriesIds = new Uint32Array(total);
  const timestamps = new Float64Array(total);
  const values = new Float64Array(total);
  let o = 0;
  for (const b of batches) {
    seriesIds.set(b.seriesIds.subarray(0, b.length), o);
    timestamps.set(b.timestamps.subarray(0, b.length), o);
    values.set(b.values.subarray(0, b.length), o);
    o += b.length;
  }
  return { seriesIds, timestamps, values, length: total };
}

/** Bytes of the database file and its -wal and -shm companions. */
export function databaseFileBytes(path: string): number {
  let total = 0;
  for (const suffix of ['', '-wal', '-shm']) {
    try {
      total += statSync(path + suffix).size;
    } catch {
      // A missing -wal/-shm (after close) counts as zero.
    }
  }
  return total;
}
