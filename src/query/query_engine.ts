/**
 * Answers raw and aggregated queries: selects series, plans (inline or fanned out to workers),
 * reads through series_reader.ts, merges partial aggregates per group.
 *
 * Planning: an aggregated query whose chunks and heads hold at least WORKER_MIN_POINTS points
 * goes to the piscina pool, split into one task per worker by estimated points, each task
 * owning whole series (rate pairs points within a series). Smaller queries run inline: a
 * worker round trip costs ~1 ms, more than decoding 100k points does.
 *
 * Rollups (src/storage/rollup/, docs/format/aggregation.md "Rollups"): inline queries answer the chunks
 * they fit from the store's in-memory rollups instead of decoding them, bit for bit the same;
 * planning counts those chunks as free and hands chunks without rollups to the warmer. A group
 * whose series' chunks in range all have rollups is answered without any back-end read, its
 * heads from their records of complete buckets (inline_heads.ts, rollup/head_rollups.ts).
 * Percentiles with `percentileAccuracy` are approximated from sketches instead, inline
 * (approximate_percentiles.ts); without it they take the exact path.
 */
import type { Piscina } from 'piscina';
import {
  parseAggregation, parsePercentileAccuracy, PERCENTILE_SKETCH_ACCURACY, type AggregatedQuery, type PercentileMethod, type Aggregation, type LatestPoint, type QueryStats, type RangeFunctionQuery, type RangeFunctionSeries,
  type RawQuery, type SeriesResult,
} from '../model/api.js';
import { MetricValidationError, describeValue, type MetricType, type Tags } from '../model/metric.js';
import { parseTimeInput } from '../model/time.js';
import { parseInterval } from '../model/interval.js';
import { BucketAccumulator } from '../core/bucket_accumulator.js';
import type { AggregateResult } from '../core/aggregate_options.js';
import { summaryUsable } from '../core/chunk_summary.js';
import { createWorkerPool } from '../workers/pool_factory.js';
import type { AggregateTaskInput, AggregateTaskOutput } from './aggregate_task.js';
import { forEachPartial, forEachResult } from './partial_packing.js';
import { CorruptChunkError, describeSeries, type ChunkRow } from '../storage/chunk_rows.js';
import type { StorageEngine } from '../storage/storage_engine.js';
import type { AggregationRead } from '../storage/backend.js';
import type { SeriesInfo } from '../storage/series_index.js';
import type { HeadPoints } from '../storage/head.js';
import { accumulateSeriesList, readSeriesPoints, ScratchColumns, type ChunkAnswers, type PointColumns } from './series_reader.js';
import { accumulateFromMemory, copyHeads } from './inline_heads.js';
import { selectSeries } from './selection.js';
import { QueryLimitError } from './errors.js';
import { queryPressure } from './query_pressure.js';
import { lendHeadColumn, returnHeadBuffer } from './head_task_buffers.js';
import { answerFromRollup, rollupFits, rowsFromRollups } from '../storage/rollup/rollup_feed.js';
import { RollupWarmer } from '../storage/rollup/rollup_warmer.js';
import { HeadRollups } from '../storage/rollup/head_rollups.js';
import { runRangeFunctionQuery } from './range_function_query.js';
import { approximatePercentiles } from './approximate_percentiles.js';

/**
 * Estimated points from which an aggregated query fans out to workers. Below it the handoffs
 * cost about what the second core saves, and over HTTP, with the client on the same machine,
 * more: the 24 h hourly average of 100 series (864k points) answered in 9.1 ms median inline
 * (p99 15 ms) and 9.8–10.6 ms with two workers (p99 24–28 ms). Inline holds the event loop
 * for up to ~10 ms, which the ingest path absorbs (maintenance slices take 4 ms each).
 */
export const WORKER_MIN_POINTS = 1_500_000;
/**
 * Tasks per worker thread: smaller tasks let a worker that got its core first take more of
 * the query, so one thread delayed by other processes does not hold the answer back.
 */
const TASKS_PER_WORKER = 4;
/**
 * Estimated points per task at least: a task's round trip to a worker costs ~0.3–0.5 ms, so
 * the 864k-point hourly average of 100 series spent 3 ms of its 7–8 ms handing 8 tasks around
 * (the work itself was 9 ms of CPU over two threads); with one task per worker it does not.
 */
