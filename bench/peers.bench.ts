/**
 * EMMS side by side with VictoriaMetrics (Debian's `victoria-metrics`) on the TSBS devops
 * workload (issue 16): 100 hosts × 10 metrics, 24 h at 10 s = 8.64 M points, fed by this one
 * Node process over 2 connections (VictoriaMetrics: Influx line protocol over HTTP, 10,000
 * points per request; EMMS: msgpack row frames of 10,000 points over its WebSocket stream, 4
 * in flight per connection). Then the hourly average over 24 h of one metric for every host
 * (100 series; VictoriaMetrics `query_range` with `nocache=1`, windows aligned to EMMS's
 * buckets so both answers hold the same numbers, which is checked):
 *   - fresh: 1 s after the last write was answered (median of 5 back-to-back runs), then once
 *     a second for 60 s (plotted to docs/perf/query_after_ingest.svg);
 *   - settled: VictoriaMetrics after /internal/force_flush + /internal/force_merge have
 *     finished, EMMS after /health shows no pending work and its storage figures stand still;
 *   - the same for all 1,000 series, settled;
 * and bytes/point of each data directory, settled and after a clean stop.
 *
 *   npm run bench:peers
 *   PEERS_HOURS=2 PEERS_SAMPLE_SECONDS=10 PEERS_ROUNDS=1 npm run bench:peers   # a quick look
 *
 * Installs nothing: without the `victoria-metrics` binary (`apt-get install victoria-metrics`)
 * it says so and exits non-zero. A packaged victoria-metrics service left running competes for
 * the cores: stop it first (`systemctl stop victoria-metrics`). EMMS runs from dist/ as
 * `npm start` does (run `npm run build:ts` after editing src/). One system runs at a time; a
 * round runs both, the second round in the other order.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServerProcess } from './load/server_process.js';
import { freePort, startPeer } from '../tests/integration/remote_write_peers.js';
import { PeersWorkload, POINTS_PER_REQUEST, CONNECTIONS } from './peers/workload.js';
import {
  compareAnswers, directoryBytes, emmsAnswer, emmsStorage, ingestEmms, ingestVm, settleEmms, settleVm, timedGet, vmAnswer,
  type AnswerCheck, type EmmsStorageState, type IngestResult,
} from './peers/clients.js';
import { median, renderComparisonTable, renderLatencySvg, type ComparisonRow, type LatencyLine } from './peers/report.js';

const HOURS = Number(process.env.PEERS_HOURS ?? 24);
const ROUNDS = Number(process.env.PEERS_ROUNDS ?? 2);
const SAMPLE_SECONDS = Number(process.env.PEERS_SAMPLE_SECONDS ?? 60);
const RUNS = Number(process.env.PEERS_QUERY_RUNS ?? 20);
const FULL = HOURS === 24 && SAMPLE_SECONDS === 60;
const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
const SVG_PATH = process.env.PEERS_SVG ?? (FULL ? join(REPO_ROOT, 'docs', 'perf', 'query_after_ingest.svg') : join(tmpdir(), 'emms_query_after_ingest.svg'));
const HOUR_MS = 3_600_000;
/** VictoriaMetrics' window (t − 1h, t] holds EMMS's bucket [t − 1h + 1 s, t + 1 s) at a 10 s interval. */
const VM_END_TO_START_MS = HOUR_MS - 1000;
/**
 * VictoriaMetrics saves its in-memory caches (series-id lookups) under `cache/` when it stops:
 * rebuilt from the data when missing, so they are not stored points. (With 720 k points they
 * were 6 of its 8 bytes/point after stop.)
 */
const VM_CACHE_DIRS = ['cache'];

type System = 'vm' | 'emms';

interface SystemRun {
  ingest: IngestResult;
  freshMs: number[];
  samples: Array<[number, number]>;
  settleSeconds: number;
  settled100Ms: number[];
  settled1000Ms: number[];
  bytesSettled: number;
  bytesStopped: number;
  fresh100: string;
  settled100: string;
  settled1000: string;
  /** EMMS only: the engine's own time (stats.elapsed_ms) and the msgpack answer's latency, settled. */
  engineMs?: number[];
  msgpackMs?: number[];
  storageAtEnd?: EmmsStorageState;
  storageSettled?: EmmsStorageState;
}

