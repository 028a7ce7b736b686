/**
 * The storage engine, the same over every back-end (backend.ts): series catalogue,
 * write-ahead records, heads, the cut pipeline, compaction, retention and settling. Ingest
 * hands it validated columnar batches (`commit`); queries read chunks through the back-end's
 * ChunkSource and heads through `head()`.
 *
 * Write path of one group commit (one back-end write transaction):
 *   1. rows for series created since the last commit;
 *   2. one write-ahead record holding every point of the group (columnar, lz4);
 *   3. points appended to their series' heads.
 * The promise of every batch of the group resolves after the transaction committed.
 *
 * Writes: one transaction at a time (#write). Each fills its transaction and changes the
 * in-memory state in one synchronous step, then awaits the commit; its after-commit step runs
 * before the next transaction starts. When a commit fails, the in-memory state is rebuilt from
 * the back-end (#reload), where nothing acknowledged was lost (heads come back from the
 * write-ahead records). With SQLite a commit has finished when commit() returns, so the write
 * path runs as one synchronous step, as it did before back-ends existed.
 *
 * Cuts: a head reaching its cut size becomes a pending cut, and the chunk encoder thread
 * (chunk_encoder.ts) sorts and encodes it. Its chunk rows land later, in a short transaction
 * of their own together with the series' mark (the series' points of records up to the cut's
 * record are in chunks; replay skips them). Until then the cut's points are read from memory,
 * and a kill before the landing replays them from the records. Encoding on this thread took
 * ~15% of it at 3 M points/s, and every batch is acknowledged here.
 *
 * Checkpoint (when the records exceed WAL_CHECKPOINT_BYTES or the oldest is older than
 * WAL_MAX_AGE_MS): every head is cut (marked with the newest record, W); once those cuts
 * landed, slices delete the records ≤ W and then the marks ≤ W. Compaction follows: the writer
 * plans which of a series' chunks to merge (small or overlapping ones) and reads their bytes,
 * the encoder thread merges them into chunks of up to STORED_CHUNK_MAX_POINTS (newest write
 * winning on equal timestamps), and the writer swaps the rows unless the series changed
 * meanwhile. Writer-thread steps run in slices of MAINTENANCE_SLICE_MS between commits, paced
 * by MAINTENANCE_PAUSE_PER_WORK so that commits keep up with the load. At stop the checkpoint
 * is one transaction (`checkpoint()`) and compaction runs on this thread.
 *
 * Settling (settle_policy.ts decides when): once ingest is quiet, `settleIfQuiet()` runs a
 * background checkpoint limited to the heads of idle series worth a chunk, which deletes the
 * records below the oldest one any remaining head or unlanded cut holds (`#deletableUpTo`),
 * then packs the series cut since the last settle; both stop when load returns. Heads and
 * pending cuts past HEAD_POINTS_LIMIT start a full checkpoint, as the write-ahead limits do.
 *
 * Lifecycle: `StorageEngine.open()` (opens the back-end, loads series and chunk catalogue,
 * replays records), any number of commit()/reads, `close()` (checkpoint, compaction, close).
 *
 * Size: ~1,450 lines, over the house limit. Outside it are the write turn and read gate
 * (write_turn.ts), compaction planning (compaction_plan.ts), the chunk catalogue
 * (chunk_catalog.ts) and the settling policy (settle_policy.ts). The cut pipeline, the
 * checkpoint slices and the compaction slices remain together because they share the
 * pending-cut queue (a checkpoint waits for its cuts to land, compaction for them to be
 * planned) and one maintenance scheduler with one pacing rule. Splitting them means giving
 * that queue and the scheduler an interface of their own; it is the next step, now guarded
 * by the conformance suite on all three back-ends.
 */
import { SeriesCatalog, type SeriesInfo } from './series_index.js';
import { BLOCK_POINTS, GatheredPoints, HeadTable, type HeadPoints } from './head.js';
import { ChunkCatalog, type ChunkMeta } from './chunk_catalog.js';
import { DEFAULT_ROLLUP_BUDGET_BYTES, RollupStore } from './rollup/rollup_store.js';
import { RollupCatalog } from './rollup/rollup_catalog.js';
import { buildCutRollups } from './rollup/cut_rollups.js';
import { CODEC_EMMS_CHUNK, CorruptChunkError, STORED_CHUNK_MAX_POINTS, describeSeries } from './chunk_rows.js';
import { decodeStored, encodeCut, mergeCluster, type ChunkDefect, type EncodedChunk, type StoredChunk } from './chunk_encoding.js';
import { createChunkEncoder, type ChunkEncoder, type ChunkEncoding } from './chunk_encoder.js';
import type { EncodeResult } from './chunk_encode_task.js';
import { decodeWalRecord, encodeWalRecord } from './write_ahead_log.js';
import { CommitRateWindow, HeadAges, deletableUpTo, isQuiet, pickSettleCuts, resolveSettleConfig, type SettleConfig } from './settle_policy.js';
import { hasOverlap, overlapsCluster, planCompaction } from './compaction_plan.js';
import { parseCanonicalTags } from '../model/metric.js';
import type { StorageMaintenance, StorageStats } from '../model/api.js';
import type { ChunkSource, StorageBackend, WorkerSourceSpec, WriteTransaction } from './backend.js';
import type { IngestBatch } from './ingest_batch.js';
import { WriterLeaseLostError } from './storage_errors.js';
import { WriteTurn } from './write_turn.js';

export type { IngestBatch };

/**
 * Points at which a head is cut into a chunk (each series at its own point in [2048, 4096],
 * see cutAt). Bounds head memory to 64 KiB per busy series
 * (1,000 series: 64 MiB); compaction later packs consecutive cuts into chunks of up to
 * STORED_CHUNK_MAX_POINTS, which is what the storage target needs.
 */
export const HEAD_CUT_POINTS = 4096;
/** Write-ahead bytes that trigger a checkpoint: bounds replay at start (~12M points, about a second). */
export const WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024;
/** Age of the oldest write-ahead record that triggers a checkpoint (so idle series get cut). */
export const WAL_MAX_AGE_MS = 2 * 3600_000;
/** Background compaction packs a run of small chunks only when it merges at least this many. */
const PACK_RUN_BACKGROUND = 4;
/**
 * The compaction after settling packs every run of two or more: the server is quiet, and a
 * chunk that is not full is rewritten at most STORED_CHUNK_MAX_POINTS / minCutPoints times
 * (settle_policy.ts) before it is, once per quiet period.
 */
const PACK_RUN_SETTLE = 2;
/**
 * Points in heads and pending cuts past which a checkpoint starts (as the write-ahead limit
 * would): 16M points, 256 MiB of columns. At the usual ~5 bytes per point of records the
 * 64 MiB record limit (~12M points) comes first; this bounds head memory when records
 * compress better than 4 bytes per point (constant values) or when many series hold few points.
 */
const HEAD_POINTS_LIMIT = 16 * 1024 * 1024;
/**
 * Longest the background checkpoint or compaction holds the event loop per slice; commits (and
 * their acks) run between slices. A commit arriving meanwhile waits up to this long. At half the
 * maximum rate 4 ms gave a steady ack p99 of 35–39 ms, 8 ms 42–49 ms (target 50 ms). Measured
 * again with encoding in its own thread: 2 ms slices (with pause factor 3 or 7) left the
 * compaction that follows a burst running into the next load, ack p50 11–13 ms instead of 3 ms.
 */
const MAINTENANCE_SLICE_MS = 4;
/**
 * Pause after a slice per millisecond of its work: 3 leaves background maintenance a quarter of
 * the main thread. A checkpoint's writer-thread work (cutting ~8,000 heads, landing their
 * chunks, deleting records) then spreads over about a second, while records for the next one
 * take ~6 s to accumulate even at the maximum rate.
 */
const MAINTENANCE_PAUSE_PER_WORK = 3;
/**
 * The same for compaction while batches keep arriving (a commit in the last INGEST_ACTIVE_MS):
 * compaction only saves space and read time, and at a quarter of the writer thread the
 * compaction after a burst (~30,000 chunks) kept the ack p50 at 11–13 ms for the next 10 s.
 */
const COMPACTION_PAUSE_PER_WORK_UNDER_LOAD = 15;
/**
 * The same for settling (settle_policy.ts), which runs only while ingest is quiet: a commit
 * arriving then waits at most one slice whatever the pause, and the pause only matters to a
 * sustained stream, which stops settling once it passes the quiet rate. Half the writer thread
 * instead of a quarter halves the time from quiet to settled.
 */
const SETTLE_PAUSE_PER_WORK = 1;
/** How often stats() recomputes what settling would do while ingest is busy (see #settleStats). */
const STATS_SETTLE_REFRESH_MS = 1000;
const INGEST_ACTIVE_MS = 100;
/**
 * Cuts per task sent to the chunk encoder at most. (A task's points used to be cloned on this
 * thread when it was posted: 128 checkpoint cuts, ~4 MB, 5–10 ms; they are in shared memory
 * now, see HeadTable.take in head.ts.) Smaller tasks were tried: with 32,
 * the four times as many results and landings kept the ack p50 at 11–13 ms (instead of 3 ms)
 * while the maintenance after a burst ran.
 */
