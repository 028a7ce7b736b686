/**
 * PromQL query_range latency, EMMS (`/prometheus/api/v1/query_range`, a real `emms serve`
 * started from dist/ as `npm start` does: run `npm run build:ts` after editing src/)
 * side by side with VictoriaMetrics (Debian's `victoria-metrics`, its own PromQL engine with
 * its result cache off), over the same data: 24 h of 100 hosts at a 10 s interval, a gauge
 * `cpu_usage_user` and a counter `net_bytes_total`, each host in one of 4 regions
 * (1.73 M points). Both are loaded over HTTP (EMMS columnar JSON, VictoriaMetrics Influx line
 * protocol) and queried with the same expression, range and step, one query at a time.
 *
 *   npx tsx bench/promql_vs_victoriametrics.ts [iterations=20] [step=60]
 *
 * EMMS_CPU_PROF=DIR writes each EMMS server's CPU profile (node --cpu-prof) to DIR/<server> at its stop.
 * EMMS_BENCH_QUERIES=rate runs only the queries containing that text (to profile one alone).
 * EMMS_BENCH_BASE=DIR also runs the EMMS built in another checkout (e.g. `git archive HEAD`
 * unpacked and built): queried in the same rotation, run by run (the order reversed every
 * run), so a change is measured against the code before it under the same load.
 *
 * The machine has 2 cores shared by client, both servers and other work: figures are noisy;
 * the ratio is the number to read. The EMMS server's CPU time per query (all its threads, from
 * /proc) says what the answer costs whatever the load; latency on a loaded machine mostly
 * says how long the threads waited for a core. Its main thread's CPU per query is printed
 * apart: the HTTP exchange, the evaluator, the answer's JSON and the first share of a range
 * function's series all run there, so it is the part of the cost that no other core can take.
 */

import { mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tempDir } from '../tests/integration/server_harness.js';
import { processCpuSeconds, startServerProcess } from './load/server_process.js';
import { freePort, startPeer } from '../tests/integration/remote_write_peers.js';
import { mulberry32 } from './data_shapes.js';

const HOSTS = 100;
const INTERVAL_S = 10;
const DURATION_S = 24 * 3600;
/** 2026-01-01T00:00:00Z. */
const T0 = 1_767_225_600;
const iterations = Number(process.argv[2] ?? 20);
const stepS = Number(process.argv[3] ?? 60);

interface HostSeries {
  host: string;
  region: string;
  timestamps: number[];
  cpu: number[];
  bytes: number[];
}

function dataset(): HostSeries[] {
  const rand = mulberry32(7);
  const n = DURATION_S / INTERVAL_S;
  return Array.from({ length: HOSTS }, (_, h) => {
    const timestamps = Array.from({ length: n }, (_, k) => (T0 + k * INTERVAL_S) * 1000);
    let cpu = 30 + rand() * 40;
    let bytes = 0;
    return {
      host: `host_${h}`, region: `region_${h % 4}`, timestamps,
      cpu: timestamps.map(() => (cpu = Math.min(100, Math.max(0, Math.round((cpu + (rand() - 0.5) * 4) * 100) / 100)))),
      bytes: timestamps.map(() => (bytes += Math.floor(rand() * 10_000))),
    };
  });
}

async function loadEmms(base: string, auth: Record<string, string>, data: HostSeries[]): Promise<void> {
  for (let i = 0; i < data.length; i += 10) {
    const series = data.slice(i, i + 10).flatMap((d) => [
      { metric_id: 'cpu.usage_user', metric_type: 'gauge', tags: { host: d.host, region: d.region }, timestamps: d.timestamps, values: d.cpu },
      { metric_id: 'net.bytes_total', metric_type: 'counter', tags: { host: d.host, region: d.region }, timestamps: d.timestamps, values: d.bytes },
    ]);
    const r = await fetch(`${base}/api/v1/metrics`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ series }) });
    if (!r.ok) throw new Error(`EMMS ingest: ${r.status} ${await r.text()}`);
  }
}

async function loadVictoriaMetrics(base: string, data: HostSeries[]): Promise<void> {
  for (const d of data) {
    const lines = d.timestamps.map((t, k) => `cpu,host=${d.host},region=${d.region} usage_user=${d.cpu[k]} ${t}000000\nnet,host=${d.host},region=${d.region} bytes_total=${d.bytes[k]} ${t}000000`);
    const r = await fetch(`${base}/write`, { method: 'POST', body: lines.join('\n') });
    if (!r.ok) throw new Error(`VictoriaMetrics /write: ${r.status} ${await r.text()}`);
  }
  await fetch(`${base}/internal/force_flush`);
  // Its ingested rows become searchable a moment after the flush: wait until every point counts.
  const expected = HOSTS * (DURATION_S / INTERVAL_S);
  for (const deadline = Date.now() + 60_000; ;) {
    const r = await (await fetch(`${base}/api/v1/query?query=${encodeURIComponent('sum(count_over_time(cpu_usage_user[25h]))')}&time=${T0 + DURATION_S}`)).json() as any;
    if (Number(r.data?.result?.[0]?.value?.[1] ?? 0) >= expected) break;
    if (Date.now() > deadline) throw new Error(`VictoriaMetrics holds ${JSON.stringify(r.data?.result)} of ${expected} points after 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

interface Target {
  name: string;
  /** Where `/v1/query_range` is: EMMS serves the Prometheus API under /prometheus/api. */
  api: string;
  auth: Record<string, string>;
  pid: number;
  /** Whether the main thread's CPU is reported (EMMS: see mainThreadCpuSeconds). */
  mainThread: boolean;
}

type StartServer = typeof startServerProcess;

async function startEmms(name: string, dataDir: string, start: StartServer, profileDir: string | undefined): Promise<{ target: Target; base: string; stop: () => Promise<void> }> {
  mkdirSync(dataDir);
  const server = await start(dataDir, {}, [], profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, name)}`]);
  const auth = { authorization: `Bearer ${readFileSync(server.adminTokenFile, 'utf8').trim()}` };
  return { target: { name, api: `${server.base}/prometheus/api`, auth, pid: server.proc.pid!, mainThread: true }, base: server.base, stop: server.stop };
}

