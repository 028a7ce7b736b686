/**
 * Plans and runs a RangeFunctionQuery (src/model/api.ts): selects the series, takes the heads
 * and the snapshot bound, then evaluates inline or in the query workers, and gathers the step
 * values. Query workers pay off much earlier than for aggregations (query_engine.ts
 * WORKER_MIN_POINTS): each point is decoded into arrays and walked by the range function's
 * kernel, where an aggregation mostly hands whole chunks to WASM.
 */
import type { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import type { RangeFunctionQuery, RangeFunctionSeries } from '../model/api.js';
import { MetricValidationError, describeValue } from '../model/metric.js';
import { isRangeFunction } from './range_window_functions.js';
import { CorruptChunkError, describeSeries } from '../storage/chunk_rows.js';
import type { HeadPoints, ReadRange } from '../storage/head.js';
import type { SeriesInfo } from '../storage/series_index.js';
import type { StorageEngine } from '../storage/storage_engine.js';
import { QueryLimitError } from './errors.js';
import { evaluateRangeSeries, newRangeOutput, type RangeFunctionSpec, type RangeOutput } from './range_function_read.js';
import type { RangeFunctionTaskInput, RangeFunctionTaskOutput } from './range_function_task.js';
import { selectSeries } from './selection.js';

/**
 * Estimated points from which the series are split over the query workers. Measured with
 * bench/promql_vs_victoriametrics.ts (`sum by (region) (rate(…[5m]))` over 100 series of a day
 * at 10 s: 867k points, 1,441 steps) on a loaded machine (load average ~20 on 2 cores), CPU
 * per thread from /proc: with two workers ~15 ms in each and ~13 ms on the main thread (HTTP,
 * aggregation, JSON), so the answer waits for ~28 ms of CPU on its longest path; inline (in
 * process, bench-free) the whole evaluation took ~27 ms of one thread, and the path before
 * this one (a read per series, points to the evaluator) ~38 ms. Reading and evaluating cost
 * ~35 ns a point and a task's round trip ~0.3–0.5 ms: from 200k points (~7 ms) the handoff
 * pays. On a machine without a free core the workers only add their round trips.
 */
export const RANGE_WORKER_MIN_POINTS = 200_000;

/** The worker file beside this module: the compiled .js from dist/, the .ts under tsx and vitest. */
const TASK_FILE = fileURLToPath(new URL(`./range_function_task${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

export interface RangeFunctionPlanOptions {
  /** The query workers' pool (created on first use), or undefined for inline only. */
  pool: (() => Piscina) | undefined;
  workers: number;
  /** Default RANGE_WORKER_MIN_POINTS. */
  workerMinPoints?: number | undefined;
}

function validate(q: RangeFunctionQuery): void {
  if (!isRangeFunction(q.func)) throw new MetricValidationError(`func=${describeValue(q.func)} is not a range function`, -1, 'func', q.func);
  for (const [field, value] of [['startMs', q.startMs], ['endMs', q.endMs], ['rangeMs', q.rangeMs], ['offsetMs', q.offsetMs]] as const) {
    if (!Number.isFinite(value)) throw new MetricValidationError(`${field}=${describeValue(value)} must be a finite number`, -1, field, value);
  }
  if (q.param !== undefined && q.param.length !== q.stepsMs.length) {
    throw new MetricValidationError(`param has ${q.param.length} values for ${q.stepsMs.length} steps`, -1, 'param', q.param.length);
  }
}

function candidates(store: StorageEngine, tenant: string, q: RangeFunctionQuery): SeriesInfo[] {
  const index = store.catalog.tenant(tenant);
  const out: SeriesInfo[] = [];
  for (const id of q.metricIds) for (const s of selectSeries(index, id, q.tags)) if (q.accept(s.metricId, s.tags)) out.push(s);
  return out;
}

/** Points in the series' chunks overlapping [start, end) plus its head (an upper bound). */
function estimatePoints(store: StorageEngine, seriesId: number, range: ReadRange, head: HeadPoints | undefined): number {
  let n = head?.length ?? 0;
  for (const c of store.chunks.chunksOf(seriesId)) if (c.maxTs >= range.startMs && c.minTs < range.endMs) n += c.count;
  return n;
}

export async function runRangeFunctionQuery(
  store: StorageEngine, tenant: string, q: RangeFunctionQuery, options: RangeFunctionPlanOptions,
): Promise<{ series: RangeFunctionSeries[]; pointsRead: number }> {
  validate(q);
  const found = candidates(store, tenant, q);
  const range: ReadRange = { startMs: q.startMs, endMs: q.endMs };
  const spec: RangeFunctionSpec = { func: q.func, stepsMs: q.stepsMs, rangeMs: q.rangeMs, offsetMs: q.offsetMs, param: q.param };
  await store.snapshotReady();
  // Every head, then the snapshot bound, in one synchronous run after the wait (chunks cut
  // later hold points these heads have and are skipped).
  const selected: SeriesInfo[] = [];
  const heads: Array<HeadPoints | undefined> = [];
  const estimates: number[] = [];
  let estimate = 0;
  for (const s of found) {
    const head = store.head(s.id);
    const needed = head === undefined || head.minTs >= q.endMs ? undefined : head;
    const points = estimatePoints(store, s.id, range, needed);
    // A series with nothing in the range is no result and, as in a raw query, does not count
    // against maxSeries (which also bounds the step values kept: series × steps).
    if (points === 0) continue;
    if (selected.length >= q.maxSeries) throw new QueryLimitError('maxSeries', q.maxSeries, Infinity);
    selected.push(s);
    heads.push(needed);
    estimates.push(points);
    estimate += points;
  }
  const useWorkers = options.pool !== undefined && options.workers > 0 && selected.length > 1 && estimate >= (options.workerMinPoints ?? RANGE_WORKER_MIN_POINTS);
  // The main thread takes the first share itself while the workers do the others: one thread
  // fewer to wake (on a busy machine a wake-up can take longer than the work), and no core
  // left idle while it waits.
  const shares = useWorkers ? splitByPoints(estimates, Math.max(2, options.workers)) : [{ first: 0, end: selected.length }];
  // Heads are copied before the first read: a network back-end's reads wait for I/O, and
  // meanwhile commits append to heads and cuts take them.
  const inline = shares[0]!;
  const headCopies = heads.slice(inline.first, inline.end).map((h) => h?.sorted(range));
  const tasks = shares.slice(1).map((share) => ({ first: share.first, columns: packHeads(selected, heads, range, share.first, share.end) }));
  const { maxChunkId } = store.beginSnapshotRead();
  let outputs: Array<{ first: number; out: RangeOutput }>;
  try {
    const read = { startMs: q.startMs, endMs: q.endMs, maxChunkId, maxPoints: q.maxPoints };
    const pool = tasks.length > 0 ? options.pool!() : undefined;
    const inWorkers = tasks.map(async (t) => {
      const input: RangeFunctionTaskInput = { source: store.workerSource(), ...spec, ...read, ...t.columns };
      const o = (await pool!.run(input, {
        filename: TASK_FILE,
        transferList: [t.columns.headTimestamps.buffer, t.columns.headValues.buffer, t.columns.headOffsets.buffer, t.columns.seriesIds.buffer] as ArrayBuffer[],
      })) as RangeFunctionTaskOutput;
      if (o.corrupt !== undefined) {
        const { seriesId, chunkId, detail } = o.corrupt;
        throw new CorruptChunkError(seriesId, describeSeries(store.catalog.get(seriesId)), chunkId, detail);
      }
      return { first: t.first, out: o as RangeOutput };
    });
    const here = (async () => {
      const count = inline.end - inline.first;
      const out = newRangeOutput(count, q.stepsMs.length);
      await evaluateRangeSeries(store.chunkSource, count, (k) => {
        const s = selected[inline.first + k]!;
        return { seriesId: s.id, seriesName: describeSeries(s), head: headCopies[k] };
      }, read, spec, out);
      return { first: inline.first, out };
    })();
    // Every part settles before the snapshot read ends (a worker may still be reading).
    const settled = await Promise.allSettled([here, ...inWorkers]);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    outputs = settled.map((r) => (r as PromiseFulfilledResult<{ first: number; out: RangeOutput }>).value);
  } finally {
    store.endSnapshotRead();
  }
  return gather(selected, outputs, q);
}

/** Splits the selection into `parts` runs of series of about equal estimated points, each at least one series. */
function splitByPoints(estimates: readonly number[], parts: number): Array<{ first: number; end: number }> {
  const total = estimates.reduce((a, b) => a + b, 0);
  const count = Math.min(parts, estimates.length);
  const out: Array<{ first: number; end: number }> = [];
  let first = 0;
  let done = 0;
  for (let t = 0; t < count; t++) {
    let end = first;
    const target = (total * (t + 1)) / count;
    // Leave one series for each part after this one; the last part takes the rest.
    do done += estimates[end++]!;
    while (end < estimates.length - (count - t - 1) && (t === count - 1 || done + estimates[end]! / 2 <= target));
    out.push({ first, end });
    first = end;
  }
  return out;
}

/** The series ids and heads of selected[from, to) as a task's columns. */
function packHeads(
  selected: readonly SeriesInfo[], heads: ReadonlyArray<HeadPoints | undefined>, range: ReadRange, from: number, to: number,
): Pick<RangeFunctionTaskInput, 'seriesIds' | 'headOffsets' | 'headTimestamps' | 'headValues'> {
  let room = 0;
  for (let k = from; k < to; k++) room += heads[k]?.lengthIn(range) ?? 0;
  const headTimestamps = new Float64Array(room);
  const headValues = new Float64Array(room);
  const headOffsets = new Int32Array(to - from + 1);
  const seriesIds = new Int32Array(to - from);
  for (let k = from; k < to; k++) {
    const at = headOffsets[k - from]!;
    const h = heads[k];
    seriesIds[k - from] = selected[k]!.id;
    headOffsets[k - from + 1] = at + (h === undefined ? 0 : h.sortedInto(headTimestamps, headValues, at, range));
  }
  return { seriesIds, headOffsets, headTimestamps, headValues };
}

function gather(selected: readonly SeriesInfo[], outputs: ReadonlyArray<{ first: number; out: RangeOutput }>, q: RangeFunctionQuery): { series: RangeFunctionSeries[]; pointsRead: number } {
  const steps = q.stepsMs.length;
  let pointsRead = 0;
  for (const { out } of outputs) {
    for (const n of out.points) pointsRead += n;
    if (out.overLimit) throw new QueryLimitError('maxPoints', q.maxPoints, pointsRead);
  }
  if (pointsRead > q.maxPoints) throw new QueryLimitError('maxPoints', q.maxPoints, pointsRead);
  const series: RangeFunctionSeries[] = [];
  for (const { first, out } of outputs) {
    for (let k = 0; k < out.points.length; k++) {
      const present = out.present.subarray(k * steps, (k + 1) * steps);
      if (present.indexOf(1) < 0) continue;
      const s = selected[first + k]!;
      series.push({ metricId: s.metricId, tags: { ...s.tags }, values: out.values.subarray(k * steps, (k + 1) * steps), present });
    }
  }
  return { series, pointsRead };
}
