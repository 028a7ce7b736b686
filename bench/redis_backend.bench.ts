/**
 * The Redis back-end at the contract level (src/storage/redis/), against a private
 * redis-server this bench starts (tests/integration/redis_instance.ts: free loopback port,
 * temp dir, appendonly yes, appendfsync always):
 *   - ingest's commit: transactions holding one write-ahead record of 10,000 points
 *     (encodeWalRecord, lz4 on, TSBS-like columns: 1,000 series × 10 ticks), one at a time as
 *     the engine runs them: commits/s, points/s, commit latency p50/p99, bytes per record;
 *   - aggregationRows for 100 series × 10 chunks of 4,096 points (10 s data, ~11 h and ~8 KB per chunk),
 *     in the engine's 64-series calls, for the 24 h hourly average (every chunk spans buckets:
 *     its bytes are read) and for one bucket over the whole span (stats only), beside the SQLite
 *     back-end's answer to the same reads on the same chunks (a file in a temp dir) for the ratio.
 *
 *   npx tsx bench/redis_backend.bench.ts            # 10 s of commits, 300 reads each
 *   EMMS_BENCH_QUICK=1 npx tsx bench/redis_backend.bench.ts
 *
 * Client and redis-server share this machine's cores (and any other work on it).
 */
import { cpus } from 'node:os';
import { startRedis } from '../tests/integration/redis_instance.js';
import { openRedisBackendWithDetails } from '../src/storage/redis/redis_backend.js';
import { encodeWalRecord } from '../src/storage/write_ahead_log.js';
import { encodeChunks } from '../src/storage/chunk_encoding.js';
import { SqliteBackend } from '../src/storage/sqlite/sqlite_backend.js';
import type { AggregationRead, StorageBackend } from '../src/storage/backend.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const quick = process.env.EMMS_BENCH_QUICK === '1' || process.argv.includes('--quick');
const COMMIT_SECONDS = quick ? 3 : 10;
const READS = quick ? 100 : 300;
const POINTS_PER_RECORD = 10_000;
const SERIES = 100;
const CHUNKS_PER_SERIES = 10;
const POINTS_PER_CHUNK = 4096;
const STEP_MS = 10_000;
const HOUR = 3_600_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** One batch of TSBS-like columns: 1,000 series, 10 ticks of 10 s, random-walk values. */
function walRecord(tick: number): Buffer {
  const ids = new Uint32Array(POINTS_PER_RECORD);
  const ts = new Float64Array(POINTS_PER_RECORD);
  const vs = new Float64Array(POINTS_PER_RECORD);
  let seed = tick * 2654435761 >>> 0;
  for (let i = 0; i < POINTS_PER_RECORD; i++) {
    ids[i] = (i % 1000) + 1;
    ts[i] = 1_700_000_000_000 + (tick * 10 + Math.floor(i / 1000)) * STEP_MS;
    seed = (seed * 1664525 + 1013904223) >>> 0;
    vs[i] = Math.round((50 + (seed / 2 ** 32) * 10) * 100) / 100;
  }
  return encodeWalRecord(ids, ts, vs, POINTS_PER_RECORD);
}

