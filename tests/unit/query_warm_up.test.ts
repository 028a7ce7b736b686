/**
 * Step 6 of the fresh server's warm-up (src/server/query_warm_up.ts): its queries must take
 * the path a fresh real query takes (chunks answered from their rollup records in memory,
 * heads behind them), or they warm the wrong code; and their answers are still exact.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import { POINTS_PER_APPEND, QUERY_RUNS, QUERY_SERIES, SCRATCH_HEAD_CUT_POINTS, warmUpQueryPath } from '../../src/server/query_warm_up.js';

let dir: string | undefined;
let scratch: EngineMetricsSystem | undefined;
afterEach(async () => {
  await scratch?.stop();
  scratch = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function scratchStore(): Promise<EngineMetricsSystem> {
  dir = mkdtempSync(join(tmpdir(), 'emms-query-warm-up-test-'));
  scratch = new EngineMetricsSystem({ storage: 'sqlite', path: join(dir, 'scratch.db'), queryWorkers: 0 }, {
    chunkEncoding: 'inline', headCutPoints: SCRATCH_HEAD_CUT_POINTS,
  });
  await scratch.start();
  return scratch;
}

describe('warm-up of the query path', () => {
  it('reads chunks from rollup records in memory and heads, as a fresh query does', async () => {
    const store = await scratchStore();
    const nowMs = Date.UTC(2026, 11, 7, 12, 0, 0);
    expect(await warmUpQueryPath(store, nowMs)).toBe(QUERY_RUNS * QUERY_SERIES * POINTS_PER_APPEND);
    const stats = store.stats();
    expect(stats.series).toBe(QUERY_SERIES);
    // Both halves of a fresh series: cut chunks and a head still holding points.
    expect(stats.chunks).toBeGreaterThan(QUERY_SERIES);
    expect(stats.headPoints).toBeGreaterThan(0);
    // Every chunk a query met was answered from its records: none went to the back-end for them.
    expect(stats.rollups?.hits).toBeGreaterThan(0);
    expect(stats.rollups?.misses).toBe(0);
  });

  it('its answers are the hourly averages of the points written', async () => {
    const store = await scratchStore();
    const nowMs = Date.UTC(2026, 11, 7, 12, 0, 0);
    await warmUpQueryPath(store, nowMs);
    const { series } = await store.queryWithStats({ metricPattern: 'warm_up.query', aggregation: 'avg', interval: '1h', startTime: 0, endTime: nowMs + 3_600_000 });
    const raw = await store.queryMetrics({ metricPattern: 'warm_up.query', startTime: 0, endTime: nowMs + 3_600_000 });
    expect(series).toHaveLength(QUERY_SERIES);
    expect(raw.reduce((n, s) => n + s.timestamps.length, 0)).toBe(QUERY_RUNS * QUERY_SERIES * POINTS_PER_APPEND);
    for (const s of series) {
      const points = raw.find((r) => r.tags.hostname === s.tags.hostname)!;
      s.timestamps.forEach((hour, i) => {
        let sum = 0;
        let count = 0;
        points.timestamps.forEach((t, k) => {
          if (t >= hour && t < hour + 3_600_000) {
            sum += points.values[k]!;
            count++;
          }
        });
        expect(count).toBeGreaterThan(0);
        expect(Math.abs(s.values[i]! - sum / count)).toBeLessThanOrEqual(1e-12 * Math.abs(sum / count));
      });
    }
  });
});
