/**
 * End-to-end ingest through `emms serve`: a real server process and a separate load-generator
 * process (bench/load/ingest_load.ts) on the same machine. Measures, with durable acks:
 *   1. row form (TSBS devops, one tick of 1,000 points per frame), maximum points/s;
 *   2. columnar form (100 points per series per frame, float64 bin), maximum points/s;
 *   3. ack latency p50/p99 at half the row-form maximum;
 *   4. server RSS while a client sends without ever reading its acks;
 *   5. baseline: row form with decoding on the main thread (no decode worker).
 *
 *   npx tsx bench/server_ingest.bench.ts            # ~10 s per scenario
 *   EMMS_BENCH_QUICK=1 npx tsx bench/server_ingest.bench.ts   # ~3 s per scenario
 *
 * Client and server share the machine's cores, so every figure is "server + client on N cores".
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { processCpuSeconds as cpuSeconds, processRssBytes as rssBytes, runLoadGenerator, startServerProcess, type LoadResult } from './load/server_process.js';


const QUICK = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');
const SECONDS = QUICK ? 3 : 10;

/**
 * Each scenario writes its own later time range (the server keeps the same series across
 * scenarios), so no scenario rewrites another's timestamps: live data moves forward.
 */
const SCENARIO_SPACING_MS = 50 * 86_400_000;
let scenarioIndex = 0;
const nextStart = (): string[] => ['--start-ms', String(Date.UTC(2026, 0, 1) + scenarioIndex++ * SCENARIO_SPACING_MS)];
const latency = (r: LoadResult): string => `${r.ackP50Ms.toFixed(1)} / ${r.ackP99Ms.toFixed(1)} ms (steady ${r.steadyAckP50Ms.toFixed(1)} / ${r.steadyAckP99Ms.toFixed(1)})`;

/** Cumulative counts of the server's own ingest-to-ack histogram (GET /metrics), by bucket bound in seconds. */
async function serverAckHistogram(base: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^emms_ingest_ack_seconds_bucket\{le="([^"]+)"\} (\S+)$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

/**
 * Share of frames the server acknowledged within 50 ms of receiving them, between two scrapes:
 * the server's side of the latency, without the client's own delays and the network.
 */
function serverShareWithin50ms(before: Map<string, number>, after: Map<string, number>): string {
  const total = (after.get('+Inf') ?? 0) - (before.get('+Inf') ?? 0);
  const within = (after.get('0.05') ?? 0) - (before.get('0.05') ?? 0);
  return total > 0 ? `${((within / total) * 100).toFixed(2)}%` : '-';
}

const mib = (b: number): string => `${(b / 1024 / 1024).toFixed(0)} MiB`;
const rate = (r: number): string => `${(r / 1e6).toFixed(3)} M/s`;
/**
 * Acked points per CPU second of the server process (all threads): the efficiency figure, much
 * steadier than points/s when other work shares the cores.
 */
