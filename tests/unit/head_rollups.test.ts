/**
 * Heads answered from their rollup records (src/storage/rollup/head_rollups.ts, through
 * QueryEngine's synchronous memory path): the answers equal the point path's bit for bit for
 * every aggregation, interval and range, on the first query (records built) and the next
 * (records reused), after in-order appends (records still valid), out-of-order appends and
 * duplicates (the head is sorted again: records rebuilt), and after a cut.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from './sqlite_store_kit.js';
import { SeriesResolver } from '../../src/ingest/series_resolver.js';
import { buildRowBatch } from '../../src/ingest/batch_builder.js';
import { QueryEngine } from '../../src/query/query_engine.js';
import type { MetricDataPoint } from '../../src/model/metric.js';
import type { AggregatedQuery, Aggregation } from '../../src/model/api.js';
import type { StorageEngine } from '../../src/storage/storage_engine.js';
import { mulberry32 } from '../../bench/data_shapes.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 5, 1);
const HOSTS = ['a', 'b', 'c', 'd'];
const AGGREGATIONS: Aggregation[] = ['count', 'sum', 'avg', 'min', 'max', 'first', 'last', 'stddev', 'rate'];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-head-rollups-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Points of every host at 7 s steps over [fromMs, toMs), values with decimals (sums round). */
function points(random: () => number, fromMs: number, toMs: number, stepMs = 7_000): MetricDataPoint[] {
  const out: MetricDataPoint[] = [];
  for (let t = fromMs; t < toMs; t += stepMs) {
    for (const host of HOSTS) out.push({ metricId: 'cpu.user', tags: { host }, timestamp: t, value: Math.round(random() * 1e6) / 1e3 - 400 });
  }
  return out;
}

function queries(): AggregatedQuery[] {
  const out: AggregatedQuery[] = [];
  const ranges: Array<[number, number]> = [
    [T0, T0 + 13 * HOUR],
    // Starts inside the chunks and inside the heads, on and off the resolutions.
    [T0 + 5 * HOUR, T0 + 13 * HOUR],
    [T0 + 9 * HOUR + 25 * MIN, T0 + 11 * HOUR + 10 * MIN],
    [T0 + 9 * HOUR + 17_000, T0 + 12 * HOUR + 3_000],
    // Ending inside the heads, before buckets that records built by the ranges above hold:
    // the points after the records are then outside the range (a 24 h dashboard of yesterday
    // while today's points arrive once answered 500s from this: tailRange.start > end).
    [T0 + 2 * HOUR, T0 + 9 * HOUR],
    [T0 + 8 * HOUR + 25 * MIN, T0 + 10 * HOUR],
  ];
  for (const aggregation of AGGREGATIONS) {
    for (const interval of ['5m', '15m', '1h', '2h']) {
      for (const [startTime, endTime] of ranges) out.push({ metricPattern: 'cpu.user', aggregation, interval, startTime, endTime });
    }
  }
  out.push({ metricPattern: 'cpu.user', aggregation: 'avg', interval: '1h', startTime: T0, endTime: T0 + 13 * HOUR, groupBy: [] });
  return out;
}

async function expectSameAnswers(fast: QueryEngine, raw: QueryEngine, label: string): Promise<void> {
  for (const q of queries()) {
    const expected = await raw.aggregated('default', q);
    const got = await fast.aggregated('default', q);
    expect(got.series, `${label}: ${q.aggregation} ${q.interval} ${q.startTime}…${q.endTime}${q.groupBy ? ' grouped' : ''}`).toEqual(expected.series);
    expect(got.series.length).toBeGreaterThan(0);
  }
}

describe('heads answered from their rollup records', () => {
  it('answer as feeding every head point does, as heads grow, are sorted again and are cut', async () => {
    const random = mulberry32(11);
    // Heads are cut only by the checkpoints below.
    const store: StorageEngine = await openSqliteStore({ path: join(dir, 'd.db'), headCutPoints: 1_000_000, chunkEncoding: 'inline', settle: { checkIntervalMs: 3_600_000 } });
    const raw = new QueryEngine(store, { workers: 0, rollups: false });
    const fast = new QueryEngine(store, { workers: 0 });
    try {
      const resolver = new SeriesResolver(store.catalog.tenant('default'));
      const commit = (p: MetricDataPoint[]): Promise<void> => store.commit([buildRowBatch(p, resolver, T0)]);
      // 8 h in chunks, then 2 h 50 min in the heads.
      await commit(points(random, T0, T0 + 8 * HOUR));
      await store.checkpoint();
      await commit(points(random, T0 + 8 * HOUR, T0 + 10 * HOUR + 50 * MIN));
      // Rollups for the chunks (the first queries miss them), then the heads' records are built, then reused.
      await fast.aggregated('default', queries()[0]!);
      await fast.rollupWarmer.idle();
      await expectSameAnswers(fast, raw, 'built');
      const built = fast.headRollups.builds;
      expect(built).toBeGreaterThan(0);
      await expectSameAnswers(fast, raw, 'reused');
      expect(fast.headRollups.builds).toBe(built);
      expect(fast.headRollups.hits).toBeGreaterThan(0);

      // In-order appends: the records stay valid, the rest is fed as points.
      await commit(points(random, T0 + 10 * HOUR + 50 * MIN, T0 + 11 * HOUR + 20 * MIN));
      await expectSameAnswers(fast, raw, 'appended');
      // Out of order, and a duplicate timestamp of a point in the records (the later write wins).
      await commit([
        ...points(random, T0 + 9 * HOUR + 3_500, T0 + 9 * HOUR + 60_000),
        { metricId: 'cpu.user', tags: { host: 'a' }, timestamp: T0 + 8 * HOUR + 7_000 * 30, value: 12345.5 },
      ]);
      const beforeSort = fast.headRollups.builds;
      await expectSameAnswers(fast, raw, 'sorted again');
      expect(fast.headRollups.builds).toBeGreaterThan(beforeSort);
      // Cut: chunks now (rollups built when queries miss them), new heads after.
      await store.checkpoint();
      await commit(points(random, T0 + 11 * HOUR + 20 * MIN, T0 + 12 * HOUR + 40 * MIN));
      await fast.aggregated('default', queries()[0]!);
      await fast.rollupWarmer.idle();
      await expectSameAnswers(fast, raw, 'after a cut');
    } finally {
      await fast.close();
      await raw.close();
      await store.close();
    }
  });
});