async function timeQuery(url: string, headers: Record<string, string>): Promise<{ ms: number; series: number; samples: number }> {
  const started = performance.now();
  const r = await fetch(url, { headers });
  const body = await r.json() as any;
  const ms = performance.now() - started;
  if (body.status !== 'success') throw new Error(`${url}: ${JSON.stringify(body).slice(0, 300)}`);
  return { ms, series: body.data.result.length, samples: body.data.result.reduce((n: number, s: any) => n + s.values.length, 0) };
}

/**
 * CPU seconds the process's main thread has run, from /proc/<pid>/task/<pid>/schedstat: in
 * nanoseconds, where /proc/<pid>/stat counts 10 ms ticks (a query takes a few of them).
 */
function mainThreadCpuSeconds(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function main(): Promise<void> {
  const tmp = tempDir('emms-promql-bench-');
  const vmPort = await freePort();
  const vm = await startPeer('victoria-metrics', ['-retentionPeriod=100y', `-storageDataPath=${join(tmp.dir, 'vm')}`, `-httpListenAddr=127.0.0.1:${vmPort}`, '-loggerLevel=ERROR', '-search.disableCache'], vmPort, '/health');
  const profileDir = process.env.EMMS_CPU_PROF;
  const baseCheckout = process.env.EMMS_BENCH_BASE;
  const servers: Array<{ target: Target; base: string; stop: () => Promise<void> }> = [];
  try {
    servers.push(await startEmms('emms', join(tmp.dir, 'emms'), startServerProcess, profileDir));
    if (baseCheckout !== undefined) {
      const other = (await import(pathToFileURL(join(baseCheckout, 'bench', 'load', 'server_process.ts')).href)) as { startServerProcess: StartServer };
      servers.push(await startEmms('emms-base', join(tmp.dir, 'emms-base'), other.startServerProcess, profileDir));
    }
    const data = dataset();
    for (const { target, base } of servers) {
      const t = performance.now();
      await loadEmms(base, target.auth, data);
      console.log(`loaded ${target.name} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    const t = performance.now();
    await loadVictoriaMetrics(vm.base, data);
    console.log(`loaded VictoriaMetrics in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const only = process.env.EMMS_BENCH_QUERIES;
    const queries = ['avg_over_time(cpu_usage_user[1h])', 'sum by (region) (rate(net_bytes_total[5m]))'].filter((q) => only === undefined || q.includes(only));
    const range = `start=${T0}&end=${T0 + DURATION_S}&step=${stepS}`;
    console.log(`\n24 h of ${HOSTS} hosts every ${INTERVAL_S} s, step ${stepS} s, ${iterations} runs each (median / p90 ms); 2 shared cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    console.log('| query | server | median | p90 | /VM (median) | server CPU ms/query | main thread CPU ms/query |');
    console.log('|---|---|---|---|---|---|---|');
    for (const q of queries) {
      const targets: Target[] = [...servers.map((s) => s.target), { name: 'victoria-metrics', api: `${vm.base}/api`, auth: {}, pid: vm.proc.pid!, mainThread: false }];
      const runs = new Map(targets.map((x) => [x.name, { ms: [] as number[], cpuSeconds: 0, mainThreadSeconds: 0, shape: '' }]));
      for (let i = 0; i < iterations + 2; i++) {
        // Every target once per run, the order reversed every other run, so load that drifts weighs on each alike.
        for (const target of i % 2 === 0 ? targets : [...targets].reverse()) {
          const cpuBefore = processCpuSeconds(target.pid);
          const mainBefore = target.mainThread ? mainThreadCpuSeconds(target.pid) : 0;
          const r = await timeQuery(`${target.api}/v1/query_range?query=${encodeURIComponent(q)}&${range}`, target.auth);
          const cpu = processCpuSeconds(target.pid) - cpuBefore;
          const mainThread = target.mainThread ? mainThreadCpuSeconds(target.pid) - mainBefore : 0;
          const m = runs.get(target.name)!;
          m.shape = `${r.series} series/${r.samples} samples`;
          // The first two runs warm each (JIT, page cache) and are not counted.
          if (i < 2) continue;
          m.ms.push(r.ms);
          m.cpuSeconds += cpu;
          m.mainThreadSeconds += mainThread;
        }
      }
      const vmMedian = percentile(runs.get('victoria-metrics')!.ms.sort((a, b) => a - b), 0.5);
      for (const target of targets) {
        const m = runs.get(target.name)!;
        const sorted = m.ms.sort((a, b) => a - b);
        const mainThread = target.mainThread ? (m.mainThreadSeconds * 1000 / iterations).toFixed(1) : '–';
        console.log(`| \`${q}\` | ${target.name} | ${percentile(sorted, 0.5).toFixed(1)} | ${percentile(sorted, 0.9).toFixed(1)} | ${(percentile(sorted, 0.5) / vmMedian).toFixed(2)}x | ${(m.cpuSeconds * 1000 / iterations).toFixed(1)} | ${mainThread} |`);
      }
      console.log(`  (${targets.map((x) => `${x.name} ${runs.get(x.name)!.shape}`).join(', ')})`);
    }
  } finally {
    for (const s of servers) await s.stop();
    await vm.kill();
    tmp.remove();
  }
}

await main();
