/**
 * Bad input: every rule refuses the whole batch with a MetricValidationError naming the point's
 * index, the field and the value, and nothing of the batch (not even its new series) is stored.
 * Plus the ingest fast path's caches: mutated tags objects, equal tags in different objects,
 * and group commit sharing one transaction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMetricsSystem, MetricValidationError, type MetricsSystem } from '../../src/index.js';
import type { MetricDataPoint } from '../../src/model/metric.js';
import { normalizePoint } from '../../src/model/metric.js';
import { GroupCommitter } from '../../src/ingest/group_commit.js';
import type { IngestBatch } from '../../src/storage/ingest_batch.js';

const T0 = Date.UTC(2026, 1, 1);
let dir: string;
let ms: MetricsSystem;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-ingest-'));
  ms = createMetricsSystem({ path: join(dir, 'i.db'), queryWorkers: 0 });
  await ms.start();
});

afterAll(async () => {
  await ms.stop();
  rmSync(dir, { recursive: true, force: true });
});

const manyTags: Record<string, string> = {};
for (let i = 0; i < 33; i++) manyTags[`k${i}`] = 'v';

const BAD: Array<{ rule: string; point: Record<string, unknown>; field: RegExp; message: RegExp }> = [
  { rule: 'metric id pattern', point: { metricId: '9starts.with.digit', value: 1 }, field: /^metricId$/, message: /points\[2\]\.metricId="9starts\.with\.digit" must match/ },
  { rule: 'metric id too long', point: { metricId: 'a'.repeat(256), value: 1 }, field: /^metricId$/, message: /points\[2\]\.metricId=.*256 chars/ },
  { rule: 'metric id missing', point: { value: 1 }, field: /^metricId$/, message: /points\[2\]\.metricId=undefined/ },
  { rule: 'tag key pattern', point: { metricId: 'ok', value: 1, tags: { 'bad-key': 'x' } }, field: /^tags\.bad-key$/, message: /points\[2\]\.tags\.bad-key="bad-key" is not a valid tag key/ },
  { rule: 'tag value not a string', point: { metricId: 'ok', value: 1, tags: { n: 5 } }, field: /^tags\.n$/, message: /points\[2\]\.tags\.n=5 must be a string/ },
  { rule: 'tag value too long', point: { metricId: 'ok', value: 1, tags: { long: 'x'.repeat(1025) } }, field: /^tags\.long$/, message: /at most 1024 characters/ },
  { rule: 'more than 32 tags', point: { metricId: 'ok', value: 1, tags: manyTags }, field: /^tags$/, message: /at most 32 tags/ },
  { rule: 'value NaN', point: { metricId: 'ok', value: Number.NaN }, field: /^value$/, message: /points\[2\]\.value=NaN must be a finite number/ },
  { rule: 'value Infinity', point: { metricId: 'ok', value: Infinity }, field: /^value$/, message: /points\[2\]\.value=Infinity/ },
  { rule: 'value a string', point: { metricId: 'ok', value: '3' }, field: /^value$/, message: /points\[2\]\.value="3"/ },
  { rule: 'timestamp before 1970', point: { metricId: 'ok', value: 1, timestamp: -1 }, field: /^timestamp$/, message: /points\[2\]\.timestamp=-1 must be a finite epoch-millisecond time in \[1970, 2200\)/ },
  { rule: 'timestamp at 2200', point: { metricId: 'ok', value: 1, timestamp: Date.UTC(2200, 0, 1) }, field: /^timestamp$/, message: /points\[2\]\.timestamp=7258118400000/ },
  { rule: 'timestamp NaN', point: { metricId: 'ok', value: 1, timestamp: Number.NaN }, field: /^timestamp$/, message: /timestamp=NaN/ },
  { rule: 'timestamp invalid Date', point: { metricId: 'ok', value: 1, timestamp: new Date('nope') }, field: /^timestamp$/, message: /timestamp=Date\(NaN\)/ },
  { rule: 'timestamp a string', point: { metricId: 'ok', value: 1, timestamp: '2026-01-01' }, field: /^timestamp$/, message: /timestamp="2026-01-01"/ },
  { rule: 'unknown metric type', point: { metricId: 'ok', value: 1, metricType: 'meter' }, field: /^metricType$/, message: /points\[2\]\.metricType="meter" must be one of counter, gauge, histogram, summary/ },
  { rule: 'point not an object', point: null as unknown as Record<string, unknown>, field: /^$/, message: /points\[2\]\.=null must be an object/ },
];

describe('bad input refuses the whole batch', () => {
  it.each(BAD)('$rule', async ({ point, field, message }) => {
    // Two valid points of new series before the bad one, one after: none may be stored.
    const batch = [
      { metricId: 'fresh.one', value: 1, timestamp: T0, tags: { a: 'x' } },
      { metricId: 'fresh.two', value: 2, timestamp: T0 },
      point,
      { metricId: 'fresh.three', value: 3, timestamp: T0 },
    ] as unknown as MetricDataPoint[];
    const error = await ms.collectMetrics(batch).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MetricValidationError);
    const e = error as MetricValidationError;
    expect(e.index).toBe(2);
    expect(e.field).toMatch(field);
    expect(e.message).toMatch(message);
    expect(e.message).toContain(`=${e.value === undefined ? 'undefined' : ''}`);
    // The fast path reports what the reference validator reports.
    expect(() => normalizePoint(point, 2, T0)).toThrow(e.message);
    expect(await ms.listSeries('*')).toEqual([]);
    expect(await ms.queryMetrics({ metricPattern: '*', startTime: 0 })).toEqual([]);
  });

  it('a bad point of a known series refuses the batch too (fast path of cached series)', async () => {
    const tags = { host: 'h1' };
    await ms.collectMetrics([{ metricId: 'known.series', value: 1, timestamp: T0, tags }]);
    const error = await ms.collectMetrics([
      { metricId: 'known.series', value: 2, timestamp: T0 + 1, tags },
      { metricId: 'known.series', value: 3, timestamp: T0 + 2, tags, metricType: 'bogus' as never },
    ]).catch((e: unknown) => e);
    expect((error as MetricValidationError).message).toMatch(/points\[1\]\.metricType="bogus"/);
    const error2 = await ms.collectMetrics([
      { metricId: 'known.series', value: 2, timestamp: T0 + 1, tags },
      { metricId: 'known.series', value: Infinity, timestamp: T0 + 2, tags },
    ]).catch((e: unknown) => e);
    expect((error2 as MetricValidationError).field).toBe('value');
    const raw = await ms.queryMetrics({ metricPattern: 'known.series', startTime: 0 });
    expect([...raw[0]!.values]).toEqual([1]);
  });

  it('columnar batches name series[i].field[j]', async () => {
    await expect(ms.collectSeries([
      { metricId: 'col.ok', timestamps: [T0, T0 + 1], values: [1, 2] },
      { metricId: 'col.bad', timestamps: [T0, T0 + 1, T0 + 2], values: [1, 2, Number.NaN] },
    ])).rejects.toThrow(/series\[1\]\.values\[2\]=NaN must be a finite number/);
    await expect(ms.collectSeries([{ metricId: 'col.bad', timestamps: [T0], values: [1, 2] }])).rejects.toThrow(/series\[0\]\.values=array\(2\) must have as many entries as timestamps \(1\)/);
    await expect(ms.collectSeries([{ metricId: 'col bad', timestamps: [T0], values: [1] }])).rejects.toThrow(/series\[0\]\.metricId="col bad"/);
    await expect(ms.collectSeries([{ metricId: 'col.bad', timestamps: [-5], values: [1] }])).rejects.toThrow(/series\[0\]\.timestamps\[0\]=-5/);
    expect((await ms.listSeries('col.*')).length).toBe(0);
    await ms.collectSeries([{ metricId: 'col.ok', tags: { z: '1' }, timestamps: Float64Array.of(T0, T0 + 5), values: Float64Array.of(4, 5), metricType: 'counter' }]);
    const r = await ms.queryMetrics({ metricPattern: 'col.ok', startTime: 0 });
    expect(r).toEqual([{ metricId: 'col.ok', metricType: 'counter', tags: { z: '1' }, timestamps: Float64Array.of(T0, T0 + 5), values: Float64Array.of(4, 5) }]);
  });
});

describe('series resolution caches', () => {
  it('a tags object mutated between batches goes to the series of its current tags', async () => {
    const tags: Record<string, string> = { host: 'm1' };
    await ms.collectMetrics([{ metricId: 'mut.metric', value: 1, timestamp: T0, tags }]);
    tags.host = 'm2';
    await ms.collectMetrics([{ metricId: 'mut.metric', value: 2, timestamp: T0, tags }]);
    tags.extra = 'y';
    await ms.collectMetrics([{ metricId: 'mut.metric', value: 3, timestamp: T0, tags }]);
    const r = await ms.queryMetrics({ metricPattern: 'mut.metric', startTime: 0 });
    // Ordered by canonical tags: `extra=y,host=m2` < `host=m1` < `host=m2`.
    expect(r.map((s) => [s.tags, s.values[0]])).toEqual([
      [{ extra: 'y', host: 'm2' }, 3],
      [{ host: 'm1' }, 1],
      [{ host: 'm2' }, 2],
    ]);
  });

  it('equal tags in different objects and key orders are one series; the default type is gauge', async () => {
    await ms.collectMetrics([
      { metricId: 'eq.metric', value: 1, timestamp: T0, tags: { a: '1', b: '2' } },
      { metricId: 'eq.metric', value: 2, timestamp: T0 + 1, tags: { b: '2', a: '1' } },
      { metricId: 'eq.metric', value: 3, timestamp: new Date(T0 + 2), tags: { a: '1', b: '2' } },
    ]);
    const r = await ms.queryMetrics({ metricPattern: 'eq.metric', startTime: 0 });
    expect(r.length).toBe(1);
    expect(r[0]!.metricType).toBe('gauge');
    expect([...r[0]!.values]).toEqual([1, 2, 3]);
  });

  it('collectMetric defaults the timestamp to now', async () => {
    const before = Date.now();
    await ms.collectMetric({ metricId: 'now.metric', value: 42, metricType: 'counter' });
    const [latest] = await ms.latest('now.metric');
    expect(latest!.value).toBe(42);
    expect(latest!.timestamp).toBeGreaterThanOrEqual(before);
    expect(latest!.timestamp).toBeLessThanOrEqual(Date.now());
  });
});

describe('group commit', () => {
  it('batches submitted in one turn share one commit', async () => {
    const groups: number[] = [];
    const committer = new GroupCommitter(async (batches) => {
      groups.push(batches.length);
    });
    const batch = (): IngestBatch => ({ seriesIds: Uint32Array.of(1), timestamps: Float64Array.of(1), values: Float64Array.of(1), length: 1 });
    await Promise.all(Array.from({ length: 100 }, () => committer.submit(batch())));
    expect(groups).toEqual([100]);
  });

  it('a failing commit rejects every batch of its group', async () => {
    const committer = new GroupCommitter(() => { throw new Error('disk full'); });
    const batch: IngestBatch = { seriesIds: Uint32Array.of(1), timestamps: Float64Array.of(1), values: Float64Array.of(1), length: 1 };
    const results = await Promise.allSettled([committer.submit(batch), committer.submit(batch)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });

  it('concurrent single points through the engine are all stored', async () => {
    await Promise.all(Array.from({ length: 300 }, (_, i) => ms.collectMetric({ metricId: 'gc.metric', value: i, timestamp: T0 + i })));
    const r = await ms.queryMetrics({ metricPattern: 'gc.metric', startTime: 0 });
    expect(r[0]!.values.length).toBe(300);
    expect(ms.stats().batchesIngested).toBeGreaterThanOrEqual(300);
  });

  it('refuses calls before start() and after stop()', async () => {
    const idle = createMetricsSystem({ path: join(dir, 'idle.db'), queryWorkers: 0 });
    await expect(idle.collectMetric({ metricId: 'x', value: 1 })).rejects.toThrow(/not running/);
  });
});

describe('raw-key cache of fresh tags objects', () => {
  it('an invalid key cannot pass as a cached tag set that spells the same raw key', async () => {
    await ms.collectMetrics([{ metricId: 'raw.m', value: 1, timestamp: T0, tags: { k1: 'x', k2: 'y' } }]);
    // `k1=1:xk2` + `=1:y` spells the raw key of { k1: 'x', k2: 'y' }.
    await expect(ms.collectMetrics([{ metricId: 'raw.m', value: 2, timestamp: T0 + 1, tags: { 'k1=1:xk2': 'y' } }])).rejects.toThrow(/is not a valid tag key/);
    await ms.collectMetrics([{ metricId: 'raw.m', value: 3, timestamp: T0 + 2, tags: JSON.parse('{"k1":"x","k2":"y"}') as Record<string, string> }]);
    const r = await ms.queryMetrics({ metricPattern: 'raw.m', startTime: 0 });
    expect(r.length).toBe(1);
    expect([...r[0]!.values]).toEqual([1, 3]);
  });
});