const CUTS_PER_ENCODE_TASK = 128;
/**
 * Cut tasks at the encoder at once. More cuts wait and go together in the next task: under
 * load tasks grow instead of multiplying (one task per commit cost more in hand-offs than
 * in encoding: 400 tasks/s of one or two cuts each fell behind).
 */
const ENCODE_TASKS_IN_FLIGHT = 2;
/**
 * Points of pending cuts past which the writer encodes cuts itself (#encodeFrontCutsHere):
 * 16M points hold 256 MiB; the encoder normally keeps the backlog under a few hundred thousand.
 */
const MAX_PENDING_CUT_POINTS = 16 * 1024 * 1024;
/** How long encoded cuts wait for a commit to carry them before landing on their own. */
const LANDING_WAIT_MS = 2;
/** Time a commit spends landing encoded cuts at most (its acknowledgement waits for it). */
const LAND_IN_COMMIT_MS = 1;
/** Points of the chunks one background compaction task merges, at most (bounds its memory). */
const MERGE_TASK_POINTS = 262_144;
/** Write-ahead bytes a checkpoint deletes per slice: freeing ~64 MiB of pages at once took 20+ ms. */
const WAL_DELETE_BYTES_PER_SLICE = 4 * 1024 * 1024;
/** Times compactSeries plans again when the series changed between its read and its write. */
const COMPACT_SERIES_ATTEMPTS = 5;
/** Time stop() spends packing chunks at most (see close()). */
const CLOSE_COMPACTION_BUDGET_MS = 3000;
/** How often the age of the write-ahead records and retention are checked. */
const MAINTENANCE_INTERVAL_MS = 30_000;
/** How often stats() asks the back-end for its size (a network round trip for PostgreSQL and Redis). */
const SIZE_REFRESH_MS = 2000;
const DAY_MS = 86_400_000;
/** Set in an erasure's transaction, cleared once the back-end holds none of the erased bytes. */
export const SCRUB_PENDING_KEY = 'erasure_scrub_pending';

export interface StoreOptions {
  /** The opened back-end (backends.ts); the engine closes it. */
  backend: StorageBackend;
  /** 0 = keep forever. */
  retentionDays?: number;
  /** A tenant's own retention in days (0 = keep forever); default `retentionDays` for every tenant. */
  retentionDaysOf?: ((tenant: string) => number) | undefined;
  /** Tests shrink these to exercise cuts and checkpoints with few points. */
  headCutPoints?: number | undefined;
  walCheckpointBytes?: number | undefined;
  /** MAINTENANCE_SLICE_MS; tests set 0 (one head or series per slice) to interleave slices with commits. */
  maintenanceSliceMs?: number | undefined;
  /** MAX_PENDING_CUT_POINTS; tests shrink it to make the writer take over encoding. */
  maxPendingCutPoints?: number | undefined;
  /** Where chunks are encoded and merged: a thread of their own (default) or inline. */
  chunkEncoding?: ChunkEncoding | undefined;
  /** lz4 for write-ahead records where it pays (default), or none. */
  compression?: 'lz4' | 'none' | undefined;
  /** Replaces the encoder chunkEncoding picks: tests decide when its tasks finish. */
  chunkEncoder?: ChunkEncoder | undefined;
  /** When to settle (settle_policy.ts); the EMMS_SETTLE_* environment variables override it. */
  settle?: Partial<SettleConfig> | undefined;
  /** HEAD_POINTS_LIMIT; tests shrink it. */
  headPointsLimit?: number | undefined;
  /** The settle policy's clock (Date.now); tests move it. */
  clock?: (() => number) | undefined;
  /**
   * Asked before each write transaction: false once this node may no longer write the store
   * (it lost the writer lease of a shared back-end, src/cluster/writer_lease.ts).
   */
  mayWrite?: (() => boolean) | undefined;
  /** Memory for rollups (src/storage/rollup/rollup_store.ts), default DEFAULT_ROLLUP_BUDGET_BYTES; 0 = none. */
  rollupBudgetBytes?: number | undefined;
}

/**
 * A head cut whose chunk has not landed: its points stay readable (and in the write-ahead
 * records) until the chunk rows and the series' mark are committed together.
 */
interface PendingCut {
  seriesId: number;
  /** The newest record whose points of this series the cut holds. */
  walId: number;
  /** The oldest such record (a checkpoint deletes none from it on until the cut landed). */
  firstWal: number;
  timestamps: Float64Array;
  values: Float64Array;
  inOrder: boolean;
  minTs: number;
  /** Set when the encoder returned. */
  chunks: EncodedChunk[] | undefined;
  /**
   * True while an encoder task holding this cut's buffers is out. The buffers are shared
   * memory: a cut the writer encoded itself may land while the encoder thread still reads them,
   * and they go back to the buffer pool only when both are done (#releaseCutBuffers).
   */
  atEncoder: boolean;
  landed: boolean;
  /** The ids its chunks got when they were inserted (for their rollups once committed). */
  chunkIds?: number[];
}

/** What a commit's transaction did: its record's id, the heads that reached their cut, the cuts it landed. */
interface CommitOutcome {
  walId: number;
  cutNow: Set<number> | undefined;
  landed: PendingCut[] | undefined;
}

/** Background compaction over `sids` from `next` on; `merging` is the task at the encoder, `landing` its result. */
interface BackgroundCompaction {
  sids: number[];
  next: number;
  /** Started by settling: packs runs of PACK_RUN_SETTLE, and stops when the server is no longer quiet. */
  settle?: boolean;
  merging: PlannedMerge[] | undefined;
  landing: PlannedMerge[] | undefined;
}

/** A background compaction task's series, as planned, and what the encoder made of it. */
interface PlannedMerge {
  seriesId: number;
  clusters: ChunkMeta[][];
  /** Chunks with a higher id were written after planning (see #applyMerge). */
  maxChunkIdAtPlan: number;
  result: EncodedChunk[][] | ChunkDefect | undefined;
}

export class StorageEngine {
  /** Where the data is (the back-end's location, password redacted). */
  readonly location: string;
  readonly backend: StorageBackend;
  /** Every tenant's series; `catalog.tenant(name)` is one tenant's names. */
  readonly catalog = new SeriesCatalog();
  readonly chunks: ChunkCatalog;
  /** Rollups of chunks, in memory (src/storage/rollup/): built when cuts land, dropped with their chunks. */
  readonly rollups: RollupStore;
  /** Reads of committed chunks on this thread. */
  readonly chunkSource: ChunkSource;

  readonly #heads: HeadTable;
  readonly #walCheckpointBytes: number;
  readonly #maintenanceSliceMs: number;
  readonly #maxPendingCutPoints: number;
  /** Points of cuts not landed yet. */
  #pendingCutPoints = 0;
  readonly #retentionDaysOf: (tenant: string) => number;
  readonly #compressRecords: boolean;
  /** Flat [id, bytes, createdMs] of every write-ahead record, oldest first. */
  #walLog: number[] = [];
  #lastWalId = 0;
  /**
   * A checkpoint in progress: the heads of `sids` from `next` on are still to cut; once they
   * are and the cuts up to `lastCut` landed, records ≤ upTo go.
   */
  #backgroundCheckpoint: { upTo: number; sids: number[]; next: number; lastCut: number; settle?: boolean } | undefined;
  #backgroundCompaction: BackgroundCompaction | undefined;
  readonly #encoder: ChunkEncoder;
  /** Per series, its cuts not landed yet, oldest first. */
  #pendingCutsOf: (PendingCut[] | undefined)[] = [];
  /** Every cut not landed yet, in the order they must land (a series' marks only move forward). */
  #cutQueue: PendingCut[] = [];
  #cutQueueStart = 0;
  #cutsToSend: PendingCut[] = [];
  /** Landed cuts whose buffers went back to the pool (tests check none is released early). */
  #cutBuffersReleased = 0;
  /** Cuts queued and landed since start: a checkpoint waits for its last cut's number. */
  #cutsQueued = 0;
  #cutsLanded = 0;
  #landingScheduled = false;
  #encodeTasksInFlight = 0;
  #lastCommitAt = -Infinity;
  #cutsEncodedHere = 0;
  /** Bumped when in-memory state is rebuilt or closed: results of older tasks are dropped. */
  #generation = 0;
  #encoderFailures = 0;
  #maintenanceFailures = 0;
  #lastMaintenanceError: string | undefined;
  #sliceScheduled = false;
  #walBytes = 0;
  #walRecords = 0;
  #walOldestMs = 0;
  #headPoints = 0;
  #pointsIngested = 0;
  #batchesIngested = 0;
  #maintenanceScheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** close() started: no background step starts a write any more. */
  #closing = false;
  /** One write at a time, and the gate between chunk-deleting writes and snapshot reads. */
  readonly #turn = new WriteTurn();
  /** The newest committed chunk id: what reads may see (beginSnapshotRead). */
  #readBound = 0;
  #backendBytes = 0;
  #backendBytesAt = -Infinity;
  #sizeRefreshing = false;
  readonly #settleConfig: SettleConfig;
  readonly #headPointsLimit: number;
  readonly #clock: () => number;
  readonly #mayWrite: (() => boolean) | undefined;
  readonly #commitRate: CommitRateWindow;
  readonly #headAges = new HeadAges();
  #settleTimer: NodeJS.Timeout | undefined;
  /** When the last settle's compaction finished (0 = never); a settle compaction that load stopped. */
  #lastSettledAt = 0;
  /** Series cut since the last settle compaction: what it packs. */
  #settleDirty = new Set<number>();
  #settleStatsCache: { atMs: number; work: { cut: number[]; waiting: number; recordsDue: boolean } } | undefined;