/** Stops of the servers running now: an interrupted run (Ctrl-C) must not leave them behind. */
const running = new Set<() => Promise<void>>();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`bench:peers: ${signal}, stopping the servers it started\n`);
    void Promise.allSettled([...running].map((stop) => stop())).then(() => process.exit(130));
  });
}

function findBinary(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

const sleepUntil = async (t: number): Promise<void> => {
  const wait = t - performance.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
};

/** Fresh runs at 1 s after ingest ended, then one query a second until SAMPLE_SECONDS. */
async function afterIngest(endedAt: number, url: string, headers: Record<string, string>): Promise<Pick<SystemRun, 'freshMs' | 'samples' | 'fresh100'>> {
  const samples: Array<[number, number]> = [];
  const freshMs: number[] = [];
  let fresh100 = '';
  await sleepUntil(endedAt + 1000);
  for (let i = 0; i < 5; i++) {
    const at = (performance.now() - endedAt) / 1000;
    const r = await timedGet(url, headers);
    if (i === 0) {
      fresh100 = r.body;
      samples.push([at, r.ms]);
    }
    freshMs.push(r.ms);
  }
  for (let s = 2; s <= SAMPLE_SECONDS; s++) {
    if (performance.now() > endedAt + s * 1000 + 500) continue;
    await sleepUntil(endedAt + s * 1000);
    const at = (performance.now() - endedAt) / 1000;
    samples.push([at, (await timedGet(url, headers)).ms]);
  }
  return { freshMs, samples, fresh100 };
}

async function timedRuns(url: string, headers: Record<string, string>, runs: number): Promise<{ ms: number[]; last: string }> {
  for (let i = 0; i < 3; i++) await timedGet(url, headers);
  const ms: number[] = [];
  let last = '';
  for (let i = 0; i < runs; i++) {
    const r = await timedGet(url, headers);
    ms.push(r.ms);
    last = r.body;
  }
  return { ms, last };
}

function checkIngest(system: string, ingest: IngestResult, work: PeersWorkload): void {
  if (ingest.points !== work.points) throw new Error(`${system} acknowledged ${ingest.points} points of ${work.points}`);
}

async function runVm(binary: string, work: PeersWorkload, bodies: Buffer[][]): Promise<SystemRun> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-peers-vm-'));
  const port = await freePort();
  const vm = await startPeer(binary, ['-retentionPeriod=100y', `-storageDataPath=${dir}`, `-httpListenAddr=127.0.0.1:${port}`, '-loggerLevel=ERROR'], port, '/health');
  running.add(vm.kill);
  try {
    const startS = (work.startMs + VM_END_TO_START_MS) / 1000;
    const endS = startS + (HOURS - 1) * 3600;
    const url = (q: string): string => `${vm.base}/api/v1/query_range?${new URLSearchParams({ query: q, start: String(startS), end: String(endS), step: '3600', nocache: '1' })}`;
    const q100 = url('avg_over_time(cpu_usage_user[1h])');
    const q1000 = url('avg_over_time({__name__=~"cpu_.*"}[1h]) keep_metric_names');
    const ingest = await ingestVm(vm.base, bodies, POINTS_PER_REQUEST);
    checkIngest('VictoriaMetrics', ingest, work);
    const fresh = await afterIngest(ingest.endedAt, q100, {});
    const settleSeconds = await settleVm(vm.base);
    const s100 = await timedRuns(q100, {}, RUNS);
    const s1000 = await timedRuns(q1000, {}, RUNS);
    const bytesSettled = directoryBytes(dir, VM_CACHE_DIRS);
    await vm.kill();
    return {
      ingest, ...fresh, settleSeconds, settled100Ms: s100.ms, settled1000Ms: s1000.ms, bytesSettled, bytesStopped: directoryBytes(dir, VM_CACHE_DIRS),
      settled100: s100.last, settled1000: s1000.last,
    };
  } finally {
    await vm.kill();
    running.delete(vm.kill);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function runEmms(work: PeersWorkload): Promise<SystemRun> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-peers-emms-'));
  const server = await startServerProcess(dir);
  running.add(server.stop);
  try {
    const headers = { authorization: `Bearer ${readFileSync(server.adminTokenFile, 'utf8').trim()}` };
    const url = (pattern: string): string => `${server.base}/api/v1/query?${new URLSearchParams({
      metric_pattern: pattern, aggregation: 'avg', interval: '1h', start_time: String(work.startMs), end_time: String(work.endMs),
    })}`;
    const q100 = url('cpu.usage_user');
    const q1000 = url('cpu.*');
    const ingest = await ingestEmms(server.wsUrl, headers, work);
    checkIngest('EMMS', ingest, work);
    const fresh = await afterIngest(ingest.endedAt, q100, headers);
    const storageAtEnd = await emmsStorage(server.base, headers);
    const settled = await settleEmms(server.base, headers);
    const s100 = await timedRuns(q100, headers, RUNS);
    const s1000 = await timedRuns(q1000, headers, RUNS);
    const engineMs: number[] = [];
    for (let i = 0; i < RUNS; i++) engineMs.push((JSON.parse((await timedGet(q100, headers)).body) as { stats: { elapsed_ms: number } }).stats.elapsed_ms);
    const msgpack = await timedRuns(q100, { ...headers, accept: 'application/x-msgpack' }, RUNS);
    const bytesSettled = directoryBytes(dir);
    await server.stop();
    return {
      ingest, ...fresh, settleSeconds: settled.seconds, settled100Ms: s100.ms, settled1000Ms: s1000.ms, bytesSettled, bytesStopped: directoryBytes(dir),
      settled100: s100.last, settled1000: s1000.last, engineMs, msgpackMs: msgpack.ms, storageAtEnd, storageSettled: settled.state,
    };
  } finally {
    await server.stop();
    running.delete(server.stop);
    rmSync(dir, { recursive: true, force: true });
  }
}

function describeCheck(c: AnswerCheck): string {
  return `${c.series} series, ${c.values} values compared, ${c.missing} missing, max relative difference ${c.maxRelativeDifference.toExponential(2)}`;
}

async function main(): Promise<void> {
  const binary = findBinary('victoria-metrics');
  if (binary === undefined) {
    process.stderr.write('bench:peers: the `victoria-metrics` binary is not on PATH; install it (`apt-get install victoria-metrics`) and run again. Nothing was measured.\n');
    process.exitCode = 2;
    return;
  }
  const cpu = cpus();
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, node ${process.version}; load average at start ${load}`);
  console.log(`the client (this process), the server under test and any other work share these ${cpu.length} cores; one server runs at a time`);
  const work = new PeersWorkload(HOURS);
  console.log(`workload: TSBS devops, ${work.hosts} hosts × 10 metrics, ${HOURS} h at 10 s = ${work.points.toLocaleString('en-US')} points; ` +
    `${CONNECTIONS} connections, ${POINTS_PER_REQUEST.toLocaleString('en-US')} points per request/frame; ${ROUNDS} round(s), ${RUNS} timed runs per settled query`);
  const bodies = Array.from({ length: CONNECTIONS }, (_, c) => work.lineProtocolBodies(c));
  const runs: Record<System, SystemRun[]> = { vm: [], emms: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const system of (round % 2 === 0 ? ['vm', 'emms'] : ['emms', 'vm']) as System[]) {
      const r = system === 'vm' ? await runVm(binary, work, bodies) : await runEmms(work);
      runs[system].push(r);
      console.log(`round ${round + 1} ${system}: ingest ${(r.ingest.pointsPerSecond / 1e6).toFixed(2)} M points/s (${r.ingest.seconds.toFixed(2)} s), ` +
        `fresh ${median(r.freshMs).toFixed(1)} ms, settled in ${r.settleSeconds.toFixed(1)} s, settled ${median(r.settled100Ms).toFixed(1)} ms, ` +
        `1,000 series ${median(r.settled1000Ms).toFixed(1)} ms, ${(r.bytesStopped / work.points).toFixed(3)} B/pt after stop`);
    }
  }
  const per = (system: System, f: (r: SystemRun) => number): number[] => runs[system].map(f);
  const both = (f: (r: SystemRun) => number): Pick<ComparisonRow, 'vm' | 'emms'> => ({ vm: per('vm', f), emms: per('emms', f) });
  const rows: ComparisonRow[] = [
    { label: 'ingest', unit: 'M points/s', ...both((r) => r.ingest.pointsPerSecond / 1e6), digits: 2, target: { sense: 'at-least', ratio: 1.25 } },
    { label: 'bytes/point after stop', unit: '', ...both((r) => r.bytesStopped / work.points), digits: 3, target: { sense: 'at-most', ratio: 0.9 } },
    { label: 'bytes/point settled, running', unit: '', ...both((r) => r.bytesSettled / work.points), digits: 3 },
    { label: '100 series, 1 s after ingest ends', unit: 'median ms', ...both((r) => median(r.freshMs)), digits: 1, target: { sense: 'at-most', ratio: 0.5 } },
    { label: '100 series, settled', unit: 'median ms', ...both((r) => median(r.settled100Ms)), digits: 1, target: { sense: 'at-most', ratio: 0.5 } },
    { label: '1,000 series, settled', unit: 'median ms', ...both((r) => median(r.settled1000Ms)), digits: 1, target: { sense: 'at-most', ratio: 0.5 } },
    { label: 'time to settle', unit: 's', ...both((r) => r.settleSeconds), digits: 1 },
  ];
  console.log(`\n${renderComparisonTable(rows)}\n`);
  console.log('figures are round 1 / round 2; the 100-series query is the hourly average over 24 h of cpu.usage_user for every host');
  let mismatch = false;
  runs.emms.forEach((e, i) => {
    const v = runs.vm[i]!;
    const checks: Array<[string, AnswerCheck]> = [
      ['EMMS vs VM, 100 series settled', compareAnswers(emmsAnswer(e.settled100), vmAnswer(v.settled100, VM_END_TO_START_MS))],
      ['EMMS vs VM, 1,000 series settled', compareAnswers(emmsAnswer(e.settled1000), vmAnswer(v.settled1000, VM_END_TO_START_MS))],
      ['EMMS fresh vs settled', compareAnswers(emmsAnswer(e.fresh100), emmsAnswer(e.settled100))],
      ['VM fresh vs settled', compareAnswers(vmAnswer(v.fresh100, VM_END_TO_START_MS), vmAnswer(v.settled100, VM_END_TO_START_MS))],
    ];
    for (const [name, c] of checks) {
      const ok = c.missing === 0 && c.maxRelativeDifference <= 1e-9;
      if (!ok && name.startsWith('EMMS vs VM')) mismatch = true;
      console.log(`round ${i + 1} answers, ${name}: ${describeCheck(c)}${ok ? '' : '  <-- differ'}`);
    }
    const s = e.storageAtEnd;
    if (s !== undefined) {
      console.log(`round ${i + 1} EMMS /health ${SAMPLE_SECONDS} s after ingest: head_points ${s.head_points}, wal_bytes ${s.wal_bytes}, chunks ${s.chunks}; ` +
        `settled: head_points ${e.storageSettled?.head_points}, wal_bytes ${e.storageSettled?.wal_bytes}, chunks ${e.storageSettled?.chunks}`);
    }
    console.log(`round ${i + 1} EMMS 100 series settled, median: engine (stats.elapsed_ms) ${median(e.engineMs ?? []).toFixed(2)} ms, ` +
      `JSON answer over HTTP ${median(e.settled100Ms).toFixed(2)} ms, msgpack answer (Accept: application/x-msgpack) ${median(e.msgpackMs ?? []).toFixed(2)} ms`);
  });
  const lines: LatencyLine[] = [];
  for (const [system, label, color] of [['vm', 'VictoriaMetrics', '#d62728'], ['emms', 'EMMS', '#1f77b4']] as const) {
    runs[system].forEach((r, i) => lines.push({ label: `${label}, round ${i + 1}`, color, dashed: i > 0, points: r.samples }));
  }
  mkdirSync(join(SVG_PATH, '..'), { recursive: true });
  writeFileSync(SVG_PATH, renderLatencySvg(lines, {
    title: `100-series hourly avg over ${HOURS} h, after ingesting ${(work.points / 1e6).toFixed(2)} M points (${cpu.length} shared cores)`,
  }));
  // The samples behind the plot, [seconds since ingest ended, ms], to redraw or compare later.
  const samplesPath = SVG_PATH.replace(/\.svg$/, '') + '.json';
  writeFileSync(samplesPath, JSON.stringify({ machine: `${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores`, hours: HOURS, lines: lines.map((l) => ({ label: l.label, points: l.points })) }) + '\n');
  console.log(`plot of query latency against time since ingest ended: ${SVG_PATH} (samples: ${samplesPath})`);
  console.log(`load average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  if (mismatch) {
    process.stderr.write('bench:peers: EMMS and VictoriaMetrics answered the same query differently (see above)\n');
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:peers: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
