/**
 * openSqlite's page size for new plaintext files (src/crypto/sqlite_cipher.ts): a new file
 * gets 1 KiB pages, while a file that exists keeps the page size it was written with and its rows
 * (data directories from before the change open as they are).
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqlite } from '../../src/crypto/sqlite_cipher.js';

const dirs: string[] = [];
function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'emms-page-size-'));
  dirs.push(dir);
  return join(dir, 'feature.db');
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('openSqlite page size', () => {
  it('gives a new file 1 KiB pages, in WAL mode too', () => {
    const path = tempFile();
    const db = openSqlite(path);
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)');
    db.exec('CREATE INDEX t_v ON t (v)');
    expect(db.pragma('page_size', { simple: true })).toBe(1024);
    db.close();
    const again = new Database(path, { readonly: true });
    expect(again.pragma('page_size', { simple: true })).toBe(1024);
    again.close();
  });

  it('keeps the page size and rows of a file that exists', () => {
    const path = tempFile();
    const old = new Database(path);
    old.pragma('page_size = 4096');
    old.pragma('journal_mode = WAL');
    old.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT); INSERT INTO t VALUES ('a', 'b')");
    old.close();
    const db = openSqlite(path);
    expect(db.pragma('page_size', { simple: true })).toBe(4096);
    expect(db.prepare('SELECT v FROM t WHERE k = ?').get('a')).toEqual({ v: 'b' });
    db.close();
  });

  it('leaves the metrics database its own page size (set after opening)', () => {
    const path = tempFile();
    const db = openSqlite(path);
    db.pragma('page_size = 8192');
    db.exec('CREATE TABLE t (k INTEGER PRIMARY KEY)');
    expect(db.pragma('page_size', { simple: true })).toBe(8192);
    db.close();
  });
});