  private constructor(options: StoreOptions) {
    this.backend = options.backend;
    this.location = options.backend.location;
    this.chunkSource = options.backend.chunkSource();
    this.rollups = new RollupStore(options.rollupBudgetBytes ?? DEFAULT_ROLLUP_BUDGET_BYTES);
    this.chunks = new RollupCatalog(this.rollups);
    this.#heads = new HeadTable(Math.min(options.headCutPoints ?? HEAD_CUT_POINTS, STORED_CHUNK_MAX_POINTS));
    this.#walCheckpointBytes = options.walCheckpointBytes ?? WAL_CHECKPOINT_BYTES;
    this.#maintenanceSliceMs = options.maintenanceSliceMs ?? MAINTENANCE_SLICE_MS;
    this.#maxPendingCutPoints = options.maxPendingCutPoints ?? MAX_PENDING_CUT_POINTS;
    const retentionDays = options.retentionDays ?? 0;
    this.#retentionDaysOf = options.retentionDaysOf ?? (() => retentionDays);
    this.#compressRecords = options.compression !== 'none';
    this.#settleConfig = resolveSettleConfig(options.settle, process.env);
    this.#headPointsLimit = options.headPointsLimit ?? HEAD_POINTS_LIMIT;
    this.#clock = options.clock ?? Date.now;
    this.#mayWrite = options.mayWrite;
    this.#commitRate = new CommitRateWindow(this.#settleConfig.quietWindowMs);
    this.#encoder = options.chunkEncoder ?? createChunkEncoder(options.chunkEncoding ?? 'worker');
    // Before any load: started at the first commit instead, its start-up (module loading, WASM
    // compilation) competed with the first second of ingest and stretched it (ack p99 90 ms).
    this.#encoder.warm();
  }

  /** Rebuilds the state from the back-end, applies retention, finishes an erasure's scrub. Closes the back-end on failure. */
  static async open(options: StoreOptions): Promise<StorageEngine> {
    let store: StorageEngine;
    try {
      store = new StorageEngine(options);
    } catch (error) {
      await options.backend.abandon();
      throw error;
    }
    try {
      const meta = await store.#loadState();
      await store.applyRetention(Date.now());
      // An erasure killed between its deletion and its scrub: the erased bytes may still be in the back-end's free space.
      if (meta.has(SCRUB_PENDING_KEY)) await store.finishErasureScrub();
      await store.#refreshSize();
    } catch (error) {
      store.#closed = true;
      store.#encoder.close();
      await options.backend.abandon();
      throw error;
    }
    store.#timer = setInterval(() => store.#maintain(), MAINTENANCE_INTERVAL_MS);
    store.#timer.unref();
    store.#settleTimer = setInterval(() => store.settleIfQuiet(), store.#settleConfig.checkIntervalMs);
    store.#settleTimer.unref();
    return store;
  }

  /** (Re)builds every in-memory structure from the back-end: series, chunk catalogue, heads. Returns its meta. */
  async #loadState(): Promise<Map<string, string>> {
    const state = await this.backend.load();
    this.catalog.reset();
    for (const { id, tenant, metricId, canonicalTags, metricType } of state.series) {
      this.catalog.load({ id, tenant, metricId, metricType, tags: Object.freeze(parseCanonicalTags(canonicalTags)), canonicalTags });
    }
    this.chunks.load(state.chunks);
    this.#readBound = this.chunks.maxChunkId;
    this.#forgetPendingCuts();
    this.#heads.reset();
    this.#headPoints = 0;
    this.#headAges.reset();
    const marks = state.marks;
    this.#walBytes = 0;
    this.#walRecords = 0;
    this.#walOldestMs = 0;
    this.#walLog = [];
    this.#lastWalId = 0;
    this.#backgroundCheckpoint = undefined;
    this.#backgroundCompaction = undefined;
    for await (const { id: walId, data, createdMs } of state.walRecords()) {
      const { seriesIds, timestamps, values } = decodeWalRecord(data, walId);
      for (let i = 0; i < seriesIds.length; i++) {
        const sid = seriesIds[i]!;
        const mark = marks.get(sid);
        if (mark !== undefined && mark >= walId) continue;
        this.#heads.append(sid, timestamps[i]!, values[i]!);
        this.#headPoints++;
        this.#headAges.noteAppend(sid, walId, createdMs);
      }
      this.#walBytes += data.length;
      this.#walRecords++;
      if (this.#walOldestMs === 0) this.#walOldestMs = createdMs;
      this.#walLog.push(walId, data.length, createdMs);
      this.#lastWalId = walId;
    }
    // Ids the engine hands out continue after every id the back-end holds (a failed commit's are skipped).
    for (const [, walId] of marks) if (walId > this.#lastWalId) this.#lastWalId = walId;
    return state.meta;
  }

  /**
   * Runs one write transaction (see the file comment): `fill` records its operations and
   * changes the in-memory state; `after` runs once it committed, before any other write.
   * A failed commit rebuilds the in-memory state from the back-end and rejects.
   *
   * `deletesChunks`: the transaction deletes chunks that a snapshot read may be reading
   * (compaction, retention, erasure, cleanup). From this call until its commit returned, new
   * snapshot reads wait (snapshotReady()), and its fill waits for the running ones to end: a
   * read never loses chunks under its bound mid-way, and a steady stream of queries cannot
   * starve compaction. With SQLite the commit returns at once, so reads wait only while
   * earlier readers drain.
   */
  write<T>(fill: (tx: WriteTransaction) => T, after?: (result: T) => void, options: { deletesChunks?: boolean } = {}): Promise<T> {
    return this.#inWriteTurn(() => this.#transaction(fill, after), options.deletesChunks === true);
  }

  /** Runs `body` in the write turn (write_turn.ts), refused once the store is closed or this node may no longer write. */
  #inWriteTurn<T>(body: () => Promise<T>, deletesChunks: boolean): Promise<T> {
    return this.#turn.run(async () => {
      if (this.#closed) throw new Error(`${this.location}: storage is closed`);
      if (this.#mayWrite !== undefined && !this.#mayWrite()) throw new WriterLeaseLostError(this.location);
      return body();
    }, deletesChunks);
  }

