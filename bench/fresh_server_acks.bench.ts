/**
 * A fresh server's first second (issue 16): ack latency of a server started on an empty data
 * directory and streamed to at half its maximum rate from the moment it listens.
 *
 *   npx tsx bench/fresh_server_acks.bench.ts [--max-rate POINTS_PER_S] [--seconds 10] [--rounds 3]
 *     [--cpu-prof DIR] [--loop-delay]
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

const FAULT_SAMPLE_MS = 50;

/** Minor page faults of process `pid` so far (all threads), from /proc/<pid>/stat. */
function minorFaults(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Field 10 of stat (minflt) is at 7 after the command name.
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[7]);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-bench-fresh-'));
  const lines: string[] = [];
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
      const spawned = performance.now();
      const server = await startServerProcess(data, probe?.env ?? {}, [], [...nodeArgs, ...(probe?.nodeArgs ?? [])]);
      let firstSecondFrom = NaN;
      const startupMs = performance.now() - spawned;
      try {
        const log = join(dir, `acks-${round}.csv`);
        const pid = server.proc.pid!;
        const faultsAtListen = minorFaults(pid);
        // [epoch ms, faults so far], lined up with the first frame's send time afterwards.
        const faultSamples: Array<[number, number]> = [];
        const sampler = setInterval(() => faultSamples.push([Date.now(), minorFaults(pid)]), FAULT_SAMPLE_MS);
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
        lines.push(`round ${round + 1}: start-up ${startupMs.toFixed(0)} ms; ${(r.pointsPerSecond / 1e6).toFixed(2)} M points/s achieved${r.closedEarly.length > 0 ? ` (closed early: ${r.closedEarly.join('; ')})` : ''}`);
        lines.push(`  overall      ${describe(overall)}${overall.p99 <= 50 ? '' : '   (over the 50 ms target)'}`);
        lines.push(`  first second ${describe(firstSecond)}`);
        lines.push(`  after it     ${describe(rest)}`);
        lines.push(`  server page faults: ${faultsAtListen} up to listening; ${firstSecondFaults} in the first second of load, then ${laterFaultsPerSecond.toFixed(0)}/s`);
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
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
