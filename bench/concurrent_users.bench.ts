/**
 * Many users at once (issue 16): 64 query clients in a loop against a real `emms serve` while
 * ingest runs at half its maximum rate.
 *
 *   npx tsx bench/concurrent_users.bench.ts [--max-rate POINTS_PER_S] [--seconds 30] [--clients 64]
 *     [--distinct] [--cpu-prof DIR] [--loop-delay]
 *
 * 1. Maximum row-form ingest rate, measured for 4 s on a scratch server as
 *    bench/server_ingest.bench.ts measures it (8 connections, 16 frames in flight), unless
 *    `--max-rate` gives it.
 * 2. A fresh server, preloaded over the columnar stream with 24 h of the TSBS devops workload
 *    for 100 hosts (1,000 series, 8.64 M points), as the agent of connection 0 of the load
 *    generator names them (`host_<i>-c0`).
 * 3. The load generator continues those same 1,000 series after the preloaded day at half the
 *    maximum (row form, one connection, 64 frames in flight), while `--clients` query loops
 *    run for `--seconds`: half ask for 1 h of raw points of one series, half for the hourly
 *    average over the day of one metric on every host (100 series, 864k points). By default
 *    every client of a kind asks the same query (a dashboard many people have open);
 *    `--distinct` gives each raw client its own host and each aggregate client one of the ten
 *    metrics, so fewer queries are alike.
 *
 * Prints query latency p50/p95/p99 (each kind and overall), queries/s, refusals, ack latency
 * p50/p99 of the frames sent while the queries ran, the ingest rate achieved, and the CPU time
 * of the server, the load generator and this process (the query clients). `--clients 0` runs
 * the same window without queries: the acks' figures on this machine at its load. Targets:
 * query p99 ≤ 100 ms, ack p99 ≤ 50 ms. The query clients (this process), the load generator
 * (its own process) and the server share the machine's cores; the load average before and
 * after the timed window is printed with the figures (other processes' load shows there).
 *
 * `--cpu-prof DIR` runs the server under `node --cpu-prof` and leaves the profiles in DIR;
 * `--loop-delay` prints the server's event-loop stalls over 20 ms while the queries ran
 * (bench/load/loop_delay.ts).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Tags } from '../src/model/metric.js';
import { TSBS_CPU_METRICS, TSBS_DEFAULT_START_MS } from './workload/tsbs_devops.js';
import { streamTsbsColumns } from './load/tsbs_column_stream.js';
import { processCpuSeconds, runLoadGenerator, startServerProcess } from './load/server_process.js';
import { measureMaxRowRate } from './load/max_rate.js';
import { acksSentBetween, describe, readAckLog, summarize } from './load/latency_stats.js';
import { loopDelayProbe } from './load/loop_delay.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const HOSTS = 100;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const SECONDS = Number(arg('seconds') ?? 30);
const CLIENTS = Number(arg('clients') ?? 64);
const DISTINCT = process.argv.includes('--distinct');
const CPU_PROF = arg('cpu-prof');
const GIVEN_MAX = arg('max-rate');
const LOOP_DELAY = process.argv.includes('--loop-delay');

/** The tags of connection 0 of the load generator (seed 1, hostnames `-c0`), so the preloaded day and the live load are the same hosts' series. */
function hostsOfConnection0(tags: Tags): Record<string, string> {
  return { ...tags, hostname: `${tags.hostname}-c0` };
}

interface QueryKind {
  name: string;
  urlOf: (client: number) => string;
}

function queryKinds(base: string): QueryKind[] {
  const day = TSBS_DEFAULT_START_MS;
  return [
    {
      name: '1 h raw, one series',
      urlOf: (c) => `${base}/api/v1/query?${new URLSearchParams({
        metric_pattern: 'cpu.usage_user', 'tag.hostname': `host_${DISTINCT ? c % HOSTS : 42}-c0`,
        start_time: String(day + 22 * HOUR_MS), end_time: String(day + 23 * HOUR_MS),
      })}`,
    },
    {
      name: '24 h hourly avg, 100 series',
      urlOf: (c) => `${base}/api/v1/query?${new URLSearchParams({
        metric_pattern: DISTINCT ? TSBS_CPU_METRICS[c % TSBS_CPU_METRICS.length]! : 'cpu.usage_user',
        aggregation: 'avg', interval: '1h', start_time: String(day), end_time: String(day + DAY_MS),
      })}`,
    },
  ];
}

interface ClientRecord {
  kind: number;
  latencies: number[];
  refused: number;
  failed: string[];
}

