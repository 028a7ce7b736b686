/**
 * The SIGKILL workload of the storage conformance suite: a child process opens the store with
 * createMetricsSystem (the embedder's API, any back-end), writes rounds forever, and prints
 * each acknowledgement; the parent (`runAndKill`) SIGKILLs it mid-stream, with writes in
 * flight, and later checks what a reopened store holds (`checkKilledRounds`).
 *
 * A round r writes KILL_POINTS points to each of KILL_SERIES series (row form on even rounds,
 * columnar on odd ones: both ingest paths), overwrites the first KILL_OVERWRITES points of
 * round r - 2 (acknowledged before round r was sent: at most two rounds are in flight), and
 * writes KILL_SINGLES single points concurrently, each its own acknowledgement. Enough rounds
 * run for heads to be cut into chunks while the child lives (4,096 points a cut).
 *
 * Usage: node --import tsx tests/integration/storage_conformance_child.ts '<options JSON>' <first round>
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createMetricsSystem } from '../../src/index.js';
import type { MetricsSystem, MetricsSystemOptions } from '../../src/model/api.js';
import type { MetricDataPoint } from '../../src/model/metric.js';

export const KILL_T0 = Date.UTC(2026, 3, 1);
export const KILL_SERIES = 8;
export const KILL_POINTS = 600;
export const KILL_OVERWRITES = 5;
export const KILL_SINGLES = 10;
export const KILL_METRIC = 'conformance.kill.batch';
export const KILL_SINGLE_METRIC = 'conformance.kill.single';

/** Timestamp of point k of round r (one second apart, rounds back to back). */
export function killTimestamp(round: number, k: number): number {
  return KILL_T0 + (round * KILL_POINTS + k) * 1000;
}

/** The first value of (round, series, k): distinct for every point, exact in binary. */
export function killValue(round: number, s: number, k: number): number {
  return round * 1_000_000 + s * 1000 + k + 0.25;
}

/** The value round r + 2 overwrites point k < KILL_OVERWRITES of round r with. */
export function killOverwrite(round: number, s: number, k: number): number {
  return -killValue(round, s, k);
}

export function singleTimestamp(round: number, j: number): number {
  return KILL_T0 + round * KILL_SINGLES + j;
}

export function singleValue(round: number, j: number): number {
  return round * KILL_SINGLES + j + 0.5;
}

async function writeRound(ms: MetricsSystem, round: number, firstRound: number): Promise<void> {
  const writes: Array<Promise<unknown>> = [];
  if (round % 2 === 0) {
    const points: MetricDataPoint[] = [];
    for (let s = 0; s < KILL_SERIES; s++) {
      const tags = { s: String(s) };
      for (let k = 0; k < KILL_POINTS; k++) points.push({ metricId: KILL_METRIC, tags, timestamp: killTimestamp(round, k), value: killValue(round, s, k) });
      if (round - 2 >= firstRound) {
        for (let k = 0; k < KILL_OVERWRITES; k++) points.push({ metricId: KILL_METRIC, tags, timestamp: killTimestamp(round - 2, k), value: killOverwrite(round - 2, s, k) });
      }
    }
    writes.push(ms.collectMetrics(points));
  } else {
    const series = [];
    for (let s = 0; s < KILL_SERIES; s++) {
      const timestamps: number[] = [];
      const values: number[] = [];
      for (let k = 0; k < KILL_POINTS; k++) {
        timestamps.push(killTimestamp(round, k));
        values.push(killValue(round, s, k));
      }
      if (round - 2 >= firstRound) {
        for (let k = 0; k < KILL_OVERWRITES; k++) {
          timestamps.push(killTimestamp(round - 2, k));
          values.push(killOverwrite(round - 2, s, k));
        }
      }
      series.push({ metricId: KILL_METRIC, tags: { s: String(s) }, timestamps, values });
    }
    writes.push(ms.collectSeries(series));
  }
  for (let j = 0; j < KILL_SINGLES; j++) {
    writes.push(ms.collectMetric({ metricId: KILL_SINGLE_METRIC, metricType: 'counter', timestamp: singleTimestamp(round, j), value: singleValue(round, j) }).then(() => {
      process.stdout.write(`ack single ${round} ${j}\n`);
    }));
  }
  await Promise.all(writes);
  process.stdout.write(`ack round ${round}\n`);
}

async function main(options: MetricsSystemOptions, firstRound: number): Promise<void> {
  const ms = createMetricsSystem({ ...options, queryWorkers: 0 });
  await ms.start();
  process.stdout.write('started\n');
  // Round r overwrites round r - 2, so it is sent once r - 2 was acknowledged; r - 1 may still be in flight.
  const pending = new Map<number, Promise<void>>();
  for (let round = firstRound; ; round++) {
    await pending.get(round - 2);
    pending.delete(round - 2);
    pending.set(round, writeRound(ms, round, firstRound).catch((error: unknown) => {
      process.stderr.write(`round ${round} failed: ${String((error as Error).stack ?? error)}\n`);
      process.exit(1);
    }));
  }
}

export interface KillRun {
  rounds: number[];
  singles: Array<[round: number, j: number]>;
  /** Highest round the child may have sent: round r is sent only after r - 2 was acknowledged. */
  maxRoundSent: number;
}

