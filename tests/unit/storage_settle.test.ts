/**
 * Settling inside the storage engine (sqlite_store.ts hooks, settle_policy.ts), in process on a
 * clock the test moves: after a burst the engine cuts idle heads, deletes the records and packs
 * the chunks, and every point reads back; a trickle writer gets no chunk per point; load that
 * returns stops settling half-way without losing a point across a crash; and the head-point
 * limit starts a checkpoint under any load.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StorageEngine } from '../../src/storage/storage_engine.js';
import { seriesBatch } from './settle_batch_kit.js';
import type { IngestBatch } from '../../src/storage/ingest_batch.js';
import { openSqliteStore, readStoredPoints, type SqliteStoreOptions } from './sqlite_store_kit.js';

const T0 = Date.UTC(2026, 0, 1);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A store on a fake clock, its series pre-registered as s0..s{n-1}. */
async function openStore(series: number, extra: Partial<SqliteStoreOptions> = {}): Promise<{ store: StorageEngine; clock: { now: number }; ids: number[]; options: SqliteStoreOptions }> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-settle-'));
  dirs.push(dir);
  const clock = { now: T0 };
  const options: SqliteStoreOptions = {
    path: join(dir, 's.db'), chunkEncoding: 'inline', clock: () => clock.now,
    settle: { seriesIdleMs: 2000, quietWindowMs: 2000, minCutPoints: 50, pinBytes: 1024 * 1024, quietMaxPointsPerSecond: 1000 }, ...extra,
  };
  const store = await openSqliteStore(options);
  const ids = registerSeries(store, series);
  return { store, clock, ids, options };
}

function registerSeries(store: StorageEngine, n: number): number[] {
  const tenant = store.catalog.tenant('default');
  const ids: number[] = [];
  for (let s = 0; s < n; s++) ids.push(tenant.find(`settle.s${s}`, '') ?? tenant.create(`settle.s${s}`, 'gauge', {}, '').id);
  return ids;
}

const batch = (ids: number[], from: number, perSeries: number): IngestBatch => seriesBatch(ids, from, perSeries, T0, value);

const value = (s: number, k: number): number => s * 1000 + Math.sin(k) * 100;

async function expectPoints(store: StorageEngine, ids: number[], count: number): Promise<void> {
  for (const [s, id] of ids.entries()) {
    const got = await readStoredPoints(store, id, 0, T0 + 1e12);
    expect(got.timestamps.length).toBe(count);
    for (let k = 0; k < count; k++) {
      expect(got.timestamps[k]).toBe(T0 + k * 10_000);
      expect(got.values[k]).toBe(value(s, k));
    }
  }
}

