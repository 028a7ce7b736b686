/**
 * The PostgreSQL back-end at the storage contract (src/storage/postgres/), against a
 * test-owned PostgreSQL 15 on this machine (tests/integration/postgres_instance.ts: fsync on,
 * synchronous_commit on, loopback TCP with scram auth, shared_buffers 32 MB):
 *
 *   commits      what the engine's group commit sends: one transaction per batch holding one
 *                write-ahead record of 10,000 points (encodeWalRecord, lz4 columns of a TSBS-
 *                like random walk), one after another as the engine runs them. Variants:
 *                record only (one statement), record + 4 chunks + 4 marks (a landed cut: one
 *                statement of CTEs), and record + a delete (forces BEGIN…COMMIT: the round
 *                trips a one-statement commit saves). Commits/s, points/s, latency p50/p99.
 *   reads        aggregationRows of 100 series × 10 chunks (24 h at 10 s, chunks of 2.4 h),
 *                in calls of 64 series as the engine makes them: hourly buckets (every chunk
 *                comes with its data) and daily buckets (stats only). Same rows from the SQLite
 *                back-end's source for comparison. Latency p50/p99 per 100-series read.
 *
 * Run: npx tsx bench/postgres_backend.bench.ts   (EMMS_BENCH_QUICK=1: shorter runs)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres } from '../tests/integration/postgres_instance.js';
import { openPostgresBackend } from '../src/storage/postgres/postgres_backend.js';
import { SqliteBackend } from '../src/storage/sqlite/sqlite_backend.js';
import { encodeWalRecord } from '../src/storage/write_ahead_log.js';
import { encodeChunks, type EncodedChunk } from '../src/storage/chunk_encoding.js';
import type { ChunkSource, StorageBackend, WriteTransaction } from '../src/storage/backend.js';
import { mulberry32 } from './data_shapes.js';
import { machineLine, quick } from './workload/embedded_fixture.js';

const RUN_MS = quick ? 1_500 : 6_000;
const POINTS_PER_RECORD = 10_000;
const SERIES = 100;
const CHUNKS_PER_SERIES = 10;
const T0 = Date.UTC(2026, 4, 1);
const STEP_MS = 10_000;
const DAY_MS = 86_400_000;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

/** One record of 10,000 points: 1,000 series × 10 ticks, a random walk rounded to 2 decimals. */
function record(seed: number): Buffer {
  const rand = mulberry32(seed);
  const ids = new Uint32Array(POINTS_PER_RECORD);
  const ts = new Float64Array(POINTS_PER_RECORD);
  const vs = new Float64Array(POINTS_PER_RECORD);
  for (let i = 0; i < POINTS_PER_RECORD; i++) {
    ids[i] = i % 1000;
    ts[i] = T0 + seed * 100_000 + Math.floor(i / 1000) * STEP_MS;
    vs[i] = Math.round((50 + 30 * Math.sin(i / 1000 + seed) + rand() * 5) * 100) / 100;
  }
  return encodeWalRecord(ids, ts, vs, POINTS_PER_RECORD);
}

function seriesChunks(seriesId: number): EncodedChunk[] {
  const rand = mulberry32(seriesId);
  const n = DAY_MS / STEP_MS;
  const ts = Float64Array.from({ length: n }, (_, i) => T0 + i * STEP_MS);
  let v = 50;
  const vs = Float64Array.from({ length: n }, () => (v = Math.round((v + rand() - 0.5) * 100) / 100));
  const per = n / CHUNKS_PER_SERIES;
  const out: EncodedChunk[] = [];
  for (let c = 0; c < CHUNKS_PER_SERIES; c++) out.push(...encodeChunks(ts.subarray(c * per, (c + 1) * per), vs.subarray(c * per, (c + 1) * per)));
  return out;
}

interface Variant {
  name: string;
  fill(tx: WriteTransaction, i: number, bytes: Buffer): void;
}

