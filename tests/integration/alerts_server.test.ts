/**
 * The alerting mounted in the real HTTP server (uWebSockets.js) over the real engine, with
 * authentication on: rules managed over HTTP by role and tenant, the issue-12 lock-out tried
 * for real (points tagged source_ip=127.0.0.1 make the predefined Authentication Failures rule
 * fire, and the operator's loopback address is still not blocked), and the blocked-ips API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { alertRoutes } from '../../src/alerts/alert_routes.js';
import type { Alerting } from '../../src/alerts/alerting.js';
import { createAlerting } from '../../src/alerts/create_alerting.js';
import { openAuth, type AuthModule } from '../../src/auth/auth_module.js';
import { defaultConfig } from '../../src/config/config.js';
import { createMetricsSystem } from '../../src/index.js';
import type { MetricsSystem } from '../../src/model/api.js';
import { createServer, type EmmsServer } from '../../src/server/index.js';
import { FakeClock, T0 } from '../unit/alerts_test_kit.js';

let dir: string;
let system: MetricsSystem;
let auth: AuthModule;
let alerting: Alerting;
let server: EmmsServer;
let base: string;
const clock = new FakeClock();
/** What the server saw as clients failing to authenticate (the app's wiring, in small). */
const seen = new Set<string>();
const tokens: Record<string, string> = {};

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
  seen.clear();
  auth = openAuth({ dataDir: dir, security: config.security, onFailure: (ip) => seen.add(ip) });
  for (const [name, tenant, role] of [['admin', 'default', 'admin'], ['reader', 'default', 'reader'], ['writer', 'default', 'writer'], ['acme', 'acme', 'admin']] as const) {
    tokens[name] = auth.apiKeys.create({ name, tenant, role }).token;
  }
  alerting = createAlerting(system, { clock, predefinedRules: true, wasSeenClient: (ip) => seen.has(ip) });
  alerting.open();
  server = createServer({
    engine: system, config, authenticator: auth.authenticator, quotas: auth.quotaLookup,
    routes: alertRoutes(alerting), ipBlocklist: alerting.ipBlocklist,
  });
  const { port } = await server.listen();
  base = `http://127.0.0.1:${port}`;
});

