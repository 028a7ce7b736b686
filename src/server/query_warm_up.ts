/**
 * Step 6 of a fresh server's warm-up (warm_up.ts): the aggregation query path and its JSON
 * answer, run in the scratch store of step 4 before the port takes requests, so that the first
 * real queries do not run it cold.
 *
 * Why (issue 16, bench/fresh_query.bench.ts, the server main thread's CPU per query): right
 * after a fresh server took the TSBS devops day, five back-to-back 100-series hourly averages
 * cost 46.8, 19.3, 22.0, 15.5 and 21.0 ms, the next five 18.7 … 7.9 ms, and the queries after
 * that 6–10 ms, with the same heads and chunks throughout (load ~15). What fell was V8
 * compiling the path (selection, head and chunk rollups, the accumulator, the JSON writer),
 * which bench:peers' "1 s after ingest" row, the median of a fresh server's first five
 * queries, paid in full.
 *
 * Measured (bench/fresh_query.bench.ts --dist A --dist B --rounds 2 --offsets 1,5, server main
 * thread's CPU, load 9–23): the first query after ingest 25.5–28.8 ms with this step against
 * 35.1–60.1 ms without (four pairs: two with 100 warm-up series, two with 25); the median of the first five 9.5–17.5 against 10.6–17.0
 * (too noisy at that load to call). A third round at load ~5: first query 30.7 and 33.9 ms
 * against 40.4 and 59.6, the median of the first five 9.8 and 13.9 against 14.2 and 18.5. Its cost at start-up, measured in one process from dist/
 * at load ~17: ~100 ms of CPU for the points, ~80 ms for the queries and ~35 ms more to stop
 * the store with 25 series; 100 series cost ~510 ms in all and did not warm measurably better.
 *
 * What runs: QUERY_SERIES series of one metric get points 30 s apart, in a store whose heads
 * are cut every few hundred points, so a query reads what a real one does: chunks answered
 * from their rollup records (the series were queried before their cuts landed, so the cuts got
 * records), heads answered from head records plus the points of their last bucket, and the
 * answer written as JSON. QUERY_RUNS queries of hourly averages, with new points appended
 * between them (the head-record hit and rebuild paths). Nothing of it reaches the server's own
 * store; the scratch store is stopped and deleted by its caller.
 */
import type { EngineMetricsSystem } from '../metrics_system.js';
import type { ColumnarSeries } from '../model/api.js';
import { writeQueryJson } from './query_json_writer.js';

/** Series per warm-up query (a quarter of the bench:peers query's 100: see the cost above). */
export const QUERY_SERIES = 25;
/** Points appended per series before each query, STEP_MS apart (an hour). */
export const POINTS_PER_APPEND = 120;
/** Queries run. Ten: the fresh-server measurement above reached its steady cost after about ten. */
export const QUERY_RUNS = 10;
/**
 * Head cut size of the scratch store (headCutPoints: each series cuts somewhere in [half, all]
 * of it), so that a few appends of POINTS_PER_APPEND cut chunks and leave heads behind.
 */
export const SCRATCH_HEAD_CUT_POINTS = 256;
/**
 * 30 s between points: a chunk of at least 128 points then spans more than an hour, so no
 * chunk fits inside one hourly bucket. One that did would be answered from its summary,
 * which takes the back-end read path, not the in-memory one the fresh query takes.
 */
const STEP_MS = 30_000;
const HOUR_MS = 3_600_000;
const METRIC_ID = 'warm_up.query';

/**
 * Runs QUERY_RUNS aggregation queries (and their JSON answers) in `scratch`, a started store
 * opened with headCutPoints = SCRATCH_HEAD_CUT_POINTS and no query workers, appending points
 * before each. Returns the points written. `nowMs` ends the points (they start earlier).
 */
export async function warmUpQueryPath(scratch: EngineMetricsSystem, nowMs = Date.now()): Promise<number> {
  const startMs = Math.floor((nowMs - QUERY_RUNS * POINTS_PER_APPEND * STEP_MS) / HOUR_MS) * HOUR_MS;
  const endMs = startMs + Math.ceil((QUERY_RUNS * POINTS_PER_APPEND * STEP_MS) / HOUR_MS + 1) * HOUR_MS;
  let written = 0;
  for (let run = 0; run < QUERY_RUNS; run++) {
    const from = startMs + run * POINTS_PER_APPEND * STEP_MS;
    const series: ColumnarSeries[] = [];
    for (let host = 0; host < QUERY_SERIES; host++) {
      const timestamps = new Float64Array(POINTS_PER_APPEND);
      const values = new Float64Array(POINTS_PER_APPEND);
      for (let i = 0; i < POINTS_PER_APPEND; i++) {
        timestamps[i] = from + i * STEP_MS;
        // Averages of these are long decimals, as real averages are (the JSON writer's column path).
        values[i] = ((host * 7 + i * 13) % 1000) / 7;
      }
      series.push({ metricId: METRIC_ID, tags: { hostname: `warm-up-${host}` }, timestamps, values });
    }
    written += (await scratch.collectSeries(series)).accepted;
    const answer = await scratch.queryWithStats({
      metricPattern: METRIC_ID, aggregation: 'avg', interval: '1h', startTime: startMs, endTime: endMs,
    });
    writeQueryJson(answer.series, answer.stats);
  }
  return written;
}
