/**
 * The piscina task functions run here on the test's own thread, as the worker would run them:
 * V8's coverage of the test process never sees a worker thread, and called in-process each
 * task's answer can be checked against the main thread's own.
 *
 * - query/aggregate_task.ts against the engine's inline aggregated query over the same data
 *   (chunks on disk plus head points handed over), with one group finished in the task and one
 *   returned as a packed partial (query/partial_packing.ts) that the test merges as the query
 *   engine does; and a corrupt chunk answered as data, not as a thrown error.
 * - analytics/iforest_score_task.ts against scoreIsolationForest on the same rows.
 * - workers/background_priority.ts, which the chunk encoder thread calls at start, asked for
 *   this thread's current nice value so that it changes nothing here (that it lowers only the
 *   calling thread's is background_priority.test.ts, in a worker).
 */
import Database from 'better-sqlite3';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { valueSymbol } from 'piscina';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import iforestScoreTask from '../../src/analytics/iforest_score_task.js';
import { fitIsolationForest, scoreIsolationForest } from '../../src/analytics/iforest_wasm.js';
import type { AggregateResult } from '../../src/core/aggregate_options.js';
import { BucketAccumulator } from '../../src/core/bucket_accumulator.js';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import type { Aggregation } from '../../src/model/api.js';
import { canonicalTags, type MetricDataPoint } from '../../src/model/metric.js';
import aggregateTask, { type AggregateTaskInput, type AggregateTaskOutput } from '../../src/query/aggregate_task.js';
import { forEachPartial, forEachResult } from '../../src/query/partial_packing.js';
import { TABLE } from '../../src/storage/sqlite/schema.js';
import { lowerThisThreadPriority } from '../../src/workers/background_priority.js';

const T0 = Date.UTC(2026, 0, 5);
const STEP_MS = 10_000;
const STORED = 600;
const HEAD = 60;
const END = T0 + (STORED + HEAD) * STEP_MS;
/** Series x1 is group 0 (owned wholly by the task); y1 and y2 are group 1 (a partial). */
const SERIES = [{ host: 'x1', grp: 'x' }, { host: 'y1', grp: 'y' }, { host: 'y2', grp: 'y' }];

function value(s: number, i: number): number {
  return ((i * 7 + s * 13) % 41) * (s + 1) + 0.25;
}

/** Points of the task's head input, after the stored ones; the inline engine's database stores them too. */
function headPoints(s: number): MetricDataPoint[] {
  return Array.from({ length: HEAD }, (_, j) => ({ metricId: 'w', tags: SERIES[s]!, timestamp: T0 + (STORED + j) * STEP_MS, value: 500 + j * (s + 1) }));
}

/** The task's answer as the pool hands it over: unwrapped when it came in piscina's transfer wrapper. */
async function runTask(input: AggregateTaskInput): Promise<AggregateTaskOutput> {
  const out = await aggregateTask(input) as Record<symbol, AggregateTaskOutput>;
  return valueSymbol in out ? out[valueSymbol]! : (out as unknown as AggregateTaskOutput);
}

const AGGREGATIONS: readonly Aggregation[] = ['avg', 'p95', 'max', 'count'];
const INTERVALS = [['10m', 600_000], ['1d', 86_400_000]] as const;