afterEach(async () => {
  await server.close();
  await alerting.stop();
  auth.close();
  await system.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function api(method: string, path: string, who: string | undefined, body?: unknown): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = {};
  if (who !== undefined) headers.authorization = `Bearer ${tokens[who] ?? who}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text) };
}

const bruteForce = {
  rule_id: 'brute-force', name: 'Brute force', metric_pattern: 'security\\.auth\\.failures', threshold_value: 5,
  aggregation: 'count', window_seconds: 60, group_by: ['source_ip'], priority: 'CRITICAL',
  remediation: [{ type: 'block_ip', duration_seconds: 300 }],
};

describe('alerting behind the HTTP server', () => {
  it('manages rules over HTTP by role and tenant', async () => {
    expect((await api('GET', '/api/v1/alerts/rules', undefined)).status).toBe(401);
    expect((await api('POST', '/api/v1/alerts/rules', 'reader', bruteForce)).status).toBe(403);
    const bad = await api('POST', '/api/v1/alerts/rules', 'admin', { name: 'x', metric_pattern: 'a', threshold_value: 1, comparison: '=>' });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatch(/rule.comparison="=>" must be one of/);
    const command = await api('POST', '/api/v1/alerts/rules', 'admin', { ...bruteForce, remediation: [{ type: 'command', command: 'x' }] });
    expect(command.status).toBe(400);
    expect(command.body.error).toMatch(/^rule.remediation\[0\].type="command" is only accepted in rules of the configuration file/);
    expect((await api('POST', '/api/v1/alerts/rules', 'admin', bruteForce)).status).toBe(201);
    expect((await api('GET', '/api/v1/alerts/rules/brute-force', 'reader')).body).toMatchObject({ rule_id: 'brute-force' });
    // Another tenant: not found, and its own list holds none of default's rules (predefined included).
    expect((await api('GET', '/api/v1/alerts/rules/brute-force', 'acme')).status).toBe(404);
    expect((await api('DELETE', '/api/v1/alerts/rules/brute-force', 'acme')).status).toBe(404);
    expect((await api('GET', '/api/v1/alerts/rules', 'acme')).body).toEqual({ rules: [] });
    expect((await api('GET', '/api/v1/alerts/rules', 'admin')).body.rules).toHaveLength(5);
  });

  it('does not lock the operator out: points tagged source_ip=127.0.0.1 fire the predefined rule but block nothing', async () => {
    const points = Array.from({ length: 11 }, (_, i) => ({ metricId: 'security.auth.failures', value: 1, timestamp: T0 - 30_000 + i * 1000, tags: { source_ip: '127.0.0.1' } }));
    await system.collectMetrics(points);
    // A real failed authentication from this client too: the server saw 127.0.0.1.
    expect((await api('GET', '/api/v1/alerts', 'not-a-token')).status).toBe(401);
    expect(seen.has('127.0.0.1')).toBe(true);
    await alerting.evaluateOnce();
    await alerting.idle();
    expect(alerting.listAlerts('default', { state: 'firing' }).map((a) => [a.name, a.value])).toEqual([['Authentication Failures', 11]]);
    expect(alerting.remediationAudit('default')[0]).toMatchObject({ action: 'block_ip', target: '127.0.0.1', outcome: 'refused' });
    // Still served.
    const after = await api('GET', '/api/v1/alerts?state=firing', 'reader');
    expect(after.status).toBe(200);
    expect(after.body.alerts.map((a: { series: { tags: Record<string, string> } }) => a.series.tags.source_ip)).toEqual(['127.0.0.1']);
    expect((await api('GET', '/api/v1/alerts/blocked-ips', 'admin')).body).toEqual({ blocked_ips: [] });
  });

  it('blocks only addresses the server saw, lists the blocks to admins of the tenant and lifts them', async () => {
    seen.add('198.51.100.23'); // as if it had failed to authenticate
    expect((await api('POST', '/api/v1/alerts/rules', 'admin', bruteForce)).status).toBe(201);
    const points = ['198.51.100.23', '198.51.100.24'].flatMap((ip) => Array.from({ length: 6 }, (_, i) => ({ metricId: 'security.auth.failures', value: 1, timestamp: T0 - 30_000 + i * 1000, tags: { source_ip: ip } })));
    await system.collectMetrics(points);
    await alerting.evaluateOnce();
    await alerting.idle();
    const outcomes = Object.fromEntries(alerting.remediationAudit('default').filter((e) => e.rule_id === 'brute-force').map((e) => [e.target, e.outcome]));
    expect(outcomes).toEqual({ '198.51.100.23': 'ok', '198.51.100.24': 'refused' });
    expect(alerting.ipBlocklist.isBlocked('198.51.100.23')).toBe(true);

    expect((await api('GET', '/api/v1/alerts/blocked-ips', 'writer')).status).toBe(403);
    expect((await api('GET', '/api/v1/alerts/blocked-ips', 'acme')).body).toEqual({ blocked_ips: [] });
    const listed = await api('GET', '/api/v1/alerts/blocked-ips', 'admin');
    expect(listed.body.blocked_ips).toEqual([expect.objectContaining({ ip: '198.51.100.23', rule_id: 'brute-force', until: new Date(T0 + 300_000).toISOString() })]);
    expect((await api('DELETE', '/api/v1/alerts/blocked-ips/198.51.100.23', 'acme')).status).toBe(404);
    expect((await api('DELETE', '/api/v1/alerts/blocked-ips/198.51.100.23', 'admin')).status).toBe(204);
    expect(alerting.ipBlocklist.isBlocked('198.51.100.23')).toBe(false);
  });
});
