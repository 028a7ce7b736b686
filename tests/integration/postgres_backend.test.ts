/**
 * The PostgreSQL back-end at the storage contract (src/storage/backend.ts), against a real,
 * test-owned PostgreSQL (postgres_instance.ts; one server for the file, one schema per test):
 * every write operation through load() and the ChunkSource, rollback, failing commits
 * (statement timeout, a killed connection, a stopped server), month partitions and their
 * retention, migrations, password redaction, and two back-ends ("nodes") on one schema.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { startPostgres, type PostgresInstance } from './postgres_instance.js';
import { PostgresBackend, openPostgresBackend } from '../../src/storage/postgres/postgres_backend.js';
import { openPostgresChunkSource } from '../../src/storage/postgres/postgres_chunk_source.js';
import { partitionName } from '../../src/storage/postgres/postgres_partitions.js';
import { encodeChunks, type EncodedChunk } from '../../src/storage/chunk_encoding.js';
import { decodeStored } from '../../src/storage/chunk_encoding.js';
import { decodeChunk } from '../../src/core/codec.js';
import type { BackendState, SeriesRow, WalRecordRow } from '../../src/storage/backend.js';
import { createMetricsSystem } from '../../src/index.js';
import { tmpdir } from 'node:os';

let server: PostgresInstance;
let admin: pg.Client;
let schemas = 0;
const opened: PostgresBackend[] = [];

beforeAll(async () => {
  server = await startPostgres();
  admin = await adminClient();
}, 90_000);

afterAll(async () => {
  for (const b of opened) await b.close().catch(() => undefined);
  await admin?.end().catch(() => undefined);
  await server?.stop();
}, 60_000);

/** A test's own connection; its loss when the server is killed is expected, not an uncaught error. */
async function adminClient(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: server.url });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

function nextSchema(): string {
  return `t${++schemas}`;
}

async function open(schema: string, extra: { statementTimeoutMs?: number; poolSize?: number; url?: string } = {}): Promise<PostgresBackend> {
  const b = await openPostgresBackend({ url: extra.url ?? server.url, schema, ...extra });
  opened.push(b);
  return b;
}

const MONTH = (m: number, day = 10): number => Date.UTC(2026, m, day);

/** `noisy`: values that do not compress (~8 bytes each), for size checks. */
function chunkAt(startMs: number, n: number, stepMs = 1000, base = 0, noisy = false): EncodedChunk {
  const ts = Float64Array.from({ length: n }, (_, i) => startMs + i * stepMs);
  const vs = Float64Array.from({ length: n }, (_, i) => (noisy ? Math.sin(base * 7919 + i) * 1e6 : base + i));
  return encodeChunks(ts, vs)[0]!;
}

function series(id: number, host: string): SeriesRow {
  return { id, tenant: 'default', metricId: 'cpu', canonicalTags: `host=${host}`, metricType: 'gauge' };
}

function wal(id: number, bytes: number[]): WalRecordRow {
  return { id, createdMs: 1_000 + id, points: bytes.length, data: Uint8Array.from(bytes) };
}

/** load() read to its end (the write-ahead records too, which ends its snapshot). */
async function loadAll(b: PostgresBackend): Promise<BackendState & { wal: WalRecordRow[] }> {
  const state = await b.load();
  const wal: WalRecordRow[] = [];
  for await (const r of state.walRecords()) wal.push(r);
  return { ...state, wal };
}

