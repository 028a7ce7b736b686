/**
 * When the storage engine settles: cuts idle heads into chunks, checkpoints the write-ahead
 * records they pinned and compacts, once ingest has gone quiet (issue 16). Without it, a burst
 * below the checkpoint limits left its last points in heads and records until the age limit
 * (2 h): a minute after an 8.64 M-point burst, 1.37 M points in heads and 44 MB of records, and
 * the 24 h hourly query of 100 series took 22–31 ms of engine time instead of 5.6 ms.
 *
 * Two rules, both pure functions of what the store tracks (the clock is a parameter):
 *   - the server is quiet when the points committed over the last `quietWindowMs` average at
 *     most `quietMaxPointsPerSecond` (CommitRateWindow): a burst, or a bursty stream whose
 *     pauses are shorter than the window, never starts settling;
 *   - while quiet, a series' head is cut when the series has been idle for `seriesIdleMs` and
 *     the cut is worth a chunk: it holds at least `minCutPoints` points, or it pins at least
 *     `pinBytes` of write-ahead records (records can only go once every head holding points
 *     of theirs is cut), or its oldest record passed the write-ahead age limit. A trickle
 *     writer's series is never idle and its small heads pin little, so it gets no chunk per
 *     point; the size and age cuts of the store handle it as before.
 *
 * Once nothing is left to cut or pack, a third rule gives the store's free space back to the
 * file system (freeSpaceDue): the space that deleted records and rewritten chunks left inside
 * the store, which a running server otherwise kept until stop (10x the stopped size after the
 * 24 h TSBS burst, issue 16).
 *
 * The storage engine's settling (settle_controller.ts) evaluates this every `checkIntervalMs`, runs the cuts as a
 * background checkpoint limited to the picked series, the compaction after it and then the
 * return of free space; all in its maintenance slices, all stopped when the server stops being quiet.
 */

import type { FreeSpace } from './backend.js';

/** What decides when the engine settles; every field is explained at DEFAULT_SETTLE_CONFIG. */
export interface SettleConfig {
  seriesIdleMs: number;
  minCutPoints: number;
  pinBytes: number;
  quietWindowMs: number;
  quietMaxPointsPerSecond: number;
  checkIntervalMs: number;
  returnFreeBytes: number;
}

export const DEFAULT_SETTLE_CONFIG: Readonly<SettleConfig> = Object.freeze({
  /**
   * 10 s: twice Prometheus remote write's default batch_send_deadline (5 s), the longest gap
   * between the batches of a common live client, so a series still being fed is not taken
   * for idle between two of its batches. Cutting a live series too early costs one extra
   * chunk (compaction packs it), so the bound need not be longer.
   */
  seriesIdleMs: 10_000,
  /**
   * 256 points: a chunk costs a row of ~100 bytes (chunk_encoding.ts); at 256 points that is
   * ~0.4 B/pt on top of ~1.15 B/pt of data until compaction packs it, and below it the cut
   * would mostly be overhead. A head of fewer points is cheap to keep (4 KiB) and to read.
   */
  minCutPoints: 256,
  /**
   * 1 MiB: replaying it at start takes ~15 ms (64 MiB replay in about a second, see
   * WAL_CHECKPOINT_BYTES), and it is the disk of ~10,000 chunk rows. A small idle head that
   * keeps more records than this alive is cut; one that keeps less waits for more points or
   * the age limit. An idle series gets at most one such cut per MiB written by the others.
   */
  pinBytes: 1024 * 1024,
  /** 10 s: the same two batch periods as seriesIdleMs, so a remote-write client's pauses are not quiet. */
  quietWindowMs: 10_000,
  /**
   * 20,000 points/s: 1% of the measured ingest maximum (1.9–2.0 M points/s on 2 cores), where
   * commits take ~1% of the writer thread, so settling slices hardly meet a commit. A trickle
   * of thousands of series at one point a second stays under it, so their idle neighbours
   * still settle; any real burst is far above it.
   */
  quietMaxPointsPerSecond: 20_000,
  /** 1 s: settling starts at most a second late; a check is a pass over the series (~0.1 ms per 10,000). */
  checkIntervalMs: 1_000,
  /**
   * 4 MiB: free space below this stays in the store. A trickle's settle checkpoint deletes
   * about pinBytes of records at a time and its next records fill those pages again, so
   * returning a few pinBytes would only move pages out and back in; 4 MiB is also the -wal
   * size at which SQLite's checkpoint worker starts (a small store's -wal stays below it).
   * FREE_SPACE_MIN_SHARE adds a relative floor for large stores.
   */
  returnFreeBytes: 4 * 1024 * 1024,
});

