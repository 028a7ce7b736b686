/**
 * The ProbeMonitor: scheduling without pile-up, the 1 s floor between checks (scheduled,
 * enhanced and check-now), targets and metrics per tenant, quotas and the server-wide cap,
 * health.db persistence and migration of version-1 files, the routes' access and tenant
 * scoping, and a flat abort-listener count over thousands of checks.
 */
import Database from 'better-sqlite3';
import { getEventListeners } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { MetricsSystem } from '../../src/model/api.js';
import { HttpError } from '../../src/http/route.js';
import { DEFAULT_QUOTAS, QuotaExceededError } from '../../src/tenancy/quota.js';
import { probeTarget, type ProbeResult } from '../../src/probes/probe_check.js';
import { CheckRateLimitedError, TargetCapacityError } from '../../src/probes/probe_errors.js';
import { ProbeMonitor, type ProbeFunction } from '../../src/probes/probe_monitor.js';
import { probeTargetRoutes } from '../../src/probes/probe_routes.js';
import { PROBE_SCHEMA_VERSION } from '../../src/probes/probe_schema.js';
import type { ProbeTarget } from '../../src/probes/probe_target.js';
import { BROKEN_BODY, LOOPBACK_EGRESS, recordingSystem, routeCaller, startTestServer, type TestServer, type Written } from './probes_test_kit.js';

const T0 = Date.UTC(2026, 0, 1);
const UP: ProbeResult = { status: 'up', responseTimeMs: 1, statusCode: 200, error: null };

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

