/**
 * The storage engine, the same over every back-end (backend.ts): series catalogue,
 * write-ahead records, heads, and the coordinator of the cut pipeline, background maintenance
 * and settling. Ingest hands it validated columnar batches (`commit`); queries read chunks
 * through the back-end's ChunkSource and heads through `head()`.
 *
 * Write path of one group commit (one back-end write transaction):
 *   1. rows for series created since the last commit;
 *   2. one write-ahead record holding every point of the group (columnar, lz4; one part per
 *      batch, whose timestamps and values a decode worker already compressed: wal_parts.ts);
 *   3. points appended to their series' heads.
 * The promise of every batch of the group resolves after the transaction committed.
 *
 * Writes: one transaction at a time (`write()`). Each fills its transaction and changes the
 * in-memory state in one synchronous step, then awaits the commit; its after-commit step runs
 * before the next transaction starts. When a commit fails, the in-memory state is rebuilt from
 * the back-end (#reload), where nothing acknowledged was lost (heads come back from the
 * write-ahead records). With SQLite a commit has finished when commit() returns, so the write
 * path runs as one synchronous step, as it did before back-ends existed.
 *
 * Collaborators, each owning its state and reaching the engine only through BackgroundWriter
 * (background_writer.ts) and the callbacks it is built with:
 *   - cut_pipeline.ts: heads reaching their cut size become pending cuts, encoded on the
 *     chunk encoder thread and landed with the series' marks (in a commit or on their own);
 *   - wal_ledger.ts: the ids, sizes and ages of the write-ahead records;
 *   - maintenance_scheduler.ts: the background checkpoint (when the records exceed
 *     WAL_CHECKPOINT_BYTES, head points HEAD_POINTS_LIMIT, or the oldest record is older than
 *     WAL_MAX_AGE_MS) and the compaction after it, in paced slices between commits;
 *   - background_compaction.ts: planning, merging on the encoder thread and swapping chunks;
 *   - settle_controller.ts: once ingest is quiet, cuts idle heads and packs what was cut;
 *   - background_wiring.ts builds these four and resolves their references to each other.
 * Outside them too: the write turn and read gate (write_turn.ts), the chunk catalogue
 * (chunk_catalog.ts), replay (wal_replay.ts), retention (chunk_retention.ts), the back-end's
 * size (backend_size_gauge.ts) and a commit group's write-ahead parts (wal_parts.ts). At stop the
 * checkpoint is one transaction (`checkpoint()`) and compaction runs on this thread.
 *
 * Lifecycle: `StorageEngine.open()` (opens the back-end, loads series and chunk catalogue,
 * replays records), any number of commit()/reads, `close()` (checkpoint, compaction, close).
 */
import { SeriesCatalog, type SeriesInfo } from './series_index.js';
import { GatheredPoints } from './gathered_points.js';
import { HeadTable, type HeadPoints } from './head.js';
import type { ChunkCatalog, ChunkMeta } from './chunk_catalog.js';
import { DEFAULT_ROLLUP_BUDGET_BYTES, RollupStore } from './rollup/rollup_store.js';
import { RollupCatalog } from './rollup/rollup_catalog.js';
import { CorruptChunkError, STORED_CHUNK_MAX_POINTS, describeSeries } from './chunk_rows.js';
import { decodeStored } from './chunk_encoding.js';
import { createChunkEncoder, type ChunkEncoder } from './chunk_encoder.js';
import { encodeWalRecordParts } from './write_ahead_log.js';
import { walParts } from './wal_parts.js';
import { replayWal } from './wal_replay.js';
import { HeadAges, resolveSettleConfig } from './settle_policy.js';
import { parseCanonicalTags } from '../model/metric.js';
import type { StorageStats } from '../model/api.js';
import type { ChunkSource, StorageBackend, WorkerSourceSpec, WriteTransaction } from './backend.js';
import type { IngestBatch } from './ingest_batch.js';
import { WriterLeaseLostError } from './storage_errors.js';
import { WriteTurn } from './write_turn.js';
import type { BackgroundWriter } from './background_writer.js';
import { MAX_PENDING_CUT_POINTS, type CutPipeline, type PendingCut } from './cut_pipeline.js';
import { storedChunk, type BackgroundCompaction } from './background_compaction.js';
import { INGEST_ACTIVE_MS, MAINTENANCE_SLICE_MS, type MaintenanceScheduler } from './maintenance_scheduler.js';
import type { SettleController, SettleStep } from './settle_controller.js';
import { wireBackground } from './background_wiring.js';
import { WalLedger } from './wal_ledger.js';
import { expireChunks } from './chunk_retention.js';
import { BackendSizeGauge } from './backend_size_gauge.js';
import { HEAD_CUT_POINTS, HEAD_POINTS_LIMIT, WAL_CHECKPOINT_BYTES, WAL_MAX_AGE_MS, type StoreOptions } from './store_options.js';

