/**
 * Range-limited head reads (src/storage/head.ts ReadRange): a read of [start, end) copies only
 * the head's points in it plus the newest one before start, for HeadTable views (in-order and
 * out-of-order heads, across blocks and slabs) and gathered heads alike; and the engine answers
 * the same from heads read that way as from the same points settled into chunks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatheredPoints } from '../../src/storage/gathered_points.js';
import { BLOCK_POINTS, HeadTable, type PointColumns, type ReadRange } from '../../src/storage/head.js';
import { sortDedupLastWins } from '../../src/storage/last_write_wins_sort.js';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import type { SeriesResult } from '../../src/model/api.js';
import { mulberry32 } from '../../bench/data_shapes.js';

const random = mulberry32;

/** What a read of `range` needs, from the whole sorted head: points in it and the newest before it. */
function expectedSpan(all: PointColumns, range: ReadRange): { timestamps: number[]; values: number[] } {
  const ts = [...all.timestamps];
  const inside = ts.flatMap((t, i) => (t >= range.startMs && t < range.endMs ? [i] : []));
  let before = -1;
  ts.forEach((t, i) => {
    if (t < range.startMs) before = i;
  });
  const picked = before >= 0 ? [before, ...inside] : inside;
  return { timestamps: picked.map((i) => ts[i]!), values: picked.map((i) => all.values[i]!) };
}

const plainColumns = (p: PointColumns): { timestamps: number[]; values: number[] } => ({ timestamps: [...p.timestamps], values: [...p.values] });

describe('range-limited head reads', () => {
  it('give the points of the range and the newest before it, for in-order and out-of-order heads of any length', () => {
    const rnd = random(11);
    for (let trial = 0; trial < 120; trial++) {
      const table = new HeadTable(1_000_000);
      const gathered = new GatheredPoints();
      const sid = 1 + Math.floor(rnd() * 50);
      const n = 1 + Math.floor(rnd() * (trial % 10 === 0 ? 2000 : 300));
      const inOrder = trial % 3 !== 0;
      const ts = new Float64Array(n);
      const vs = new Float64Array(n);
      let t = 1_000 + Math.floor(rnd() * 100);
      for (let i = 0; i < n; i++) {
        t += 1 + Math.floor(rnd() * 20);
        ts[i] = inOrder ? t : 1_000 + Math.floor(rnd() * n * 5);
        vs[i] = Math.round(rnd() * 1e6) / 8;
      }
      // Runs of random length, with another series' blocks in between (non-adjacent blocks).
      for (let i = 0; i < n;) {
        const end = Math.min(n, i + 1 + Math.floor(rnd() * 150));
        table.appendRun(sid, ts, vs, i, end);
        gathered.appendRun(ts, vs, i, end);
        if (rnd() < 0.5) table.append(0, i, i);
        i = end;
      }
      const whole = sortDedupLastWins(ts, vs);
      const lo = whole.timestamps[0]!;
      const hi = whole.timestamps[whole.timestamps.length - 1]!;
      const ranges: ReadRange[] = [
        { startMs: -Infinity, endMs: Infinity }, { startMs: lo, endMs: hi + 1 }, { startMs: hi + 1, endMs: hi + 100 },
        { startMs: lo - 100, endMs: lo }, { startMs: lo + 3, endMs: lo + 3 },
      ];
      for (let r = 0; r < 6; r++) {
        const a = lo - 20 + Math.floor(rnd() * (hi - lo + 40));
        ranges.push({ startMs: a, endMs: a + Math.floor(rnd() * (hi - lo + 20)) });
      }
      for (const range of ranges) {
        const want = expectedSpan(whole, range);
        const view = table.view(sid)!;
        expect(view.lengthIn(range)).toBe(want.timestamps.length);
        expect(plainColumns(view.sorted(range))).toEqual(want);
        const into = { t: new Float64Array(want.timestamps.length + 3), v: new Float64Array(want.timestamps.length + 3) };
        expect(view.sortedInto(into.t, into.v, 3, range)).toBe(want.timestamps.length);
        expect(plainColumns({ timestamps: into.t.subarray(3), values: into.v.subarray(3) })).toEqual(want);
        expect(gathered.lengthIn(range)).toBe(want.timestamps.length);
        expect(plainColumns(gathered.sorted(range))).toEqual(want);
      }
      // A ranged read sorted the head once: it is whole and in order afterwards.
      expect(table.inOrder(sid)).toBe(true);
      expect(plainColumns(table.sorted(sid))).toEqual(plainColumns(whole));
    }
  });

  it('copy from the middle of a head that spans slab pairs', () => {
    const table = new HeadTable(1_000_000);
    const n = 70_000;
    const ts = Float64Array.from({ length: n }, (_, i) => 10 * i);
    const vs = Float64Array.from({ length: n }, (_, i) => i / 4);
    for (let i = 0; i < n; i += 700) {
      table.appendRun(1, ts, vs, i, Math.min(n, i + 700));
      table.append(2, i, i);
    }
    // From within block 1,000 (slab pair 0) to within block 1,050 (slab pair 1), predecessor included.
    const range = { startMs: 10 * (1000 * BLOCK_POINTS + 17), endMs: 10 * (1050 * BLOCK_POINTS + 5) };
    const got = table.sorted(1, range);
    const from = 1000 * BLOCK_POINTS + 16;
    const to = 1050 * BLOCK_POINTS + 5;
    expect(got.timestamps).toEqual(ts.slice(from, to));
    expect(got.values).toEqual(vs.slice(from, to));
  });
});

