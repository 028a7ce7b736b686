/**
 * Inline aggregations read the chunks their rollups answer without the chunks' data
 * (series_reader.ts ChunkAnswers.holds), and series all of whose chunks in range have rollups
 * not at all (ChunkAnswers.rowsInMemory): the data of those chunks is never read, the answer
 * equals the raw path's bit for bit, and rollups dropped while rows are read (evicted by a cut
 * landing or the warmer) make the reader fetch those chunks instead of failing.
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

/** Three hosts' ~12 h of 10 s points, in order, cut at ≤ 500 points, checkpointed: every point in chunks. */
async function openFilledStore(): Promise<Awaited<ReturnType<typeof openSqliteStore>>> {
  const random = mulberry32(7);
  const store = await openSqliteStore({ path: join(dir, 'd.db'), headCutPoints: 500, chunkEncoding: 'inline', settle: { checkIntervalMs: 3_600_000 } });
  const resolver = new SeriesResolver(store.catalog.tenant('default'));
  for (let t = T0; t < T0 + 12 * HOUR; t += 400 * 10_000) {
    const batch: MetricDataPoint[] = [];
    for (let k = 0; k < 400; k++) {
      for (const host of HOSTS) batch.push({ metricId: 'cpu.user', tags: { host }, timestamp: t + k * 10_000, value: Math.round(random() * 1e6) / 1e3 });
    }
    await store.commit([buildRowBatch(batch, resolver, T0)]);
  }
  await store.checkpoint();
  return store;
}

const QUERY: AggregatedQuery = { metricPattern: 'cpu.user', aggregation: 'avg', interval: '1h', startTime: T0, endTime: T0 + 13 * HOUR };

describe('inline aggregations over chunks with rollups', () => {
  it('skip the data of the chunks rollups answer, and fetch it for rollups dropped mid-read, answering as decoding does', async () => {
    const store = await openFilledStore();
    const raw = new QueryEngine(store, { workers: 0, rollups: false });
    const fast = new QueryEngine(store, { workers: 0 });
    try {
      const q = QUERY;
      // The first query finds no rollups and hands the chunks to the warmer.
      await fast.aggregated('default', q);
      await fast.rollupWarmer.idle();
      const expected = await raw.aggregated('default', q);
      // One chunk of each series without rollups: every series is read from the back-end.
      const unheld = [...store.chunks.seriesWithChunks()].map((id) => store.chunks.chunksOf(id)[1]!.id);
      store.rollups.invalidate(unheld);

      const source = store.chunkSource;
      const rowsRead = vi.spyOn(source, 'aggregationRows');
      const dataRead = vi.spyOn(source, 'chunkData');
      const held = await fast.aggregated('default', q);
      expect(held.series).toEqual(expected.series);
      const rows = (await Promise.all(rowsRead.mock.results.map((r) => r.value as ReturnType<typeof source.aggregationRows>))).flatMap((m) => [...m.values()].flat());
      expect(rows.length).toBeGreaterThan(HOSTS.length * 8);
      // Every chunk lies inside the range: only those without rollups had their data read,
      // in one call after the rows (which filled it into the rows read).
      const byId = (a: number, b: number): number => a - b;
      expect(rows.filter((r) => r.data !== null && r.data !== undefined).map((r) => r.id).sort(byId)).toEqual([...unheld].sort(byId));
      expect(dataRead).toHaveBeenCalledTimes(1);
      expect([...dataRead.mock.calls[0]![0]].sort(byId)).toEqual([...unheld].sort(byId));

      // Rollups dropped while the rows are read: the reader fetches those chunks' data.
      rowsRead.mockClear();
      dataRead.mockClear();
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

  it('read no row of a series whose chunks in range all have rollups, and read it after all when they are dropped mid-read', async () => {
    const store = await openFilledStore();
    const raw = new QueryEngine(store, { workers: 0, rollups: false });
    const fast = new QueryEngine(store, { workers: 0 });
    try {
      const queries: AggregatedQuery[] = [
        QUERY,
        { ...QUERY, aggregation: 'max', interval: '5m' },
        // The range starts inside chunks, at a multiple of 5 min: their buckets from there on.
        { ...QUERY, aggregation: 'sum', interval: '15m', startTime: T0 + 2 * HOUR + 35 * 60_000 },
        // Rate with its first chunk starting before the range needs no predecessor either.
        { ...QUERY, aggregation: 'rate', interval: '1h', startTime: T0 + HOUR },
      ];
      for (const q of queries) await fast.aggregated('default', q);
      await fast.rollupWarmer.idle();
      const source = store.chunkSource;
      // The unspied read, for the mock below (one that called the spy would count twice).
      const read = source.aggregationRows.bind(source);
      const rowsRead = vi.spyOn(source, 'aggregationRows');
      const dataRead = vi.spyOn(source, 'chunkData');
      for (const q of queries) {
        rowsRead.mockClear();
        const expected = await raw.aggregated('default', q);
        expect(expected.series).toHaveLength(HOSTS.length);
        rowsRead.mockClear();
        const held = await fast.aggregated('default', q);
        expect(held.series, `${q.aggregation} ${q.interval}`).toEqual(expected.series);
        expect(rowsRead, `${q.aggregation} ${q.interval}`).not.toHaveBeenCalled();
        expect(dataRead).not.toHaveBeenCalled();
      }

      // The first host's series lost one chunk's rollups: only it is read. The others are
      // answered before its read starts (in the snapshot's synchronous step), except for rate,
      // whose heads take the read path: dropping their rollups while the first series' row is
      // read makes the reader read them after all.
      const [first, ...others] = [...store.chunks.seriesWithChunks()].sort((a, b) => a - b);
      store.rollups.invalidate([store.chunks.chunksOf(first!)[1]!.id]);
      const expected = await raw.aggregated('default', QUERY);
      rowsRead.mockClear();
      expect((await fast.aggregated('default', QUERY)).series).toEqual(expected.series);
      expect(rowsRead.mock.calls.map((c) => [...c[0]])).toEqual([[first]]);

      const rate = queries[3]!;
      const expectedRate = await raw.aggregated('default', rate);
      rowsRead.mockClear();
      rowsRead.mockImplementationOnce(async (ids, r) => {
        const out = await read(ids, r);
        store.rollups.clear();
        return out;
      });
      const dropped = await fast.aggregated('default', rate);
      expect(dropped.series).toEqual(expectedRate.series);
      expect(rowsRead.mock.calls.map((c) => [...c[0]])).toEqual([[first], others]);
    } finally {
      vi.restoreAllMocks();
      await fast.close();
      await raw.close();
      await store.close();
    }
  });
});
