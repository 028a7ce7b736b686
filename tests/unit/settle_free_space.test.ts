/**
 * Settling's last step (issue 16): once a running SQLite store settled, the free pages that
 * deleted records and rewritten chunks left in the file, and the -wal file, go back to the file
 * system (settle_policy.ts freeSpaceDue, sqlite/free_space_return.ts), in steps between commits.
 * Real SQLite files; the settle policy runs on a clock the test moves, the steps on real time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StorageEngine } from '../../src/storage/storage_engine.js';
import { seriesBatch } from './settle_batch_kit.js';
import type { IngestBatch } from '../../src/storage/ingest_batch.js';
import type { SqliteBackend } from '../../src/storage/sqlite/sqlite_backend.js';
import { DEFAULT_SETTLE_CONFIG, FREE_SPACE_MIN_SHARE, SETTLE_ENV, freeSpaceDue, resolveSettleConfig } from '../../src/storage/settle_policy.js';
import { openSqliteStore, readStoredPoints, type SqliteStoreOptions } from './sqlite_store_kit.js';

const T0 = Date.UTC(2026, 0, 1);
/** Small enough for a test's few MB of records; the default (4 MiB) is reasoned in settle_policy.ts. */
const RETURN_FREE_BYTES = 128 * 1024;
const SERIES = 40;
const POINTS = 2000;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function openStore(extra: Partial<SqliteStoreOptions> = {}): Promise<{ store: StorageEngine; clock: { now: number }; ids: number[]; options: SqliteStoreOptions }> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-settle-free-'));
  dirs.push(dir);
  const clock = { now: T0 };
  const options: SqliteStoreOptions = {
    path: join(dir, 's.db'), chunkEncoding: 'inline', clock: () => clock.now, headCutPoints: 256,
    // The engine's own check timer stays out of the way: the test calls settleIfQuiet().
    settle: { seriesIdleMs: 2000, quietWindowMs: 2000, minCutPoints: 50, quietMaxPointsPerSecond: 1000, checkIntervalMs: 1e9, returnFreeBytes: RETURN_FREE_BYTES },
    ...extra,
  };
  const store = await openSqliteStore(options);
  return { store, clock, ids: registerSeries(store), options };
}

function registerSeries(store: StorageEngine): number[] {
  const tenant = store.catalog.tenant('default');
  const ids: number[] = [];
  for (let s = 0; s < SERIES; s++) ids.push(tenant.find(`free.s${s}`, '') ?? tenant.create(`free.s${s}`, 'gauge', {}, '').id);
  return ids;
}

/** Values that do not compress, so records and chunks take real pages: a fixed pseudo-random function of (series, index). */
const value = (s: number, k: number): number => Math.sin(s * 7919 + k * 104_729) * 1e6;

const batch = (ids: number[], from: number, perSeries: number): IngestBatch => seriesBatch(ids, from, perSeries, T0, value);

async function ingest(store: StorageEngine, clock: { now: number }, ids: number[], from: number, points: number): Promise<void> {
  for (let k = from; k < from + points; k += 100) {
    await store.commit([batch(ids, k, 100)]);
    clock.now += 50;
  }
}

async function expectPoints(store: StorageEngine, ids: number[], count: number): Promise<void> {
  for (const [s, id] of ids.entries()) {
    const got = await readStoredPoints(store, id, 0, T0 + 1e12);
    expect(got.timestamps.length).toBe(count);
    for (let k = 0; k < count; k++) {
      if (got.timestamps[k] !== T0 + k * 10_000 || got.values[k] !== value(s, k)) {
        throw new Error(`series ${s} point ${k}: ${got.timestamps[k]} ${got.values[k]}`);
      }
    }
  }
}

function freePages(store: StorageEngine): number {
  return (store.backend as SqliteBackend).db.pragma('freelist_count', { simple: true }) as number;
}

function walFileBytes(store: StorageEngine): number {
  try {
    return statSync(`${store.location}-wal`).size;
  } catch {
    return 0;
  }
}

/** Quiet, then the settle checkpoint and compaction: afterwards the deleted records' pages are free. */
async function settleCutsAndCompaction(store: StorageEngine, clock: { now: number }): Promise<void> {
  // The ingest's own cuts (full heads) land first.
  await store.settle();
  clock.now += 2100;
  expect(store.settleIfQuiet()).toBe('checkpoint');
  await store.settle();
  expect(store.stats()).toMatchObject({ headPoints: 0, walBytes: 0, maintenance: { compactionBacklog: 0 } });
}

