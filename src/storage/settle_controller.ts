/**
 * Settling for the storage engine (storage_engine.ts; settle_policy.ts decides when): once
 * ingest is quiet, `check()` starts a background checkpoint limited to the heads of idle series
 * worth a chunk, which deletes the records below the oldest one any remaining head or unlanded
 * cut holds, or else the compaction of the series cut since the last settle, or else, when the
 * back-end holds enough free space (settle_policy.ts, freeSpaceDue), gives it back to the file
 * system (SQLite: free_space_return.ts). All run in the maintenance scheduler's slices
 * (maintenance_scheduler.ts) and stop when load returns.
 *
 * State: the commit rate that tells quiet from load, the series cut since the last settle
 * compaction (what it packs; a settle compaction that load or a failure stopped gives its series
 * back), and when the last one finished. It survives a rebuild of the engine's state: those
 * series still have their chunks.
 */
import type { StorageMaintenance } from '../model/api.js';
import type { StorageBackend } from './backend.js';
import type { BackgroundCompaction } from './background_compaction.js';
import type { CutPipeline } from './cut_pipeline.js';
import { BLOCK_POINTS, type HeadTable } from './head.js';
import type { MaintenanceScheduler } from './maintenance_scheduler.js';
import { CommitRateWindow, freeSpaceDue, isQuiet, pickSettleCuts, type HeadAges, type SettleConfig } from './settle_policy.js';
import type { WalLedger } from './wal_ledger.js';

/** How often stats() recomputes what settling would do while ingest is busy (see stats()). */
const STATS_SETTLE_REFRESH_MS = 1000;

/** What one settle check did, or why it did nothing. */
export type SettleStep = 'busy' | 'loud' | 'checkpoint' | 'compaction' | 'free-space' | 'waiting' | 'settled';

export type SettleStats = Pick<StorageMaintenance, 'settled' | 'lastSettledAtMs' | 'headsToSettle' | 'headBytes' | 'walOldestAgeMs' | 'compactionBacklog' | 'recentPointsPerSecond'>;

/** What settling would do now: heads to cut, heads waiting for their series to go idle, and whether records are due. */
interface SettleWork {
  cut: number[];
  waiting: number;
  recordsDue: boolean;
}

export interface SettleParts {
  config: SettleConfig;
  /** The policy's clock (Date.now; tests move it). */
  clock: () => number;
  heads: HeadTable;
  headAges: HeadAges;
  wal: WalLedger;
  /** The write-ahead age limit (WAL_MAX_AGE_MS). */
  walMaxAgeMs: number;
  cuts: CutPipeline;
  scheduler: MaintenanceScheduler;
  compaction: BackgroundCompaction;
  /** The back-end's free space (absent: it has none to give back). */
  space: Pick<StorageBackend, 'freeSpace'>;
}

export class SettleController {
  readonly #parts: SettleParts;
  readonly #commitRate: CommitRateWindow;
  /** When the last settle's compaction finished (0 = never). */
  #lastSettledAt = 0;
  /** Series cut since the last settle compaction: what it packs. */
  #dirty = new Set<number>();
  #statsCache: { atMs: number; work: SettleWork } | undefined;

  constructor(parts: SettleParts) {
    this.#parts = parts;
    this.#commitRate = new CommitRateWindow(parts.config.quietWindowMs);
  }

  /** A commit of `points` points: the rate that tells quiet from load. */
  noteCommit(points: number): void {
    this.#commitRate.note(this.#parts.clock(), points);
  }

