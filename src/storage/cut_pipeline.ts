/**
 * The cut pipeline of the storage engine (storage_engine.ts): a head reaching its cut size (or
 * cut by a checkpoint) becomes a pending cut, the chunk encoder thread (chunk_encoder.ts) sorts
 * and encodes it, and its chunk rows land later, in a short transaction of their own or in a
 * commit's, together with the series' mark (the series' points of records up to the cut's
 * record are in chunks; replay skips them). Encoding on the writer thread took ~15% of it at
 * 3 M points/s, and every batch is acknowledged there.
 *
 * Invariants: until its landing committed, a cut's points are read from memory (`pendingOf`,
 * merged by StorageEngine.head) and stay in the write-ahead records, so a kill before the
 * landing replays them. Cuts land in queue order, so a series' marks only move forward. A cut's
 * buffers are shared memory and go back to the head table's pool only once it landed and no
 * encoder task holds them. `forget()` (after the engine rebuilt or wrote every point) starts a
 * new generation: results of older encoder tasks are ignored when they arrive.
 */
import type { WriteTransaction } from './backend.js';
import type { BackgroundWriter } from './background_writer.js';
import type { ChunkCatalog } from './chunk_catalog.js';
import { encodeCut, type EncodedChunk } from './chunk_encoding.js';
import type { ChunkEncoder } from './chunk_encoder.js';
import type { EncodeResult } from './chunk_encode_task.js';
import type { HeadTable } from './head.js';
import { keepCutRollups } from './rollup/cut_rollups.js';
import type { RollupStore } from './rollup/rollup_store.js';
import type { HeadAges } from './settle_policy.js';

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
 * Points of pending cuts past which the writer encodes cuts itself (encodeIfBehind):
 * 16M points hold 256 MiB; the encoder normally keeps the backlog under a few hundred thousand.
 */
export const MAX_PENDING_CUT_POINTS = 16 * 1024 * 1024;
/** How long encoded cuts wait for a commit to carry them before landing on their own. */
const LANDING_WAIT_MS = 2;
/** Time a commit spends landing encoded cuts at most (its acknowledgement waits for it). */
const LAND_IN_COMMIT_MS = 1;

/**
 * A head cut whose chunk has not landed: its points stay readable (and in the write-ahead
 * records) until the chunk rows and the series' mark are committed together.
 */
export interface PendingCut {
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
   * and they go back to the buffer pool only when both are done (#releaseBuffers).
   */
  atEncoder: boolean;
  landed: boolean;
  /** The ids its chunks got when they were inserted (for their rollups once committed). */
  chunkIds?: number[];
}

export interface CutPipelineParts {
  heads: HeadTable;
  headAges: HeadAges;
  encoder: ChunkEncoder;
  chunks: ChunkCatalog;
  rollups: RollupStore;
  writer: BackgroundWriter;
  /** Longest a landing transaction of its own fills (MAINTENANCE_SLICE_MS of the engine). */
  maintenanceSliceMs: number;
  maxPendingCutPoints: number;
  /** A cut's landing committed: its `points` left memory, its series has new chunks. */
  onLanded: (seriesId: number, points: number) => void;
  /** After a landing committed and the queue was trimmed (a checkpoint may be waiting for it). */
  afterLanding: () => void;
}

export class CutPipeline {
  readonly #parts: CutPipelineParts;
  /** Per series, its cuts not landed yet, oldest first. */
  #pendingOf: (PendingCut[] | undefined)[] = [];
  /** Every cut not landed yet, in the order they must land (a series' marks only move forward). */
  #queue: PendingCut[] = [];
  #queueStart = 0;
  #toSend: PendingCut[] = [];
  /** Cuts queued and landed since start: a checkpoint waits for its last cut's number. */
  #queued = 0;
  #landed = 0;
  #landingScheduled = false;
  #tasksInFlight = 0;
  #encodedHere = 0;
  /** Points of cuts not landed yet. */
  #pendingPoints = 0;
  /** Bumped when in-memory state is rebuilt or closed: results of older tasks are dropped. */
  #generation = 0;

  constructor(parts: CutPipelineParts) {
    this.#parts = parts;
  }

  /** The current generation: a task started under an older one has its result dropped. */
  get generation(): number {
    return this.#generation;
  }

  /** Cuts queued since start (a checkpoint's last cut has this number once it cut its heads). */
  get queued(): number {
    return this.#queued;
  }

  /** Cuts landed since start (forget() counts the dropped ones as landed). */
  get landed(): number {
    return this.#landed;
  }