const perCpu = (points: number, cpuSeconds: number): string => `${(points / cpuSeconds / 1e6).toFixed(2)} M`;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-bench-ingest-'));
  const rows: string[][] = [];
  let rowMaxRate = 0;
  try {
    const server = await startServerProcess(dir);
    const common = ['--url', server.wsUrl, '--seconds', String(SECONDS), '--token-file', server.adminTokenFile];
    try {
      const pid = server.proc.pid!;
      const measured = async (args: string[]): Promise<LoadResult & { serverCpu: number }> => {
        const before = cpuSeconds(pid);
        const r = await runLoadGenerator([...args, ...nextStart()]);
        return { ...r, serverCpu: cpuSeconds(pid) - before };
      };
      const rowMax = await measured([...common, '--form', 'rows', '--connections', '8', '--window', '16']);
      rowMaxRate = rowMax.pointsPerSecond;
      rows.push(['row form, max rate', rate(rowMax.pointsPerSecond), latency(rowMax), `${rowMax.serverCpu.toFixed(1)} / ${rowMax.clientCpuSeconds.toFixed(1)} s`, perCpu(rowMax.points, rowMax.serverCpu), '≥ 1 M/s']);
      const colMax = await measured([...common, '--form', 'columns', '--connections', '4', '--window', '8', '--ticks', '100']);
      rows.push(['columnar (100 pts/series/frame), max rate', rate(colMax.pointsPerSecond), latency(colMax), `${colMax.serverCpu.toFixed(1)} / ${colMax.clientCpuSeconds.toFixed(1)} s`, perCpu(colMax.points, colMax.serverCpu), '≥ 3 M/s']);
      const half = Math.round(rowMax.pointsPerSecond / 2);
      const histBefore = await serverAckHistogram(server.base);
      const rowHalf = await measured([...common, '--form', 'rows', '--connections', '4', '--window', '64', '--rate', String(half)]);
      const halfShare = serverShareWithin50ms(histBefore, await serverAckHistogram(server.base));
      rows.push([`row form at half max (${rate(half)})`, rate(rowHalf.pointsPerSecond), `${latency(rowHalf)}; server ≤ 50 ms: ${halfShare}`, `${rowHalf.serverCpu.toFixed(1)} / ${rowHalf.clientCpuSeconds.toFixed(1)} s`, perCpu(rowHalf.points, rowHalf.serverCpu), 'p99 ≤ 50 ms']);

      // A client that never reads its acks: sample the server's RSS while it sends.
      const before = rssBytes(pid);
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, rssBytes(pid));
      }, 100);
      const deaf = await runLoadGenerator([...common, '--form', 'rows', '--connections', '1', '--never-read', ...nextStart()]);
      clearInterval(sampler);
      rows.push(['client never reading acks', `RSS ${mib(before)} → peak ${mib(peak)}`, deaf.closedEarly.join('; ') || 'not closed', `- / ${deaf.clientCpuSeconds.toFixed(1)} s`, '-', 'bounded RSS']);
    } finally {
      await server.stop();
    }
    // The half-rate latency above follows two max-rate scenarios whose deferred checkpoint and
    // compaction still run; a fresh server shows the latency without that backlog. Both are
    // real: the first is a server catching up, the second one in steady state.
    const freshDir = join(dir, 'fresh-half-rate');
    mkdirSync(freshDir);
    const fresh = await startServerProcess(freshDir);
    try {
      const half = Math.round(rowMaxRate / 2);
      const before = cpuSeconds(fresh.proc.pid!);
      const histBefore = await serverAckHistogram(fresh.base);
      const r = await runLoadGenerator(['--url', fresh.wsUrl, '--token-file', fresh.adminTokenFile, '--seconds', String(SECONDS), '--form', 'rows', '--connections', '4', '--window', '64', '--rate', String(half)]);
      const freshShare = serverShareWithin50ms(histBefore, await serverAckHistogram(fresh.base));
      const serverCpu = cpuSeconds(fresh.proc.pid!) - before;
      rows.push([`row form at half max (${rate(half)}), fresh server`, rate(r.pointsPerSecond), `${latency(r)}; server ≤ 50 ms: ${freshShare}`, `${serverCpu.toFixed(1)} / ${r.clientCpuSeconds.toFixed(1)} s`, perCpu(r.points, serverCpu), 'p99 ≤ 50 ms']);
    } finally {
      await fresh.stop();
    }
    // Baseline for the threading design: the same row-form load with decoding on the main
    // thread (collector.decode_threads = 0), i.e. one thread doing every per-point step.
    const baselineDir = join(dir, 'single-thread');
    mkdirSync(baselineDir);
    const single = await startServerProcess(baselineDir, { EMMS_DECODE_THREADS: '0' });
    try {
      const before = cpuSeconds(single.proc.pid!);
      const r = await runLoadGenerator(['--url', single.wsUrl, '--token-file', single.adminTokenFile, '--seconds', String(SECONDS), '--form', 'rows', '--connections', '8', '--window', '16']);
      const serverCpu = cpuSeconds(single.proc.pid!) - before;
      rows.push(['row form, max rate, decoding on the main thread', rate(r.pointsPerSecond), latency(r), `${serverCpu.toFixed(1)} / ${r.clientCpuSeconds.toFixed(1)} s`, perCpu(r.points, serverCpu), 'baseline']);
    } finally {
      await single.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const cpu = cpus();
  process.stdout.write(`\nEMMS server ingest (durable acks), ${QUICK ? 'quick' : 'full'} run, ${SECONDS} s per scenario\n`);
  process.stdout.write(`machine: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores, Node ${process.version}\n`);
  process.stdout.write('NOTE: the load generator runs on the same machine; client and server share these cores.\n\n');
  process.stdout.write(`CPU columns: seconds used by the server process (all threads) / by the load generator, during the ${SECONDS} s run;\n`);
  process.stdout.write('pts/server CPU s: acked points per CPU second of the server (the figure to compare on a busy machine).\n');
  process.stdout.write('server ≤ 50 ms: share of frames the server acknowledged within 50 ms of receiving them (its emms_ingest_ack_seconds histogram).\n');
  process.stdout.write('Workload: TSBS devops, each connection an agent for its own 100 hosts (1,000 series), in time order.\n\n');
  const header = ['scenario', 'acked points/s', 'ack p50 / p99 (steady: after the 1st s)', 'CPU server / client', 'pts/server CPU s', 'target'];
  const table = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  for (const r of table) process.stdout.write(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ') + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
