/**
 * Line-protocol and remote-write ingest, EMMS side by side with VictoriaMetrics on the same
 * endpoints (`/write` and `/api/v1/write`), same client, same payloads, one run, ratio reported.
 *
 *   npx tsx bench/interop_ingest.ts                      # 2 × 4 s per (server, protocol), ABBA order
 *   EMMS_BENCH_SECONDS=3 npx tsx bench/interop_ingest.ts
 *
 * Workload: 100 hosts × 10 `cpu` fields = 1,000 series; each request carries 10 scrapes of all
 * of them (10,000 points), timestamps moving forward request after request; the client keeps
 * CONCURRENCY requests in flight and counts points of 2xx answers (both servers acknowledge
 * after their own durability point: EMMS after its group commit, VictoriaMetrics after
 * buffering in memory, which it flushes to disk within seconds).
 *
 * Both servers are child processes; the client is this process. EMMS runs from dist/ as
 * `npm start` does (bench/load/server_process.ts; run `npm run build:ts` after editing src/),
 * after a warm-up.
 * The machine has 2 cores, shared by the client, the server under test and other work: treat the
 * figures as a ratio measured on one noisy machine, not as absolute capacities.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { compressSync } from 'snappy';
import { encodeWriteRequest } from '../src/interop/remote_write_proto.js';
import { startServerProcess } from './load/server_process.js';
import { freePort, startVictoriaMetrics, waitUntil } from '../tests/integration/remote_write_peers.js';

const SECONDS = Number(process.env.EMMS_BENCH_SECONDS ?? 8);
const CONCURRENCY = 4;
const HOSTS = 100;
const FIELDS = ['usage_user', 'usage_system', 'usage_idle', 'usage_nice', 'usage_iowait', 'usage_irq', 'usage_softirq', 'usage_steal', 'usage_guest', 'usage_guest_nice'];
const SCRAPES_PER_REQUEST = 10;
const POINTS_PER_REQUEST = HOSTS * FIELDS.length * SCRAPES_PER_REQUEST;
const PAYLOADS = 160;
const STEP_MS = 10_000;

/** Payload k covers scrapes [k·10, k·10+10); `lap` shifts a whole round of payloads later in time. */
function value(h: number, f: number, s: number): number {
  return Math.round((50 + 40 * Math.sin(h * 7 + f * 3 + s / 10)) * 100) / 100;
}

function lineProtocolPayloads(startMs: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k < PAYLOADS; k++) {
    let text = '';
    for (let s = k * SCRAPES_PER_REQUEST; s < (k + 1) * SCRAPES_PER_REQUEST; s++) {
      const ts = BigInt(startMs + s * STEP_MS) * 1_000_000n;
      for (let h = 0; h < HOSTS; h++) {
        text += `cpu,host=host_${h},region=r${h % 4} ${FIELDS.map((f, i) => `${f}=${value(h, i, s)}`).join(',')} ${ts}\n`;
      }
    }
    out.push(new TextEncoder().encode(text));
  }
  return out;
}

function remoteWritePayloads(startMs: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let k = 0; k < PAYLOADS; k++) {
    const timeseries = [];
    for (let h = 0; h < HOSTS; h++) {
      for (let i = 0; i < FIELDS.length; i++) {
        const samples = [];
        for (let s = k * SCRAPES_PER_REQUEST; s < (k + 1) * SCRAPES_PER_REQUEST; s++) samples.push({ timestamp: startMs + s * STEP_MS, value: value(h, i, s) });
        timeseries.push({ labels: [{ name: '__name__', value: `cpu_${FIELDS[i]}` }, { name: 'host', value: `host_${h}` }, { name: 'region', value: `r${h % 4}` }], samples });
      }
    }
    out.push(compressSync(Buffer.from(encodeWriteRequest({ timeseries }))));
  }
  return out;
}

interface Target {
  name: string;
  base: string;
  headers: Record<string, string>;
}

