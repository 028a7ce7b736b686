import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { alertRoutes } from '../../src/alerts/alert_routes.js';
import { alertingMetrics } from '../../src/alerts/alerting_metrics.js';
import { HttpError, type HttpMethod, type HttpResponseSpec, type RouteDefinition } from '../../src/http/route.js';
import { cycleAt, harness, T0, type Harness } from './alerts_test_kit.js';

let h: Harness;
afterEach(async () => {
  await h?.cleanup();
});

/** Dispatches like the server: first route whose pattern matches, `:name` segments as params. */
async function call(routes: RouteDefinition[], method: HttpMethod, url: string, body?: unknown): Promise<HttpResponseSpec & { status: number }> {
  const u = new URL(url, 'http://x');
  const parts = u.pathname.split('/');
  for (const r of routes) {
    if (r.method !== method) continue;
    const pp = r.pattern.split('/');
    if (pp.length !== parts.length) continue;
    const params: Record<string, string> = {};
    if (!pp.every((seg, i) => (seg.startsWith(':') ? ((params[seg.slice(1)] = decodeURIComponent(parts[i]!)), true) : seg === parts[i]))) continue;
    try {
      const res = await r.handler({ method, path: u.pathname, params, query: u.searchParams, headers: {}, body, remoteAddress: '127.0.0.1' });
      return { ...res, status: res.status ?? 200 };
    } catch (err) {
      if (err instanceof HttpError) return { status: err.status, body: err.body };
      throw err;
    }
  }
  return { status: 404, body: { error: 'no route' } };
}

