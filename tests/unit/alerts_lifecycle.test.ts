import { afterEach, describe, expect, it } from 'vitest';
import { cycleAt, harness, T0, type Harness } from './alerts_test_kit.js';

let h: Harness;
afterEach(async () => {
  await h?.cleanup();
});

const cpuRule = {
  rule_id: 'cpu',
  name: 'CPU hot',
  metric_pattern: 'system\\.cpu\\.usage_total',
  threshold_value: 90,
  comparison: '>',
  duration_seconds: 60,
  priority: 'HIGH',
  annotations: { summary: 'cpu {{value}} on {{tags.host}} > {{threshold}}' },
};

const at = (s: number): number => T0 + s * 1000;

describe('the in-memory metrics system of these tests', () => {
  it('isolates tenants as the engine does: a view sees only its own series', async () => {
    const { MemoryMetricsSystem } = await import('./alerts_memory_system.js');
    const system = new MemoryMetricsSystem('/nonexistent');
    const acme = system.forTenant('acme');
    expect([system.tenant, acme.tenant]).toEqual(['default', 'acme']);
    expect(system.forTenant('acme')).toBe(acme);
    expect(system.forTenant('default')).toBe(system);
    system.add('cpu', { host: 'd' }, T0, 1);
    acme.add('cpu', { host: 'a' }, T0, 2);
    expect((await system.latest('*')).map((p) => p.tags.host)).toEqual(['d']);
    expect((await acme.latest('cpu')).map((p) => p.tags.host)).toEqual(['a']);
    expect((await acme.forTenant('globex').queryMetrics({ metricPattern: '*' }))).toEqual([]);
  });
});

