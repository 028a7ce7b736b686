/**
 * Scale (issue 16, "100M+ metrics tested"): 103.68 M points through a running server, set
 * against the 8.64 M-point figures of `npm run bench:peers` measured in the same run.
 *
 * Workload: the TSBS devops workload of bench:peers (100 hosts × 10 metrics at 10 s, msgpack
 * row frames of 10,000 points over 2 WebSocket connections, 4 in flight each), 12 days
 * instead of one. The series stay the same 1,000, so the two sizes differ in the amount of data
 * alone (12× the chunks per series, a 12× larger database), and the standard queries mean the
 * same thing at both sizes; 1,000 hosts × 1 day (86.4 M) would instead change the series count
 * and what "100 series" selects. Day 1 of the large run is the small run's data point for
 * point (same generator and seed; later days continue each host's walk), so the day-1 answers
 * of both servers are checked to be equal.
 *
 *   1. small: a fresh `emms serve` (from dist/), 1 day (8.64 M points), settle, queries, stop;
 *   2. large: a fresh server, 12 days sent day after day without a pause, its VmRSS sampled
 *      every 250 ms from start to stop, settle, queries over the last day, then day 1, stop.
 * Both sizes are compared on their most recent day, queried first: later runs of a range may
 * be answered from rollups built in the background meanwhile (src/storage/rollup/), so the order is
 * the same on both servers.
 *
 * Figures: ingest points/s and server CPU per point; bytes/point of the data directory settled
 * (running) and after a clean stop; the hourly average over 24 h of cpu.usage_user for every
 * host (100 series, 864k points) 1 s after ingest ends and settled, and of all 1,000 series
 * settled (8.64 M points); resident memory. Targets: rate and bytes/point within 10 % of the
 * small run's, queries within 2×, RSS bounded.
 *
 *   npx tsx bench/scale.bench.ts                 # 12 days (~25 min with load average 15–30 from other work)
 *   SCALE_DAYS=3 npx tsx bench/scale.bench.ts    # a quick look (EMMS_BENCH_QUICK=1: 2 days)
 *
 * The client, the server and anything else running share the machine's cores: read the
 * ratios, which are measured minutes apart in one run, rather than the absolute figures.
 */