describe('settling when ingest goes quiet', () => {
  it('after a burst: waits for quiet, cuts the heads, deletes the records, packs the chunks', async () => {
    const { store, clock, ids } = await openStore(20, { headCutPoints: 256 });
    try {
      for (let k = 0; k < 1000; k += 100) {
        await store.commit([batch(ids, k, 100)]);
        clock.now += 50;
      }
      const before = store.stats();
      expect(before.headPoints).toBeGreaterThan(0);
      expect(before.maintenance?.settled).toBe(false);
      expect(store.settleIfQuiet()).toMatch(/busy|loud/);
      await store.settle();
      expect(store.settleIfQuiet()).toBe('loud');
      clock.now += 2100;
      // Quiet, but the series have not been idle long enough everywhere yet: nothing cut early.
      expect(store.stats().maintenance?.recentPointsPerSecond).toBe(0);
      expect(store.settleIfQuiet()).toBe('checkpoint');
      await store.settle();
      const after = store.stats();
      expect(after.headPoints).toBe(0);
      expect(after.walBytes).toBe(0);
      expect(after.maintenance).toMatchObject({ settled: true, headsToSettle: 0, compactionBacklog: 0, walOldestAgeMs: 0, headBytes: 0, lastSettledAtMs: clock.now });
      // 1000 points per series, cuts of 128–256 points packed into one chunk each.
      expect(after.chunks).toBe(ids.length);
      expect(store.settleIfQuiet()).toBe('settled');
      await expectPoints(store, ids, 1000);
    } finally {
      await store.close();
    }
  });

  it('settles by itself on its check interval, without anyone asking', async () => {
    const { store, clock, ids } = await openStore(5, { settle: { seriesIdleMs: 2000, quietWindowMs: 2000, minCutPoints: 50, quietMaxPointsPerSecond: 1000, checkIntervalMs: 20 } });
    try {
      await store.commit([batch(ids, 0, 300)]);
      clock.now += 2100;
      await expect.poll(() => store.stats().maintenance?.settled, { timeout: 10_000, interval: 20 }).toBe(true);
      expect(store.stats()).toMatchObject({ headPoints: 0, walBytes: 0, chunks: 5 });
    } finally {
      await store.close();
    }
  });

  it('counts heads of live series as waiting, and cuts them once their series go idle', async () => {
    const { store, clock, ids } = await openStore(4);
    try {
      await store.commit([batch(ids, 0, 100)]);
      clock.now += 2100;
      await store.commit([batch(ids.slice(0, 1), 100, 1)]);
      // Series 1–3 idle and cut; series 0 written just now: waiting.
      expect(store.settleIfQuiet()).toBe('checkpoint');
      await store.settle();
      expect(store.stats().maintenance).toMatchObject({ settled: false, headsToSettle: 1 });
      // Its record still holds series 0's head: not deleted.
      expect(store.stats().walBytes).toBeGreaterThan(0);
      expect(store.settleIfQuiet()).toBe('waiting');
      clock.now += 2100;
      expect(store.settleIfQuiet()).toBe('checkpoint');
      await store.settle();
      expect(store.stats()).toMatchObject({ headPoints: 0, walBytes: 0, chunks: 4 });
      expect(store.stats().maintenance?.settled).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('gives a trickle writer no chunk per point', async () => {
    const { store, clock, ids } = await openStore(10);
    try {
      for (let k = 0; k < 40; k++) {
        await store.commit([batch(ids, k, 1)]);
        clock.now += 1000;
        store.settleIfQuiet();
        await store.settle();
      }
      expect(store.stats().chunks).toBe(0);
      clock.now += 10_000;
      // Idle now, but 40-point heads pinning a few kB are not worth a chunk each.
      expect(store.settleIfQuiet()).toBe('settled');
      expect(store.stats()).toMatchObject({ chunks: 0, headPoints: 400 });
      expect(store.stats().maintenance?.settled).toBe(true);
      await expectPoints(store, ids, 40);
    } finally {
      await store.close();
    }
  });

  it('stops cutting when load returns, and a crash then loses no point', async () => {
    const { store, clock, ids, options } = await openStore(40, { maintenanceSliceMs: 0 });
    let reopened: StorageEngine | undefined;
    try {
      await store.commit([batch(ids, 0, 100)]);
      clock.now += 2100;
      expect(store.settleIfQuiet()).toBe('checkpoint');
      // One head per slice (slice 0): a burst arrives after the first few.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      await store.commit([batch(ids, 100, 1000)]);
      await store.settle();
      const s = store.stats();
      // Some heads were cut and landed before the burst; the rest kept their points.
      expect(s.chunks).toBeGreaterThan(0);
      expect(s.chunks).toBeLessThan(ids.length);
      expect(s.walBytes).toBeGreaterThan(0);
      expect(s.maintenance?.settled).toBe(false);
      await store.abandon();
      reopened = await openSqliteStore(options);
      await expectPoints(reopened, ids, 1100);
    } finally {
      await (reopened ?? store).close();
    }
  });

  it('drops a settle compaction when load returns and packs its series at the next quiet period', async () => {
    const { store, clock, ids } = await openStore(8, { headCutPoints: 64, maintenanceSliceMs: 0 });
    try {
      await store.commit([batch(ids, 0, 400)]);
      await store.settle();
      clock.now += 2100;
      expect(store.settleIfQuiet()).toBe('checkpoint');
      // Through the cuts and the record deletion, into the compaction.
      const deadline = Date.now() + 10_000;
      while (!store.stats().maintenance?.compactionRunning && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
      expect(store.stats().maintenance?.compactionRunning).toBe(true);
      await store.commit([batch(ids, 400, 100)]);
      await store.settle();
      expect(store.stats().maintenance?.compactionBacklog).toBeGreaterThan(0);
      clock.now += 2100;
      expect(store.settleIfQuiet()).toBe('checkpoint');
      await store.settle();
      expect(store.stats()).toMatchObject({ headPoints: 0, walBytes: 0, chunks: ids.length });
      await expectPoints(store, ids, 500);
    } finally {
      await store.close();
    }
  });

  it('cuts small idle heads that pin enough records, deleting records no head needs', async () => {
    const { store, clock, ids } = await openStore(3, { settle: { seriesIdleMs: 2000, quietWindowMs: 2000, minCutPoints: 1000, pinBytes: 1, quietMaxPointsPerSecond: 1000 } });
    try {
      await store.commit([batch(ids, 0, 10)]);
      clock.now += 2100;
      expect(store.settleIfQuiet()).toBe('checkpoint');
      await store.settle();
      expect(store.stats()).toMatchObject({ headPoints: 0, walBytes: 0, chunks: 3 });
    } finally {
      await store.close();
    }
  });

  it('starts a checkpoint when head points pass their limit, whatever the load', async () => {
    const { store, ids } = await openStore(10, { headPointsLimit: 500 });
    try {
      await store.commit([batch(ids, 0, 60)]);
      await store.settle();
      expect(store.stats()).toMatchObject({ headPoints: 0, walBytes: 0 });
      expect(store.stats().maintenance?.settled).toBe(false);
      await expectPoints(store, ids, 60);
    } finally {
      await store.close();
    }
  });
});

type Step =
  | { kind: 'batch'; points: Array<{ s: number; t: number; v: number }> }
  | { kind: 'wait'; ms: number }
  | { kind: 'settle'; quietFirst: boolean; crashMidway: boolean }
  | { kind: 'crash' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('batch' as const), points: fc.array(fc.record({ s: fc.integer({ min: 0, max: 3 }), t: fc.integer({ min: 0, max: 200 }), v: fc.integer({ min: -99, max: 99 }) }), { minLength: 1, maxLength: 30 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 100, max: 3000 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('settle' as const), quietFirst: fc.boolean(), crashMidway: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'crash' as const }) },
);

describe('settling against a model', () => {
  it('reads back every acknowledged point, newest write winning, through partial settles, cuts and crashes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 400 }), fc.integer({ min: 3, max: 40 }), async (steps, minCutPoints, pinBytes, headCutPoints) => {
        const dir = mkdtempSync(join(tmpdir(), 'emms-settle-model-'));
        dirs.push(dir);
        const clock = { now: T0 };
        const options: SqliteStoreOptions = {
          path: join(dir, 'm.db'), chunkEncoding: 'inline', clock: () => clock.now, headCutPoints, maintenanceSliceMs: 0,
          settle: { seriesIdleMs: 1000, quietWindowMs: 1000, quietMaxPointsPerSecond: 20, minCutPoints, pinBytes },
        };
        const model = [0, 1, 2, 3].map(() => new Map<number, number>());
        let store = await openSqliteStore(options);
        try {
          for (const step of steps) {
            if (step.kind === 'batch') {
              const ids = registerSeries(store, 4);
              const n = step.points.length;
              const b: IngestBatch = { seriesIds: new Uint32Array(n), timestamps: new Float64Array(n), values: new Float64Array(n), length: n };
              step.points.forEach((p, i) => {
                b.seriesIds[i] = ids[p.s]!;
                b.timestamps[i] = T0 + p.t * 1000;
                b.values[i] = p.v;
              });
              await store.commit([b]);
              for (const p of step.points) model[p.s]!.set(T0 + p.t * 1000, p.v);
            } else if (step.kind === 'wait') {
              clock.now += step.ms;
            } else if (step.kind === 'settle') {
              // Quiet first (ingest stopped long enough), or as things stand.
              if (step.quietFirst) clock.now += 1100;
              store.settleIfQuiet();
              if (step.crashMidway) {
                // One slice, then a crash in the middle of settling.
                await new Promise((resolve) => setImmediate(resolve));
                await store.abandon();
                store = await openSqliteStore(options);
              } else {
                await store.settle();
              }
            } else {
              await store.abandon();
              store = await openSqliteStore(options);
            }
          }
          await store.abandon();
          store = await openSqliteStore(options);
          const ids = registerSeries(store, 4);
          for (let s = 0; s < 4; s++) {
            const expected = [...model[s]!.entries()].sort((a, b) => a[0] - b[0]);
            const got = await readStoredPoints(store, ids[s]!, 0, T0 + 1e6);
            expect([...got.timestamps]).toEqual(expected.map((e) => e[0]));
            expect([...got.values]).toEqual(expected.map((e) => e[1]));
          }
        } finally {
          await store.close();
        }
      }),
      { numRuns: 40, seed: 20261207 },
    );
  });
});
