/**
 * Storage engine: write-ahead records, heads, replay after a crash (database closed without a
 * checkpoint), compaction, restart persistence, file compaction at stop, retention, tenants,
 * and a corrupted chunk making queries fail with an error naming series and chunk.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { decodeWalRecord, encodeWalRecord, WalRecordError } from '../../src/storage/write_ahead_log.js';
import { GatheredPoints } from '../../src/storage/gathered_points.js';
import { HeadTable } from '../../src/storage/head.js';
import { sortDedupLastWins } from '../../src/storage/last_write_wins_sort.js';
import type { StorageEngine } from '../../src/storage/storage_engine.js';
import { openSqliteStore } from './sqlite_store_kit.js';
import { STORED_CHUNK_MAX_POINTS, CorruptChunkError } from '../../src/storage/chunk_rows.js';
import { TABLE } from '../../src/storage/sqlite/schema.js';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import { createMetricsSystem, getMetricsSystem } from '../../src/index.js';
import { SeriesResolver } from '../../src/ingest/series_resolver.js';
import { buildRowBatch } from '../../src/ingest/batch_builder.js';

const T0 = Date.UTC(2026, 2, 1);
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-storage-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('write-ahead records', () => {
  it.each([5, 10_000])('round-trip %i points bit for bit (lz4 when it pays)', (n) => {
    const ids = new Uint32Array(n);
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ids[i] = (i % 1000) + 1;
      ts[i] = T0 + Math.floor(i / 1000) * 10_000;
      vs[i] = i % 7 === 0 ? -0 : Math.round(Math.sin(i) * 10_000) / 100;
    }
    const bytes = encodeWalRecord(ids, ts, vs, n);
    if (n > 1000) expect(bytes.length).toBeLessThan(n * 20 * 0.5);
    const back = decodeWalRecord(bytes, 1);
    expect(back.seriesIds).toEqual(ids);
    expect(new Uint8Array(back.timestamps.buffer, back.timestamps.byteOffset, n * 8)).toEqual(new Uint8Array(ts.buffer));
    expect(new Uint8Array(back.values.buffer, back.values.byteOffset, n * 8)).toEqual(new Uint8Array(vs.buffer));
  });

  it('refuses damaged records with a typed error naming the record', () => {
    const bytes = encodeWalRecord(Uint32Array.of(1, 2), Float64Array.of(1, 2), Float64Array.of(3, 4), 2);
    expect(() => decodeWalRecord(bytes.subarray(0, 5), 7)).toThrow(WalRecordError);
    const wrongVersion = Buffer.from(bytes);
    wrongVersion[0] = 9;
    expect(() => decodeWalRecord(wrongVersion, 7)).toThrow(/wal record 7: version=9/);
  });
});

describe('heads', () => {
  it('sort by time once, the last arrival of a timestamp winning', () => {
    const table = new HeadTable(4096);
    const gathered = new GatheredPoints();
    for (const [t, v] of [[5, 1], [3, 2], [5, 3], [1, 4], [3, 5], [9, 6]] as const) {
      table.append(7, t, v);
      gathered.appendRun(Float64Array.of(t), Float64Array.of(v), 0, 1);
    }
    expect(table.inOrder(7)).toBe(false);
    for (const { timestamps, values } of [table.sorted(7), gathered.sorted()]) {
      expect([...timestamps]).toEqual([1, 3, 5, 9]);
      expect([...values]).toEqual([4, 5, 3, 6]);
    }
    expect(table.inOrder(7)).toBe(true);
    expect(table.length(7)).toBe(4);
    expect(gathered.inOrder).toBe(true);
  });

  it('hand cuts over in shared memory (posted to the encoder without a copy), keep appending, and reuse recycled buffers', () => {
    const table = new HeadTable(40);
    const sid = 3;
    const cutAt = table.cutAt(sid);
    for (let i = 0; i < cutAt; i++) expect(table.append(sid, 1000 + i, i)).toBe(i + 1 === cutAt);
    const full = table.take(sid);
    expect(full.timestamps.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(full.values.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect([...full.timestamps]).toEqual(Array.from({ length: cutAt }, (_, i) => 1000 + i));
    expect(table.length(sid)).toBe(0);
    // A partly filled head (a checkpoint's cut) hands over a shared copy of exactly its points.
    for (let i = 0; i < 7; i++) table.append(sid, 2000 + i, 10 - i);
    const partial = table.take(sid);
    expect(partial.timestamps.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect([...partial.values]).toEqual([10, 9, 8, 7, 6, 5, 4]);
    // Landed: the full cut's buffers come back and the next cut of that size reuses them.
    table.recycle(full.timestamps, full.values);
    for (let i = 0; i < cutAt; i++) table.append(sid, 3000 + i, i);
    const again = table.take(sid);
    expect(new Set([again.timestamps.buffer, again.values.buffer])).toEqual(new Set([full.timestamps.buffer, full.values.buffer]));
    expect([...again.timestamps]).toEqual(Array.from({ length: cutAt }, (_, i) => 3000 + i));
    table.append(sid, 4000, 1);
    expect([...table.sorted(sid).timestamps]).toEqual([4000]);
  });

  it('sortDedupLastWins is stable on large inputs', () => {
    const n = 5000;
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      ts[i] = (i * 7919) % 1000;
      vs[i] = i;
    }
    const r = sortDedupLastWins(ts, vs);
    expect(r.timestamps.length).toBe(1000);
    for (let k = 0; k < 1000; k++) {
      let last = -1;
      for (let i = 0; i < n; i++) if (ts[i] === r.timestamps[k]) last = i;
      expect(r.values[k]).toBe(last);
    }
  });
});

/** Ingests through the real ingest path into a bare store (no MetricsSystem). */
async function ingest(store: StorageEngine, resolver: SeriesResolver, points: Array<{ m: string; t: number; v: number }>): Promise<void> {
  await store.commit([buildRowBatch(points.map((p) => ({ metricId: p.m, timestamp: p.t, value: p.v, tags: { h: 'x' } })), resolver, T0)]);
}

