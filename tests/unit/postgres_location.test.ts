/**
 * PostgreSQL URLs in messages (postgres_location.ts): the password never leaves the back-end,
 * whether it is in the URL, percent-encoded, or quoted back by the driver; option checks name
 * the field and the (redacted) value.
 */
import { describe, expect, it } from 'vitest';
import {
  MAX_POSTGRES_URL_CHARS, PostgresStorageError, parsePostgresLocation, redactSecrets, wrapPostgresError,
} from '../../src/storage/postgres/postgres_location.js';
import { integerOption } from '../../src/storage/postgres/postgres_connection.js';
import { openPostgresChunkSource } from '../../src/storage/postgres/postgres_chunk_source.js';

describe('parsePostgresLocation', () => {
  it('redacts the password and keeps the rest as written', () => {
    const l = parsePostgresLocation('postgres://emms:s3cret@127.0.0.1:5433/emms?sslmode=disable');
    expect(l.redacted).toBe('postgres://emms:***@127.0.0.1:5433/emms?sslmode=disable');
    expect(l.secrets).toEqual(['s3cret']);
    expect(parsePostgresLocation('postgresql://db.example/emms').redacted).toBe('postgresql://db.example/emms');
    expect(parsePostgresLocation('postgresql://db.example/emms').secrets).toEqual([]);
  });

  it('knows a percent-encoded password in both forms', () => {
    const l = parsePostgresLocation('postgres://u:p%40ss%2Fw@h/db');
    expect(l.redacted).toBe('postgres://u:***@h/db');
    expect(l.secrets).toEqual(['p%40ss%2Fw', 'p@ss/w']);
    expect(redactSecrets('auth failed for p@ss/w and p%40ss%2Fw', l.secrets)).toBe('auth failed for *** and ***');
    // Not valid percent-encoding: only the raw text is a secret.
    expect(parsePostgresLocation('postgres://u:100%zz@h/db').secrets).toEqual(['100%zz']);
  });

  it('refuses what is not a postgres URL, naming the field and the redacted value', () => {
    expect(() => parsePostgresLocation(undefined)).toThrow(/options\.url must be a postgres:\/\/ URL; got undefined/);
    expect(() => parsePostgresLocation('')).toThrow(/got ''/);
    expect(() => parsePostgresLocation('redis://:pw@h:6379', 'storage.postgres.url')).toThrow(/storage\.postgres\.url must start with postgres:\/\/ or postgresql:\/\/; got redis:\/\/:\*\*\*@h:6379/);
    expect(() => parsePostgresLocation('not a url:pw@')).toThrow(/must be a postgres:\/\/ URL/);
    expect(() => parsePostgresLocation('postgres://u:pw@[bad/db')).toThrow(/must be a postgres:\/\/ URL; got postgres:\/\/u:\*\*\*@\[bad\/db/);
    // No host: the driver's defaults (or ?host=/socket/dir) apply.
    expect(parsePostgresLocation('postgres:///emms?host=/var/run/postgresql').redacted).toBe('postgres:///emms?host=/var/run/postgresql');
    expect(() => parsePostgresLocation(`postgres://h/${'x'.repeat(MAX_POSTGRES_URL_CHARS)}`)).toThrow(/at most 4096 characters/);
  });
});

describe('wrapPostgresError', () => {
  const where = parsePostgresLocation('postgres://emms:hunter2@127.0.0.1:5433/emms');

  it('names the location and action, keeps the SQLSTATE, drops the cause and every password', () => {
    const server = Object.assign(new Error('password "hunter2" is wrong'), { code: '28P01', detail: 'for hunter2' });
    const e = wrapPostgresError(server, where, 'open');
    expect(e).toBeInstanceOf(PostgresStorageError);
    expect(e.message).toBe('postgres://emms:***@127.0.0.1:5433/emms: open: password "***" is wrong (for ***) [28P01]');
    expect(e.code).toBe('28P01');
    expect(e.cause).toBeUndefined();
    expect(wrapPostgresError(e, where, 'again')).toBe(e);
  });

  it('wraps anything thrown', () => {
    expect(wrapPostgresError('boom', where, 'commit').message).toBe('postgres://emms:***@127.0.0.1:5433/emms: commit: boom');
    expect(wrapPostgresError(new Error(''), where, 'x').code).toBeUndefined();
  });
});

describe('integerOption', () => {
  it('defaults, accepts in range, and names field and value otherwise', () => {
    expect(integerOption('options.poolSize', undefined, 4, 1, 100)).toBe(4);
    expect(integerOption('options.poolSize', 8, 4, 1, 100)).toBe(8);
    expect(() => integerOption('options.poolSize', 0, 4, 1, 100)).toThrow('options.poolSize must be an integer in [1, 100]; got 0');
    expect(() => integerOption('options.poolSize', '4', 4, 1, 100)).toThrow(/got 4/);
    expect(() => integerOption('options.statementTimeoutMs', 2.5, 1, 1, 10)).toThrow(/got 2\.5/);
  });
});

describe('openPostgresChunkSource', () => {
  it('checks the worker spec before connecting, naming the field', async () => {
    const spec = { kind: 'postgresql' as const, url: 'postgres://u:pw@127.0.0.1:1/db', schema: 'emms', statementTimeoutMs: 1000 };
    await expect(openPostgresChunkSource({ ...spec, url: 'http://u:pw@h/db' })).rejects.toThrow(/spec\.url must start with postgres:\/\/ .*got http:\/\/u:\*\*\*@h\/db/);
    await expect(openPostgresChunkSource({ ...spec, schema: 'Nope' })).rejects.toThrow(/spec\.schema must match/);
    await expect(openPostgresChunkSource({ ...spec, statementTimeoutMs: 0 })).rejects.toThrow(/spec\.statementTimeoutMs must be an integer/);
    // A valid spec opens lazily (no connection until the first read) and closes cleanly.
    const source = await openPostgresChunkSource(spec);
    expect((await source.aggregationRows([], { startMs: 0, endMs: 1, maxChunkId: 1, intervalMs: 1, summaries: true })).size).toBe(0);
    expect((await source.newest([])).size).toBe(0);
    expect((await source.newestBefore([], 0, 0)).size).toBe(0);
    expect((await source.chunkData([])).size).toBe(0);
    await source.close();
  });
});
