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

function prepared(dir: string): Database.Database {
  const db = new Database(join(dir, 'state.db'));
  db.exec(DDL);
  return db;
}

