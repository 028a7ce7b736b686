/**
 * State replication through real back-ends (a test-owned PostgreSQL and Redis): two "nodes"
 * (each its own directory of SQLite files and its own StateReplicator) share one state log.
 * Changes written on one node reach the other, in log order, with the cursor kept across a
 * restart; claims are first-come cluster-wide; catch-up is bounded.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresInstance } from './postgres_instance.js';
import { startRedis, type RedisInstance } from './redis_instance.js';
import { PostgresStateLog } from '../../src/storage/postgres/postgres_state_log.js';
import { RedisStateLog } from '../../src/storage/redis/redis_state_log.js';
import { START, type StateLog } from '../../src/storage/state_replication/state_log.js';
import { StateCatchUpError, StateReplicator } from '../../src/storage/state_replication/state_replicator.js';
import { waitFor } from './cluster_failover_node.js';
import pg from 'pg';
import { migrate, MIGRATIONS } from '../../src/storage/postgres/postgres_schema.js';

const DDL = `CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, v INTEGER, secret BLOB);
             CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT)`;

interface Node {
  dir: string;
  store: Database.Database;
  replicator: StateReplicator;
  errors: Error[];
}

let pgServer: PostgresInstance;
let redisServer: RedisInstance;
let schemaSeq = 0;
const dirs: string[] = [];

beforeAll(async () => {
  [pgServer, redisServer] = await Promise.all([startPostgres(), startRedis()]);
}, 120_000);
afterAll(async () => {
  await Promise.all([pgServer?.stop(), redisServer?.stop()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function openNode(dir: string, log: StateLog, options: { batchRows?: number; catchUpMs?: number } = {}): Node {
  const store = new Database(join(dir, 'state.db'));
  store.pragma('journal_mode = WAL');
  store.exec(DDL);
  const errors: Error[] = [];
  const replicator = StateReplicator.open({
    log, databases: [{ name: 'state.db', db: new Database(join(dir, 'state.db')) }], onError: (e) => errors.push(e),
    uploadIntervalMs: 10, tailIntervalMs: 20, ...options,
  });
  return { dir, store, replicator, errors };
}

function newDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'emms-staterepl-'));
  dirs.push(d);
  return d;
}

const rows = (n: Node): unknown[] => n.store.prepare('SELECT * FROM keys ORDER BY id').all();

/** Each call opens another connection to the log named `space` (one per node, as processes have). */
const backends: Array<[string, (space: string) => Promise<StateLog>]> = [
  ['postgresql', (space) => PostgresStateLog.open({ url: pgServer.url, schema: space })],
  ['redis', (space) => RedisStateLog.open({ url: redisServer.url, prefix: `${space}:` })],
];

