/**
 * A real `emms serve` process (tests/integration/server_harness.ts) with a main.json: JSON log
 * lines with request events, /health/live and /health/ready, and SIGHUP applying a changed file
 * (log level, alerting rules, default quotas) or refusing an invalid one with everything kept.
 * Every wait is on a condition (the log line, the API answer), never a fixed sleep.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type ServerProcess } from './server_harness.js';

const rule = (id: string, threshold: number) => ({ rule_id: id, name: id, metric_pattern: 'cpu', threshold_value: threshold, comparison: '>', duration_seconds: 0, priority: 'HIGH' });

const tmp = tempDir('emms-reload-');
const configPath = join(tmp.dir, 'main.json');
let server: ServerProcess;

function writeConfig(body: unknown): void {
  writeFileSync(configPath, JSON.stringify(body));
}

/** Parsed JSON log lines so far. */
function events(): Array<Record<string, unknown>> {
  return server.stderr().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function ruleIds(): Promise<string[]> {
  const r = await fetch(`${server.base}/api/v1/alerts/rules`, { headers: server.auth });
  return ((await r.json()) as { rules: Array<{ rule_id: string }> }).rules.map((x) => x.rule_id).filter((id) => !id.startsWith('predefined')).sort();
}

async function quotaOf(tenant: string, key: string): Promise<number> {
  const r = await fetch(`${server.base}/api/v1/tenants/${tenant}`, { headers: server.auth });
  return ((await r.json()) as { quotas: Record<string, number> }).quotas[key]!;
}

beforeAll(async () => {
  writeConfig({ monitoring: { log_level: 'info' }, alerting: { predefined_rules: false, rules: [rule('a', 90), rule('b', 90)] }, security: { quotas: { rules: 100 } } });
  // LOG_LEVEL empty: the file decides the level (the harness defaults it to warn).
  server = await startServer(['--data', join(tmp.dir, 'data'), '--config', configPath], { LOG_LEVEL: '' });
  const put = await fetch(`${server.base}/api/v1/tenants/pay`, { method: 'PUT', headers: { ...server.auth, 'content-type': 'application/json' }, body: '{}' });
  expect(put.status).toBeLessThan(300);
}, 30_000);

afterAll(async () => {
  server?.proc.kill('SIGTERM');
  await server?.exited;
  tmp.remove();
});

describe('logs and probes of a real server', () => {
  it('writes JSON lines; each request is one event with its id, route, status, latency and tenant; no token', async () => {
    const res = await fetch(`${server.base}/api/v1/alerts/rules`, { headers: { ...server.auth, 'x-request-id': 'it-req-1' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('it-req-1');
    await expect.poll(() => events().filter((e) => e.request_id === 'it-req-1')).toEqual([
      expect.objectContaining({ level: 'info', route: '/api/v1/alerts/rules', status: 200, tenant: 'default', method: 'GET' }),
    ]);
    const token = server.auth.authorization!.slice('Bearer '.length);
    expect(server.stderr()).not.toContain(token);
    expect(events().length).toBeGreaterThan(2);
  });

  it('answers /health/live and /health/ready without credentials', async () => {
    const live = await fetch(`${server.base}/health/live`);
    expect([live.status, await live.json()]).toEqual([200, { status: 'alive' }]);
    const ready = await fetch(`${server.base}/health/ready`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready' }]);
  });
});

describe('SIGHUP', () => {
  it('applies a changed file: log level, rules, quotas; logs each change and the restart-only keys', async () => {
    expect(await ruleIds()).toEqual(['a', 'b']);
    writeConfig({
      monitoring: { log_level: 'warn' }, query: { max_series: 5 },
      alerting: { predefined_rules: false, rules: [rule('a', 80), rule('c', 90)] }, security: { quotas: { rules: 7 } },
    });
    server.proc.kill('SIGHUP');
    await expect.poll(() => events().map((e) => e.msg), { timeout: 10_000 }).toEqual(expect.arrayContaining([
      'SIGHUP: alerting.rules: added [c], changed [a], removed [b]',
      'SIGHUP: security.quotas.rules: 100 → 7',
      'SIGHUP: monitoring.log_level: info → warn',
      'SIGHUP: query.max_series changed; it takes effect at restart',
    ]));
    expect(await ruleIds()).toEqual(['a', 'c']);
    expect(await quotaOf('pay', 'rules')).toBe(7);
    // At warn, the requests' info events are no longer written.
    await fetch(`${server.base}/health/live`, { headers: { 'x-request-id': 'at-warn' } });
    await fetch(`${server.base}/api/v1/nothing-here`, { headers: { ...server.auth, 'x-request-id': 'at-warn-404' } });
    const marker = await fetch(`${server.base}/api/v1/alerts/rules`, { headers: { ...server.auth, 'x-request-id': 'at-warn-2' } });
    expect(marker.status).toBe(200);
    expect(events().filter((e) => typeof e.request_id === 'string' && (e.request_id as string).startsWith('at-warn'))).toEqual([]);
  });

  it('refuses an invalid file and keeps every running setting', async () => {
    writeConfig({ monitoring: { log_level: 'info' }, alerting: { predefined_rules: false, rules: [rule('z', 1), { rule_id: 'broken' }] }, security: { quotas: { rules: 1 } } });
    server.proc.kill('SIGHUP');
    await expect.poll(() => events().filter((e) => typeof e.msg === 'string' && (e.msg as string).startsWith('SIGHUP: configuration refused')), { timeout: 10_000 })
      .toEqual([expect.objectContaining({ level: 'error', msg: expect.stringContaining('alerting.rules[1]') })]);
    expect(await ruleIds()).toEqual(['a', 'c']);
    expect(await quotaOf('pay', 'rules')).toBe(7);
    writeFileSync(configPath, '{ "monitoring": ');
    server.proc.kill('SIGHUP');
    await expect.poll(() => events().filter((e) => typeof e.msg === 'string' && (e.msg as string).startsWith('SIGHUP: configuration refused')).length, { timeout: 10_000 }).toBe(2);
    expect(await ruleIds()).toEqual(['a', 'c']);
    // Still at warn: a refused file did not apply its level either.
    await fetch(`${server.base}/api/v1/alerts/rules`, { headers: { ...server.auth, 'x-request-id': 'still-warn' } });
    expect(events().filter((e) => e.request_id === 'still-warn')).toEqual([]);
  });
});
