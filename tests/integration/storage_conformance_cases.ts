/**
 * The storage conformance cases about what a store holds and returns: last write wins,
 * overlapping chunks, retention, tenant isolation, erasure, and a corrupted chunk named in the
 * error. Each takes a fresh store (storage_conformance.case.ts registers them); expectations
 * come from the independent model (storage_conformance_model.ts).
 */
import { expect } from 'vitest';
import { CorruptChunkError } from '../../src/index.js';
import type { MetricsSystem } from '../../src/model/api.js';
import type { MetricDataPoint, Tags } from '../../src/model/metric.js';
import type { ConformanceStore, ConformanceTarget } from './storage_conformance.case.js';
import { DAY, FAR, T0, checkRaw, maintenanceOf, openEngine, restart, valuesFrom, write } from './storage_conformance_engine.js';
import { CHECKED_AGGREGATIONS, ExpectedPoints, assertSeriesEqual, expectedBuckets, seriesKey, waitFor } from './storage_conformance_model.js';

/**
 * last-write-wins: last write wins for a duplicate timestamp: within a batch (rows and columns),
 * across batches, across a cut, heads over chunks, chunks over chunks, and after compaction.
 */
export async function lastWriteWins(store: ConformanceStore, engines: MetricsSystem[]): Promise<void> {
  const ms = await openEngine(store);
  engines.push(ms);
  const model = new ExpectedPoints();
  const M = 'conformance.lww';
  const at = (c: string, t: number, value: number): MetricDataPoint => ({ metricId: M, tags: { case: c }, timestamp: T0 + t, value });
  // Within one batch, rows and columns.
  await write(ms, model, [at('batch', 0, 1), at('batch', 0, 2), at('batch', 1000, 3), at('batch', 0, 4)]);
  await ms.collectSeries([{ metricId: M, tags: { case: 'columns' }, timestamps: [T0, T0, T0 + 1, T0], values: [1, 2, 3, 4] }]);
  model.write([at('columns', 0, 1), at('columns', 0, 2), at('columns', 1, 3), at('columns', 0, 4)]);
  // Across batches.
  await write(ms, model, [at('across', 0, 1), at('across', 5, 1)]);
  await write(ms, model, [at('across', 0, 2)]);
  // Across a cut: more points than a head holds (4,096), then rewrites on both sides of the cut.
  const next = valuesFrom(1);
  await write(ms, model, Array.from({ length: 9000 }, (_, i) => at('cut', i * 1000, next())));
  const rewrite = (from: number, to: number): MetricDataPoint[] => Array.from({ length: to - from }, (_, i) => at('cut', (from + i) * 1000, next()));
  await write(ms, model, [...rewrite(0, 10), ...rewrite(4090, 4100), ...rewrite(8995, 9000)]);
  await checkRaw('running, heads and cuts', ms, model, M);
  // Across stop/start: chunks written at stop, then rewritten from heads (head over chunk), twice.
  await restart(ms);
  await checkRaw('after restart', ms, model, M);
  await write(ms, model, [...rewrite(5, 15), at('batch', 0, 5), at('across', 0, 3)]);
  await write(ms, model, [...rewrite(10, 12), at('across', 0, 4)]);
  await checkRaw('head over chunks', ms, model, M);
  await restart(ms);
  await checkRaw('chunk over chunk', ms, model, M);
  await ms.maintenance?.().compact();
  await checkRaw('after compaction', ms, model, M);
  const latest = await ms.latest(M, { case: 'across' });
  expect(latest.map((p) => [p.timestamp, p.value])).toEqual([[T0 + 5, 1]]);
}

/**
 * overlapping-chunks: overlapping chunks (three generations: two cut while running, the last in
 * heads): raw answers and every checked aggregation, per series and merged, over aligned and
 * unaligned ranges.
 */