describe.each(backends)('state replication through %s', (_, openLog) => {
  const space = (): string => `s${process.pid}_${++schemaSeq}`;

  it('carries inserts, updates and deletions to the other node, and restarts from its cursor', async () => {
    const name = space();
    const a = openNode(newDir(), await openLog(name));
    const bDir = newDir();
    const b = openNode(bDir, await openLog(name));
    await a.replicator.catchUp();
    await b.replicator.catchUp();
    a.replicator.start();
    b.replicator.start();

    a.store.prepare('INSERT INTO keys VALUES (?, ?, ?)').run('k1', 1, Buffer.from([1, 2, 3]));
    a.store.prepare('INSERT INTO keys VALUES (?, ?, ?)').run('k2', 2, null);
    a.store.prepare('INSERT INTO events (what) VALUES (?)').run('created');
    await a.replicator.flush();
    await waitFor('b to see k1, k2', () => rows(b).length === 2, 10_000);
    expect(rows(b)).toEqual(rows(a));

    // Then b writes (as a node that took over), and a follows.
    b.store.prepare('UPDATE keys SET v = 20 WHERE id = ?').run('k2');
    b.store.prepare('DELETE FROM keys WHERE id = ?').run('k1');
    b.store.prepare('INSERT INTO events (what) VALUES (?)').run('after takeover');
    await b.replicator.flush();
    await waitFor('a to follow b', () => JSON.stringify(rows(a)) === JSON.stringify(rows(b)), 10_000);
    expect(rows(a)).toEqual([{ id: 'k2', v: 20, secret: null }]);
    // AUTOINCREMENT continues after the applied ids: the new writer's event did not reuse id 1.
    const events = [{ id: 1, what: 'created' }, { id: 2, what: 'after takeover' }];
    expect(b.store.prepare('SELECT id, what FROM events ORDER BY id').all()).toEqual(events);
    await waitFor('a to see both events', () => (a.store.prepare('SELECT count(*) FROM events').pluck().get() as number) === 2, 10_000);
    expect(a.store.prepare('SELECT id, what FROM events ORDER BY id').all()).toEqual(events);

    // b stops; a writes more; b restarts on its directory and resumes after its cursor.
    await b.replicator.close();
    b.store.close();
    a.store.prepare('INSERT INTO keys VALUES (?, ?, ?)').run('k3', 3, null);
    await a.replicator.flush();
    const b2 = openNode(bDir, await openLog(name));
    expect(b2.replicator.origin).toBe(b.replicator.origin);
    const read = await b2.replicator.catchUp();
    // Only what came after b's cursor: k3 (and at most b's own last uploads, read back once).
    expect(read).toBeGreaterThanOrEqual(1);
    expect(read).toBeLessThanOrEqual(4);
    expect(rows(b2)).toEqual(rows(a));
    expect(b2.replicator.metrics()).toMatch(/emms_state_replication_outbox_rows 0\n/);
    expect([...a.errors, ...b.errors, ...b2.errors]).toEqual([]);
    await Promise.all([a.replicator.close(), b2.replicator.close()]);
  }, 60_000);

  it('keeps one entry per row in the log however often the row changes', async () => {
    const name = space();
    const log = await openLog(name);
    const a = openNode(newDir(), log);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 10; i++) a.store.prepare('INSERT INTO keys VALUES (?, ?, NULL) ON CONFLICT (id) DO UPDATE SET v = excluded.v').run(`k${i}`, round);
      await a.replicator.flush();
    }
    a.store.prepare('DELETE FROM keys WHERE id = ?').run('k0');
    await a.replicator.flush();
    const entries = await (await openLog(name)).readAfter(START, 1000);
    // Ten rows: nine with their last value, k0 as its deletion.
    expect(entries).toHaveLength(10);
    const last = entries.map((e) => JSON.parse(e.change) as { k: string[]; r: { v: number } | null });
    expect(last.filter((c) => c.r === null).map((c) => c.k)).toEqual([['k0']]);
    expect(new Set(last.filter((c) => c.r !== null).map((c) => c.r!.v))).toEqual(new Set([4]));
    // A node starting from scratch on the compacted log gets the same rows.
    const b = openNode(newDir(), await openLog(name));
    await b.replicator.catchUp();
    expect(rows(b)).toEqual(rows(a));
    await Promise.all([a.replicator.close(), b.replicator.close()]);
  }, 30_000);

  it('drops old deletions, and a node that was away re-reads the log and ends with the same rows', async () => {
    const name = space();
    const a = openNode(newDir(), await openLog(name));
    for (let i = 0; i < 10; i++) a.store.prepare('INSERT INTO keys VALUES (?, ?, NULL)').run(`k${i}`, i);
    await a.replicator.flush();
    // b reads everything, then goes away.
    const bDir = newDir();
    const b = openNode(bDir, await openLog(name));
    await b.replicator.catchUp();
    expect(rows(b)).toEqual(rows(a));
    await b.replicator.close();
    b.store.close();

    // Meanwhile: five rows deleted, one updated; then the deletions pass the retention (an age
    // of -60 s: every deletion counts as old, whatever the back-end clock's resolution).
    for (let i = 0; i < 5; i++) a.store.prepare('DELETE FROM keys WHERE id = ?').run(`k${i}`);
    a.store.prepare('UPDATE keys SET v = 50 WHERE id = ?').run('k5');
    await a.replicator.flush();
    const reader = await openLog(name);
    expect(await reader.readAfter(START, 1000)).toHaveLength(10);
    expect(await reader.dropDeletions(-60_000, 3)).toBe(3); // bounded per call
    expect(await reader.dropDeletions(-60_000, 1000)).toBe(2);
    expect(await reader.dropDeletions(-60_000, 1000)).toBe(0);
    const left = await reader.readAfter(START, 1000);
    expect(left).toHaveLength(5); // the log shrank to the live rows
    expect(left.every((e) => (JSON.parse(e.change) as { r: unknown }).r !== null)).toBe(true);
    await reader.close();

    // b comes back with a local change made while away: it is below the horizon, re-reads the
    // whole log, removes the rows deleted meanwhile, keeps its own pending row.
    const bStore = new Database(join(bDir, 'state.db'));
    bStore.prepare('INSERT INTO keys VALUES (?, ?, NULL)').run('from-b', 99);
    bStore.close();
    const b2 = openNode(bDir, await openLog(name));
    await b2.replicator.catchUp();
    expect(b2.replicator.status().resyncs).toBe(1);
    expect(b2.replicator.metrics()).toMatch(/emms_state_replication_resyncs_total 1\n/);
    expect(b2.store.prepare('SELECT id FROM keys ORDER BY id').pluck().all()).toEqual(['from-b', 'k5', 'k6', 'k7', 'k8', 'k9']);
    expect(b2.store.prepare('SELECT v FROM keys WHERE id = ?').pluck().get('k5')).toBe(50);
    // Its pending row goes up; a node joining now has exactly the same rows, without a resync.
    await b2.replicator.flush();
    a.replicator.start();
    await waitFor('a to get b\'s row', () => rows(a).length === 6, 10_000);
    const c = openNode(newDir(), await openLog(name));
    await c.replicator.catchUp();
    expect(c.replicator.status().resyncs).toBe(0);
    expect(rows(c)).toEqual(rows(a));
    expect(rows(b2)).toEqual(rows(a));
    // Restarted after the resync, b reads on from its cursor: no second resync.
    await b2.replicator.close();
    b2.store.close();
    const b3 = openNode(bDir, await openLog(name));
    await b3.replicator.catchUp();
    expect(b3.replicator.status().resyncs).toBe(0);
    expect([...a.errors, ...b.errors, ...b2.errors, ...b3.errors, ...c.errors]).toEqual([]);
    await Promise.all([a.replicator.close(), b3.replicator.close(), c.replicator.close()]);
  }, 60_000);

  it('drops deletions past the retention on its own schedule', async () => {
    const name = space();
    const dir = newDir();
    const store = new Database(join(dir, 'state.db'));
    store.exec(DDL);
    const errors: Error[] = [];
    const replicator = StateReplicator.open({
      log: await openLog(name), databases: [{ name: 'state.db', db: new Database(join(dir, 'state.db')) }], onError: (e) => errors.push(e),
      uploadIntervalMs: 10, tailIntervalMs: 20, deletionRetentionMs: 0, dropDeletionsEveryMs: 20,
    });
    await replicator.catchUp();
    replicator.start();
    store.prepare('INSERT INTO keys VALUES (?, ?, NULL), (?, ?, NULL)').run('gone', 1, 'kept', 2);
    await replicator.flush();
    store.prepare('DELETE FROM keys WHERE id = ?').run('gone');
    await replicator.flush();
    const reader = await openLog(name);
    await waitFor('the deletion to be dropped', async () => (await reader.readAfter(START, 100)).length === 1, 10_000);
    expect(JSON.parse((await reader.readAfter(START, 100))[0]!.change)).toMatchObject({ k: ['kept'] });
    await waitFor('the count in /metrics', () => /emms_state_replication_dropped_deletions_total 1\n/.test(replicator.metrics()), 10_000);
    expect(store.prepare('SELECT id FROM keys').pluck().all()).toEqual(['kept']);
    expect(errors).toEqual([]);
    await Promise.all([reader.close(), replicator.close()]);
    store.close();
  }, 30_000);

  it('claims are first-come across nodes and kept by their owner', async () => {
    const name = space();
    const a = openNode(newDir(), await openLog(name));
    const b = openNode(newDir(), await openLog(name));
    const [first, second] = await Promise.all([a.replicator.claim('bootstrap'), b.replicator.claim('bootstrap')]);
    expect([first, second].filter(Boolean)).toHaveLength(1);
    expect(await a.replicator.claim('bootstrap')).toBe(first);
    await Promise.all([a.replicator.close(), b.replicator.close()]);
  }, 30_000);

  it('bounds the catch-up by time, naming where it stopped', async () => {
    const name = space();
    const a = openNode(newDir(), await openLog(name));
    for (let i = 0; i < 30; i++) a.store.prepare('INSERT INTO keys VALUES (?, ?, NULL)').run(`k${i}`, i);
    await a.replicator.flush();
    let t = 0;
    const b = StateReplicator.open({
      log: await openLog(name), databases: [{ name: 'state.db', db: prepared(newDir()) }], onError: () => undefined,
      batchRows: 5, catchUpMs: 1, now: () => (t += 10),
    });
    await expect(b.catchUp()).rejects.toThrow(/did not reach the end of the log within 1 ms \(\d+ entries applied, at position \S+\)/);
    await expect(b.catchUp()).rejects.toThrow(StateCatchUpError);
    await Promise.all([a.replicator.close(), b.close()]);
  }, 30_000);
});

