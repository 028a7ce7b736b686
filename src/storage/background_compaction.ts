/**
 * Compaction of stored chunks for the storage engine (storage_engine.ts): the writer plans
 * which of a series' chunks to merge (small or overlapping ones, compaction_plan.ts) and reads
 * their bytes, the encoder thread merges them into chunks of up to STORED_CHUNK_MAX_POINTS
 * (newest write winning on equal timestamps), and the writer swaps the rows unless the series
 * changed meanwhile.
 *
 * Lifecycle: one background compaction at a time (`start`), advanced by the maintenance
 * scheduler (maintenance_scheduler.ts) one `slice` at a time between commits, ended by 'done'
 * or dropped (`drop`) by a failure, a full checkpoint or close. A task out at the encoder when
 * its compaction is dropped, or the engine's state rebuilt (a new cut-pipeline generation),
 * has its result ignored. `compactSeries` compacts one series at once (stop, erasure, tests).
 */
import type { ChunkSource, WriteTransaction } from './backend.js';
import type { BackgroundWriter } from './background_writer.js';
import type { ChunkCatalog, ChunkMeta } from './chunk_catalog.js';
import { CODEC_EMMS_CHUNK, CorruptChunkError } from './chunk_rows.js';
import { mergeCluster, type ChunkDefect, type EncodedChunk, type StoredChunk } from './chunk_encoding.js';
import type { ChunkEncoder } from './chunk_encoder.js';
import type { EncodeResult } from './chunk_encode_task.js';
import { hasOverlap, overlapsCluster, planCompaction } from './compaction_plan.js';
import { keepEncodedRollups } from './rollup/encoded_rollups.js';
import type { RollupStore } from './rollup/rollup_store.js';

/** Background compaction packs a run of small chunks only when it merges at least this many. */
const PACK_RUN_BACKGROUND = 4;
/**
 * The compaction after settling packs every run of two or more: the server is quiet, and a
 * chunk that is not full is rewritten at most STORED_CHUNK_MAX_POINTS / minCutPoints times
 * (settle_policy.ts) before it is, once per quiet period.
 */
const PACK_RUN_SETTLE = 2;
/** Points of the chunks one background compaction task merges, at most (bounds its memory). */
const MERGE_TASK_POINTS = 262_144;
/** Times compactSeries plans again when the series changed between its read and its write. */
const COMPACT_SERIES_ATTEMPTS = 5;

/** Background compaction over `sids` from `next` on; `merging` is the task at the encoder, `landing` its result. */
interface Compaction {
  sids: number[];
  next: number;
  /** Started by settling: packs runs of PACK_RUN_SETTLE, and stops when the server is no longer quiet. */
  settle: boolean;
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

type StoredClusters = Array<{ clusters: Array<{ members: StoredChunk[]; overlapping: boolean }> }>;

export interface CompactionParts {
  chunks: ChunkCatalog;
  chunkSource: ChunkSource;
  encoder: ChunkEncoder;
  /** Where merged chunks' rollup records (built by the encoder thread) go. */
  rollups: RollupStore;
  writer: BackgroundWriter;
  /** The cut pipeline's generation: a merge started under an older one is dropped. */
  generation: () => number;
  /** Schedules the next maintenance slice (an encoder result or a landing arrived). */
  wake: () => void;
  maintenanceSliceMs: number;
  /** A series as errors name it. */
  describeSeries: (seriesId: number) => string;
}

export class BackgroundCompaction {
  readonly #parts: CompactionParts;
  #current: Compaction | undefined;

  constructor(parts: CompactionParts) {
    this.#parts = parts;
  }

  get running(): boolean {
    return this.#current !== undefined;
  }

  /** Whether the running compaction was started by settling. */
  get settling(): boolean {
    return this.#current?.settle === true;
  }

  /** Starts compacting `sids` (replacing a running compaction). */
  start(sids: number[], settle: boolean): void {
    this.#current = { sids, next: 0, merging: undefined, landing: undefined, settle };
  }

  /** Stops the running compaction; returns its series when settling started it (they are packed at the next settle). */
  drop(): number[] {
    const c = this.#current;
    this.#current = undefined;
    return c?.settle === true ? c.sids : [];
  }

  /** Series still to plan, merge or land. */
  get backlog(): number {
    const c = this.#current;
    return c === undefined ? 0 : c.sids.length - c.next + (c.merging?.length ?? 0) + (c.landing?.length ?? 0);
  }