/**
 * Free space is returned only when it is at least this share of the store (1/16: before it is
 * returned, a user's `du` shows at most ~7 % more than the data needs). In a large store the
 * records one checkpoint deletes (up to 64 MiB) are a small share and are reused by the next
 * ones; moving a whole store's pages for them would cost seconds of the writer thread.
 */
export const FREE_SPACE_MIN_SHARE = 1 / 16;

/** Environment variables that override the defaults (tests shrink the times; operators may too). */
export const SETTLE_ENV: Readonly<Record<keyof SettleConfig, string>> = Object.freeze({
  seriesIdleMs: 'EMMS_SETTLE_SERIES_IDLE_MS',
  minCutPoints: 'EMMS_SETTLE_MIN_CUT_POINTS',
  pinBytes: 'EMMS_SETTLE_PIN_BYTES',
  quietWindowMs: 'EMMS_SETTLE_QUIET_WINDOW_MS',
  quietMaxPointsPerSecond: 'EMMS_SETTLE_QUIET_MAX_POINTS_PER_SECOND',
  checkIntervalMs: 'EMMS_SETTLE_CHECK_INTERVAL_MS',
  returnFreeBytes: 'EMMS_SETTLE_RETURN_FREE_BYTES',
});

/** Largest value any setting takes: a day in ms, or a billion points/bytes. */
const SETTING_MAX = 1e9;

/**
 * The defaults with `overrides` and the SETTLE_ENV variables of `env` applied (env last).
 * Throws naming the variable and the value when one is not an integer in [1, 1e9].
 */
export function resolveSettleConfig(overrides: Partial<SettleConfig> = {}, env: Record<string, string | undefined> = {}): SettleConfig {
  const config: SettleConfig = { ...DEFAULT_SETTLE_CONFIG, ...overrides };
  for (const key of Object.keys(SETTLE_ENV) as Array<keyof SettleConfig>) {
    const name = SETTLE_ENV[key];
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1 || value > SETTING_MAX) {
      throw new Error(`environment ${name}=${JSON.stringify(raw.slice(0, 40))}: must be an integer from 1 to ${SETTING_MAX}`);
    }
    config[key] = value;
  }
  return config;
}

/** Buckets of the commit-rate window: the rate is exact to 1/20 of the window. */
const RATE_BUCKETS = 20;

/** Points committed over a sliding window, in RATE_BUCKETS buckets of equal length. */
export class CommitRateWindow {
  readonly #bucketMs: number;
  readonly #points = new Float64Array(RATE_BUCKETS);
  /** Bucket number (time / bucketMs) of each slot's points. */
  readonly #epoch = new Float64Array(RATE_BUCKETS).fill(-Infinity);
  #lastCommitMs = -Infinity;

  constructor(readonly windowMs: number) {
    this.#bucketMs = windowMs / RATE_BUCKETS;
  }