describe('state log schema upgrade on postgresql', () => {
  it('marks the deletions an earlier build wrote, so they are dropped too', async () => {
    const schema = `up${process.pid}`;
    const client = new pg.Client({ connectionString: pgServer.url });
    await client.connect();
    try {
      await migrate(client, schema, MIGRATIONS.slice(0, 2));
      const deleted = JSON.stringify({ t: 'keys', k: ['old'], r: null });
      const live = JSON.stringify({ t: 'keys', k: ['live'], r: { id: 'live', v: 1, secret: null } });
      await client.query(`INSERT INTO "${schema}".state_log (origin, db, change, row_key) VALUES ('n', 'state.db', $1, 'b'), ('n', 'state.db', $2, 'a')`, [live, deleted]);
    } finally {
      await client.end();
    }
    const log = await PostgresStateLog.open({ url: pgServer.url, schema });
    expect(await log.dropDeletions(-60_000, 100)).toBe(1);
    expect((await log.readAfter(START, 100)).map((e) => JSON.parse(e.change).k)).toEqual([['live']]);
    // The dropped deletion was version 2: a reader at 1 may have missed it, one at 2 read it.
    expect(await log.missedDeletions('1')).toBe(true);
    expect(await log.missedDeletions('2')).toBe(false);
    expect(await log.missedDeletions(START)).toBe(false);
    await log.close();
  }, 30_000);
});

function prepared(dir: string): Database.Database {
  const db = new Database(join(dir, 'state.db'));
  db.exec(DDL);
  return db;
}

