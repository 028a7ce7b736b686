/**
 * Probing through the real engine: checks of live local servers become queryable series of
 * the target's tenant, and of no other tenant.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { createMetricsSystem } from '../../src/index.js';
import type { MetricsSystem } from '../../src/model/api.js';
import { parseEgressPolicy } from '../../src/net/egress_guard.js';
import { ProbeMonitor } from '../../src/probes/probe_monitor.js';

let dir: string;
let system: MetricsSystem;
let server: http.Server;
let port: number;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-probes-int-'));
  system = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 });
  await system.start();
  server = http.createServer((req, res) => {
    if (req.url === '/health') res.end('ok');
    else if (req.url === '/slow') setTimeout(() => res.end('late'), 300);
    else if (req.url === '/hang') return;
    else {
      res.statusCode = 500;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await system.stop();
  rmSync(dir, { recursive: true, force: true });
});

it('writes health.target.up / response_time_ms / degraded of up, slow, wrong and silent targets into their tenant', async () => {
  // The test server is on loopback, which the default egress policy refuses.
  const egress = parseEgressPolicy('security.egress_allow', ['127.0.0.1']);
  const monitor = await ProbeMonitor.open(system, { tickMs: 20, egress });
  // expected_response_time_ms: 200 sits between the quick answers and the 300 ms /slow one; a
  // busy machine can only make `ok` slower, so `ok` is judged by up, not by degraded.
  const base = { target_type: 'http', endpoint: '127.0.0.1', port, interval: 1, timeout: 0.4, expected_response_time_ms: 200 };
  monitor.addTarget('acme', { ...base, target_id: 'ok', health_endpoint: '/health' });
  monitor.addTarget('acme', { ...base, target_id: 'slow', health_endpoint: '/slow' });
  monitor.addTarget('acme', { ...base, target_id: 'wrong', health_endpoint: '/error' });
  monitor.addTarget('acme', { ...base, target_id: 'silent', health_endpoint: '/hang' });
  monitor.addTarget('globex', { ...base, target_id: 'ok', health_endpoint: '/health' });
  monitor.start();
  // Every target checked, and ten checks in all: about two rounds at the 1 s interval.
  await vi.waitFor(() => {
    for (const [tenant, id] of [['acme', 'ok'], ['acme', 'slow'], ['acme', 'wrong'], ['acme', 'silent'], ['globex', 'ok']] as const) {
      expect(monitor.getTarget(tenant, id)!.last_check, `${tenant}/${id}`).not.toBeNull();
    }
    expect(monitor.checksRun).toBeGreaterThanOrEqual(10);
  }, { timeout: 20_000, interval: 50 });
  await monitor.close();

  const acme = system.forTenant('acme');
  const latest = async (metric: string) => Object.fromEntries((await acme.latest(metric)).map((p) => [p.tags.target_id, p.value]));
  expect(await latest('health.target.up')).toEqual({ ok: 1, slow: 1, wrong: 0, silent: 0 });
  expect((await latest('health.target.degraded')).slow).toBe(1);
  expect((await latest('health.target.degraded')).wrong).toBe(0);
  const rt = await latest('health.target.response_time_ms');
  expect(rt.slow!).toBeGreaterThanOrEqual(290);
  expect(rt.silent!).toBeGreaterThanOrEqual(390);
  expect(monitor.getTarget('acme', 'silent')).toMatchObject({ status: 'down', last_error: 'timeout after 400 ms', last_status_code: null });
  expect(monitor.getTarget('acme', 'wrong')).toMatchObject({ status: 'down', last_error: 'status 500, expected 200', last_status_code: 500 });

  // Every recorded check is one point per metric, and the series carry no tenant tag: the tenant is the view.
  const perTarget = await acme.queryMetrics({ metricPattern: 'health.target.up' });
  const checksRecorded = perTarget.reduce((n, s) => n + s.values.length, 0);
  const globexUp = await system.forTenant('globex').queryMetrics({ metricPattern: 'health.target.up' });
  expect(checksRecorded + globexUp.reduce((n, s) => n + s.values.length, 0)).toBe(monitor.checksRun);
  expect(perTarget.map((s) => Object.keys(s.tags).sort())).toEqual(perTarget.map(() => ['name', 'target_id', 'target_type']));
  expect(globexUp.map((s) => s.tags.target_id)).toEqual(['ok']);
  // Nothing reached the default tenant.
  expect(await system.latest('health.target.up')).toEqual([]);
});