describe('PostgreSQL back-end: write transactions', () => {
  it('round-trips every operation through load() and the chunk source', async () => {
    const b = await open(nextSchema());
    const c1 = chunkAt(MONTH(0), 100);
    const c2 = chunkAt(MONTH(0) + 100_000, 50);
    const c3 = chunkAt(MONTH(1), 10, 1000, 7);
    const tx = b.beginWrite();
    tx.insertSeries(series(1, 'a'));
    tx.insertSeries(series(2, "b'\"{},\\ü"));
    tx.appendWalRecord(wal(10, [1, 2, 3]));
    tx.appendWalRecord(wal(11, [4]));
    tx.insertChunk(100, 1, c1);
    tx.insertChunk(101, 1, c2);
    tx.insertChunk(102, 2, c3);
    tx.setMark(1, 10);
    tx.setMark(2, 11);
    tx.setMeta('erasure_scrub_pending', '1');
    await tx.commit();

    const state = await loadAll(b);
    expect(state.series.sort((x, y) => x.id - y.id)).toEqual([series(1, 'a'), series(2, "b'\"{},\\ü")]);
    expect(state.chunks.sort((x, y) => x.id - y.id)).toEqual([
      { id: 100, seriesId: 1, minTs: c1.minTs, maxTs: c1.maxTs, count: 100 },
      { id: 101, seriesId: 1, minTs: c2.minTs, maxTs: c2.maxTs, count: 50 },
      { id: 102, seriesId: 2, minTs: c3.minTs, maxTs: c3.maxTs, count: 10 },
    ]);
    expect(state.marks).toEqual(new Map([[1, 10], [2, 11]]));
    expect(state.meta).toEqual(new Map([['erasure_scrub_pending', '1']]));
    const records = state.wal;
    expect(records.map((r) => [r.id, r.createdMs, r.points, [...r.data]])).toEqual([[10, 1010, 3, [1, 2, 3]], [11, 1011, 1, [4]]]);

    const src = b.chunkSource();
    const range = await src.rangeRows(1, MONTH(0), MONTH(0) + 60_000, 1000);
    expect(range.map((r) => r.id)).toEqual([100]);
    const row = range[0]!;
    expect(row).toMatchObject({ series_id: 1, min_ts: c1.minTs, max_ts: c1.maxTs, count: 100, sum: c1.sum, min: c1.min, max: c1.max, first: c1.firstValue, last: c1.lastValue, mean: c1.mean, m2: c1.m2 });
    const decoded = decodeStored({ id: row.id, codec: row.codec, count: row.count, data: row.data! });
    expect('timestamps' in decoded && [...decoded.timestamps.slice(0, 2)]).toEqual([MONTH(0), MONTH(0) + 1000]);
    // maxChunkId bounds what a snapshot sees.
    expect((await src.rangeRows(1, 0, MONTH(2), 100)).map((r) => r.id)).toEqual([100]);
    expect((await src.rangeRows(1, 0, MONTH(2), 101)).map((r) => r.id)).toEqual([100, 101]);

    // Aggregation: chunk 100 lies in one day bucket inside the range → no data; 101 asked without summaries → data.
    const day = 86_400_000;
    const agg = await src.aggregationRows([1, 2, 3], { startMs: MONTH(0, 1), endMs: MONTH(2, 1), maxChunkId: 1000, intervalMs: day, summaries: true });
    expect([...agg.keys()]).toEqual([1, 2, 3]);
    expect(agg.get(1)!.map((r) => [r.id, r.data === null])).toEqual([[100, true], [101, true]]);
    expect(agg.get(3)).toEqual([]);
    const noSummaries = await src.aggregationRows([1], { startMs: MONTH(0, 1), endMs: MONTH(2, 1), maxChunkId: 1000, intervalMs: day, summaries: false });
    expect(noSummaries.get(1)!.every((r) => r.data instanceof Uint8Array && r.data.length > 0)).toBe(true);
    // A chunk crossing a bucket boundary (1-minute buckets, 100 s of points) comes with its data.
    const minute = await src.aggregationRows([1], { startMs: MONTH(0, 1), endMs: MONTH(2, 1), maxChunkId: 1000, intervalMs: 60_000, summaries: true });
    expect(minute.get(1)!.map((r) => r.data === null)).toEqual([false, false]);
    // A chunk starting before the range comes with its data.
    const partial = await src.aggregationRows([1], { startMs: MONTH(0) + 1, endMs: MONTH(2, 1), maxChunkId: 1000, intervalMs: day, summaries: true });
    expect(partial.get(1)!.map((r) => [r.id, r.data === null])).toEqual([[100, false], [101, true]]);

    const data = await src.chunkData([100, 102, 999]);
    expect([...data.keys()].sort()).toEqual([100, 102]);
    expect(Buffer.from(data.get(102)!).equals(Buffer.from(c3.bytes))).toBe(true);

    const before = await src.newestBefore([1, 2, 3], MONTH(0) + 100_000, 1000);
    expect(before).toEqual(new Map([[1, { max_ts: c1.maxTs, last: c1.lastValue }]]));
    const newest = await src.newest([1, 2, 3]);
    expect(newest).toEqual(new Map([[1, { max_ts: c2.maxTs, last: c2.lastValue }], [2, { max_ts: c3.maxTs, last: c3.lastValue }]]));

    // The deletions, in one transaction.
    const del = b.beginWrite();
    del.deleteSeries(series(2, "b'\"{},\\ü"));
    del.deleteChunk(102, 2);
    del.deleteWalRecordsUpTo(10);
    del.deleteMarksUpTo(10);
    del.setMeta('erasure_scrub_pending', undefined);
    del.setMeta('other', 'x');
    await del.commit();
    const after = await loadAll(b);
    expect(after.series.map((s) => s.id)).toEqual([1]);
    expect(after.chunks.map((c) => c.id).sort()).toEqual([100, 101]);
    expect(after.marks).toEqual(new Map([[2, 11]]));
    expect(after.meta).toEqual(new Map([['other', 'x']]));
    expect((after.wal).map((r) => r.id)).toEqual([11]);

    const all = b.beginWrite();
    all.deleteWalRecordsUpTo(Infinity);
    all.deleteMarksUpTo(Infinity);
    await all.commit();
    const empty = await loadAll(b);
    expect(empty.marks.size).toBe(0);
    expect(empty.wal).toEqual([]);
  });

  it('applies operations on the same keys in their order within one transaction', async () => {
    const b = await open(nextSchema());
    const setup = b.beginWrite();
    setup.setMark(1, 5);
    setup.setMark(2, 50);
    setup.insertChunk(1, 1, chunkAt(MONTH(3), 5));
    await setup.commit();

    const tx = b.beginWrite();
    tx.setMark(2, 6); // replaces 50 …
    tx.deleteMarksUpTo(10); // … so this removes it, and mark 1 (5)
    tx.setMark(3, 7); // set after the delete: stays
    tx.insertChunk(2, 1, chunkAt(MONTH(3, 12), 5));
    tx.deleteChunk(2, 1); // written and deleted in one transaction: never there
    tx.deleteChunk(1, 1);
    tx.appendWalRecord(wal(1, [1]));
    tx.deleteWalRecordsUpTo(1);
    tx.appendWalRecord(wal(2, [2]));
    tx.insertSeries(series(9, 'x'));
    tx.deleteSeries(series(9, 'x'));
    tx.setMeta('k', 'a');
    tx.setMeta('k', undefined);
    tx.setMeta('j', 'b');
    await tx.commit();
    const s = await loadAll(b);
    expect(s.marks).toEqual(new Map([[3, 7]]));
    expect(s.chunks).toEqual([]);
    expect((s.wal).map((r) => r.id)).toEqual([2]);
    expect(s.series).toEqual([]);
    expect(s.meta).toEqual(new Map([['j', 'b']]));
  });

  it('streams many write-ahead records in id order, in batches', async () => {
    const b = await open(nextSchema());
    const tx = b.beginWrite();
    for (let id = 1; id <= 600; id++) tx.appendWalRecord(wal(id * 2, [id & 255]));
    await tx.commit();
    const ids = (await loadAll(b)).wal.map((r) => r.id);
    expect(ids.length).toBe(600);
    expect(ids).toEqual(Array.from({ length: 600 }, (_, i) => (i + 1) * 2));
  });

  it('rollback leaves nothing; a finished transaction refuses every further call', async () => {
    const b = await open(nextSchema());
    const tx = b.beginWrite();
    tx.insertSeries(series(1, 'a'));
    tx.appendWalRecord(wal(1, [1]));
    tx.rollback();
    expect(() => tx.appendWalRecord(wal(2, [1]))).toThrow(/after it ended/);
    expect(() => tx.commit()).toThrow(/after it ended/);
    const s = await loadAll(b);
    expect(s.series).toEqual([]);
    expect(s.wal).toEqual([]);

    const done = b.beginWrite();
    done.setMeta('a', '1');
    await done.commit();
    expect(() => done.setMeta('b', '2')).toThrow(/after it ended/);
    expect(() => done.insertChunk(1, 1, chunkAt(MONTH(0), 2))).toThrow(/after it ended/);
    expect(() => done.commit()).toThrow(/after it ended/);
  });
});