async function drive(target: Target, path: string, payloads: Uint8Array[], headers: Record<string, string>, seconds: number): Promise<{ pointsPerSecond: number; failures: number; p50Ms: number; p99Ms: number }> {
  let next = 0;
  let points = 0;
  let failures = 0;
  const latencies: number[] = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline && next < payloads.length) {
      const body = payloads[next++]!;
      const t = performance.now();
      const r = await fetch(`${target.base}${path}`, { method: 'POST', headers: { ...target.headers, ...headers }, body: body as Uint8Array<ArrayBuffer> });
      await r.arrayBuffer();
      latencies.push(performance.now() - t);
      if (r.status >= 200 && r.status < 300) points += POINTS_PER_REQUEST;
      else if (++failures === 1) process.stderr.write(`${target.name} ${path}: ${r.status}\n`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { pointsPerSecond: points / elapsed, failures, p50Ms: latencies[Math.floor(latencies.length * 0.5)] ?? 0, p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0 };
}

async function startEmms(dataDir: string): Promise<{ target: Target; stop: () => Promise<void> }> {
  mkdirSync(dataDir, { recursive: true });
  const server = await startServerProcess(dataDir);
  const token = readFileSync(server.adminTokenFile, 'utf8').trim();
  return { target: { name: 'emms', base: server.base, headers: { authorization: `Bearer ${token}` } }, stop: server.stop };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-interop-bench-'));
  const start = Date.UTC(2026, 0, 1);
  // Each (server, protocol) run writes its own lap of time so nothing overwrites a previous run.
  const lapMs = PAYLOADS * SCRAPES_PER_REQUEST * STEP_MS;
  const lp = lineProtocolPayloads(start);
  const rw = remoteWritePayloads(start + lapMs);
  // Each half-run sends its own half of the payloads: no run rewrites another's timestamps.
  const halves = (p: Uint8Array[]): [Uint8Array[], Uint8Array[]] => [p.slice(0, PAYLOADS / 2), p.slice(PAYLOADS / 2)];
  const warm = lineProtocolPayloads(start - lapMs).slice(0, 8);
  const emms = await startEmms(join(dir, 'emms'));
  const vmPort = await freePort();
  const vm = await startVictoriaMetrics(join(dir, 'vm'), vmPort);
  const vmTarget: Target = { name: 'victoria-metrics', base: vm.base, headers: {} };
  try {
    await waitUntil(async () => ((await fetch(`${emms.target.base}/health`)).ok ? true : undefined), 'emms /health');
    for (const t of [emms.target, vmTarget]) await drive(t, '/write?db=bench', warm, { 'content-type': 'text/plain' }, 30);
    const rows: Array<{ protocol: string; server: string; pointsPerSecond: number; failures: number; p50Ms: number; p99Ms: number }> = [];
    for (const [protocol, path, payloads, headers] of [
      ['line protocol', '/write?db=bench&precision=ns', lp, { 'content-type': 'text/plain' }],
      ['remote write', '/api/v1/write', rw, { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' }],
    ] as const) {
      // ABBA order (EMMS, VM, VM, EMMS; halves of the time each): load from other work that
      // drifts during the run weighs on both servers alike.
      const [first, second] = halves([...payloads]);
      const e1 = await drive(emms.target, path, first, headers, SECONDS / 2);
      const v1 = await drive(vmTarget, path, first, headers, SECONDS / 2);
      const v2 = await drive(vmTarget, path, second, headers, SECONDS / 2);
      const e2 = await drive(emms.target, path, second, headers, SECONDS / 2);
      const merge = (a: typeof e1, b: typeof e1) => ({ pointsPerSecond: (a.pointsPerSecond + b.pointsPerSecond) / 2, failures: a.failures + b.failures, p50Ms: (a.p50Ms + b.p50Ms) / 2, p99Ms: Math.max(a.p99Ms, b.p99Ms) });
      rows.push({ protocol, server: 'emms', ...merge(e1, e2) }, { protocol, server: 'victoria-metrics', ...merge(v1, v2) });
    }
    const bytes: Record<string, number> = { 'line protocol': lp.reduce((n, p) => n + p.byteLength, 0) / (PAYLOADS * POINTS_PER_REQUEST), 'remote write': rw.reduce((n, p) => n + p.byteLength, 0) / (PAYLOADS * POINTS_PER_REQUEST) };
    process.stdout.write(`interop ingest, ${cpus().length} cores shared by client + server + other work; ${POINTS_PER_REQUEST} points/request, ${CONCURRENCY} in flight, ABBA halves of ${SECONDS / 2} s or ${PAYLOADS / 2} requests each\n`);
    process.stdout.write('protocol        server             points/s   p50 ms  p99 ms  failures  wire bytes/point\n');
    for (const r of rows) {
      process.stdout.write(`${r.protocol.padEnd(15)} ${r.server.padEnd(17)} ${Math.round(r.pointsPerSecond).toString().padStart(9)} ${r.p50Ms.toFixed(1).padStart(8)} ${r.p99Ms.toFixed(1).padStart(7)} ${String(r.failures).padStart(9)} ${bytes[r.protocol]!.toFixed(2).padStart(17)}\n`);
    }
    for (const protocol of ['line protocol', 'remote write'] as const) {
      const e = rows.find((r) => r.protocol === protocol && r.server === 'emms')!;
      const v = rows.find((r) => r.protocol === protocol && r.server === 'victoria-metrics')!;
      process.stdout.write(`${protocol}: EMMS / VictoriaMetrics = ${(e.pointsPerSecond / v.pointsPerSecond).toFixed(2)}x\n`);
    }
  } finally {
    await emms.stop();
    await vm.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