const MIN_POINTS_PER_TASK = 1_000_000;
/**
 * Estimated points from which an aggregated query goes to workers while other queries wait or
 * run (query_pressure.ts) or batches arrive (StorageEngine.ingestActive): ~1 ms of inline
 * decoding, about a worker round trip.
 */
export const CONTENDED_WORKER_MIN_POINTS = 100_000;

interface Group {
  key: string;
  metricId: string;
  metricType: MetricType;
  tags: Tags;
  series: SeriesInfo[];
}

export interface QueryEngineOptions {
  /** Worker threads; 0 = every query inline. */
  workers: number;
  /** Default WORKER_MIN_POINTS. */
  workerMinPoints?: number | undefined;
  /** Default RANGE_WORKER_MIN_POINTS (range_function_query.ts). */
  rangeWorkerMinPoints?: number | undefined;
  /** Answer chunks from the store's rollups (src/storage/rollup/) where they fit; default true. */
  rollups?: boolean | undefined;
}

function validateLimit(value: unknown, field: 'maxSeries' | 'maxPoints'): number {
  if (value === undefined || value === null) return Infinity;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new MetricValidationError(`${field}=${describeValue(value)} must be a non-negative integer`, -1, field, value);
  }
  return value;
}

function validateGroupBy(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value) || value.some((k) => typeof k !== 'string')) {
    throw new MetricValidationError(`groupBy=${describeValue(value)} must be an array of tag keys`, -1, 'groupBy', value);
  }
  return value as string[];
}

function queryObject(query: unknown): Record<string, unknown> {
  if (typeof query !== 'object' || query === null) {
    throw new MetricValidationError(`query=${describeValue(query)} must be an object with metricPattern`, -1, 'query', query);
  }
  return query as Record<string, unknown>;
}

export class QueryEngine {
  readonly #store: StorageEngine;
  readonly #workers: number;
  readonly #workerMinPoints: number;
  readonly #rangeWorkerMinPoints: number | undefined;
  #pool: Piscina | undefined;
  #inFlight = 0;
  #idle: (() => void)[] = [];
  /** Builds rollups for chunks queries found without (src/storage/rollup/rollup_warmer.ts). */
  readonly rollupWarmer: RollupWarmer;
  readonly #useRollups: boolean;
  /** Rollup records of heads' complete buckets, for queries while heads stay (head_rollups.ts). */
  readonly headRollups = new HeadRollups();
  /** Columns heads are read into, one series at a time (accumulateFromMemory). */
  readonly #headScratch = new ScratchColumns();

  constructor(store: StorageEngine, options: QueryEngineOptions) {
    this.#store = store;
    this.#workers = options.workers;
    this.#workerMinPoints = options.workerMinPoints ?? WORKER_MIN_POINTS;
    this.#rangeWorkerMinPoints = options.rangeWorkerMinPoints;
    this.rollupWarmer = new RollupWarmer(store.rollups, store.chunkSource);
    this.#useRollups = options.rollups ?? true;
  }