export async function overlappingChunks(store: ConformanceStore, engines: MetricsSystem[]): Promise<void> {
  const ms = await openEngine(store);
  engines.push(ms);
  const model = new ExpectedPoints();
  const M = 'conformance.overlap';
  const next = valuesFrom(2);
  const points = (host: string, from: number, to: number, offsetMs = 0): MetricDataPoint[] =>
    Array.from({ length: to - from }, (_, i) => ({ metricId: M, tags: { host }, timestamp: T0 + (from + i) * 10_000 + offsetMs, value: next() }));
  // Generations of more points than a head holds (4,096): each cuts a chunk while the engine
  // runs, and the second's chunk overlaps the first's (it rewrites part of it and fills between
  // its points). A restart would not do: stop() may merge them.
  for (const host of ['a', 'b']) await write(ms, model, points(host, 0, 5000));
  for (const host of ['a', 'b']) await write(ms, model, [...points(host, 2500, 7500), ...points(host, 500, 800, 5000)]);
  await waitFor('the cuts to land', () => (maintenanceOf(ms)?.pendingCuts ?? 0) === 0);
  // And a third generation still in heads, over both.
  await write(ms, model, [...points('a', 2000, 2100), ...points('b', 4000, 4100, 5000)]);
  const ranges: Array<[number, number]> = [[T0, T0 + 7500 * 10_000], [T0 + 1_234_567, T0 + 61_234_567]];
  const check = async (when: string): Promise<void> => {
    for (const [start, end] of ranges) {
      await checkRaw(`${when} raw [${start}, ${end})`, ms, model, M, start, end);
      const selected = model.raw((m) => m === M, start, end);
      for (const [interval, intervalMs] of [['1d', 86_400_000], ['1h', 3_600_000], ['7m', 420_000]] as const) {
        for (const aggregation of CHECKED_AGGREGATIONS) {
          const label = `${when} ${aggregation} ${interval} [${start}, ${end})`;
          const answer = await ms.queryAggregated({ metricPattern: M, aggregation, interval, startTime: start, endTime: end });
          const expected = new Map([...selected].map(([k, s]) => [k, expectedBuckets([s], aggregation, intervalMs)]));
          assertSeriesEqual(label, answer, expected, aggregation === 'avg');
          if (aggregation === 'first' || aggregation === 'last') continue;
          const merged = await ms.queryAggregated({ metricPattern: M, aggregation, interval, startTime: start, endTime: end, groupBy: [] });
          expect(merged.length, label).toBe(1);
          const all = expectedBuckets([...selected.values()], aggregation, intervalMs);
          assertSeriesEqual(`${label} groupBy []`, [{ ...merged[0]!, metricId: 'merged', tags: {} }], new Map([[seriesKey('merged'), all]]), aggregation === 'avg');
        }
      }
    }
  };
  await check('overlapping chunks and heads');
  await restart(ms);
  await check('after restart');
}

/**
 * retention: retentionDays and retentionDaysOf drop the chunks past their tenant's period once the
 * store opens, durably, and keep the rest.
 */
export async function retention(store: ConformanceStore, engines: MetricsSystem[]): Promise<void> {
  const now = Date.now();
  const ages = { old: 10 * DAY, edge: 4 * DAY, recent: 3_600_000 };
  const model = new ExpectedPoints();
  const writer = await openEngine(store);
  engines.push(writer);
  for (const tenant of ['default', 'keeper']) {
    for (const [name, age] of Object.entries(ages)) {
      const points = Array.from({ length: 200 }, (_, i) => ({ metricId: `conformance.retention.${name}`, timestamp: now - age + i * 1000, value: i }));
      await writer.forTenant(tenant).collectMetrics(points);
      if (tenant === 'default') model.write(points);
    }
  }
  await checkRaw('before retention', writer, model, 'conformance.retention.');
  await writer.stop();

  const names = (ms: MetricsSystem) => async (): Promise<string[]> =>
    (await ms.queryMetrics({ metricPattern: 'conformance.retention.*', startTime: 0, endTime: FAR })).map((s) => s.metricId.split('.').pop()!).sort();
  // Five days for everyone but `keeper` (forever): the 10-day-old chunks go, the 4-day-old stay.
  const fiveDays = await openEngine(store, { retentionDays: 5, retentionDaysOf: (t) => (t === 'keeper' ? 0 : 5) });
  engines.push(fiveDays);
  const defaultNames = names(fiveDays);
  await waitFor('retention of 10-day-old chunks', async () => (await defaultNames()).join() === 'edge,recent');
  expect(await names(fiveDays.forTenant('keeper'))()).toEqual(['edge', 'old', 'recent']);
  await fiveDays.stop();
  // The deletion is durable: without retention, they stay gone.
  const plain = await openEngine(store);
  engines.push(plain);
  expect(await names(plain)()).toEqual(['edge', 'recent']);
  model.erase('conformance.retention.old', {});
  await checkRaw('kept by retention', plain, model, 'conformance.retention.');
  await plain.stop();
  // retentionDays alone applies to every tenant.
  const threeDays = await openEngine(store, { retentionDays: 3 });
  engines.push(threeDays);
  await waitFor('retention of 4-day-old chunks', async () => (await names(threeDays)()).join() === 'recent');
  await waitFor('retention in tenant keeper', async () => (await names(threeDays.forTenant('keeper'))()).join() === 'recent');
}

