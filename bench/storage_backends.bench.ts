/**
 * The storage back-ends side by side, each through a real `emms serve` (from dist/, as `npm
 * start` runs it) switched by METRICS_STORAGE_TYPE alone, on databases this benchmark starts
 * itself (tests/integration/postgres_instance.ts, redis_instance.ts: private servers on free
 * loopback ports, fsync on, appendfsync always). Per back-end:
 *   - durable ingest over WebSocket, row form and columnar, at the maximum rate (the load
 *     generator of server_ingest.bench.ts, bench/load/ingest_load.ts, as its own process);
 *   - bytes per point as the back-end reports its size (GET /health disk_bytes): once the
 *     server has settled after loading the TSBS data, and again after a restart;
 *   - the standard queries (bench/load/standard_queries.ts): the hourly average of 100 series
 *     over 24 h and the 1 h raw query of one series, p50 / p99 over HTTP;
 * and the ratio of each figure to SQLite's. Then the cluster: aggregate row-form ingest of 1, 2
 * and 3 EMMS nodes on one PostgreSQL (one schema; each node its own port and data directory,
 * the load generators split across the nodes).
 *
 *   npm run build:ts && npm run bench:backends          # 10 s per ingest run, 24 h of data
 *   EMMS_BENCH_QUICK=1 npm run bench:backends           # 3 s per ingest run, 6 h of data
 *   npm run bench:backends -- sqlite postgresql          # only these back-ends (ratios need sqlite)
 *
 * A back-end whose database cannot be started, or whose server refuses or ignores it, is
 * reported as "not available: <reason>" and the others still run. Every process (servers,
 * load generators, databases) shares this machine's cores, so figures are "everything on N
 * cores"; compare ratios more than absolute rates on a shared machine.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import type { StorageType } from '../src/model/api.js';
import { runLoadGenerator, startServerProcess, type LoadResult, type ServerProcess } from './load/server_process.js';
import { checkStandardAnswers, standardQueries } from './load/standard_queries.js';
import { streamTsbsColumns } from './load/tsbs_column_stream.js';
import { backendHoldsData } from './load/backend_probe.js';

const QUICK = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');
const SECONDS = QUICK ? 3 : 10;
const HOURS = QUICK ? 6 : 24;
const TASK_TIME_MS = QUICK ? 300 : 2_000;
/** Settling cuts heads idle for 10 s (settle_policy.ts), then packs: a minute is ample. */
const SETTLE_TIMEOUT_MS = 180_000;
/** Load-generator connections of the cluster runs, split evenly across the nodes. */
const CLUSTER_CONNECTIONS = 6;
/**
 * A node starts in seconds. One of a shared store that is still not listening after this is
 * a standby waiting for the writer lease (src/cluster/writer_lease.ts): it is stopped, and
 * the load goes to the nodes that listen.
 */
const NODE_START_TIMEOUT_MS = 20_000;

/** What a back-end needs to run: the environment of a server on a given store, and the database's stop. */
interface OpenBackend {
  env(store: string): Record<string, string>;
  stop(): Promise<void>;
  url: string | undefined;
}

interface DatabaseInstance {
  url: string;
  stop(): Promise<void>;
}

/** A test-owned database helper, imported at run time so a missing one is a reason, not a crash. */
async function startInstance(file: string, exportName: string): Promise<DatabaseInstance> {
  const path = fileURLToPath(new URL(`../tests/integration/${file}`, import.meta.url));
  if (!existsSync(path)) throw new Error(`tests/integration/${file} is missing`);
  const start = ((await import(pathToFileURL(path).href)) as Record<string, unknown>)[exportName];
  if (typeof start !== 'function') throw new Error(`tests/integration/${file} exports no ${exportName}()`);
  return (start as () => Promise<DatabaseInstance>)();
}

const BACKENDS: Record<StorageType, () => Promise<OpenBackend>> = {
  sqlite: async () => ({ url: undefined, env: () => ({ METRICS_STORAGE_TYPE: 'sqlite' }), stop: async () => undefined }),
  postgresql: async () => {
    const db = await startInstance('postgres_instance.ts', 'startPostgres');
    return { url: db.url, env: (store) => ({ METRICS_STORAGE_TYPE: 'postgresql', METRICS_POSTGRES_URL: db.url, METRICS_POSTGRES_SCHEMA: store }), stop: () => db.stop() };
  },
  redis: async () => {
    const db = await startInstance('redis_instance.ts', 'startRedis');
    return { url: db.url, env: (store) => ({ METRICS_STORAGE_TYPE: 'redis', METRICS_REDIS_URL: db.url, METRICS_REDIS_PREFIX: `${store}:` }), stop: () => db.stop() };
  },
};

