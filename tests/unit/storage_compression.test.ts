/** `storage.compression`: lz4 shrinks write-ahead records where it pays; none stores them raw. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import { TABLE } from '../../src/storage/sqlite/schema.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-compression-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function recordBytes(compression: 'lz4' | 'none'): Promise<{ flags: number[]; bytes: number }> {
  const path = join(dir, `${compression}.db`);
  const engine = new EngineMetricsSystem({ path, queryWorkers: 0, compression });
  await engine.start();
  const t0 = Date.UTC(2026, 0, 1);
  // 2,000 points of 20 hosts: repeated timestamps and ids, as lz4 likes them.
  await engine.collectMetrics(Array.from({ length: 2000 }, (_, i) => ({ metricId: 'cpu', tags: { host: `h${i % 20}` }, value: (i % 97) / 4, timestamp: t0 + Math.floor(i / 20) * 10_000 })));
  // Read the record before stop() turns it into chunks.
  const db = new Database(path, { readonly: true });
  const rows = db.prepare(`SELECT data FROM ${TABLE.walRecords}`).all() as Array<{ data: Buffer }>;
  db.close();
  await engine.stop();
  return { flags: rows.map((r) => r.data[1]!), bytes: rows.reduce((n, r) => n + r.data.length, 0) };
}

describe('storage.compression', () => {
  it('lz4 compresses write-ahead records; none keeps them raw, 20 bytes a point', async () => {
    const lz4 = await recordBytes('lz4');
    const none = await recordBytes('none');
    expect(lz4.flags).toEqual([1]);
    expect(none.flags).toEqual([0]);
    expect(none.bytes).toBe(10 + 2000 * 20);
    expect(lz4.bytes).toBeLessThan(none.bytes / 2);
  });

  it('refuses other values naming the option', () => {
    expect(() => new EngineMetricsSystem({ path: join(dir, 'x.db'), compression: 'zstd' as never })).toThrow(/options\.compression="zstd"/);
  });
});