describe('crash recovery (closed without checkpoint)', () => {
  it('replays records into heads, skipping points already cut into chunks, without duplicates', async () => {
    const path = join(dir, 'crash.db');
    let store = await openSqliteStore({ path, headCutPoints: 10 });
    let resolver = new SeriesResolver(store.catalog.tenant('default'));
    const expected = new Map<number, number>();
    for (let b = 0; b < 7; b++) {
      const pts = Array.from({ length: 6 }, (_, i) => ({ m: 'crash.m', t: T0 + (b * 6 + i) * 1000, v: b * 100 + i }));
      // Re-send an earlier timestamp with a new value: the newer write must win after replay.
      if (b > 0) pts.push({ m: 'crash.m', t: T0, v: -b });
      await ingest(store, resolver, pts);
      for (const p of pts) expected.set(p.t, p.v);
    }
    // Cuts land asynchronously (the chunk encoder thread): wait for them before looking.
    await store.settle();
    expect(store.stats().chunks).toBeGreaterThan(0);
    expect(store.stats().headPoints).toBeGreaterThan(0);
    const headPointsBefore = store.stats().headPoints;
    // Simulated crash: no checkpoint, no compaction; the -wal file stays.
    await store.abandon();
    // Replay puts back exactly the points that were not cut yet (head marks skip the rest).
    const replayed = await openSqliteStore({ path, headCutPoints: 10 });
    expect(replayed.stats().headPoints).toBe(headPointsBefore);
    await replayed.abandon();

    const ms = new EngineMetricsSystem({ path, queryWorkers: 0 });
    await ms.start();
    const [r] = await ms.queryMetrics({ metricPattern: 'crash.m', startTime: 0 });
    const want = [...expected.entries()].sort((a, b) => a[0] - b[0]);
    expect([...r!.timestamps]).toEqual(want.map((e) => e[0]));
    expect([...r!.values]).toEqual(want.map((e) => e[1]));
    await ms.stop();

    // After a clean stop: every point in chunks, no records, one compacted chunk.
    store = await openSqliteStore({ path });
    resolver = new SeriesResolver(store.catalog.tenant('default'));
    expect(store.stats()).toMatchObject({ headPoints: 0, walBytes: 0, chunks: 1, series: 1 });
    await store.close();
  });
});