  /** Cuts waiting to land. */
  get unlanded(): number {
    return this.#queue.length - this.#queueStart;
  }

  get pendingPoints(): number {
    return this.#pendingPoints;
  }

  get encodedByWriter(): number {
    return this.#encodedHere;
  }

  /** One past the highest series id that has or had pending cuts since the last forget(). */
  get seriesSpan(): number {
    return this.#pendingOf.length;
  }

  /** The series' cuts not landed yet, oldest first. */
  pendingOf(seriesId: number): readonly PendingCut[] | undefined {
    return this.#pendingOf[seriesId];
  }

  /** The oldest record each unlanded cut holds points of: a checkpoint deletes none from there on. */
  unlandedFirstWals(): number[] {
    const firstWals: number[] = [];
    for (let k = this.#queueStart; k < this.#queue.length; k++) firstWals.push(this.#queue[k]!.firstWal);
    return firstWals;
  }

  /**
   * Cuts a head: its points become a pending cut, encoded by the chunk encoder and landed by
   * #landOnItsOwn or a commit (chunk rows + the series' mark in one transaction). Until then
   * they stay readable through pendingOf(), and in the write-ahead records for replay.
   * send() hands the cuts to the encoder.
   */
  cut(seriesId: number, walId: number): void {
    const { heads, headAges } = this.#parts;
    if (heads.length(seriesId) === 0) return;
    const taken = heads.take(seriesId);
    // 1 (the oldest record there can be) if unknown: it only holds a checkpoint back.
    const firstWal = headAges.firstWal[seriesId] || 1;
    headAges.noteCut(seriesId);
    const cut: PendingCut = { seriesId, walId, firstWal, ...taken, chunks: undefined, atEncoder: false, landed: false };
    (this.#pendingOf[seriesId] ??= []).push(cut);
    this.#queue.push(cut);
    this.#toSend.push(cut);
    this.#queued++;
    this.#pendingPoints += cut.timestamps.length;
  }

  /** Sends waiting cuts to the encoder, in tasks of up to CUTS_PER_ENCODE_TASK, ENCODE_TASKS_IN_FLIGHT at a time. */
  send(): void {
    while (this.#toSend.length > 0 && this.#tasksInFlight < ENCODE_TASKS_IN_FLIGHT) {
      const cuts = this.#toSend.splice(0, CUTS_PER_ENCODE_TASK);
      const generation = this.#generation;
      const task = {
        kind: 'cut' as const, cuts: cuts.map((c) => ({ timestamps: c.timestamps, values: c.values, inOrder: c.inOrder })), rollups: this.#parts.rollups.enabled,
      };
      this.#tasksInFlight++;
      for (const c of cuts) c.atEncoder = true;
      this.#parts.encoder.run(task).then(
        (result) => this.#onEncoded(cuts, generation, result),
        (error: unknown) => this.#onEncoded(cuts, generation, error as Error),
      );
    }
  }

  #onEncoded(cuts: PendingCut[], generation: number, result: EncodeResult | Error): void {
    for (const cut of cuts) {
      cut.atEncoder = false;
      if (cut.landed) this.#releaseBuffers(cut);
    }
    if (generation !== this.#generation || this.#parts.writer.closed) return;
    this.#tasksInFlight--;
    this.send();
    if (result instanceof Error || result.kind !== 'cut') {
      // The encoder thread failed (it should not): encode here rather than lose the cuts.
      this.#parts.writer.encoderFailed(`chunk encoder: ${result instanceof Error ? result.message : 'unexpected reply'}`);
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
      this.#landOnItsOwn();
    }, LANDING_WAIT_MS);
  }

  /**
   * Called by a commit adding `points`: when pending cuts passed their limit, the encoder thread
   * fell behind (it runs at low priority and a busy machine may starve it), and the commit
   * encodes the oldest cuts itself, as many points as it adds, so that pending cuts (which hold
   * their points in memory) stop growing while the cost is spread over commits. The encoder's
   * results for these cuts arrive later, identical, and are ignored.
   */
  encodeIfBehind(points: number): void {
    if (this.#pendingPoints <= this.#parts.maxPendingCutPoints) return;
    let encoded = 0;
    for (let k = this.#queueStart; k < this.#queue.length && encoded < points; k++) {
      const cut = this.#queue[k]!;
      if (cut.chunks !== undefined) continue;
      cut.chunks = encodeCut(cut);
      this.#encodedHere++;
      encoded += cut.timestamps.length;
    }
  }

  #frontEncoded(): boolean {
    const front = this.#queue[this.#queueStart];
    return front !== undefined && front.chunks !== undefined;
  }