async function commits(backend: StorageBackend, variant: Variant, records: readonly Buffer[], firstId: number): Promise<Record<string, string | number>> {
  const latencies: number[] = [];
  let id = firstId;
  const started = performance.now();
  while (performance.now() - started < RUN_MS) {
    const bytes = records[id % records.length]!;
    const tx = backend.beginWrite();
    tx.appendWalRecord({ id, createdMs: Date.now(), points: POINTS_PER_RECORD, data: bytes });
    variant.fill(tx, id, bytes);
    const t = performance.now();
    await tx.commit();
    latencies.push(performance.now() - t);
    id++;
  }
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const bytesPerPoint = records.reduce((s, r) => s + r.length, 0) / records.length / POINTS_PER_RECORD;
  return {
    variant: variant.name,
    commits: latencies.length,
    'commits/s': Math.round(latencies.length / seconds),
    'points/s': Math.round((latencies.length * POINTS_PER_RECORD) / seconds),
    'p50 ms': percentile(latencies, 0.5).toFixed(2),
    'p99 ms': percentile(latencies, 0.99).toFixed(2),
    'record B/pt': bytesPerPoint.toFixed(2),
  };
}

async function reads(name: string, source: ChunkSource, maxChunkId: number): Promise<Record<string, string | number>[]> {
  const ids = Array.from({ length: SERIES }, (_, i) => i + 1);
  const out: Record<string, string | number>[] = [];
  for (const [label, intervalMs] of [['hourly (data)', 3_600_000], ['daily (stats only)', DAY_MS]] as const) {
    const latencies: number[] = [];
    let bytes = 0;
    const started = performance.now();
    while (performance.now() - started < RUN_MS / 2 || latencies.length < 20) {
      const t = performance.now();
      bytes = 0;
      for (let k = 0; k < ids.length; k += 64) {
        const rows = await source.aggregationRows(ids.slice(k, k + 64), { startMs: T0, endMs: T0 + DAY_MS, maxChunkId, intervalMs, summaries: true });
        for (const list of rows.values()) for (const r of list) bytes += r.data?.length ?? 0;
      }
      latencies.push(performance.now() - t);
    }
    latencies.sort((a, b) => a - b);
    out.push({ backend: name, read: label, reads: latencies.length, 'p50 ms': percentile(latencies, 0.5).toFixed(2), 'p99 ms': percentile(latencies, 0.99).toFixed(2), 'blob KB': Math.round(bytes / 1024) });
  }
  return out;
}

async function fillChunks(backend: StorageBackend): Promise<number> {
  const tx = backend.beginWrite();
  let id = 0;
  for (let s = 1; s <= SERIES; s++) for (const c of seriesChunks(s)) tx.insertChunk(++id, s, c);
  await tx.commit();
  return id;
}

const server = await startPostgres();
const dir = mkdtempSync(join(tmpdir(), 'emms-pg-bench-'));
try {
  const backend = await openPostgresBackend({ url: server.url, schema: 'bench' });
  const records = Array.from({ length: 16 }, (_, i) => record(i));
  const chunk = seriesChunks(1)[0]!;
  const variants: Variant[] = [
    { name: 'record only (1 statement)', fill: () => undefined },
    {
      name: 'record + 4 chunks + 4 marks (CTEs)',
      fill: (tx, i) => {
        for (let k = 0; k < 4; k++) {
          tx.insertChunk(i * 4 + k, k + 1, chunk);
          tx.setMark(k + 1, i);
        }
      },
    },
    { name: 'record + a delete (BEGIN…COMMIT)', fill: (tx) => tx.deleteMarksUpTo(-1) },
  ];
  const commitRows: Record<string, string | number>[] = [];
  let nextId = 1;
  for (const v of variants) {
    const row = await commits(backend, v, records, nextId);
    nextId += Number(row.commits) + 1;
    commitRows.push(row);
  }
  const size = await backend.size();
  await backend.close();

  const pgRead = await openPostgresBackend({ url: server.url, schema: 'bench_reads' });
  const maxId = await fillChunks(pgRead);
  const sqlite = SqliteBackend.open({ path: join(dir, 'metrics.db') });
  await fillChunks(sqlite);
  const readRows = [...await reads('postgresql', pgRead.chunkSource(), maxId), ...await reads('sqlite', sqlite.chunkSource(), maxId)];
  await pgRead.close();
  await sqlite.close();

  console.log('PostgreSQL back-end, commits of one 10,000-point write-ahead record (sequential, as the engine commits):');
  console.table(commitRows);
  console.log(`store size after the commit runs: ${(size.bytes / 1e6).toFixed(1)} MB (pg_total_relation_size of the schema)`);
  console.log(`aggregationRows, ${SERIES} series × ${CHUNKS_PER_SERIES} chunks over 24 h, calls of 64 series:`);
  console.table(readRows);
  console.log(machineLine('PostgreSQL 15 server and this client on the same 2 cores; machine shared with other work (noisy)'));
} finally {
  rmSync(dir, { recursive: true, force: true });
  await server.stop();
}