let dir: string;
let path: string;
let ids: number[];
let maxChunkId: number;
/** `aggregation interval grp` → the inline engine's answer over the stored and the head points. */
const expected = new Map<string, AggregateResult>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-worker-tasks-'));
  path = join(dir, 'metrics.db');
  const stored = SERIES.flatMap((tags, s) => Array.from({ length: STORED }, (_, i) => ({ metricId: 'w', tags, timestamp: T0 + i * STEP_MS, value: value(s, i) })));
  const ms = new EngineMetricsSystem({ path, queryWorkers: 0 }, { headCutPoints: 128, chunkEncoding: 'inline' });
  await ms.start();
  await ms.collectMetrics(stored);
  await ms.stop();
  // The same points plus the head points in a second database, queried inline (stopping would
  // compact the first database's chunks into new ones, past the task's maxChunkId).
  const inline = new EngineMetricsSystem({ path: join(dir, 'inline.db'), queryWorkers: 0 }, { headCutPoints: 128, chunkEncoding: 'inline' });
  await inline.start();
  try {
    await inline.collectMetrics(stored);
    await inline.collectMetrics([...headPoints(0), ...headPoints(2)]);
    for (const aggregation of AGGREGATIONS) {
      for (const [interval] of INTERVALS) {
        const groups = await inline.queryAggregated({ metricPattern: 'w', aggregation, interval, startTime: T0, endTime: END, groupBy: ['grp'] });
        for (const g of groups) expected.set(`${aggregation} ${interval} ${g.tags.grp}`, g);
      }
    }
  } finally {
    await inline.stop();
  }
  const db = new Database(path, { readonly: true });
  const rows = db.prepare(`SELECT id, tags FROM ${TABLE.series} WHERE metric_id = 'w'`).all() as Array<{ id: number; tags: string }>;
  ids = SERIES.map((t) => rows.find((r) => r.tags === canonicalTags(t))!.id);
  maxChunkId = (db.prepare(`SELECT max(id) AS m FROM ${TABLE.chunks}`).get() as { m: number }).m;
  db.close();
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('aggregate_task in-process', () => {
  it('finds the three stored series and their chunks', () => {
    expect(new Set(ids).size).toBe(3);
    expect(maxChunkId).toBeGreaterThanOrEqual(3);
    expect(expected.size).toBe(AGGREGATIONS.length * INTERVALS.length * 2);
  });

  it('answers as the inline query does: a finished group and a packed partial, head points included', async () => {
    const heads = [headPoints(0), [], headPoints(2)];
    const headOffsets = new Int32Array(4);
    heads.forEach((h, k) => (headOffsets[k + 1] = headOffsets[k]! + h.length));
    for (const aggregation of AGGREGATIONS) {
      for (const [interval, intervalMs] of INTERVALS) {
        const input: AggregateTaskInput = {
          source: { kind: 'sqlite', path }, aggregation, intervalMs, startMs: T0, endMs: END, maxChunkId,
          seriesIds: Int32Array.from(ids), groupOf: Int32Array.from([0, 1, 1]), headOffsets,
          headTimestamps: Float64Array.from(heads.flat().map((p) => p.timestamp)),
          headValues: Float64Array.from(heads.flat().map((p) => p.value)),
          finishGroups: Int32Array.from([0]),
        };
        const out = await runTask(input);
        expect(out.corrupt).toBeUndefined();
        expect(out.pointsScanned).toBeGreaterThan(0);
        const finished: Array<[number, AggregateResult]> = [];
        forEachResult(out.finished!, (g, r) => finished.push([g, r]));
        expect(finished.map(([g]) => g)).toEqual([0]);
        // Group 1 comes back as a partial: merged and finished as the query engine does.
        const merged = new BucketAccumulator({ aggregation, intervalMs, startMs: T0, endMs: END });
        const partialGroups: number[] = [];
        forEachPartial(out.partials!, (g, partial) => {
          partialGroups.push(g);
          merged.mergePartial(partial);
        });
        expect(partialGroups).toEqual([1]);
        for (const [grp, got] of [['x', finished[0]![1]], ['y', merged.finish()]] as const) {
          const want = expected.get(`${aggregation} ${interval} ${grp}`)!;
          expect([...got.timestamps], `${aggregation} ${interval} ${grp}`).toEqual([...want.timestamps]);
          got.values.forEach((v, i) => expect(v, `${aggregation} ${interval} ${grp} @${got.timestamps[i]}`).toBeCloseTo(want.values[i]!, 9));
        }
      }
    }
  });

  it('answers a corrupt chunk as data naming the series and chunk (an Error loses its class between threads)', async () => {
    const db = new Database(path);
    const row = db.prepare(`SELECT id, data FROM ${TABLE.chunks} WHERE series_id = ? ORDER BY id LIMIT 1`).get(ids[2]) as { id: number; data: Buffer };
    const damaged = Buffer.from(row.data);
    damaged[Math.floor(damaged.length / 2)]! ^= 0x5a;
    db.prepare(`UPDATE ${TABLE.chunks} SET data = ? WHERE id = ?`).run(damaged, row.id);
    db.close();
    const out = await runTask({
      source: { kind: 'sqlite', path }, aggregation: 'p50', intervalMs: 1000, startMs: T0, endMs: END, maxChunkId,
      seriesIds: Int32Array.from(ids), groupOf: Int32Array.from([0, 1, 2]), headOffsets: new Int32Array(4),
      headTimestamps: new Float64Array(0), headValues: new Float64Array(0),
    });
    expect(out.partials).toBeUndefined();
    expect(out.corrupt).toMatchObject({ seriesId: ids[2], chunkId: row.id, detail: expect.any(String) });
    expect(out.corrupt!.detail).not.toMatch(/cannot be decoded/);
  });
});

describe('iforest_score_task in-process', () => {
  it('scores a slice as scoreIsolationForest does', () => {
    const rows = Float64Array.from({ length: 400 }, (_, i) => (i % 2 === 0 ? Math.sin(i) : Math.cos(i * 3)) + (i === 200 ? 40 : 0));
    const model = fitIsolationForest(rows, 2, { trees: 20, seed: 3 });
    const scores = (iforestScoreTask({ model, rows: rows.slice() }) as unknown as Record<symbol, Float64Array>)[valueSymbol]!;
    expect(scores).toHaveLength(200);
    expect([...scores]).toEqual([...scoreIsolationForest(model, rows)]);
    // The planted outlier (row 100) scores highest.
    expect(scores.indexOf(Math.max(...scores))).toBe(100);
  });
});

describe('background_priority in-process', () => {
  it('sets the calling thread\'s nice value through /proc/thread-self', () => {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    const nice = getPriority(tid);
    expect(lowerThisThreadPriority(nice)).toBe(true);
    expect(getPriority(tid)).toBe(nice);
  });
});
