/**
 * The alerting over the real embedded engine (SQLite + WASM codec) in a temp directory:
 * threshold, windowed and anomaly rules (the analytics streaming detector, not a stand-in),
 * the alert database next to the metrics, and a restart of both.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createAlerting } from '../../src/alerts/create_alerting.js';
import type { Alerting } from '../../src/alerts/alerting.js';
import { createMetricsSystem } from '../../src/index.js';
import type { MetricsSystem } from '../../src/model/api.js';
import { FakeClock, RecordingChannel, T0 } from '../unit/alerts_test_kit.js';

let dir: string;
let system: MetricsSystem;
let alerting: Alerting;
let clock: FakeClock;
let ops: RecordingChannel;

function open(): Alerting {
  // The server records the clients it saw (auth failures); here one address is such a client.
  const a = createAlerting(system, { clock, predefinedRules: true, registeredChannels: [ops], dispatcher: { baseBackoffMs: 1 }, wasSeenClient: (ip) => ip === '203.0.113.77' });
  a.open();
  return a;
}

async function cycle(seconds: number): Promise<void> {
  clock.t = T0 + seconds * 1000;
  const r = await alerting.evaluateOnce();
  expect(r.error).toBeUndefined();
  await alerting.idle();
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-alerts-engine-'));
  system = createMetricsSystem({ path: join(dir, 'metrics.db'), queryWorkers: 0 });
  await system.start();
  clock = new FakeClock();
  ops = new RecordingChannel('ops');
  alerting = open();
});

afterEach(async () => {
  await alerting.stop();
  if (system.running) await system.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('alerting over the embedded engine', () => {
  it('keeps its state in alerts.db beside the metrics and survives a restart of both', async () => {
    expect(existsSync(join(dir, 'alerts.db'))).toBe(true);
    await system.collectMetrics([
      { metricId: 'system.memory.usage_percent', value: 91, timestamp: T0, tags: { host: 'db1' } },
      { metricId: 'system.memory.usage_percent', value: 40, timestamp: T0, tags: { host: 'db2' } },
    ]);
    await cycle(0);
    expect(alerting.listAlerts('default').map((a) => [a.name, a.state, a.series.tags.host])).toEqual([['Memory Exhaustion', 'pending', 'db1']]);
    for (let s = 15; s <= 300; s += 15) {
      await system.collectMetric({ metricId: 'system.memory.usage_percent', value: 92, timestamp: T0 + s * 1000, tags: { host: 'db1' } });
      await cycle(s);
    }
    const firing = alerting.listAlerts('default', { state: 'firing' });
    expect(firing.map((a) => [a.name, a.priority, a.value])).toEqual([['Memory Exhaustion', 'CRITICAL', 92]]);
    expect(ops.events('firing')).toHaveLength(1);

    await alerting.stop();
    await system.stop();
    await system.start();
    alerting = open();
    await system.collectMetric({ metricId: 'system.memory.usage_percent', value: 93, timestamp: T0 + 315_000, tags: { host: 'db1' } });
    await cycle(315);
    expect(alerting.listAlerts('default', { state: 'firing' }).map((a) => a.alert_id)).toEqual([firing[0]!.alert_id]);
    expect(ops.events('firing')).toHaveLength(1); // not announced again
    await system.collectMetric({ metricId: 'system.memory.usage_percent', value: 50, timestamp: T0 + 330_000, tags: { host: 'db1' } });
    await cycle(330);
    expect(ops.events('resolved').map((e) => e.alert.alert_id)).toEqual([firing[0]!.alert_id]);
  });

  it('counts authentication failures per source address over the window and blocks the address', async () => {
    const points = [];
    for (let i = 0; i < 11; i++) points.push({ metricId: 'security.auth.failures', value: 1, timestamp: T0 + i * 5000, tags: { source_ip: '203.0.113.77', endpoint: `/k${i % 2}` } });
    for (let i = 0; i < 4; i++) points.push({ metricId: 'security.auth.failures', value: 1, timestamp: T0 + i * 5000, tags: { source_ip: '203.0.113.78', endpoint: '/k0' } });
    await system.collectMetrics(points);
    await cycle(60);
    const firing = alerting.listAlerts('default', { state: 'firing' });
    expect(firing.map((a) => [a.name, a.value, a.series.tags])).toEqual([['Authentication Failures', 11, { source_ip: '203.0.113.77' }]]);
    expect(alerting.ipBlocklist.isBlocked('203.0.113.77', T0 + 61_000)).toBe(true);
    expect(alerting.ipBlocklist.isBlocked('203.0.113.78', T0 + 61_000)).toBe(false);
  });

  it("evaluates each tenant's rules on that tenant's series only; predefined rules are the default tenant's", async () => {
    expect(alerting.listRules('acme')).toEqual([]);
    alerting.addRule('acme', { rule_id: 'mem', name: 'Memory', metric_pattern: 'system.memory.*', pattern_mode: 'glob', threshold_value: 50 });
    await system.forTenant('acme').collectMetrics([{ metricId: 'system.memory.usage_percent', value: 60, timestamp: T0, tags: { host: 'a1' } }]);
    await system.collectMetrics([{ metricId: 'system.memory.usage_percent', value: 70, timestamp: T0, tags: { host: 'd1' } }]);
    await cycle(0);
    expect(alerting.listAlerts('acme').map((a) => [a.rule_id, a.state, a.series.tags.host, a.value])).toEqual([['mem', 'firing', 'a1', 60]]);
    // The default tenant's predefined rule sees only its own series (70 < 85: nothing).
    expect(alerting.listAlerts('default')).toEqual([]);
    expect(alerting.getAlert('default', alerting.listAlerts('acme')[0]!.alert_id)).toBeUndefined();
  });

  it('fires the key-access anomaly rule on a burst of a key counter with the analytics streaming detector', async () => {
    // Two hours of a cumulative access counter (as src/keys writes it) growing 18–22 per 15 s,
    // then 2,000 accesses within 10 s. Two hours, because the `auto` detector learns for its
    // first 288 points (src/analytics/novelty_ensemble.ts) before it may raise anything.
    const ts: number[] = [];
    const vs: number[] = [];
    let total = 5000;
    for (let s = -7200; s < 0; s += 15) {
      total += 18 + ((s / 15) % 5);
      ts.push(T0 + s * 1000);
      vs.push(total);
    }
    await system.collectSeries([{ metricId: 'crypto.key.access_count', metricType: 'counter', tags: { key_id: 'root-ca' }, timestamps: ts, values: vs }]);
    await cycle(0);
    expect(alerting.listAlerts('default')).toHaveLength(0);
    await system.collectMetric({ metricId: 'crypto.key.access_count', metricType: 'counter', value: total + 2000, timestamp: T0 + 10_000, tags: { key_id: 'root-ca' } });
    await cycle(15);
    const firing = alerting.listAlerts('default', { state: 'firing' });
    // Rate since the previous point (at -15 s): 2,000 in 25 s.
    expect(firing.map((a) => [a.name, a.value, a.series.tags.key_id])).toEqual([['Key Access Anomalies', 80, 'root-ca']]);
    expect(firing[0]!.anomaly_score).toBeGreaterThan(0.5);
    expect(alerting.enhancedSeries('default').map((s) => s.tags)).toEqual([{ key_id: 'root-ca' }]);
    expect(alerting.remediationAudit('default').map((e) => [e.action, e.outcome])).toEqual([['enhanced_monitoring', 'ok']]);
  });
});