describe('alert lifecycle', () => {
  it('goes pending → firing after duration → resolved, announcing each once', async () => {
    h = harness();
    h.alerting.addRule('default', cpuRule);
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(0), 95);
    h.system.add('system.cpu.usage_total', { host: 'b' }, at(0), 50);
    await cycleAt(h, 5);
    let alerts = h.alerting.listAlerts('default');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.state).toBe('pending');
    expect(alerts[0]!.series).toEqual({ metric_id: 'system.cpu.usage_total', tags: { host: 'a' } });
    expect(h.ops.batches).toHaveLength(0);

    h.system.add('system.cpu.usage_total', { host: 'a' }, at(30), 96);
    await cycleAt(h, 35);
    expect(h.alerting.listAlerts('default')[0]!.state).toBe('pending');

    h.system.add('system.cpu.usage_total', { host: 'a' }, at(60), 97);
    await cycleAt(h, 65); // 65 s since the violating point at 0 ≥ 60 s
    alerts = h.alerting.listAlerts('default', { state: 'firing' });
    expect(alerts).toHaveLength(1);
    const fired = alerts[0]!;
    expect(fired.fired_at).toBe(new Date(at(65)).toISOString());
    expect(fired.started_at).toBe(new Date(at(0)).toISOString());
    expect(fired.value).toBe(97);
    expect(fired.annotations.summary).toBe('cpu 97 on a > 90');
    expect(h.ops.events('firing').map((e) => e.alert.alert_id)).toEqual([fired.alert_id]);

    await cycleAt(h, 80);
    expect(h.ops.events()).toHaveLength(1); // no repeat while firing

    h.system.add('system.cpu.usage_total', { host: 'a' }, at(90), 40);
    await cycleAt(h, 95);
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(0);
    const resolved = h.alerting.listAlerts('default', { state: 'resolved' });
    expect(resolved.map((a) => a.alert_id)).toEqual([fired.alert_id]);
    expect(resolved[0]!.resolved_at).toBe(new Date(at(95)).toISOString());
    expect(h.ops.events('resolved')).toHaveLength(1);

    const kinds = h.alerting.history('default', { alert_id: fired.alert_id }).map((e) => e.event).reverse();
    expect(kinds.filter((k) => k !== 'notified')).toEqual(['pending', 'firing', 'resolved']);
    expect(kinds.filter((k) => k === 'notified')).toHaveLength(2);
  });

  it('clears a pending alert whose condition ends before the duration, without notifying', async () => {
    h = harness();
    h.alerting.addRule('default', cpuRule);
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(0), 95);
    await cycleAt(h, 5);
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(20), 10);
    await cycleAt(h, 20);
    expect(h.alerting.listAlerts('default')).toHaveLength(0);
    expect(h.ops.batches).toHaveLength(0);
    expect(h.alerting.history('default', { rule_id: 'cpu' }).map((e) => e.event)).toContain('cleared');
  });

  it('notifies within interval + duration of the violating point (latency bound)', async () => {
    for (const offset of [0.5, 7, 14.9]) {
      h = harness();
      h.alerting.addRule('default', { ...cpuRule, duration_seconds: 30 });
      // Cycles every 15 s on the grid; the violating point lands `offset` s after a cycle.
      const violationS = 15 + offset;
      let notifiedAtS: number | null = null;
      let violated = false;
      for (let s = 0; s <= 120; s += 15) {
        if (!violated && s >= violationS) {
          h.system.add('system.cpu.usage_total', { host: 'a' }, at(violationS), 99);
          violated = true;
        } else if (violated) {
          h.system.add('system.cpu.usage_total', { host: 'a' }, at(s), 99);
        }
        await cycleAt(h, s);
        if (notifiedAtS === null && h.ops.events('firing').length > 0) notifiedAtS = s;
      }
      expect(notifiedAtS).not.toBeNull();
      expect(notifiedAtS! - violationS).toBeLessThanOrEqual(15 + 30 + 1);
      await h.cleanup();
    }
    h = harness();
  });

  it('damps flapping: a firing alert resolves only after the condition is false for resolve_after_seconds', async () => {
    h = harness();
    h.alerting.addRule('default', { ...cpuRule, duration_seconds: 0, resolve_after_seconds: 60 });
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(0), 95);
    await cycleAt(h, 0);
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(1);
    // Flap: false, true, false … each for less than 60 s.
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(15), 10);
    await cycleAt(h, 15);
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(30), 99);
    await cycleAt(h, 30);
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(45), 10);
    await cycleAt(h, 45);
    await cycleAt(h, 90);
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(1);
    expect(h.ops.events('resolved')).toHaveLength(0);
    await cycleAt(h, 105); // false since 45 s: 60 s elapsed
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(0);
    expect(h.ops.events('firing')).toHaveLength(1);
    expect(h.ops.events('resolved')).toHaveLength(1);
  });

  it('treats a stale series as no data and resolves', async () => {
    h = harness({ staleAfterSeconds: 60 });
    h.alerting.addRule('default', { ...cpuRule, duration_seconds: 0 });
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(0), 95);
    await cycleAt(h, 0);
    await cycleAt(h, 45);
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(1);
    await cycleAt(h, 75);
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(0);
  });

  it('silences suppress notifications but keep the alert visible; expiry announces it', async () => {
    h = harness();
    h.alerting.addRule('default', { ...cpuRule, duration_seconds: 0 });
    const silence = h.alerting.addSilence('default', { matchers: { rule_id: 'cpu', tags: { host: 'a' } }, duration_seconds: 3600, created_by: 'ann', comment: 'maintenance' });
    expect(silence.state).toBe('active');
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(0), 95);
    h.system.add('system.cpu.usage_total', { host: 'b' }, at(0), 95);
    await cycleAt(h, 0);
    const alerts = h.alerting.listAlerts('default', { state: 'firing' });
    expect(alerts).toHaveLength(2);
    expect(alerts.find((a) => a.series.tags.host === 'a')!.silenced).toBe(true);
    expect(h.ops.events('firing').map((e) => e.alert.series.tags.host)).toEqual(['b']);
    expect(h.alerting.status('default').silenced).toBe(1);

    h.clock.t = at(10);
    h.alerting.expireSilence('default', silence.silence_id as string);
    expect(h.alerting.listSilences('default')).toHaveLength(0);
    expect(h.alerting.listSilences('default', true)[0]!.state).toBe('expired');
    await cycleAt(h, 15);
    expect(h.ops.events('firing').map((e) => e.alert.series.tags.host)).toEqual(['b', 'a']);
  });

  it('escalates an unacknowledged alert to the next level with a higher priority; acknowledgement stops it', async () => {
    h = harness();
    h.alerting.addRule('default', {
      ...cpuRule,
      duration_seconds: 0,
      priority: 'MEDIUM',
      channels: ['ops'],
      escalation: [{ after_seconds: 120, channels: ['oncall'] }, { after_seconds: 600, channels: ['oncall'], priority: 'CRITICAL' }],
    });
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(0), 95);
    h.system.add('system.cpu.usage_total', { host: 'b' }, at(0), 95);
    await cycleAt(h, 0);
    const b = h.alerting.listAlerts('default').find((a) => a.series.tags.host === 'b')!;
    const acked = h.alerting.acknowledge('default', b.alert_id, 'bob', 'looking');
    expect(acked.acknowledged_by).toBe('bob');
    expect(acked.acknowledgement_comment).toBe('looking');
    for (let s = 15; s <= 120; s += 15) {
      h.system.add('system.cpu.usage_total', { host: 'a' }, at(s), 95);
      h.system.add('system.cpu.usage_total', { host: 'b' }, at(s), 95);
      await cycleAt(h, s);
    }
    expect(h.oncall.events('escalated')).toHaveLength(1);
    const esc = h.oncall.events('escalated')[0]!.alert;
    expect(esc.series.tags.host).toBe('a');
    expect(esc.escalation_level).toBe(1);
    expect(esc.priority).toBe('HIGH');
    expect(h.ops.events('escalated')).toHaveLength(1); // the rule's own channel hears it too
    const a = h.alerting.listAlerts('default').find((x) => x.series.tags.host === 'a')!;
    expect(a.priority).toBe('HIGH');
    expect(h.alerting.listAlerts('default').find((x) => x.series.tags.host === 'b')!.escalation_level).toBe(0);

    h.system.add('system.cpu.usage_total', { host: 'a' }, at(600), 95);
    h.system.add('system.cpu.usage_total', { host: 'b' }, at(600), 95);
    await cycleAt(h, 600);
    expect(h.alerting.listAlerts('default').find((x) => x.series.tags.host === 'a')!.priority).toBe('CRITICAL');
    expect(h.oncall.events('escalated')).toHaveLength(2);
    expect(h.alerting.listAlerts('default', { state: 'acknowledged' }).map((x) => x.alert_id)).toEqual([b.alert_id]);
  });

  it('refuses to acknowledge unknown and resolved alerts', async () => {
    h = harness();
    h.alerting.addRule('default', { ...cpuRule, duration_seconds: 0 });
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(0), 95);
    await cycleAt(h, 0);
    const id = h.alerting.listAlerts('default')[0]!.alert_id;
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(15), 5);
    await cycleAt(h, 15);
    expect(() => h.alerting.acknowledge('default', id, 'x')).toThrow(/resolved/);
    expect(() => h.alerting.acknowledge('default', 'nope', 'x')).toThrow(/not found/);
    expect(() => h.alerting.acknowledge('default', id, '')).toThrow(/acknowledged_by/);
  });

  it('survives a restart: a firing alert stays firing and is not announced again', async () => {
    h = harness();
    h.alerting.addRule('default', { ...cpuRule, duration_seconds: 0 });
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(0), 95);
    await cycleAt(h, 0);
    const before = h.alerting.listAlerts('default', { state: 'firing' });
    expect(before).toHaveLength(1);
    h.alerting.acknowledge('default', before[0]!.alert_id, 'ann');
    expect(h.ops.events('firing')).toHaveLength(1);

    const silence = h.alerting.addSilence('default', { tags: { host: 'z' }, duration_seconds: 600 });
    await h.reopen();
    expect(h.alerting.listRules('default').map((r) => r.rule_id)).toEqual(['cpu']);
    expect(h.alerting.listSilences('default').map((s) => s.silence_id)).toEqual([silence.silence_id]);
    expect(h.alerting.history('default', { alert_id: before[0]!.alert_id }).map((e) => e.event)).toContain('acknowledged');
    const after = h.alerting.listAlerts('default', { state: 'firing' });
    expect(after.map((a) => a.alert_id)).toEqual([before[0]!.alert_id]);
    expect(after[0]!.acknowledged_by).toBe('ann');
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(15), 96);
    await cycleAt(h, 15);
    expect(h.ops.events('firing')).toHaveLength(1);
    expect(h.alerting.listAlerts('default', { state: 'firing' })[0]!.alert_id).toBe(before[0]!.alert_id);

    h.system.add('system.cpu.usage_total', { host: 'a' }, at(30), 5);
    await cycleAt(h, 30);
    expect(h.ops.events('resolved').map((e) => e.alert.alert_id)).toEqual([before[0]!.alert_id]);
  });

  it('groups series by tag values and evaluates windowed aggregations', async () => {
    h = harness();
    h.alerting.addRule('default', {
      rule_id: 'auth', name: 'Auth failures', metric_pattern: 'security\\.auth\\.failures', threshold_value: 10, comparison: '>',
      aggregation: 'sum', window_seconds: 300, group_by: ['source_ip'],
    });
    // 6 failures from 10.0.0.5 on each of two hosts = 12 in the window; 3 from 10.0.0.6.
    for (let i = 0; i < 6; i++) {
      h.system.add('security.auth.failures', { host: 'h1', source_ip: '10.0.0.5' }, at(10 * i), 1);
      h.system.add('security.auth.failures', { host: 'h2', source_ip: '10.0.0.5' }, at(10 * i + 1), 1);
    }
    h.system.add('security.auth.failures', { host: 'h1', source_ip: '10.0.0.6' }, at(5), 3);
    h.system.add('security.auth.failures', { host: 'h1', source_ip: '10.0.0.5' }, at(-400), 50); // outside the window
    await cycleAt(h, 60);
    const alerts = h.alerting.listAlerts('default', { state: 'firing' });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.series).toEqual({ metric_id: 'security.auth.failures', tags: { source_ip: '10.0.0.5' } });
    expect(alerts[0]!.value).toBe(12);
    // The window slides past the failures: resolved.
    await cycleAt(h, 360);
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(0);
  });

  it('computes avg, min, max, count and rate over the trailing window', async () => {
    h = harness();
    const base = { metric_pattern: 'm\\..*', comparison: '>=', threshold_value: -1e9, window_seconds: 60, duration_seconds: 0 };
    for (const agg of ['avg', 'min', 'max', 'count', 'rate'] as const) h.alerting.addRule('default', { ...base, rule_id: agg, name: agg, aggregation: agg, tags: { k: 'v' } });
    const values = [10, 20, 5, 30, 8]; // counter-style for rate: increases 10, reset→5, 25, reset→8 = 48
    values.forEach((v, i) => h.system.add('m.x', { k: 'v' }, at(i * 10), v));
    h.system.add('m.x', { k: 'other' }, at(5), 1000);
    await cycleAt(h, 45);
    const byRule = Object.fromEntries(h.alerting.listAlerts('default').map((a) => [a.rule_id, a.value]));
    expect(byRule.avg).toBeCloseTo(73 / 5, 12);
    expect(byRule.min).toBe(5);
    expect(byRule.max).toBe(30);
    expect(byRule.count).toBe(5);
    expect(byRule.rate).toBeCloseTo(48 / 60, 12);
  });

  it('fires anomaly rules on the streaming detector and raises sensitivity under enhanced monitoring', async () => {
    const seen: Array<{ sensitivity: number | undefined }> = [];
    const enhanced: Array<{ metricId: string; untilMs: number }> = [];
    const { scriptedDetectorFactory } = await import('./alerts_test_kit.js');
    h = harness({
      detectorFactory: scriptedDetectorFactory(100, seen),
      hooks: { enhanceMonitoring: (s, until) => enhanced.push({ metricId: s.metricId, untilMs: until }) },
    });
    h.alerting.addRule('default', {
      rule_id: 'keys', name: 'Key access anomaly', metric_pattern: 'crypto\\.key\\.access_count', threshold_value: null,
      use_anomaly_detection: true, ml_sensitivity: 0.5, resolve_after_seconds: 30,
      remediation: [{ type: 'enhanced_monitoring', duration_seconds: 600 }],
    });
    // A spike in the warm-up history (older than one interval) is not news.
    h.system.add('crypto.key.access_count', { key_id: 'k1' }, at(-600), 500);
    for (let s = -590; s <= 0; s += 10) h.system.add('crypto.key.access_count', { key_id: 'k1' }, at(s), 10);
    await cycleAt(h, 0);
    expect(h.alerting.listAlerts('default')).toHaveLength(0);
    expect(seen).toEqual([{ sensitivity: 0.5 }]);

    h.system.add('crypto.key.access_count', { key_id: 'k1' }, at(5), 12);
    h.system.add('crypto.key.access_count', { key_id: 'k1' }, at(10), 400);
    h.system.add('crypto.key.access_count', { key_id: 'k1' }, at(14), 11);
    await cycleAt(h, 15);
    const alerts = h.alerting.listAlerts('default', { state: 'firing' });
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.value).toBe(400);
    expect(alerts[0]!.anomaly_score).toBeCloseTo(0.9, 12);
    expect(enhanced).toEqual([{ metricId: 'crypto.key.access_count', untilMs: at(15) + 600_000 }]);
    expect(h.alerting.enhancedSeries('default')).toEqual([{ metricId: 'crypto.key.access_count', tags: { key_id: 'k1' }, untilMs: at(15) + 600_000 }]);

    // Enhanced: the next cycle uses a detector at sensitivity 0.5 + 0.2.
    h.system.add('crypto.key.access_count', { key_id: 'k1' }, at(20), 10);
    await cycleAt(h, 30);
    expect(seen.map((s) => s.sensitivity)).toEqual([0.5, 0.7]);
    await cycleAt(h, 45);
    await cycleAt(h, 60);
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(0);
    const audit = h.alerting.remediationAudit('default');
    expect(audit.map((e) => [e.action, e.outcome])).toEqual([['enhanced_monitoring', 'ok']]);
  });

  it('judges counters on their rate between points, not on the growing total', async () => {
    const fed: number[] = [];
    h = harness({
      detectorFactory: () => ({ update: (_t: number, v: number) => { fed.push(v); return v > 100 ? { score: 0.8, isAnomaly: true } : { score: 0.1, isAnomaly: false }; }, count: 0 }),
    });
    h.alerting.addRule('default', { rule_id: 'k', name: 'k', metric_pattern: 'crypto\\.key\\.access_count', threshold_value: null, use_anomaly_detection: true });
    // Total grows 30 per 15 s (2/s), resets to 0 at 45 s, then jumps by 3000 in 15 s (200/s).
    const totals = [[0, 1000], [15, 1030], [30, 1060], [45, 30], [60, 3030]] as const;
    for (const [sec, total] of totals.slice(0, 4)) h.system.add('crypto.key.access_count', { key_id: 'k1' }, at(sec), total, 'counter');
    await cycleAt(h, 45);
    expect(fed).toEqual([2, 2, 2]);
    expect(h.alerting.listAlerts('default')).toHaveLength(0);
    h.system.add('crypto.key.access_count', { key_id: 'k1' }, at(60), 3030, 'counter');
    await cycleAt(h, 60);
    expect(fed).toEqual([2, 2, 2, 200]);
    expect(h.alerting.listAlerts('default', { state: 'firing' }).map((a) => a.value)).toEqual([200]);
  });

  it('resolves the alerts of a disabled or deleted rule, and re-evaluates an updated one', async () => {
    h = harness();
    h.alerting.addRule('default', { ...cpuRule, duration_seconds: 0 });
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(0), 95);
    await cycleAt(h, 0);
    h.alerting.updateRule('default', 'cpu', { enabled: false });
    await h.alerting.idle();
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(0);
    expect(h.ops.events('resolved')).toHaveLength(1);
    await cycleAt(h, 15);
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(0);
    h.alerting.updateRule('default', 'cpu', { enabled: true, threshold_value: 99 });
    await cycleAt(h, 30);
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(0);
    h.alerting.updateRule('default', 'cpu', { threshold_value: 50 });
    await cycleAt(h, 45);
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(1);
    h.alerting.deleteRule('default', 'cpu');
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(0);
    expect(h.alerting.listRules('default')).toHaveLength(0);
    expect(() => h.alerting.deleteRule('default', 'cpu')).toThrow(/not found/);
  });

  it('keeps evaluating when a channel fails; failures are retried, counted and in the history', async () => {
    h = harness();
    h.ops.failuresLeft = 100;
    h.alerting.addRule('default', { ...cpuRule, duration_seconds: 0, channels: ['ops', 'oncall'] });
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(0), 95);
    await cycleAt(h, 0);
    expect(h.oncall.events('firing')).toHaveLength(1);
    const status = h.alerting.status('default');
    expect(status.notification_failures).toBe(1);
    const ops = status.channels.find((c) => c.channel_id === 'ops')!;
    expect(ops.failed_batches).toBe(1);
    expect(ops.retries).toBe(2); // maxAttempts 3
    expect(h.alerting.history('default', { rule_id: 'cpu' }).some((e) => e.event === 'notification_failed')).toBe(true);
    h.system.add('system.cpu.usage_total', { host: 'b' }, at(15), 95);
    await cycleAt(h, 15);
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(2);
  });

  it('retries a channel that fails a few times and delivers once', async () => {
    h = harness();
    h.ops.failuresLeft = 2;
    h.alerting.addRule('default', { ...cpuRule, duration_seconds: 0 });
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(0), 95);
    await cycleAt(h, 0);
    expect(h.ops.events('firing')).toHaveLength(1);
    expect(h.alerting.status('default').notification_failures).toBe(0);
  });

  it('leaves alert states untouched when the metrics cannot be read', async () => {
    h = harness();
    h.alerting.addRule('default', { ...cpuRule, duration_seconds: 0 });
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(0), 95);
    await cycleAt(h, 0);
    const latest = h.system.latest.bind(h.system);
    h.system.latest = async () => { throw new Error('database is locked'); };
    h.clock.t = at(400); // the point would be stale by now
    const r = await h.alerting.evaluateOnce();
    expect(r.error).toBe('database is locked');
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(1);
    expect(h.alerting.status('default').last_cycle.error).toBe('database is locked');
    h.system.latest = latest;
    await cycleAt(h, 400);
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(0);
  });

  it('keeps evaluating the other rules when one rule fails', async () => {
    h = harness({ detectorFactory: () => { throw new RangeError('options.method is not supported'); } });
    h.alerting.addRule('default', { rule_id: 'anomaly', name: 'a', metric_pattern: 'system\\.cpu\\..*', threshold_value: null, use_anomaly_detection: true });
    h.alerting.addRule('default', { ...cpuRule, duration_seconds: 0 });
    h.system.add('system.cpu.usage_total', { host: 'a' }, at(0), 95);
    h.clock.t = at(0);
    const r = await h.alerting.evaluateOnce();
    expect(r.ruleErrors).toBe(1);
    expect(r.error).toBe('rule anomaly: options.method is not supported');
    expect(h.alerting.listAlerts('default', { state: 'firing' }).map((a) => a.rule_id)).toEqual(['cpu']);
  });

  it('groups the events of one cycle into one batch per channel', async () => {
    h = harness();
    h.alerting.addRule('default', { ...cpuRule, duration_seconds: 0 });
    for (let i = 0; i < 50; i++) h.system.add('system.cpu.usage_total', { host: `h${i}` }, at(0), 95);
    await cycleAt(h, 0);
    expect(h.ops.batches).toHaveLength(1);
    expect(h.ops.batches[0]!.events).toHaveLength(50);
  });

  it('splits a storm of more than 500 alerts into messages of at most 500', async () => {
    h = harness();
    h.alerting.addRule('default', { ...cpuRule, duration_seconds: 0 });
    for (let i = 0; i < 1201; i++) h.system.add('system.cpu.usage_total', { host: `h${i}` }, at(0), 95);
    await cycleAt(h, 0);
    expect(h.ops.batches.map((b) => b.events.length)).toEqual([500, 500, 201]);
  });
});