describe('alert routes', () => {
  it('serves the seed API end to end', async () => {
    h = harness();
    const routes = alertRoutes(h.alerting);

    const bad = await call(routes, 'POST', '/api/v1/alerts/rules', { name: 'x', metric_pattern: '(', threshold_value: 1 });
    expect(bad.status).toBe(400);
    expect((bad.body as { error: string }).error).toMatch(/rule.metric_pattern="\(" is not a valid regular expression/);

    const created = await call(routes, 'POST', '/api/v1/alerts/rules', { rule_id: 'cpu', name: 'CPU', metric_pattern: 'cpu', threshold_value: 90, priority: 'HIGH' });
    expect(created.status).toBe(201);
    expect((await call(routes, 'POST', '/api/v1/alerts/rules', { rule_id: 'cpu', name: 'CPU', metric_pattern: 'cpu', threshold_value: 90 })).status).toBe(409);
    const updated = await call(routes, 'PUT', '/api/v1/alerts/rules/cpu', { threshold_value: 80 });
    expect((updated.body as { threshold_value: number }).threshold_value).toBe(80);
    expect((await call(routes, 'PUT', '/api/v1/alerts/rules/nope', { threshold_value: 80 })).status).toBe(404);
    expect(((await call(routes, 'GET', '/api/v1/alerts/rules')).body as { rules: unknown[] }).rules).toHaveLength(1);

    h.system.add('cpu', { host: 'a' }, T0, 85);
    h.system.add('other', { host: 'a' }, T0, 85);
    await cycleAt(h, 0);
    const list = (await call(routes, 'GET', '/api/v1/alerts?state=firing&priority=high&rule=cpu')).body as { alerts: Array<Record<string, unknown>> };
    expect(list.alerts).toHaveLength(1);
    const alert = list.alerts[0]!;
    for (const field of ['alert_id', 'rule_id', 'name', 'state', 'priority', 'series', 'value', 'threshold', 'started_at', 'fired_at', 'resolved_at', 'acknowledged_by', 'acknowledged_at', 'escalation_level', 'annotations']) {
      expect(alert).toHaveProperty(field);
    }
    expect(alert).toMatchObject({ rule_id: 'cpu', state: 'firing', priority: 'HIGH', value: 85, threshold: 80, series: { metric_id: 'cpu', tags: { host: 'a' } } });
    expect(((await call(routes, 'GET', '/api/v1/alerts?state=pending')).body as { alerts: unknown[] }).alerts).toHaveLength(0);
    expect((await call(routes, 'GET', '/api/v1/alerts?state=bogus')).status).toBe(400);
    expect((await call(routes, 'GET', `/api/v1/alerts/${alert.alert_id as string}`)).body).toMatchObject({ alert_id: alert.alert_id });

    const ack = await call(routes, 'PUT', `/api/v1/alerts/${alert.alert_id as string}/acknowledge`, { acknowledged_by: 'ann', comment: 'on it' });
    expect(ack.body).toMatchObject({ acknowledged_by: 'ann', acknowledgement_comment: 'on it', acknowledged_at: new Date(T0).toISOString() });
    expect((await call(routes, 'PUT', '/api/v1/alerts/nope/acknowledge', { acknowledged_by: 'ann' })).status).toBe(404);

    const status = (await call(routes, 'GET', '/api/v1/alerts/status')).body as Record<string, any>;
    expect(status.by_state).toEqual({ pending: 0, firing: 1, resolved: 0 });
    expect(status.by_priority.HIGH).toBe(1);
    expect(status.acknowledged).toBe(1);
    expect(status.last_cycle.at).toBe(new Date(T0).toISOString());
    expect(typeof status.last_cycle.duration_ms).toBe('number');

    const sil = await call(routes, 'POST', '/api/v1/silences', { rule_id: 'cpu', duration_seconds: 60, created_by: 'ann' });
    expect(sil.status).toBe(201);
    expect((await call(routes, 'POST', '/api/v1/silences', { duration_seconds: 60 })).status).toBe(400);
    expect((await call(routes, 'POST', '/api/v1/silences', { rule_id: 'cpu', starts_at: T0, ends_at: T0 - 1 })).status).toBe(400);
    const silences = (await call(routes, 'GET', '/api/v1/silences')).body as { silences: Array<{ silence_id: string; state: string }> };
    expect(silences.silences.map((s) => s.state)).toEqual(['active']);
    const expired = await call(routes, 'DELETE', `/api/v1/silences/${silences.silences[0]!.silence_id}`);
    expect((expired.body as { state: string }).state).toBe('expired');
    expect((await call(routes, 'DELETE', '/api/v1/silences/nope')).status).toBe(404);

    const history = (await call(routes, 'GET', '/api/v1/alerts/history?rule=cpu')).body as { history: Array<{ event: string }> };
    expect(history.history.map((e) => e.event)).toEqual(expect.arrayContaining(['rule_created', 'rule_updated', 'firing', 'acknowledged', 'silence_created']));

    expect((await call(routes, 'DELETE', '/api/v1/alerts/rules/cpu')).status).toBe(204);
    const after = (await call(routes, 'GET', '/api/v1/alerts?state=resolved')).body as { alerts: Array<{ alert_id: string }> };
    expect(after.alerts.map((a) => a.alert_id)).toEqual([alert.alert_id]);
  });

  it('manages channels through the API and hides secrets', async () => {
    h = harness();
    const routes = alertRoutes(h.alerting);
    const created = await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/x', secret: 's3cret' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'hook', secret: '***' });
    const bad = await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'mail', type: 'email' });
    expect(bad.status).toBe(400);
    expect((bad.body as { error: string }).error).toMatch(/channels.mail.host=undefined must name the SMTP server/);
    expect((await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'x', type: 'pager' })).status).toBe(400);
    await call(routes, 'POST', '/api/v1/alerts/rules', { rule_id: 'r', name: 'r', metric_pattern: 'm', threshold_value: 1, channels: ['hook'] });
    expect((await call(routes, 'DELETE', '/api/v1/alerts/channels/hook')).status).toBe(409);
    await call(routes, 'DELETE', '/api/v1/alerts/rules/r');
    expect((await call(routes, 'DELETE', '/api/v1/alerts/channels/hook')).status).toBe(204);
    const channels = (await call(routes, 'GET', '/api/v1/alerts/channels')).body as { channels: Array<{ id: string }> };
    expect(channels.channels.map((c) => c.id)).toEqual(['ops', 'oncall']);
  });
});

describe('alerting metrics', () => {
  it('exposes cycle time, rules, alerts by state and notification failures in valid exposition format', async () => {
    h = harness();
    h.ops.failuresLeft = 10;
    h.alerting.addRule({ rule_id: 'cpu', name: 'CPU', metric_pattern: 'cpu', threshold_value: 90 });
    h.alerting.addRule({ rule_id: 'off', name: 'off', metric_pattern: 'x', threshold_value: 1, enabled: false });
    h.system.add('cpu', { host: 'a' }, T0, 95);
    await cycleAt(h, 0);
    const text = alertingMetrics(h.alerting);
    expect(text).toContain('emms_alerting_cycle_duration_seconds_count 1\n');
    expect(text).toContain('emms_alerting_rules{enabled="true"} 1\n');
    expect(text).toContain('emms_alerting_rules{enabled="false"} 1\n');
    expect(text).toContain('emms_alerts{state="firing"} 1\n');
    expect(text).toContain('emms_alerting_notification_failures_total{channel="ops",type="custom"} 1\n');
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(promtool.error).toBeUndefined();
    expect(promtool.stdout + promtool.stderr).toBe('');
    expect(promtool.status).toBe(0);
  });
});
