/**
 * A fresh server's first second (issue 16): ack latency of a server started on an empty data
 * directory and streamed to at half its maximum rate from the moment it listens.
 *
 *   npx tsx bench/fresh_server_acks.bench.ts [--max-rate POINTS_PER_S] [--seconds 10] [--rounds 3]
 *     [--cpu-prof DIR] [--loop-delay] [--compare DIST_DIR]
 *
 * Each round starts a new `emms serve` (from dist/, as `npm start` does) on an empty directory,
 * times it from spawn to its "listening" line (the start-up time), and at once runs the load
 * generator: row form, 4 connections of 100 hosts (4,000 series created during the run), 64
 * frames in flight, at half the maximum row-form rate (measured for 4 s on a scratch server
 * unless `--max-rate` gives it). Prints ack latency p50/p99/max over the whole run and over
 * frames sent in its first second. Target: overall p99 ≤ 50 ms, first second included. The load
 * generator and the server share the machine's cores.
 *
 * Also the server's minor page faults (first touches of memory) in the first second and per
 * second after it: a count that CPU contention does not change. On the Firecracker VM these
 * figures come from a first touch costs ~40 µs (measured when the decode buffers were warmed), so faults ×
 * 40 µs is the part of the first second spent growing into memory.
 *
 * And the server main thread's CPU time (/proc, 10 ms ticks): in the first second of load, per
 * second after it, and for the first 400 acks and the next 400. The last two measure the same
 * work on any machine: when other processes hold the cores, latency and the first second's
 * figures mostly show the machine, these still show what the server spent on its first frames.
 *
 * `--compare DIST_DIR` alternates the rounds between this checkout's dist/ and another build's
 * (EMMS_BENCH_DIST, bench/load/built_server.ts), in the order A B B A A B…, so a before/after
 * pair shares the machine's load; each round's line names its build.
 *
 * `--loop-delay` also prints the server's event-loop stalls over 20 ms in the first second of
 * load (bench/load/loop_delay.ts); with `--cpu-prof` the profile names what held the loop.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runLoadGenerator, startServerProcess } from './load/server_process.js';
import { measureMaxRowRate } from './load/max_rate.js';
import { acksSentBetween, describe, readAckLog, summarize } from './load/latency_stats.js';
import { loopDelayProbe, type LoopDelayProbe } from './load/loop_delay.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const SECONDS = Number(arg('seconds') ?? 10);
const ROUNDS = Number(arg('rounds') ?? 3);
const CPU_PROF = arg('cpu-prof');
const GIVEN_MAX = arg('max-rate');
const LOOP_DELAY = process.argv.includes('--loop-delay');
const COMPARE = arg('compare');

/** The build of round `round` under --compare: A B B A, then again, so neither goes first always. */
function buildOf(round: number): string | undefined {
  if (COMPARE === undefined) return undefined;
  return (round % 4 === 0 || round % 4 === 3) ? undefined : COMPARE;
}

const FAULT_SAMPLE_MS = 50;
/** Frames (of 1,000 points) whose main-thread CPU is compared: the 4,000 series are created in the first ones. */
const FRAMES_OF_WORK = 400;