export type { IngestBatch };
export { HEAD_CUT_POINTS, WAL_CHECKPOINT_BYTES, WAL_MAX_AGE_MS, type StoreOptions } from './store_options.js';

/** Time stop() spends packing chunks at most (see close()). */
const CLOSE_COMPACTION_BUDGET_MS = 3000;
/** How often the age of the write-ahead records and retention are checked. */
const MAINTENANCE_INTERVAL_MS = 30_000;
/** Set in an erasure's transaction, cleared once the back-end holds none of the erased bytes. */
export const SCRUB_PENDING_KEY = 'erasure_scrub_pending';

/** What a commit's transaction did: its record's id, the heads that reached their cut, the cuts it landed. */
interface CommitOutcome {
  walId: number;
  cutNow: Set<number> | undefined;
  landed: PendingCut[] | undefined;
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
  readonly #headAges = new HeadAges();
  readonly #wal = new WalLedger();
  readonly #encoder: ChunkEncoder;
  readonly #cuts: CutPipeline;
  readonly #compaction: BackgroundCompaction;
  readonly #scheduler: MaintenanceScheduler;
  readonly #settle: SettleController;
  readonly #walCheckpointBytes: number;
  readonly #headPointsLimit: number;
  readonly #retentionDaysOf: (tenant: string) => number;
  readonly #compressRecords: boolean;
  readonly #settleCheckIntervalMs: number;
  readonly #clock: () => number;
  readonly #mayWrite: (() => boolean) | undefined;
  #headPoints = 0;
  #pointsIngested = 0;
  #batchesIngested = 0;
  #lastCommitAt = -Infinity;
  #encoderFailures = 0;
  #maintenanceFailures = 0;
  #lastMaintenanceError: string | undefined;
  #maintenanceScheduled = false;
  #timer: NodeJS.Timeout | undefined;
  #settleTimer: NodeJS.Timeout | undefined;
  #closed = false;
  /** close() started: no background step starts a write any more. */
  #closing = false;
  /** One write at a time, and the gate between chunk-deleting writes and snapshot reads. */
  readonly #turn = new WriteTurn();
  /** The newest committed chunk id: what reads may see (beginSnapshotRead). */
  #readBound = 0;
  readonly #size: BackendSizeGauge;

  private constructor(options: StoreOptions) {
    this.backend = options.backend;
    this.location = options.backend.location;
    this.chunkSource = options.backend.chunkSource();
    this.#size = new BackendSizeGauge(options.backend);
    this.rollups = new RollupStore(options.rollupBudgetBytes ?? DEFAULT_ROLLUP_BUDGET_BYTES);
    this.chunks = new RollupCatalog(this.rollups);
    this.#heads = new HeadTable(Math.min(options.headCutPoints ?? HEAD_CUT_POINTS, STORED_CHUNK_MAX_POINTS));
    this.#heads.reserve(options.headReserveBytes ?? 0);
    this.#walCheckpointBytes = options.walCheckpointBytes ?? WAL_CHECKPOINT_BYTES;
    const retentionDays = options.retentionDays ?? 0;
    this.#retentionDaysOf = options.retentionDaysOf ?? (() => retentionDays);
    this.#compressRecords = options.compression !== 'none';
    const settleConfig = resolveSettleConfig(options.settle, process.env);
    this.#settleCheckIntervalMs = settleConfig.checkIntervalMs;
    this.#headPointsLimit = options.headPointsLimit ?? HEAD_POINTS_LIMIT;
    this.#clock = options.clock ?? Date.now;
    this.#mayWrite = options.mayWrite;
    this.#encoder = options.chunkEncoder ?? createChunkEncoder(options.chunkEncoding ?? 'worker');
    const background = wireBackground({
      heads: this.#heads, headAges: this.#headAges, wal: this.#wal, encoder: this.#encoder, chunks: this.chunks, rollups: this.rollups,
      chunkSource: this.chunkSource, space: options.backend, writer: this.#backgroundWriter(), maintenanceSliceMs: options.maintenanceSliceMs ?? MAINTENANCE_SLICE_MS,
      maxPendingCutPoints: options.maxPendingCutPoints ?? MAX_PENDING_CUT_POINTS, settleConfig, clock: this.#clock, walMaxAgeMs: WAL_MAX_AGE_MS,
      onPointsLanded: (points) => {
        this.#headPoints -= points;
      },
      overLimits: () => this.#overLimits(),
      lastCommitAt: () => this.#lastCommitAt,
      describeSeries: (seriesId) => describeSeries(this.catalog.get(seriesId)),
    });
    this.#cuts = background.cuts;
    this.#compaction = background.compaction;
    this.#scheduler = background.scheduler;
    this.#settle = background.settle;
    // Before any load: started at the first commit instead, its start-up (module loading, WASM
    // compilation) competed with the first second of ingest and stretched it (ack p99 90 ms).
    this.#encoder.warm();
  }

