/**
 * The alerting mounted in the real HTTP server (uWebSockets.js) over the real engine: rules
 * managed over HTTP, and a block_ip remediation that makes the server refuse the offending
 * address until the block expires.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertRoutes } from '../../src/alerts/alert_routes.js';
import { createAlerting } from '../../src/alerts/create_alerting.js';
import type { Alerting } from '../../src/alerts/alerting.js';
import { defaultConfig } from '../../src/config/config.js';
import { createMetricsSystem } from '../../src/index.js';
import type { MetricsSystem } from '../../src/model/api.js';
import { createServer, type EmmsServer } from '../../src/server/index.js';
import { FakeClock, T0 } from '../unit/alerts_test_kit.js';

let dir: string;
let system: MetricsSystem;
let alerting: Alerting;
let server: EmmsServer;
let base: string;
const clock = new FakeClock();

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-alerts-server-'));
  const config = defaultConfig();
  config.port = 0;
  config.host = '127.0.0.1';
  config.storage.path = join(dir, 'metrics.db');
  config.collector.decodeThreads = 0;
  system = createMetricsSystem({ path: config.storage.path, queryWorkers: 0 });
  await system.start();
  clock.t = T0;
  alerting = createAlerting(system, { clock, predefinedRules: false });
  alerting.open();
  server = createServer({ engine: system, config, routes: alertRoutes(alerting), ipBlocklist: alerting.ipBlocklist });
  const { port } = await server.listen();
  base = `http://127.0.0.1:${port}`;
});

afterEach(async () => {
  await server.close();
  await alerting.stop();
  await system.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('alerting behind the HTTP server', () => {
  it('manages rules over HTTP and blocks the source address of a remediated alert', async () => {
    const bad = await fetch(`${base}/api/v1/alerts/rules`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'x', metric_pattern: 'a', threshold_value: 1, comparison: '=>' }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/rule.comparison="=>" must be one of/);

    const created = await fetch(`${base}/api/v1/alerts/rules`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        rule_id: 'brute-force', name: 'Brute force', metric_pattern: 'security\\.auth\\.failures', threshold_value: 5,
        aggregation: 'count', window_seconds: 60, group_by: ['source_ip'], priority: 'CRITICAL',
        remediation: [{ type: 'block_ip', duration_seconds: 300 }],
      }),
    });
    expect(created.status).toBe(201);

    const points = Array.from({ length: 6 }, (_, i) => ({ metricId: 'security.auth.failures', value: 1, timestamp: T0 - 30_000 + i * 1000, tags: { source_ip: '127.0.0.1' } }));
    await system.collectMetrics(points);
    expect((await fetch(`${base}/api/v1/alerts/status`)).status).toBe(200);
    await alerting.evaluateOnce();
    await alerting.idle();

    // This client is 127.0.0.1: from now on the server refuses it.
    const refused = await fetch(`${base}/api/v1/alerts?state=firing`);
    expect(refused.status).toBe(403);
    await refused.text();
    expect(alerting.listAlerts({ state: 'firing' }).map((a) => [a.rule_id, a.value])).toEqual([['brute-force', 6]]);
    expect(alerting.remediationAudit()[0]).toMatchObject({ action: 'block_ip', target: '127.0.0.1', outcome: 'ok' });

    clock.t = T0 + 301_000; // the block has expired
    const again = await fetch(`${base}/api/v1/alerts?state=firing`);
    expect(again.status).toBe(200);
    const body = (await again.json()) as { alerts: Array<{ series: { tags: Record<string, string> } }> };
    expect(body.alerts.map((a) => a.series.tags.source_ip)).toEqual(['127.0.0.1']);
  });
});
