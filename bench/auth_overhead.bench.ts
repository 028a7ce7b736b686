/**
 * What authentication costs: the same loads against two `emms serve` processes, one with
 * authentication off (EMMS_AUTH=off, loopback) and one on (a writer API key, and a reader key
 * for queries), running side by side: ingest loads go to off then on, queries alternate request
 * by request, so that the machine's slow phases fall on both.
 *
 *   1. row-form WebSocket ingest, max rate (TSBS devops, 1,000 points per frame);
 *   2. columnar WebSocket ingest, max rate (100 points per series per frame);
 *   3. HTTP query latency: 1 h raw of one series, median of 400 requests.
 *
 * The WebSocket token is checked once at the upgrade, so ingest should not move; an HTTP query
 * pays one SHA-256 of the token and a Map lookup (README target: ingest within 5%, query
 * latency +0.1 ms at most).
 *
 *   npx tsx bench/auth_overhead.bench.ts      (EMMS_BENCH_QUICK=1: 3 s loads, 1 round)
 *
 * Client and server share the machine's cores.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAuth } from '../src/auth/auth_module.js';
import { defaultSecurityConfig } from '../src/config/security_config.js';
import { runLoadGenerator, startServerProcess, type ServerProcess } from './load/server_process.js';

const QUICK = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');
const SECONDS = QUICK ? 3 : 8;
const ROUNDS = QUICK ? 1 : 3;
const QUERIES = 400;

interface RoundResult {
  rows: number;
  columns: number;
  queryMedianMs: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function createKey(server: ServerProcess, role: 'reader' | 'writer'): Promise<string> {
  const admin = readFileSync(server.adminTokenFile, 'utf8').trim();
  const res = await fetch(`${server.base}/api/v1/auth/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: `bench-${role}`, tenant: 'bench', role }),
  });
  if (res.status !== 201) throw new Error(`creating a ${role} key: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

interface Side {
  server: ServerProcess;
  tokenArgs: string[];
  queryHeaders: Record<string, string>;
}

async function startSide(dir: string, auth: boolean, index: number): Promise<Side> {
  const dataDir = join(dir, `${auth ? 'on' : 'off'}-${index}`);
  mkdirSync(dataDir);
  const server = await startServerProcess(dataDir, auth ? {} : { EMMS_AUTH: 'off' });
  if (!auth) return { server, tokenArgs: [], queryHeaders: {} }; // anonymous: tenant `default`
  const writerFile = join(dataDir, 'writer.token');
  writeFileSync(writerFile, await createKey(server, 'writer'), { mode: 0o600 });
  return { server, tokenArgs: ['--token-file', writerFile], queryHeaders: { authorization: `Bearer ${await createKey(server, 'reader')}` } };
}

/** Waits (60 s at most) until the server's /health shows no pending cut, checkpoint or compaction. */
async function settled(side: Side): Promise<void> {
  const admin = readFileSync(side.server.adminTokenFile, 'utf8').trim();
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const health = (await (await fetch(`${side.server.base}/health`, { headers: { authorization: `Bearer ${admin}` } })).json()) as {
      components?: { storage?: { pending_cuts?: number; checkpoint_running?: boolean; compaction_running?: boolean } };
    };
    const s = health.components?.storage;
    if (s !== undefined && s.pending_cuts === 0 && s.checkpoint_running === false && s.compaction_running === false) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function queryUrl(side: Side): string {
  const start = Date.UTC(2026, 0, 1);
  return `${side.server.base}/api/v1/query?metric_pattern=cpu.usage_user&tag.hostname=host_0-c0&start_time=${start}&end_time=${start + 3_600_000}`;
}

/**
 * One round: both servers run at once; each load goes to off, then on; the queries alternate
 * request by request between them, so that a slow phase of the machine falls on both sides of
 * a pair (the difference sought, ~µs, is far below the round-to-round spread, ~0.5 ms).
 */
async function round(dir: string, index: number): Promise<{ off: RoundResult; on: RoundResult }> {
  const sides = [await startSide(dir, false, index), await startSide(dir, true, index)] as const;
  try {
    const rates = [{ rows: 0, columns: 0 }, { rows: 0, columns: 0 }];
    // Odd rounds load the authenticated server first. Each side's loads are followed by a wait
    // for its storage to settle, so its chunk encoding and compaction do not run under the
    // other side's load.
    for (const k of index % 2 === 0 ? [0, 1] : [1, 0]) {
      const side = sides[k]!;
      for (const [form, extra, startMs] of [['rows', ['--connections', '8', '--window', '16'], Date.UTC(2026, 0, 1)], ['columns', ['--connections', '4', '--window', '8', '--ticks', '100'], Date.UTC(2026, 2, 1)]] as const) {
        const r = await runLoadGenerator(['--url', side.server.wsUrl, '--seconds', String(SECONDS), ...side.tokenArgs, '--form', form, ...extra, '--start-ms', String(startMs)]);
        rates[k]![form] = r.pointsPerSecond;
      }
      await settled(side);
    }
    for (const side of sides) {
      const first = await fetch(queryUrl(side), { headers: side.queryHeaders });
      const body = (await first.json()) as { series?: unknown[] };
      if (first.status !== 200 || body.series?.length !== 1) throw new Error(`query answered ${first.status}: ${JSON.stringify(body).slice(0, 200)}`);
    }
    const times: number[][] = [[], []];
    for (let i = 0; i < QUERIES; i++) {
      for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
        const side = sides[k]!;
        const t0 = performance.now();
        await (await fetch(queryUrl(side), { headers: side.queryHeaders })).arrayBuffer();
        times[k]!.push(performance.now() - t0);
      }
    }
    const result = (k: number): RoundResult => ({ rows: rates[k]!.rows, columns: rates[k]!.columns, queryMedianMs: median(times[k]!) });
    return { off: result(0), on: result(1) };
  } finally {
    await Promise.all(sides.map((side) => side.server.stop()));
  }
}