  note(nowMs: number, points: number): void {
    const epoch = Math.floor(nowMs / this.#bucketMs);
    const slot = epoch % RATE_BUCKETS;
    if (this.#epoch[slot] !== epoch) {
      this.#epoch[slot] = epoch;
      this.#points[slot] = 0;
    }
    this.#points[slot] = this.#points[slot]! + points;
    this.#lastCommitMs = nowMs;
  }

  /** Points per second over the window ending now. */
  pointsPerSecond(nowMs: number): number {
    const epoch = Math.floor(nowMs / this.#bucketMs);
    let total = 0;
    for (let slot = 0; slot < RATE_BUCKETS; slot++) {
      if (epoch - this.#epoch[slot]! < RATE_BUCKETS) total += this.#points[slot]!;
    }
    return total / (this.windowMs / 1000);
  }

  get lastCommitMs(): number {
    return this.#lastCommitMs;
  }
}

/** Whether the server is quiet (see the file comment). */
export function isQuiet(rate: CommitRateWindow, nowMs: number, config: SettleConfig): boolean {
  return rate.pointsPerSecond(nowMs) <= config.quietMaxPointsPerSecond;
}

/** Whether settling should give the free space back now (see returnFreeBytes and FREE_SPACE_MIN_SHARE). */
export function freeSpaceDue(figures: FreeSpace, config: SettleConfig): boolean {
  return figures.freeBytes >= config.returnFreeBytes && figures.freeBytes >= figures.storeBytes * FREE_SPACE_MIN_SHARE;
}

/**
 * Per series: the id of the oldest write-ahead record among its head's points (0 = empty
 * head) and when a commit last appended to it. Typed arrays, written once per series run of a
 * commit, so the commit loop pays two stores.
 */
export class HeadAges {
  firstWal = new Float64Array(1024);
  lastAppendMs = new Float64Array(1024);

  noteAppend(seriesId: number, walId: number, nowMs: number): void {
    if (seriesId >= this.firstWal.length) this.#grow(seriesId);
    if (this.firstWal[seriesId] === 0) this.firstWal[seriesId] = walId;
    this.lastAppendMs[seriesId] = nowMs;
  }

  /** The series' head was emptied (cut or written out). */
  noteCut(seriesId: number): void {
    if (seriesId < this.firstWal.length) this.firstWal[seriesId] = 0;
  }

  reset(): void {
    this.firstWal.fill(0);
    this.lastAppendMs.fill(0);
  }

  #grow(seriesId: number): void {
    let size = this.firstWal.length;
    while (size <= seriesId) size *= 2;
    const first = new Float64Array(size);
    first.set(this.firstWal);
    const last = new Float64Array(size);
    last.set(this.lastAppendMs);
    this.firstWal = first;
    this.lastAppendMs = last;
  }
}

/** What pickSettleCuts reads from the store. */
export interface SettleView {
  nowMs: number;
  /** Series ids below this may have a head. */
  seriesCount: number;
  headLength: (seriesId: number) => number;
  ages: HeadAges;
  /** Flat [id, bytes, createdMs] of every write-ahead record, oldest first. */
  walLog: readonly number[];
  walMaxAgeMs: number;
}

/** The series to cut now, and whether other heads hold enough to be cut once their series go idle. */
export interface SettlePlan {
  cut: number[];
  waiting: number;
}

/**
 * Picks the heads to cut (see the file comment); the caller checks quietness first. `waiting`
 * counts heads that would be picked but whose series is not idle yet: the engine is not
 * settled while any remain.
 */
export function pickSettleCuts(view: SettleView, config: SettleConfig): SettlePlan {
  const { nowMs, ages, walLog } = view;
  const records = walLog.length / 3;
  // Bytes of records from record k on, to weigh what a head pins.
  const bytesFrom = new Float64Array(records + 1);
  for (let k = records - 1; k >= 0; k--) bytesFrom[k] = bytesFrom[k + 1]! + walLog[3 * k + 1]!;
  const cut: number[] = [];
  let waiting = 0;
  const limit = Math.min(view.seriesCount, ages.firstWal.length);
  for (let sid = 0; sid < limit; sid++) {
    const length = view.headLength(sid);
    if (length === 0) continue;
    let worth = length >= config.minCutPoints;
    if (!worth) {
      const k = recordIndex(walLog, ages.firstWal[sid]!);
      worth = bytesFrom[k]! >= config.pinBytes || (k < records && nowMs - walLog[3 * k + 2]! >= view.walMaxAgeMs);
    }
    if (!worth) continue;
    if (nowMs - ages.lastAppendMs[sid]! >= config.seriesIdleMs) cut.push(sid);
    else waiting++;
  }
  return { cut, waiting };
}

/** Index of the first record with id ≥ walId in the flat log (binary search on the ids). */
export function recordIndex(walLog: readonly number[], walId: number): number {
  let lo = 0;
  let hi = walLog.length / 3;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (walLog[3 * mid]! < walId) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The newest record a checkpoint up to `upTo` may delete: older than the oldest record any
 * head or unlanded cut still holds points of (`firstWals`, 0 = none). A settle checkpoint
 * leaves small heads alone, and load may stop it early, so this can be below `upTo`.
 */
export function deletableUpTo(upTo: number, firstWals: Iterable<number>): number {
  let bound = upTo;
  for (const f of firstWals) if (f > 0 && f - 1 < bound) bound = f - 1;
  return bound;
}
