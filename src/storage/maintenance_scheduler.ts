/**
 * The storage engine's background maintenance on the writer thread (storage_engine.ts): the
 * background checkpoint and the compaction that follows it, run in slices of
 * MAINTENANCE_SLICE_MS between commits and paced so that commits keep up with the load.
 *
 * Checkpoint (when the records exceed the checkpoint size, the heads the head limit, or the
 * oldest record the age limit): every head is cut (marked with the newest record, W); once those
 * cuts landed (cut_pipeline.ts), slices delete the records ≤ W and then the marks ≤ W.
 * Compaction (background_compaction.ts) follows. A settle checkpoint (settle_controller.ts)
 * cuts only the heads the policy picked, deletes the records below the oldest one any remaining
 * head or unlanded cut holds (`deletableUpTo`), is followed by the settle compaction, and stops
 * cutting when load returns. Last, settling may give the back-end's free space back
 * (free_space_return.ts for SQLite), in steps that also stop when load returns.
 *
 * Invariants: at most one checkpoint, one compaction and one return of free space, in that
 * order of priority; at most one slice scheduled; no slice runs while a write holds the write
 * turn or once the engine closes.
 * A kill between two slices leaves nothing that replay would miss or double.
 */
import type { FreeSpaceStep, StorageBackend } from './backend.js';
import type { BackgroundWriter } from './background_writer.js';
import type { BackgroundCompaction } from './background_compaction.js';
import type { CutPipeline } from './cut_pipeline.js';
import type { HeadTable } from './head.js';
import { deletableUpTo, type HeadAges } from './settle_policy.js';
import type { WalLedger } from './wal_ledger.js';

/**
 * Longest the background checkpoint or compaction holds the event loop per slice; commits (and
 * their acks) run between slices. A commit arriving meanwhile waits up to this long. At half the
 * maximum rate 4 ms gave a steady ack p99 of 35–39 ms, 8 ms 42–49 ms (target 50 ms). Measured
 * again with encoding in its own thread: 2 ms slices (with pause factor 3 or 7) left the
 * compaction that follows a burst running into the next load, ack p50 11–13 ms instead of 3 ms.
 */
export const MAINTENANCE_SLICE_MS = 4;
/**
 * Pause after a slice per millisecond of its work: 3 leaves background maintenance a quarter of
 * the main thread. A checkpoint's writer-thread work (cutting ~8,000 heads, landing their
 * chunks, deleting records) then spreads over about a second, while records for the next one
 * take ~6 s to accumulate even at the maximum rate.
 */
const MAINTENANCE_PAUSE_PER_WORK = 3;
/**
 * The same for compaction and the return of free space while batches keep arriving (a commit
 * in the last INGEST_ACTIVE_MS): compaction only saves space and read time, and at a quarter of
 * the writer thread the compaction after a burst (~30,000 chunks) kept the ack p50 at 11–13 ms
 * for the next 10 s. Settling stops both once the commit rate says load returned, but at
 * 100,000 points/s that takes 2 s (the quiet window averages 10 s); meanwhile they take 1/16.
 */
const COMPACTION_PAUSE_PER_WORK_UNDER_LOAD = 15;
/**
 * The same for settling (settle_policy.ts), which runs only while ingest is quiet: a commit
 * arriving then waits at most one slice whatever the pause, and the pause only matters to a
 * sustained stream, which stops settling once it passes the quiet rate. Half the writer thread
 * instead of a quarter halves the time from quiet to settled.
 */
const SETTLE_PAUSE_PER_WORK = 1;
/** Ingest counts as active for this long after a commit. */
export const INGEST_ACTIVE_MS = 100;
/** Write-ahead bytes a checkpoint deletes per slice: freeing ~64 MiB of pages at once took 20+ ms. */
const WAL_DELETE_BYTES_PER_SLICE = 4 * 1024 * 1024;
/**
 * Pause when a step of returning free space waits for the back-end (SQLite: its checkpoint
 * worker's next pass, every 50 ms, or a query's snapshot that keeps the -wal file from being
 * emptied, which lasts about a query).
 */