  /** One write transaction (in the write turn): fill, commit, after; a failure rebuilds the state from the back-end. */
  async #transaction<T>(fill: (tx: WriteTransaction) => T, after: ((result: T) => void) | undefined): Promise<T> {
    const tx = this.backend.beginWrite();
    let result: T;
    try {
      result = fill(tx);
    } catch (error) {
      tx.rollback();
      await this.#reload();
      throw error;
    }
    try {
      await tx.commit();
    } catch (error) {
      await this.#reload();
      throw error;
    }
    this.#readBound = this.chunks.maxChunkId;
    after?.(result);
    return result;
  }

  #hasChunkBefore(boundMs: number): boolean {
    for (const sid of this.chunks.seriesWithChunks()) if ((this.chunks.chunksOf(sid)[0]?.minTs ?? Infinity) < boundMs) return true;
    return false;
  }

  /**
   * Rebuilds every in-memory structure from the back-end between two writes (`emms reindex`:
   * the catalogue then holds what the back-end holds, rows written behind the engine's back
   * included). Heads come back from the write-ahead records; a background step restarts later.
   */
  reloadFromBackend(): Promise<void> {
    return this.#inWriteTurn(async () => {
      await this.#loadState();
    }, false);
  }

  /**
   * After a failed write (inside its write turn, so no other write runs meanwhile): the state
   * is read again from the back-end, where nothing acknowledged was lost.
   */
  async #reload(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#loadState();
    } catch (error) {
      this.#lastMaintenanceError = `rebuilding state failed: ${(error as Error).message}`;
    }
  }

  /**
   * The series' points not in chunks yet (its head, after the cuts whose chunks have not
   * landed), or undefined when there are none. With pending cuts this is a merged copy.
   */
  head(seriesId: number): HeadPoints | undefined {
    const pending = this.#pendingCutsOf[seriesId];
    if (pending === undefined || pending.length === 0) return this.#heads.view(seriesId);
    let total = this.#heads.length(seriesId);
    for (const cut of pending) total += cut.timestamps.length;
    const gathered = new GatheredPoints(total);
    // Oldest first, the live head last: of equal timestamps the latest arrival wins (the live
    // head's own duplicates are resolved by sorting it, which keeps its latest arrival).
    for (const cut of pending) gathered.appendRun(cut.timestamps, cut.values, 0, cut.timestamps.length);
    const live = this.#heads.sorted(seriesId);
    gathered.appendRun(live.timestamps, live.values, 0, live.timestamps.length);
    return gathered;
  }

  /** How a query worker reaches this store's chunks. */
  workerSource(): WorkerSourceSpec {
    return this.backend.workerSource();
  }

  /**
   * Makes a group of batches durable (see the file comment). Rejects when the back-end's
   * commit does; the in-memory state is then rebuilt from it, so nothing of the group remains.
   */
  commit(batches: readonly IngestBatch[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`${this.location}: storage is closed`));
    let total = 0;
    for (const b of batches) total += b.length;
    if (total === 0) return Promise.resolve();
    // A write that waits its turn must not share the reused group columns with the next group.
    const queued = this.#turn.busy;
    const merged = batches.length === 1 ? batches[0]! : concatBatches(batches, total, !queued);
    const record = encodeWalRecord(merged.seriesIds, merged.timestamps, merged.values, total, this.#compressRecords);
    const nowMs = this.#clock();
    return this.write(
      (tx) => this.#writeCommit(tx, merged, record, this.catalog.takePending(), nowMs),
      (outcome) => this.#afterCommit(outcome, total, batches.length, record.length, nowMs),
    ).then(() => undefined);
  }

  /**
   * The transaction side of commit: new series, the write-ahead record, the points appended
   * to their heads, and encoded cuts landed on the way.
   */
  #writeCommit(tx: WriteTransaction, merged: IngestBatch, record: Uint8Array, newSeries: readonly SeriesInfo[], nowMs: number): CommitOutcome {
    for (const s of newSeries) tx.insertSeries({ id: s.id, tenant: s.tenant, metricId: s.metricId, canonicalTags: s.canonicalTags, metricType: s.metricType });
    const walId = ++this.#lastWalId;
    tx.appendWalRecord({ id: walId, createdMs: nowMs, points: merged.length, data: record });
    const { seriesIds, timestamps, values } = merged;
    const total = merged.length;
    const heads = this.#heads;
    const ages = this.#headAges;
    let cutNow: Set<number> | undefined;
    for (let i = 0; i < total;) {
      const sid = seriesIds[i]!;
      // A run of one series (the columnar form sends 100+ points per series) goes in at once.
      let end = i + 1;
      while (end < total && seriesIds[end] === sid) end++;
      const full = end - i === 1 ? heads.append(sid, timestamps[i]!, values[i]!) : heads.appendRun(sid, timestamps, values, i, end);
      if (full) (cutNow ??= new Set()).add(sid);
      ages.noteAppend(sid, walId, nowMs);
      i = end;
    }
    this.#headPoints += total;
    if (this.#pendingCutPoints > this.#maxPendingCutPoints) this.#encodeFrontCutsHere(total);
    const landed = this.#frontCutEncoded() ? this.#landEncodedCuts(tx, performance.now() + LAND_IN_COMMIT_MS) : undefined;
    return { walId, cutNow, landed };
  }

  #afterCommit(outcome: CommitOutcome, total: number, batches: number, recordBytes: number, nowMs: number): void {
    const { walId, cutNow, landed } = outcome;
    if (landed !== undefined) this.#cutsHaveLanded(landed);
    if (cutNow !== undefined) {
      for (const sid of cutNow) this.#cut(sid, walId);
      this.#sendCuts();
    }
    if (landed !== undefined) this.#afterLanding();
    this.#walBytes += recordBytes;
    if (this.#walRecords++ === 0) this.#walOldestMs = nowMs;
    this.#walLog.push(walId, recordBytes, nowMs);
    this.#lastCommitAt = performance.now();
    this.#commitRate.note(this.#clock(), total);
    this.#pointsIngested += total;
    this.#batchesIngested += batches;
    this.backend.afterCommit?.();
    if (this.#overLimits() && !this.#maintenanceScheduled) {
      // After the acknowledgement, not before: the batch that crossed the limit should not wait.
      this.#maintenanceScheduled = true;
      setImmediate(() => {
        this.#maintenanceScheduled = false;
        this.#maintain();
      });
    }
  }

  /**
   * Cuts a head: its points become a pending cut, encoded by the chunk encoder and landed by
   * #landCuts (chunk rows + the series' mark in one transaction). Until then they stay readable
   * through head(), and in the write-ahead records for replay.
   */
  #cut(seriesId: number, walId: number): void {
    if (this.#heads.length(seriesId) === 0) return;
    const taken = this.#heads.take(seriesId);
    // 1 (the oldest record there can be) if unknown: it only holds a checkpoint back.
    const firstWal = this.#headAges.firstWal[seriesId] || 1;
    this.#headAges.noteCut(seriesId);
    const cut: PendingCut = { seriesId, walId, firstWal, ...taken, chunks: undefined, atEncoder: false, landed: false };
    (this.#pendingCutsOf[seriesId] ??= []).push(cut);
    this.#cutQueue.push(cut);
    this.#cutsToSend.push(cut);
    this.#cutsQueued++;
    this.#pendingCutPoints += cut.timestamps.length;
  }

  /** Sends waiting cuts to the encoder, in tasks of up to CUTS_PER_ENCODE_TASK, ENCODE_TASKS_IN_FLIGHT at a time. */
  #sendCuts(): void {
    while (this.#cutsToSend.length > 0 && this.#encodeTasksInFlight < ENCODE_TASKS_IN_FLIGHT) {
      const cuts = this.#cutsToSend.splice(0, CUTS_PER_ENCODE_TASK);
      const generation = this.#generation;
      const task = { kind: 'cut' as const, cuts: cuts.map((c) => ({ timestamps: c.timestamps, values: c.values, inOrder: c.inOrder })) };
      this.#encodeTasksInFlight++;
      for (const c of cuts) c.atEncoder = true;
      this.#encoder.run(task).then(
        (result) => this.#onCutsEncoded(cuts, generation, result),
        (error: unknown) => this.#onCutsEncoded(cuts, generation, error as Error),
      );
    }
  }

  #onCutsEncoded(cuts: PendingCut[], generation: number, result: EncodeResult | Error): void {
    for (const cut of cuts) {
      cut.atEncoder = false;
      if (cut.landed) this.#releaseCutBuffers(cut);
    }
    if (generation !== this.#generation || this.#closed) return;
    this.#encodeTasksInFlight--;
    this.#sendCuts();
    if (result instanceof Error || result.kind !== 'cut') {
      // The encoder thread failed (it should not): encode here rather than lose the cuts.
      this.#encoderFailures++;
      this.#lastMaintenanceError = `chunk encoder: ${result instanceof Error ? result.message : 'unexpected reply'}`;
      for (const cut of cuts) cut.chunks ??= encodeCut(cut);
    } else {
      cuts.forEach((cut, k) => {
        cut.chunks ??= result.chunks[k]!;
      });
    }
    this.#scheduleLanding();
  }

  /**
   * Lands encoded cuts LANDING_WAIT_MS from now, unless a commit carries them first: landing
   * in the commit's transaction saves a transaction (and the -wal frames of the pages both
   * touch), which at ~500 commits/s was a tenth of the writer thread.
   */
  #scheduleLanding(): void {
    if (this.#landingScheduled) return;
    this.#landingScheduled = true;
    setTimeout(() => {
      this.#landingScheduled = false;
      this.#landCuts();
    }, LANDING_WAIT_MS);
  }

  /**
   * The encoder thread fell behind (it runs at low priority and a busy machine may starve it):
   * each commit past the limit encodes the oldest cuts itself, as many points as it adds, so
   * that pending cuts (which hold their points in memory) stop growing while the cost is spread
   * over commits. The encoder's results for these cuts arrive later, identical, and are ignored.
   */
  #encodeFrontCutsHere(budgetPoints: number): void {
    let encoded = 0;
    for (let k = this.#cutQueueStart; k < this.#cutQueue.length && encoded < budgetPoints; k++) {
      const cut = this.#cutQueue[k]!;
      if (cut.chunks !== undefined) continue;
      cut.chunks = encodeCut(cut);
      this.#cutsEncodedHere++;
      encoded += cut.timestamps.length;
    }
  }

  #frontCutEncoded(): boolean {
    const front = this.#cutQueue[this.#cutQueueStart];
    return front !== undefined && front.chunks !== undefined;
  }

  /** Lands encoded cuts in their own transaction, for up to MAINTENANCE_SLICE_MS. */
  #landCuts(): void {
    if (this.#closed || this.#closing || !this.#frontCutEncoded()) return;
    if (this.#turn.busy) {
      // The write in progress (a commit) may carry them; if not, its end is soon.
      this.#scheduleLanding();
      return;
    }
    const deadline = performance.now() + this.#maintenanceSliceMs;
    this.write((tx) => this.#landEncodedCuts(tx, deadline), (landed) => {
      this.#cutsHaveLanded(landed);
      this.#afterLanding();
    }).catch((error: unknown) => this.#maintenanceFailed(error));
  }

  /**
   * Records encoded cuts in queue order (at least one; the front one must be encoded) until
   * the deadline: their chunk rows and the series' marks. Inside the caller's transaction;
   * the cuts stay readable from memory until it committed (#cutsHaveLanded).
   */
  #landEncodedCuts(tx: WriteTransaction, deadline: number): PendingCut[] {
    const queue = this.#cutQueue;
    const landed: PendingCut[] = [];
    // A landing that waited its turn may find the queue emptied (a checkpoint wrote every cut).
    if (!this.#frontCutEncoded()) return landed;
    do {
      const cut = queue[this.#cutQueueStart]!;
      cut.chunkIds = [];
      for (const chunk of cut.chunks!) {
        this.chunks.insert(tx, cut.seriesId, chunk);
        cut.chunkIds.push(this.chunks.maxChunkId);
      }
      tx.setMark(cut.seriesId, cut.walId);
      this.#cutQueueStart++;
      landed.push(cut);
    } while (this.#frontCutEncoded() && performance.now() < deadline);
    return landed;
  }

  /** Landed cuts' points are in committed chunks now: they leave the pending lists and memory. */
  #cutsHaveLanded(landed: readonly PendingCut[]): void {
    for (const cut of landed) {
      this.#cutsLanded++;
      this.#settleDirty.add(cut.seriesId);
      this.#pendingCutPoints -= cut.timestamps.length;
      this.#pendingCutsOf[cut.seriesId]!.shift();
      this.#headPoints -= cut.timestamps.length;
      // Committed: the chunk ids are theirs now, and the points still at hand.
      if (cut.chunkIds !== undefined) buildCutRollups(this.rollups, cut, cut.chunks!, cut.chunkIds);
      // head() copies pending cuts, so only the encoder thread may still read the buffers.
      cut.landed = true;
      if (!cut.atEncoder) this.#releaseCutBuffers(cut);
    }
  }

  /** Gives a landed cut's buffers back to the pool, once no encoder task holds them. */
  #releaseCutBuffers(cut: PendingCut): void {
    if (!cut.landed || cut.atEncoder) throw new Error(`BUG: releasing the buffers of series ${cut.seriesId}'s cut (landed ${cut.landed}, at encoder ${cut.atEncoder})`);
    this.#heads.recycle(cut.timestamps, cut.values);
    this.#cutBuffersReleased++;
  }

  /** After a landing committed: trims the queue, schedules the rest, lets a checkpoint go on. */
  #afterLanding(): void {
    const queue = this.#cutQueue;
    if (this.#cutQueueStart === queue.length) {
      this.#cutQueue = [];
      this.#cutQueueStart = 0;
    } else if (this.#cutQueueStart >= 4096) {
      this.#cutQueue = queue.slice(this.#cutQueueStart);
      this.#cutQueueStart = 0;
    }
    if (this.#frontCutEncoded()) this.#scheduleLanding();
    const cp = this.#backgroundCheckpoint;
    if (cp !== undefined && cp.next === cp.sids.length && this.#cutsLanded >= cp.lastCut) this.#scheduleSlice(0);
  }

  /**
   * A background step failed in the back-end (disk full, I/O error, connection lost): the
   * write already rebuilt every in-memory structure from the back-end, where nothing
   * acknowledged was lost, and the step is retried at the next maintenance round.
   */
  #maintenanceFailed(error: unknown): void {
    this.#maintenanceFailures++;
    this.#lastMaintenanceError = (error as Error)?.message ?? String(error);
    this.#backgroundCheckpoint = undefined;
    this.#backgroundCompaction = undefined;
  }

  /**
   * Drops every pending cut (their points are in the heads or chunks that the caller just
   * rebuilt or wrote); results of tasks still at the encoder belong to the old generation and
   * are ignored when they arrive.
   */
  #forgetPendingCuts(): void {
    this.#generation++;
    this.#pendingCutsOf = [];
    this.#cutQueue = [];
    this.#cutQueueStart = 0;
    this.#cutsToSend = [];
    this.#encodeTasksInFlight = 0;
    this.#cutsLanded = this.#cutsQueued;
    this.#pendingCutPoints = 0;
  }

  /**
   * Cuts every head (and pending cut) into chunks and deletes every write-ahead record, in one
   * transaction, and drops a background compaction's plan. An erasure (point_erasure.ts) starts
   * with it, so that no chunk it rewrites is also being merged.
   */
  checkpoint(): Promise<void> {
    return this.write((tx) => {
      const touched: number[] = [];
      const seriesCount = Math.max(this.#heads.size, this.#pendingCutsOf.length);
      for (let sid = 0; sid < seriesCount; sid++) {
        const points = this.head(sid);
        if (points === undefined) continue;
        const { timestamps, values } = points.sorted();
        this.chunks.write(tx, sid, timestamps, values);
        touched.push(sid);
      }
      tx.deleteWalRecordsUpTo(Infinity);
      tx.deleteMarksUpTo(Infinity);
      return touched;
    }, (touched) => this.#checkpointed(touched)).then(() => undefined);
  }

  /** After checkpoint()'s commit: heads, pending cuts and record accounting are empty. */
  #checkpointed(touched: readonly number[]): void {
    for (const sid of touched) this.#heads.clear(sid);
    this.#headAges.reset();
    // Pending cuts were written above with the heads; encoder results for them are dropped.
    this.#forgetPendingCuts();
    this.#headPoints = 0;
    this.#walBytes = 0;
    this.#walRecords = 0;
    this.#walOldestMs = 0;
    this.#walLog = [];
    this.#backgroundCheckpoint = undefined;
    // A background compaction's merge task, if one is out, now belongs to the old generation
    // and its result will be ignored: a plan kept waiting for it never finished (settle() and
    // /health's compactionRunning waited forever). Its series are packed by the next one.
    if (this.#backgroundCompaction?.settle === true) for (const sid of this.#backgroundCompaction.sids) this.#settleDirty.add(sid);
    this.#backgroundCompaction = undefined;
  }

  /**
   * Starts a background checkpoint of everything written so far: slices cut every head that
   * holds points (the encoder thread does the encoding); once those cuts landed, slices delete
   * the records. Cutting 4,000 heads in one go copied ~130 MB and stalled acks for 200 ms.
   */
  #startBackgroundCheckpoint(settleSids?: number[]): void {
    if (this.#backgroundCheckpoint !== undefined) return;
    // A settle checkpoint cuts the heads the policy picked; the records it deletes are bounded by the heads it leaves (see deletableUpTo).
    let sids = settleSids;
    if (sids === undefined) {
      sids = [];
      for (let sid = 0; sid < this.#heads.size; sid++) if (this.#heads.length(sid) > 0) sids.push(sid);
    }
    this.#backgroundCheckpoint = { upTo: this.#lastWalId, sids, next: 0, lastCut: 0, settle: settleSids !== undefined };
    this.#scheduleSlice(0);
  }

  #scheduleSlice(pauseMs: number): void {
    if (this.#sliceScheduled || this.#closed) return;
    this.#sliceScheduled = true;
    const next = (): void => {
      this.#sliceScheduled = false;
      this.#maintenanceSlice();
    };
    if (pauseMs > 0) setTimeout(next, pauseMs);
    else setImmediate(next);
  }

  /**
   * One slice of background maintenance on the writer thread (see the file comment): deletes
   * a checkpoint's records once its cuts landed, or plans, sends and lands compaction, until
   * MAINTENANCE_SLICE_MS passed; schedules the next slice if unfinished. Waiting for the
   * encoder costs nothing: its results schedule the next slice.
   */
  #maintenanceSlice(): void {
    if (this.#closed || this.#closing) return;
    if (this.#turn.busy) {
      // One write at a time: this slice's would queue behind a commit in flight (a network
      // back-end) and its bookkeeping would run ahead of it.
      this.#scheduleSlice(1);
      return;
    }
    const sliceStart = performance.now();
    const deadline = sliceStart + this.#maintenanceSliceMs;
    let more = false;
    try {
      const cp = this.#backgroundCheckpoint;
      if (cp?.settle === true && cp.next < cp.sids.length && !this.#isQuiet()) {
        // Load returned: the heads cut so far land and their records go; the rest waits for quiet.
        cp.sids.length = cp.next;
        cp.lastCut = this.#cutsQueued;
      }
      if (cp !== undefined && cp.next < cp.sids.length) {
        // A head holds the points of every record up to the newest one: cut it as a commit would.
        const walId = this.#lastWalId;
        do this.#cut(cp.sids[cp.next++]!, walId);
        while (cp.next < cp.sids.length && performance.now() < deadline);
        this.#sendCuts();
        if (cp.next === cp.sids.length) cp.lastCut = this.#cutsQueued;
        more = cp.next < cp.sids.length || this.#cutsLanded >= cp.lastCut;
      } else if (cp !== undefined) {
        if (this.#cutsLanded < cp.lastCut) return;
        more = this.#deleteCheckpointedRecords(this.#deletableUpTo(cp.upTo));
        if (!more) {
          this.#backgroundCheckpoint = undefined;
          this.#backgroundCompaction = cp.settle === true ? this.#settleCompaction()
            : { sids: [...this.chunks.seriesWithChunks()], next: 0, merging: undefined, landing: undefined };
          // Records kept coming meanwhile: if they passed the limit again, checkpoint again first.
          if (this.#overLimits()) this.#startBackgroundCheckpoint();
          more = true;
        }
      } else if (this.#backgroundCompaction?.settle === true && !this.#isQuiet()) {
        // Load returned: settling stops; its series are packed at the next quiet period.
        for (const sid of this.#backgroundCompaction.sids) this.#settleDirty.add(sid);
        this.#backgroundCompaction = undefined;
      } else if (this.#backgroundCompaction !== undefined) {
        const step = this.#compactionSlice(this.#backgroundCompaction, deadline);
        if (step === 'done' && this.#backgroundCompaction.settle === true) this.#lastSettledAt = this.#clock();
        if (step === 'done') this.#backgroundCompaction = undefined;
        // 'waiting': the encoder's result, or the end of a snapshot read, schedules the next slice.
        more = step === 'more';
      }
    } catch (error) {
      this.#maintenanceFailed(error);
      return;
    }
    if (!more) return;
    // Paced when the slice used its whole budget (much work left): back to back, slices took
    // ~2/3 of the main thread for a second per checkpoint at half the maximum rate, commits
    // fell behind the load and the queued acknowledgements waited up to 175 ms (p99). A
    // slice that finished early leaves little to do: the rest follows at once. Tests (slice 0)
    // interleave on setImmediate.
    const now = performance.now();
    const compacting = this.#backgroundCheckpoint === undefined && this.#backgroundCompaction !== undefined;
    const settling = (this.#backgroundCheckpoint ?? this.#backgroundCompaction)?.settle === true;
    const factor = compacting && now - this.#lastCommitAt < INGEST_ACTIVE_MS ? COMPACTION_PAUSE_PER_WORK_UNDER_LOAD
      : settling ? SETTLE_PAUSE_PER_WORK : MAINTENANCE_PAUSE_PER_WORK;
    this.#scheduleSlice(this.#maintenanceSliceMs > 0 && now >= deadline ? Math.ceil((now - sliceStart) * factor) : 0);
  }

  /**
   * Deletes the oldest records ≤ upTo, up to WAL_DELETE_BYTES_PER_SLICE of them; with the last
   * ones the marks ≤ upTo go too. Every point of these records is in chunks (their cuts
   * landed), so a kill between two slices leaves nothing that replay would miss or double.
   * Returns whether records ≤ upTo remain.
   */
  #deleteCheckpointedRecords(upTo: number): boolean {
    const log = this.#walLog;
    let bound = 0;
    let bytes = 0;
    let k = 0;
    while (k < log.length && log[k]! <= upTo && bytes < WAL_DELETE_BYTES_PER_SLICE) {
      bound = log[k]!;
      bytes += log[k + 1]!;
      k += 3;
    }
    const last = !(k < log.length && log[k]! <= upTo);
    this.write((tx) => {
      if (bound > 0) tx.deleteWalRecordsUpTo(bound);
      if (last) tx.deleteMarksUpTo(upTo);
      if (bound > 0) this.#dropWalLogUpTo(bound);
    }).catch((error: unknown) => this.#maintenanceFailed(error));
    return !last;
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
   * One compaction step: lands merged series (a write that deletes chunks, so it waits for
   * running snapshot reads: see write()), or plans the next task and sends it to the encoder.
   * Returns 'more' when there is work for the next slice, 'waiting' while a task is at the
   * encoder or a landing runs (their end schedules the next slice), 'done' at the end.
   */
  #compactionSlice(c: BackgroundCompaction, deadline: number): 'more' | 'waiting' | 'done' {
    if (c.landing !== undefined) {
      const landing = c.landing;
      // A write that deletes chunks: it waits for running snapshot reads to end and holds new
      // ones back until it committed (see write()).
      let inSlice = true;
      let filled = false;
      const landed = this.write((tx) => {
        filled = true;
        const until = inSlice ? deadline : performance.now() + this.#maintenanceSliceMs;
        do this.#applyMerge(tx, landing.shift()!);
        while (landing.length > 0 && performance.now() < until);
        if (landing.length === 0 && c.landing === landing) c.landing = undefined;
      }, undefined, { deletesChunks: true });
      inSlice = false;
      const failed = (error: unknown): void => this.#maintenanceFailed(error);
      if (filled) {
        // Filled in this slice (no read was running): the caller paces the next slice by this
        // one's work, as after any other step (back to back, landings after a burst held the
        // ack p99 at half the maximum rate at ~300–400 ms instead of ~60).
        landed.catch(failed);
        return c.landing !== undefined || c.next < c.sids.length ? 'more' : 'done';
      }
      landed.then(() => this.#scheduleSlice(0), failed);
      return 'waiting';
    }
    if (c.merging !== undefined) return 'waiting';
    const planned: PlannedMerge[] = [];
    let points = 0;
    // At least one series per slice, then more until the task is big enough or time is up.
    let first = true;
    while (c.next < c.sids.length && points < MERGE_TASK_POINTS && (first || performance.now() < deadline)) {
      first = false;
      const seriesId = c.sids[c.next++]!;
      const clusters = planCompaction(this.chunks.chunksOf(seriesId), c.settle === true ? PACK_RUN_SETTLE : PACK_RUN_BACKGROUND);
      if (clusters.length === 0) continue;
      planned.push({ seriesId, clusters, maxChunkIdAtPlan: this.chunks.maxChunkId, result: undefined });
      for (const cluster of clusters) for (const m of cluster) points += m.count;
    }
    if (planned.length === 0) return c.next < c.sids.length ? 'more' : 'done';
    c.merging = planned;
    const generation = this.#generation;
    const done = (result: EncodeResult | Error): void => {
      if (generation !== this.#generation || this.#closed || this.#backgroundCompaction !== c) return;
      c.merging = undefined;
      if (result instanceof Error || result.kind !== 'merge') {
        // Skipped, not retried: compaction only saves space, and the next checkpoint plans again.
        this.#encoderFailures++;
        this.#lastMaintenanceError = `chunk encoder: ${result instanceof Error ? result.message : 'unexpected reply'}`;
      } else {
        planned.forEach((p, k) => {
          p.result = result.series[k]!;
        });
        c.landing = planned;
      }
      this.#scheduleSlice(0);
    };
    this.#storedClusters(planned).then(
      (series) => this.#encoder.run({ kind: 'merge', series }),
    ).then(done, (error: unknown) => done(error as Error));
    return 'waiting';
  }

  /** The stored bytes of planned clusters, read through the back-end, for the encoder thread. */
  async #storedClusters(planned: readonly PlannedMerge[]): Promise<Array<{ clusters: Array<{ members: StoredChunk[]; overlapping: boolean }> }>> {
    const ids: number[] = [];
    for (const p of planned) for (const cluster of p.clusters) for (const m of cluster) ids.push(m.id);
    const data = await this.chunkSource.chunkData(ids);
    return planned.map((p) => ({
      clusters: p.clusters.map((cluster) => ({ members: cluster.map((m) => storedChunk(p.seriesId, m, data)), overlapping: hasOverlap(cluster) })),
    }));
  }

  /**
   * Replaces a planned series' clusters by their merged chunks, unless the series changed in
   * a way that makes the merge wrong: a member is gone (retention), or a chunk written since
   * planning overlaps a cluster (its points are newer; the merged chunk would get a higher id
   * and outrank them). Then the series waits for the next compaction. Inside a transaction.
   */
  #applyMerge(tx: WriteTransaction, p: PlannedMerge): boolean {
    const result = p.result;
    if (result === undefined || !Array.isArray(result)) return false; // A defect: queries report the chunk.
    for (const cluster of p.clusters) {
      for (const m of cluster) if (!this.chunks.has(p.seriesId, m.id)) return false;
    }
    for (const c of this.chunks.chunksOf(p.seriesId)) {
      if (c.id <= p.maxChunkIdAtPlan) continue;
      for (const cluster of p.clusters) if (overlapsCluster(c, cluster)) return false;
    }
    p.clusters.forEach((cluster, k) => {
      this.chunks.delete(tx, p.seriesId, new Set(cluster.map((m) => m.id)));
      for (const chunk of result[k]!) this.chunks.insert(tx, p.seriesId, chunk);
    });
    return true;
  }

  /**
   * Compacts one series on this thread, now (stop(), erasure, tests): see planCompaction
   * (compaction_plan.ts). Throws CorruptChunkError, naming the chunk, when a member does not
   * decode. The caller makes sure no other write changes the series meanwhile.
   */
  async compactSeries(seriesId: number, minPackRun = 2): Promise<boolean> {
    // The chunks are read and merged before the write; a series changed meanwhile (a cut
    // landed over the same range, background compaction merged it) is planned again.
    for (let attempt = 0; attempt < COMPACT_SERIES_ATTEMPTS; attempt++) {
      const clusters = planCompaction(this.chunks.chunksOf(seriesId), minPackRun);
      if (clusters.length === 0) return false;
      const plan: PlannedMerge = { seriesId, clusters, maxChunkIdAtPlan: this.chunks.maxChunkId, result: undefined };
      const [stored] = (await this.#storedClusters([plan])) as [{ clusters: Array<{ members: StoredChunk[]; overlapping: boolean }> }];
      plan.result = stored.clusters.map(({ members, overlapping }) => {
        const out = mergeCluster(members, overlapping);
        if (!Array.isArray(out)) throw new CorruptChunkError(seriesId, describeSeries(this.catalog.get(seriesId)), out.chunkId, out.detail);
        return out;
      });
      if (await this.write((tx) => this.#applyMerge(tx, plan), undefined, { deletesChunks: true })) return true;
    }
    throw new Error(`series ${describeSeries(this.catalog.get(seriesId))} kept changing during ${COMPACT_SERIES_ATTEMPTS} compaction attempts; try again when ingest is lower`);
  }

  /**
   * Compacts every series (stop(), maintenance). A series
   * with a chunk that does not decode is left as it is: queries report it, naming the chunk.
   */
  async compactAll(minPackRun = 2, deadlineMs = Infinity): Promise<void> {
    for (const sid of [...this.chunks.seriesWithChunks()]) {
      try {
        await this.compactSeries(sid, minPackRun);
      } catch (error) {
        if (!(error instanceof CorruptChunkError)) throw error;
      }
      if (Date.now() >= deadlineMs) return;
    }
  }

  /** Deletes chunks whose newest point is older than their tenant's retention period. */
  async applyRetention(nowMs: number): Promise<number> {
    // Looked up once per tenant per pass: the lookup may read operator settings.
    const cutoffs = new Map<string, number>();
    const cutoffOf = (tenant: string): number => {
      let cutoff = cutoffs.get(tenant);
      if (cutoff === undefined) {
        const days = this.#retentionDaysOf(tenant);
        cutoff = days > 0 ? nowMs - days * DAY_MS : -Infinity;
        cutoffs.set(tenant, cutoff);
      }
      return cutoff;
    };
    let dropped = 0;
    const dropBefore = this.backend.dropChunksBefore;
    if (dropBefore !== undefined) {
      // The oldest cutoff that every tenant with chunks has passed; none while a tenant keeps forever.
      let oldest = Infinity;
      for (const sid of this.chunks.seriesWithChunks()) {
        const info = this.catalog.get(sid);
        if (info !== undefined) oldest = Math.min(oldest, cutoffOf(info.tenant));
      }
      if (oldest > -Infinity && oldest < Infinity && this.#hasChunkBefore(oldest)) {
        dropped = await this.#inWriteTurn(async () => this.chunks.forgetBefore(await dropBefore.call(this.backend, oldest)), true);
      }
    }
    const expired: Array<[number, Set<number>]> = [];
    for (const sid of this.chunks.seriesWithChunks()) {
      const info = this.catalog.get(sid);
      if (info === undefined) continue;
      const cutoff = cutoffOf(info.tenant);
      if (cutoff === -Infinity) continue;
      const old = new Set<number>();
      for (const c of this.chunks.chunksOf(sid)) if (c.maxTs < cutoff) old.add(c.id);
      if (old.size > 0) expired.push([sid, old]);
    }
    if (expired.length === 0) return dropped;
    return this.write((tx) => {
      let deleted = dropped;
      for (const [sid, old] of expired) {
        // A chunk deleted meanwhile (an erasure) is not in the catalogue any more: deleting it again is harmless.
        this.chunks.delete(tx, sid, old);
        deleted += old.size;
      }
      return deleted;
    }, undefined, { deletesChunks: true });
  }

  /**
   * A committed chunk's points, decoded (maintenance and erasure rewrite chunks from them).
   * Throws naming the chunk when it cannot be decoded.
   */
  async chunkPoints(seriesId: number, meta: ChunkMeta): Promise<{ timestamps: Float64Array; values: Float64Array }> {
    const decoded = decodeStored(storedChunk(seriesId, meta, await this.chunkSource.chunkData([meta.id])));
    if ('detail' in decoded) throw new CorruptChunkError(seriesId, describeSeries(this.catalog.get(seriesId)), meta.id, decoded.detail);
    return decoded;
  }

  /** Reads running against a snapshot bound: maintenance commands wait for none before deleting chunks. */
  get snapshotReaders(): number {
    return this.#turn.readers;
  }

  /** Whether a commit landed in the last INGEST_ACTIVE_MS: batches are arriving, and their acks wait for this thread. */
  get ingestActive(): boolean {
    return performance.now() - this.#lastCommitAt < INGEST_ACTIVE_MS;
  }

  /**
   * Marks the start of a read of chunks (here or in a query worker), after the caller copied
   * the heads it needs: chunks written after `maxChunkId` are invisible to it (their points are
   * in those heads), and compaction/retention wait until `endSnapshotRead()`. The bound is the
   * newest committed chunk: a chunk still in a transaction in flight is not in the back-end yet,
   * and its points are still in the heads.
   */
  beginSnapshotRead(): { maxChunkId: number } {
    this.#turn.beginRead();
    return { maxChunkId: this.#readBound };
  }

  /**
   * Resolves when a snapshot read may begin: no write that deletes chunks is queued or in
   * flight. Callers await it, then read the heads and call beginSnapshotRead() in one
   * synchronous step.
   */
  snapshotReady(): Promise<void> {
    return this.#turn.readReady();
  }

  endSnapshotRead(): void {
    this.#turn.endRead();
  }

  #maintain(): void {
    if (this.#closed) return;
    const now = Date.now();
    // A checkpoint only adds chunks, so snapshot readers do not hold it back; compaction's
    // landing and retention wait for them (they delete chunks).
    if (this.#overLimits() || (this.#walRecords > 0 && now - this.#walOldestMs > WAL_MAX_AGE_MS)) {
      this.#startBackgroundCheckpoint();
    } else if (this.#backgroundCompaction !== undefined) {
      this.#scheduleSlice(0);
    }
    this.applyRetention(now).catch((error: unknown) => this.#maintenanceFailed(error));
  }

  /** Whether a checkpoint is due for size: write-ahead bytes or head points past their limits. */
  #overLimits(): boolean {
    return this.#walBytes > this.#walCheckpointBytes || this.#headPoints > this.#headPointsLimit;
  }

  #isQuiet(): boolean {
    return isQuiet(this.#commitRate, this.#clock(), this.#settleConfig);
  }

  /** The newest record a checkpoint may delete: none that a head or an unlanded cut holds points of. */
  #deletableUpTo(upTo: number): number {
    const unlanded: number[] = [];
    for (let k = this.#cutQueueStart; k < this.#cutQueue.length; k++) unlanded.push(this.#cutQueue[k]!.firstWal);
    return deletableUpTo(deletableUpTo(upTo, this.#headAges.firstWal), unlanded);
  }

  /** The compaction after settling: the series whose cuts landed since the last one, runs of PACK_RUN_SETTLE. */
  #settleCompaction(): BackgroundCompaction {
    const sids = [...this.#settleDirty].sort((a, b) => a - b);
    this.#settleDirty.clear();
    return { sids, next: 0, merging: undefined, landing: undefined, settle: true };
  }

  /**
   * What settling would do now (settle_policy.ts): heads to cut or waiting for their series to
   * go idle, and whether records no head needs add up to pinBytes (or are all of them).
   */
  #settleWork(): { cut: number[]; waiting: number; recordsDue: boolean } {
    const { cut, waiting } = pickSettleCuts({
      nowMs: this.#clock(), seriesCount: this.#heads.size, headLength: (sid) => this.#heads.length(sid),
      ages: this.#headAges, walLog: this.#walLog, walMaxAgeMs: WAL_MAX_AGE_MS,
    }, this.#settleConfig);
    const log = this.#walLog;
    const deletable = log.length > 0 ? this.#deletableUpTo(this.#lastWalId) : 0;
    let bytes = 0;
    for (let k = 0; k < log.length && log[k]! <= deletable; k += 3) bytes += log[k + 1]!;
    const recordsDue = bytes > 0 && (bytes >= this.#settleConfig.pinBytes || deletable >= this.#lastWalId);
    return { cut, waiting, recordsDue };
  }

  /**
   * One settle check (every checkIntervalMs; see settle_policy.ts). While the server is quiet
   * and no background work runs: cuts the heads the policy picks and deletes the records no
   * head needs (a background checkpoint limited to those heads), or else packs the series cut
   * since the last settle. Both run in maintenance slices and stop when load returns.
   */
  settleIfQuiet(): 'closed' | 'busy' | 'loud' | 'checkpoint' | 'compaction' | 'waiting' | 'settled' {
    if (this.#closed) return 'closed';
    if (this.#backgroundCheckpoint !== undefined || this.#backgroundCompaction !== undefined || this.#cutQueueStart < this.#cutQueue.length) return 'busy';
    if (!this.#isQuiet()) return 'loud';
    const work = this.#settleWork();
    if (work.cut.length > 0 || work.recordsDue) {
      this.#startBackgroundCheckpoint(work.cut);
      return 'checkpoint';
    }
    if (this.#settleDirty.size > 0) {
      this.#backgroundCompaction = this.#settleCompaction();
      this.#scheduleSlice(0);
      return 'compaction';
    }
    return work.waiting > 0 ? 'waiting' : 'settled';
  }

  /** The settling figures of stats() (StorageMaintenance). */
  #settleStats(): Pick<StorageMaintenance, 'settled' | 'lastSettledAtMs' | 'headsToSettle' | 'headBytes' | 'walOldestAgeMs' | 'compactionBacklog' | 'recentPointsPerSecond'> {
    const nowMs = this.#clock();
    const quiet = this.#isQuiet();
    // A pass over every series and record: under load (the dashboard asks 10 times a second)
    // at most once a second; when quiet, fresh, for whoever waits for `settled`.
    const wall = performance.now();
    if (quiet || this.#settleStatsCache === undefined || wall - this.#settleStatsCache.atMs >= STATS_SETTLE_REFRESH_MS) {
      this.#settleStatsCache = { atMs: wall, work: this.#settleWork() };
    }
    const work = this.#settleStatsCache.work;
    const c = this.#backgroundCompaction;
    const compactionBacklog = this.#settleDirty.size + (c === undefined ? 0 : c.sids.length - c.next + (c.merging?.length ?? 0) + (c.landing?.length ?? 0));
    const idle = this.#backgroundCheckpoint === undefined && c === undefined && this.#cutQueueStart === this.#cutQueue.length;
    return {
      settled: quiet && idle && work.cut.length === 0 && work.waiting === 0 && !work.recordsDue && this.#settleDirty.size === 0,
      lastSettledAtMs: this.#lastSettledAt === 0 ? undefined : this.#lastSettledAt,
      headsToSettle: work.cut.length + work.waiting,
      // Live heads' blocks plus pending cuts' columns, 16 bytes a point.
      headBytes: this.#heads.blocksInUse * BLOCK_POINTS * 16 + this.#pendingCutPoints * 16,
      walOldestAgeMs: this.#walRecords > 0 ? Math.max(0, nowMs - this.#walOldestMs) : 0,
      compactionBacklog,
      recentPointsPerSecond: this.#commitRate.pointsPerSecond(nowMs),
    };
  }

  stats(): StorageStats {
    return {
      series: this.catalog.size,
      chunks: this.chunks.chunkCount,
      headPoints: this.#headPoints,
      walBytes: this.#walBytes,
      pointsIngested: this.#pointsIngested,
      batchesIngested: this.#batchesIngested,
      diskBytes: this.#diskBytes(),
      maintenance: {
        pendingCuts: this.#cutQueue.length - this.#cutQueueStart,
        pendingCutPoints: this.#pendingCutPoints,
        cutsEncodedByWriter: this.#cutsEncodedHere,
        checkpointRunning: this.#backgroundCheckpoint !== undefined,
        compactionRunning: this.#backgroundCompaction !== undefined,
        encoderFailures: this.#encoderFailures,
        failures: this.#maintenanceFailures,
        lastError: this.#lastMaintenanceError ?? this.backend.lastError ?? this.#encoder.lastError,
        ...this.#settleStats(),
      },
      rollups: this.rollups.stats(),
    };
  }

  /**
   * Resolves once no cut waits to land and no background checkpoint or compaction runs
   * (tests and benchmarks that look at chunks; ingest never needs to wait for this).
   * `checkpoint`: first start a background checkpoint of everything (and the compaction that
   * follows it), as the size or age limits would.
   */
  async settle(timeoutMs = 60_000, options: { checkpoint?: boolean } = {}): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    if (options.checkpoint === true && !this.#closed) this.#startBackgroundCheckpoint();
    const busy = (): boolean => this.#cutQueueStart < this.#cutQueue.length || this.#backgroundCheckpoint !== undefined
      || this.#backgroundCompaction !== undefined || this.#maintenanceScheduled || this.#turn.busy;
    while (!this.#closed) {
      if (!busy()) {
        // A checkpoint that is due but not started yet (the commit that crossed the limit schedules it).
        if (this.#walBytes <= this.#walCheckpointBytes) return;
        this.#startBackgroundCheckpoint();
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.location}: background maintenance did not finish within ${timeoutMs} ms `
          + `(cuts pending ${this.#cutQueue.length - this.#cutQueueStart}, checkpoint ${JSON.stringify(this.#backgroundCheckpoint)}, landed ${this.#cutsLanded}, `
          + `compaction ${this.#backgroundCompaction === undefined ? 'none' : `${this.#backgroundCompaction.next}/${this.#backgroundCompaction.sids.length} merging=${this.#backgroundCompaction.merging !== undefined} landing=${this.#backgroundCompaction.landing !== undefined}`})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  /**
   * The back-end's size as last measured: stats() is synchronous and asked often (/health,
   * /metrics), and for PostgreSQL and Redis the size is a round trip, so it is refreshed in
   * the background at most every SIZE_REFRESH_MS.
   */
  #diskBytes(): number {
    if (!this.#closed && !this.#sizeRefreshing && performance.now() - this.#backendBytesAt >= SIZE_REFRESH_MS) {
      this.#refreshSize().catch(() => undefined);
    }
    return this.#backendBytes;
  }

  async #refreshSize(): Promise<void> {
    this.#sizeRefreshing = true;
    try {
      this.#backendBytes = (await this.backend.size()).bytes;
      this.#backendBytesAt = performance.now();
    } finally {
      this.#sizeRefreshing = false;
    }
  }

  /** Throws when the back-end cannot be written: performs a one-row write and commit. */
  async checkWritable(): Promise<void> {
    if (this.#closed) throw new Error(`${this.location}: storage is closed`);
    await this.backend.checkWritable();
  }

  /**
   * After an erasure's deletions committed (with SCRUB_PENDING_KEY set in the same
   * transaction): the back-end gives back the deleted space, so the erased bytes are gone from
   * it, then the flag is cleared. Also run at open when a kill came in between.
   */
  async finishErasureScrub(): Promise<void> {
    await this.backend.reclaimDeletedSpace();
    await this.write((tx) => tx.setMeta(SCRUB_PENDING_KEY, undefined));
  }

  /**
   * Flushes every head into chunks, deletes the write-ahead records, compacts chunks and
   * (SQLite) the file, and closes. A later open() finds every point in chunks.
   */
  async close(): Promise<void> {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#settleTimer !== undefined) clearInterval(this.#settleTimer);
    this.#encoder.close();
    this.#backgroundCompaction = undefined;
    this.#backgroundCheckpoint = undefined;
    let compact = true;
    try {
      await this.checkpoint();
      this.#turn.forgetReads();
      // Bounded: a supervisor allows 10 s after SIGTERM, and packing every series after a busy
      // run took 8 s (bench/server_ingest.bench.ts, 8,000 series). Chunks left unpacked are
      // valid, only smaller; later compactions pack them.
      await this.compactAll(2, Date.now() + CLOSE_COMPACTION_BUDGET_MS);
      await this.applyRetention(Date.now());
    } catch (error) {
      compact = false;
      throw error;
    } finally {
      this.#closed = true;
      await this.backend.close({ compact });
    }
  }

  /**
   * Closes without checkpoint, compaction or anything else: what a killed process leaves
   * behind (heads only in write-ahead records). For crash tests.
   */
  async abandon(): Promise<void> {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#settleTimer !== undefined) clearInterval(this.#settleTimer);
    this.#encoder.close();
    this.#closed = true;
    await this.backend.abandon();
  }
}

/** A planned member's stored bytes, or an error naming it when the back-end no longer has it. */
function storedChunk(seriesId: number, meta: ChunkMeta, data: ReadonlyMap<number, Uint8Array>): StoredChunk {
  const bytes = data.get(meta.id);
  if (bytes === undefined) throw new Error(`chunk ${meta.id} of series ${seriesId} was deleted while compaction read it`);
  return { id: meta.id, codec: CODEC_EMMS_CHUNK, count: meta.count, data: bytes };
}

/**
 * Columns of a multi-batch group, reused from commit to commit: a commit only reads them (heads
 * and the write-ahead record copy the points), and fresh ones per commit were part of the
 * external-memory churn that made V8 collect garbage inside commits.
 */
let groupColumns: IngestBatch = { seriesIds: new Uint32Array(0), timestamps: new Float64Array(0), values: new Float64Array(0), length: 0 };

/** Points of the largest group whose columns are kept (20 bytes each). */
const GROUP_COLUMNS_KEEP_POINTS = 1 << 19;

/** `reuse`: the group's columns may be the shared ones (the commit reads them before the next group is made). */
function concatBatches(batches: readonly IngestBatch[], total: number, reuse: boolean): IngestBatch {
  if (!reuse || total > GROUP_COLUMNS_KEEP_POINTS) {
    return concatInto({ seriesIds: new Uint32Array(total), timestamps: new Float64Array(total), values: new Float64Array(total), length: 0 }, batches, total);
  }
  if (groupColumns.seriesIds.length < total) {
    const capacity = Math.min(GROUP_COLUMNS_KEEP_POINTS, Math.max(total, groupColumns.seriesIds.length * 2, 4096));
    groupColumns = { seriesIds: new Uint32Array(capacity), timestamps: new Float64Array(capacity), values: new Float64Array(capacity), length: 0 };
  }
  return concatInto(groupColumns, batches, total);
}

function concatInto(into: IngestBatch, batches: readonly IngestBatch[], total: number): IngestBatch {
  const { seriesIds, timestamps, values } = into;
  let o = 0;
  for (const b of batches) {
    seriesIds.set(b.seriesIds.subarray(0, b.length), o);
    timestamps.set(b.timestamps.subarray(0, b.length), o);
    values.set(b.values.subarray(0, b.length), o);
    o += b.length;
  }
  return { seriesIds, timestamps, values, length: total };
}