async function main(): Promise<void> {
  const server = await startRedis();
  try {
    const backend = await openRedisBackendWithDetails({ url: server.url, prefix: 'bench:' });
    const records = Array.from({ length: 50 }, (_, i) => walRecord(i));
    const recordBytes = records.reduce((n, r) => n + r.length, 0) / records.length;

    // Commits: one at a time, as the engine's group commit issues them.
    const latencies: number[] = [];
    let id = 0;
    const until = performance.now() + COMMIT_SECONDS * 1000;
    const started = performance.now();
    while (performance.now() < until) {
      const tx = backend.beginWrite();
      id++;
      tx.appendWalRecord({ id, createdMs: Date.now(), points: POINTS_PER_RECORD, data: records[id % records.length]! });
      const t = performance.now();
      await tx.commit();
      latencies.push(performance.now() - t);
    }
    const seconds = (performance.now() - started) / 1000;
    latencies.sort((a, b) => a - b);
    const cleanup = backend.beginWrite();
    cleanup.deleteWalRecordsUpTo(Infinity);
    await cleanup.commit();

    // Reads: 100 series × 10 chunks, on Redis and on SQLite.
    const sqliteDir = mkdtempSync(join(tmpdir(), 'emms-bench-sqlite-'));
    const sqlite = SqliteBackend.open({ path: join(sqliteDir, 'metrics.db') });
    const t0 = Date.UTC(2026, 0, 1);
    let chunkId = 0;
    for (let s = 1; s <= SERIES; s++) {
      const txs = [backend.beginWrite(), sqlite.beginWrite()];
      for (let c = 0; c < CHUNKS_PER_SERIES; c++) {
        const start = t0 + c * POINTS_PER_CHUNK * STEP_MS;
        const ts = Float64Array.from({ length: POINTS_PER_CHUNK }, (_, i) => start + i * STEP_MS);
        // A gauge's random walk in steps of ±0.5 at two decimals.
        let v = 50 + s;
        let seed = (s * 1000 + c) >>> 0;
        const vs = Float64Array.from({ length: POINTS_PER_CHUNK }, () => {
          seed = (seed * 1664525 + 1013904223) >>> 0;
          v = Math.round((v + seed / 2 ** 32 - 0.5) * 100) / 100;
          return v;
        });
        chunkId++;
        for (const chunk of encodeChunks(ts, vs)) for (const tx of txs) tx.insertChunk(chunkId, s, chunk);
      }
      for (const tx of txs) await tx.commit();
    }
    const seriesIds = Array.from({ length: SERIES }, (_, i) => i + 1);
    const spanEnd = t0 + CHUNKS_PER_SERIES * POINTS_PER_CHUNK * STEP_MS;
    const reads: Array<[string, AggregationRead]> = [
      ['24 h hourly average (chunk bytes read)', { startMs: spanEnd - 24 * HOUR, endMs: spanEnd, maxChunkId: chunkId, intervalMs: HOUR, summaries: true }],
      // An interval of ~317 years puts every chunk in bucket 0: answered from stats.
      ['whole span, one bucket (stats only)', { startMs: t0, endMs: spanEnd, maxChunkId: chunkId, intervalMs: 1e13, summaries: true }],
    ];
    const readRows: Array<Record<string, string | number>> = [];
    for (const [name, read] of reads) {
      const p50: number[] = [];
      for (const target of [backend, sqlite] as StorageBackend[]) {
        const source = target.chunkSource();
        const times: number[] = [];
        let chunks = 0;
        let bytes = 0;
        for (let i = 0; i < READS; i++) {
          const t = performance.now();
          chunks = 0;
          bytes = 0;
          // In the engine's 64-series calls (PREFETCH_SERIES).
          for (let k = 0; k < seriesIds.length; k += 64) {
            for (const rows of (await source.aggregationRows(seriesIds.slice(k, k + 64), read)).values()) {
              chunks += rows.length;
              for (const r of rows) bytes += r.data?.length ?? 0;
            }
          }
          times.push(performance.now() - t);
        }
        times.sort((a, b) => a - b);
        p50.push(percentile(times, 0.5));
        readRows.push({ read: name, 'back-end': target.kind, chunks, 'bytes read': bytes, 'p50 ms': percentile(times, 0.5).toFixed(2), 'p99 ms': percentile(times, 0.99).toFixed(2), 'p50 / SQLite': target.kind === 'sqlite' ? '1' : '' });
      }
      readRows[readRows.length - 2]!['p50 / SQLite'] = (p50[0]! / p50[1]!).toFixed(2);
    }
    await sqlite.close();
    rmSync(sqliteDir, { recursive: true, force: true });
    const size = await backend.size();
    await backend.close();

    const cpu = cpus();
    console.log(`machine: ${cpu[0]?.model ?? 'unknown cpu'}, ${cpu.length} cores, node ${process.version}${quick ? ' (quick mode)' : ''}; ` +
      'client and redis-server on the same cores, machine shared with other work (noisy)');
    console.log(`redis-server on 127.0.0.1, appendonly yes, appendfsync always (${backend.durability.description})`);
    console.table([{
      'points/record': POINTS_PER_RECORD,
      'bytes/record': Math.round(recordBytes),
      commits: latencies.length,
      'commits/s': Math.round(latencies.length / seconds),
      'points/s': Math.round((latencies.length * POINTS_PER_RECORD) / seconds),
      'p50 ms': percentile(latencies, 0.5).toFixed(2),
      'p99 ms': percentile(latencies, 0.99).toFixed(2),
    }]);
    console.table(readRows);
    console.log(`size() after the read set: ${size.bytes} bytes for ${chunkId} chunks of ${POINTS_PER_CHUNK} points ` +
      `(${(size.bytes / (chunkId * POINTS_PER_CHUNK)).toFixed(3)} B/point as Redis counts its keys' memory)`);
  } finally {
    await server.stop();
  }
}

await main();