/**
 * tenant-isolation: two tenants writing the same series each see only their own points, series and
 * metric ids.
 */
export async function tenantIsolation(store: ConformanceStore, engines: MetricsSystem[]): Promise<void> {
  const ms = await openEngine(store);
  engines.push(ms);
  const tenants = { a: ms.forTenant('a'), b: ms.forTenant('b') };
  const models = { a: new ExpectedPoints(), b: new ExpectedPoints() };
  const M = 'conformance.tenant.shared';
  for (const [t, offset] of [['a', 0], ['b', 1_000_000]] as const) {
    const points = Array.from({ length: 500 }, (_, i) => ({ metricId: M, tags: { host: 'h1' }, timestamp: T0 + i * 1000, value: offset + i }));
    await write(tenants[t], models[t], points);
  }
  await write(tenants.a, models.a, [{ metricId: 'conformance.tenant.only_a', timestamp: T0, value: 7 }]);
  const check = async (when: string): Promise<void> => {
    for (const t of ['a', 'b'] as const) {
      const view = ms.forTenant(t);
      await checkRaw(`${when}: tenant ${t}`, view, models[t], 'conformance.tenant.');
      const listed = (await view.listSeries('conformance.tenant.*')).map((s) => seriesKey(s.metricId, s.tags)).sort();
      expect(listed, `${when}: listSeries of ${t}`).toEqual(models[t].keys());
      if (view.metricIds !== undefined) expect(view.metricIds().filter((m) => m.startsWith('conformance.')).sort(), `${when}: metricIds of ${t}`).toEqual(t === 'a' ? ['conformance.tenant.only_a', M] : [M]);
      const latest = await view.latest('conformance.tenant.*', { host: 'h1' });
      expect(latest.map((p) => p.value), `${when}: latest of ${t}`).toEqual([t === 'a' ? 499 : 1_000_499]);
      const sum = await view.queryAggregated({ metricPattern: M, aggregation: 'sum', interval: '1d', startTime: 0, endTime: FAR });
      expect([...sum[0]!.values], `${when}: daily sum of ${t}`).toEqual([t === 'a' ? 124_750 : 500_124_750]);
    }
    expect(await ms.forTenant('default').queryMetrics({ metricPattern: '*', startTime: 0, endTime: FAR }), `${when}: tenant default`).toEqual([]);
  };
  await check('heads');
  await restart(ms);
  await check('chunks');
}

/**
 * erasure: maintenance().erase() removes exactly the selected points (in chunks and heads),
 * durably; other series and tenants keep theirs.
 */