const FREE_SPACE_WAIT_MS = 20;

/**
 * A checkpoint in progress: the heads of `sids` from `next` on are still to cut; once they
 * are and the cuts up to `lastCut` landed, records ≤ upTo go.
 */
interface Checkpoint {
  upTo: number;
  sids: number[];
  next: number;
  lastCut: number;
  settle: boolean;
}

export interface SchedulerParts {
  writer: BackgroundWriter;
  cuts: CutPipeline;
  wal: WalLedger;
  heads: HeadTable;
  headAges: HeadAges;
  compaction: BackgroundCompaction;
  /** The back-end's step of returning free space (absent: the back-end has none to return). */
  space: Pick<StorageBackend, 'returnFreeSpaceStep'>;
  /** The series that have chunks (a checkpoint's compaction goes over them all). */
  seriesWithChunks: () => Iterable<number>;
  /** MAINTENANCE_SLICE_MS, or the engine's option; 0 = one head or series per slice (tests). */
  maintenanceSliceMs: number;
  /** The write-ahead age limit (WAL_MAX_AGE_MS). */
  walMaxAgeMs: number;
  /** Whether a checkpoint is due for size (records or head points past their limits). */
  overLimits: () => boolean;
  /** performance.now() of the last commit. */
  lastCommitAt: () => number;
  /** Settling's view (settle_controller.ts): quiet, the series it packs, and when it finished. */
  settle: {
    isQuiet: () => boolean;
    takeSeries: () => number[];
    requeue: (sids: readonly number[]) => void;
    settledNow: () => void;
  };
}

export class MaintenanceScheduler {
  readonly #parts: SchedulerParts;
  #checkpoint: Checkpoint | undefined;
  /** Settling asked the back-end to give its free space back and it has not finished. */
  #returningFreeSpace = false;
  #sliceScheduled = false;

  constructor(parts: SchedulerParts) {
    this.#parts = parts;
  }

  get checkpointRunning(): boolean {
    return this.#checkpoint !== undefined;
  }

