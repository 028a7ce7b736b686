/**
 * The SQLite side of state replication on real files: what the triggers capture, how a change
 * reads back, and that applying it on another file gives the same rows (every storage class,
 * deletions, key updates, rowid tables), idempotently and without echoing into the outbox.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeValue, encodeValue } from '../../src/storage/state_replication/row_codec.js';
import { OUTBOX_TABLE, ReplicationSchemaError, rowId, SqliteChangeCapture, type RowChange } from '../../src/storage/state_replication/sqlite_change_capture.js';

const DDL = `
  CREATE TABLE kinds (id TEXT PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, n, big INTEGER, whole REAL);
  CREATE TABLE pairs (tenant TEXT NOT NULL, name TEXT NOT NULL, v INTEGER, PRIMARY KEY (tenant, name)) WITHOUT ROWID;
  CREATE TABLE history (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);
  CREATE TABLE loose (what TEXT);
`;

let dir: string;
const opened: Database.Database[] = [];

function open(name: string): Database.Database {
  const db = new Database(join(dir, name));
  db.pragma('journal_mode = WAL');
  opened.push(db);
  return db;
}

/** A node: the store's connection (writes) and the replication connection (capture). */
function node(name: string): { store: Database.Database; capture: SqliteChangeCapture; repl: Database.Database } {
  const store = open(name);
  store.exec(DDL);
  const repl = open(name);
  return { store, repl, capture: new SqliteChangeCapture(repl) };
}

function drain(capture: SqliteChangeCapture): RowChange[] {
  const out: RowChange[] = [];
  for (let p = capture.pending(2); p !== undefined; p = capture.pending(2)) {
    out.push(...p.changes);
    capture.acknowledge(p.upTo);
  }
  // Through JSON, as in the log.
  return JSON.parse(JSON.stringify(out)) as RowChange[];
}

