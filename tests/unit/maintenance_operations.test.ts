/**
 * cleanup, compact and reindex in-process (src/maintenance/{cleanup,compact,reindex,
 * operation_report}.ts over src/storage/store_maintenance.ts), on a running engine and on a
 * stopped data directory; every before/after figure is checked against counts computed here
 * from the points written, or read from SQLite directly.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import type { MetricDataPoint } from '../../src/model/metric.js';
import { parseAge, runCleanup } from '../../src/maintenance/cleanup.js';
import { runCompact } from '../../src/maintenance/compact.js';
import { runReindex } from '../../src/maintenance/reindex.js';
import { formatReport, onStoppedDirectory } from '../../src/maintenance/operation_report.js';
import { StoreMaintenance, openStoppedStore } from '../../src/storage/store_maintenance.js';
import type { SqliteBackend } from '../../src/storage/sqlite/sqlite_backend.js';
import { STORED_CHUNK_MAX_POINTS } from '../../src/storage/chunk_rows.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'emms-ops-'));
  dirs.push(d);
  return d;
}

/** `perSeries` points a minute apart ending at NOW - 1 min, for `series` series of `tenant`. */
function points(series: number, perSeries: number, metricId = 'ops.cpu'): MetricDataPoint[] {
  const out: MetricDataPoint[] = [];
  for (let s = 0; s < series; s++) for (let i = 0; i < perSeries; i++) out.push({ metricId, value: s * 1e6 + i, timestamp: NOW - (perSeries - i) * 60_000, tags: { host: `h${s}` } });
  return out;
}

/** Writes in batches of 500: each head is then cut at about 500 points, one chunk per cut. */
async function collectInBatches(engine: { collectMetrics(p: readonly MetricDataPoint[]): Promise<unknown> }, all: MetricDataPoint[]): Promise<void> {
  for (let i = 0; i < all.length; i += 500) await engine.collectMetrics(all.slice(i, i + 500));
}

async function engineIn(dir: string): Promise<EngineMetricsSystem> {
  // Small cuts: many chunks from few points, so cleanup meets whole chunks and straddling ones.
  const engine = new EngineMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 }, { headCutPoints: 500, chunkEncoding: 'inline' });
  await engine.start();
  return engine;
}

function sqliteCounts(dir: string): { chunks: number; points: number } {
  const db = new Database(join(dir, 'metrics.db'), { readonly: true });
  try {
    return db.prepare('SELECT COUNT(*) AS chunks, COALESCE(SUM(count), 0) AS points FROM chunks').get() as { chunks: number; points: number };
  } finally {
    db.close();
  }
}

describe('parseAge', () => {
  it('reads counts with units and refuses the rest, naming the value', () => {
    expect(parseAge('90d')).toBe(90 * DAY);
    expect(parseAge('2w')).toBe(14 * DAY);
    expect(parseAge(' 36h ')).toBe(36 * 3_600_000);
    expect(parseAge('15m')).toBe(900_000);
    expect(parseAge('30s')).toBe(30_000);
    expect(() => parseAge('90')).toThrow(/older-than="90" must be a count and a unit/);
    expect(() => parseAge('0d')).toThrow(/more than 0/);
    expect(() => parseAge('999999999999w')).toThrow(/at most 1000 years/);
    expect(() => parseAge('1y', 'older_than')).toThrow(/older_than=/);
  });
});

describe('cleanup on a running engine', () => {
  it('deletes exactly the points before the cutoff, whole chunks and straddling ones, of one tenant or all', async () => {
    const dir = tempDir();
    const engine = await engineIn(dir);
    try {
      // 3 series x 3 days of minutes (4,320 points each), default tenant; 1 series of acme.
      const perSeries = 3 * 1440;
      await collectInBatches(engine, points(3, perSeries));
      await collectInBatches(engine.forTenant('acme'), points(1, perSeries, 'acme.cpu'));
      await engine.settle();
      const storage = engine.maintenance();
      const ageMs = 1.5 * DAY;
      const cutoff = NOW - ageMs;
      const olderPerSeries = points(1, perSeries).filter((p) => (p.timestamp as number) < cutoff).length;

      const acme = await runCleanup(storage, ageMs, 'acme', NOW);
      expect(acme.before).toMatchObject({ series: 1, points: perSeries });
      expect(acme.outcome.pointsDeleted).toBe(olderPerSeries);
      expect(acme.outcome.chunksRewritten).toBeLessThanOrEqual(1);
      expect(acme.outcome.chunksDeleted).toBeGreaterThan(0);
      expect(acme.after).toMatchObject({ series: 1, points: perSeries - olderPerSeries });
      // The default tenant is untouched by acme's cleanup.
      expect((await storage.usage('default')).points).toBe(3 * perSeries);

      const all = await runCleanup(storage, ageMs, undefined, NOW);
      expect(all.before.points).toBe(4 * perSeries - olderPerSeries);
      expect(all.outcome.pointsDeleted).toBe(3 * olderPerSeries);
      expect(all.after.points).toBe(4 * (perSeries - olderPerSeries));
      expect(all.after.chunks).toBe(sqliteCounts(dir).chunks);
      expect(formatReport(all)).toMatch(/^cleanup \(all tenants\):\nbefore  series 4, points 15120, chunks \d+, [\d.]+ MB on disk\nafter   series 4, points 8640, /);

      const rows = await engine.queryMetrics({ metricPattern: 'ops.cpu', startTime: 0, endTime: NOW + DAY });
      for (const s of rows) {
        expect(s.timestamps.length).toBe(perSeries - olderPerSeries);
        expect(s.timestamps[0]).toBeGreaterThanOrEqual(cutoff);
      }
    } finally {
      await engine.stop();
    }
  });

  it('sees points still in heads and flushes them before filtering', async () => {
    const dir = tempDir();
    const engine = await engineIn(dir);
    try {
      await engine.collectMetrics(points(2, 200));
      const storage = engine.maintenance();
      expect(await storage.usage()).toMatchObject({ series: 2, points: 400, chunks: 0 });
      const r = await runCleanup(storage, 100 * 60_000, undefined, NOW);
      expect(r.outcome.pointsDeleted).toBe(2 * 100);
      expect(r.after.points).toBe(2 * 100);
      expect(sqliteCounts(dir).points).toBe(200);
    } finally {
      await engine.stop();
    }
  });
});

