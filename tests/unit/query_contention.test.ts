/**
 * The engine's side of many users at once (src/query/query_engine.ts, query_pressure.ts):
 * - heads of series written to now are left out of reads of an older range, with the same
 *   answers as when the heads are included;
 * - with queries waiting for admission, or batches arriving, an aggregation of at least
 *   CONTENDED_WORKER_MIN_POINTS goes to the workers (off the thread that acknowledges ingest),
 *   with the inline answer.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Piscina } from 'piscina';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import type { SeriesResult } from '../../src/model/api.js';
import { CONTENDED_WORKER_MIN_POINTS } from '../../src/query/query_engine.js';
import { queryPressure } from '../../src/query/query_pressure.js';
import { StorageEngine } from '../../src/storage/storage_engine.js';

const T0 = Date.UTC(2026, 0, 5);
const HOUR = 3_600_000;
const HOSTS = 12;
/** Points per series in the older range: together past CONTENDED_WORKER_MIN_POINTS. */
const PER_SERIES = Math.ceil((CONTENDED_WORKER_MIN_POINTS * 1.2) / HOSTS);
const STEP_MS = Math.floor((6 * HOUR) / PER_SERIES);

let dir: string;
let ms: EngineMetricsSystem;
/** Tasks handed to piscina pools; the query workers' are those with `seriesIds` (aggregate_task.ts). */
const taskRuns = vi.spyOn(Piscina.prototype, 'run');
const queryTasks = (): number => taskRuns.mock.calls.filter(([task]) => typeof task === 'object' && task !== null && 'seriesIds' in task).length;
/** Whether batches are arriving: the setup's commits would make it true for 100 ms; each test sets it. */
const ingestActive = vi.spyOn(StorageEngine.prototype, 'ingestActive', 'get').mockReturnValue(false);

function columns(host: number, from: number, n: number, step: number, base: number): { metricId: string; tags: Record<string, string>; timestamps: Float64Array; values: Float64Array } {
  const timestamps = new Float64Array(n);
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    timestamps[i] = from + i * step;
    values[i] = base + ((i * 7 + host * 13) % 101) / 4;
  }
  return { metricId: 'cpu.user', tags: { host: `h${host}` }, timestamps, values };
}

function plain(series: readonly SeriesResult[]): Array<{ tags: unknown; timestamps: number[]; values: number[] }> {
  return series.map((s) => ({ tags: s.tags, timestamps: [...s.timestamps], values: [...s.values] })).sort((a, b) => JSON.stringify(a.tags).localeCompare(JSON.stringify(b.tags)));
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-contention-'));
  ms = new EngineMetricsSystem({ path: join(dir, 'c.db'), queryWorkers: 2 });
  await ms.start();
  // Six hours of history per host, then a restart: it lands in chunks.
  await ms.collectSeries(Array.from({ length: HOSTS }, (_, h) => columns(h, T0, PER_SERIES, STEP_MS, 10)));
  await ms.stop();
  await ms.start();
  // Then live points a day later: they stay in the heads.
  await ms.collectSeries(Array.from({ length: HOSTS }, (_, h) => columns(h, T0 + 24 * HOUR, 50, 10_000, 500)));
});

afterAll(async () => {
  await ms.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('queries during ingest', () => {
  it('a read of an older range leaves newer heads out and answers as a read that includes them', async () => {
    const older = { metricPattern: 'cpu.user', startTime: T0, endTime: T0 + 6 * HOUR };
    const raw = await ms.queryWithStats({ ...older, tags: { host: 'h3' } });
    expect(raw.series[0]!.timestamps.length).toBe(PER_SERIES);
    // The same range read up to past the heads, then cut back: equal points.
    const wide = await ms.queryWithStats({ metricPattern: 'cpu.user', tags: { host: 'h3' }, startTime: T0, endTime: T0 + 25 * HOUR });
    expect(wide.series[0]!.timestamps.length).toBe(PER_SERIES + 50);
    expect([...raw.series[0]!.values]).toEqual([...wide.series[0]!.values.subarray(0, PER_SERIES)]);
    const hourly = await ms.queryWithStats({ ...older, aggregation: 'avg', interval: '1h' });
    expect(hourly.stats.pointsScanned).toBe(HOSTS * PER_SERIES);
    const wideHourly = await ms.queryWithStats({ ...older, endTime: T0 + 25 * HOUR, aggregation: 'avg', interval: '1h' });
    const firstSix = wideHourly.series.map((s) => ({ ...s, timestamps: s.timestamps.subarray(0, 6), values: s.values.subarray(0, 6) }));
    expect(plain(hourly.series)).toEqual(plain(firstSix));
  });

  it('with queries waiting or batches arriving, a middling aggregation runs in the workers and answers as inline', async () => {
    // A percentile: rollups (src/storage/rollup/) never answer it, so every run reads the points.
    const q = { metricPattern: 'cpu.user', startTime: T0, endTime: T0 + 6 * HOUR, aggregation: 'p90' as const, interval: '30m' };
    const inline = await ms.queryWithStats(q);
    expect(queryTasks()).toBe(0);
    queryPressure.add(1);
    let contended;
    try {
      contended = await ms.queryWithStats(q);
    } finally {
      queryPressure.add(-1);
    }
    expect(queryTasks()).toBeGreaterThan(0);
    expect(plain(contended.series)).toEqual(plain(inline.series));
    expect(contended.stats.pointsScanned).toBe(inline.stats.pointsScanned);
    // Alone, but with batches arriving (their acks wait for this thread): workers too.
    const before = queryTasks();
    ingestActive.mockReturnValue(true);
    let duringIngest;
    try {
      duringIngest = await ms.queryWithStats(q);
    } finally {
      ingestActive.mockReturnValue(false);
    }
    expect(queryTasks()).toBeGreaterThan(before);
    expect(plain(duringIngest.series)).toEqual(plain(inline.series));
    // The stddev of many points is where summation order shows: worker partials merge exactly enough.
    const sd = { ...q, aggregation: 'stddev' as const };
    const sdInline = await ms.queryWithStats(sd);
    queryPressure.add(1);
    try {
      const sdWorkers = await ms.queryWithStats(sd);
      sdWorkers.series.forEach((s, i) => s.values.forEach((v, k) => expect(v).toBeCloseTo(sdInline.series[i]!.values[k]!, 9)));
    } finally {
      queryPressure.add(-1);
    }
  });
});
