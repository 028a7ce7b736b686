/**
 * Inline aggregations read the chunks their rollups answer without the chunks' data
 * (series_reader.ts ChunkAnswers.holds): the data of those chunks is never read, the answer
 * equals the raw path's bit for bit, and rollups dropped while the rows are read (evicted by a
 * cut landing or the warmer) make the reader fetch those chunks' data instead of failing.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from './sqlite_store_kit.js';
import { SeriesResolver } from '../../src/ingest/series_resolver.js';
import { buildRowBatch } from '../../src/ingest/batch_builder.js';
import { QueryEngine } from '../../src/query/query_engine.js';
import type { MetricDataPoint } from '../../src/model/metric.js';
import type { AggregatedQuery } from '../../src/model/api.js';
import { mulberry32 } from '../../bench/data_shapes.js';

const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 5, 1);
const HOSTS = ['a', 'b', 'c'];

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-rollup-dataless-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('inline aggregations over chunks with rollups', () => {
  it('skip the data of the chunks rollups answer, and fetch it for rollups dropped mid-read, answering as decoding does', async () => {
    const random = mulberry32(7);
    const store = await openSqliteStore({ path: join(dir, 'd.db'), headCutPoints: 500, chunkEncoding: 'inline', settle: { checkIntervalMs: 3_600_000 } });
    const raw = new QueryEngine(store, { workers: 0, rollups: false });
    const fast = new QueryEngine(store, { workers: 0 });
    try {
      const resolver = new SeriesResolver(store.catalog.tenant('default'));
      // ~12 h of 10 s points per host, in order: 4,400 points each, cut at ≤ 500.
      for (let t = T0; t < T0 + 12 * HOUR; t += 400 * 10_000) {
        const batch: MetricDataPoint[] = [];
        for (let k = 0; k < 400; k++) {
          for (const host of HOSTS) batch.push({ metricId: 'cpu.user', tags: { host }, timestamp: t + k * 10_000, value: Math.round(random() * 1e6) / 1e3 });
        }
        await store.commit([buildRowBatch(batch, resolver, T0)]);
      }
      await store.checkpoint();
      const q: AggregatedQuery = { metricPattern: 'cpu.user', aggregation: 'avg', interval: '1h', startTime: T0, endTime: T0 + 13 * HOUR };
      // The first query finds no rollups and hands the chunks to the warmer.
      await fast.aggregated('default', q);
      await fast.rollupWarmer.idle();
      const expected = await raw.aggregated('default', q);

      const source = store.chunkSource;
      const rowsRead = vi.spyOn(source, 'aggregationRows');
      const dataRead = vi.spyOn(source, 'chunkData');
      const held = await fast.aggregated('default', q);
      expect(held.series).toEqual(expected.series);
      const rows = (await Promise.all(rowsRead.mock.results.map((r) => r.value as ReturnType<typeof source.aggregationRows>))).flatMap((m) => [...m.values()].flat());
      expect(rows.length).toBeGreaterThan(HOSTS.length * 8);
      // Every chunk lies inside the range and has rollups (or lies inside one bucket, answered by
      // its stats): none came with data, none was fetched.
      expect(rows.filter((r) => r.data !== null && r.data !== undefined)).toEqual([]);
      expect(dataRead).not.toHaveBeenCalled();

      // Rollups dropped while the rows are read: the reader fetches those chunks' data.
      rowsRead.mockClear();
      const read = source.aggregationRows.bind(source);
      rowsRead.mockImplementationOnce(async (ids, r) => {
        const out = await read(ids, r);
        store.rollups.clear();
        return out;
      });
      const dropped = await fast.aggregated('default', q);
      expect(dropped.series).toEqual(expected.series);
      // Once: chunks inside one bucket are answered by their stats and need none.
      expect(dataRead).toHaveBeenCalledTimes(1);
      expect(dataRead.mock.calls[0]![0].length).toBeGreaterThan(HOSTS.length * 4);
    } finally {
      vi.restoreAllMocks();
      await fast.close();
      await raw.close();
      await store.close();
    }
  });
});
