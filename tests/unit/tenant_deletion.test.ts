/**
 * Tenant deletion in-process (src/app/tenant_deletion.ts over the app as `emms serve` composes
 * it): every feature's state of the tenant is gone, through the features' own reads, and the
 * other tenant's is untouched. The real-process run with the file scan is
 * tests/integration/erasure_server.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmmsApp, type EmmsApp } from '../../src/app/emms_app.js';
import { loadConfig } from '../../src/config/config.js';
import { runEraseCommand } from '../../src/cli/erase_command.js';
import { callRoute, principal } from './route_test_kit.js';

let dir: string;
let app: EmmsApp;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-tenant-del-'));
  const config = loadConfig({ env: {}, flags: { port: '0', data: dir } });
  config.collector.decodeThreads = 0;
  config.logLevel = 'silent';
  app = await startEmmsApp(config, () => undefined);
}, 60_000);

afterAll(async () => {
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function populate(tenant: string): Promise<void> {
  await app.engine.forTenant(tenant).collectMetrics([{ metricId: 'td.load', value: 5, timestamp: Date.now() - 1000, tags: { host: `${tenant}-h` } }]);
  app.alerting.addRule(tenant, { rule_id: 'td-rule', name: 'td', metric_pattern: 'td\\.load', threshold_value: 0, comparison: '>', priority: 'LOW' });
  await app.alerting.evaluateOnce();
  app.authFailures.record('203.0.113.9');
  app.alerting.ipBlocklist.block('203.0.113.9', Date.now() + 3_600_000, { tenant, rule_id: 'td-rule', alert_id: null });
  app.keys.forTenant(tenant).registerKey({ key_id: `${tenant}-key`, key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'o', backend: 'kms' });
  app.probes.addTarget(tenant, { target_id: 'db', target_type: 'tcp', endpoint: 'db.example.com', port: 5432, interval: 60 });
  app.auth.apiKeys.create({ name: `${tenant}-writer`, tenant, role: 'writer' });
}

describe('DELETE /api/v1/tenants/:tenant', () => {
  it('removes every feature\'s state of the tenant and leaves the others alone', async () => {
    await populate('acme');
    await populate('globex');
    expect(app.alerting.listAlerts('acme').length).toBeGreaterThan(0);
    const routes = [...app.server.routes];
    const operator = principal('operator', 'default');
    expect((await callRoute(routes, principal('admin', 'acme'), 'DELETE', '/api/v1/tenants/acme')).status).toBe(403);
    const answer = await callRoute(routes, operator, 'DELETE', '/api/v1/tenants/acme');
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ tenant: 'acme', api_keys_deleted: 1, keys_deleted: 1, alert_rules_deleted: 1, probe_targets_deleted: 1 });
    // td.load, and the key's gauges when the key evaluation ran meanwhile.
    expect(answer.body.series_deleted).toBeGreaterThanOrEqual(1);
    expect(answer.body.points_deleted).toBeGreaterThanOrEqual(answer.body.series_deleted);
    expect(answer.body.alerting_rows_deleted).toBeGreaterThan(0);
    expect(await app.engine.forTenant('acme').listSeries('*')).toEqual([]);
    expect(app.alerting.listRules('acme')).toEqual([]);
    expect(app.alerting.history('acme')).toEqual([]);
    expect(app.alerting.listBlockedIps('acme')).toEqual([]);
    expect(app.keys.forTenant('acme').listKeys()).toEqual([]);
    expect(app.probes.listTargets('acme')).toEqual([]);
    expect(app.auth.apiKeys.list({ tenant: 'acme' })).toEqual([]);
    expect(app.auth.tenants.get('acme')).toBeUndefined();

    expect(await app.engine.forTenant('globex').listSeries('*')).toHaveLength(1);
    expect(app.alerting.listRules('globex')).toHaveLength(1);
    expect(app.alerting.history('globex').length).toBeGreaterThan(0);
    expect(app.keys.forTenant('globex').listKeys()).toHaveLength(1);
    expect(app.probes.listTargets('globex')).toHaveLength(1);
    expect(app.auth.apiKeys.list({ tenant: 'globex' })).toHaveLength(1);

    expect((await callRoute(routes, operator, 'DELETE', '/api/v1/tenants/acme')).status).toBe(404);
    expect((await callRoute(routes, operator, 'DELETE', '/api/v1/tenants/default')).status).toBe(400);
    expect((await callRoute(routes, operator, 'DELETE', '/api/v1/tenants/Bad%20Name')).status).toBe(400);
  }, 60_000);
});

describe('emms erase --url', () => {
  it('sends the preview, the deletion and the subject erasure to a running server', async () => {
    await app.engine.forTenant('initech').collectMetrics([
      { metricId: 'cli.url', value: 1, timestamp: Date.now() - 5000, tags: { who: 'ivy-url-subject' } },
      { metricId: 'cli.url', value: 2, timestamp: Date.now() - 5000, tags: { who: 'jack' } },
    ]);
    const tokenFile = app.adminTokenPath!;
    const base = `http://127.0.0.1:${app.server.port}`;
    const out: string[] = [];
    const io = { stdout: (t: string) => out.push(t), stderr: () => undefined, progress: { update: () => undefined, end: () => undefined } as never };
    const common = ['--url', base, '--token-file', tokenFile, '--tenant', 'initech'];
    expect(await runEraseCommand([...common, '--match', 'cli.*', '--tag', 'who=jack', '--dry-run'], io)).toBe(0);
    expect(JSON.parse(out.pop()!)).toMatchObject({ points: 1 });
    expect(await runEraseCommand([...common, '--match', 'cli.*', '--tag', 'who=jack'], io)).toBe(0);
    expect(JSON.parse(out.pop()!)).toMatchObject({ points_deleted: 1, series_removed: 1 });
    expect(await runEraseCommand([...common, '--subject', 'who=ivy-url-subject'], io)).toBe(0);
    expect(JSON.parse(out.pop()!)).toMatchObject({ series_removed: 1 });
    expect(await app.engine.forTenant('initech').listSeries('*')).toEqual([]);
    expect(await runEraseCommand([...common, '--match', 'a', '--start', 'yesterday'], io)).toBe(1);
  });
});