/** Minor page faults of process `pid` so far (all threads), from /proc/<pid>/stat. */
function minorFaults(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 10 of stat (minflt) is at 7 after the command name.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

/**
 * CPU milliseconds (user + system) of the server's main thread (its task id is the pid): the
 * thread that commits and acknowledges. Unlike latency, its first second's figure barely
 * moves with the machine's load, so it shows what the warm-up saved when other work holds
 * the cores (10 ms resolution: clock ticks).
 */
function mainThreadCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
  // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-bench-fresh-'));
  const lines: string[] = [];
  /** Per build (under --compare), each round's [overall p99, first-second p99, main-thread CPU ms of the first FRAMES_OF_WORK acks]. */
  const byBuild = new Map<string, Array<[number, number, number]>>();
  try {
    let maxRate: number;
    if (GIVEN_MAX !== undefined) maxRate = Number(GIVEN_MAX);
    else {
      mkdirSync(join(dir, 'scratch'));
      maxRate = await measureMaxRowRate(join(dir, 'scratch'));
    }
    const half = Math.round(maxRate / 2);
    for (let round = 0; round < ROUNDS; round++) {
      const data = join(dir, `round-${round}`);
      mkdirSync(data);
      const nodeArgs = CPU_PROF === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(CPU_PROF, `round-${round}`)}`];
      const probe: LoopDelayProbe | undefined = LOOP_DELAY ? loopDelayProbe(join(dir, `loop-delay-${round}.json`)) : undefined;
      const build = buildOf(round);
      if (build === undefined) delete process.env.EMMS_BENCH_DIST;
      else process.env.EMMS_BENCH_DIST = build;
      const spawned = performance.now();
      const server = await startServerProcess(data, probe?.env ?? {}, [], [...nodeArgs, ...(probe?.nodeArgs ?? [])]);
      let firstSecondFrom = NaN;
      const startupMs = performance.now() - spawned;
      try {
        const log = join(dir, `acks-${round}.csv`);
        const pid = server.proc.pid!;
        const faultsAtListen = minorFaults(pid);
        // [epoch ms, faults so far, main-thread CPU ms so far], lined up with the first frame's send time afterwards.
        const faultSamples: Array<[number, number, number]> = [];
        const sampler = setInterval(() => faultSamples.push([Date.now(), minorFaults(pid), mainThreadCpuMs(pid)]), FAULT_SAMPLE_MS);
        const r = await runLoadGenerator([
          '--url', server.wsUrl, '--token-file', server.adminTokenFile, '--seconds', String(SECONDS), '--form', 'rows',
          '--connections', '4', '--window', '64', '--rate', String(half), '--latency-log', log,
        ]);
        clearInterval(sampler);
        const acks = readAckLog(log);
        const first = Math.min(...acks.map((a) => a.sentEpochMs));
        firstSecondFrom = first;
        const overall = summarize(acks.map((a) => a.latencyMs));
        const firstSecond = summarize(acksSentBetween(acks, first, first + 1000));
        const rest = summarize(acksSentBetween(acks, first + 1000, Infinity));
        const lastSent = Math.max(...acks.map((a) => a.sentEpochMs));
        const faultsAt = (epochMs: number): number => faultSamples.find(([t]) => t >= epochMs)?.[1] ?? NaN;
        const firstSecondFaults = faultsAt(first + 1000) - faultsAt(first);
        const laterFaultsPerSecond = (faultsAt(lastSent) - faultsAt(first + 1000)) / ((lastSent - first - 1000) / 1000);
        const cpuAt = (epochMs: number): number => faultSamples.find(([t]) => t >= epochMs)?.[2] ?? NaN;
        const firstSecondCpuMs = cpuAt(first + 1000) - cpuAt(first);
        const laterCpuMsPerSecond = (cpuAt(lastSent) - cpuAt(first + 1000)) / ((lastSent - first - 1000) / 1000);
        // The same by work done rather than by time: main-thread CPU until the FRAMES_OF_WORK-th
        // ack, and for the next as many, which a starved server's slow first second cannot blur.
        const ackedAt = acks.map((a) => a.sentEpochMs + a.latencyMs).sort((a, b) => a - b);
        const cpuFirstFrames = cpuAt(ackedAt[FRAMES_OF_WORK - 1] ?? NaN) - cpuAt(first);
        const cpuNextFrames = cpuAt(ackedAt[2 * FRAMES_OF_WORK - 1] ?? NaN) - cpuAt(ackedAt[FRAMES_OF_WORK - 1] ?? NaN);
        lines.push(`round ${round + 1}${COMPARE === undefined ? '' : ` (${build ?? 'dist/'})`}: start-up ${startupMs.toFixed(0)} ms; ${(r.pointsPerSecond / 1e6).toFixed(2)} M points/s achieved${r.closedEarly.length > 0 ? ` (closed early: ${r.closedEarly.join('; ')})` : ''}`);
        lines.push(`  overall      ${describe(overall)}${overall.p99 <= 50 ? '' : '   (over the 50 ms target)'}`);
        lines.push(`  first second ${describe(firstSecond)}`);
        lines.push(`  after it     ${describe(rest)}`);
        lines.push(`  server page faults: ${faultsAtListen} up to listening; ${firstSecondFaults} in the first second of load, then ${laterFaultsPerSecond.toFixed(0)}/s`);
        const mine = byBuild.get(build ?? 'dist/') ?? [];
        mine.push([overall.p99, firstSecond.p99, cpuFirstFrames]);
        byBuild.set(build ?? 'dist/', mine);
        lines.push(`  server main thread CPU: ${firstSecondCpuMs} ms in the first second of load, then ${laterCpuMsPerSecond.toFixed(0)} ms/s; ${cpuFirstFrames} ms for the first ${FRAMES_OF_WORK} acks, ${cpuNextFrames} ms for the next ${FRAMES_OF_WORK}`);
      } finally {
        await server.stop();
      }
      if (probe !== undefined) lines.push(`  first second: ${probe.summary(firstSecondFrom, firstSecondFrom + 1000)}`);
    }
    const cpu = cpus();
    console.log(`\nEMMS fresh server, ${SECONDS} s at half the maximum row-form rate from the moment it listens (${new Date().toISOString()})`);
    console.log(`machine: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores, Node ${process.version}; the load generator and the server share these cores`);
    console.log(`maximum row-form ingest: ${(maxRate / 1e6).toFixed(2)} M points/s (${GIVEN_MAX === undefined ? 'measured 4 s on a scratch server' : 'given by --max-rate'}); half: ${(half / 1e6).toFixed(2)} M points/s`);
    console.log('load: rows, 4 connections × 100 hosts (4,000 new series), 64 frames in flight; target: overall ack p99 ≤ 50 ms, first second included');
    for (const l of lines) console.log(l);
    for (const [build, rounds] of byBuild) {
      const list = (k: number): string => rounds.map((r) => r[k]!.toFixed(1)).join(' / ');
      console.log(`${build}: overall p99 ${list(0)} ms; first second p99 ${list(1)} ms; main thread CPU for the first ${FRAMES_OF_WORK} acks ${list(2)} ms`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