describe('restart persistence and compaction', () => {
  it('stop() flushes heads, compacts chunks and the file; start() sees every point', async () => {
    const path = join(dir, 'p.db');
    const ms = new EngineMetricsSystem({ path, queryWorkers: 0 }, { headCutPoints: 100 });
    await ms.start();
    const n = 2500;
    // Out of order: odd seconds first, then even ones, then a rewrite of some.
    const odd = Array.from({ length: n / 2 }, (_, i) => ({ metricId: 'p.m', timestamp: T0 + (2 * i + 1) * 1000, value: 2 * i + 1 }));
    const even = Array.from({ length: n / 2 }, (_, i) => ({ metricId: 'p.m', timestamp: T0 + 2 * i * 1000, value: 2 * i }));
    for (let i = 0; i < odd.length; i += 50) await ms.collectMetrics(odd.slice(i, i + 50));
    for (let i = 0; i < even.length; i += 50) await ms.collectMetrics(even.slice(i, i + 50));
    await ms.collectMetrics([{ metricId: 'p.m', timestamp: T0 + 1000, value: -1 }]);
    await ms.settle();
    expect(ms.stats().chunks).toBeGreaterThan(10);
    await ms.stop();
    expect(readdirSync(dir).sort()).toEqual(['p.db']);
    await ms.start();
    const stats = ms.stats();
    expect(stats.chunks).toBe(Math.ceil(n / STORED_CHUNK_MAX_POINTS));
    expect(stats.walBytes).toBe(0);
    const [r] = await ms.queryMetrics({ metricPattern: 'p.m', startTime: 0 });
    expect(r!.timestamps.length).toBe(n);
    for (let i = 0; i < n; i++) {
      expect(r!.timestamps[i]).toBe(T0 + i * 1000);
      expect(r!.values[i]).toBe(i === 1 ? -1 : i);
    }
    await ms.stop();
    const db = new Database(path, { readonly: true });
    expect((db.prepare(`SELECT COUNT(*) AS n FROM ${TABLE.walRecords}`).get() as { n: number }).n).toBe(0);
    expect(db.pragma('freelist_count', { simple: true })).toBe(0);
    db.close();
  });

  it('creates the folders of a database path that does not exist yet (the default data/metrics.db)', async () => {
    const path = join(dir, 'not', 'yet', 'metrics.db');
    const system = createMetricsSystem({ path, queryWorkers: 0 });
    await system.start();
    await system.collectMetric({ metricId: 'fresh.dir', value: 3, timestamp: T0 });
    await system.stop();
    expect(readdirSync(join(dir, 'not', 'yet'))).toEqual(['metrics.db']);
  });

  it('keeps tenants apart in one file', async () => {
    const path = join(dir, 't.db');
    const a = createMetricsSystem({ path, tenant: 'alpha', queryWorkers: 0 });
    await a.start();
    await a.collectMetric({ metricId: 'shared.m', value: 1, timestamp: T0 });
    await a.stop();
    const b = createMetricsSystem({ path, tenant: 'beta', queryWorkers: 0 });
    await b.start();
    expect(await b.listSeries('*')).toEqual([]);
    // stats() describes the whole engine (every tenant of the file), not the view.
    expect(b.stats().series).toBe(1);
    await b.collectMetric({ metricId: 'shared.m', value: 2, timestamp: T0 });
    await b.stop();
    await a.start();
    const [r] = await a.queryMetrics({ metricPattern: 'shared.m', startTime: 0 });
    expect([...r!.values]).toEqual([1]);
    await a.stop();
  });

  it('retentionDays drops chunks whose newest point is older', async () => {
    const path = join(dir, 'r.db');
    const day = 86_400_000;
    const now = Date.now();
    const ms = createMetricsSystem({ path, queryWorkers: 0 });
    await ms.start();
    await ms.collectMetric({ metricId: 'old.m', value: 1, timestamp: now - 10 * day });
    await ms.collectMetric({ metricId: 'new.m', value: 2, timestamp: now - day / 2 });
    await ms.stop();
    const kept = createMetricsSystem({ path, queryWorkers: 0, retentionDays: 3 });
    await kept.start();
    const r = await kept.queryMetrics({ metricPattern: '*', startTime: 0 });
    expect(r.map((s) => s.metricId)).toEqual(['new.m']);
    await kept.stop();
  });

  it("durability 'full' stores and reads back the same", async () => {
    const ms = createMetricsSystem({ path: join(dir, 'f.db'), queryWorkers: 0, durability: 'full' });
    await ms.start();
    await ms.collectMetrics([{ metricId: 'full.m', value: 1, timestamp: T0 }, { metricId: 'full.m', value: 2, timestamp: T0 + 1 }]);
    const [r] = await ms.queryMetrics({ metricPattern: 'full.m', startTime: 0 });
    expect([...r!.values]).toEqual([1, 2]);
    await ms.stop();
    expect(() => createMetricsSystem({ path: join(dir, 'f.db'), durability: 'fsync' as never })).toThrow(/options\.durability="fsync"/);
  });

  it('getMetricsSystem returns one instance per database file', () => {
    const path = join(dir, 'g.db');
    expect(getMetricsSystem('sqlite', { path })).toBe(getMetricsSystem('sqlite', { path }));
    expect(getMetricsSystem('sqlite', { path })).not.toBe(getMetricsSystem('sqlite', { path: join(dir, 'other.db') }));
  });

  it('validates options naming the option and value', () => {
    expect(() => createMetricsSystem({ path: join(dir, 'x.db'), queryWorkers: -1 })).toThrow(/options\.queryWorkers=-1/);
    expect(() => createMetricsSystem({ path: join(dir, 'x.db'), tenant: 'a b' })).toThrow(/options\.tenant="a b"/);
    expect(() => createMetricsSystem({ path: join(dir, 'x.db'), retentionDays: Number.NaN })).toThrow(/options\.retentionDays=NaN/);
  });
});