  /** The engine as its background collaborators see it (background_writer.ts). */
  #backgroundWriter(): BackgroundWriter {
    // Getters: collaborators read the engine's state when they ask, not as it was when they were built.
    const engine = this;
    return {
      write: (fill, after, options) => this.write(fill, after, options),
      get closed() {
        return engine.#closed;
      },
      get closing() {
        return engine.#closing;
      },
      get writeBusy() {
        return engine.#turn.busy;
      },
      maintenanceFailed: (error) => this.#maintenanceFailed(error),
      encoderFailed: (message) => {
        this.#encoderFailures++;
        this.#lastMaintenanceError = message;
      },
    };
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
      await store.#size.refresh();
    } catch (error) {
      store.#closed = true;
      store.#encoder.close();
      await options.backend.abandon();
      throw error;
    }
    store.#timer = setInterval(() => store.#maintain(), MAINTENANCE_INTERVAL_MS);
    store.#timer.unref();
    store.#settleTimer = setInterval(() => store.settleIfQuiet(), store.#settleCheckIntervalMs);
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
    this.#cuts.forget();
    this.#heads.reset();
    this.#headAges.reset();
    this.#wal.reset();
    this.#scheduler.drop();
    this.#headPoints = 0;
    this.#headPoints = await replayWal(state.walRecords(), state.marks, { heads: this.#heads, headAges: this.#headAges, wal: this.#wal });
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
    const pending = this.#cuts.pendingOf(seriesId);
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
    const record = encodeWalRecordParts(walParts(batches, this.#compressRecords), this.#compressRecords);
    const nowMs = this.#clock();
    return this.write(
      (tx) => this.#writeCommit(tx, batches, total, record, this.catalog.takePending(), nowMs),
      (outcome) => this.#afterCommit(outcome, total, batches.length, record.length, nowMs),
    ).then(() => undefined);
  }

  /**
   * The transaction side of commit: new series, the write-ahead record, the points appended
   * to their heads (from each batch's own columns: a batch's arrays are the engine's once
   * submitted), and encoded cuts landed on the way.
   */
  #writeCommit(tx: WriteTransaction, batches: readonly IngestBatch[], total: number, record: Uint8Array, newSeries: readonly SeriesInfo[], nowMs: number): CommitOutcome {
    // A SeriesInfo is a SeriesRow (back-ends read its fields only): no row object per new series.
    for (const s of newSeries) tx.insertSeries(s);
    const walId = this.#wal.nextId();
    tx.appendWalRecord({ id: walId, createdMs: nowMs, points: total, data: record });
    const heads = this.#heads;
    const ages = this.#headAges;
    let cutNow: Set<number> | undefined;
    for (const { seriesIds, timestamps, values, length } of batches) {
      for (let i = 0; i < length;) {
        const sid = seriesIds[i]!;
        // A run of one series (the columnar form sends 100+ points per series) goes in at once.
        let end = i + 1;
        while (end < length && seriesIds[end] === sid) end++;
        const full = end - i === 1 ? heads.append(sid, timestamps[i]!, values[i]!) : heads.appendRun(sid, timestamps, values, i, end);
        if (full) (cutNow ??= new Set()).add(sid);
        ages.noteAppend(sid, walId, nowMs);
        i = end;
      }
    }
    this.#headPoints += total;
    this.#cuts.encodeIfBehind(total);
    const landed = this.#cuts.landInCommit(tx);
    return { walId, cutNow, landed };
  }

  #afterCommit(outcome: CommitOutcome, total: number, batches: number, recordBytes: number, nowMs: number): void {
    const { walId, cutNow, landed } = outcome;
    if (landed !== undefined) this.#cuts.haveLanded(landed);
    if (cutNow !== undefined) {
      for (const sid of cutNow) this.#cuts.cut(sid, walId);
      this.#cuts.send();
    }
    if (landed !== undefined) this.#cuts.afterLanding();
    this.#wal.noteCommitted(walId, recordBytes, nowMs);
    this.#lastCommitAt = performance.now();
    this.#settle.noteCommit(total);
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
   * A background step failed in the back-end (disk full, I/O error, connection lost): the
   * write already rebuilt every in-memory structure from the back-end, where nothing
   * acknowledged was lost, and the step is retried at the next maintenance round.
   */
  #maintenanceFailed(error: unknown): void {
    this.#maintenanceFailures++;
    this.#lastMaintenanceError = (error as Error)?.message ?? String(error);
    this.#scheduler.drop();
  }

  /**
   * Cuts every head (and pending cut) into chunks and deletes every write-ahead record, in one
   * transaction, and drops a background compaction's plan. An erasure (point_erasure.ts) starts
   * with it, so that no chunk it rewrites is also being merged.
   */
  checkpoint(): Promise<void> {
    return this.write((tx) => {
      const touched: number[] = [];
      const seriesCount = Math.max(this.#heads.size, this.#cuts.seriesSpan);
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
    this.#cuts.forget();
    this.#headPoints = 0;
    this.#wal.clear();
    this.#scheduler.afterFullCheckpoint();
  }

  /**
   * Compacts one series on this thread, now (stop(), erasure, tests): see planCompaction
   * (compaction_plan.ts). Throws CorruptChunkError, naming the chunk, when a member does not
   * decode. A series changed by another write between the read and the write (background
   * compaction, a cut) is planned again, up to COMPACT_SERIES_ATTEMPTS times.
   */
  compactSeries(seriesId: number, minPackRun = 2): Promise<boolean> {
    return this.#compaction.compactSeries(seriesId, minPackRun);
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

  /** Deletes chunks whose newest point is older than their tenant's retention period (chunk_retention.ts). */
  applyRetention(nowMs: number): Promise<number> {
    return expireChunks({
      chunks: this.chunks, catalog: this.catalog, backend: this.backend, retentionDaysOf: this.#retentionDaysOf,
      write: (fill, after, options) => this.write(fill, after, options),
      inDeletingTurn: (body) => this.#inWriteTurn(body, true),
    }, nowMs);
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

  /** A maintenance round: every MAINTENANCE_INTERVAL_MS, and after a commit that crossed a limit. */
  #maintain(): void {
    if (this.#closed) return;
    const now = Date.now();
    this.#scheduler.round(now);
    this.applyRetention(now).catch((error: unknown) => this.#maintenanceFailed(error));
  }

  /** Whether a checkpoint is due for size: write-ahead bytes or head points past their limits. */
  #overLimits(): boolean {
    return this.#wal.bytes > this.#walCheckpointBytes || this.#headPoints > this.#headPointsLimit;
  }

  /** One settle check (every checkIntervalMs; see settle_controller.ts and settle_policy.ts). */
  settleIfQuiet(): 'closed' | SettleStep {
    if (this.#closed) return 'closed';
    return this.#settle.check();
  }

  stats(): StorageStats {
    return {
      series: this.catalog.size,
      chunks: this.chunks.chunkCount,
      headPoints: this.#headPoints,
      walBytes: this.#wal.bytes,
      pointsIngested: this.#pointsIngested,
      batchesIngested: this.#batchesIngested,
      diskBytes: this.#size.bytes(this.#closed),
      maintenance: {
        pendingCuts: this.#cuts.unlanded,
        pendingCutPoints: this.#cuts.pendingPoints,
        cutsEncodedByWriter: this.#cuts.encodedByWriter,
        checkpointRunning: this.#scheduler.checkpointRunning,
        compactionRunning: this.#compaction.running,
        encoderFailures: this.#encoderFailures,
        failures: this.#maintenanceFailures,
        lastError: this.#lastMaintenanceError ?? this.backend.lastError ?? this.#encoder.lastError,
        ...this.#settle.stats(),
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
    if (options.checkpoint === true && !this.#closed) this.#scheduler.startCheckpoint();
    const busy = (): boolean => !this.#scheduler.idle || this.#maintenanceScheduled || this.#turn.busy;
    while (!this.#closed) {
      if (!busy()) {
        // A checkpoint that is due but not started yet (the commit that crossed the limit schedules it).
        if (this.#wal.bytes <= this.#walCheckpointBytes) return;
        this.#scheduler.startCheckpoint();
      }
      if (Date.now() > deadline) {
        throw new Error(`${this.location}: background maintenance did not finish within ${timeoutMs} ms (${this.#scheduler.describe()})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
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
    this.#scheduler.drop();
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
