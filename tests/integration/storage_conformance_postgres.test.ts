/**
 * The storage conformance suite (storage_conformance.case.ts) on the PostgreSQL back-end: one
 * test-owned PostgreSQL for the file (postgres_instance.ts), each store a schema of its own
 * (the node's own files in a temp dir beside it); a corrupted chunk is one whose bytes were
 * changed in the table while no engine had the store open.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { DATABASE_FILE_NAME } from '../../src/model/data_directory.js';
import { describeStorageConformance, type ConformanceStore } from './storage_conformance.case.js';
import { startPostgres, type PostgresInstance } from './postgres_instance.js';

let server: PostgresInstance | undefined;
let stores = 0;

/** One statement on its own connection (the store's engines are stopped when these run). */
async function sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: server!.url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}

describeStorageConformance({
  name: 'postgresql',
  async setUp(): Promise<void> {
    server = await startPostgres();
  },
  async tearDown(): Promise<void> {
    await server?.stop();
  },
  async freshStore(): Promise<ConformanceStore> {
    const schema = `conformance_${++stores}`;
    const dir = mkdtempSync(join(tmpdir(), 'emms-conformance-pg-'));
    const url = server!.url;
    return {
      options: { storage: 'postgresql', postgres: { url, schema }, path: join(dir, DATABASE_FILE_NAME) },
      env: {
        METRICS_STORAGE_TYPE: 'postgresql',
        METRICS_POSTGRES_URL: url,
        METRICS_POSTGRES_SCHEMA: schema,
        METRICS_DB_PATH: join(dir, DATABASE_FILE_NAME),
      },
      async corruptChunk(): Promise<number> {
        const rows = await sql<{ id: number; data: Buffer }>(`SELECT id, data FROM "${schema}".chunks ORDER BY id LIMIT 1`);
        const row = rows[0];
        if (row === undefined) throw new Error(`schema ${schema} holds no chunk to corrupt`);
        const damaged = Buffer.from(row.data);
        // The codec's trailer hash covers every byte: one flipped byte in the middle must be caught.
        damaged[damaged.length >> 1]! ^= 0x5a;
        await sql(`UPDATE "${schema}".chunks SET data = $1 WHERE id = $2`, [damaged, row.id]);
        return Number(row.id);
      },
      async dispose(): Promise<void> {
        await sql(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
});