describe('compact and reindex', () => {
  it('compact packs every series into full chunks without losing a point, and frees pages', async () => {
    const dir = tempDir();
    const engine = await engineIn(dir);
    try {
      const perSeries = 20_000;
      await collectInBatches(engine, points(2, perSeries));
      await engine.settle();
      const r = await runCompact(engine.maintenance());
      expect(r.before.points).toBe(2 * perSeries);
      expect(r.after.points).toBe(2 * perSeries);
      expect(r.before.chunks).toBeGreaterThan(r.after.chunks);
      expect(r.after.chunks).toBe(2 * Math.ceil(perSeries / STORED_CHUNK_MAX_POINTS));
      expect(sqliteCounts(dir)).toEqual({ chunks: r.after.chunks, points: 2 * perSeries });
      expect(formatReport(r)).toMatch(/^compact \(all tenants\):/);
    } finally {
      await engine.stop();
    }
  });

  it('reindex rebuilds the catalogue and deletes chunks of series that do not exist', async () => {
    const dir = tempDir();
    const engine = await engineIn(dir);
    try {
      await engine.collectMetrics(points(2, 1500));
      await engine.settle();
      const storage = engine.maintenance() as StoreMaintenance;
      // A row written behind the running engine's back: reindex reads the back-end again (the
      // engine's chunk catalogue, chunk_catalog.ts, was loaded at open) and finds it.
      const { db } = storage.store.backend as SqliteBackend;
      db.prepare('INSERT INTO chunks (id, series_id, min_ts, max_ts, count, codec, format_version, sum, min, max, first, last, mean, m2, data) SELECT (SELECT max(id) + 1000 FROM chunks), 9999, min_ts, max_ts, count, codec, format_version, sum, min, max, first, last, mean, m2, data FROM chunks LIMIT 1').run();
      const withOrphan = sqliteCounts(dir).chunks;
      const r = await runReindex(storage);
      expect(r.outcome.orphanChunksDeleted).toBe(1);
      expect(r.outcome.chunks).toBe(withOrphan - 1);
      expect(r.after.chunks).toBe(sqliteCounts(dir).chunks);
      expect(r.after.points).toBe(3000);
      expect(formatReport(r)).toMatch(/done: series 2, chunks \d+, orphan chunks deleted 1/);
    } finally {
      await engine.stop();
    }
  });
});

describe('on a stopped data directory', () => {
  it('opens, operates, closes, and reports the bytes after closing', async () => {
    const dir = tempDir();
    const engine = await engineIn(dir);
    await engine.collectMetrics(points(3, 2000));
    await engine.forTenant('acme').collectMetrics(points(1, 2000, 'acme.cpu'));
    await engine.stop();
    const r = await onStoppedDirectory(dir, (storage) => runCleanup(storage, 1000 * 60_000, 'acme', NOW));
    expect(r.tenant).toBe('acme');
    expect(r.outcome.pointsDeleted).toBe(1000);
    expect(sqliteCounts(dir).points).toBe(3 * 2000 + 1000);
    expect(r.after.bytes).toBeGreaterThan(0);
    const compacted = await onStoppedDirectory(dir, (storage) => runCompact(storage));
    expect(compacted.after.points).toBe(7000);
    const reindexed = await onStoppedDirectory(dir, (storage) => runReindex(storage));
    expect(reindexed.outcome).toMatchObject({ series: 4, orphanChunksDeleted: 0 });
  });

  it('refuses a directory without a store, and one a server holds', async () => {
    const empty = tempDir();
    await expect(openStoppedStore(empty)).rejects.toThrow(/holds no metrics\.db: not an EMMS data directory/);
    const dir = tempDir();
    const engine = await engineIn(dir);
    try {
      await expect(onStoppedDirectory(dir, (s) => runCompact(s))).rejects.toThrow(/already open for writing|open for writing by process/);
    } finally {
      await engine.stop();
    }
  });
});