const dump = (db: Database.Database, table: string): unknown[] =>
  db.prepare(`SELECT ${table === 'loose' ? 'rowid AS rowid, ' : ''}*, ${table === 'kinds' ? 'typeof(i) ti, typeof(r) tr, typeof(b) tb, typeof(n) tn, typeof(whole) tw, ' : ''}1 FROM ${table} ORDER BY 1`).safeIntegers(true).all();

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-capture-'));
});
afterEach(() => {
  for (const db of opened.splice(0)) if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('row codec', () => {
  it('keeps each storage class through JSON', () => {
    const values = [null, 'text', 42n, -(2n ** 62n), 1.5, 2, Infinity, Buffer.from([0, 255, 7])];
    const back = values.map((v) => decodeValue(JSON.parse(JSON.stringify(encodeValue(v)))));
    expect(back).toEqual([null, 'text', 42n, -(2n ** 62n), 1.5, 2, Infinity, Buffer.from([0, 255, 7])]);
    expect(typeof back[5]).toBe('number'); // an integral REAL stays REAL
  });

  it('refuses malformed values, naming them', () => {
    expect(() => decodeValue({ x: '1' })).toThrow(/malformed replicated value \{"x":"1"\}/);
    expect(() => decodeValue({ b: 'zz' })).toThrow(/malformed/);
    expect(() => decodeValue([1])).toThrow(/malformed/);
  });
});

describe('SqliteChangeCapture', () => {
  it('round-trips inserts of every column type to another file', () => {
    const a = node('a.db');
    const b = node('b.db');
    a.store.prepare('INSERT INTO kinds VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run('k1', 7n, 0.1 + 0.2, 'héllo', Buffer.from('00ff', 'hex'), 3.25, 2n ** 60n + 1n, 4);
    a.store.prepare('INSERT INTO kinds VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run('k2', null, null, null, null, 'free', null, null);
    a.store.prepare('INSERT INTO pairs VALUES (?, ?, ?)').run('t1', 'x', 1);
    a.store.prepare('INSERT INTO history (what) VALUES (?)').run('fired');
    a.store.prepare('INSERT INTO loose VALUES (?)').run('no key');
    const changes = drain(a.capture);
    expect(changes.map((c) => c.t).sort()).toEqual(['history', 'kinds', 'kinds', 'loose', 'pairs']);
    expect(b.capture.apply(changes, 'cursor', '5')).toBe(5);
    for (const t of ['kinds', 'pairs', 'history', 'loose']) expect(dump(b.store, t)).toEqual(dump(a.store, t));
    expect((dump(b.store, 'kinds')[0] as Record<string, unknown>).r).toBe(0.1 + 0.2);
    expect(b.capture.meta('cursor')).toBe('5');
    // Applied rows are not captured again (no echo).
    expect(b.capture.outboxRows()).toBe(0);
    expect(a.capture.outboxRows()).toBe(0);
  });

  it('replicates updates, primary key changes and deletions; applying twice changes nothing', () => {
    const a = node('a.db');
    const b = node('b.db');
    a.store.exec(`INSERT INTO pairs VALUES ('t1', 'x', 1), ('t1', 'y', 2), ('t2', 'z', 3)`);
    a.store.exec(`INSERT INTO loose VALUES ('one'), ('two')`);
    b.capture.apply(drain(a.capture), 'cursor', '1');
    a.store.exec(`UPDATE pairs SET v = 10 WHERE name = 'x'`);
    a.store.exec(`UPDATE pairs SET name = 'y2' WHERE name = 'y'`);
    a.store.exec(`DELETE FROM pairs WHERE tenant = 't2'`);
    a.store.exec(`DELETE FROM loose WHERE what = 'one'`);
    const changes = drain(a.capture);
    // The key change reads back as the old key's deletion and the new key's row.
    expect(changes).toContainEqual({ t: 'pairs', k: ['t1', 'y'], r: null });
    expect(changes).toContainEqual({ t: 'pairs', k: ['t1', 'y2'], r: { tenant: 't1', name: 'y2', v: 2 } });
    b.capture.apply(changes, 'cursor', '2');
    const after = dump(b.store, 'pairs');
    expect(after).toEqual(dump(a.store, 'pairs'));
    expect(dump(b.store, 'loose')).toEqual(dump(a.store, 'loose'));
    b.capture.apply(changes, 'cursor', '2');
    expect(dump(b.store, 'pairs')).toEqual(after);
    expect(b.capture.outboxRows()).toBe(0);
  });

  it('collapses several changes of one row into its current state', () => {
    const a = node('a.db');
    a.store.exec(`INSERT INTO pairs VALUES ('t', 'x', 1)`);
    for (let i = 2; i <= 50; i++) a.store.prepare(`UPDATE pairs SET v = ? WHERE name = 'x'`).run(i);
    const pending = a.capture.pending(1000)!;
    expect(pending.changes).toEqual([{ t: 'pairs', k: ['t', 'x'], r: { tenant: 't', name: 'x', v: 50 } }]);
    a.capture.acknowledge(pending.upTo);
    expect(a.capture.pending(1000)).toBeUndefined();
  });

  it('keeps a local change waiting in the outbox over an older remote one', () => {
    const a = node('a.db');
    const b = node('b.db');
    a.store.exec(`INSERT INTO pairs VALUES ('t', 'x', 1)`);
    const remote = drain(a.capture);
    b.store.exec(`INSERT INTO pairs VALUES ('t', 'x', 2)`);
    b.capture.apply(remote, 'cursor', '1');
    expect(b.store.prepare(`SELECT v FROM pairs`).pluck().get()).toBe(2);
    // Once uploaded (acknowledged) the log's later entries win again.
    drain(b.capture);
    b.capture.apply(remote, 'cursor', '1');
    expect(b.store.prepare(`SELECT v FROM pairs`).pluck().get()).toBe(1);
  });

  it('captures writes of other connections and survives re-opening (triggers re-installed)', () => {
    const a = node('a.db');
    a.repl.close();
    const other = open('a.db');
    other.exec(`INSERT INTO history (what) VALUES ('cli')`);
    expect(other.prepare(`SELECT count(*) FROM ${OUTBOX_TABLE}`).pluck().get()).toBe(1);
    const again = new SqliteChangeCapture(open('a.db'));
    expect(again.pending(10)!.changes).toEqual([{ t: 'history', k: [1], r: { id: 1, what: 'cli' } }]);
    expect(again.tables).toEqual(['history', 'kinds', 'loose', 'pairs']);
  });

  it('uninstalls completely when the node goes back to SQLite storage: no trigger, no outbox, rows kept', () => {
    const a = node('a.db');
    a.store.exec(`INSERT INTO history (what) VALUES ('before')`);
    expect(SqliteChangeCapture.uninstall(a.repl)).toBe(true);
    expect(a.store.prepare(`SELECT count(*) FROM sqlite_master WHERE name LIKE '_emms_repl_%'`).pluck().get()).toBe(0);
    a.store.exec(`INSERT INTO history (what) VALUES ('after')`);
    expect(dump(a.store, 'history')).toHaveLength(2);
    expect(SqliteChangeCapture.uninstall(a.repl)).toBe(false);
  });

  it('refuses a table whose key it cannot carry, naming it', () => {
    const db = open('wide.db');
    db.exec('CREATE TABLE wide (a, b, c, d, e, PRIMARY KEY (a, b, c, d, e))');
    expect(() => new SqliteChangeCapture(db)).toThrow(ReplicationSchemaError);
    expect(() => new SqliteChangeCapture(db)).toThrow(/table wide has a 5-column primary key/);
  });

  it('leaves excluded tables alone and skips changes of unknown tables', () => {
    const store = open('x.db');
    store.exec(DDL);
    const capture = new SqliteChangeCapture(open('x.db'), ['loose']);
    store.exec(`INSERT INTO loose VALUES ('local only')`);
    expect(capture.pending(10)).toBeUndefined();
    expect(capture.apply([{ t: 'nope', k: [1], r: { a: 1 } }], 'cursor', '9')).toBe(0);
  });
  it('sweeps the rows a full re-read did not find, keeping local changes not yet uploaded, without capturing', () => {
    const a = node('a.db');
    for (const id of ['k1', 'k2', 'k3']) a.store.prepare('INSERT INTO kinds (id, i) VALUES (?, 1)').run(id);
    a.store.prepare("INSERT INTO pairs VALUES ('t', 'x', 1), ('t', 'y', 2)").run();
    a.store.prepare("INSERT INTO loose (what) VALUES ('one'), ('two')").run();
    drain(a.capture);
    // A local change not yet uploaded: kept whatever the log says.
    a.store.prepare("INSERT INTO kinds (id, i) VALUES ('local', 1)").run();
    a.capture.setMeta('resync', '1');
    const seen = new Set([rowId('kinds', ['k2']), rowId('pairs', ['t', 'y']), rowId('loose', [2])]);
    expect(a.capture.sweep(seen, 'resync')).toBe(4);
    expect(a.store.prepare('SELECT id FROM kinds ORDER BY id').pluck().all()).toEqual(['k2', 'local']);
    expect(a.store.prepare('SELECT name FROM pairs').pluck().all()).toEqual(['y']);
    expect(a.store.prepare('SELECT rowid FROM loose').pluck().all()).toEqual([2]);
    expect(a.capture.meta('resync')).toBeUndefined();
    // Only the local insert is in the outbox: the sweep's deletions were not captured.
    expect(drain(a.capture).map((c) => c.k)).toEqual([['local']]);
  });

  it('marks the newest change and tells whether changes up to a mark are still waiting', () => {
    const a = node('a.db');
    expect(a.capture.lastSeq()).toBe(0);
    a.store.prepare("INSERT INTO kinds (id) VALUES ('k1')").run();
    const mark = a.capture.lastSeq();
    expect(mark).toBeGreaterThan(0);
    expect(a.capture.pendingThrough(mark)).toBe(true);
    drain(a.capture);
    expect(a.capture.pendingThrough(mark)).toBe(false);
    // The mark never moves back once the outbox is empty (AUTOINCREMENT).
    expect(a.capture.lastSeq()).toBe(mark);
    a.store.prepare("UPDATE kinds SET i = 2 WHERE id = 'k1'").run();
    expect(a.capture.lastSeq()).toBeGreaterThan(mark);
    expect(a.capture.pendingThrough(mark)).toBe(false);
  });
});
