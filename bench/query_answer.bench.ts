/**
 * What answering a query costs next to computing it (issue 16, "a cheaper answer"): for the
 * engine's result of each query, the time to run the query (the engine's own stats.elapsed_ms,
 * in-process, settled data) and the time to write each answer form on the server:
 *   - JSON, written from the Float64Arrays into one buffer (src/server/query_json_writer.ts);
 *   - JSON as the server wrote it before (one string built per series with String(v) per number);
 *   - JSON.stringify of an object tree (what a handler would naively do);
 *   - the columnar msgpack answer (`Accept: application/x-msgpack`, src/server/query_columnar.ts).
 *
 * Data: 24 h of the TSBS devops workload (100 hosts × 10 metrics at 10 s = 8.64 M points),
 * loaded in-process, then the engine is stopped and reopened so the chunks are settled.
 *
 *   npx tsx bench/query_answer.bench.ts          (EMMS_BENCH_QUICK=1: 2 h of data)
 *
 * Timings are medians of repeated calls on a machine shared with other work.
 */
import { EngineMetricsSystem } from '../src/metrics_system.js';
import type { QueryStats, SeriesResult } from '../src/model/api.js';
import { QueryResponseField } from '../src/ingest/wire.js';
import { writeQueryJson } from '../src/server/query_json_writer.js';
import { encodeColumnarQuery } from '../src/server/query_columnar.js';
import { TICKS_PER_DAY, TSBS_DEFAULT_START_MS } from './workload/tsbs_devops.js';
import { loadTsbsColumnar, machineLine, openBenchDatabase, quick } from './workload/embedded_fixture.js';

const HOURS = quick ? 2 : 24;
const HOUR_MS = 3_600_000;

/** The server's JSON writer before query_json_writer.ts, kept here as the baseline. */
function stringConcatJson(series: readonly SeriesResult[], stats: QueryStats): string {
  const F = QueryResponseField;
  const num = (v: number): string => (Number.isFinite(v) ? String(v) : 'null');
  const parts: string[] = [];
  for (const s of series) {
    let out = `{"${F.metricId}":${JSON.stringify(s.metricId)},"${F.metricType}":${JSON.stringify(s.metricType)},"${F.tags}":${JSON.stringify(s.tags)},"${F.points}":[`;
    for (let i = 0; i < s.timestamps.length; i++) out += (i === 0 ? '[' : ',[') + num(s.timestamps[i]!) + ',' + num(s.values[i]!) + ']';
    parts.push(out + ']}');
  }
  return `{"${F.series}":[${parts.join(',')}],"${F.stats}":{"series":${stats.series},"${F.pointsScanned}":${stats.pointsScanned},"${F.elapsedMs}":${num(stats.elapsedMs)}}}`;
}

function objectTreeJson(series: readonly SeriesResult[], stats: QueryStats): string {
  const num = (v: number): number | null => (Number.isFinite(v) ? v : null);
  return JSON.stringify({
    series: series.map((s) => ({ metric_id: s.metricId, metric_type: s.metricType, tags: s.tags, points: Array.from(s.timestamps, (t, i) => [t, num(s.values[i]!)]) })),
    stats: { series: stats.series, points_scanned: stats.pointsScanned, elapsed_ms: stats.elapsedMs },
  });
}

/**
 * Median ms of `fn` over at least 5 calls and about `budgetMs` of calls, after 200 ms of
 * warm-up calls: the optimizing compiler runs on a background thread, and on a busy machine a
 * few calls left the first function measured unoptimized (10× slower than in steady state).
 */
function medianMs(fn: () => unknown, budgetMs = 400): number {
  for (const warm = performance.now() + 200; performance.now() < warm;) fn();
  const times: number[] = [];
  const until = performance.now() + budgetMs;
  while (times.length < 5 || (performance.now() < until && times.length < 2000)) {
    const t = performance.now();
    fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1]!;
}

async function main(): Promise<void> {
  const db = await openBenchDatabase();
  try {
    await loadTsbsColumnar(db.system, (TICKS_PER_DAY / 24) * HOURS);
    await db.system.stop();
    const system = new EngineMetricsSystem({ path: db.path });
    await system.start();
    const start = TSBS_DEFAULT_START_MS;
    const end = start + HOURS * HOUR_MS;
    const queries = [
      { name: `hourly avg over ${HOURS} h, 100 series`, query: { metricPattern: 'cpu.usage_user', aggregation: 'avg' as const, interval: '1h', startTime: start, endTime: end } },
      { name: `hourly avg over ${HOURS} h, 1,000 series`, query: { metricPattern: 'cpu.*', aggregation: 'avg' as const, interval: '1h', startTime: start, endTime: end } },
      { name: `5-minute max over ${HOURS} h, 100 series`, query: { metricPattern: 'cpu.usage_user', aggregation: 'max' as const, interval: '5m', startTime: start, endTime: end } },
      { name: `raw ${HOURS} h of 10 series`, query: { metricPattern: 'cpu.*', tags: { hostname: 'host_7' }, startTime: start, endTime: end } },
    ];
    const answers = [];
    for (const { name, query } of queries) {
      const engineTimes: number[] = [];
      let result = await system.queryWithStats(query);
      for (let i = 0; i < 15; i++) {
        result = await system.queryWithStats(query);
        engineTimes.push(result.stats.elapsedMs);
      }
      engineTimes.sort((a, b) => a - b);
      const { series, stats } = result;
      const json = writeQueryJson(series, stats);
      if (json.toString('utf8') !== objectTreeJson(series, stats)) throw new Error(`${name}: the JSON writer's answer differs from JSON.stringify's`);
      answers.push({ name, series, stats, engineMs: engineTimes[engineTimes.length >> 1]! });
    }
    // Two passes over every encoder, the first not reported: in one pass the first function
    // timed ran ~10× slower than later (the reopened engine's background work and the
    // optimizing compiler's thread compete with it on a busy machine).
    let rows: Array<Record<string, string | number>> = [];
    for (let pass = 0; pass < 2; pass++) {
      rows = answers.map(({ name, series, stats, engineMs }) => ({
        query: name,
        'answer points': series.reduce((n, s) => n + s.timestamps.length, 0),
        'engine ms': Number(engineMs.toFixed(3)),
        'JSON writer ms': Number(medianMs(() => writeQueryJson(series, stats)).toFixed(3)),
        'JSON before ms': Number(medianMs(() => Buffer.from(stringConcatJson(series, stats))).toFixed(3)),
        'JSON.stringify tree ms': Number(medianMs(() => Buffer.from(objectTreeJson(series, stats))).toFixed(3)),
        'msgpack ms': Number(medianMs(() => encodeColumnarQuery(series, stats)).toFixed(3)),
        'JSON bytes': writeQueryJson(series, stats).length,
        'msgpack bytes': encodeColumnarQuery(series, stats).length,
      }));
    }
    console.log(machineLine('one process; other work shares the machine, figures are noisy'));
    console.log(`data: ${HOURS} h of TSBS devops (100 hosts × 10 metrics, 10 s), settled (engine stopped and reopened); "before" = the string-concatenating writer this replaced, ` +
      'each JSON form timed through to bytes (Buffer.from of a string is what the server paid to send it)');
    console.table(rows);
    await system.stop();
  } finally {
    await db.remove();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
