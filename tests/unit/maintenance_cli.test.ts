/**
 * The maintenance commands end to end but in-process: `emms backup|restore|cleanup|compact|
 * reindex` (src/cli/*_command.ts) against a running server started in this process
 * (startEmmsApp, real HTTP, the operator token from admin.token) and against its data
 * directory once stopped; the admin routes' refusals through the route test kit.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmmsApp, type EmmsApp } from '../../src/app/emms_app.js';
import { loadConfig } from '../../src/config/config.js';
import { runBackupCommand } from '../../src/cli/backup_command.js';
import { runRestoreCommand } from '../../src/cli/restore_command.js';
import { runCleanupCommand } from '../../src/cli/cleanup_command.js';
import { runCompactCommand } from '../../src/cli/compact_command.js';
import { runReindexCommand } from '../../src/cli/reindex_command.js';
import { readManifest } from '../../src/maintenance/archive_file.js';
import { readTokenFile } from '../../src/maintenance/admin_client.js';
import type { CommandIo } from '../../src/maintenance/command_target.js';
import { MaintenanceLock } from '../../src/maintenance/maintenance_lock.js';
import { maintenanceRoutes } from '../../src/maintenance/maintenance_routes.js';
import { createProgress } from '../../src/maintenance/progress.js';
import { callRoute, principal } from './route_test_kit.js';

const NOW = Date.now();
let root: string;
let dir: string;
let app: EmmsApp | undefined;
let base: string;
let tokenFile: string;

function io(): CommandIo & { out: string; err: string } {
  const r = {
    out: '',
    err: '',
    stdout: (s: string) => { r.out += s; },
    stderr: (s: string) => { r.err += s; },
    progress: createProgress({ write: (s: string) => { r.err += s; } }),
  };
  return r;
}

async function post(path: string, token: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'emms-mcli-'));
  dir = join(root, 'data');
  mkdirSync(dir);
  const config = loadConfig({ env: {}, flags: { port: '0', data: dir } });
  config.collector.decodeThreads = 0;
  config.logLevel = 'silent';
  config.storage.backup = { enabled: true, schedule: '0 3 * * *', directory: join(root, 'scheduled'), keep: 2 };
  app = await startEmmsApp(config, () => undefined);
  base = `http://127.0.0.1:${app.server.port}`;
  tokenFile = app.adminTokenPath!;
  const token = readTokenFile(tokenFile);
  const metrics = (id: string) => ({ metrics: Array.from({ length: 3000 }, (_, i) => ({ metric_id: id, value: i, timestamp: NOW - (3000 - i) * 60_000, tags: { host: `h${i % 2}` } })) });
  expect((await post('/api/v1/metrics', token, metrics('mc.cpu'))).status).toBe(200);
  expect((await post('/api/v1/metrics', token, metrics('acme.cpu'), { 'x-emms-tenant': 'acme' })).status).toBe(200);
}, 60_000);

afterAll(async () => {
  await app?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('against a running server (--url)', () => {
  it('backup downloads a checked archive, of everything or of one tenant', async () => {
    const r = io();
    const out = join(root, 'remote.tar.gz');
    expect(await runBackupCommand(['--url', base, '--token-file', tokenFile, '--output', out], r)).toBe(0);
    expect(r.out).toMatch(/^backup .*remote\.tar\.gz: \d+ bytes \(\d+ files, \d+ series, tenants acme, default\)/);
    expect(r.err).toMatch(/download: /);
    const m = await readManifest(out);
    expect(m.files.map((f) => f.name)).toContain('auth.db');
    const t = io();
    const tenantOut = join(root, 'remote-acme.tar.gz');
    expect(await runBackupCommand(['--url', base, '--token-file', tokenFile, '--tenant', 'acme', '--output', tenantOut], t)).toBe(0);
    expect(await readManifest(tenantOut)).toMatchObject({ tenant: 'acme', tenants: ['acme'], series: 2 });
  });

  it('cleanup, compact and reindex print before and after', async () => {
    const c = io();
    expect(await runCleanupCommand(['--url', base, '--token-file', tokenFile, '--tenant', 'acme', '--older-than', '1d'], c)).toBe(0);
    // Points a minute apart up to NOW: the last day's 1,440 stay (one fewer if the server's clock passed a minute).
    const m = /^cleanup \(tenant acme\):\nbefore  series 2, points 3000,[^\n]*\nafter   series 2, points (\d+),[^\n]*\ndone: cutoff [^,]+, points deleted (\d+),/.exec(c.out);
    expect(m, c.out).not.toBeNull();
    expect([1439, 1440]).toContain(Number(m![1]));
    expect(Number(m![1]) + Number(m![2])).toBe(3000);
    const k = io();
    expect(await runCompactCommand(['--url', base, '--token-file', tokenFile], k)).toBe(0);
    expect(k.out).toMatch(/^compact \(all tenants\):\nbefore /);
    const x = io();
    expect(await runReindexCommand(['--url', base, '--token-file', tokenFile], x)).toBe(0);
    expect(x.out).toMatch(/done: series \d+, chunks \d+, orphan chunks deleted 0/);
  });

  it('takes scheduled backups, shows them in /metrics, records the outcome for the alert rule it installed', async () => {
    expect(app!.alerting.getRule('default', 'maintenance.backup_failed')).toBeDefined();
    const next = app!.backups.status().nextRunMs;
    expect(new Date(next).toISOString()).toMatch(/T03:00:00\.000Z$/);
    await app!.backups.runOnce();
    expect(app!.backups.status()).toMatchObject({ successes: 1, failures: 0 });
    const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${readTokenFile(tokenFile)}` } })).text();
    expect(text).toContain('emms_backup_successes_total 1');
    expect(text).toContain('emms_backup_failures_total 0');
    expect(text).toContain(`emms_backup_next_run_timestamp_seconds ${next / 1000}`);
    await expect.poll(async () => (await app!.engine.latest('emms.backup.failed')).map((p) => p.value), { timeout: 5000 }).toEqual([0]);
  });

  it('fails with the server\'s message: a wrong token, an unreachable server', async () => {
    const bad = join(root, 'bad.token');
    writeFileSync(bad, 'emms_wrong\n');
    const r = io();
    expect(await runCompactCommand(['--url', base, '--token-file', bad], r)).toBe(1);
    expect(r.err).toMatch(/answered 401/);
    const u = io();
    expect(await runReindexCommand(['--url', 'http://127.0.0.1:1', '--token-file', tokenFile], u)).toBe(1);
    expect(u.err).toMatch(/^emms reindex: http:\/\/127\.0\.0\.1:1: /);
    const empty = join(root, 'empty.token');
    writeFileSync(empty, '\n');
    const e = io();
    expect(await runCompactCommand(['--url', base, '--token-file', empty], e)).toBe(1);
    expect(e.err).toMatch(/is empty/);
    const f = io();
    expect(await runBackupCommand(['--url', 'ftp://x', '--token-file', tokenFile, '--output', join(root, 'f.tar.gz')], f)).toBe(1);
    expect(f.err).toMatch(/must be http: or https:/);
    expect(existsSync(join(root, 'f.tar.gz'))).toBe(false);
  });
});

describe('admin routes', () => {
  it('refuse callers below operator, bad parameters, a stopped engine, and a second operation', async () => {
    const lock = new MaintenanceLock();
    const routes = maintenanceRoutes({ dataDir: dir, storage: () => undefined, lock });
    const op = principal('operator', 'default');
    expect((await callRoute(routes, principal('admin', 'acme'), 'POST', '/api/v1/admin/compact')).status).toBe(403);
    expect((await callRoute(routes, op, 'POST', '/api/v1/admin/compact')).status).toBe(503);
    expect((await callRoute(routes, op, 'POST', '/api/v1/admin/backup?scope=mine')).body).toMatchObject({ parameter: 'scope' });
    expect((await callRoute(routes, op, 'POST', '/api/v1/admin/cleanup')).body).toMatchObject({ parameter: 'older_than' });
    expect((await callRoute(routes, op, 'POST', '/api/v1/admin/cleanup?older_than=soon')).body).toMatchObject({ parameter: 'older_than' });
    const live = maintenanceRoutes({ dataDir: dir, storage: () => app!.engine.maintenance!(), lock });
    let release!: () => void;
    const held = lock.run('a backup', () => new Promise<void>((r) => { release = r; }));
    const busy = await callRoute(live, op, 'POST', '/api/v1/admin/reindex');
    expect(busy.status).toBe(409);
    expect(busy.body.error).toMatch(/a backup is running/);
    release();
    await held;
    const ok = await callRoute(live, op, 'POST', '/api/v1/admin/backup?scope=tenant');
    expect(ok.contentType).toBe('application/gzip');
    expect(ok.headers?.['x-emms-backup-sha256']).toMatch(/^[0-9a-f]{64}$/);
    expect(ok.headers?.['content-disposition']).toMatch(/-default\.tar\.gz"$/);
    for (const r of routes) expect(r.schema?.summary, r.pattern).toBeTruthy();
  });
});

describe('against the stopped data directory (--data)', () => {
  it('backs up, restores, cleans up, compacts and reindexes; usage mistakes exit 2', async () => {
    await app!.stop();
    app = undefined;
    const out = join(root, 'local.tar.gz');
    const b = io();
    expect(await runBackupCommand(['--data', dir, '--output', out], b)).toBe(0);
    expect(b.out).toMatch(/^backup .*local\.tar\.gz: \d+ bytes \(\d+ bytes of data, \d+ files, \d+ series, tenants acme, default\)/);
    const target = join(root, 'restored');
    const r = io();
    expect(await runRestoreCommand(['--input', out, '--data', target], r)).toBe(0);
    expect(r.out).toMatch(/^restored .*restored: \d+ files, \d+ bytes, \d+ series, tenants acme, default; backup of /);
    expect(r.err).toMatch(/verify checksums/);
    const again = io();
    expect(await runRestoreCommand(['--input', out, '--data', target], again)).toBe(1);
    expect(again.err).toMatch(/not empty .* pass --force/);
    expect(await runRestoreCommand(['--input', out, '--data', target, '--force'], io())).toBe(0);
    const c = io();
    expect(await runCleanupCommand(['--data', target, '--older-than=1d'], c)).toBe(0);
    expect(c.out).toMatch(/^cleanup \(all tenants\):/);
    expect(c.err).toMatch(/^cleanup: \d+ series\n[\s\S]*cleanup: 100% \(\d+ series of \d+ series, [\d.]+ series\/s, ETA 0 s\) done in/m);
    const k = io();
    expect(await runCompactCommand(['--data', target], k)).toBe(0);
    expect(k.err).toMatch(/^compact: \d+ series\n/m);
    const x = io();
    expect(await runReindexCommand(['--data', target], x)).toBe(0);
    expect(x.out).toMatch(/orphan chunks deleted 0/);
    expect(readFileSync(join(target, 'metrics.db')).length).toBeGreaterThan(0);

    const usage = async (run: (argv: string[], io: CommandIo) => Promise<number>, argv: string[], pattern: RegExp): Promise<void> => {
      const u = io();
      expect(await run(argv, u)).toBe(2);
      expect(u.err).toMatch(pattern);
      expect(u.err).toMatch(/Usage: emms /);
    };
    await usage(runBackupCommand, ['--data', dir], /--output FILE\.tar\.gz is required/);
    await usage(runBackupCommand, ['--output', out], /either --data DIR/);
    await usage(runBackupCommand, ['--data', dir, '--url', base, '--output', out], /either --data DIR/);
    await usage(runBackupCommand, ['--url', base, '--output', out], /--url needs --token-file/);
    await usage(runBackupCommand, ['--data', dir, '--token-file', tokenFile, '--output', out], /--token-file goes with --url/);
    await usage(runBackupCommand, ['--data', join(root, 'nope'), '--output', out], /is not a directory/);
    await usage(runBackupCommand, ['--bogus'], /Unknown option/);
    await usage(runRestoreCommand, ['--data', target], /--input FILE\.tar\.gz is required/);
    await usage(runRestoreCommand, ['--input', out], /--data DIR is required/);
    await usage(runRestoreCommand, ['--bogus'], /Unknown option/);
    await usage(runCleanupCommand, ['--data', target], /--older-than AGE is required/);
    await usage(runCleanupCommand, ['--data', target, '--older-than', '90 days'], /must be a count and a unit/);
    await usage(runCleanupCommand, ['--bogus'], /Unknown option/);
    await usage(runCompactCommand, ['--data', target, '--tenant', 'acme'], /--tenant does not apply/);
    await usage(runReindexCommand, ['--bogus'], /Unknown option/);
    for (const run of [runBackupCommand, runRestoreCommand, runCleanupCommand, runCompactCommand, runReindexCommand]) {
      const h = io();
      expect(await run(['--help'], h)).toBe(0);
      expect(h.out).toMatch(/^Usage: emms /);
    }
    const missing = io();
    expect(await runCompactCommand(['--data', root], missing)).toBe(1);
    expect(missing.err).toMatch(/holds no metrics\.db/);
  }, 60_000);
});