/** Holds a row lock on meta key `k` from another connection until released. */
async function lockMetaRow(schema: string, key: string): Promise<{ release(): Promise<void> }> {
  const c = await adminClient();
  await c.query(`INSERT INTO "${schema}".meta (key, value) VALUES ($1, 'held') ON CONFLICT (key) DO NOTHING`, [key]);
  await c.query('BEGIN');
  await c.query(`SELECT 1 FROM "${schema}".meta WHERE key = $1 FOR UPDATE`, [key]);
  return { async release() { await c.query('ROLLBACK'); await c.end(); } };
}

async function waitFor<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('PostgreSQL back-end: failing commits', () => {
  it('a statement timeout rejects the commit and leaves nothing (one-statement and BEGIN…COMMIT paths)', async () => {
    const schema = nextSchema();
    const b = await open(schema, { statementTimeoutMs: 300 });
    const lock = await lockMetaRow(schema, 'k');
    try {
      const atomic = b.beginWrite();
      atomic.insertSeries(series(1, 'a'));
      atomic.appendWalRecord(wal(1, [1]));
      atomic.setMeta('k', 'new');
      await expect(atomic.commit()).rejects.toThrow(/statement timeout/);

      const multi = b.beginWrite();
      multi.insertSeries(series(2, 'b'));
      multi.appendWalRecord(wal(2, [1]));
      multi.insertChunk(5, 2, chunkAt(MONTH(4), 3));
      multi.deleteWalRecordsUpTo(0);
      multi.setMeta('k', 'new');
      const error = await multi.commit().then(() => undefined, (e: unknown) => e as Error & { code?: string });
      expect(error?.message).toMatch(/commit: canceling statement due to statement timeout/);
      expect(error?.code).toBe('57014');
      expect(error?.message).toContain(b.location);
    } finally {
      await lock.release();
    }
    const s = await loadAll(b);
    expect(s.series).toEqual([]);
    expect(s.chunks).toEqual([]);
    expect(s.meta.get('k')).toBe('held');
    expect(s.wal).toEqual([]);
    // The pool recovered: the next commit goes through.
    const ok = b.beginWrite();
    ok.appendWalRecord(wal(3, [3]));
    await ok.commit();
    expect((await loadAll(b)).wal.map((r) => r.id)).toEqual([3]);
  });

  it('a connection killed mid-commit (pg_terminate_backend) rejects and leaves nothing', async () => {
    const schema = nextSchema();
    const b = await open(schema);
    for (const withDelete of [false, true]) {
      const lock = await lockMetaRow(schema, 'k');
      const tx = b.beginWrite();
      tx.insertSeries(series(withDelete ? 2 : 1, 'a' + String(withDelete)));
      tx.appendWalRecord(wal(withDelete ? 2 : 1, [1]));
      if (withDelete) tx.deleteChunk(77, 1);
      tx.setMeta('k', 'new');
      const commit = tx.commit().then(() => undefined, (e: unknown) => e as Error);
      const pid = await waitFor(async () => {
        const r = await admin.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE application_name = 'emms' AND wait_event_type = 'Lock' AND datname = 'emms'",
        );
        return r.rows[0]?.pid;
      }, 'the commit to wait on the row lock');
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      const error = await commit;
      expect(error?.message, `withDelete=${withDelete}`).toMatch(/commit: .*terminat|Connection terminated/i);
      await lock.release();
    }
    const s = await loadAll(b);
    expect(s.series).toEqual([]);
    expect(s.wal).toEqual([]);
    const ok = b.beginWrite();
    ok.appendWalRecord(wal(9, [9]));
    await ok.commit();
  });

  it('a stopped server rejects commits with the redacted location; after a restart the store works', async () => {
    const schema = nextSchema();
    const b = await open(schema);
    const before = b.beginWrite();
    before.appendWalRecord(wal(1, [1]));
    await before.commit();
    await server.kill();
    try {
      const tx = b.beginWrite();
      tx.appendWalRecord(wal(2, [2]));
      const error = await tx.commit().then(() => undefined, (e: unknown) => e as Error);
      expect(error).toBeInstanceOf(Error);
      expect(error!.message).toContain(b.location);
      expect(error!.message).not.toContain(new URL(server.url).password);
      await expect(b.checkWritable()).rejects.toThrow(b.location);
    } finally {
      await server.restart();
      await admin.end().catch(() => undefined);
      admin = await adminClient();
    }
    // Committed before the crash: still there. Rejected: not there.
    expect((await loadAll(b)).wal.map((r) => r.id)).toEqual([1]);
    await b.checkWritable();
  });
});