let dir: string;
let written: Written[];
let system: MetricsSystem;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-probes-'));
  ({ system, written } = recordingSystem(dir));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A fake probe that records each start time (by the monitor's clock) and answers when released. */
function scriptedProbe(clock: { t: number }) {
  const starts: Array<{ id: string; at: number }> = [];
  let release: Array<() => void> = [];
  const check: ProbeFunction = (t: ProbeTarget) => {
    starts.push({ id: t.target_id, at: clock.t });
    return new Promise((resolve) => release.push(() => resolve(UP)));
  };
  const releaseAll = async (): Promise<void> => {
    const pending = release;
    release = [];
    for (const r of pending) r();
    await new Promise((r) => setImmediate(r));
  };
  return { check, starts, releaseAll };
}

const points = (metricId: string, id: string, tenant = 'default') =>
  written.filter((w) => w.tenant === tenant && w.point.metricId === metricId && w.point.tags?.target_id === id).map((w) => w.point.value);

describe('scheduling', () => {
  it('never piles up checks on a target that does not answer, and close() aborts the check in flight', async () => {
    const clock = { t: T0 };
    const monitor = await ProbeMonitor.open(system, { now: () => clock.t, egress: LOOPBACK_EGRESS });
    monitor.addTarget('default', { target_id: 'hang', target_type: 'http', endpoint: '127.0.0.1', port: server.port, health_endpoint: '/hang', interval: 1, timeout: 0.25 });
    server.resetMax();
    let started = 0;
    let maxInFlight = 0;
    // The monitor's clock runs 1 s per step, far faster than the 0.25 s timeouts: every tick
    // finds the target due, and only the check still in flight keeps the next from starting.
    await vi.waitFor(() => {
      clock.t += 1000;
      started += monitor.tick();
      maxInFlight = Math.max(maxInFlight, monitor.inFlight);
      expect(monitor.checksRun).toBeGreaterThanOrEqual(3);
    }, { timeout: 20_000, interval: 20 });
    expect(maxInFlight).toBe(1);
    expect(started - monitor.checksRun).toBeLessThanOrEqual(1);
    // The server may see the next connect before the close of the previous, timed-out one.
    expect(server.maxOpen).toBeLessThanOrEqual(2);
    expect(points('health.target.up', 'hang').every((v) => v === 0)).toBe(true);
    for (const v of points('health.target.response_time_ms', 'hang')) expect(v).toBeGreaterThanOrEqual(240);
    expect(monitor.getTarget('default', 'hang')).toMatchObject({ status: 'down', last_error: 'timeout after 250 ms' });

    // A check with a 30 s timeout in flight: close() aborts it rather than waiting, and records nothing.
    monitor.addTarget('default', { target_id: 'long', target_type: 'http', endpoint: '127.0.0.1', port: server.port, health_endpoint: '/hang', timeout: 30 });
    clock.t += 1000;
    monitor.tick();
    await vi.waitFor(() => expect(server.open).toBeGreaterThan(0));
    const recorded = monitor.checksRun;
    const closing = performance.now();
    await monitor.close();
    // Far below the 30 s timeout: the check was aborted, not awaited.
    expect(performance.now() - closing).toBeLessThan(10_000);
    expect(monitor.checksRun).toBe(recorded);
    await vi.waitFor(() => expect(server.open).toBe(0));
  });

  it('keeps at least 1 s between checks of a target: scheduled, enhanced and check-now', async () => {
    const clock = { t: T0 };
    const probe = scriptedProbe(clock);
    const monitor = await ProbeMonitor.open(system, { now: () => clock.t, check: probe.check });
    monitor.addTarget('default', { target_id: 'a', target_type: 'tcp', endpoint: 'db.example.com', port: 5432, interval: 1 });
    monitor.addTarget('default', { target_id: 'b', target_type: 'tcp', endpoint: 'db.example.com', port: 5432, interval: 2 });
    // 10 s of monitor time in 100 ms ticks, each check answering at once.
    for (let step = 0; step < 100; step++) {
      monitor.tick();
      await probe.releaseAll();
      clock.t += 100;
    }
    const startsOf = (id: string) => probe.starts.filter((s) => s.id === id).map((s) => s.at - T0);
    expect(startsOf('a')).toEqual([0, 1000, 2000, 3000, 4000, 5000, 6000, 7000, 8000, 9000]);
    expect(startsOf('b')).toEqual([0, 2000, 4000, 6000, 8000]);

    // Enhanced monitoring would check b every 0.5 s (2 s / 4): the 1 s floor holds.
    expect(monitor.enhanceMonitoring({ metricId: 'health.target.up', tags: { target_id: 'b' } }, clock.t + 60_000)).toEqual(['b']);
    expect(monitor.enhanceMonitoring({ metricId: 'system.cpu.usage_total' }, clock.t + 60_000)).toEqual([]);
    expect(monitor.enhanceMonitoring({ metricId: 'health.target.up', tags: { target_id: 'b' } }, clock.t + 60_000, 'acme')).toEqual([]);
    probe.starts.length = 0;
    for (let step = 0; step < 30; step++) {
      monitor.tick();
      await probe.releaseAll();
      clock.t += 100;
    }
    const gaps = (id: string) => startsOf(id).slice(1).map((t, i) => t - startsOf(id)[i]!);
    expect(gaps('b').length).toBeGreaterThanOrEqual(2);
    expect(gaps('b').every((g) => g === 1000)).toBe(true);

    // Check now: refused within 1 s of the last start (429 with the wait), joined while in flight.
    const last = probe.starts.filter((s) => s.id === 'a').at(-1)!.at;
    clock.t = last + 400;
    await expect(monitor.checkNow('default', 'a')).rejects.toMatchObject({ name: 'CheckRateLimitedError', retryAfterMs: 600 });
    clock.t = last + 1000;
    const first = monitor.checkNow('default', 'a');
    const joined = monitor.checkNow('default', 'a');
    expect(joined).toBe(first);
    await probe.releaseAll();
    await first;
    expect(probe.starts.filter((s) => s.at === last + 1000 && s.id === 'a')).toHaveLength(1);
    const routes = routeCaller(probeTargetRoutes(monitor));
    const limited = await routes('default', 'admin', 'POST', '/api/v1/health/targets/:id/check', { id: 'a' }).catch((e: unknown) => e);
    expect(limited).toBeInstanceOf(HttpError);
    expect(limited).toMatchObject({ status: 429, body: { retry_after_ms: 1000 } });
    expect(new CheckRateLimitedError('a', 600, 1000).message).toBe('target_id="a" was checked less than 1000 ms ago; retry in 600 ms');
    await monitor.close();
  });

  it('refuses intervals under 1 s, naming the field and value', async () => {
    const monitor = await ProbeMonitor.open(system, { check: async () => UP });
    for (const interval of [0.05, 0.5, 0, -1]) {
      expect(() => monitor.addTarget('default', { target_type: 'tcp', endpoint: 'db', port: 1, interval }))
        .toThrow(`target.interval=${interval} must be a number in [1, 86400]`);
    }
    const routes = routeCaller(probeTargetRoutes(monitor));
    await expect(routes('default', 'admin', 'POST', '/api/v1/health/targets', {}, { target_type: 'tcp', endpoint: 'db', port: 1, interval: 0.1 }))
      .rejects.toMatchObject({ status: 400, body: { field: 'interval' } });
    expect(monitor.addTarget('default', { target_type: 'tcp', endpoint: 'db', port: 1, interval: 1 }).interval).toBe(1);
    await monitor.close();
  });
});

describe('tenants', () => {
  it('keeps targets, status and metrics per tenant; another tenant\'s target is 404', async () => {
    const monitor = await ProbeMonitor.open(system, { egress: LOOPBACK_EGRESS });
    const call = routeCaller(probeTargetRoutes(monitor));
    const body = (id: string, path = '/health') => ({ target_id: id, name: id.toUpperCase(), target_type: 'http', endpoint: '127.0.0.1', port: server.port, health_endpoint: path, expected_response_time_ms: 30_000 });
    expect((await call('acme', 'admin', 'POST', '/api/v1/health/targets', {}, body('api'))).status).toBe(201);
    // The same id in another tenant is another target.
    expect((await call('globex', 'admin', 'POST', '/api/v1/health/targets', {}, body('api', '/broken'))).status).toBe(201);
    await expect(call('acme', 'admin', 'POST', '/api/v1/health/targets', {}, body('api'))).rejects.toMatchObject({ status: 409 });
    await expect(call('acme', 'admin', 'POST', '/api/v1/health/targets', {}, { target_type: 'ftp', endpoint: 'x' })).rejects.toMatchObject({ status: 400, body: { field: 'target_type' } });

    await call('acme', 'admin', 'POST', '/api/v1/health/targets/:id/check', { id: 'api' });
    await call('globex', 'admin', 'POST', '/api/v1/health/targets/:id/check', { id: 'api' });
    const list = async (tenant: string) => ((await call(tenant, 'reader', 'GET', '/api/v1/health/targets')).body as { targets: Array<Record<string, unknown>> }).targets;
    expect((await list('acme')).map((t) => [t.target_id, t.status, t.last_status_code])).toEqual([['api', 'up', 200]]);
    expect((await list('globex')).map((t) => [t.target_id, t.status, t.last_status_code, t.last_error])).toEqual([['api', 'down', 503, 'status 503, expected 200']]);
    expect(JSON.stringify(await list('globex'))).not.toContain(BROKEN_BODY.slice(0, 10));
    expect(await list('initech')).toEqual([]);
    expect(typeof (await list('acme'))[0]!.last_check).toBe('string');

    // Each check wrote into its own tenant only.
    expect(points('health.target.up', 'api', 'acme')).toEqual([1]);
    expect(points('health.target.up', 'api', 'globex')).toEqual([0]);
    expect(written.filter((w) => w.tenant !== 'acme' && w.tenant !== 'globex')).toEqual([]);
    expect(written.find((w) => w.tenant === 'acme')!.point.tags).toEqual({ target_id: 'api', name: 'API', target_type: 'http' });

    // Another tenant's target: 404 for read, check and delete alike, and nothing changes.
    await call('acme', 'admin', 'POST', '/api/v1/health/targets', {}, body('only-acme'));
    for (const [method, pattern] of [['GET', '/api/v1/health/targets/:id'], ['POST', '/api/v1/health/targets/:id/check'], ['DELETE', '/api/v1/health/targets/:id']] as const) {
      await expect(call('globex', 'admin', method, pattern, { id: 'only-acme' })).rejects.toMatchObject({ status: 404 });
    }
    expect(monitor.getTarget('acme', 'only-acme')?.status).toBe('unknown');
    await call('globex', 'admin', 'DELETE', '/api/v1/health/targets/:id', { id: 'api' });
    expect(monitor.getTarget('acme', 'api')).toBeDefined();
    expect(monitor.targetCount()).toBe(2);
    await monitor.close();

    // Across a restart: each tenant keeps its own targets and their last status.
    const again = await ProbeMonitor.open(system, { egress: LOOPBACK_EGRESS });
    expect(again.listTargets('acme').map((t) => [t.target_id, t.status])).toEqual([['api', 'up'], ['only-acme', 'unknown']]);
    expect(again.listTargets('globex')).toEqual([]);
    await again.close();
  });

  it('declares an access level on every route: views for readers, changes and checks for admins', async () => {
    const monitor = await ProbeMonitor.open(system, { check: async () => UP });
    const routes = probeTargetRoutes(monitor);
    expect(routes.map((r) => `${r.method} ${r.pattern} ${r.access}`)).toEqual([
      'POST /api/v1/health/targets admin',
      'GET /api/v1/health/targets reader',
      'GET /api/v1/health/targets/:id reader',
      'POST /api/v1/health/targets/:id/check admin',
      'DELETE /api/v1/health/targets/:id admin',
    ]);
    await monitor.close();
  });

  it('bounds targets per tenant (quota, 429) and in all (server-wide cap)', async () => {
    const quotas = (tenant: string) => ({ ...DEFAULT_QUOTAS, targets: tenant === 'small' ? 2 : 100 });
    const monitor = await ProbeMonitor.open(system, { check: async () => UP, quotas, maxTargets: 5 });
    const add = (tenant: string, id: string) => monitor.addTarget(tenant, { target_id: id, target_type: 'tcp', endpoint: 'db.example.com', port: 5432 });
    add('small', 'a');
    add('small', 'b');
    let err: unknown;
    try {
      add('small', 'c');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(QuotaExceededError);
    expect(err).toMatchObject({ tenant: 'small', quota: 'targets', limit: 2 });
    expect((err as Error).message).toBe('tenant small: quota targets=2 reached: 2 targets monitored');
    expect(monitor.listTargets('small').map((t) => t.target_id)).toEqual(['a', 'b']);
    // A removal makes room again.
    monitor.removeTarget('small', 'a');
    add('small', 'c');
    // Other tenants are not held by small's quota, until the server-wide cap.
    add('big', 'a');
    add('big', 'b');
    add('big', 'c');
    expect(() => add('big', 'd')).toThrow(TargetCapacityError);
    expect(() => add('big', 'd')).toThrow('maxTargets=5 reached');
    await expect(routeCaller(probeTargetRoutes(monitor))('big', 'admin', 'POST', '/api/v1/health/targets', {}, { target_type: 'tcp', endpoint: 'x', port: 1 }))
      .rejects.toMatchObject({ status: 429 });
    expect(monitor.targetCount()).toBe(5);
    expect(monitor.targetCount('big')).toBe(3);
    await monitor.close();
  });
});

describe('egress and target content', () => {
  it('refuses a literal internal address when the target is added, unless allowed', async () => {
    const strict = await ProbeMonitor.open(system, { check: async () => UP });
    const call = routeCaller(probeTargetRoutes(strict));
    for (const endpoint of ['127.0.0.1', '10.0.0.8', '169.254.169.254', 'http://169.254.169.254/latest', 'http://[::1]:8080', 'http://2130706433']) {
      const answer = (await call('default', 'admin', 'POST', '/api/v1/health/targets', {}, { target_type: 'http', endpoint }).catch((e: unknown) => e)) as HttpError;
      expect(answer.status, endpoint).toBe(400);
      expect(answer.body, endpoint).toMatchObject({ field: 'endpoint' });
      expect(answer.message, endpoint).toMatch(/refused/);
    }
    // A host name is judged when a check resolves it (probes_check.test.ts): it can be added.
    expect((await call('default', 'admin', 'POST', '/api/v1/health/targets', {}, { target_type: 'http', endpoint: 'localhost' })).status).toBe(201);
    await strict.close();

    const open = await ProbeMonitor.open(system, { path: join(dir, 'open.db'), check: async () => UP, egress: LOOPBACK_EGRESS });
    expect(open.addTarget('default', { target_type: 'tcp', endpoint: '127.0.0.1', port: 22 }).endpoint).toBe('127.0.0.1');
    expect(() => open.addTarget('default', { target_type: 'tcp', endpoint: '10.0.0.8', port: 22 })).toThrow(/target\.endpoint="10\.0\.0\.8" egress to 10\.0\.0\.8/);
    await open.close();
  });

  it('refuses credentials in an endpoint URL without echoing them, and paths that name another host', async () => {
    const monitor = await ProbeMonitor.open(system, { check: async () => UP });
    let message = '';
    try {
      monitor.addTarget('default', { target_type: 'http', endpoint: 'https://admin:hunter2@example.com' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/^target\.endpoint=.* must not contain credentials/);
    expect(message).not.toContain('hunter2');
    expect(message).not.toContain('admin');
    for (const path of ['//169.254.169.254/x', '/\\169.254.169.254/x']) {
      expect(() => monitor.addTarget('default', { target_type: 'http', endpoint: 'example.com', health_endpoint: path })).toThrow(/target\.health_endpoint=/);
    }
    await monitor.close();
  });
});

describe('health.db', () => {
  it('migrates a version-1 file: its targets become tenant default, status kept, intervals raised to 1 s', async () => {
    const path = join(dir, 'health.db');
    const v1 = new Database(path);
    v1.exec(`CREATE TABLE targets (target_id TEXT PRIMARY KEY, definition TEXT NOT NULL, last_status TEXT NOT NULL DEFAULT 'unknown',
      last_check INTEGER, last_response_time_ms REAL, last_status_code INTEGER, last_error TEXT, consecutive_failures INTEGER NOT NULL DEFAULT 0)`);
    v1.pragma('user_version = 1');
    const def = (id: string, interval: number) => JSON.stringify({ target_id: id, name: id, target_type: 'tcp', endpoint: 'db.example.com', port: 5432, health_endpoint: '/health', expected_status_code: 200, expected_response_time_ms: 1000, interval, timeout: 5, created_at: T0 });
    v1.prepare('INSERT INTO targets VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run('fast', def('fast', 0.05), 'down', T0, 5000, null, 'ECONNREFUSED', 3);
    v1.prepare('INSERT INTO targets (target_id, definition) VALUES (?, ?)').run('slow', def('slow', 60));
    v1.close();

    const monitor = await ProbeMonitor.open(system, { check: async () => UP });
    expect(monitor.listTargets('default').map((t) => [t.target_id, t.interval, t.status, t.consecutive_failures, t.last_error])).toEqual([
      ['fast', 1, 'down', 3, 'ECONNREFUSED'],
      ['slow', 60, 'unknown', 0, null],
    ]);
    // The key is (tenant, target_id) now: another tenant may use the same id.
    monitor.addTarget('acme', { target_id: 'fast', target_type: 'tcp', endpoint: 'db.example.com', port: 5432 });
    await monitor.close();

    const check = new Database(path, { readonly: true });
    expect(check.pragma('user_version', { simple: true })).toBe(PROBE_SCHEMA_VERSION);
    expect(check.prepare('SELECT tenant, target_id FROM targets ORDER BY tenant, target_id').all()).toEqual([
      { tenant: 'acme', target_id: 'fast' }, { tenant: 'default', target_id: 'fast' }, { tenant: 'default', target_id: 'slow' },
    ]);
    check.close();
    // Opening a migrated file again changes nothing.
    const again = await ProbeMonitor.open(system, { check: async () => UP });
    expect(again.targetCount()).toBe(3);
    await again.close();
  });

  it('refuses a file from a newer version, naming path and version', async () => {
    const path = join(dir, 'health.db');
    const future = new Database(path);
    future.pragma('user_version = 9');
    future.close();
    await expect(ProbeMonitor.open(system, { path })).rejects.toThrow(`${path}: health.db schema version 9 is newer than this EMMS supports (${PROBE_SCHEMA_VERSION})`);
  });
});

describe('the shutdown signal', () => {
  it('keeps its abort-listener count flat over thousands of checks through the monitor', async () => {
    const listener = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const port = (listener.address() as net.AddressInfo).port;
    const clock = { t: T0 };
    let shutdown: AbortSignal | undefined;
    let maxListeners = 0;
    // The real probe, with the monitor's own shutdown signal observed on the way.
    const check: ProbeFunction = (t, signal) => {
      shutdown = signal;
      const result = probeTarget(t, { egress: LOOPBACK_EGRESS, signal });
      maxListeners = Math.max(maxListeners, getEventListeners(signal, 'abort').length);
      return result;
    };
    const monitor = await ProbeMonitor.open(system, { now: () => clock.t, check, egress: LOOPBACK_EGRESS });
    try {
      monitor.addTarget('default', { target_id: 'tcp', target_type: 'tcp', endpoint: '127.0.0.1', port, interval: 1 });
      monitor.addTarget('default', { target_id: 'http', target_type: 'http', endpoint: '127.0.0.1', port: server.port, interval: 1, expected_response_time_ms: 30_000 });
      const counts: number[] = [];
      for (let round = 0; round < 1000; round++) {
        clock.t += 1000;
        await Promise.all([monitor.checkNow('default', 'tcp'), monitor.checkNow('default', 'http')]);
        if (round % 100 === 99) counts.push(getEventListeners(shutdown!, 'abort').length);
      }
      expect(monitor.checksRun).toBe(2000);
      expect(counts).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      // Two checks at once hold two listeners at most, only while they run.
      expect(maxListeners).toBeLessThanOrEqual(2);
      expect(monitor.getTarget('default', 'tcp')?.status).toBe('up');
      expect(monitor.getTarget('default', 'http')?.status).toBe('up');
    } finally {
      await monitor.close();
      await new Promise((r) => listener.close(r));
    }
  });
});