describe('corrupted chunks', () => {
  it('make raw and aggregated queries fail naming the series and the chunk, inline and in workers', async () => {
    const path = join(dir, 'c.db');
    const ms = new EngineMetricsSystem({ path, queryWorkers: 1 }, { workerMinPoints: 1 });
    await ms.start();
    const pts = Array.from({ length: 500 }, (_, i) => ({ metricId: 'bad.m', timestamp: T0 + i * 1000, value: i * 1.5, tags: { host: 'h7' } }));
    await ms.collectMetrics([...pts, { metricId: 'good.m', timestamp: T0, value: 1 }]);
    await ms.stop();
    const db = new Database(path);
    const row = db.prepare(`SELECT c.id, c.data FROM ${TABLE.chunks} c WHERE c.count = 500`).get() as { id: number; data: Buffer };
    const damaged = Buffer.from(row.data);
    damaged[Math.floor(damaged.length / 2)]! ^= 0x5a;
    db.prepare(`UPDATE ${TABLE.chunks} SET data = ? WHERE id = ?`).run(damaged, row.id);
    db.close();

    await ms.start();
    try {
      const expected = new RegExp(`chunk ${row.id} of series \\d+ bad\\.m\\{host=h7\\} cannot be decoded`);
      const raw = await ms.queryMetrics({ metricPattern: '*', startTime: 0 }).catch((e: unknown) => e);
      expect(raw).toBeInstanceOf(CorruptChunkError);
      expect((raw as Error).message).toMatch(expected);
      expect((raw as CorruptChunkError).chunkId).toBe(row.id);
      // p50 decodes in the worker; sum over a 1 ms interval cannot use the chunk summary either.
      for (const aggregation of ['p50', 'sum'] as const) {
        const agg = await ms.queryAggregated({ metricPattern: '*', aggregation, interval: '1s', startTime: T0 - 1000, endTime: T0 + 3600_000 }).catch((e: unknown) => e);
        expect(agg).toBeInstanceOf(CorruptChunkError);
        expect((agg as Error).message).toMatch(expected);
      }
      // Untouched series still answer.
      const good = await ms.queryMetrics({ metricPattern: 'good.m', startTime: 0 });
      expect([...good[0]!.values]).toEqual([1]);
      // A new point makes stop() try to compact the damaged series: it must still stop cleanly.
      await ms.collectMetric({ metricId: 'bad.m', tags: { host: 'h7' }, timestamp: T0 + 999_000, value: 0 });
    } finally {
      await ms.stop();
    }
    await ms.start();
    expect(ms.stats().chunks).toBe(3);
    await ms.stop();
  });
});