export async function erasure(store: ConformanceStore, engines: MetricsSystem[], target: ConformanceTarget): Promise<void> {
  const ms = await openEngine(store);
  engines.push(ms);
  const erase = ms.maintenance?.().erase;
  if (erase === undefined) throw new Error(`the ${target.name} back-end exposes no erase() (maintenance().erase): every back-end must erase (the conformance suite skips nothing)`);
  const model = new ExpectedPoints();
  const otherModel = new ExpectedPoints();
  const P = 'conformance.erase.';
  const next = valuesFrom(6);
  const series = (metricId: string, host: string, from: number, to: number): MetricDataPoint[] =>
    Array.from({ length: to - from }, (_, i) => ({ metricId, tags: { host }, timestamp: T0 + (from + i) * 60_000, value: next() }));
  await write(ms, model, [...series(`${P}m`, 'h1', 0, 600), ...series(`${P}m`, 'h2', 0, 600), ...series(`${P}keep`, 'h1', 0, 600)]);
  await write(ms.forTenant('other'), otherModel, series(`${P}m`, 'h1', 0, 600));
  await restart(ms);
  // Points in heads too, over the chunks.
  await write(ms, model, [...series(`${P}m`, 'h1', 550, 700), ...series(`${P}m`, 'h2', 100, 120)]);
  const maintenance = ms.maintenance!();
  await maintenance.erase!('default', { metricPattern: `${P}m`, tags: { host: 'h1' }, startMs: T0 + 100 * 60_000, endMs: T0 + 580 * 60_000 });
  model.erase(`${P}m`, { host: 'h1' }, T0 + 100 * 60_000, T0 + 580 * 60_000);
  await maintenance.erase!('default', { metricPattern: `${P}m`, tags: { host: 'h2' } });
  model.erase(`${P}m`, { host: 'h2' });
  const check = async (when: string): Promise<void> => {
    await checkRaw(`${when}: default`, ms, model, P);
    await checkRaw(`${when}: tenant other`, ms.forTenant('other'), otherModel, P);
    const listed = (await ms.listSeries(`${P}*`)).map((s) => seriesKey(s.metricId, s.tags)).sort();
    expect(listed, `${when}: a series erased whole is gone`).toEqual(model.keys());
  };
  await check('erased');
  await restart(ms);
  await check('after restart');
  await ms.maintenance?.().compact();
  await check('after compaction');
}

/**
 * corrupt-chunk-named: a chunk whose bytes were damaged makes queries reading it fail with
 * CorruptChunkError naming the chunk and the series; other series still answer.
 */
export async function corruptChunkNamed(store: ConformanceStore, engines: MetricsSystem[]): Promise<void> {
  const ms = await openEngine(store);
  engines.push(ms);
  const tags: Tags = { host: 'h7' };
  await ms.collectMetrics(Array.from({ length: 500 }, (_, i) => ({ metricId: 'conformance.corrupt', tags, timestamp: T0 + i * 1000, value: i * 1.5 })));
  await ms.stop();
  const chunkId = await store.corruptChunk();
  await ms.start();
  await ms.collectMetric({ metricId: 'conformance.intact', timestamp: T0, value: 1 });
  const named = (error: unknown, label: string): void => {
    expect(error, label).toBeInstanceOf(CorruptChunkError);
    expect((error as CorruptChunkError).chunkId, label).toBe(chunkId);
    expect((error as Error).message, label).toContain(`chunk ${chunkId} `);
    expect((error as Error).message, label).toContain('conformance.corrupt{host=h7}');
  };
  named(await ms.queryMetrics({ metricPattern: 'conformance.*', startTime: 0, endTime: FAR }).then(() => 'answered', (e: unknown) => e), 'raw');
  // A 1 s sum cannot use the chunk's summary: it decodes the chunk.
  named(await ms.queryAggregated({ metricPattern: 'conformance.corrupt', aggregation: 'sum', interval: '1s', startTime: T0 - 1000, endTime: T0 + 3_600_000 }).then(() => 'answered', (e: unknown) => e), 'sum 1s');
  const intact = await ms.queryMetrics({ metricPattern: 'conformance.intact', startTime: 0, endTime: FAR });
  expect(intact.map((s) => [...s.values])).toEqual([[1]]);
  // The damaged chunk must not keep the engine from stopping (stop compacts).
  await ms.stop();
}
