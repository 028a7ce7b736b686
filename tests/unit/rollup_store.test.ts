/**
 * RollupStore on its own: budget and least-recently-used eviction, entries used only for a
 * row with the same stats, invalidation, the recently-queried series that cuts build for, and
 * the `query.rollup_memory_mb` setting and `rollupMemoryBytes` option refusing bad values.
 */
import { describe, expect, it } from 'vitest';
import { RollupStore, SERIES_WARM_MS, WARM_EVICTION_MIN_AGE_MS } from '../../src/storage/rollup/rollup_store.js';
import { buildRollupRecords, ROLLUP_RESOLUTIONS_MS } from '../../src/core/rollup_records.js';
import { summarizeChunk } from '../../src/core/chunk_summary.js';
import { ConfigError, loadConfig } from '../../src/config/config.js';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import type { ChunkRow } from '../../src/storage/backend.js';

const T0 = Date.UTC(2026, 1, 2);

function chunk(n: number, seed: number): { ts: Float64Array; vs: Float64Array } {
  const ts = new Float64Array(n);
  const vs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    ts[i] = T0 + i * 10_000;
    vs[i] = Math.round(Math.sin(i + seed) * 1e4) / 100;
  }
  return { ts, vs };
}

function row(id: number, c: { ts: Float64Array; vs: Float64Array }): ChunkRow {
  const s = summarizeChunk(c.ts, c.vs);
  return {
    id, series_id: 1, min_ts: s.minTs, max_ts: s.maxTs, count: s.count, codec: 1, format_version: 1,
    sum: s.sum, min: s.min, max: s.max, first: s.firstValue, last: s.lastValue, mean: s.mean, m2: s.m2,
  };
}

/** What one 360-point chunk's entry costs: its records at both resolutions plus the overhead. */
function entryBytes(c: { ts: Float64Array; vs: Float64Array }): number {
  return ROLLUP_RESOLUTIONS_MS.reduce((a, r) => a + buildRollupRecords(c.ts, c.vs, r).byteLength, 256);
}

describe('RollupStore', () => {
  it('keeps the records a chunk was built with and hands them out for its row only', () => {
    const store = new RollupStore();
    const c = chunk(720, 1);
    store.build(7, c.ts, c.vs);
    const records = store.recordsFor(row(7, c), 300_000)!;
    expect(Array.from(records)).toEqual(Array.from(buildRollupRecords(c.ts, c.vs, 300_000)));
    expect(store.recordsFor(row(7, c), 3_600_000)!.length).toBe(buildRollupRecords(c.ts, c.vs, 3_600_000).length);
    expect(store.recordsFor(row(7, c), 60_000)).toBeUndefined();
    // The same id with other points (another chunk after a reload): not used, and dropped.
    const other = chunk(720, 2);
    expect(store.recordsFor(row(7, other), 300_000)).toBeUndefined();
    expect(store.has(7)).toBe(false);
    expect(store.stats()).toMatchObject({ hits: 2, misses: 1, chunks: 0, bytes: 0 });
  });

  it('stays within its budget, dropping the least recently used first', () => {
    const chunks = [0, 1, 2, 3].map((k) => chunk(360, k));
    const one = entryBytes(chunks[0]!);
    const store = new RollupStore(3 * one);
    chunks.slice(0, 3).forEach((c, k) => store.build(k, c.ts, c.vs));
    expect(store.stats()).toMatchObject({ chunks: 3, bytes: 3 * one, evicted: 0 });
    // Chunk 0 used: chunk 1 is now the least recently used.
    expect(store.recordsFor(row(0, chunks[0]!), 300_000)).toBeDefined();
    store.build(3, chunks[3]!.ts, chunks[3]!.vs);
    expect([0, 1, 2, 3].map((id) => store.has(id))).toEqual([true, false, true, true]);
    expect(store.stats()).toMatchObject({ chunks: 3, bytes: 3 * one, evicted: 1, built: 4 });
  });

  it('drops entries by id, by end time and all at once; a zero budget keeps nothing', () => {
    const store = new RollupStore();
    const early = chunk(100, 1);
    const late = { ts: early.ts.map((t) => t + 86_400_000), vs: early.vs };
    store.build(1, early.ts, early.vs);
    store.build(2, late.ts, late.vs);
    store.build(3, late.ts, late.vs);
    store.invalidate([3, 99]);
    expect([1, 2, 3].map((id) => store.has(id))).toEqual([true, true, false]);
    store.invalidateBefore(T0 + 86_400_000);
    expect([1, 2].map((id) => store.has(id))).toEqual([false, true]);
    store.clear();
    expect(store.stats()).toMatchObject({ chunks: 0, bytes: 0 });
    const off = new RollupStore(0);
    off.build(1, early.ts, early.vs);
    expect(off.has(1)).toBe(false);
    expect(off.enabled).toBe(false);
    expect(() => new RollupStore(-1)).toThrow(/budgetBytes=-1/);
  });

  it('lets the warmer build only where that evicts no rollup used in the last minute', () => {
    const chunks = [0, 1, 2].map((k) => chunk(360, k));
    const store = new RollupStore(3 * entryBytes(chunks[0]!));
    const now = Date.now();
    expect(store.acceptsWarming(now)).toBe(true);
    chunks.forEach((c, k) => store.build(k, c.ts, c.vs));
    expect(store.acceptsWarming(now)).toBe(false);
    expect(store.acceptsWarming(now + WARM_EVICTION_MIN_AGE_MS + 1000)).toBe(true);
    expect(new RollupStore(0).acceptsWarming(now)).toBe(false);
  });

  it('wants the cuts of series a query planned over lately', () => {
    const store = new RollupStore();
    store.noteQueried(5, 1000);
    expect(store.wantsSeries(5, 1000 + SERIES_WARM_MS)).toBe(true);
    expect(store.wantsSeries(5, 1001 + SERIES_WARM_MS)).toBe(false);
    expect(store.wantsSeries(6, 1000)).toBe(false);
  });
});

describe('rollup memory setting', () => {
  it('reads query.rollup_memory_mb (default 64) and refuses bad values naming key, value and source', () => {
    expect(loadConfig({ env: {} }).query.rollupMemoryMb).toBe(64);
    expect(loadConfig({ env: { METRICS_ROLLUP_MEMORY_MB: '0' } }).query.rollupMemoryMb).toBe(0);
    let error: unknown;
    try {
      loadConfig({ env: { METRICS_ROLLUP_MEMORY_MB: '-3' } });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).key).toBe('query.rollup_memory_mb');
    expect((error as Error).message).toContain('environment METRICS_ROLLUP_MEMORY_MB');
  });

  it('refuses a bad rollupMemoryBytes option', () => {
    expect(() => new EngineMetricsSystem({ path: '/nonexistent/x.db', rollupMemoryBytes: 1.5 })).toThrow(/options\.rollupMemoryBytes=1\.5/);
  });
});
