/** Health monitoring through the real engine: checks of live local servers become queryable series. */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createMetricsSystem } from '../../src/index.js';
import type { MetricsSystem } from '../../src/model/api.js';
import { HealthMonitor } from '../../src/health/health_monitor.js';

let dir: string;
let system: MetricsSystem;
let server: http.Server;
let port: number;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-health-int-'));
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

it('writes health.target.up / response_time_ms / degraded for up, slow, wrong and silent targets', async () => {
  const monitor = await HealthMonitor.open(system, { tickMs: 20 });
  const base = { target_type: 'http', endpoint: '127.0.0.1', port, interval: 0.1, timeout: 0.4, expected_response_time_ms: 200 };
  monitor.addTarget({ ...base, target_id: 'ok', health_endpoint: '/health' });
  monitor.addTarget({ ...base, target_id: 'slow', health_endpoint: '/slow' });
  monitor.addTarget({ ...base, target_id: 'wrong', health_endpoint: '/error' });
  monitor.addTarget({ ...base, target_id: 'silent', health_endpoint: '/hang' });
  monitor.start();
  await new Promise((r) => setTimeout(r, 1000));
  await monitor.close();

  const latest = async (metric: string) => Object.fromEntries((await system.latest(metric)).map((p) => [p.tags.target_id, p.value]));
  expect(await latest('health.target.up')).toEqual({ ok: 1, slow: 1, wrong: 0, silent: 0 });
  expect(await latest('health.target.degraded')).toEqual({ ok: 0, slow: 1, wrong: 0, silent: 0 });
  const rt = await latest('health.target.response_time_ms');
  expect(rt.ok!).toBeLessThan(200);
  expect(rt.slow!).toBeGreaterThanOrEqual(290);
  expect(rt.silent!).toBeGreaterThanOrEqual(390);
  // No pile-up: the silent target (0.4 s timeout, 0.1 s interval) was checked at most ⌈1 s / 0.4 s⌉ times.
  const silent = await system.queryMetrics({ metricPattern: 'health.target.up', tags: { target_id: 'silent' } });
  expect(silent[0]!.values.length).toBeGreaterThanOrEqual(2);
  expect(silent[0]!.values.length).toBeLessThanOrEqual(3);
  const ok = await system.queryMetrics({ metricPattern: 'health.target.up', tags: { target_id: 'ok' } });
  expect(ok[0]!.values.length).toBeGreaterThanOrEqual(5);
});