import { mkdtempSync, readFileSync, rmSync, statfsSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { processCpuSeconds, processRssBytes, startServerProcess } from './load/server_process.js';
import { PeersWorkload } from './peers/workload.js';
import { compareAnswers, directoryBytes, emmsAnswer, ingestEmms, settleEmms, timedGet, type IngestResult } from './peers/clients.js';
import { median } from './peers/report.js';
import { TsbsDevopsGenerator } from './workload/tsbs_devops.js';

const QUICK = process.env.EMMS_BENCH_QUICK === '1';
const DAYS = Number(process.env.SCALE_DAYS ?? (QUICK ? 2 : 12));
const RUNS = Number(process.env.SCALE_QUERY_RUNS ?? 20);
const DAY_MS = 86_400_000;
const RSS_SAMPLE_MS = 250;
/**
 * Free space asked of the temporary directory before starting: the running server's directory
 * measured ~10 B/pt at 8.64 M points (bench:peers, mostly SQLite's -wal file, a fixed size), so
 * 4 B/pt of the large run plus 2 GiB is ample and fails early rather than mid-run.
 */
const BYTES_PER_POINT_RESERVE = 4;

interface Queries {
  /** Hourly avg over one day of cpu.usage_user for every host (100 series). */
  q100: string;
  /** The same for all 1,000 series (`cpu.*`). */
  q1000: string;
}

interface ServerRun {
  days: number;
  points: number;
  ingest: IngestResult;
  /** Each day's own ingest rate, points/s. */
  dayRates: number[];
  /** The server's VmRSS as each day's last frame was acknowledged. */
  dayEndRss: number[];
  /** Server CPU seconds (all threads) spent while ingest ran. */
  ingestCpuSeconds: number;
  /** Over the most recent day, 1 s after ingest ended: 5 runs. */
  freshMs: number[];
  settleSeconds: number;
  firstDay: { q100Ms: number[]; q1000Ms: number[]; engineMs: number[]; body100: string; body1000: string };
  lastDay: { q100Ms: number[]; q1000Ms: number[]; engineMs: number[] };
  bytesSettled: number;
  bytesStopped: number;
  rss: { peakIngest: number; endIngest: number; settled: number; peak: number };
}

function queriesFor(base: string, dayStartMs: number): Queries {
  const url = (pattern: string): string => `${base}/api/v1/query?${new URLSearchParams({
    metric_pattern: pattern, aggregation: 'avg', interval: '1h', start_time: String(dayStartMs), end_time: String(dayStartMs + DAY_MS),
  })}`;
  return { q100: url('cpu.usage_user'), q1000: url('cpu.*') };
}

async function timedRuns(url: string, headers: Record<string, string>, runs: number): Promise<{ ms: number[]; engineMs: number[]; body: string }> {
  for (let i = 0; i < 3; i++) await timedGet(url, headers);
  const ms: number[] = [];
  const engineMs: number[] = [];
  let body = '';
  for (let i = 0; i < runs; i++) {
    const r = await timedGet(url, headers);
    ms.push(r.ms);
    engineMs.push((JSON.parse(r.body) as { stats: { elapsed_ms: number } }).stats.elapsed_ms);
    body = r.body;
  }
  return { ms, engineMs, body };
}

/** The 1,000 × `days` × 8,640 points of the workload, one PeersWorkload per day, drawn before any server starts. */
function drawDays(days: number): PeersWorkload[] {
  const gen = new TsbsDevopsGenerator({ hosts: 100, seed: 1 });
  return Array.from({ length: days }, () => new PeersWorkload(24, 100, gen));
}

async function runServer(days: readonly PeersWorkload[]): Promise<ServerRun> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-bench-scale-'));
  const server = await startServerProcess(dir);
  const pid = server.proc.pid!;
  let rssNow = processRssBytes(pid);
  let peak = rssNow;
  const sampler = setInterval(() => {
    try {
      rssNow = processRssBytes(pid);
      peak = Math.max(peak, rssNow);
    } catch {
      // The server exited (the run fails below on its next request).
    }
  }, RSS_SAMPLE_MS);
  try {
    const headers = { authorization: `Bearer ${readFileSync(server.adminTokenFile, 'utf8').trim()}` };
    const points = days.reduce((n, d) => n + d.points, 0);
    const dayRates: number[] = [];
    const dayEndRss: number[] = [];
    const cpuBefore = processCpuSeconds(pid);
    const started = performance.now();
    let acked = 0;
    let endedAt = started;
    for (const day of days) {
      const r = await ingestEmms(server.wsUrl, headers, day);
      if (r.points !== day.points) throw new Error(`the server acknowledged ${r.points} of day ${dayRates.length + 1}'s ${day.points} points`);
      dayRates.push(r.pointsPerSecond);
      dayEndRss.push(processRssBytes(pid));
      acked += r.points;
      endedAt = r.endedAt;
    }
    const seconds = (endedAt - started) / 1000;
    const ingest: IngestResult = { points: acked, seconds, pointsPerSecond: acked / seconds, endedAt };
    const ingestCpuSeconds = processCpuSeconds(pid) - cpuBefore;
    const rss = { peakIngest: peak, endIngest: rssNow, settled: 0, peak: 0 };

    const first = queriesFor(server.base, days[0]!.startMs);
    const last = queriesFor(server.base, days[days.length - 1]!.startMs);
    const wait = endedAt + 1000 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const freshMs: number[] = [];
    for (let i = 0; i < 5; i++) freshMs.push((await timedGet(last.q100, headers)).ms);
    const settled = await settleEmms(server.base, headers);
    rss.settled = rssNow;
    // The most recent day first, on both servers, so the two sizes are compared in the same
    // state: the first queries of a range decode chunks, and rollups built meanwhile in the
    // background (src/storage/rollup/) answer later ones. Day 1 follows (on the small server it is the
    // same day, queried a second time).
    const l100 = await timedRuns(last.q100, headers, RUNS);
    const l1000 = await timedRuns(last.q1000, headers, RUNS);
    const f100 = await timedRuns(first.q100, headers, RUNS);
    const f1000 = await timedRuns(first.q1000, headers, RUNS);
    const bytesSettled = directoryBytes(dir);
    rss.peak = peak;
    await server.stop();
    return {
      days: days.length, points, ingest, dayRates, dayEndRss, ingestCpuSeconds, freshMs, settleSeconds: settled.seconds,
      firstDay: { q100Ms: f100.ms, q1000Ms: f1000.ms, engineMs: f100.engineMs, body100: f100.body, body1000: f1000.body },
      lastDay: { q100Ms: l100.ms, q1000Ms: l1000.ms, engineMs: l100.engineMs },
      bytesSettled, bytesStopped: directoryBytes(dir), rss,
    };
  } finally {
    clearInterval(sampler);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const mib = (b: number): string => `${(b / 2 ** 20).toFixed(0)} MiB`;
const m = (v: number[]): number => median(v);

async function main(): Promise<void> {
  if (!Number.isInteger(DAYS) || DAYS < 2) throw new Error(`SCALE_DAYS must be an integer ≥ 2; got ${process.env.SCALE_DAYS}`);
  const largePoints = DAYS * 8_640_000;
  const fs = statfsSync(tmpdir());
  const free = fs.bavail * fs.bsize;
  const needed = largePoints * BYTES_PER_POINT_RESERVE + 2 * 2 ** 30;
  if (free < needed) throw new Error(`${tmpdir()} has ${mib(free)} free; this run needs about ${mib(needed)} (${DAYS} days)`);
  const cpu = cpus();
  console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, node ${process.version}; load average at start ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`${tmpdir()}: ${mib(free)} free; the client (this process), the server and any other work share the ${cpu.length} cores`);

  const days = drawDays(DAYS);
  console.log(`workload: TSBS devops, 100 hosts × 10 metrics at 10 s; small = day 1 (${days[0]!.points.toLocaleString('en-US')} points), large = ${DAYS} days (${largePoints.toLocaleString('en-US')} points)`);
  const small = await runServer(days.slice(0, 1));
  console.log(`small done (load average ${loadavg()[0]!.toFixed(2)})`);
  const large = await runServer(days);
  console.log(`large done (load average ${loadavg()[0]!.toFixed(2)})`);

  const day1 = compareAnswers(emmsAnswer(large.firstDay.body100), emmsAnswer(small.firstDay.body100));
  const day1All = compareAnswers(emmsAnswer(large.firstDay.body1000), emmsAnswer(small.firstDay.body1000));
  const rows: Array<[string, string, string, string, string]> = [];
  /** A row; `target`: the largest (at-most) or smallest (at-least) ratio large / small allowed. */
  const row = (what: string, s: number, l: number, digits: number, target?: { sense: 'at-most' | 'at-least'; ratio: number }): void => {
    const ratio = l / s;
    const met = target === undefined ? '' : (target.sense === 'at-most' ? ratio <= target.ratio : ratio >= target.ratio) ? ' (met)' : ' (NOT met)';
    const goal = target === undefined ? '' : `${target.sense === 'at-most' ? '≤' : '≥'} ${target.ratio}×${met}`;
    rows.push([what, s.toFixed(digits), l.toFixed(digits), `${ratio.toFixed(2)}×`, goal]);
  };
  const within10 = { sense: 'at-most', ratio: 1.1 } as const;
  const within2x = { sense: 'at-most', ratio: 2 } as const;
  row('ingest, M points/s (whole run)', small.ingest.pointsPerSecond / 1e6, large.ingest.pointsPerSecond / 1e6, 2, { sense: 'at-least', ratio: 0.9 });
  row('ingest, M points/s (its last day)', small.dayRates.at(-1)! / 1e6, large.dayRates.at(-1)! / 1e6, 2);
  row('server CPU µs per point (all threads)', (small.ingestCpuSeconds / small.points) * 1e6, (large.ingestCpuSeconds / large.points) * 1e6, 3);
  row('bytes/point after stop', small.bytesStopped / small.points, large.bytesStopped / large.points, 3, within10);
  row('bytes/point settled, running', small.bytesSettled / small.points, large.bytesSettled / large.points, 3);
  row('100 series × 24 h (latest day), 1 s after ingest, median ms', m(small.freshMs), m(large.freshMs), 1, within2x);
  row('100 series × 24 h (latest day), settled, median ms', m(small.lastDay.q100Ms), m(large.lastDay.q100Ms), 1, within2x);
  row('  engine time (stats.elapsed_ms), median ms', m(small.lastDay.engineMs), m(large.lastDay.engineMs), 2);
  row('1,000 series × 24 h (latest day), settled, median ms', m(small.lastDay.q1000Ms), m(large.lastDay.q1000Ms), 1, within2x);
  row('100 series × 24 h, day 1 (small: 2nd pass), median ms', m(small.firstDay.q100Ms), m(large.firstDay.q100Ms), 1);
  row('  engine time, day 1, median ms', m(small.firstDay.engineMs), m(large.firstDay.engineMs), 2);
  row('1,000 series × 24 h, day 1 (small: 2nd pass), median ms', m(small.firstDay.q1000Ms), m(large.firstDay.q1000Ms), 1);
  row('server VmRSS peak during ingest, MiB', small.rss.peakIngest / 2 ** 20, large.rss.peakIngest / 2 ** 20, 0);
  row('server VmRSS at the end of ingest, MiB', small.rss.endIngest / 2 ** 20, large.rss.endIngest / 2 ** 20, 0);
  row('server VmRSS settled, MiB', small.rss.settled / 2 ** 20, large.rss.settled / 2 ** 20, 0);
  row('server VmRSS peak, whole run (queries included), MiB', small.rss.peak / 2 ** 20, large.rss.peak / 2 ** 20, 0);
  row('time to settle, s', small.settleSeconds, large.settleSeconds, 1);

  const header: [string, string, string, string, string] = ['', `1 day, ${(small.points / 1e6).toFixed(2)} M`, `${DAYS} days, ${(large.points / 1e6).toFixed(2)} M`, 'large / small', 'target'];
  const table = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
  console.log('');
  for (const r of table) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '));
  console.log(`\nlarge run, ingest rate by day, M points/s: ${large.dayRates.map((r) => (r / 1e6).toFixed(2)).join(' ')}`);
  console.log(`large run, server VmRSS at the end of each day, MiB: ${large.dayEndRss.map((b) => (b / 2 ** 20).toFixed(0)).join(' ')}`);
  console.log(`day-1 answers of the two servers: 100 series ${day1.values} values, ${day1.missing} missing, max relative difference ${day1.maxRelativeDifference.toExponential(2)}; ` +
    `1,000 series ${day1All.values} values, ${day1All.missing} missing, max relative difference ${day1All.maxRelativeDifference.toExponential(2)}`);
  console.log(`load average at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  if (day1.missing > 0 || day1All.missing > 0 || !(day1.maxRelativeDifference <= 1e-12) || !(day1All.maxRelativeDifference <= 1e-12)) {
    process.stderr.write('scale: the two servers answered the day-1 queries differently (see above)\n');
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`scale: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
