/**
 * Erasure in-process: src/storage/point_erasure.ts through StoreMaintenance and the
 * routes of src/maintenance/erasure_routes.ts. Survivors are compared with the points written
 * minus the selection, computed here; durability by abandoning the store (what a kill leaves)
 * and reopening it; the scrub by reading every byte of the files.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ALERTS_DB_FILE } from '../../src/alerts/alert_schema.js';
import { eraseAlertHistoryNaming } from '../../src/alerts/alert_history_erasure.js';
import { eraseKeyEventsNaming, eraseTenantKeyEvents } from '../../src/keys/key_event_erasure.js';
import { KEYS_DB_FILE, KEYS_DDL } from '../../src/keys/key_schema.js';
import { ALERTS_DDL } from '../../src/alerts/alert_schema.js';
import { BACKUP_NOTICE, erasureRoutes, selectionOf, subjectReference } from '../../src/maintenance/erasure_routes.js';
import { MaintenanceLock } from '../../src/maintenance/maintenance_lock.js';
import { EngineMetricsSystem } from '../../src/metrics_system.js';
import type { AuditEvent } from '../../src/audit/audit_record.js';
import type { MetricDataPoint } from '../../src/model/metric.js';
import { SCRUB_PENDING_KEY } from '../../src/storage/storage_engine.js';
import { StoreMaintenance } from '../../src/storage/store_maintenance.js';
import type { SqliteBackend } from '../../src/storage/sqlite/sqlite_backend.js';
import { openSqliteStore } from './sqlite_store_kit.js';
import { SQL } from '../../src/storage/sqlite/schema.js';
import { runEraseCommand } from '../../src/cli/erase_command.js';
import { callRoute, principal } from './route_test_kit.js';

const T0 = Date.UTC(2026, 5, 1);
const MIN = 60_000;
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'emms-erasure-'));
  dirs.push(d);
  return d;
}

/** Distinctive values: 7777.123 + series * 1000 + i / 8 (exact in binary). */
function valueOf(s: number, i: number): number {
  return 7777.125 + s * 1000 + i / 8;
}

function pointsOf(metricId: string, hosts: string[], perSeries: number): MetricDataPoint[] {
  const out: MetricDataPoint[] = [];
  hosts.forEach((host, s) => {
    for (let i = 0; i < perSeries; i++) out.push({ metricId, value: valueOf(s, i), timestamp: T0 + i * MIN, tags: { host } });
  });
  return out;
}

async function engineIn(dir: string): Promise<EngineMetricsSystem> {
  const engine = new EngineMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 }, { headCutPoints: 100, chunkEncoding: 'inline' });
  await engine.start();
  return engine;
}

async function write(engine: EngineMetricsSystem, points: MetricDataPoint[]): Promise<void> {
  for (let i = 0; i < points.length; i += 150) await engine.collectMetrics(points.slice(i, i + 150));
}

async function raw(engine: EngineMetricsSystem, metric: string, host: string): Promise<Array<[number, number]>> {
  const [series] = await engine.queryMetrics({ metricPattern: metric, tags: { host }, startTime: T0 - MIN, endTime: T0 + 10_000 * MIN });
  if (series === undefined) return [];
  return Array.from(series.timestamps, (t, i) => [t, series.values[i]!]);
}

/** Every file of a directory, concatenated. */
function allBytes(dir: string): Buffer {
  return Buffer.concat(readdirSync(dir).map((f) => readFileSync(join(dir, f))));
}