  /** For the error of a settle() that timed out. */
  describe(): string {
    const c = this.#current;
    return c === undefined ? 'none' : `${c.next}/${c.sids.length} merging=${c.merging !== undefined} landing=${c.landing !== undefined}`;
  }

  /**
   * One compaction step: lands merged series (a write that deletes chunks, so it waits for
   * running snapshot reads: see StorageEngine.write), or plans the next task and sends it to
   * the encoder. Returns 'more' when there is work for the next slice, 'waiting' while a task
   * is at the encoder or a landing runs (their end schedules the next slice), 'done' at the end
   * (the compaction is then over).
   */
  slice(deadline: number): 'more' | 'waiting' | 'done' {
    const c = this.#current;
    if (c === undefined) return 'done';
    const step = this.#step(c, deadline);
    if (step === 'done') this.#current = undefined;
    return step;
  }

  #step(c: Compaction, deadline: number): 'more' | 'waiting' | 'done' {
    const { writer, chunks } = this.#parts;
    if (c.landing !== undefined) {
      const landing = c.landing;
      // A write that deletes chunks: it waits for running snapshot reads to end and holds new
      // ones back until it committed (see StorageEngine.write).
      let inSlice = true;
      let filled = false;
      const landed = writer.write((tx) => {
        filled = true;
        const until = inSlice ? deadline : performance.now() + this.#parts.maintenanceSliceMs;
        do this.#applyMerge(tx, landing.shift()!);
        while (landing.length > 0 && performance.now() < until);
        if (landing.length === 0 && c.landing === landing) c.landing = undefined;
      }, undefined, { deletesChunks: true });
      inSlice = false;
      const failed = (error: unknown): void => writer.maintenanceFailed(error);
      if (filled) {
        // Filled in this slice (no read was running): the caller paces the next slice by this
        // one's work, as after any other step (back to back, landings after a burst held the
        // ack p99 at half the maximum rate at ~300–400 ms instead of ~60).
        landed.catch(failed);
        return c.landing !== undefined || c.next < c.sids.length ? 'more' : 'done';
      }
      landed.then(() => this.#parts.wake(), failed);
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
      const clusters = planCompaction(chunks.chunksOf(seriesId), c.settle ? PACK_RUN_SETTLE : PACK_RUN_BACKGROUND);
      if (clusters.length === 0) continue;
      planned.push({ seriesId, clusters, maxChunkIdAtPlan: chunks.maxChunkId, result: undefined });
      for (const cluster of clusters) for (const m of cluster) points += m.count;
    }
    if (planned.length === 0) return c.next < c.sids.length ? 'more' : 'done';
    c.merging = planned;
    const generation = this.#parts.generation();
    const done = (result: EncodeResult | Error): void => {
      if (generation !== this.#parts.generation() || writer.closed || this.#current !== c) return;
      c.merging = undefined;
      if (result instanceof Error && planned.some((p) => this.#membersGone(p))) {
        // A member was deleted while its bytes were read (compactSeries or retention landed
        // first): nothing is wrong, the series is planned again by the next compaction.
      } else if (result instanceof Error || result.kind !== 'merge') {
        // Skipped, not retried: compaction only saves space, and the next checkpoint plans again.
        writer.encoderFailed(`chunk encoder: ${result instanceof Error ? result.message : 'unexpected reply'}`);
      } else {
        planned.forEach((p, k) => {
          p.result = result.series[k]!;
        });
        c.landing = planned;
      }
      this.#parts.wake();
    };
    this.#storedClusters(planned).then(
      (series) => this.#parts.encoder.run({ kind: 'merge', series, rollups: this.#parts.rollups.enabled }),
    ).then(done, (error: unknown) => done(error as Error));
    return 'waiting';
  }

  /** The stored bytes of planned clusters, read through the back-end, for the encoder thread. */
  async #storedClusters(planned: readonly PlannedMerge[]): Promise<StoredClusters> {
    const ids: number[] = [];
    for (const p of planned) for (const cluster of p.clusters) for (const m of cluster) ids.push(m.id);
    const data = await this.#parts.chunkSource.chunkData(ids);
    return planned.map((p) => ({
      clusters: p.clusters.map((cluster) => ({ members: cluster.map((m) => storedChunk(p.seriesId, m, data)), overlapping: hasOverlap(cluster) })),
    }));
  }

