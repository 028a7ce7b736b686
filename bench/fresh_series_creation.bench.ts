/**
 * A fresh store's series creation on the thread that acknowledges (issue 16), measured in one
 * process so that other processes' load moves it little: CPU time and page faults, not latency.
 *
 *   npx tsx bench/fresh_series_creation.bench.ts [--rounds 4] [--compare DIST_DIR]
 *
 * Each round is a fresh `node` process running a build's dist/ (this checkout's, or alternately
 * DIST_DIR's under --compare, in the order A B B A): the server's store warm-up
 * (src/server/warm_up.ts warmUpCommitPath), then a new SQLite store with the server's 16 MiB head
 * reserve, and 4 series tables (4 connections) of 100 hosts × 10 metrics, as
 * bench/fresh_server_acks.bench.ts sends them. The first frame of each table carries its 1,000
 * new series, as a decode worker's reply does: serialized with v8.serialize in that build's own
 * shape (one tags object per host when its decoder shares them, src/ingest/frame_decoder.ts
 * sameTags; one per series before) and deserialized inside the measured part, as the reply's
 * message is. Then 99 frames more of each, series known. Prints, per round, the main thread's CPU
 * (user + system) and minor page faults for the creating frames and for the rest.
 *
 * Why these figures: on the Firecracker VM a first touch of a page costs ~40 µs, and a fresh
 * server's first frames grow its young generation, old generation and tables all at once, so
 * the faults are a large, machine-load-independent part of the burst that acks wait behind.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { serialize, deserialize } from 'node:v8';
import { RECOMMENDED_OLD_SPACE } from '../src/cli/serve_command.js';

const CONNECTIONS = 4;
const HOSTS = 100;
const METRICS = 10;
const POINTS = HOSTS * METRICS;
const FRAMES = 100;
const HEAD_RESERVE_BYTES = 16 * 1024 * 1024;

interface Usage { cpuMs: number; faults: number }

function usage(): Usage {
  const u = process.cpuUsage();
  return { cpuMs: (u.user + u.system) / 1000, faults: process.resourceUsage().minorPageFault };
}

/** One round, in this process: prints one JSON line. */
async function runRound(dist: string, sharedTags: boolean): Promise<void> {
  const { warmUpCommitPath } = await import(pathToFileURL(join(dist, 'server', 'warm_up.js')).href) as typeof import('../src/server/warm_up.js');
  const { EngineMetricsSystem } = await import(pathToFileURL(join(dist, 'metrics_system.js')).href) as typeof import('../src/metrics_system.js');
  await warmUpCommitPath();
  const dir = mkdtempSync(join(tmpdir(), 'emms-bench-creation-'));
  try {
    const system = new EngineMetricsSystem({ storage: 'sqlite', path: join(dir, 'metrics.db') }, { headReserveBytes: HEAD_RESERVE_BYTES });
    await system.start();
    const replies = Array.from({ length: CONNECTIONS }, (_, c) => {
      const series = [];
      for (let h = 0; h < HOSTS; h++) {
        const tags = { hostname: `host_${c}_${h}`, region: 'eu-west-1', datacenter: 'eu-west-1a', rack: String(h % 100), os: 'Ubuntu16.04LTS', arch: 'x64', team: 'SF', service: String(h % 19), service_version: '1', service_environment: 'production' };
        const shared = Object.freeze({ ...tags });
        for (let m = 0; m < METRICS; m++) series.push({ metricId: `cpu.usage_${m}`, metricType: 'gauge' as const, tags: sharedTags ? shared : Object.freeze({ ...tags }) });
      }
      return serialize(series);
    });
    const tables = Array.from({ length: CONNECTIONS }, () => system.createSeriesTable());
    const now = Date.now();
    const frames = Array.from({ length: FRAMES }, (_, r) => {
      const seriesOf = new Int32Array(POINTS);
      const values = new Float64Array(POINTS);
      for (let i = 0; i < POINTS; i++) {
        seriesOf[i] = i;
        values[i] = (i + r) * 0.5;
      }
      return { seriesOf, timestamps: new Float64Array(POINTS).fill(now + r * 10), values };
    });
    // collect() takes over its arrays: a copy each time.
    const collect = (c: number, r: number) => tables[c]!.collect(frames[r]!.seriesOf.slice(), frames[r]!.timestamps.slice(), frames[r]!.values.slice());
    const start = usage();
    await Promise.all(tables.map((table, c) => {
      for (const identity of deserialize(replies[c]!) as Array<{ metricId: string; metricType: 'gauge'; tags: Record<string, string> }>) table.add(identity);
      return collect(c, 0);
    }));
    const created = usage();
    for (let r = 1; r < FRAMES; r++) await Promise.all(tables.map((_, c) => collect(c, r)));
    const end = usage();
    await system.stop();
    console.log(JSON.stringify({
      createCpuMs: created.cpuMs - start.cpuMs, createFaults: created.faults - start.faults,
      restCpuMs: end.cpuMs - created.cpuMs, restFaults: end.faults - created.faults,
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether a build's decoder shares a host's tags among its new series (frame_decoder.ts sameTags). */
async function sharesTags(dist: string): Promise<boolean> {
  const { FrameDecoder } = await import(pathToFileURL(join(dist, 'ingest', 'frame_decoder.js')).href) as typeof import('../src/ingest/frame_decoder.js');
  const { Packr } = await import('msgpackr');
  const frame = new Packr({ useRecords: false }).pack({ seq: 1, metrics: ['a', 'b'].map((m) => ({ metric_id: m, value: 1, tags: { host: 'h' } })) });
  const batch = new FrameDecoder({ maxPointsPerBatch: 10 }).decode(frame, 'msgpack', true);
  return 'newSeries' in batch && batch.newSeries[0]!.tags === batch.newSeries[1]!.tags;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const round = arg('round-of');
  if (round !== undefined) {
    await runRound(round, await sharesTags(round));
    return;
  }
  const here = resolve(fileURLToPath(new URL('..', import.meta.url)), 'dist');
  const compare = arg('compare');
  const rounds = Number(arg('rounds') ?? 4);
  const figures = new Map<string, string[]>();
  for (let r = 0; r < rounds; r++) {
    const dist = compare !== undefined && (r % 4 === 1 || r % 4 === 2) ? resolve(compare) : here;
    const run = spawnSync(process.execPath, [RECOMMENDED_OLD_SPACE, '--import', 'tsx', fileURLToPath(import.meta.url), '--round-of', dist], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`round ${r + 1} (${dist}) failed: ${run.stderr.trim().split('\n').pop()}`);
    const f = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, number>;
    const line = `create ${f.createCpuMs!.toFixed(0)} ms CPU, ${f.createFaults} faults; next ${FRAMES - 1} frames ${f.restCpuMs!.toFixed(0)} ms, ${f.restFaults} faults`;
    console.log(`round ${r + 1} (${dist}): ${line}`);
    figures.set(dist, [...(figures.get(dist) ?? []), line]);
  }
  console.log(`\n${CONNECTIONS} tables × ${HOSTS} hosts × ${METRICS} metrics, main thread; load average ${(await import('node:os')).loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  for (const [dist, lines] of figures) console.log(`${dist}:\n  ${lines.join('\n  ')}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
