/**
 * compactSeries reads a series' chunks after planning, asynchronously on a network back-end;
 * a member deleted meanwhile (background compaction landed first) must make it plan again,
 * not fail. CI caught this on Redis (a maintenance compact() racing background compaction);
 * here the race is made certain by compacting the same series from inside the first read.
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StorageEngine } from '../../src/storage/storage_engine.js';
import { SqliteBackend } from '../../src/storage/sqlite/sqlite_backend.js';
import type { ChunkSource } from '../../src/storage/backend.js';
import { SeriesResolver } from '../../src/ingest/series_resolver.js';
import { buildRowBatch } from '../../src/ingest/batch_builder.js';
import { readStoredPoints } from './sqlite_store_kit.js';

const T0 = Date.UTC(2026, 3, 1);
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-compact-race-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

it('a member deleted while compactSeries reads it makes it plan again, and every point stays', async () => {
  const backend = SqliteBackend.open({ path: join(dir, 'm.db') });
  const inner = backend.chunkSource();
  let raceOnce: (() => Promise<void>) | undefined;
  const racing: ChunkSource = {
    aggregationRows: (ids, read) => inner.aggregationRows(ids, read),
    rangeRows: (...args) => inner.rangeRows(...args),
    newestBefore: (...args) => inner.newestBefore(...args),
    newest: (ids) => inner.newest(ids),
    close: () => inner.close(),
    async chunkData(ids) {
      const race = raceOnce;
      raceOnce = undefined;
      if (race !== undefined) await race();
      return inner.chunkData(ids);
    },
  };
  (backend as { chunkSource: () => ChunkSource }).chunkSource = () => racing;
  const store = await StorageEngine.open({ backend, headCutPoints: 50, chunkEncoding: 'inline' });
  try {
    const resolver = new SeriesResolver(store.catalog.tenant('default'));
    const expected = new Map<number, number>();
    // Eight small chunks of one series, written out of order so that some overlap.
    for (let part = 0; part < 8; part++) {
      const rows = Array.from({ length: 50 }, (_, i) => {
        const t = T0 + ((part % 2 === 0 ? part : 7 - part) * 40 + i) * 1000;
        return { metricId: 'race.series', timestamp: t, value: part * 1000 + i };
      });
      await store.commit([buildRowBatch(rows, resolver, T0)]);
      for (const r of rows) expected.set(r.timestamp, r.value);
    }
    await store.checkpoint();
    const sid = store.catalog.tenant('default').find('race.series', '')!;
    const before = store.chunks.chunksOf(sid).length;
    expect(before).toBeGreaterThan(2);
    raceOnce = async () => {
      expect(await store.compactSeries(sid, 2)).toBe(true);
    };
    // Its first plan's members are gone when their bytes are read: it plans again and finds the series compacted.
    await expect(store.compactSeries(sid, 2)).resolves.toBe(false);
    expect(raceOnce).toBeUndefined();
    expect(store.chunks.chunksOf(sid).length).toBeLessThan(before);
    const got = await readStoredPoints(store, sid);
    const want = [...expected.entries()].sort((a, b) => a[0] - b[0]);
    expect([...got.timestamps]).toEqual(want.map((e) => e[0]));
    expect([...got.values]).toEqual(want.map((e) => e[1]));
  } finally {
    await store.close();
  }
});