  /** Lands encoded cuts in their own transaction, for up to the maintenance slice. */
  #landOnItsOwn(): void {
    const writer = this.#parts.writer;
    if (writer.closed || writer.closing || !this.#frontEncoded()) return;
    if (writer.writeBusy) {
      // The write in progress (a commit) may carry them; if not, its end is soon.
      this.#scheduleLanding();
      return;
    }
    const deadline = performance.now() + this.#parts.maintenanceSliceMs;
    writer.write((tx) => this.#landEncoded(tx, deadline), (landed) => {
      this.haveLanded(landed);
      this.afterLanding();
    }).catch((error: unknown) => writer.maintenanceFailed(error));
  }

  /**
   * Inside a commit's transaction: lands encoded cuts for up to LAND_IN_COMMIT_MS, or returns
   * undefined when the front cut is not encoded yet. After the commit, haveLanded() then
   * afterLanding().
   */
  landInCommit(tx: WriteTransaction): PendingCut[] | undefined {
    return this.#frontEncoded() ? this.#landEncoded(tx, performance.now() + LAND_IN_COMMIT_MS) : undefined;
  }

  /**
   * Records encoded cuts in queue order (at least one; the front one must be encoded) until
   * the deadline: their chunk rows and the series' marks. Inside the caller's transaction;
   * the cuts stay readable from memory until it committed (haveLanded).
   */
  #landEncoded(tx: WriteTransaction, deadline: number): PendingCut[] {
    const queue = this.#queue;
    const chunks = this.#parts.chunks;
    const landed: PendingCut[] = [];
    // A landing that waited its turn may find the queue emptied (a checkpoint wrote every cut).
    if (!this.#frontEncoded()) return landed;
    do {
      const cut = queue[this.#queueStart]!;
      cut.chunkIds = [];
      for (const chunk of cut.chunks!) {
        chunks.insert(tx, cut.seriesId, chunk);
        cut.chunkIds.push(chunks.maxChunkId);
      }
      tx.setMark(cut.seriesId, cut.walId);
      this.#queueStart++;
      landed.push(cut);
    } while (this.#frontEncoded() && performance.now() < deadline);
    return landed;
  }

  /** Landed cuts' points are in committed chunks now: they leave the pending lists and memory. */
  haveLanded(landed: readonly PendingCut[]): void {
    for (const cut of landed) {
      this.#landed++;
      this.#pendingPoints -= cut.timestamps.length;
      this.#pendingOf[cut.seriesId]!.shift();
      this.#parts.onLanded(cut.seriesId, cut.timestamps.length);
      // Committed: the chunk ids are theirs now (and the points still at hand for chunks the
      // writer encoded itself, without records).
      if (cut.chunkIds !== undefined) keepCutRollups(this.#parts.rollups, cut, cut.chunks!, cut.chunkIds);
      // head() copies pending cuts, so only the encoder thread may still read the buffers.
      cut.landed = true;
      if (!cut.atEncoder) this.#releaseBuffers(cut);
    }
  }

  /** Gives a landed cut's buffers back to the pool, once no encoder task holds them. */
  #releaseBuffers(cut: PendingCut): void {
    if (!cut.landed || cut.atEncoder) throw new Error(`BUG: releasing the buffers of series ${cut.seriesId}'s cut (landed ${cut.landed}, at encoder ${cut.atEncoder})`);
    this.#parts.heads.recycle(cut.timestamps, cut.values);
  }

  /** After a landing committed: trims the queue, schedules the rest, lets a checkpoint go on. */
  afterLanding(): void {
    const queue = this.#queue;
    if (this.#queueStart === queue.length) {
      this.#queue = [];
      this.#queueStart = 0;
    } else if (this.#queueStart >= 4096) {
      this.#queue = queue.slice(this.#queueStart);
      this.#queueStart = 0;
    }
    if (this.#frontEncoded()) this.#scheduleLanding();
    this.#parts.afterLanding();
  }

  /**
   * Drops every pending cut (their points are in the heads or chunks that the caller just
   * rebuilt or wrote); results of tasks still at the encoder belong to the old generation and
   * are ignored when they arrive.
   */
  forget(): void {
    this.#generation++;
    this.#pendingOf = [];
    this.#queue = [];
    this.#queueStart = 0;
    this.#toSend = [];
    this.#tasksInFlight = 0;
    this.#landed = this.#queued;
    this.#pendingPoints = 0;
  }
}
