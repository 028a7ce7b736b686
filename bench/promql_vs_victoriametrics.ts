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
 * EMMS_CPU_PROF=DIR writes the EMMS server's CPU profile (node --cpu-prof) to DIR at its stop.
 * EMMS_BENCH_QUERIES=rate runs only the queries containing that text (to profile one alone).
 *
 * The machine has 2 cores shared by client, both servers and other work: figures are noisy;
 * the ratio is the number to read. The EMMS server's CPU time per query (all its threads, from
 * /proc) says what the answer costs whatever the load; latency on a loaded machine mostly
 * says how long the threads waited for a core.
 */

import { mkdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
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

async function timeQuery(url: string, headers: Record<string, string>): Promise<{ ms: number; series: number; samples: number }> {
  const started = performance.now();
  const r = await fetch(url, { headers });
  const body = await r.json() as any;
  const ms = performance.now() - started;
  if (body.status !== 'success') throw new Error(`${url}: ${JSON.stringify(body).slice(0, 300)}`);
  return { ms, series: body.data.result.length, samples: body.data.result.reduce((n: number, s: any) => n + s.values.length, 0) };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function main(): Promise<void> {
  const tmp = tempDir('emms-promql-bench-');
  const vmPort = await freePort();
  const vm = await startPeer('victoria-metrics', ['-retentionPeriod=100y', `-storageDataPath=${join(tmp.dir, 'vm')}`, `-httpListenAddr=127.0.0.1:${vmPort}`, '-loggerLevel=ERROR', '-search.disableCache'], vmPort, '/health');
  mkdirSync(join(tmp.dir, 'emms'));
  const profileDir = process.env.EMMS_CPU_PROF;
  const server = await startServerProcess(join(tmp.dir, 'emms'), {}, [], profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]);
  const emms = { base: server.base, auth: { authorization: `Bearer ${readFileSync(server.adminTokenFile, 'utf8').trim()}` } };
  try {
    const data = dataset();
    let t = performance.now();
    await loadEmms(emms.base, emms.auth, data);
    console.log(`loaded EMMS in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    t = performance.now();
    await loadVictoriaMetrics(vm.base, data);
    console.log(`loaded VictoriaMetrics in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const only = process.env.EMMS_BENCH_QUERIES;
    const queries = ['avg_over_time(cpu_usage_user[1h])', 'sum by (region) (rate(net_bytes_total[5m]))'].filter((q) => only === undefined || q.includes(only));
    const range = `start=${T0}&end=${T0 + DURATION_S}&step=${stepS}`;
    console.log(`\n24 h of ${HOSTS} hosts every ${INTERVAL_S} s, step ${stepS} s, ${iterations} runs each (median / p90 ms); 2 shared cores, load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    console.log('| query | EMMS median | EMMS p90 | VM median | VM p90 | EMMS/VM (median) | EMMS server CPU ms/query |');
    console.log('|---|---|---|---|---|---|---|');
    for (const q of queries) {
      const runs = { emms: [] as number[], vm: [] as number[] };
      let emmsCpuSeconds = 0;
      let shape = '';
      for (let i = 0; i < iterations + 2; i++) {
        const cpuBefore = processCpuSeconds(server.proc.pid!);
        const e = await timeQuery(`${emms.base}/prometheus/api/v1/query_range?query=${encodeURIComponent(q)}&${range}`, emms.auth);
        const cpu = processCpuSeconds(server.proc.pid!) - cpuBefore;
        const v = await timeQuery(`${vm.base}/api/v1/query_range?query=${encodeURIComponent(q)}&${range}`, {});
        shape = `EMMS ${e.series} series/${e.samples} samples, VM ${v.series}/${v.samples}`;
        // The first two runs warm both (JIT, page cache) and are not counted.
        if (i < 2) continue;
        runs.emms.push(e.ms);
        emmsCpuSeconds += cpu;
        runs.vm.push(v.ms);
      }
      const es = runs.emms.sort((a, b) => a - b);
      const vs = runs.vm.sort((a, b) => a - b);
      console.log(`| \`${q}\` | ${percentile(es, 0.5).toFixed(1)} | ${percentile(es, 0.9).toFixed(1)} | ${percentile(vs, 0.5).toFixed(1)} | ${percentile(vs, 0.9).toFixed(1)} | ${(percentile(es, 0.5) / percentile(vs, 0.5)).toFixed(2)}x | ${(emmsCpuSeconds * 1000 / iterations).toFixed(1)} |`);
      console.log(`  (${shape})`);
    }
  } finally {
    await server.stop();
    await vm.kill();
    tmp.remove();
  }
}

await main();
