/**
 * The storage conformance suite (storage_conformance.case.ts) on the SQLite back-end: each
 * store is a database file in a temp dir of its own; a corrupted chunk is one whose bytes were
 * changed in the stopped file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite } from '../../src/crypto/sqlite_cipher.js';
import { DATABASE_FILE_NAME } from '../../src/model/data_directory.js';
import { describeStorageConformance, type ConformanceStore } from './storage_conformance.case.js';

describeStorageConformance({
  name: 'sqlite',
  setUp: async () => undefined,
  tearDown: async () => undefined,
  async freshStore(): Promise<ConformanceStore> {
    const dir = mkdtempSync(join(tmpdir(), 'emms-conformance-sqlite-'));
    const path = join(dir, DATABASE_FILE_NAME);
    return {
      options: { storage: 'sqlite', path },
      env: { METRICS_DB_PATH: path, METRICS_STORAGE_TYPE: 'sqlite' },
      async corruptChunk(): Promise<number> {
        const db = openSqlite(path);
        try {
          const row = db.prepare('SELECT id, data FROM chunks ORDER BY id LIMIT 1').get() as { id: number; data: Buffer } | undefined;
          if (row === undefined) throw new Error(`${path} holds no chunk to corrupt`);
          const damaged = Buffer.from(row.data);
          // The codec's trailer hash covers every byte: one flipped byte in the middle must be caught.
          damaged[damaged.length >> 1]! ^= 0x5a;
          db.prepare('UPDATE chunks SET data = ? WHERE id = ?').run(damaged, row.id);
          return row.id;
        } finally {
          db.close();
        }
      },
      async dispose(): Promise<void> {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