  /** Whether the running checkpoint, or else the running compaction or return of free space, was started by settling. */
  get settling(): boolean {
    if (this.#checkpoint !== undefined) return this.#checkpoint.settle;
    return this.#parts.compaction.running ? this.#parts.compaction.settling : this.#returningFreeSpace;
  }

  /** No cut waits to land and no checkpoint, compaction or return of free space runs. */
  get idle(): boolean {
    return this.#parts.cuts.unlanded === 0 && this.#checkpoint === undefined && !this.#parts.compaction.running && !this.#returningFreeSpace;
  }

  /** For the error of a StorageEngine.settle() that timed out. */
  describe(): string {
    const { cuts, compaction } = this.#parts;
    return `cuts pending ${cuts.unlanded}, checkpoint ${JSON.stringify(this.#checkpoint)}, landed ${cuts.landed}, compaction ${compaction.describe()}, ` +
      `returning free space ${this.#returningFreeSpace}`;
  }

  /**
   * A maintenance round of the engine: a checkpoint when the records or heads passed their
   * limits or the oldest record is older than the age limit, else a compaction resumed. A
   * checkpoint only adds chunks, so snapshot readers do not hold it back; compaction's landing
   * waits for them (it deletes chunks).
   */
  round(nowMs: number): void {
    const wal = this.#parts.wal;
    if (this.#parts.overLimits() || (wal.records > 0 && nowMs - wal.oldestMs > this.#parts.walMaxAgeMs)) {
      this.startCheckpoint();
    } else if (this.#parts.compaction.running) {
      this.schedule(0);
    }
  }

  /** Drops the checkpoint, compaction and return of free space in progress (a failure, a rebuild, close). */
  drop(): void {
    this.#checkpoint = undefined;
    this.#returningFreeSpace = false;
    this.#parts.compaction.drop();
  }

  /**
   * After a full checkpoint (StorageEngine.checkpoint) committed. A background compaction's
   * merge task, if one is out, now belongs to the old generation and its result will be
   * ignored: a plan kept waiting for it never finished (settle() and /health's
   * compactionRunning waited forever). Its series are packed by the next one.
   */
  afterFullCheckpoint(): void {
    this.#checkpoint = undefined;
    this.#parts.settle.requeue(this.#parts.compaction.drop());
  }

  /**
   * Starts a background checkpoint of everything written so far: slices cut every head that
   * holds points (the encoder thread does the encoding); once those cuts landed, slices delete
   * the records. Cutting 4,000 heads in one go copied ~130 MB and stalled acks for 200 ms.
   */
  startCheckpoint(settleSids?: number[]): void {
    if (this.#checkpoint !== undefined) return;
    const heads = this.#parts.heads;
    // A settle checkpoint cuts the heads the policy picked; the records it deletes are bounded by the heads it leaves (see deletableUpTo).
    let sids = settleSids;
    if (sids === undefined) {
      sids = [];
      for (let sid = 0; sid < heads.size; sid++) if (heads.length(sid) > 0) sids.push(sid);
    }
    this.#checkpoint = { upTo: this.#parts.wal.lastId, sids, next: 0, lastCut: 0, settle: settleSids !== undefined };
    this.schedule(0);
  }

  /** Starts the compaction after settling: the series whose cuts landed since the last one. */
  startSettleCompaction(): void {
    this.#parts.compaction.start(this.#parts.settle.takeSeries(), true);
    this.schedule(0);
  }

  /** Starts giving the back-end's free space back (settling, once nothing is left to cut or pack). */
  startFreeSpaceReturn(): void {
    if (this.#parts.space.returnFreeSpaceStep === undefined) return;
    this.#returningFreeSpace = true;
    this.schedule(0);
  }

  /** After a landing committed: a checkpoint whose heads are all cut may go on once its cuts landed. */
  afterLanding(): void {
    const cp = this.#checkpoint;
    if (cp !== undefined && cp.next === cp.sids.length && this.#parts.cuts.landed >= cp.lastCut) this.schedule(0);
  }

  /** The newest record a checkpoint may delete: none that a head or an unlanded cut holds points of. */
  deletableUpTo(upTo: number): number {
    return deletableUpTo(deletableUpTo(upTo, this.#parts.headAges.firstWal), this.#parts.cuts.unlandedFirstWals());
  }

  /** Schedules the next slice after `pauseMs` (0: at once, after pending I/O). */
  schedule(pauseMs: number): void {
    if (this.#sliceScheduled || this.#parts.writer.closed) return;
    this.#sliceScheduled = true;
    const next = (): void => {
      this.#sliceScheduled = false;
      this.#slice();
    };
    if (pauseMs > 0) setTimeout(next, pauseMs);
    else setImmediate(next);
  }

  /**
   * One slice of background maintenance on the writer thread: cuts a checkpoint's heads,
   * deletes its records once its cuts landed, plans, sends and lands compaction, or returns
   * free space, until MAINTENANCE_SLICE_MS passed; schedules the next slice if unfinished.
   * Waiting for the encoder costs nothing: its results schedule the next slice.
   */
  #slice(): void {
    const { writer, cuts, compaction, settle } = this.#parts;
    if (writer.closed || writer.closing) return;
    if (writer.writeBusy) {
      // One write at a time: this slice's would queue behind a commit in flight (a network
      // back-end) and its bookkeeping would run ahead of it.
      this.schedule(1);
      return;
    }
    const sliceStart = performance.now();
    const deadline = sliceStart + this.#parts.maintenanceSliceMs;
    let more = false;
    try {
      const cp = this.#checkpoint;
      if (cp?.settle === true && cp.next < cp.sids.length && !settle.isQuiet()) {
        // Load returned: the heads cut so far land and their records go; the rest waits for quiet.
        cp.sids.length = cp.next;
        cp.lastCut = cuts.queued;
      }
      if (cp !== undefined && cp.next < cp.sids.length) {
        // A head holds the points of every record up to the newest one: cut it as a commit would.
        const walId = this.#parts.wal.lastId;
        do cuts.cut(cp.sids[cp.next++]!, walId);
        while (cp.next < cp.sids.length && performance.now() < deadline);
        cuts.send();
        if (cp.next === cp.sids.length) cp.lastCut = cuts.queued;
        more = cp.next < cp.sids.length || cuts.landed >= cp.lastCut;
      } else if (cp !== undefined) {
        if (cuts.landed < cp.lastCut) return;
        more = this.#deleteCheckpointedRecords(this.deletableUpTo(cp.upTo));
        if (!more) {
          this.#checkpoint = undefined;
          if (cp.settle) compaction.start(settle.takeSeries(), true);
          else compaction.start([...this.#parts.seriesWithChunks()], false);
          // Records kept coming meanwhile: if they passed the limit again, checkpoint again first.
          if (this.#parts.overLimits()) this.startCheckpoint();
          more = true;
        }
      } else if (compaction.settling && !settle.isQuiet()) {
        // Load returned: settling stops; its series are packed at the next quiet period.
        settle.requeue(compaction.drop());
      } else if (compaction.running) {
        const settling = compaction.settling;
        const step = compaction.slice(deadline);
        if (step === 'done' && settling) settle.settledNow();
        // 'waiting': the encoder's result, or the end of a snapshot read, schedules the next slice.
        more = step === 'more';
      } else if (this.#returningFreeSpace && !settle.isQuiet()) {
        // Load returned: its writes reuse the free space; the next quiet period returns what is left.
        this.#returningFreeSpace = false;
      } else if (this.#returningFreeSpace) {
        // Between writes (writeBusy was checked above): the back-end's step runs on the writer connection.
        const step: FreeSpaceStep = this.#parts.space.returnFreeSpaceStep?.(deadline) ?? 'done';
        if (step === 'done') this.#returningFreeSpace = false;
        if (step === 'wait') {
          this.schedule(FREE_SPACE_WAIT_MS);
          return;
        }
        more = step === 'more';
      }
    } catch (error) {
      writer.maintenanceFailed(error);
      return;
    }
    if (!more) return;
    // Paced when the slice used its whole budget (much work left): back to back, slices took
    // ~2/3 of the main thread for a second per checkpoint at half the maximum rate, commits
    // fell behind the load and the queued acknowledgements waited up to 175 ms (p99). A
    // slice that finished early leaves little to do: the rest follows at once. Tests (slice 0)
    // interleave on setImmediate.
    const now = performance.now();
    // Packing or returning space: neither is needed by the batches arriving now.
    const compacting = this.#checkpoint === undefined && (compaction.running || this.#returningFreeSpace);
    const factor = compacting && now - this.#parts.lastCommitAt() < INGEST_ACTIVE_MS ? COMPACTION_PAUSE_PER_WORK_UNDER_LOAD
      : this.settling ? SETTLE_PAUSE_PER_WORK : MAINTENANCE_PAUSE_PER_WORK;
    this.schedule(this.#parts.maintenanceSliceMs > 0 && now >= deadline ? Math.ceil((now - sliceStart) * factor) : 0);
  }

  /**
   * Deletes the oldest records ≤ upTo, up to WAL_DELETE_BYTES_PER_SLICE of them; with the last
   * ones the marks ≤ upTo go too. Every point of these records is in chunks (their cuts
   * landed), so a kill between two slices leaves nothing that replay would miss or double.
   * Returns whether records ≤ upTo remain.
   */
  #deleteCheckpointedRecords(upTo: number): boolean {
    const wal = this.#parts.wal;
    const { bound, last } = wal.planDeletion(upTo, WAL_DELETE_BYTES_PER_SLICE);
    this.#parts.writer.write((tx) => {
      if (bound > 0) tx.deleteWalRecordsUpTo(bound);
      if (last) tx.deleteMarksUpTo(upTo);
      if (bound > 0) wal.dropUpTo(bound);
    }).catch((error: unknown) => this.#parts.writer.maintenanceFailed(error));
    return !last;
  }
}