async function queryLoop(kind: QueryKind, kindIndex: number, client: number, headers: Record<string, string>, until: number): Promise<ClientRecord> {
  const rec: ClientRecord = { kind: kindIndex, latencies: [], refused: 0, failed: [] };
  const url = kind.urlOf(client);
  while (Date.now() < until) {
    const t = performance.now();
    const res = await fetch(url, { headers });
    await res.arrayBuffer();
    if (res.status === 200) rec.latencies.push(performance.now() - t);
    else if (res.status === 429) {
      rec.refused++;
      // As a client told Retry-After would: wait, then ask again.
      await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? 1) * 1000));
    } else if (rec.failed.length < 3) rec.failed.push(`${res.status}`);
  }
  return rec;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-bench-users-'));
  try {
    let maxRate: number;
    if (GIVEN_MAX !== undefined) maxRate = Number(GIVEN_MAX);
    else {
      mkdirSync(join(dir, 'scratch'));
      maxRate = await measureMaxRowRate(join(dir, 'scratch'));
    }
    const half = Math.round(maxRate / 2);
    mkdirSync(join(dir, 'data'));
    const nodeArgs: string[] = [];
    if (CPU_PROF !== undefined) {
      mkdirSync(CPU_PROF, { recursive: true });
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`);
    }
    const probe = LOOP_DELAY ? loopDelayProbe(join(dir, 'loop-delay.json')) : undefined;
    const server = await startServerProcess(join(dir, 'data'), probe?.env ?? {}, [], [...nodeArgs, ...(probe?.nodeArgs ?? [])]);
    let queriesRan: [number, number] | undefined;
    const headers = { authorization: `Bearer ${readFileSync(server.adminTokenFile, 'utf8').trim()}` };
    try {
      const loaded = await streamTsbsColumns(server.wsUrl, headers, { hours: 24, hosts: HOSTS, tagsOf: hostsOfConnection0 });
      const kinds = queryKinds(server.base);
      // Check the answers once before timing them.
      const raw = (await (await fetch(kinds[0]!.urlOf(0), { headers })).json()) as { series: Array<{ points: unknown[] }> };
      const agg = (await (await fetch(kinds[1]!.urlOf(1), { headers })).json()) as { series: Array<{ points: unknown[] }> };
      if (raw.series.length !== 1 || raw.series[0]!.points.length !== 360) throw new Error(`raw query: ${raw.series.length} series, ${raw.series[0]?.points.length} points; expected 1 × 360`);
      if (agg.series.length !== HOSTS || agg.series.some((s) => s.points.length !== 24)) throw new Error(`aggregate query: ${agg.series.length} series; expected ${HOSTS} × 24`);

      const logFile = join(dir, 'acks.csv');
      const ingestSeconds = SECONDS + 4;
      const cpuBefore = processCpuSeconds(server.proc.pid!);
      const ingest = runLoadGenerator([
        '--url', server.wsUrl, '--token-file', server.adminTokenFile, '--seconds', String(ingestSeconds), '--form', 'rows',
        '--connections', '1', '--hosts', String(HOSTS), '--seed', '1', '--window', '64', '--rate', String(half),
        '--start-ms', String(TSBS_DEFAULT_START_MS + DAY_MS), '--latency-log', logFile,
      ]);
      // Queries start once ingest runs steadily, and end before it does.
      await new Promise((r) => setTimeout(r, 2000));
      const loadBefore = loadavg();
      const clientCpuBefore = process.cpuUsage();
      const from = Date.now();
      const until = from + SECONDS * 1000;
      const loops = Promise.all(Array.from({ length: CLIENTS }, (_, c) => queryLoop(kinds[c % 2]!, c % 2, c, headers, until)));
      // The whole window even without clients (`--clients 0`: the acks' own figures, no queries).
      const [records] = await Promise.all([loops, new Promise((r) => setTimeout(r, until - Date.now()))]);
      const to = Date.now();
      const clientCpu = process.cpuUsage(clientCpuBefore);
      queriesRan = [from, to];
      const loadAfter = loadavg();
      const load = await ingest;
      const serverCpu = processCpuSeconds(server.proc.pid!) - cpuBefore;
      const acks = acksSentBetween(readAckLog(logFile), from, to);

      const cpu = cpus();
      const all = records.flatMap((r) => r.latencies);
      const queries = all.length;
      const window = (to - from) / 1000;
      console.log(`\nEMMS: ${CLIENTS} query clients in a loop while ingest runs at half its maximum (${new Date().toISOString()})`);
      console.log(`machine: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores, Node ${process.version}; the query clients (this process), the load generator and the server share these cores`);
      console.log(`load average (1/5/15 min) before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')}`);
      console.log(`preload: ${loaded.points.toLocaleString('en-US')} points (24 h, ${HOSTS} hosts) in ${loaded.seconds.toFixed(1)} s`);
      console.log(`maximum row-form ingest: ${(maxRate / 1e6).toFixed(2)} M points/s (${GIVEN_MAX === undefined ? 'measured 4 s on a scratch server' : 'given by --max-rate'}); half: ${(half / 1e6).toFixed(2)} M points/s`);
      console.log(`queries: ${DISTINCT ? 'distinct per client (raw: own host; aggregate: one of 10 metrics)' : 'every client of a kind asks the same query'}`);
      console.log(`ingest achieved ${(load.pointsPerSecond / 1e6).toFixed(2)} M points/s over ${ingestSeconds} s${load.closedEarly.length > 0 ? ` (closed early: ${load.closedEarly.join('; ')})` : ''}; server CPU ${serverCpu.toFixed(1)} s, load generator ${load.clientCpuSeconds.toFixed(1)} s; the ${CLIENTS} query clients' process ${((clientCpu.user + clientCpu.system) / 1e6).toFixed(1)} s CPU in the ${window.toFixed(1)} s they ran`);
      console.log(`acks of frames sent while queries ran: ${describe(summarize(acks))}   target p99 ≤ 50 ms`);
      kinds.forEach((k, i) => {
        const rs = records.filter((r) => r.kind === i);
        const lat = rs.flatMap((r) => r.latencies);
        console.log(`${k.name}: ${describe(summarize(lat))}, ${(lat.length / window).toFixed(0)} queries/s, refused (429) ${rs.reduce((n, r) => n + r.refused, 0)}`);
      });
      console.log(`all queries: ${describe(summarize(all))}, ${(queries / window).toFixed(0)} queries/s   target p99 ≤ 100 ms`);
      const failed = records.flatMap((r) => r.failed);
      if (failed.length > 0) console.log(`other failures: ${failed.join(', ')}`);
    } finally {
      await server.stop();
    }
    if (probe !== undefined && queriesRan !== undefined) console.log(probe.summary(queriesRan[0], queriesRan[1]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
