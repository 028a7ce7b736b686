import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { alertRoutes } from '../../src/alerts/alert_routes.js';
import { alertingMetrics } from '../../src/alerts/alerting_metrics.js';
import type { HttpMethod, Role, RouteDefinition } from '../../src/http/route.js';
import { callRoute, principal, type RouteAnswer } from './route_test_kit.js';
import { DEFAULT_QUOTAS } from '../../src/tenancy/quota.js';
import { parseSmtpServers } from '../../src/alerts/channels/smtp_servers.js';
import { cycleAt, harness, T0, type Harness } from './alerts_test_kit.js';

let h: Harness;
afterEach(async () => {
  await h?.cleanup();
});

interface Caller {
  tenant: string;
  role: Role;
}

const ADMIN: Caller = { tenant: 'default', role: 'admin' };

/** Dispatches like the server (tests/unit/route_test_kit.ts). */
function call(routes: RouteDefinition[], method: HttpMethod, url: string, body?: unknown, who: Caller = ADMIN): Promise<RouteAnswer> {
  return callRoute(routes, principal(who.role, who.tenant), method, url, body);
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

  it('manages channels through the API and redacts every secret', async () => {
    const smtpServers = parseSmtpServers({ relay: { host: 'smtp.example.org', username: 'alerts', password: 'hunter2' } });
    h = harness({ smtpServers });
    const routes = alertRoutes(h.alerting);
    const created = await call(routes, 'POST', '/api/v1/alerts/channels', {
      id: 'hook', type: 'webhook', url: 'https://user:pw@hooks.example.org/x?token=abc&team=pki', secret: 's3cret',
      headers: { Authorization: 'Bearer t0ken', 'X-Team': 'pki' },
    });
    expect(created.status).toBe(201);
    const redactedHook = {
      id: 'hook', type: 'webhook', url: 'https://[redacted]@hooks.example.org/x?token=[redacted]&team=[redacted]', secret: '[redacted]',
      headers: { authorization: '[redacted]', 'x-team': '[redacted]' },
    };
    expect(created.body).toEqual(redactedHook);
    const slack = await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'chat', type: 'slack', url: 'https://hooks.slack.com/services/T000/B000/XXXXSECRET' });
    expect(slack.body).toMatchObject({ url: 'https://hooks.slack.com/services/[redacted]' });
    const mail = await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'mail', type: 'email', smtp_server: 'relay', to: 'pki@example.org' });
    expect(mail.status).toBe(201);

    const listed = (await call(routes, 'GET', '/api/v1/alerts/channels')).body as { channels: Array<Record<string, unknown>> };
    expect(listed.channels.map((c) => c.id)).toEqual(['ops', 'oncall', 'hook', 'chat', 'mail']);
    const text = JSON.stringify(listed);
    for (const secret of ['s3cret', 't0ken', 'pw@', 'abc', 'XXXXSECRET', 'hunter2', 'B000']) expect(text).not.toContain(secret);
    expect((await call(routes, 'GET', '/api/v1/alerts/channels/hook')).body).toMatchObject(redactedHook);
    expect((await call(routes, 'GET', '/api/v1/alerts/channels/nope')).status).toBe(404);

    // The placeholder of a redacted answer is refused, never stored.
    const echoed = await call(routes, 'POST', '/api/v1/alerts/channels', redactedHook);
    expect(echoed.status).toBe(400);
    expect((echoed.body as { error: string }).error).toMatch(/channels.hook.url="https:\/\/\[redacted\]@hooks.example.org.*placeholder/);

    // Errors name the field without showing secrets.
    const badHeader = await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'h2', type: 'webhook', url: 'https://x.example/?k=secretvalue', headers: { 'X-Key': 5 } });
    expect(badHeader.status).toBe(400);
    expect((badHeader.body as { error: string }).error).toBe('channels.h2.headers.X-Key="(hidden)" must be a string without line breaks');
    const badUrl = await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'w', type: 'webhook', url: 'ftp://u:secretpw@x.example/' });
    expect((badUrl.body as { error: string }).error).toBe('channels.w.url="ftp://[redacted]@x.example/" must be an http(s) URL');

    // Email channels name a configured SMTP server; they never carry a host or credentials.
    const inline = await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'm2', type: 'email', host: 'evil.example', to: 'a@b.c' });
    expect(inline.status).toBe(400);
    expect((inline.body as { error: string }).error).toMatch(/channels.m2.host="evil.example" is not accepted: email channels name an SMTP server of the configuration file/);
    const unknown = await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'm3', type: 'email', smtp_server: 'other', to: 'a@b.c' });
    expect(unknown.status).toBe(400);
    expect((unknown.body as { error: string }).error).toBe('channels.m3.smtp_server="other" must name an SMTP server of the configuration file (known: relay)');
    const password = await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'm4', type: 'email', smtp_server: 'relay', to: 'a@b.c', password: 'pw1' });
    expect((password.body as { error: string }).error).toMatch(/^channels.m4.password="\(hidden\)" is not accepted/);
    expect((await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'x', type: 'pager' })).status).toBe(400);

    await call(routes, 'POST', '/api/v1/alerts/rules', { rule_id: 'r', name: 'r', metric_pattern: 'm', threshold_value: 1, channels: ['hook'] });
    expect((await call(routes, 'DELETE', '/api/v1/alerts/channels/hook')).status).toBe(409);
    await call(routes, 'DELETE', '/api/v1/alerts/rules/r');
    expect((await call(routes, 'DELETE', '/api/v1/alerts/channels/hook')).status).toBe(204);
    const channels = (await call(routes, 'GET', '/api/v1/alerts/channels')).body as { channels: Array<{ id: string }> };
    expect(channels.channels.map((c) => c.id)).toEqual(['ops', 'oncall', 'chat', 'mail']);
  });

  it('declares an access level on every route: reader views, writer acknowledges, admin configures', () => {
    h = harness();
    const table = Object.fromEntries(alertRoutes(h.alerting).map((r) => [`${r.method} ${r.pattern}`, r.access]));
    expect(table).toEqual({
      'GET /api/v1/alerts/status': 'reader',
      'GET /api/v1/alerts/history': 'reader',
      'GET /api/v1/alerts/rules': 'reader',
      'GET /api/v1/alerts/rules/:rule_id': 'reader',
      'POST /api/v1/alerts/rules': 'admin',
      'PUT /api/v1/alerts/rules/:rule_id': 'admin',
      'DELETE /api/v1/alerts/rules/:rule_id': 'admin',
      'GET /api/v1/alerts/channels': 'admin',
      'GET /api/v1/alerts/channels/:channel_id': 'admin',
      'POST /api/v1/alerts/channels': 'admin',
      'DELETE /api/v1/alerts/channels/:channel_id': 'admin',
      'GET /api/v1/alerts/remediations': 'admin',
      'GET /api/v1/alerts/blocked-ips': 'admin',
      'DELETE /api/v1/alerts/blocked-ips/:ip': 'admin',
      'GET /api/v1/alerts': 'reader',
      'GET /api/v1/alerts/:alert_id': 'reader',
      'PUT /api/v1/alerts/:alert_id/acknowledge': 'writer',
      'POST /api/v1/silences': 'admin',
      'GET /api/v1/silences': 'reader',
      'DELETE /api/v1/silences/:silence_id': 'admin',
    });
  });

  it("answers another tenant's rules, alerts, silences, channels and blocks as not found", async () => {
    h = harness();
    const routes = alertRoutes(h.alerting);
    const acme: Caller = { tenant: 'acme', role: 'admin' };
    const globex: Caller = { tenant: 'globex', role: 'admin' };
    expect((await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'hook', type: 'webhook', url: 'http://127.0.0.1:9/x' }, acme)).status).toBe(201);
    expect((await call(routes, 'POST', '/api/v1/alerts/rules', { rule_id: 'cpu', name: 'CPU', metric_pattern: 'cpu', threshold_value: 90, channels: ['hook'] }, acme)).status).toBe(201);
    // globex may use the same ids, and cannot name acme's channel.
    const foreign = await call(routes, 'POST', '/api/v1/alerts/rules', { rule_id: 'cpu', name: 'CPU', metric_pattern: 'cpu', threshold_value: 90, channels: ['hook'] }, globex);
    expect(foreign.status).toBe(400);
    expect((foreign.body as { error: string }).error).toMatch(/"hook" is not a configured notification channel \(known: none configured\)/);
    expect((await call(routes, 'POST', '/api/v1/alerts/rules', { rule_id: 'cpu', name: 'CPU', metric_pattern: 'cpu', threshold_value: 50 }, globex)).status).toBe(201);

    // Each tenant's rule reads its own metrics only.
    h.system.forTenant('acme').add('cpu', { host: 'a' }, T0, 95);
    h.system.forTenant('globex').add('cpu', { host: 'g' }, T0, 10);
    await cycleAt(h, 0);
    const acmeAlerts = (await call(routes, 'GET', '/api/v1/alerts', undefined, acme)).body as { alerts: Array<{ alert_id: string; series: unknown }> };
    expect(acmeAlerts.alerts.map((a) => a.series)).toEqual([{ metric_id: 'cpu', tags: { host: 'a' } }]);
    expect(((await call(routes, 'GET', '/api/v1/alerts', undefined, globex)).body as { alerts: unknown[] }).alerts).toEqual([]);
    expect(((await call(routes, 'GET', '/api/v1/alerts')).body as { alerts: unknown[] }).alerts).toEqual([]);
    const alertId = acmeAlerts.alerts[0]!.alert_id;
    const silence = (await call(routes, 'POST', '/api/v1/silences', { rule_id: 'cpu', duration_seconds: 60 }, acme)).body as { silence_id: string };

    for (const [method, url, body] of [
      ['GET', `/api/v1/alerts/${alertId}`, undefined],
      ['PUT', `/api/v1/alerts/${alertId}/acknowledge`, { acknowledged_by: 'x' }],
      ['GET', '/api/v1/alerts/rules/nope', undefined],
      ['PUT', '/api/v1/alerts/rules/nope', { threshold_value: 1 }],
      ['DELETE', '/api/v1/alerts/rules/nope', undefined],
      ['DELETE', `/api/v1/silences/${silence.silence_id}`, undefined],
      ['GET', '/api/v1/alerts/channels/hook', undefined],
      ['DELETE', '/api/v1/alerts/channels/hook', undefined],
    ] as const) {
      const res = await call(routes, method, url, body, globex);
      expect([method, url, res.status]).toEqual([method, url, 404]);
    }
    expect(((await call(routes, 'GET', '/api/v1/silences', undefined, globex)).body as { silences: unknown[] }).silences).toEqual([]);
    expect(((await call(routes, 'GET', '/api/v1/alerts/channels', undefined, globex)).body as { channels: unknown[] }).channels).toEqual([]);
    const status = (await call(routes, 'GET', '/api/v1/alerts/status', undefined, globex)).body as { by_state: Record<string, number>; rules: { total: number } };
    expect(status.by_state.firing).toBe(0);
    expect(status.rules.total).toBe(1);
    expect(((await call(routes, 'GET', '/api/v1/alerts/history', undefined, globex)).body as { history: Array<{ event: string }> }).history.map((e) => e.event)).toEqual(['rule_created']);

    // Roles: a reader views but cannot acknowledge; a writer acknowledges (as its credential by default).
    expect((await call(routes, 'PUT', `/api/v1/alerts/${alertId}/acknowledge`, {}, { tenant: 'acme', role: 'reader' })).status).toBe(403);
    const acked = await call(routes, 'PUT', `/api/v1/alerts/${alertId}/acknowledge`, {}, { tenant: 'acme', role: 'writer' });
    expect(acked.body).toMatchObject({ acknowledged_by: 'ak_writer_acme' });
    expect((await call(routes, 'POST', '/api/v1/alerts/rules', { name: 'x', metric_pattern: 'x', threshold_value: 1 }, { tenant: 'acme', role: 'writer' })).status).toBe(403);
  });

  it('enforces the rules, channels and silences quotas of each tenant', async () => {
    const small = { ...DEFAULT_QUOTAS, rules: 2, channels: 1, silences: 1 };
    h = harness({ quotas: (tenant) => (tenant === 'small' ? small : DEFAULT_QUOTAS) });
    const routes = alertRoutes(h.alerting);
    const who: Caller = { tenant: 'small', role: 'admin' };
    for (const id of ['a', 'b']) expect((await call(routes, 'POST', '/api/v1/alerts/rules', { rule_id: id, name: id, metric_pattern: id, threshold_value: 1 }, who)).status).toBe(201);
    const third = await call(routes, 'POST', '/api/v1/alerts/rules', { rule_id: 'c', name: 'c', metric_pattern: 'c', threshold_value: 1 }, who);
    expect(third.status).toBe(429);
    expect((third.body as { error: string }).error).toBe('tenant small: quota rules=2 reached: the tenant has 2 alert rules');
    expect((await call(routes, 'POST', '/api/v1/alerts/rules', { rule_id: 'c', name: 'c', metric_pattern: 'c', threshold_value: 1 })).status).toBe(201);

    expect((await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'one', type: 'webhook', url: 'http://127.0.0.1:9/' }, who)).status).toBe(201);
    // Replacing an existing channel is not a new one.
    expect((await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'one', type: 'webhook', url: 'http://127.0.0.1:9/v2' }, who)).status).toBe(201);
    const two = await call(routes, 'POST', '/api/v1/alerts/channels', { id: 'two', type: 'webhook', url: 'http://127.0.0.1:9/' }, who);
    expect(two.status).toBe(429);
    expect((two.body as { error: string }).error).toMatch(/quota channels=1 reached/);

    const s1 = (await call(routes, 'POST', '/api/v1/silences', { rule_id: 'a', duration_seconds: 60 }, who)).body as { silence_id: string };
    expect((await call(routes, 'POST', '/api/v1/silences', { rule_id: 'b', duration_seconds: 60 }, who)).status).toBe(429);
    // An expired silence no longer counts.
    await call(routes, 'DELETE', `/api/v1/silences/${s1.silence_id}`, undefined, who);
    expect((await call(routes, 'POST', '/api/v1/silences', { rule_id: 'b', duration_seconds: 60 }, who)).status).toBe(201);
  });

  it('lists and lifts blocked addresses of the caller\'s tenant', async () => {
    h = harness();
    const routes = alertRoutes(h.alerting);
    await call(routes, 'POST', '/api/v1/alerts/rules', {
      rule_id: 'auth', name: 'auth', metric_pattern: 'security\\.auth\\.failures', threshold_value: 2, aggregation: 'count', window_seconds: 60,
      group_by: ['source_ip'], remediation: [{ type: 'block_ip', duration_seconds: 600 }],
    });
    for (let i = 0; i < 3; i++) h.system.add('security.auth.failures', { source_ip: '2001:db8::7' }, T0 + i, 1);
    await cycleAt(h, 1);
    const listed = (await call(routes, 'GET', '/api/v1/alerts/blocked-ips')).body as { blocked_ips: Array<Record<string, unknown>> };
    expect(listed.blocked_ips).toEqual([{ ip: '2001:db8::7', until: new Date(T0 + 601_000).toISOString(), rule_id: 'auth', alert_id: expect.any(String), created_at: new Date(T0 + 1000).toISOString() }]);
    expect(((await call(routes, 'GET', '/api/v1/alerts/blocked-ips', undefined, { tenant: 'acme', role: 'admin' })).body as { blocked_ips: unknown[] }).blocked_ips).toEqual([]);
    expect((await call(routes, 'GET', '/api/v1/alerts/blocked-ips', undefined, { tenant: 'default', role: 'writer' })).status).toBe(403);
    expect((await call(routes, 'DELETE', `/api/v1/alerts/blocked-ips/${encodeURIComponent('2001:db8::7')}`, undefined, { tenant: 'acme', role: 'admin' })).status).toBe(404);
    expect((await call(routes, 'DELETE', '/api/v1/alerts/blocked-ips/not-an-ip')).status).toBe(400);
    expect((await call(routes, 'DELETE', `/api/v1/alerts/blocked-ips/${encodeURIComponent('2001:db8::7')}`)).status).toBe(204);
    expect(h.alerting.ipBlocklist.isBlocked('2001:db8::7', T0 + 2000)).toBe(false);
    expect((await call(routes, 'DELETE', `/api/v1/alerts/blocked-ips/${encodeURIComponent('2001:db8::7')}`)).status).toBe(404);
  });
});

