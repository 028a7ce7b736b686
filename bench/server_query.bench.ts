/**
 * Query latency over HTTP against a real `emms serve` process holding the TSBS devops workload
 * (100 hosts × 10 cpu metrics, 10 s interval; 24 h = 8.64M points, ingested first through the
 * columnar WebSocket stream):
 *   - 1-hour raw query of one series (360 points)                     target ≤ 5 ms median
 *   - 24 h hourly avg of 100 series (one metric, every host; 864,000 raw points)  ≤ 10 ms median
 *
 *   npx tsx bench/server_query.bench.ts                # 24 h of data, 2 s per query
 *   EMMS_BENCH_QUICK=1 npx tsx bench/server_query.bench.ts   # 6 h of data, 300 ms per query
 *
 * The client (this process, using fetch with keep-alive) shares the machine's cores with the server.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bench } from 'tinybench';
import { TICKS_PER_HOUR, streamTsbsColumns } from './load/tsbs_column_stream.js';
import { startServerProcess } from './load/server_process.js';
import { checkStandardAnswers, standardQueries } from './load/standard_queries.js';

const QUICK = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');
const HOURS = QUICK ? 6 : 24;
const TASK_TIME_MS = QUICK ? 300 : 2_000;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-bench-query-'));
  const server = await startServerProcess(dir);
  // The bootstrap operator's token: queries and ingest act on tenant `default`.
  const headers = { authorization: `Bearer ${readFileSync(server.adminTokenFile, 'utf8').trim()}` };
  const get = (url: string): Promise<Response> => fetch(url, { headers });
  try {
    const base = server.base;
    const loaded = await streamTsbsColumns(server.wsUrl, headers, { hours: HOURS });
    const queries = standardQueries(base, HOURS);
    const { rawUrl, aggUrl } = queries;
    // Check the answers before timing them.
    const pointsScanned = await checkStandardAnswers(get, queries, HOURS);
    const bench = new Bench({ time: TASK_TIME_MS, warmupTime: Math.min(500, TASK_TIME_MS) });
    bench.add('1 h raw, one series (360 points)', async () => {
      await (await get(rawUrl)).arrayBuffer();
    });
    bench.add(`${HOURS} h hourly avg, 100 series (${(100 * HOURS * TICKS_PER_HOUR).toLocaleString('en-US')} raw points)`, async () => {
      await (await get(aggUrl)).arrayBuffer();
    });
    await bench.run();
    // The engine's own time for each query (its stats.elapsed_ms), to tell it from HTTP and the client.
    const serverMedianMs = async (url: string): Promise<number> => {
      const times: number[] = [];
      for (let i = 0; i < 100; i++) times.push(((await (await get(url)).json()) as { stats: { elapsed_ms: number } }).stats.elapsed_ms);
      return times.sort((a, b) => a - b)[50]!;
    };
    const serverRawMs = await serverMedianMs(rawUrl);
    const serverAggMs = await serverMedianMs(aggUrl);
    const cpu = cpus();
    console.log(`\nEMMS query latency over HTTP, ${QUICK ? 'quick' : 'full'} run`);
    console.log(`machine: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores, Node ${process.version}; client and server share these cores`);
    console.log(`data: ${loaded.points.toLocaleString('en-US')} points (${HOURS} h TSBS devops, 100 hosts), ingested over the columnar stream at ` +
      `${(loaded.points / loaded.seconds / 1e6).toFixed(2)} M points/s; the aggregate scans ${pointsScanned.toLocaleString('en-US')} points`);
    console.log(`server-side (stats.elapsed_ms) median: raw ${serverRawMs.toFixed(2)} ms, aggregate ${serverAggMs.toFixed(2)} ms`);
    const targets = ['≤ 5 ms', '≤ 10 ms'];
    console.table(bench.tasks.map((task, i) => {
      const r = task.result;
      if (r.state !== 'completed') return { query: task.name, state: r.state };
      return {
        query: task.name,
        'median ms': Number(r.latency.p50.toFixed(2)),
        'p99 ms': Number(r.latency.p99.toFixed(2)),
        'mean ms': Number(r.latency.mean.toFixed(2)),
        runs: r.latency.samplesCount,
        target: targets[i],
      };
    }));
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
