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

/**
 * The flags of every part of version-2 records (docs/format/wal_record.md: a 10-byte header
 * with the part count at byte 6, then per part flags u8, points u32, columns block bytes u32,
 * ids block bytes u32 and the two blocks; flag 1 = columns lz4, 2 = ids lz4).
 */
function partFlags(record: Buffer): number[] {
  expect(record[0]).toBe(2);
  const flags: number[] = [];
  let o = 10;
  for (let p = 0; p < record.readUInt32LE(6); p++) {
    flags.push(record[o]!);
    o += 13 + record.readUInt32LE(o + 5) + record.readUInt32LE(o + 9);
  }
  expect(o).toBe(record.length);
  return flags;
}

async function recordBytes(compression: 'lz4' | 'none'): Promise<{ flags: number[]; parts: number; bytes: number }> {
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
  const flags = rows.flatMap((r) => partFlags(r.data));
  return { flags, parts: flags.length, bytes: rows.reduce((n, r) => n + r.data.length, 0) };
}

describe('storage.compression', () => {
  it('lz4 compresses write-ahead records; none keeps them raw, 20 bytes a point', async () => {
    const lz4 = await recordBytes('lz4');
    const none = await recordBytes('none');
    expect(lz4.flags.length).toBeGreaterThan(0);
    expect(lz4.flags.every((f) => f === 3)).toBe(true);
    expect(none.flags.every((f) => f === 0)).toBe(true);
    expect(none.bytes).toBe(10 + none.parts * 13 + 2000 * 20);
    expect(lz4.bytes).toBeLessThan(none.bytes / 2);
  });

  it('refuses other values naming the option', () => {
    expect(() => new EngineMetricsSystem({ path: join(dir, 'x.db'), compression: 'zstd' as never })).toThrow(/options\.compression="zstd"/);
  });
});