describe('point erasure', () => {
  it('deletes a time range of the selected series from chunks and heads; others are untouched', async () => {
    const dir = tempDir();
    const engine = await engineIn(dir);
    await write(engine, [...pointsOf('erase.cpu', ['alpha', 'beta'], 450), ...pointsOf('erase.mem', ['alpha'], 450)]);
    const memBefore = await raw(engine, 'erase.mem', 'alpha');
    const betaBefore = await raw(engine, 'erase.cpu', 'beta');
    const storage = engine.maintenance() as StoreMaintenance;
    const selection = { metricPattern: 'erase.c*', tags: { host: 'alpha' }, startMs: T0 + 100 * MIN, endMs: T0 + 350 * MIN };
    const preview = await storage.previewErasure('default', selection);
    expect(preview.points).toBe(250);
    expect(preview.series).toEqual([{ metricId: 'erase.cpu', tags: { host: 'alpha' }, points: 250 }]);
    const outcome = await storage.erase('default', selection);
    expect(outcome).toMatchObject({ series: 1, pointsDeleted: 250, seriesRemoved: 0, scrub: { complete: true } });
    const expected: Array<[number, number]> = [];
    for (let i = 0; i < 450; i++) if (i < 100 || i >= 350) expected.push([T0 + i * MIN, valueOf(0, i)]);
    expect(await raw(engine, 'erase.cpu', 'alpha')).toEqual(expected);
    expect(await raw(engine, 'erase.cpu', 'beta')).toEqual(betaBefore);
    expect(await raw(engine, 'erase.mem', 'alpha')).toEqual(memBefore);
    await engine.stop();
  });

  it('removes series left without points, names and tags included, and ingest recreates them afresh', async () => {
    const dir = tempDir();
    const engine = await engineIn(dir);
    await write(engine, [...pointsOf('subject.logins', ['carol-erasable-host', 'dave'], 120)]);
    const storage = engine.maintenance() as StoreMaintenance;
    const outcome = await storage.erase('default', { metricPattern: '*', tags: { host: 'carol-erasable-host' } });
    expect(outcome).toMatchObject({ series: 1, pointsDeleted: 120, seriesRemoved: 1 });
    expect((await engine.listSeries('*')).map((s) => s.tags.host)).toEqual(['dave']);
    expect(allBytes(dir).includes(Buffer.from('carol-erasable-host'))).toBe(false);
    await engine.collectMetrics([{ metricId: 'subject.logins', value: 1, timestamp: T0, tags: { host: 'carol-erasable-host' } }]);
    expect(await raw(engine, 'subject.logins', 'carol-erasable-host')).toEqual([[T0, 1]]);
    await engine.stop();
  });

  it('is durable: a store abandoned right after the erasure (a kill) reopens without the points', async () => {
    const dir = tempDir();
    const path = join(dir, 'metrics.db');
    const engine = await engineIn(dir);
    await write(engine, pointsOf('durable.x', ['a', 'b'], 300));
    await engine.stop();
    // Heads only in write-ahead records, as a running server has them.
    let store = await openSqliteStore({ path, headCutPoints: 1000, chunkEncoding: 'inline' });
    const storage = new StoreMaintenance(store);
    await storage.erase('default', { metricPattern: 'durable.x', tags: { host: 'a' }, startMs: T0 + 50 * MIN });
    await store.abandon();
    store = await openSqliteStore({ path, chunkEncoding: 'inline' });
    const reopened = new StoreMaintenance(store);
    expect((await reopened.previewErasure('default', { metricPattern: 'durable.x', tags: { host: 'a' } })).points).toBe(50);
    expect((await reopened.previewErasure('default', { metricPattern: 'durable.x', tags: { host: 'b' } })).points).toBe(300);
    await store.close();
  });

  it('waits for queries reading a snapshot in another thread: they see the store before the erasure', async () => {
    const dir = tempDir();
    const engine = await engineIn(dir);
    await write(engine, pointsOf('snap.x', ['a'], 200));
    const storage = engine.maintenance() as StoreMaintenance;
    const { maxChunkId } = storage.store.beginSnapshotRead();
    let done = false;
    const erasing = storage.erase('default', { metricPattern: 'snap.x' }).then(() => (done = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The reader's chunks are all still there.
    expect(done).toBe(false);
    expect(storage.store.chunks.maxChunkId).toBe(maxChunkId);
    expect((await storage.previewErasure('default', { metricPattern: 'snap.x' })).points).toBe(200);
    storage.store.endSnapshotRead();
    await erasing;
    expect(await engine.listSeries('snap.*')).toEqual([]);
    await engine.stop();
  });

  it('leaves every point when the deletion fails half-way or the process dies before it commits', async () => {
    const dir = tempDir();
    const path = join(dir, 'metrics.db');
    const engine = await engineIn(dir);
    await write(engine, pointsOf('half.x', ['a', 'b'], 250));
    await engine.stop();
    const store = await openSqliteStore({ path, headCutPoints: 1000, chunkEncoding: 'inline' });
    const storage = new StoreMaintenance(store);
    const write0 = store.chunks.write.bind(store.chunks);
    let calls = 0;
    store.chunks.write = (tx, sid, ts, vs) => {
      if (++calls === 2) throw new Error('disk full (injected)');
      write0(tx, sid, ts, vs);
    };
    await expect(storage.erase('default', { metricPattern: 'half.x', startMs: T0 + 10 * MIN, endMs: T0 + 20 * MIN })).rejects.toThrow(/injected/);
    store.chunks.write = write0;
    expect((await storage.previewErasure('default', { metricPattern: 'half.x' })).points).toBe(500);
    // A kill after the checkpoint, before the deletion's transaction: the same.
    await store.checkpoint();
    await store.abandon();
    const reopened = await openSqliteStore({ path, chunkEncoding: 'inline' });
    expect((await new StoreMaintenance(reopened).previewErasure('default', { metricPattern: 'half.x' })).points).toBe(500);
    await reopened.close();
  });

  it('scrubs again at open when a kill came between the deletion and the scrub', async () => {
    const dir = tempDir();
    const path = join(dir, 'metrics.db');
    const store = await openSqliteStore({ path, chunkEncoding: 'inline' });
    (store.backend as SqliteBackend).db.prepare(SQL.upsertMeta).run(SCRUB_PENDING_KEY, '1');
    await store.abandon();
    const reopened = await openSqliteStore({ path, chunkEncoding: 'inline' });
    const meta = new Map((reopened.backend as SqliteBackend).db.prepare(SQL.allMeta).raw().all() as Array<[string, string]>);
    expect(meta.get(SCRUB_PENDING_KEY)).toBeUndefined();
    await reopened.close();
  });
});

describe('erasure routes', () => {
  async function setup(): Promise<{ dir: string; engine: EngineMetricsSystem; routes: ReturnType<typeof erasureRoutes>; audited: AuditEvent[] }> {
    const dir = tempDir();
    const engine = await engineIn(dir);
    const audited: AuditEvent[] = [];
    const routes = erasureRoutes({ dataDir: dir, storage: () => engine.maintenance(), lock: new MaintenanceLock(), audit: (e) => audited.push(e) });
    return { dir, engine, routes, audited };
  }

  it('previews and deletes for a tenant admin, scoped to its tenant; readers and writers are refused', async () => {
    const { engine, routes } = await setup();
    await write(engine, pointsOf('route.m', ['x'], 50));
    await write(engine.forTenant('other') as EngineMetricsSystem, pointsOf('route.m', ['x'], 50));
    const admin = principal('admin', 'default');
    expect((await callRoute(routes, principal('writer', 'default'), 'DELETE', '/api/v1/series?match=route.m')).status).toBe(403);
    const preview = await callRoute(routes, admin, 'GET', `/api/v1/series/deletion-preview?match=route.*&tag.host=x&start_time=${T0 + 10 * MIN}`);
    expect(preview.body).toEqual({ series: [{ metric_id: 'route.m', tags: { host: 'x' }, points: 40 }], points: 40, truncated: false });
    const deleted = await callRoute(routes, admin, 'DELETE', '/api/v1/series?match=route.m');
    expect(deleted.body).toMatchObject({ series: 1, points_deleted: 50, series_removed: 1, backups: BACKUP_NOTICE });
    expect(await engine.forTenant('other').listSeries('*')).toHaveLength(1);
    await engine.stop();
  });

  it('refuses bad selectors naming the parameter', async () => {
    const { engine, routes } = await setup();
    const admin = principal('admin', 'default');
    expect((await callRoute(routes, admin, 'DELETE', '/api/v1/series')).body.parameter).toBe('match');
    expect((await callRoute(routes, admin, 'DELETE', '/api/v1/series?match=a&start_time=yesterday')).body.parameter).toBe('start_time');
    expect((await callRoute(routes, admin, 'DELETE', '/api/v1/series?match=a&start_time=2000&end_time=1000')).body.parameter).toBe('end_time');
    expect((await callRoute(routes, admin, 'DELETE', `/api/v1/series?match=${'x'.repeat(600)}`)).body.parameter).toBe('match');
    expect((await callRoute(routes, admin, 'DELETE', '/api/v1/series?match=a&tag.=v')).status).toBe(400);
    expect((await callRoute(routes, admin, 'POST', '/api/v1/erasure', { tag_key: '1bad', value: 'v' })).body.parameter).toBe('tag_key');
    const noValue = await callRoute(routes, admin, 'POST', '/api/v1/erasure', { tag_key: 'actor', value: '' });
    expect(noValue.body.parameter).toBe('value');
    expect(selectionOf(new URLSearchParams('match=a&tag.k=v&end_time=1000'), true)).toEqual({ metricPattern: 'a', tags: { k: 'v' }, startMs: undefined, endMs: 1000 });
    const stopped = erasureRoutes({ dataDir: tempDir(), storage: () => undefined, lock: new MaintenanceLock() });
    expect((await callRoute(stopped, admin, 'DELETE', '/api/v1/series?match=a')).status).toBe(503);
    const busyLock = new MaintenanceLock();
    const busy = erasureRoutes({ dataDir: tempDir(), storage: () => engine.maintenance(), lock: busyLock });
    let release!: () => void;
    const running = busyLock.run('a backup', () => new Promise<void>((r) => (release = r)));
    expect((await callRoute(busy, admin, 'DELETE', '/api/v1/series?match=a')).status).toBe(409);
    release();
    await running;
    await engine.stop();
  });

  it('erases a subject: series, key events and alert history naming it; the audit record holds no value', async () => {
    const { dir, engine, routes, audited } = await setup();
    const subject = 'erin.subject@example.org';
    await write(engine, [
      ...pointsOf('auth.logins', ['h1'], 20).map((p) => ({ ...p, tags: { ...p.tags, actor: subject } })),
      ...pointsOf('auth.logins', ['h2'], 20).map((p) => ({ ...p, tags: { ...p.tags, actor: 'frank' } })),
    ]);
    const keys = new Database(join(dir, KEYS_DB_FILE));
    keys.pragma('journal_mode = WAL');
    keys.exec(KEYS_DDL);
    const violation = keys.prepare('INSERT INTO policy_violations (tenant, key_id, rule, reason, timestamp, count, actor, source_ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    violation.run('default', 'k1', 'r', 'x', T0, 1, subject, '10.0.0.1');
    violation.run('default', 'k2', 'r', 'x', T0, 1, 'frank', '10.0.0.2');
    violation.run('other', 'k1', 'r', 'x', T0, 1, subject, '10.0.0.1');
    keys.close();
    const alerts = new Database(join(dir, ALERTS_DB_FILE));
    alerts.pragma('journal_mode = WAL');
    alerts.exec(ALERTS_DDL);
    const history = alerts.prepare('INSERT INTO alert_history (tenant, at, event, alert_id, rule_id, details) VALUES (?, ?, ?, ?, ?, ?)');
    history.run('default', T0, 'fired', 'a1', 'r1', JSON.stringify({ labels: { actor: subject } }));
    history.run('default', T0, 'fired', 'a2', 'r1', JSON.stringify({ labels: { actor: 'frank' } }));
    alerts.close();

    const answer = await callRoute(routes, principal('admin', 'default'), 'POST', '/api/v1/erasure', { tag_key: 'actor', value: subject });
    expect(answer.body).toMatchObject({ series: 1, points_deleted: 20, series_removed: 1, key_events_deleted: 1, alert_history_deleted: 1, backups: BACKUP_NOTICE });
    expect(answer.body.reference).toBe(subjectReference(dir, 'actor', subject));
    expect(audited).toHaveLength(1);
    expect(JSON.stringify(audited[0])).not.toContain(subject);
    expect(audited[0]).toMatchObject({ action: 'erasure.subject', target: 'tag_key=actor', detail: { series: 1, key_events: 1, alert_history: 1 } });
    for (const file of [KEYS_DB_FILE, ALERTS_DB_FILE]) {
      // The other tenant's record stays; this tenant's are gone from every page.
      const db = new Database(join(dir, file), { readonly: true });
      const rows = file === KEYS_DB_FILE ? db.prepare('SELECT tenant FROM policy_violations WHERE actor = ?').all(subject) : db.prepare('SELECT tenant FROM alert_history WHERE instr(details, ?) > 0').all(subject);
      db.close();
      expect(rows).toEqual(file === KEYS_DB_FILE ? [{ tenant: 'other' }] : []);
    }
    expect(eraseTenantKeyEvents(dir, 'other')).toBeGreaterThan(0);
    expect(readFileSync(join(dir, KEYS_DB_FILE)).includes(Buffer.from(subject))).toBe(false);
    expect(readFileSync(join(dir, ALERTS_DB_FILE)).includes(Buffer.from(subject))).toBe(false);
    expect((await engine.listSeries('*')).map((s) => s.tags.actor)).toEqual(['frank']);
    await engine.stop();
  });

  it('erases a subject named by its raw value when an anonymization rule stored only its pseudonym', async () => {
    const dir = tempDir();
    const engine = await engineIn(dir);
    // What security.anonymize {"actor": "hmac"} stores for a value (src/anonymize is tested on its own).
    const pseudonymOf = (value: string): string => `h:pseudo-${value.length}`;
    const routes = erasureRoutes({
      dataDir: dir, storage: () => engine.maintenance(), lock: new MaintenanceLock(),
      storedFormOf: (tenant) => (tenant === 'default' ? (field, value) => (field === 'actor' ? pseudonymOf(value) : value) : undefined),
    });
    const subject = 'grace.subject@example.org';
    await write(engine, [
      ...pointsOf('auth.logins', ['h1'], 20).map((p) => ({ ...p, tags: { ...p.tags, actor: pseudonymOf(subject) } })),
      ...pointsOf('auth.logins', ['h2'], 20).map((p) => ({ ...p, tags: { ...p.tags, actor: 'h:someone-else' } })),
    ]);
    const answer = await callRoute(routes, principal('admin', 'default'), 'POST', '/api/v1/erasure', { tag_key: 'actor', value: subject });
    expect(answer.body).toMatchObject({ series: 1, points_deleted: 20, series_removed: 1 });
    expect((await engine.listSeries('*')).map((s) => s.tags.actor)).toEqual(['h:someone-else']);
    await engine.stop();
  });

  it('finds nothing to erase in files that do not exist yet', () => {
    const dir = tempDir();
    expect(eraseKeyEventsNaming(dir, 'default', 'x')).toBe(0);
    expect(eraseTenantKeyEvents(dir, 'default')).toBe(0);
    expect(eraseAlertHistoryNaming(dir, 'default', 'x')).toEqual({ historyEvents: 0, remediationEntries: 0 });
  });
});

describe('emms erase on a stopped data directory', () => {
  function io(): { out: string[]; err: string[]; io: Parameters<typeof runEraseCommand>[1] } {
    const out: string[] = [];
    const err: string[] = [];
    return { out, err, io: { stdout: (t) => out.push(t), stderr: (t) => err.push(t), progress: { update: () => undefined, end: () => undefined } as never } };
  }

  it('previews, deletes a selection and erases a subject, saying that backups still hold the data', async () => {
    const dir = tempDir();
    const engine = await engineIn(dir);
    await write(engine, [...pointsOf('cli.x', ['gina-cli-subject', 'hal'], 40)]);
    await engine.stop();
    const a = io();
    expect(await runEraseCommand(['--data', dir, '--match', 'cli.x', '--tag', 'host=hal', '--start', String(T0 + 10 * MIN), '--dry-run'], a.io)).toBe(0);
    expect(JSON.parse(a.out.join(''))).toMatchObject({ points: 30 });
    expect(a.err.join('')).toBe('');
    const b = io();
    expect(await runEraseCommand(['--data', dir, '--match', 'cli.x', '--tag', 'host=hal', '--start', String(T0 + 10 * MIN)], b.io)).toBe(0);
    expect(JSON.parse(b.out.join(''))).toMatchObject({ pointsDeleted: 30, backups: BACKUP_NOTICE });
    expect(b.err.join('')).toContain('Backups taken before');
    const c = io();
    expect(await runEraseCommand(['--data', dir, '--subject', 'host=gina-cli-subject'], c.io)).toBe(0);
    expect(JSON.parse(c.out.join(''))).toMatchObject({ seriesRemoved: 1, pointsDeleted: 40, key_events_deleted: 0 });
    const audit = readFileSync(join(dir, 'audit.log'), 'utf8');
    expect(audit).toContain('erasure.subject');
    expect(audit).not.toContain('gina-cli-subject');
    expect(allBytes(dir).includes(Buffer.from('gina-cli-subject'))).toBe(false);
  });

  it('refuses incomplete or contradictory options with the usage', async () => {
    const dir = tempDir();
    for (const args of [[], ['--data', dir], ['--data', dir, '--match', 'a', '--subject', 'k=v'], ['--data', dir, '--subject', 'kv'], ['--data', dir, '--subject', 'k=v', '--dry-run'], ['--bogus']]) {
      const x = io();
      expect(await runEraseCommand(args, x.io)).toBe(2);
      expect(x.err.join('')).toContain('Usage: emms erase');
    }
    const h = io();
    expect(await runEraseCommand(['--help'], h.io)).toBe(0);
  });
});