describe('PostgreSQL back-end: partitions, schema, nodes', () => {
  it('creates a partition per month of max_ts and drops whole months for retention', async () => {
    const schema = nextSchema();
    const b = await open(schema);
    const tx = b.beginWrite();
    tx.insertChunk(1, 1, chunkAt(MONTH(0), 10));
    tx.insertChunk(2, 1, chunkAt(MONTH(0, 20), 10));
    tx.insertChunk(3, 1, chunkAt(MONTH(1), 10));
    tx.insertChunk(4, 1, chunkAt(MONTH(2), 10));
    await tx.commit();
    const partitions = async (): Promise<string[]> => (await admin.query<{ relname: string }>(
      `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1`, [schema],
    )).rows.map((r) => r.relname);
    // This month's and next month's partitions were made at open, ahead of need.
    const now = new Date();
    const ahead = [0, 1].map((k) => partitionName((now.getUTCFullYear() * 12 + now.getUTCMonth()) + k));
    expect(await partitions()).toEqual(['chunks_2026_01', 'chunks_2026_02', 'chunks_2026_03', ...ahead].sort());

    // A second node still believes January exists after the first dropped it.
    const other = await open(schema);
    expect(await b.dropChunkPartitionsBefore(MONTH(2, 15))).toBe(3);
    expect(b.partitionFloor(MONTH(2, 15))).toBe(Date.UTC(2026, 2, 1));
    expect(await partitions()).toEqual(['chunks_2026_03', ...ahead].sort());
    expect((await loadAll(b)).chunks.map((c) => c.id)).toEqual([4]);
    expect(await b.dropChunkPartitionsBefore(MONTH(2, 15))).toBe(0);

    const late = other.beginWrite();
    late.insertChunk(5, 1, chunkAt(MONTH(0, 3), 10));
    await late.commit();
    const again = b.beginWrite();
    again.insertChunk(6, 1, chunkAt(MONTH(0, 4), 10));
    await again.commit();
    expect((await loadAll(b)).chunks.map((c) => c.id).sort()).toEqual([4, 5, 6]);
    expect((await b.chunkSource().rangeRows(1, 0, MONTH(3), 100)).map((r) => r.id)).toEqual([5, 6, 4]);
  });

  it('engine retention drops whole month partitions, and deletes the rest of the expired chunks row by row', async () => {
    const schema = nextSchema();
    const DAY = 86_400_000;
    const now = Date.now();
    const options = { storage: 'postgresql' as const, postgres: { url: server.url, schema }, path: `${tmpdir()}/emms-pg-retention-${schema}/metrics.db`, queryWorkers: 0 };
    const writer = createMetricsSystem(options);
    await writer.start();
    const ages = [120, 90, 45, 31, 1];
    // One series per age: each becomes a chunk of its own, in the partition of its month.
    await writer.collectMetrics(ages.map((age) => ({ metricId: 'retention.m', value: age, timestamp: now - age * DAY, tags: { age: String(age) } })));
    await writer.stop();
    const monthOf = (t: number): string => partitionName(new Date(t).getUTCFullYear() * 12 + new Date(t).getUTCMonth());
    const partitions = async (): Promise<string[]> => (await admin.query<{ relname: string }>(
      `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relkind = 'r' ORDER BY 1`, [schema],
    )).rows.map((r) => r.relname);
    expect(await partitions()).toContain(monthOf(now - 120 * DAY));
    // Opening with a 30-day retention applies it: the months wholly before the cutoff's month go as partitions.
    const kept = createMetricsSystem({ ...options, retentionDays: 30 });
    await kept.start();
    try {
      const cutoff = now - 30 * DAY;
      const left = await partitions();
      expect(left).not.toContain(monthOf(now - 120 * DAY));
      expect(left).not.toContain(monthOf(now - 90 * DAY));
      expect(left).toContain(monthOf(cutoff));
      // 45 and 31 days: in the cutoff's month or after a dropped one, deleted row by row.
      const series = await kept.queryMetrics({ metricPattern: 'retention.m', startTime: 0, endTime: now + DAY });
      expect(series.map((s) => Array.from(s.values))).toEqual([[1]]);
    } finally {
      await kept.stop();
    }
  });

  it('a clean stop gives back the space of chunks compaction deleted, and only where a partition is sparse', async () => {
    const schema = nextSchema();
    const b = await open(schema);
    const bytesOf = async (month: number): Promise<number> => Number((await admin.query<{ n: string }>(
      `SELECT pg_total_relation_size('"${schema}".${partitionName(2026 * 12 + month)}'::regclass)::bigint AS n`,
    )).rows[0]!.n);
    // January: 200 chunks of noisy values (TOASTed), then all but the last 20 deleted, as a
    // compaction deletes the chunks it merged. March: kept whole.
    const fill = b.beginWrite();
    for (let i = 0; i < 200; i++) fill.insertChunk(i + 1, 1, chunkAt(MONTH(0) + i * 1_000_000, 600, 1000, i, true));
    for (let i = 0; i < 20; i++) fill.insertChunk(1_000 + i, 1, chunkAt(MONTH(2) + i * 1_000_000, 600, 1000, i, true));
    await fill.commit();
    const churn = b.beginWrite();
    for (let i = 0; i < 180; i++) churn.deleteChunk(i + 1, 1);
    await churn.commit();
    // VACUUM FULL writes a table into new files: a new file node says it was rewritten.
    const fileOf = async (month: number): Promise<string> => (await admin.query<{ n: string }>(
      `SELECT pg_relation_filenode('"${schema}".${partitionName(2026 * 12 + month)}'::regclass)::text AS n`,
    )).rows[0]!.n;
    const before = { jan: await bytesOf(0), mar: await bytesOf(2), janFile: await fileOf(0), marFile: await fileOf(2) };
    await b.close({ compact: true });
    const after = { jan: await bytesOf(0), mar: await bytesOf(2), janFile: await fileOf(0), marFile: await fileOf(2) };
    // 20 chunks of ~4.8 kB are left in January: its files shrink to about March's size.
    expect(after.jan).toBeLessThan(before.jan / 4);
    expect(after.jan).toBeLessThan(after.mar * 1.5);
    expect(after.janFile).not.toBe(before.janFile);
    // March had no free space: not rewritten.
    expect(after.marFile).toBe(before.marFile);

    const reopened = await open(schema);
    const state = await loadAll(reopened);
    expect(state.chunks.map((c) => c.id).sort((x, y) => x - y)).toEqual([...Array.from({ length: 20 }, (_, i) => 181 + i), ...Array.from({ length: 20 }, (_, i) => 1_000 + i)]);
    const rows = await reopened.chunkSource().rangeRows(1, MONTH(0), MONTH(1), 10_000);
    const expected = chunkAt(MONTH(0) + 199 * 1_000_000, 600, 1000, 199, true);
    const last = rows.find((r) => r.id === 200)!;
    const decoded = decodeStored({ id: last.id, codec: last.codec, count: last.count, data: last.data! });
    expect('values' in decoded && [...decoded.values]).toEqual([...decodeChunk(expected.bytes).values]);
  });

  it('two nodes creating the same new month at once both commit', async () => {
    const schema = nextSchema();
    const [a, c] = await Promise.all([open(schema), open(schema)]);
    const txs = [a, c].map((node, i) => {
      const tx = node.beginWrite();
      tx.insertChunk(10 + i, 1, chunkAt(MONTH(6), 10));
      return tx.commit();
    });
    await Promise.all(txs);
    expect((await loadAll(a)).chunks.map((x) => x.id).sort()).toEqual([10, 11]);
  });

  it('migrates once when nodes start together, records versions, and refuses a newer schema', async () => {
    const schema = nextSchema();
    await Promise.all([open(schema), open(schema), open(schema)]);
    const versions = await admin.query<{ version: number }>(`SELECT version FROM "${schema}".schema_versions`);
    expect(versions.rows.map((r) => r.version)).toEqual([1, 2, 3]);
    await admin.query(`INSERT INTO "${schema}".schema_versions (version, description) VALUES (99, 'from the future')`);
    await expect(open(schema)).rejects.toThrow(/schema "t\d+" is at version 99, newer than this build knows \(3\)/);
  });

  it('checks its options, naming the field and the value', async () => {
    await expect(openPostgresBackend({ url: server.url, schema: 'Bad-Name' })).rejects.toThrow(/options\.schema must match .*got "Bad-Name"/);
    await expect(openPostgresBackend({ url: server.url, poolSize: 0 })).rejects.toThrow(/options\.poolSize must be an integer in \[1, 100\]; got 0/);
    await expect(openPostgresBackend({ url: server.url, statementTimeoutMs: 1.5 })).rejects.toThrow(/options\.statementTimeoutMs .*got 1\.5/);
    await expect(openPostgresBackend({ url: 'mysql://x@y/z' })).rejects.toThrow(/options\.url must start with postgres/);
  });

  it('never shows the password: location, authentication and statement errors', async () => {
    const password = new URL(server.url).password;
    const b = await open(nextSchema());
    expect(b.location).toBe(server.url.replace(password, '***'));
    expect(b.location).not.toContain(password);
    const wrong = server.url.replace(password, `${password}x`);
    const error = await openPostgresBackend({ url: wrong, schema: nextSchema() }).then(() => undefined, (e: unknown) => e as Error);
    expect(error?.message).toMatch(/password authentication failed/);
    expect(error?.message).not.toContain(password);
    expect(error?.message).toContain(server.url.replace(password, '***'));
    expect(JSON.stringify(error, Object.getOwnPropertyNames(error))).not.toContain(password);
  });

  it('two nodes on one schema see each other\'s committed series, chunks and records', async () => {
    const schema = nextSchema();
    const a = await open(schema);
    const c = await open(schema);
    const tx = a.beginWrite();
    tx.insertSeries(series(1, 'a'));
    tx.insertChunk(1, 1, chunkAt(MONTH(5), 20));
    tx.appendWalRecord(wal(1, [1]));
    await tx.commit();
    expect((await c.chunkSource().rangeRows(1, 0, MONTH(7), 10)).map((r) => r.id)).toEqual([1]);
    const seen = await loadAll(c);
    expect(seen.series.map((s) => s.id)).toEqual([1]);
    expect((seen.wal).map((r) => r.id)).toEqual([1]);
    // The same series created by the other node under another id is refused, not split.
    const clash = c.beginWrite();
    clash.insertSeries({ ...series(1, 'a'), id: 2 });
    await expect(clash.commit()).rejects.toThrow(/series_identity/);
    // A worker's own source reads the same.
    const worker = await openPostgresChunkSource(c.workerSource() as Extract<ReturnType<typeof c.workerSource>, { kind: 'postgresql' }>);
    expect((await worker.newest([1])).get(1)?.max_ts).toBe(MONTH(5) + 19_000);
    await worker.close();
  });

  it('reports its size, reclaims deleted space, and checks writability with a real write', async () => {
    const b = await open(nextSchema());
    const tx = b.beginWrite();
    for (let i = 0; i < 50; i++) tx.insertChunk(i + 1, 1 + (i % 10), chunkAt(MONTH(8) + i * 4_096_000, 4096, 1000, i, true));
    await tx.commit();
    const full = (await b.size()).bytes;
    expect(full).toBeGreaterThan(50 * 4096 * 6);
    // A snapshot older than the deletes (another store's report, say) still sees the rows:
    // VACUUM FULL must keep them, and reclaiming says so instead of claiming the bytes are gone.
    const reader = await adminClient();
    await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await reader.query('SELECT count(*) FROM pg_class');
    const del = b.beginWrite();
    for (let i = 0; i < 50; i++) del.deleteChunk(i + 1, 1 + (i % 10));
    await del.commit();
    await expect(b.reclaimDeletedSpace()).rejects.toThrow(/still visible to an open transaction .*chunks_2026_09: 50 dead rows/);
    await reader.query('COMMIT');
    await reader.end();
    await b.reclaimDeletedSpace();
    const after = (await b.size()).bytes;
    expect(after).toBeLessThan(full / 2);
    await b.checkWritable();
    expect((await loadAll(b)).meta.has('last_write_check_ms')).toBe(true);
  });

  it('close() ends a load() whose write-ahead records were never read', async () => {
    const b = await open(nextSchema());
    const state = await b.load();
    await b.close();
    await expect(async () => {
      for await (const r of state.walRecords()) void r;
    }).rejects.toThrow(/read twice, or after close/);
    expect(() => b.beginWrite()).toThrow(/used after close/);
  });
});
