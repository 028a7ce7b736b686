/**
 * The PostgreSQL back-end's pure parts, without a server: how a write transaction's recorded
 * operations fold into their net effect and into statements (postgres_write_plan.ts), month
 * partitions (postgres_partitions.ts), read bounds and SQL (postgres_chunk_source.ts), and
 * schema names. tests/integration/postgres_backend.test.ts runs the same against PostgreSQL.
 */
import { describe, expect, it } from 'vitest';
import { WritePlan, planStatements, ROWS_PER_VALUES_STATEMENT, MAX_COMBINED_PARAMETERS } from '../../src/storage/postgres/postgres_write_plan.js';
import {
  createPartitionStatements, monthBounds, monthOf, monthOfPartition, monthsBefore, partitionFloor, partitionName,
} from '../../src/storage/postgres/postgres_partitions.js';
import { idBound, lowerBound, readSql, upperBound } from '../../src/storage/postgres/postgres_chunk_source.js';
import { checkSchemaName, LATEST_SCHEMA_VERSION, MIGRATIONS } from '../../src/storage/postgres/postgres_schema.js';
import { encodeChunks, type EncodedChunk } from '../../src/storage/chunk_encoding.js';
import type { SeriesRow } from '../../src/storage/backend.js';

const T = Date.UTC(2026, 4, 10);

function chunk(startMs = T, n = 4): EncodedChunk {
  return encodeChunks(Float64Array.from({ length: n }, (_, i) => startMs + i * 1000), Float64Array.from({ length: n }, (_, i) => i))[0]!;
}

const row = (id: number, host = `h${id}`): SeriesRow => ({ id, tenant: 't', metricId: 'cpu', canonicalTags: `host=${host}`, metricType: 'gauge' });
const wal = (id: number) => ({ id, createdMs: 1, points: 1, data: Uint8Array.of(id) });

describe('WritePlan: operations fold to their net effect', () => {
  it('keeps the last operation per key and lets ranged deletes remove earlier writes of the same transaction', () => {
    const p = new WritePlan();
    p.setMark(1, 5);
    p.setMark(2, 20);
    p.deleteMarksUpTo(10);
    p.setMark(3, 1);
    expect([...p.markUpserts]).toEqual([[2, 20], [3, 1]]);
    expect([...p.markDeletes]).toEqual([1]);
    expect(p.markDeleteUpTo).toBe(10);

    p.appendWalRecord(wal(1));
    p.appendWalRecord(wal(5));
    p.deleteWalRecordsUpTo(3);
    p.appendWalRecord(wal(2));
    expect([...p.walInserts.keys()]).toEqual([5, 2]);
    expect(p.walDeleteUpTo).toBe(3);
    p.deleteWalRecordsUpTo(1);
    expect(p.walDeleteUpTo).toBe(3);

    p.insertChunk(7, 1, chunk());
    p.deleteChunk(7);
    p.deleteChunk(8);
    expect(p.chunkInserts.size).toBe(0);
    expect([...p.chunkDeletes]).toEqual([8]);

    p.insertSeries(row(1));
    p.deleteSeries(row(1));
    p.deleteSeries(row(2));
    p.insertSeries(row(2));
    expect([...p.seriesInserts.values()].map((r) => r.id)).toEqual([2]);
    expect([...p.seriesDeletes.values()].map((r) => r.id)).toEqual([1, 2]);

    p.setMeta('a', '1');
    p.setMeta('a', undefined);
    p.setMeta('b', '2');
    expect([...p.meta]).toEqual([['a', undefined], ['b', '2']]);
  });

  it('lists the month of every chunk it inserts', () => {
    const p = new WritePlan();
    p.insertChunk(1, 1, chunk(Date.UTC(2026, 0, 31, 23)));
    p.insertChunk(2, 1, chunk(Date.UTC(2026, 1, 1)));
    expect([...p.months()].map(partitionName)).toEqual(['chunks_2026_01', 'chunks_2026_02']);
  });
});