describe('the free-space rule', () => {
  it('returns space only when it passes both the absolute and the relative floor', () => {
    const config = { ...DEFAULT_SETTLE_CONFIG };
    const min = config.returnFreeBytes;
    expect(freeSpaceDue({ freeBytes: min - 1, storeBytes: 2 * min }, config)).toBe(false);
    expect(freeSpaceDue({ freeBytes: min, storeBytes: 2 * min }, config)).toBe(true);
    // 64 MiB of deleted records in a 10 GB store: reused by the next records, not returned.
    expect(freeSpaceDue({ freeBytes: 64 * 2 ** 20, storeBytes: 10e9 }, config)).toBe(false);
    expect(freeSpaceDue({ freeBytes: 10e9 * FREE_SPACE_MIN_SHARE, storeBytes: 10e9 }, config)).toBe(true);
    expect(resolveSettleConfig({}, { [SETTLE_ENV.returnFreeBytes]: '65536' }).returnFreeBytes).toBe(65_536);
    expect(() => resolveSettleConfig({}, { [SETTLE_ENV.returnFreeBytes]: '-1' })).toThrow(/EMMS_SETTLE_RETURN_FREE_BYTES="-1"/);
  });
});

describe('settling gives free space back while the store runs (SQLite)', () => {
  it('after the settle compaction: free pages and the -wal file go, the file shrinks, every point survives a kill', async () => {
    const { store, clock, ids, options } = await openStore();
    let reopened: StorageEngine | undefined;
    try {
      await ingest(store, clock, ids, 0, POINTS);
      await settleCutsAndCompaction(store, clock);
      const backend = store.backend as SqliteBackend;
      const before = backend.freeSpace();
      const pagesBefore = freePages(store);
      expect(before.freeBytes).toBeGreaterThanOrEqual(RETURN_FREE_BYTES);
      expect(pagesBefore).toBeGreaterThan(0);
      // Free space due: not settled yet, and the next check starts giving it back.
      expect(store.stats().maintenance?.settled).toBe(false);
      expect(store.settleIfQuiet()).toBe('free-space');
      await store.settle();
      const after = backend.freeSpace();
      expect(freePages(store)).toBe(0);
      expect(walFileBytes(store)).toBe(0);
      expect(after.freeBytes).toBeLessThan(RETURN_FREE_BYTES);
      expect(after.storeBytes).toBeLessThan(before.storeBytes - pagesBefore * 1024 * 0.9);
      expect(store.stats().maintenance?.settled).toBe(true);
      expect(store.settleIfQuiet()).toBe('settled');
      await expectPoints(store, ids, POINTS);
      // Page moves are committed transactions: a kill now loses nothing.
      await store.abandon();
      reopened = await openSqliteStore(options);
      await expectPoints(reopened, ids, POINTS);
    } finally {
      await (reopened ?? store).close();
    }
  });

  it('stops when load returns, loses no point, and finishes at the next quiet period', async () => {
    // Slice 0: one incremental_vacuum call per slice, so a commit lands between two of them.
    const { store, clock, ids, options } = await openStore({ maintenanceSliceMs: 0 });
    let reopened: StorageEngine | undefined;
    try {
      await ingest(store, clock, ids, 0, POINTS);
      await settleCutsAndCompaction(store, clock);
      expect(store.settleIfQuiet()).toBe('free-space');
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      // One batch of 4,000 points: above the quiet rate (1,000 points/s over 2 s), so the return
      // stops after the few steps it made. Had it gone on, settle() would have waited for it to
      // finish and no page would be free; the batch's record reuses only ~100 of ~800.
      await ingest(store, clock, ids, POINTS, 100);
      await store.settle();
      expect(store.stats().maintenance?.settled).toBe(false);
      expect(freePages(store)).toBeGreaterThan(100);
      await store.abandon();
      reopened = await openSqliteStore(options);
      await expectPoints(reopened, ids, POINTS + 100);
      // Quiet again: cut, pack, then give the rest back.
      await settleCutsAndCompaction(reopened, clock);
      expect(reopened.settleIfQuiet()).toBe('free-space');
      await reopened.settle();
      expect(freePages(reopened)).toBe(0);
      expect(reopened.stats().maintenance?.settled).toBe(true);
      await expectPoints(reopened, ids, POINTS + 100);
    } finally {
      await (reopened ?? store).close();
    }
  });
});
