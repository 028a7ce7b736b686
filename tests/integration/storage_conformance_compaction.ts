/**
 * The storage conformance cases about compaction running while the store is in use: writes
 * sent while background compaction runs (and maintenance().compact() among them), and queries
 * answered while compaction rewrites the chunks they read. Background compaction is brought
 * on by shrinking the settle policy (SETTLE_ENV), and seen through stats().maintenance.
 */
import { expect } from 'vitest';
import type { MetricsSystem } from '../../src/model/api.js';
import type { MetricDataPoint } from '../../src/model/metric.js';
import { mulberry32 } from '../../bench/data_shapes.js';
import type { ConformanceStore } from './storage_conformance.case.js';
import { FAR, SETTLE_ENV, T0, checkRaw, maintenanceOf, openEngine, restart, valuesFrom, write } from './storage_conformance_engine.js';
import { ExpectedPoints, assertSeriesEqual, expectedBuckets, waitFor } from './storage_conformance_model.js';

/**
 * compaction-during-writes: writes (new points and rewrites of acknowledged ones) sent while
 * background compaction runs, and maintenance().compact() among them: every point as last written.
 */
export async function compactionDuringWrites(store: ConformanceStore, engines: MetricsSystem[]): Promise<void> {
  const ms = await openEngine(store, {}, SETTLE_ENV.always);
  engines.push(ms);
  const model = new ExpectedPoints();
  const M = 'conformance.compact';
  const SERIES = 12;
  const PER_ROUND = 400;
  const next = valuesFrom(3);
  const rnd = mulberry32(4);
  let roundsDuringCompaction = 0;
  let compactCalls = 0;
  for (let round = 0; round < 15; round++) {
    // Settling compacts what the last rounds cut once writes pause: the next round is sent while it runs.
    if (round > 0 && maintenanceOf(ms) !== undefined) {
      const running = await waitFor('a background compaction', () => maintenanceOf(ms)?.compactionRunning === true, 2000, 1).then(() => true, () => false);
      if (running) roundsDuringCompaction++;
    }
    const writes: Array<Promise<void>> = [];
    // Three writers on disjoint series; each also rewrites points of rounds already acknowledged.
    for (let w = 0; w < 3; w++) {
      const batch: MetricDataPoint[] = [];
      for (let s = w; s < SERIES; s += 3) {
        const tags = { s: String(s) };
        for (let k = 0; k < PER_ROUND; k++) batch.push({ metricId: M, tags, timestamp: T0 + (round * PER_ROUND + k) * 1000, value: next() });
        for (let j = 0; j < (round === 0 ? 0 : 30); j++) batch.push({ metricId: M, tags, timestamp: T0 + Math.floor(rnd() * round * PER_ROUND) * 1000, value: next() });
      }
      writes.push(write(ms, model, batch));
    }
    const maintenance = ms.maintenance?.();
    if (maintenance !== undefined && round % 3 === 1) {
      compactCalls++;
      writes.push(maintenance.compact());
    }
    await Promise.all(writes);
    if (round % 5 === 4) await checkRaw(`round ${round}`, ms, model, M);
  }
  if (maintenanceOf(ms) !== undefined) expect(roundsDuringCompaction, 'no round was written while a background compaction ran').toBeGreaterThan(0);
  else expect(compactCalls, 'no compaction ran while writing (the engine reports no background work and has no maintenance().compact())').toBeGreaterThan(0);
  await waitFor('background work to finish', () => {
    const m = maintenanceOf(ms);
    return m === undefined || (!m.compactionRunning && !m.checkpointRunning && m.pendingCuts === 0);
  });
  await checkRaw('after background work', ms, model, M);
  await restart(ms);
  await checkRaw('after restart', ms, model, M);
}

/**
 * snapshot-reads-during-compaction: queries running while compaction rewrites the chunks they read
 * return complete answers.
 */
export async function snapshotReadsDuringCompaction(store: ConformanceStore, engines: MetricsSystem[]): Promise<void> {
  const ms = await openEngine(store, { queryWorkers: 2 }, SETTLE_ENV.afterWrites);
  engines.push(ms);
  const model = new ExpectedPoints();
  const M = 'conformance.snapshot';
  const next = valuesFrom(5);
  // Overlapping generations per series: chunks cut while writing (4,096 points a cut), overlapping each other.
  const writeGeneration = async (g: number): Promise<void> => {
    const series = Array.from({ length: 12 }, (_, s) => {
      const timestamps = Array.from({ length: 5000 }, (_, i) => T0 + (g * 2500 + i) * 10_000);
      return { metricId: M, tags: { s: String(s) }, timestamps, values: timestamps.map(() => next()) };
    });
    await ms.collectSeries(series);
    for (const s of series) s.timestamps.forEach((t, i) => model.put(M, s.tags, t, s.values[i]!));
  };
  for (let g = 0; g < 4; g++) await writeGeneration(g);
  let queries = 0;
  let duringCompaction = 0;
  const compacting = (): boolean => maintenanceOf(ms)?.compactionRunning === true;
  const settled = (): boolean => {
    const m = maintenanceOf(ms);
    return m === undefined || (m.settled ?? (!m.compactionRunning && !m.checkpointRunning));
  };
  /** Two readers comparing every answer until `done()` (so that the engine also hands reads to its workers, which read a snapshot). */
  const readUntil = async (what: string, done: () => boolean): Promise<void> => {
    const hourly = new Map([...model.raw((m) => m === M)].map(([k, s]) => [k, expectedBuckets([s], 'sum', 3_600_000)]));
    let givenUp = false;
    const reader = async (which: number): Promise<void> => {
      while (!givenUp && !done()) {
        // A real client yields between queries; inline queries alone never let timers (landing, compaction slices) run.
        await new Promise((resolve) => setImmediate(resolve));
        const before = compacting();
        if ((queries + which) % 2 === 0) {
          await checkRaw(`${what}: raw read ${queries}`, ms, model, M);
        } else {
          const answer = await ms.queryAggregated({ metricPattern: M, aggregation: 'sum', interval: '1h', startTime: 0, endTime: FAR });
          assertSeriesEqual(`${what}: hourly sum ${queries}`, answer, hourly);
        }
        queries++;
        if (before || compacting()) duringCompaction++;
      }
    };
    const limit = setTimeout(() => {
      givenUp = true;
    }, 20_000);
    try {
      await Promise.all([reader(0), reader(1)]);
    } finally {
      givenUp = true;
      clearTimeout(limit);
    }
    expect(done(), `${what}: not done within 20 s (${queries} queries, ${duringCompaction} during compaction)`).toBe(true);
  };
  await readUntil('background compaction', settled);
  expect(duringCompaction, `of ${queries} queries none ran while the background compaction did`).toBeGreaterThan(0);
  // And while maintenance().compact() runs, over a fifth generation.
  const maintenance = ms.maintenance?.();
  if (maintenance !== undefined) {
    await writeGeneration(4);
    let compacted = false;
    const compaction = maintenance.compact().finally(() => {
      compacted = true;
    });
    await readUntil('maintenance().compact()', () => compacted);
    await compaction;
  }
  await checkRaw('after compaction', ms, model, M);
}