describe('planStatements', () => {
  it('sends an insert-only plan as one statement of CTEs, with byte columns as parameters', () => {
    const p = new WritePlan();
    p.insertSeries(row(1));
    p.appendWalRecord(wal(9));
    p.insertChunk(3, 1, chunk());
    p.setMark(1, 9);
    p.setMeta('k', 'v');
    const planned = planStatements('emms', p);
    expect(planned.atomic).toBe(true);
    expect(planned.statements).toHaveLength(1);
    const [s] = planned.statements;
    expect(s!.text).toMatch(/^WITH w0 AS \(INSERT INTO "emms"\."series"/);
    expect(s!.text).toContain('ON CONFLICT (series_id) DO UPDATE');
    expect(s!.text).toContain('ON CONFLICT (key) DO UPDATE');
    expect(s!.values!.filter((v) => v instanceof Uint8Array)).toHaveLength(2);
    expect(s!.values).toHaveLength(5 + 4 + 13 + 2 + 2);
  });

  it('sends a single insert as itself, and nothing for an empty plan', () => {
    const p = new WritePlan();
    expect(planStatements('emms', p).statements).toEqual([]);
    p.appendWalRecord(wal(1));
    const planned = planStatements('emms', p);
    expect(planned).toMatchObject({ atomic: true });
    expect(planned.statements[0]!.text).toMatch(/^INSERT INTO "emms"\."wal_records"/);
    expect(planned.statements[0]!.values).toEqual([1, 1, 1, Uint8Array.of(1)]);
  });

  it('orders a plan with deletes as: partitions, ranged and keyed deletes, then writes', () => {
    const p = new WritePlan();
    p.insertChunk(2, 1, chunk());
    p.deleteChunk(1);
    p.deleteWalRecordsUpTo(Infinity);
    p.deleteMarksUpTo(Infinity);
    p.setMark(4, 1);
    p.deleteMarksUpTo(2);
    p.deleteSeries(row(5));
    p.setMeta('gone', undefined);
    const before = createPartitionStatements('emms', [monthOf(T)]);
    const planned = planStatements('emms', p, before);
    expect(planned.atomic).toBe(false);
    const texts = planned.statements.map((s) => s.text.replace(/\s+/g, ' ').slice(0, 90));
    expect(texts).toEqual([
      'SELECT pg_advisory_xact_lock(hashtext($1), $2)',
      expect.stringMatching(/^CREATE TABLE IF NOT EXISTS "emms"\."chunks_2026_05" PARTITION OF "emms"\."chunks"/),
      expect.stringMatching(/^ALTER TABLE "emms"\."chunks_2026_05" ALTER COLUMN data SET STORAGE EXTERNAL/),
      expect.stringMatching(/^DELETE FROM "emms"\."series" s USING unnest/),
      expect.stringMatching(/^DELETE FROM "emms"\."wal_records" WHERE id <= \$1/),
      expect.stringMatching(/^DELETE FROM "emms"\."chunks" WHERE id = ANY/),
      expect.stringMatching(/^DELETE FROM "emms"\."marks" WHERE wal_id <= \$1/),
      expect.stringMatching(/^DELETE FROM "emms"\."marks" WHERE series_id = ANY/),
      expect.stringMatching(/^DELETE FROM "emms"\."meta" WHERE key = ANY/),
      expect.stringMatching(/^INSERT INTO "emms"\."chunks"/),
    ]);
    // Infinity ("every record") is bound as the largest safe integer.
    expect(planned.statements[4]!.values).toEqual([Number.MAX_SAFE_INTEGER]);
    expect(planned.statements[1]!.text).toContain(`FROM (${Date.UTC(2026, 4, 1)}) TO (${Date.UTC(2026, 5, 1)})`);
  });

  it('splits many rows into VALUES statements of bounded size and stops combining past the parameter bound', () => {
    const p = new WritePlan();
    const c = chunk();
    for (let i = 0; i < ROWS_PER_VALUES_STATEMENT * 3 + 1; i++) p.insertChunk(i + 1, 1, c);
    const planned = planStatements('emms', p);
    expect(MAX_COMBINED_PARAMETERS).toBeLessThan((ROWS_PER_VALUES_STATEMENT * 3 + 1) * 13);
    expect(planned.atomic).toBe(false);
    expect(planned.statements.map((s) => s.values!.length)).toEqual([13_000, 13_000, 13_000, 13]);
    // Fewer rows: the same statements combined into one (CTEs), still atomic.
    const small = new WritePlan();
    for (let i = 0; i < ROWS_PER_VALUES_STATEMENT + 1; i++) small.insertChunk(i + 1, 1, c);
    const combined = planStatements('emms', small);
    expect(combined.atomic).toBe(true);
    expect(combined.statements[0]!.text).toMatch(/^WITH w0 AS .*\nw1 AS/s);
  });

  it('refuses a chunk outside the years partitions cover, naming the value', () => {
    const p = new WritePlan();
    p.insertChunk(1, 1, { ...chunk(), maxTs: Date.UTC(12000, 0, 1) });
    expect(() => p.months()).toThrow(/max_ts=.* is outside the years 1000–9999/);
    expect(() => monthOf(NaN)).toThrow(/max_ts=NaN/);
  });
});

describe('month partitions', () => {
  it('names, bounds and parses months', () => {
    const m = monthOf(Date.UTC(2026, 11, 31, 23, 59, 59, 999));
    expect(partitionName(m)).toBe('chunks_2026_12');
    expect(monthBounds(m)).toEqual([Date.UTC(2026, 11, 1), Date.UTC(2027, 0, 1)]);
    expect(monthOfPartition('chunks_2026_12')).toBe(m);
    expect(monthOfPartition('chunks_2026_13')).toBeUndefined();
    expect(monthOfPartition('chunks_2026_00')).toBeUndefined();
    expect(monthOfPartition('chunks_default')).toBeUndefined();
  });

  it('picks the months wholly before a cutoff, and the floor below which none remain', () => {
    const months = [monthOf(Date.UTC(2026, 0, 5)), monthOf(Date.UTC(2026, 2, 5)), monthOf(Date.UTC(2026, 1, 5))];
    expect(monthsBefore(months, Date.UTC(2026, 2, 1)).map(partitionName)).toEqual(['chunks_2026_01', 'chunks_2026_02']);
    expect(monthsBefore(months, Date.UTC(2026, 2, 1) - 1).map(partitionName)).toEqual(['chunks_2026_01']);
    expect(partitionFloor(Date.UTC(2026, 2, 17))).toBe(Date.UTC(2026, 2, 1));
    expect(partitionFloor(-5)).toBe(Date.UTC(1969, 11, 1));
    expect(partitionFloor(Date.UTC(900, 0, 1))).toBe(Date.UTC(900, 0, 1));
    expect(partitionFloor(Date.UTC(20000, 0, 1))).toBe(Date.UTC(10000, 0, 1));
  });

  it('creates months in ascending order under one advisory lock each', () => {
    const s = createPartitionStatements('emms', [monthOf(Date.UTC(2026, 3, 1)), monthOf(Date.UTC(2026, 1, 1)), monthOf(Date.UTC(2026, 1, 2))]);
    expect(s).toHaveLength(6);
    expect(s[0]!.values).toEqual(['emms:emms', 1 + monthOf(Date.UTC(2026, 1, 1))]);
    expect(s[3]!.values).toEqual(['emms:emms', 1 + monthOf(Date.UTC(2026, 3, 1))]);
  });
});

describe('reads and schema', () => {
  it('turns read bounds into integer bounds with the comparison\'s meaning', () => {
    expect(lowerBound(1.2)).toBe(2);
    expect(lowerBound(-Infinity)).toBe(-Number.MAX_SAFE_INTEGER);
    expect(upperBound(Infinity)).toBe(Number.MAX_SAFE_INTEGER);
    expect(upperBound(10)).toBe(10);
    expect(idBound(7.9)).toBe(7);
    expect(idBound(Infinity)).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => lowerBound(NaN)).toThrow(/NaN/);
    expect(() => idBound(NaN)).toThrow(/NaN/);
  });

  it('reads aggregation rows with the SQLite rule for leaving data out', () => {
    const sql = readSql('emms');
    expect(sql.aggregation).toContain('floor(min_ts::float8 / $4::float8) = floor(max_ts::float8 / $4::float8)');
    expect(sql.aggregation).toContain('series_id = ANY($5::bigint[])');
    expect(sql.aggregation).not.toContain('ORDER BY');
    expect(sql.newestBefore).toContain('ORDER BY max_ts DESC, id DESC LIMIT 1');
  });

  it('checks schema names and keeps migrations ordered', () => {
    expect(checkSchemaName(undefined)).toBe('emms');
    expect(checkSchemaName('metrics_2')).toBe('metrics_2');
    expect(() => checkSchemaName('Emms')).toThrow(/options\.schema must match .* got "Emms"/);
    expect(() => checkSchemaName('a"; DROP', 'spec.schema')).toThrow(/spec\.schema/);
    expect(() => checkSchemaName('x'.repeat(64))).toThrow(/options\.schema/);
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(LATEST_SCHEMA_VERSION).toBe(MIGRATIONS.length);
  });
});