interface BackendFigures {
  rows: LoadResult;
  columns: LoadResult;
  points: number;
  settledBytes: number;
  settledNote: string;
  restartBytes: number;
  agg: { p50: number; p99: number };
  raw: { p50: number; p99: number };
  /** Nacks or cut connections during the ingest runs (none expected). */
  refused: string[];
}

type Outcome<T> = { ok: T } | { unavailable: string };

const tokenOf = (s: ServerProcess): Record<string, string> => ({ authorization: `Bearer ${readFileSync(s.adminTokenFile, 'utf8').trim()}` });

interface StorageHealth {
  disk_bytes: number;
  settled?: boolean;
  head_points: number;
}

async function storageHealth(s: ServerProcess): Promise<StorageHealth> {
  const body = (await (await fetch(`${s.base}/health`, { headers: tokenOf(s) })).json()) as { components?: { storage?: StorageHealth } };
  if (body.components?.storage === undefined) throw new Error(`/health has no storage component: ${JSON.stringify(body)}`);
  return body.components.storage;
}

/** Waits until the server reports settled (or, without settle figures, an empty head); says which. */
async function waitSettled(s: ServerProcess): Promise<string> {
  const started = Date.now();
  for (;;) {
    const h = await storageHealth(s);
    if (h.settled === true || (h.settled === undefined && h.head_points === 0)) return `settled in ${((Date.now() - started) / 1000).toFixed(0)} s`;
    if (Date.now() - started > SETTLE_TIMEOUT_MS) return `NOT settled after ${SETTLE_TIMEOUT_MS / 1000} s`;
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Each ingest run writes its own later time range, as in server_ingest.bench.ts. */
const RUN_SPACING_MS = 50 * 86_400_000;
let runIndex = 0;
const nextStart = (): string[] => ['--start-ms', String(Date.UTC(2026, 0, 1) + runIndex++ * RUN_SPACING_MS)];

async function withServer<T>(env: Record<string, string>, dataDir: string, body: (s: ServerProcess) => Promise<T>): Promise<T> {
  const server = await startServerProcess(dataDir, env);
  try {
    return await body(server);
  } finally {
    await server.stop();
  }
}

async function measureBackend(name: StorageType, backend: OpenBackend): Promise<Outcome<BackendFigures>> {
  const dirs: string[] = [];
  const freshDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), `emms-bench-${name}-`));
    dirs.push(d);
    return d;
  };
  try {
    let ingest: { rows: LoadResult; columns: LoadResult };
    try {
      ingest = await withServer(backend.env('bench_ingest'), freshDir(), async (s) => {
        const common = ['--url', s.wsUrl, '--seconds', String(SECONDS), '--token-file', s.adminTokenFile];
        const rows = await runLoadGenerator([...common, '--form', 'rows', '--connections', '8', '--window', '16', ...nextStart()]);
        const columns = await runLoadGenerator([...common, '--form', 'columns', '--connections', '4', '--window', '8', '--ticks', '100', ...nextStart()]);
        return { rows, columns };
      });
    } catch (err) {
      return { unavailable: `emms serve with METRICS_STORAGE_TYPE=${name}: ${(err as Error).message}` };
    }
    // A build whose engine does not know the back-end yet could quietly write SQLite instead.
    const holds = await backendHoldsData(name, backend.url, 'bench_ingest');
    if (holds !== true) return { unavailable: holds };
    // (`closed 1000` is the client's own close at the end of its run.)
    const refused = [...ingest.rows.closedEarly, ...ingest.columns.closedEarly].filter((c) => !c.startsWith('closed 1000'));
    const queryDir = freshDir();
    const env = backend.env('bench_query');
    const loaded = await withServer(env, queryDir, async (s) => {
      const { points } = await streamTsbsColumns(s.wsUrl, tokenOf(s), { hours: HOURS });
      const settledNote = await waitSettled(s);
      return { points, settledNote, settledBytes: (await storageHealth(s)).disk_bytes };
    });
    // After a restart: what the store holds once a clean stop has flushed and compacted.
    const after = await withServer(env, queryDir, async (s) => {
      const restartBytes = (await storageHealth(s)).disk_bytes;
      const get = (url: string): Promise<Response> => fetch(url, { headers: tokenOf(s) });
      const q = standardQueries(s.base, HOURS);
      await checkStandardAnswers(get, q, HOURS);
      const bench = new Bench({ time: TASK_TIME_MS, warmupTime: Math.min(500, TASK_TIME_MS) });
      bench.add('agg', async () => { await (await get(q.aggUrl)).arrayBuffer(); });
      bench.add('raw', async () => { await (await get(q.rawUrl)).arrayBuffer(); });
      await bench.run();
      const latency = (i: number): { p50: number; p99: number } => {
        const r = bench.tasks[i]!.result;
        if (r.state !== 'completed') throw new Error(`query task ${bench.tasks[i]!.name} ${r.state}`);
        return { p50: r.latency.p50 ?? NaN, p99: r.latency.p99 ?? NaN };
      };
      return { restartBytes, agg: latency(0), raw: latency(1) };
    });
    return { ok: { ...ingest, ...loaded, ...after, refused } };
  } finally {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

interface ClusterRun {
  nodes: number;
  total: number;
  perNode: number[];
  p99: Array<number | null>;
  /** Frames refused (nacks) or connections cut, per node. */
  refused: string[];
  /** Nodes that did not listen (standbys). */
  standbys: number;
  /** Why the run could not be measured (a node that did not start …). */
  error?: string;
}

/** Aggregate row-form ingest of `nodes` servers on one PostgreSQL schema. */
async function measureCluster(backend: OpenBackend, nodes: number): Promise<ClusterRun> {
  const env = backend.env(`bench_cluster${nodes}`);
  const servers: ServerProcess[] = [];
  const dirs: string[] = [];
  try {
    const nodeDir = (): string => {
      const dir = mkdtempSync(join(tmpdir(), 'emms-bench-node-'));
      dirs.push(dir);
      return dir;
    };
    // The first alone (it creates the schema), then the others together.
    servers.push(await startServerProcess(nodeDir(), env));
    const others = await Promise.allSettled(Array.from({ length: nodes - 1 }, () => startServerProcess(nodeDir(), env, [], [], NODE_START_TIMEOUT_MS)));
    for (const o of others) if (o.status === 'fulfilled') servers.push(o.value);
    const standbys = others.filter((o) => o.status === 'rejected').length;
    const per = Math.max(1, Math.floor(CLUSTER_CONNECTIONS / servers.length));
    const start = nextStart();
    const results = await Promise.all(servers.map((s, i) => runLoadGenerator([
      '--url', s.wsUrl, '--token-file', s.adminTokenFile, '--seconds', String(SECONDS), '--form', 'rows',
      '--connections', String(per), '--window', '16', '--connection-offset', String(i * per), ...start,
    ])));
    return {
      nodes,
      standbys,
      total: results.reduce((n, r) => n + r.pointsPerSecond, 0),
      perNode: results.map((r) => r.pointsPerSecond),
      p99: results.map((r) => r.ackP99Ms),
      refused: results.map((r, i) => r.closedEarly.filter((c) => !c.startsWith('closed 1000')).map((c) => `node ${i + 1}: ${c}`).join('; ')).filter((x) => x !== ''),
    };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

const rate = (r: number): string => `${(r / 1e6).toFixed(3)} M/s`;
/** Latency in ms; a run with no acknowledged frame has none (NaN, or null once through JSON). */
const ms = (v: number | null): string => (v === null || Number.isNaN(v) ? '-' : v.toFixed(2));
/** `value (n.nn× SQLite)`; higher is better for rates, lower for bytes and latency: the ratio is plain value/SQLite. */
const withRatio = (text: string, value: number, sqlite: number | undefined): string => (sqlite === undefined || !(sqlite > 0) ? text : `${text} (${(value / sqlite).toFixed(2)}×)`);

function printTable(header: string[], rows: string[][]): void {
  const table = [header, ...rows];
  // A "not available" row (two cells) runs on without widening the columns.
  const widths = header.map((_, c) => Math.max(...table.filter((r) => r.length === header.length || c === 0).map((r) => (r[c] ?? '').length)));
  for (const r of table) process.stdout.write(r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd() + '\n');
}

async function main(): Promise<void> {
  const figures = new Map<StorageType, Outcome<BackendFigures>>();
  let cluster: Outcome<ClusterRun[]> = { unavailable: 'PostgreSQL was not measured' };
  const chosen = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const unknown = chosen.filter((a) => !(a in BACKENDS));
  if (unknown.length > 0) throw new Error(`unknown back-end ${unknown.join(', ')}; expected ${Object.keys(BACKENDS).join(', ')}`);
  for (const name of (Object.keys(BACKENDS) as StorageType[]).filter((n) => chosen.length === 0 || chosen.includes(n))) {
    process.stderr.write(`storage_backends: ${name}…\n`);
    let backend: OpenBackend;
    try {
      backend = await BACKENDS[name]();
    } catch (err) {
      figures.set(name, { unavailable: `its database did not start: ${(err as Error).message}` });
      continue;
    }
    try {
      figures.set(name, await measureBackend(name, backend).catch((err: unknown) => ({ unavailable: `failed: ${(err as Error).message}` })));
      if (name === 'postgresql') {
        const pg = figures.get(name)!;
        if ('unavailable' in pg) cluster = pg;
        else {
          const runs: ClusterRun[] = [];
          for (const nodes of [1, 2, 3]) {
            runs.push(await measureCluster(backend, nodes).catch((err: unknown) => ({ nodes, standbys: 0, total: NaN, perNode: [], p99: [], refused: [], error: (err as Error).message })));
          }
          cluster = { ok: runs };
        }
      }
    } finally {
      await backend.stop();
    }
  }

  const cpu = cpus();
  process.stdout.write(`\nEMMS storage back-ends, ${QUICK ? 'quick' : 'full'} run: ingest ${SECONDS} s per form, queries over ${HOURS} h of TSBS devops (100 hosts)\n`);
  process.stdout.write(`machine: ${cpu[0]?.model ?? 'unknown'}, ${cpu.length} cores, Node ${process.version}; servers, load generators and databases share these cores\n`);
  process.stdout.write('(×) = ratio to SQLite: above 1 is faster for ingest, larger for bytes, slower for queries\n\n');
  const sqlite = figures.get('sqlite');
  const base = sqlite !== undefined && 'ok' in sqlite ? sqlite.ok : undefined;
  const header = ['back-end', 'row ingest', 'columnar ingest', 'bytes/pt running, settled', 'bytes/pt after restart', `${HOURS} h avg 100 series p50 / p99 ms`, '1 h raw 1 series p50 / p99 ms'];
  const rows: string[][] = [];
  for (const [name, outcome] of figures) {
    if ('unavailable' in outcome) {
      rows.push([name, `not available: ${outcome.unavailable}`]);
      continue;
    }
    const f = outcome.ok;
    rows.push([
      name,
      withRatio(rate(f.rows.pointsPerSecond), f.rows.pointsPerSecond, base?.rows.pointsPerSecond),
      withRatio(rate(f.columns.pointsPerSecond), f.columns.pointsPerSecond, base?.columns.pointsPerSecond),
      withRatio((f.settledBytes / f.points).toFixed(3), f.settledBytes, base?.settledBytes),
      withRatio((f.restartBytes / f.points).toFixed(3), f.restartBytes, base?.restartBytes),
      withRatio(`${ms(f.agg.p50)} / ${ms(f.agg.p99)}`, f.agg.p50, base?.agg.p50),
      withRatio(`${ms(f.raw.p50)} / ${ms(f.raw.p99)}`, f.raw.p50, base?.raw.p50),
    ]);
  }
  printTable(header, rows);
  for (const [name, outcome] of figures) {
    if ('ok' in outcome) {
      const f = outcome.ok;
      process.stdout.write(`${name}: ${f.points.toLocaleString('en-US')} points loaded for the queries, ${f.settledNote}; row ack p99 ${ms(f.rows.ackP99Ms)} ms, columnar ${ms(f.columns.ackP99Ms)} ms`
        + `${f.refused.length === 0 ? '' : `; REFUSED during ingest: ${f.refused.join('; ').slice(0, 500)}`}\n`);
    }
  }
  process.stdout.write(`\nCluster: row-form ingest of N EMMS nodes on one PostgreSQL (${CLUSTER_CONNECTIONS} connections split across the nodes, one load generator per node)\n`);
  if ('unavailable' in cluster) process.stdout.write(`not available: ${cluster.unavailable}\n`);
  else {
    const one = cluster.ok[0]!.total;
    printTable(['nodes', 'aggregate acked points/s', 'per listening node', 'ack p99 per node ms'], cluster.ok.map((r) => (r.error !== undefined ? [String(r.nodes), `FAILED: ${r.error}`] : [
      r.standbys === 0 ? String(r.nodes) : `${r.nodes} (${r.standbys} standby, not listening after ${NODE_START_TIMEOUT_MS / 1000} s)`, `${rate(r.total)} (${(r.total / one).toFixed(2)}× 1 node)`, r.perNode.map(rate).join(', '), r.p99.map(ms).join(', '),
    ])));
    for (const r of cluster.ok) if (r.refused.length > 0) process.stdout.write(`${r.nodes} nodes: REFUSED ${r.refused.join('; ').slice(0, 500)}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