describe('alerting metrics', () => {
  it('exposes cycle time, rules, alerts by state and notification failures in valid exposition format', async () => {
    h = harness();
    h.ops.failuresLeft = 10;
    h.alerting.addRule('default', { rule_id: 'cpu', name: 'CPU', metric_pattern: 'cpu', threshold_value: 90 });
    h.alerting.addRule('default', { rule_id: 'off', name: 'off', metric_pattern: 'x', threshold_value: 1, enabled: false });
    h.system.add('cpu', { host: 'a' }, T0, 95);
    await cycleAt(h, 0);
    const text = alertingMetrics(h.alerting);
    expect(text).toContain('emms_alerting_cycle_duration_seconds_count 1\n');
    expect(text).toContain('emms_alerting_rules{enabled="true"} 1\n');
    expect(text).toContain('emms_alerting_rules{enabled="false"} 1\n');
    expect(text).toContain('emms_alerts{state="firing"} 1\n');
    expect(text).toContain('emms_alerting_notification_failures_total{tenant="default",channel="ops",type="custom"} 1\n');
    // promtool (Debian's prometheus package) checks the exposition format where installed.
    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    if ((promtool.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return;
    expect(promtool.error).toBeUndefined();
    expect(promtool.stdout + promtool.stderr).toBe('');
    expect(promtool.status).toBe(0);
  });
});