/**
 * The authenticator alone, in this process: what an HTTP request pays for its API key (one
 * SHA-256 of the token and a Map lookup), without the noise of a server and a client.
 */
function authenticateMicros(dir: string): number {
  const auth = openAuth({ dataDir: dir, security: defaultSecurityConfig() });
  try {
    const { token } = auth.apiKeys.create({ name: 'bench', tenant: 'bench', role: 'reader' });
    const credentials = { authorization: `Bearer ${token}`, tenantHeader: undefined, remoteAddress: '127.0.0.1' };
    for (let i = 0; i < 20_000; i++) auth.authenticator.authenticate(credentials);
    const n = 200_000;
    const started = performance.now();
    for (let i = 0; i < n; i++) auth.authenticator.authenticate(credentials);
    return ((performance.now() - started) * 1000) / n;
  } finally {
    auth.close();
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'emms-bench-auth-'));
  const authMicros = authenticateMicros(dir);
  const off: RoundResult[] = [];
  const on: RoundResult[] = [];
  try {
    for (let i = 0; i < ROUNDS; i++) {
      const r = await round(dir, i);
      off.push(r.off);
      on.push(r.on);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const m = (rs: RoundResult[], k: keyof RoundResult): number => median(rs.map((r) => r[k]));
  const rate = (r: number): string => `${(r / 1e6).toFixed(3)} M/s`;
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(`\nAuthentication overhead: ${ROUNDS} rounds of ${SECONDS} s loads and ${QUERIES} interleaved query pairs, medians (${cpus().length} cores, ${cpu}; load generator on the same cores)`);
  console.log('| what | auth off | auth on | on / off |');
  console.log('|---|---|---|---|');
  console.log(`| row-form WebSocket ingest, max | ${rate(m(off, 'rows'))} | ${rate(m(on, 'rows'))} | ${(m(on, 'rows') / m(off, 'rows')).toFixed(3)} |`);
  console.log(`| columnar WebSocket ingest, max | ${rate(m(off, 'columns'))} | ${rate(m(on, 'columns'))} | ${(m(on, 'columns') / m(off, 'columns')).toFixed(3)} |`);
  console.log(`| HTTP 1 h raw query, median of ${QUERIES} | ${m(off, 'queryMedianMs').toFixed(3)} ms | ${m(on, 'queryMedianMs').toFixed(3)} ms | ${(m(on, 'queryMedianMs') - m(off, 'queryMedianMs')) >= 0 ? '+' : ''}${(m(on, 'queryMedianMs') - m(off, 'queryMedianMs')).toFixed(3)} ms |`);
  console.log(`authenticate() with a cached API key, in-process: ${authMicros.toFixed(2)} µs per call`);
  console.log(`rounds (off → on): ${off.map((o, i) => `${rate(o.rows)}/${rate(on[i]!.rows)} rows, ${o.queryMedianMs.toFixed(3)}/${on[i]!.queryMedianMs.toFixed(3)} ms`).join('; ')}`);
}

await main();