  isQuiet(): boolean {
    return isQuiet(this.#commitRate, this.#parts.clock(), this.#parts.config);
  }

  /** A cut of the series landed: the next settle compaction packs it. */
  markCut(seriesId: number): void {
    this.#dirty.add(seriesId);
  }

  /** Series a stopped settle compaction did not finish: the next one packs them. */
  requeue(sids: readonly number[]): void {
    for (const sid of sids) this.#dirty.add(sid);
  }

  /** The series the settle compaction starting now packs, in id order. */
  takeSeries(): number[] {
    const sids = [...this.#dirty].sort((a, b) => a - b);
    this.#dirty.clear();
    return sids;
  }

  /** A settle compaction finished. */
  settledNow(): void {
    this.#lastSettledAt = this.#parts.clock();
  }

  /**
   * What settling would do now (settle_policy.ts): heads to cut or waiting for their series to
   * go idle, and whether records no head needs add up to pinBytes (or are all of them).
   */
  #work(): SettleWork {
    const { heads, headAges, wal, config } = this.#parts;
    const { cut, waiting } = pickSettleCuts({
      nowMs: this.#parts.clock(), seriesCount: heads.size, headLength: (sid) => heads.length(sid),
      ages: headAges, walLog: wal.log, walMaxAgeMs: this.#parts.walMaxAgeMs,
    }, config);
    const deletable = wal.log.length > 0 ? this.#parts.scheduler.deletableUpTo(wal.lastId) : 0;
    const bytes = wal.bytesUpTo(deletable);
    const recordsDue = bytes > 0 && (bytes >= config.pinBytes || deletable >= wal.lastId);
    return { cut, waiting, recordsDue };
  }

  /** Whether the back-end holds enough free space to give back (settle_policy.ts). */
  #freeSpaceDue(): boolean {
    const figures = this.#parts.space.freeSpace?.();
    return figures !== undefined && freeSpaceDue(figures, this.#parts.config);
  }

  /**
   * One settle check (every checkIntervalMs; see settle_policy.ts). While the server is quiet
   * and no background work runs: cuts the heads the policy picks and deletes the records no
   * head needs (a background checkpoint limited to those heads), or else packs the series cut
   * since the last settle, or else gives the back-end's free space back. All run in
   * maintenance slices and stop when load returns.
   */
  check(): SettleStep {
    const scheduler = this.#parts.scheduler;
    if (!scheduler.idle) return 'busy';
    if (!this.isQuiet()) return 'loud';
    const work = this.#work();
    if (work.cut.length > 0 || work.recordsDue) {
      scheduler.startCheckpoint(work.cut);
      return 'checkpoint';
    }
    if (this.#dirty.size > 0) {
      scheduler.startSettleCompaction();
      return 'compaction';
    }
    if (this.#freeSpaceDue()) {
      scheduler.startFreeSpaceReturn();
      return 'free-space';
    }
    return work.waiting > 0 ? 'waiting' : 'settled';
  }

  /** The settling figures of StorageEngine.stats() (StorageMaintenance). */
  stats(): SettleStats {
    const { heads, wal, cuts, scheduler, compaction } = this.#parts;
    const nowMs = this.#parts.clock();
    const quiet = this.isQuiet();
    // A pass over every series and record: under load (the dashboard asks 10 times a second)
    // at most once a second; when quiet, fresh, for whoever waits for `settled`.
    const wall = performance.now();
    if (quiet || this.#statsCache === undefined || wall - this.#statsCache.atMs >= STATS_SETTLE_REFRESH_MS) {
      this.#statsCache = { atMs: wall, work: this.#work() };
    }
    const work = this.#statsCache.work;
    const idle = scheduler.idle;
    return {
      // Free space last: two PRAGMAs and a stat, asked only of an otherwise settled store.
      settled: quiet && idle && work.cut.length === 0 && work.waiting === 0 && !work.recordsDue && this.#dirty.size === 0 && !this.#freeSpaceDue(),
      lastSettledAtMs: this.#lastSettledAt === 0 ? undefined : this.#lastSettledAt,
      headsToSettle: work.cut.length + work.waiting,
      // Live heads' blocks plus pending cuts' columns, 16 bytes a point.
      headBytes: heads.blocksInUse * BLOCK_POINTS * 16 + cuts.pendingPoints * 16,
      walOldestAgeMs: wal.records > 0 ? Math.max(0, nowMs - wal.oldestMs) : 0,
      compactionBacklog: this.#dirty.size + compaction.backlog,
      recentPointsPerSecond: this.#commitRate.pointsPerSecond(nowMs),
    };
  }
}