  /** Whether a planned member is no longer in the catalogue: another write deleted it since planning. */
  #membersGone(p: PlannedMerge): boolean {
    return p.clusters.some((cluster) => cluster.some((m) => !this.#parts.chunks.has(p.seriesId, m.id)));
  }

  /**
   * Replaces a planned series' clusters by their merged chunks, unless the series changed in
   * a way that makes the merge wrong: a member is gone (retention), or a chunk written since
   * planning overlaps a cluster (its points are newer; the merged chunk would get a higher id
   * and outrank them). Then the series waits for the next compaction. Inside a transaction.
   */
  #applyMerge(tx: WriteTransaction, p: PlannedMerge): boolean {
    const chunks = this.#parts.chunks;
    const result = p.result;
    if (result === undefined || !Array.isArray(result)) return false; // A defect: queries report the chunk.
    if (this.#membersGone(p)) return false;
    for (const c of chunks.chunksOf(p.seriesId)) {
      if (c.id <= p.maxChunkIdAtPlan) continue;
      for (const cluster of p.clusters) if (overlapsCluster(c, cluster)) return false;
    }
    const now = Date.now();
    p.clusters.forEach((cluster, k) => {
      chunks.delete(tx, p.seriesId, new Set(cluster.map((m) => m.id)));
      for (const chunk of result[k]!) {
        chunks.insert(tx, p.seriesId, chunk);
        // Kept before the commit: a write that fails reloads the catalogue, which drops every
        // rollup (rollup_catalog.ts), so no id can keep records of chunks that never landed.
        keepEncodedRollups(this.#parts.rollups, p.seriesId, chunks.maxChunkId, chunk, now);
      }
    });
    return true;
  }

  /**
   * Compacts one series on this thread, now (stop(), erasure, tests): see planCompaction
   * (compaction_plan.ts). Throws CorruptChunkError, naming the chunk, when a member does not
   * decode. A series changed by another write between the read and the write (background
   * compaction, a cut) is planned again, up to COMPACT_SERIES_ATTEMPTS times.
   */
  async compactSeries(seriesId: number, minPackRun: number): Promise<boolean> {
    const chunks = this.#parts.chunks;
    // The chunks are read and merged before the write; a series changed meanwhile (a cut
    // landed over the same range, background compaction merged it) is planned again.
    for (let attempt = 0; attempt < COMPACT_SERIES_ATTEMPTS; attempt++) {
      const clusters = planCompaction(chunks.chunksOf(seriesId), minPackRun);
      if (clusters.length === 0) return false;
      const plan: PlannedMerge = { seriesId, clusters, maxChunkIdAtPlan: chunks.maxChunkId, result: undefined };
      let stored: StoredClusters[number];
      try {
        [stored] = (await this.#storedClusters([plan])) as [StoredClusters[number]];
      } catch (error) {
        // A network back-end reads after planning: a member deleted meanwhile (background
        // compaction landed first; the catalogue drops it before the back-end commits) is a
        // changed series, planned again. Anything else is a real read failure.
        if (this.#membersGone(plan)) continue;
        throw error;
      }
      plan.result = stored.clusters.map(({ members, overlapping }) => {
        const out = mergeCluster(members, overlapping);
        if (!Array.isArray(out)) throw new CorruptChunkError(seriesId, this.#parts.describeSeries(seriesId), out.chunkId, out.detail);
        return out;
      });
      if (await this.#parts.writer.write((tx) => this.#applyMerge(tx, plan), undefined, { deletesChunks: true })) return true;
    }
    throw new Error(`series ${this.#parts.describeSeries(seriesId)} kept changing during ${COMPACT_SERIES_ATTEMPTS} compaction attempts; try again when ingest is lower`);
  }
}

/** A planned member's stored bytes, or an error naming it when the back-end no longer has it. */
export function storedChunk(seriesId: number, meta: ChunkMeta, data: ReadonlyMap<number, Uint8Array>): StoredChunk {
  const bytes = data.get(meta.id);
  if (bytes === undefined) throw new Error(`chunk ${meta.id} of series ${seriesId} was deleted while compaction read it`);
  return { id: meta.id, codec: CODEC_EMMS_CHUNK, count: meta.count, data: bytes };
}