const CHILD = fileURLToPath(import.meta.url);

/** Runs the child on `options` from `firstRound` until `acks` rounds were acknowledged, SIGKILLs it, and says what it acknowledged. */
export function runAndKill(options: MetricsSystemOptions, firstRound: number, acks: number, timeoutMs = 60_000): Promise<KillRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(options), String(firstRound)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const run: KillRun = { rounds: [], singles: [], maxRoundSent: firstRound - 1 };
    let buffered = '';
    let stderr = '';
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
      reject(new Error(`the writer child acknowledged ${run.rounds.length} of ${acks} rounds in ${timeoutMs} ms: ${stderr}`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      buffered += text;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const [, kind, round, j] = buffered.slice(0, nl).split(' ');
        buffered = buffered.slice(nl + 1);
        // A line read after the kill was sent was printed before the child died: still an acknowledgement.
        if (kind === 'round') run.rounds.push(Number(round));
        else if (kind === 'single') run.singles.push([Number(round), Number(j)]);
        if (!killed && run.rounds.length >= acks) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.stderr.on('data', (text: Buffer) => {
      stderr += text.toString();
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const last = run.rounds.length === 0 ? firstRound - 1 : Math.max(...run.rounds);
      run.maxRoundSent = last + 2;
      if (signal === 'SIGKILL') resolve(run);
      else reject(new Error(`the writer child exited (code ${code}) before it was killed: ${stderr}`));
    });
  });
}

/**
 * Throws unless the store holds every point the runs acknowledged with its exact value (an
 * acknowledged overwrite included), nothing the child did not send, and every round whole or
 * not at all (a batch is one transaction).
 */
export async function checkKilledStore(ms: MetricsSystem, runs: ReadonlyArray<{ firstRound: number; run: KillRun }>): Promise<void> {
  const phaseOf = (round: number): { firstRound: number; run: KillRun } | undefined => runs.find((p) => round >= p.firstRound && round <= p.run.maxRoundSent);
  const endTime = KILL_T0 + 10 * 365 * 86_400_000;
  const counts = new Map<number, number[]>();
  const batch = await ms.queryMetrics({ metricPattern: KILL_METRIC, startTime: 0, endTime });
  for (const series of batch) {
    const s = Number(series.tags.s);
    if (!(s >= 0 && s < KILL_SERIES) || series.metricId !== KILL_METRIC) throw new Error(`a series never written: ${series.metricId} ${JSON.stringify(series.tags)}`);
    series.timestamps.forEach((t, i) => {
      const index = (t - KILL_T0) / 1000;
      const round = Math.floor(index / KILL_POINTS);
      const k = index % KILL_POINTS;
      const v = series.values[i]!;
      const phase = phaseOf(round);
      const at = `${KILL_METRIC}{s=${s}} at ${new Date(t).toISOString()} (round ${round}, point ${k})`;
      if (!Number.isInteger(index) || phase === undefined) throw new Error(`${at} = ${v}: never sent`);
      const overwrite = k < KILL_OVERWRITES && round + 2 <= phase.run.maxRoundSent;
      if (v !== killValue(round, s, k) && !(overwrite && v === killOverwrite(round, s, k))) throw new Error(`${at} = ${v}: never sent with this value`);
      if (overwrite && phase.run.rounds.includes(round + 2) && v !== killOverwrite(round, s, k)) {
        throw new Error(`${at} = ${v}: the acknowledged overwrite by round ${round + 2} (${killOverwrite(round, s, k)}) is lost`);
      }
      let perSeries = counts.get(round);
      if (perSeries === undefined) counts.set(round, (perSeries = new Array<number>(KILL_SERIES).fill(0)));
      perSeries[s]!++;
    });
  }
  for (const [round, perSeries] of counts) {
    if (perSeries.some((n) => n !== KILL_POINTS)) throw new Error(`round ${round} is partly stored (points per series: ${perSeries.join(', ')}): a batch must be whole or absent`);
  }
  for (const { run } of runs) {
    for (const round of run.rounds) if (!counts.has(round)) throw new Error(`acknowledged round ${round} is missing`);
  }
  const single = await ms.queryMetrics({ metricPattern: KILL_SINGLE_METRIC, startTime: 0, endTime });
  const stored = new Map<number, number>();
  for (const series of single) series.timestamps.forEach((t, i) => stored.set(t, series.values[i]!));
  for (const [t, v] of stored) {
    const index = t - KILL_T0;
    const round = Math.floor(index / KILL_SINGLES);
    if (phaseOf(round) === undefined || v !== singleValue(round, index % KILL_SINGLES)) throw new Error(`${KILL_SINGLE_METRIC} at ${t} = ${v}: never sent`);
  }
  for (const { run } of runs) {
    for (const [round, j] of run.singles) {
      if (stored.get(singleTimestamp(round, j)) !== singleValue(round, j)) throw new Error(`acknowledged single point ${j} of round ${round} is missing`);
    }
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].split('/').pop()!)) {
  main(JSON.parse(process.argv[2]!) as MetricsSystemOptions, Number(process.argv[3] ?? 0)).catch((error: unknown) => {
    process.stderr.write(`${String((error as Error).stack ?? error)}\n`);
    process.exit(1);
  });
}