describe('edge values', () => {
  it('stores fractional-ms timestamps, -0, subnormals and extremes bit for bit; endTime is exclusive', async () => {
    const path = join(dir, 'e.db');
    const ms = new EngineMetricsSystem({ path, queryWorkers: 0 });
    await ms.start();
    const values = [-0, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, 0.1 + 0.2, 1e-300, 42];
    const points = values.map((value, i) => ({ metricId: 'edge.m', value, timestamp: T0 + i * 0.25 }));
    await ms.collectMetrics(points);
    await ms.stop();
    await ms.start();
    const [r] = await ms.queryMetrics({ metricPattern: 'edge.m', startTime: T0, endTime: T0 + 6 * 0.25 });
    expect([...r!.timestamps]).toEqual(points.slice(0, 6).map((p) => p.timestamp));
    r!.values.forEach((v, i) => expect(Object.is(v, values[i])).toBe(true));
    await ms.stop();
  });
});

describe('checkpoint by write-ahead size', () => {
  it('cuts every head and drops the records once they pass the limit, then compacts', async () => {
    const path = join(dir, 'w.db');
    const ms = new EngineMetricsSystem({ path, queryWorkers: 0 }, { walCheckpointBytes: 2000 });
    await ms.start();
    for (let b = 0; b < 20; b++) {
      await ms.collectMetrics(Array.from({ length: 50 }, (_, i) => ({ metricId: `w.m${i % 5}`, value: b * 50 + i, timestamp: T0 + (b * 50 + i) * 1000 })));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await ms.settle();
    const stats = ms.stats();
    expect(stats.walBytes).toBeLessThan(2000 + 1500);
    // Compaction after each checkpoint packs runs of 4 small chunks: a few chunks per series at most.
    expect(stats.chunks).toBeLessThanOrEqual(10);
    const r = await ms.queryMetrics({ metricPattern: 'w.*', startTime: 0 });
    expect(r.reduce((n, s) => n + s.values.length, 0)).toBe(1000);
    await ms.stop();
  });
});

describe('one writer per database file', () => {
  it('refuses a second engine on the same file, in this process or another live one, and takes over stale locks', async () => {
    const path = join(dir, 'lock.db');
    const a = createMetricsSystem({ path, queryWorkers: 0 });
    await a.start();
    expect(readdirSync(dir)).toContain('lock.db.lock');
    const b = createMetricsSystem({ path, queryWorkers: 0 });
    await expect(b.start()).rejects.toThrow(/already open for writing in this process/);
    await a.stop();
    expect(readdirSync(dir)).not.toContain('lock.db.lock');

    // A live process (our parent) owns the lock: refused, naming it.
    writeFileSync(`${path}.lock`, String(process.ppid));
    await expect(b.start()).rejects.toThrow(new RegExp(`open for writing by process ${process.ppid}`));
    // A dead one (a SIGKILLed engine): taken over.
    writeFileSync(`${path}.lock`, '2147483646');
    await b.start();
    await b.collectMetric({ metricId: 'lock.m', value: 1, timestamp: T0 });
    await b.stop();
    expect(readdirSync(dir).sort()).toEqual(['lock.db']);
  });
});