describe('queries over heads read by range', () => {
  const T0 = Date.UTC(2026, 2, 2);
  const STEP = 10_000;
  const N = 3_000;
  let dir: string;
  let ms: EngineMetricsSystem;

  /** A counter with resets, and a gauge, 3,000 points each (all in heads until settled). */
  function seriesOf(host: number): Array<{ metricId: string; tags: Record<string, string>; timestamps: Float64Array; values: Float64Array }> {
    const timestamps = Float64Array.from({ length: N }, (_, i) => T0 + i * STEP);
    let total = 0;
    const counter = Float64Array.from({ length: N }, (_, i) => (i % 700 === 699 ? (total = 3) : (total += 1 + ((i * 7 + host) % 5))));
    const gauge = Float64Array.from({ length: N }, (_, i) => ((i * 13 + host * 3) % 97) / 4);
    return [
      { metricId: 'req.total', tags: { host: `h${host}` }, timestamps, values: counter },
      { metricId: 'cpu.user', tags: { host: `h${host}` }, timestamps, values: gauge },
    ];
  }

  const plain = (series: readonly SeriesResult[]): unknown => series.map((s) => ({ metricId: s.metricId, tags: s.tags, timestamps: [...s.timestamps], values: [...s.values] }));

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'emms-head-range-'));
    ms = new EngineMetricsSystem({ path: join(dir, 'h.db'), queryWorkers: 0 });
    await ms.start();
    await ms.collectSeries([0, 1, 2].flatMap(seriesOf));
  });

  afterAll(async () => {
    await ms.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answer raw, rate and avg over ranges inside the heads as over the same points in chunks', async () => {
    // Ranges starting inside the heads: rate needs the point before the start (a head point).
    const queries = [
      { metricPattern: 'cpu.user', startTime: T0 + 1234 * STEP + 5, endTime: T0 + 1300 * STEP },
      { metricPattern: 'req.total', startTime: T0 + 650 * STEP + 1, endTime: T0 + 2200 * STEP, aggregation: 'rate' as const, interval: '1h' },
      { metricPattern: 'cpu.user', startTime: T0 + 100 * STEP, endTime: T0 + 2900 * STEP, aggregation: 'avg' as const, interval: '30m' },
      { metricPattern: 'req.total', startTime: T0 + 2999 * STEP + 1, endTime: T0 + 4000 * STEP, aggregation: 'rate' as const, interval: '10m' },
    ];
    const fromHeads = [];
    for (const q of queries) fromHeads.push(plain((await ms.queryWithStats(q)).series));
    // Rate over a range starting after a counter point must count the increase from it.
    const rate = (await ms.queryWithStats(queries[1]!)).series;
    expect(rate.length).toBe(3);
    // Stopping checkpoints the heads into chunks.
    await ms.stop();
    await ms.start();
    expect(ms.stats().headPoints).toBe(0);
    for (const [k, q] of queries.entries()) expect(plain((await ms.queryWithStats(q)).series)).toEqual(fromHeads[k]);
  });
});