  #timeRange(q: Record<string, unknown>): { startMs: number; endMs: number } {
    const startMs = parseTimeInput(q.startTime as never, 'startTime', 0);
    const endMs = parseTimeInput(q.endTime as never, 'endTime', Date.now());
    if (endMs < startMs) {
      throw new MetricValidationError(`endTime=${describeValue(q.endTime)} must not be before startTime=${describeValue(q.startTime)}`, -1, 'endTime', q.endTime);
    }
    return { startMs, endMs };
  }

  #select(tenant: string, q: Record<string, unknown>): SeriesInfo[] {
    const maxSeries = validateLimit(q.maxSeries, 'maxSeries');
    const selected = selectSeries(this.#store.catalog.tenant(tenant), q.metricPattern, q.tags);
    if (selected.length > maxSeries) throw new QueryLimitError('maxSeries', maxSeries, selected.length);
    return selected;
  }

  #headOf(seriesId: number): PointColumns | undefined {
    return this.#store.head(seriesId)?.sorted();
  }

  /**
   * The series' head when it may hold points before `endMs`. A series written to now while
   * an older range is read (a dashboard over yesterday during ingest) has a head of newer
   * points only: sorting and copying it out cost the main thread for nothing.
   */
  #headBefore(seriesId: number, endMs: number): HeadPoints | undefined {
    const head = this.#store.head(seriesId);
    return head === undefined || head.minTs >= endMs ? undefined : head;
  }

  async raw(tenant: string, query: RawQuery): Promise<{ series: SeriesResult[]; stats: QueryStats }> {
    const started = performance.now();
    const q = queryObject(query);
    const { startMs, endMs } = this.#timeRange(q);
    const maxPoints = validateLimit(q.maxPoints, 'maxPoints');
    const selected = this.#select(tenant, q);
    await this.#store.snapshotReady();
    // Every head first, then the snapshot bound (chunks cut later hold points these heads have),
    // in one synchronous step after the wait.
    const heads = selected.map((s) => this.#headBefore(s.id, endMs)?.sorted({ startMs, endMs }));
    const { maxChunkId } = this.#store.beginSnapshotRead();
    const out: SeriesResult[] = [];
    let total = 0;
    try {
      for (const [k, s] of selected.entries()) {
        const points = await readSeriesPoints(this.#store.chunkSource, {
          seriesId: s.id, seriesName: describeSeries(s), head: heads[k], startMs, endMs, maxChunkId,
        });
        if (points.timestamps.length === 0) continue;
        total += points.timestamps.length;
        if (total > maxPoints) throw new QueryLimitError('maxPoints', maxPoints, total);
        out.push({ metricId: s.metricId, metricType: s.metricType, tags: { ...s.tags }, timestamps: points.timestamps, values: points.values });
      }
    } finally {
      this.#store.endSnapshotRead();
    }
    return { series: out, stats: { series: out.length, pointsScanned: total, elapsedMs: performance.now() - started } };
  }

  async aggregated(tenant: string, query: AggregatedQuery): Promise<{ series: SeriesResult[]; stats: QueryStats }> {
    const started = performance.now();
    const q = queryObject(query);
    const aggregation = parseAggregation(q.aggregation);
    const percentileAccuracy = parsePercentileAccuracy(q.percentileAccuracy, aggregation);
    const intervalMs = parseInterval(q.interval as string);
    const groupBy = validateGroupBy(q.groupBy);
    const range = this.#timeRange(q);
    const maxPoints = validateLimit(q.maxPoints, 'maxPoints');
    const selected = this.#select(tenant, q);
    const groups = this.#group(selected, groupBy, String(q.metricPattern));
    const { endMs } = range;
    // Without startTime the range starts at the selection's first point, not at 1970: an
    // epoch-long range of 1m buckets would exceed the accumulator's bucket limit for nothing.
    const startMs = q.startTime === undefined || q.startTime === null ? Math.min(endMs, this.#earliestPoint(selected)) : range.startMs;
    const options = { aggregation, intervalMs, startMs, endMs };
    let probe: BucketAccumulator;
    try {
      // Constructing one validates the bucket count before any work.
      probe = new BucketAccumulator(options);
    } catch (error) {
      throw new MetricValidationError(`interval=${describeValue(q.interval)}: ${(error as Error).message}`, -1, 'interval', q.interval);
    }

    // From here to the snapshot bound (taken below or in #fanOut) in one synchronous step.
    await this.#store.snapshotReady();
    // Each head once per query: with pending cuts, store.head() builds a merged copy.
    const heads = new Map<number, HeadPoints | undefined>();
    let estimate = 0;
    // Points in chunks the main thread answers from rollups: cheap inline, and workers cannot see them.
    let inRollups = 0;
    for (const s of selected) {
      const head = this.#headBefore(s.id, endMs);
      heads.set(s.id, head);
      estimate += this.#estimatePoints(s.id, startMs, endMs, head);
      inRollups += this.#rollupCoverage(s.id, probe);
    }
    let results: Array<BucketAccumulator | AggregateResult>;
    let pointsScanned = 0;
    // Not alone (other queries, or batches whose acks wait for this thread): big reads go to workers.
    const contended = queryPressure.contended || this.#store.ingestActive;
    const minPoints = contended ? Math.min(this.#workerMinPoints, CONTENDED_WORKER_MIN_POINTS) : this.#workerMinPoints;
    let percentile: PercentileMethod | undefined;
    if (percentileAccuracy !== undefined) {
      ({ results, pointsScanned } = await this.#approximatePercentiles(groups, options, heads));
      percentile = { method: 'ddsketch', relativeError: PERCENTILE_SKETCH_ACCURACY };
    } else if (this.#workers > 0 && estimate - inRollups >= minPoints && selected.length > 1) {
      ({ results, pointsScanned } = await this.#fanOut(groups, options, estimate, heads));
    } else {
      const accumulators = groups.map(() => new BucketAccumulator(options));
      results = accumulators;
      const read = { startMs, endMs, intervalMs, maxChunkId: 0, summaries: summaryUsable(aggregation) };
      const answers = this.#useRollups ? this.#rollupAnswers(probe, inRollups > 0) : undefined;
      // The same reads as a query worker's (aggregate_task.ts): committed chunks up to the
      // snapshot bound, which compaction and retention respect until endSnapshotRead().
      read.maxChunkId = this.#store.beginSnapshotRead().maxChunkId;
      let headCopies: ReturnType<typeof copyHeads> | undefined;
      try {
        // In the same synchronous step as the bound: groups memory answers whole, now.
        const fromMemory = accumulateFromMemory(groups, accumulators, heads, read, answers, this.headRollups, this.#headScratch);
        pointsScanned = fromMemory.pointsScanned;
        const order = fromMemory.rest.flatMap((gi) => groups[gi]!.series.map((s) => ({ s, gi })));
        // Heads are copied before the first read: a network back-end's reads wait for I/O, and
        // meanwhile commits append to heads and cuts take them (their buffers are reused).
        headCopies = copyHeads(new Map(order.map(({ s }) => [s.id, heads.get(s.id)])), options);
        const copies = headCopies.bySeries;
        pointsScanned += await accumulateSeriesList(this.#store.chunkSource, order.length, (k) => {
          const { s, gi } = order[k]!;
          return { seriesId: s.id, seriesName: describeSeries(s), head: copies.get(s.id), acc: accumulators[gi]! };
        }, read, aggregation === 'rate', answers);
      } finally {
        this.#store.endSnapshotRead();
        if (headCopies !== undefined) {
          returnHeadBuffer(headCopies.timestamps.buffer as ArrayBuffer);
          returnHeadBuffer(headCopies.values.buffer as ArrayBuffer);
        }
      }
    }
    const out: SeriesResult[] = [];
    let total = 0;
    groups.forEach((g, gi) => {
      const r = results[gi]!;
      const { timestamps, values } = r instanceof BucketAccumulator ? r.finish() : r;
      if (timestamps.length === 0) return;
      total += timestamps.length;
      if (total > maxPoints) throw new QueryLimitError('maxPoints', maxPoints, total);
      out.push({ metricId: g.metricId, metricType: g.metricType, tags: g.tags, timestamps, values });
    });
    const stats: QueryStats = { series: out.length, pointsScanned, elapsedMs: performance.now() - started };
    if (percentile !== undefined) stats.percentile = percentile;
    return { series: out, stats };
  }

  /** Opted-in approximate percentiles (approximate_percentiles.ts), inline: rollup sketches live on this thread. */
  async #approximatePercentiles(
    groups: Group[], options: { aggregation: Aggregation; intervalMs: number; startMs: number; endMs: number }, heads: ReadonlyMap<number, HeadPoints | undefined>,
  ): Promise<{ results: AggregateResult[]; pointsScanned: number }> {
    const now = Date.now();
    // Heads are copied before the snapshot bound, as on the exact inline path.
    const series = groups.flatMap((g, group) => g.series.map((s) => {
      if (this.#useRollups) this.#store.rollups.noteQueried(s.id, now, true);
      return { seriesId: s.id, seriesName: describeSeries(s), head: heads.get(s.id)?.sorted(options), group };
    }));
    const { maxChunkId } = this.#store.beginSnapshotRead();
    try {
      const rollups = this.#useRollups ? this.#store.rollups : undefined;
      return await approximatePercentiles(this.#store.chunkSource, rollups, groups.length, series, { ...options, maxChunkId });
    } finally {
      this.#store.endSnapshotRead();
    }
  }

  /**
   * The store's rollups as the series reader's ChunkAnswers. `withoutData` (some chunks in range
   * have rollups, #rollupCoverage): chunks they answer are read without their data, which
   * costs an extra chunkData read for the rest, so not when none would be answered.
   */
  #rollupAnswers(probe: BucketAccumulator, withoutData: boolean): ChunkAnswers {
    const rollups = this.#store.rollups;
    const answer = (acc: BucketAccumulator, row: ChunkRow): boolean => answerFromRollup(rollups, acc, row);
    const resolutionMs = probe.rollupResolutionMs;
    if (resolutionMs === undefined || !rollups.enabled) return { answer };
    const catalog = this.#store.chunks;
    // A series with rollups for every chunk in range, or none in range, needs no back-end read.
    const rowsInMemory = (seriesId: number, read: AggregationRead): ChunkRow[] | undefined => rowsFromRollups(rollups, seriesId, catalog.chunksOf(seriesId), read, resolutionMs);
    if (!withoutData) return { answer, rowsInMemory };
    const { startMs, endMs } = probe;
    // answerFromRollup's conditions, without its side effects (hits, recency).
    return { answer, rowsInMemory, holds: (row) => rollupFits(row.min_ts, row.max_ts, startMs, endMs, resolutionMs) && rollups.has(row.id) };
  }

  #earliestPoint(selected: readonly SeriesInfo[]): number {
    let earliest = Infinity;
    for (const s of selected) {
      const first = this.#store.chunks.chunksOf(s.id)[0];
      if (first !== undefined && first.minTs < earliest) earliest = first.minTs;
      const head = this.#store.head(s.id);
      if (head !== undefined && head.minTs < earliest) earliest = head.minTs;
    }
    return earliest === Infinity ? 0 : Math.floor(earliest);
  }

  /**
   * Points in the series' chunks in range that rollups answer (rollup_feed.ts); chunks that
   * could be but have none are counted as misses and handed to the warmer. Chunks answered by
   * their summaries anyway are neither.
   */
  #rollupCoverage(seriesId: number, probe: BucketAccumulator): number {
    const rollups = this.#store.rollups;
    const resolutionMs = probe.rollupResolutionMs;
    if (resolutionMs === undefined || !rollups.enabled || !this.#useRollups) return 0;
    const { startMs, endMs } = probe;
    rollups.noteQueried(seriesId, Date.now());
    let covered = 0;
    for (const c of this.#store.chunks.chunksOf(seriesId)) {
      if (c.maxTs < startMs || c.minTs >= endMs) continue;
      if (!rollupFits(c.minTs, c.maxTs, startMs, endMs, resolutionMs) || probe.summaryFits(c.minTs, c.maxTs)) continue;
      if (rollups.has(c.id)) {
        covered += c.count;
      } else {
        rollups.noteMiss();
        this.rollupWarmer.want(c.id);
      }
    }
    return covered;
  }

  /** Points in the series' chunks overlapping [start, end) plus its head's that a read of the range copies (an upper bound). */
  #estimatePoints(seriesId: number, startMs: number, endMs: number, head: HeadPoints | undefined): number {
    let n = head?.lengthIn({ startMs, endMs }) ?? 0;
    for (const c of this.#store.chunks.chunksOf(seriesId)) if (c.maxTs >= startMs && c.minTs < endMs) n += c.count;
    return n;
  }

  /**
   * groupBy semantics: without groupBy every series is its own result; with it, series with
   * equal values of the groupBy keys merge (`[]` merges all). A group's tags are its values of
   * the groupBy keys (a key a series lacks is left out); its metricId is the shared metric id,
   * or the pattern when the group spans several.
   */
  #group(selected: SeriesInfo[], groupBy: string[] | undefined, pattern: string): Group[] {
    if (groupBy === undefined) {
      return selected.map((s) => ({ key: String(s.id), metricId: s.metricId, metricType: s.metricType, tags: { ...s.tags }, series: [s] }));
    }
    const byKey = new Map<string, Group>();
    for (const s of selected) {
      const tags: Tags = {};
      let key = '';
      for (const k of groupBy) {
        const v = s.tags[k];
        // \u0001 marks a missing key, distinct from an empty value.
        key += v === undefined ? '\u0001\u0000' : `${v}\u0000`;
        if (v !== undefined) tags[k] = v;
      }
      let g = byKey.get(key);
      if (g === undefined) {
        g = { key, metricId: s.metricId, metricType: s.metricType, tags, series: [] };
        byKey.set(key, g);
      } else {
        if (g.metricId !== s.metricId) g.metricId = pattern;
        if (g.metricType !== s.metricType) g.metricType = 'gauge';
      }
      g.series.push(s);
    }
    return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /** The query workers (their default task is aggregate_task.ts; others name their file in run()). */
  #workerPool(): Piscina {
    // Once a query needed workers, keep them: spawning one costs more than the query.
    this.#pool ??= createWorkerPool(import.meta.url, './aggregate_task', { maxThreads: this.#workers, minThreads: this.#workers });
    return this.#pool;
  }

  /** A PromQL range function of every selected series at every step: range_function_query.ts. */
  async rangeFunction(tenant: string, query: RangeFunctionQuery): Promise<{ series: RangeFunctionSeries[]; pointsRead: number }> {
    this.#inFlight++;
    try {
      return await runRangeFunctionQuery(this.#store, tenant, query, {
        pool: this.#workers > 0 ? () => this.#workerPool() : undefined, workers: this.#workers, workerMinPoints: this.#rangeWorkerMinPoints,
      });
    } finally {
      this.#inFlight--;
      if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  async #fanOut(
    groups: Group[], options: { aggregation: Aggregation; intervalMs: number; startMs: number; endMs: number }, estimate: number,
    headOf: ReadonlyMap<number, HeadPoints | undefined>,
  ): Promise<{ results: Array<BucketAccumulator | AggregateResult>; pointsScanned: number }> {
    const pool = this.#workerPool();
    const tasks: AggregateTaskInput[] = [];
    const taskCount = Math.max(this.#workers, Math.min(this.#workers * TASKS_PER_WORKER, Math.ceil(estimate / MIN_POINTS_PER_TASK)));
    const perTask = estimate / taskCount;
    const snapshot = this.#store.beginSnapshotRead();
    this.#inFlight++;
    try {
      // Heads were read in the same synchronous run as this snapshot bound (aggregated() has not
      // awaited yet) and are copied now: chunks cut later are skipped.
      let ids: number[] = [];
      let groupOf: number[] = [];
      let heads: Array<HeadPoints | undefined> = [];
      let taskPoints = 0;
      const emit = (): void => {
        if (ids.length === 0) return;
        tasks.push(this.#task(ids, groupOf, heads, options, snapshot.maxChunkId));
        ids = [];
        groupOf = [];
        heads = [];
        taskPoints = 0;
      };
      // Task of each group's series; -1 once a group's series went to two tasks.
      const taskOfGroup = new Int32Array(groups.length).fill(-2);
      groups.forEach((g, gi) => {
        for (const s of g.series) {
          ids.push(s.id);
          groupOf.push(gi);
          const head = headOf.get(s.id);
          heads.push(head);
          const t = tasks.length;
          taskOfGroup[gi] = taskOfGroup[gi] === -2 || taskOfGroup[gi] === t ? t : -1;
          taskPoints += this.#estimatePoints(s.id, options.startMs, options.endMs, head);
          if (taskPoints >= perTask && tasks.length < taskCount - 1) emit();
        }
      });
      emit();
      // A group wholly inside one task is finished there (no partial to ship and merge here):
      // without groupBy that is every group.
      const finishLists: number[][] = tasks.map(() => []);
      taskOfGroup.forEach((t, gi) => {
        if (t >= 0) finishLists[t]!.push(gi);
      });
      tasks.forEach((task, t) => {
        task.finishGroups = Int32Array.from(finishLists[t]!);
      });
      // Moved, not cloned: right after a burst the heads hold up to half of a day's points
      // (6.5 MB for 100 series), and cloning them was ~6% of the query thread.
      const outputs = (await Promise.all(tasks.map((t) => pool.run(t, {
        transferList: [t.headTimestamps.buffer, t.headValues.buffer, t.headOffsets.buffer, t.seriesIds.buffer, t.groupOf.buffer] as ArrayBuffer[],
      })))) as AggregateTaskOutput[];
      const results: Array<BucketAccumulator | AggregateResult> = groups.map((_, gi) => (taskOfGroup[gi] === -1 ? new BucketAccumulator(options) : NO_RESULT));
      let pointsScanned = 0;
      for (const o of outputs) {
        if (o.corrupt !== undefined) {
          const { seriesId, chunkId, detail } = o.corrupt;
          throw new CorruptChunkError(seriesId, describeSeries(this.#store.catalog.get(seriesId)), chunkId, detail);
        }
        pointsScanned += o.pointsScanned;
        for (const buffer of o.headBuffers ?? []) returnHeadBuffer(buffer);
        if (o.partials !== undefined) forEachPartial(o.partials, (gi, partial) => (results[gi] as BucketAccumulator).mergePartial(partial));
        if (o.finished !== undefined) forEachResult(o.finished, (gi, result) => { results[gi] = result; });
      }
      return { results, pointsScanned };
    } finally {
      this.#store.endSnapshotRead();
      this.#inFlight--;
      if (this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  #task(ids: number[], groupOf: number[], heads: Array<HeadPoints | undefined>, options: { aggregation: Aggregation; intervalMs: number; startMs: number; endMs: number }, maxChunkId: number): AggregateTaskInput {
    // Room for each head's points the range needs (lengthIn); out-of-order heads were sorted by
    // the estimate, so the columns are filled exactly. Heads write straight into them (no per-head copy first).
    let room = 0;
    for (const h of heads) room += h?.lengthIn(options) ?? 0;
    const headTimestamps = lendHeadColumn(room);
    const headValues = lendHeadColumn(room);
    const headOffsets = new Int32Array(ids.length + 1);
    heads.forEach((h, k) => {
      const at = headOffsets[k]!;
      headOffsets[k + 1] = at + (h === undefined ? 0 : h.sortedInto(headTimestamps, headValues, at, options));
    });
    return {
      source: this.#store.workerSource(), ...options, maxChunkId,
      seriesIds: Int32Array.from(ids), groupOf: Int32Array.from(groupOf), headOffsets, headTimestamps, headValues,
    };
  }

  /** Newest point of each selected series of `tenant`; refuses (QueryLimitError) more than `maxSeries`. */
  async latest(tenant: string, metricPattern: string, tags?: Tags, maxSeries = Infinity): Promise<LatestPoint[]> {
    const out: LatestPoint[] = [];
    const selected = selectSeries(this.#store.catalog.tenant(tenant), metricPattern, tags);
    if (selected.length > maxSeries) throw new QueryLimitError('maxSeries', maxSeries, selected.length);
    await this.#store.snapshotReady();
    // Heads before chunks: a cut landing in between moves points from the head into a chunk, never out of both.
    const heads = selected.map((s) => this.#headOf(s.id));
    const newest = await this.#store.chunkSource.newest(selected.map((s) => s.id));
    for (const [k, s] of selected.entries()) {
      let timestamp = -Infinity;
      let value = NaN;
      const chunk = newest.get(s.id);
      if (chunk !== undefined) {
        timestamp = chunk.max_ts;
        value = chunk.last;
      }
      const head = heads[k];
      if (head !== undefined) {
        const n = head.timestamps.length;
        // The head is newer than every chunk: it wins a tie.
        if (head.timestamps[n - 1]! >= timestamp) {
          timestamp = head.timestamps[n - 1]!;
          value = head.values[n - 1]!;
        }
      }
      if (timestamp === -Infinity) continue;
      out.push({ metricId: s.metricId, metricType: s.metricType, tags: { ...s.tags }, timestamp, value });
    }
    return out;
  }

  /** Distinct metric ids of the tenant, from the in-memory catalogue. */
  metricIds(tenant: string): string[] {
    return Array.from(this.#store.catalog.tenant(tenant).metrics(), ([metricId]) => metricId);
  }

  listSeries(tenant: string, metricPattern: string, tags?: Tags): Array<{ metricId: string; metricType: MetricType; tags: Tags }> {
    return selectSeries(this.#store.catalog.tenant(tenant), metricPattern, tags).map((s) => ({ metricId: s.metricId, metricType: s.metricType, tags: { ...s.tags } }));
  }

  /** Waits for queries running in workers, then stops the pool. */
  async close(): Promise<void> {
    await this.rollupWarmer.stop();
    if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    const pool = this.#pool;
    this.#pool = undefined;
    if (pool !== undefined) await pool.destroy();
  }
}

const NO_RESULT: AggregateResult = { timestamps: new Float64Array(0), values: new Float64Array(0) };
