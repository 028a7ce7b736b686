/**
 * SQLite -wal checkpoints from a worker thread (src/storage/wal_checkpointer.ts): the worker
 * copies committed frames while the writer keeps committing, the -wal file restarts instead
 * of growing, close() waits for the worker's connection, and a store whose -wal passed the
 * start size keeps every point through close/reopen and through an abandon (kill) + replay.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { WalCheckpointer } from '../../src/storage/sqlite/wal_checkpointer.js';
import { openSqliteStore } from './sqlite_store_kit.js';
import { openDatabase } from '../../src/storage/sqlite/database.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-walcp-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Frames in the -wal file and frames already copied into the database, read from the
 * wal-index (the -shm file; https://www.sqlite.org/walformat.html §2.2: `mxFrame` at byte 16
 * of the header, `nBackfill` at byte 96, native byte order). Reading it takes no lock and runs
 * no checkpoint, so it observes the worker's progress without doing its work.
 */
function walProgress(path: string): { mxFrame: number; nBackfill: number } {
  const shm = readFileSync(path + '-shm');
  const u32 = (offset: number): number => (endianness() === 'LE' ? shm.readUInt32LE(offset) : shm.readUInt32BE(offset));
  return { mxFrame: u32(16), nBackfill: u32(96) };
}

describe('WalCheckpointer', () => {
  it('copies frames from another thread so the -wal file restarts instead of growing', async () => {
    const path = join(dir, 'w.db');
    const db = openDatabase(path);
    db.exec('CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)');
    const insert = db.prepare('INSERT INTO blobs (data) VALUES (?)');
    const blob = Buffer.alloc(64 * 1024, 7);
    for (let i = 0; i < 32; i++) insert.run(blob);
    const before = statSync(path + '-wal').size;
    expect(before).toBeGreaterThan(2 * 1024 * 1024);
    const worker = new WalCheckpointer(path);
    worker.start();
    await vi.waitFor(() => expect(worker.walPages).toBeGreaterThan(0), { timeout: 20_000, interval: 20 });
    // Wait until the worker has copied every frame (nothing here checkpoints: only the worker does).
    await vi.waitFor(() => {
      const { mxFrame, nBackfill } = walProgress(path);
      expect(mxFrame).toBeGreaterThan(0);
      expect(nBackfill).toBe(mxFrame);
    }, { timeout: 20_000, interval: 20 });
    // Every frame is in the database file now: the next commits reuse the -wal from its start.
    for (let i = 0; i < 8; i++) insert.run(blob);
    expect(statSync(path + '-wal').size).toBe(before);
    const [row] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    expect(row!.log).toBeLessThan(before / 1024 / 2);
    worker.close();
    expect(worker.running).toBe(false);
    db.close();
    const check = new Database(path, { readonly: true });
    expect((check.prepare('SELECT count(*) AS n FROM blobs').get() as { n: number }).n).toBe(40);
    check.close();
  });

  it('a store past the start size keeps every point through close, and through abandon + replay', async () => {
    for (const ending of ['close', 'abandon'] as const) {
      const path = join(dir, `${ending}.db`);
      const store = await openSqliteStore({ path });
      const series = 64;
      const ids: number[] = [];
      for (let s = 0; s < series; s++) ids.push(store.catalog.tenant('default').create('m', 'gauge', { s: String(s) }, `s=${s}`).id);
      const perBatch = 4096;
      let expected = 0;
      for (let b = 0; b < 120; b++) {
        const seriesIds = new Uint32Array(perBatch);
        const timestamps = new Float64Array(perBatch);
        const values = new Float64Array(perBatch);
        for (let i = 0; i < perBatch; i++) {
          seriesIds[i] = ids[i % series]!;
          timestamps[i] = 1_767_225_600_000 + (b * perBatch + i) * 10;
          values[i] = Math.sin(b * perBatch + i) * 1e6;
        }
        await store.commit([{ seriesIds, timestamps, values, length: perBatch }]);
        expected += perBatch;
        if (b % 20 === 19) await sleep(10);
      }
      if (ending === 'close') await store.close();
      else await store.abandon();
      const reopened = await openSqliteStore({ path });
      let found = 0;
      for (const id of ids) {
        found += reopened.head(id)?.length ?? 0;
        for (const c of reopened.chunks.chunksOf(id)) found += c.count;
      }
      expect(found).toBe(expected);
      await reopened.close();
    }
  }, 30_000);
});
