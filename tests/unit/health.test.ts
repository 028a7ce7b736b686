/** Health checks against real local HTTP and TCP servers that answer well, slowly, wrongly or not at all. */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { MetricsSystem } from '../../src/model/api.js';
import type { MetricDataPoint } from '../../src/model/metric.js';
import { checkTarget } from '../../src/health/health_check.js';
import { HealthMonitor } from '../../src/health/health_monitor.js';
import { healthTargetRoutes } from '../../src/health/health_routes.js';
import { validateTarget, type HealthTarget } from '../../src/health/health_target.js';
import type { HttpRequest } from '../../src/http/route.js';

let server: http.Server;
let port = 0;
let openSockets = 0;
let maxOpenSockets = 0;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url === '/health') res.end('ok');
    else if (req.url === '/slow') setTimeout(() => res.end('late'), 400);
    else if (req.url === '/broken') {
      res.statusCode = 503;
      res.end('down for maintenance');
    } else if (req.url === '/hang') {
      // Never answers.
    } else if (req.url === '/drip') {
      res.writeHead(200);
      res.write('a');
      // Headers on time, body never ends.
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  server.on('connection', (s) => {
    maxOpenSockets = Math.max(maxOpenSockets, ++openSockets);
    s.on('close', () => openSockets--);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function target(extra: Record<string, unknown>): HealthTarget {
  return validateTarget({ name: 't', target_type: 'http', endpoint: '127.0.0.1', port, timeout: 1, expected_response_time_ms: 250, ...extra }, 0);
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

describe('checkTarget', () => {
  it('http: up, degraded when slower than expected, down on a wrong status or a timeout', async () => {
    const up = await checkTarget(target({}));
    expect(up).toMatchObject({ status: 'up', statusCode: 200, error: null });
    expect(up.responseTimeMs).toBeLessThan(250);

    const slow = await checkTarget(target({ health_endpoint: '/slow' }));
    expect(slow).toMatchObject({ status: 'degraded', statusCode: 200 });
    expect(slow.responseTimeMs).toBeGreaterThanOrEqual(380);

    const wrong = await checkTarget(target({ health_endpoint: '/broken' }));
    expect(wrong).toMatchObject({ status: 'down', statusCode: 503, error: 'status 503, expected 200' });

    const t0 = performance.now();
    const hang = await checkTarget(target({ health_endpoint: '/hang', timeout: 0.2 }));
    expect(hang).toMatchObject({ status: 'down', statusCode: null, error: 'timeout after 200 ms' });
    expect(performance.now() - t0).toBeLessThan(600);

    const tooSlow = await checkTarget(target({ health_endpoint: '/slow', timeout: 0.1 }));
    expect(tooSlow.status).toBe('down');

    // Headers in time and a body that never ends: judged on the headers, socket released.
    const drip = await checkTarget(target({ health_endpoint: '/drip', timeout: 0.5 }));
    expect(drip.status).toBe('up');

    const refused = await checkTarget(target({ port: await freePort() }));
    expect(refused.status).toBe('down');
    expect(refused.error).toMatch(/ECONNREFUSED/);

    const urlForm = await checkTarget(target({ endpoint: `http://127.0.0.1:${port}`, port: null }));
    expect(urlForm.status).toBe('up');

    await new Promise((r) => setTimeout(r, 50));
    expect(openSockets).toBe(0);
  });

  it('tcp: up when a listener accepts, down when refused', async () => {
    const tcp = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    const tcpPort = (tcp.address() as net.AddressInfo).port;
    try {
      const up = await checkTarget(validateTarget({ target_type: 'tcp', endpoint: '127.0.0.1', port: tcpPort, timeout: 1 }, 0));
      expect(up).toMatchObject({ status: 'up', error: null });
      const down = await checkTarget(validateTarget({ target_type: 'tcp', endpoint: '127.0.0.1', port: await freePort(), timeout: 1 }, 0));
      expect(down.status).toBe('down');
    } finally {
      await new Promise((r) => tcp.close(r));
    }
  });

  it('validates targets naming field and value', () => {
    expect(() => validateTarget({ target_type: 'udp', endpoint: 'x' }, 0)).toThrow(/target\.target_type="udp" must be one of http, tcp/);
    expect(() => validateTarget({ target_type: 'tcp', endpoint: 'db' }, 0)).toThrow(/target\.port=undefined is required for tcp targets/);
    expect(() => validateTarget({ target_type: 'http', endpoint: 'h', port: 70000 }, 0)).toThrow(/target\.port=70000 must be an integer in \[1, 65535\]/);
    expect(() => validateTarget({ target_type: 'http', endpoint: 'h', timeout: 0 }, 0)).toThrow(/target\.timeout=0/);
    expect(() => validateTarget({ target_type: 'http', endpoint: 'h', health_endpoint: 'health' }, 0)).toThrow(/health_endpoint="health" must be a path/);
    expect(validateTarget({ target_type: 'http', endpoint: 'h' }, 0)).toMatchObject({ interval: 30, timeout: 5, expected_status_code: 200, health_endpoint: '/health' });
  });
});

describe('HealthMonitor', () => {
  let dir: string;
  let written: MetricDataPoint[];
  let system: MetricsSystem;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'emms-health-'));
    written = [];
    system = { dataDirectory: dir, collectMetrics: async (p: readonly MetricDataPoint[]) => (written.push(...p), { accepted: p.length }) } as unknown as MetricsSystem;
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('never piles up checks on a target that does not answer', async () => {
    const monitor = await HealthMonitor.open(system, { tickMs: 10 });
    monitor.addTarget({ target_id: 'hang', target_type: 'http', endpoint: '127.0.0.1', port, health_endpoint: '/hang', interval: 0.05, timeout: 0.25 });
    maxOpenSockets = openSockets;
    let maxInFlight = 0;
    monitor.start();
    const until = Date.now() + 900;
    while (Date.now() < until) {
      maxInFlight = Math.max(maxInFlight, monitor.inFlight);
      await new Promise((r) => setTimeout(r, 5));
    }
    const closing = performance.now();
    await monitor.close();
    expect(performance.now() - closing).toBeLessThan(100); // the check in flight is aborted, not awaited
    expect(maxInFlight).toBe(1);
    // The server may see the next connect before the close of the previous, timed-out one.
    expect(maxOpenSockets).toBeLessThanOrEqual(2);
    await new Promise((r) => setTimeout(r, 50));
    expect(openSockets).toBe(0);
    // 900 ms / (250 ms timeout) ⇒ 3–4 checks, each recorded as down with ≈ the timeout as latency.
    expect(monitor.checksRun).toBeGreaterThanOrEqual(2);
    expect(monitor.checksRun).toBeLessThanOrEqual(4);
    const up = written.filter((p) => p.metricId === 'health.target.up');
    expect(up.every((p) => p.value === 0)).toBe(true);
    for (const p of written.filter((x) => x.metricId === 'health.target.response_time_ms')) expect(p.value).toBeGreaterThanOrEqual(240);
  });

  it('writes up/response time/degraded per check, keeps status across a restart, and serves the routes', async () => {
    const monitor = await HealthMonitor.open(system);
    const routes = healthTargetRoutes(monitor);
    const call = (method: string, pattern: string, params: Record<string, string> = {}, body?: unknown) =>
      Promise.resolve(routes.find((r) => r.method === method && r.pattern === pattern)!.handler({
        method: method as HttpRequest['method'], path: pattern, params, query: new URLSearchParams(), headers: {}, body, remoteAddress: '127.0.0.1',
      }));
    const created = await call('POST', '/api/v1/health/targets', {}, { target_id: 'api', name: 'API', target_type: 'http', endpoint: '127.0.0.1', port, expected_response_time_ms: 250 });
    expect(created.status).toBe(201);
    await call('POST', '/api/v1/health/targets', {}, { target_id: 'slow', name: 'Slow', target_type: 'http', endpoint: '127.0.0.1', port, health_endpoint: '/slow', expected_response_time_ms: 250 });
    await expect(call('POST', '/api/v1/health/targets', {}, { target_id: 'api', target_type: 'http', endpoint: 'x' })).rejects.toMatchObject({ status: 409 });
    await expect(call('POST', '/api/v1/health/targets', {}, { target_type: 'ftp', endpoint: 'x' })).rejects.toMatchObject({ status: 400, body: { field: 'target_type' } });
    await call('POST', '/api/v1/health/targets/:id/check', { id: 'api' });
    await call('POST', '/api/v1/health/targets/:id/check', { id: 'slow' });
    const list = (await call('GET', '/api/v1/health/targets')).body as { targets: Array<Record<string, unknown>> };
    expect(list.targets.map((t) => [t.target_id, t.status])).toEqual([['api', 'up'], ['slow', 'degraded']]);
    expect(typeof list.targets[0]!.last_check).toBe('string');
    const byTarget = (metricId: string, id: string) => written.filter((p) => p.metricId === metricId && p.tags?.target_id === id).map((p) => p.value);
    expect(byTarget('health.target.up', 'api')).toEqual([1]);
    expect(byTarget('health.target.up', 'slow')).toEqual([1]);
    expect(byTarget('health.target.degraded', 'slow')).toEqual([1]);
    expect(byTarget('health.target.response_time_ms', 'slow')[0]).toBeGreaterThanOrEqual(380);
    expect(written.find((p) => p.metricId === 'health.target.up')!.tags).toEqual({ target_id: 'api', name: 'API', target_type: 'http' });
    // Enhanced monitoring (alert remediation) checks the target of a health series 4× as often.
    let clock = Date.now();
    const timed = await HealthMonitor.open(system, { path: join(dir, 'h2.db'), now: () => clock, check: async () => ({ status: 'up', responseTimeMs: 1, statusCode: 200, error: null }) });
    timed.addTarget({ target_id: 'x', target_type: 'tcp', endpoint: '127.0.0.1', port: 1, interval: 40 });
    expect(timed.tick()).toBe(1);
    await new Promise((r) => setImmediate(r));
    clock += 10_000;
    expect(timed.tick()).toBe(0);
    expect(timed.enhanceMonitoring({ metricId: 'health.target.up', tags: { target_id: 'x' } }, clock + 60_000)).toEqual(['x']);
    expect(timed.enhanceMonitoring({ metricId: 'system.cpu.usage_total' }, clock + 60_000)).toEqual([]);
    expect(timed.tick()).toBe(1); // due at once: 10 s since the last check ≥ 40 s / 4
    await new Promise((r) => setImmediate(r));
    clock += 9_000;
    expect(timed.tick()).toBe(0);
    clock += 1_000;
    expect(timed.tick()).toBe(1);
    await timed.close();

    await call('DELETE', '/api/v1/health/targets/:id', { id: 'slow' });
    await expect(call('GET', '/api/v1/health/targets/:id', { id: 'slow' })).rejects.toMatchObject({ status: 404 });
    await monitor.close();

    const again = await HealthMonitor.open(system);
    expect(again.listTargets().map((t) => [t.target_id, t.status])).toEqual([['api', 'up']]);
    await again.close();
  });
});
