/**
 * The web dashboard end to end, in Debian's chromium driven by playwright-core (its own browser
 * download cannot work here): a real `emms serve` with the dashboard built from web/, fed with
 * known series, keys, a firing alert and a second tenant, then signed in to through the page.
 *
 * Checked: each dashboard draws the numbers the test fed (chart data read from the page and
 * compared with the fed values or the query API), a point acknowledged by the server reaches a
 * live chart within 1 s, acknowledge / silence / un-silence / the rule editor act through the
 * API, a reader sees no admin actions, another tenant's data never appears, the session
 * cookie is HttpOnly + SameSite=Strict and needs the CSRF header for state changes, sign-out
 * ends it, and no page logs a console error. Screenshots of every view go to
 * test-output/screenshots/ (README's copies: docs/screenshots/).
 *
 * Needs the `chromium` apt package (EMMS_CHROMIUM overrides /usr/bin/chromium).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, startServer, tempDir, type ServerProcess } from '../integration/server_harness.js';

const CHROMIUM = process.env.EMMS_CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = join(REPO_ROOT, 'test-output', 'screenshots');
const FED_IP = '203.0.113.7';
const OTHER_IP = '198.51.100.99';

let server: ServerProcess;
let removeDir: () => void;
let context: BrowserContext;
let page: Page;
let profileDir: string;
const consoleErrors: string[] = [];
const tokens: Record<'operator' | 'reader' | 'otherAdmin', string> = { operator: '', reader: '', otherAdmin: '' };
/** The fed points' timestamps (one per 10 minutes of the last hour). */
const fedTimes: number[] = [];

async function api(method: string, path: string, body?: unknown, token = tokens.operator, extra: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...extra };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const r = await fetch(`${server.base}${path}`, { method, headers, body: body === undefined ? null : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text === '' ? undefined : (r.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

type Lines = Record<string, Array<{ label: string; t: number[]; v: number[] }>>;
const charts = (): Promise<Lines> => page.evaluate(() => (window as any).__emms.charts());

async function view(name: string, ready: string): Promise<void> {
  await page.evaluate((h) => {
    location.hash = h;
  }, `#/${name}`);
  await page.waitForSelector(`[data-view="${name}"]`);
  await page.waitForSelector(ready);
}

async function panelsLoaded(): Promise<void> {
  await page.waitForFunction(() => Array.from(document.querySelectorAll('[data-panel]')).every((p) => (p as HTMLElement).dataset.loaded !== undefined));
}

async function shot(name: string): Promise<void> {
  // From the top, so the sticky header sits where it belongs in a full-page image.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function signIn(token: string): Promise<void> {
  await page.goto(`${server.base}/`);
  await page.fill('input[name=token]', token);
  await page.click('form.signin button[type=submit]');
  await page.waitForSelector('[data-view]');
}

async function signOut(): Promise<void> {
  await page.click('[data-testid=sign-out]');
  await page.waitForSelector('form.signin');
}

beforeAll(async () => {
  // The page is served from dist/web/: build it from the sources under test.
  execFileSync(process.execPath, [join(REPO_ROOT, 'web', 'build.mjs')], { cwd: REPO_ROOT, stdio: 'pipe' });
  mkdirSync(SHOTS, { recursive: true });
  const { dir, remove } = tempDir('emms-dash-');
  removeDir = remove;
  const config = join(dir, 'main.json');
  writeFileSync(config, JSON.stringify({ alerting: { interval_seconds: 1 }, key_policies: { check_interval_seconds: 1 }, collector: { system_interval: 1, api_stats_interval: 1 }, security: { limits: { auth_failures_per_minute: 1000 } } }));
  [server] = await Promise.all([
    startServer(['--data', dir, '--config', config]),
    (async () => {
      profileDir = mkdtempSync(join(tmpdir(), 'emms-chromium-'));
      context = await chromium.launchPersistentContext(profileDir, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1280, height: 720 },
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      });
    })(),
  ]);
  tokens.operator = server.auth.authorization!.slice('Bearer '.length);
  tokens.reader = (await api('POST', '/api/v1/auth/keys', { name: 'e2e reader', role: 'reader' })).body.token;
  tokens.otherAdmin = (await api('POST', '/api/v1/auth/keys', { name: 'e2e other', role: 'admin', tenant: 'other' })).body.token;
  expect(tokens.reader).toMatch(/^emms_/);
  expect(tokens.otherAdmin).toMatch(/^emms_/);

  const now = Date.now();
  const base = Math.floor(now / 60_000) * 60_000 - 50 * 60_000;
  for (let i = 0; i < 5; i++) fedTimes.push(base + i * 10 * 60_000);
  const metrics = fedTimes.flatMap((t, i) => [
    { metric_id: 'security.auth.failures', value: (i + 1) * 10, timestamp: t, tags: { source_ip: FED_IP } },
    { metric_id: 'application.api.response_time', value: i * 10 + 5, timestamp: t, tags: { route: '/0-e2e' } },
  ]);
  expect((await api('POST', '/api/v1/metrics', { metrics })).status).toBe(200);
  // An hour at one point per 30 s, with a spike: history for the explorer's overlays.
  const load = Array.from({ length: 120 }, (_, i) => ({ metric_id: 'e2e.load', value: i === 100 ? 400 : 50 + 10 * Math.sin(i / 8), timestamp: now - (120 - i) * 30_000 }));
  expect((await api('POST', '/api/v1/metrics', { metrics: load })).status).toBe(200);
  const other = await api('POST', '/api/v1/metrics', { metrics: [{ metric_id: 'security.auth.failures', value: 77, timestamp: now - 60_000, tags: { source_ip: OTHER_IP } }] }, tokens.otherAdmin);
  expect(other.status).toBe(200);

  const keys = await api('POST', '/api/v1/keys', { keys: [
    { key_id: 'e2e-aes', key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'payments', backend: 'kms', expires_at: new Date(now + 5 * 86_400_000).toISOString() },
    { key_id: 'e2e-rsa1024', key_type: 'signing', algorithm: 'RSA-1024', owner: 'legacy', backend: 'software' },
  ] });
  expect(keys.status, JSON.stringify(keys.body)).toBe(201);
  const events = await api('POST', '/api/v1/keys/events', { events: [1, 2, 3].map((i) => ({ key_id: 'e2e-aes', event_type: 'encrypt', timestamp: now - i * 60_000 })) });
  expect(events.status, JSON.stringify(events.body)).toBe(200);

  const rule = await api('POST', '/api/v1/alerts/rules', { rule_id: 'e2e-rule', name: 'E2E threshold', metric_pattern: 'e2e.alert.value', pattern_mode: 'glob', threshold_value: 5, comparison: '>', duration_seconds: 0, priority: 'HIGH' });
  expect(rule.status, JSON.stringify(rule.body)).toBe(201);
  expect((await api('POST', '/api/v1/metrics', { metrics: [{ metric_id: 'e2e.alert.value', value: 10, timestamp: Date.now() }] })).status).toBe(200);
  await until('the e2e alert to fire', async () => {
    const r = await api('GET', '/api/v1/alerts?state=active');
    return r.body.alerts.some((a: any) => a.rule_id === 'e2e-rule' && a.state === 'firing') ? true : undefined;
  });

  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(`${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => consoleErrors.push(e.message));
}, 90_000);

afterAll(async () => {
  await context?.close();
  if (profileDir !== undefined) rmSync(profileDir, { recursive: true, force: true });
  server?.proc.kill('SIGTERM');
  await server?.exited;
  removeDir?.();
});

describe('web dashboard in chromium', () => {
  it('serves the page with a strict CSP and hashed assets cached as immutable', async () => {
    const r = await fetch(`${server.base}/`);
    expect(r.status).toBe(200);
    const csp = r.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
    expect(csp).not.toContain('unsafe-inline');
    const html = await r.text();
    const script = /src="(\/assets\/app-[A-Z0-9]+\.js)"/.exec(html)![1]!;
    const asset = await fetch(`${server.base}${script}`);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('content-type')).toContain('javascript');
  });

  it('signs in with the bootstrap token into an HttpOnly, SameSite=Strict session that needs the CSRF header to change state', async () => {
    await signIn(tokens.operator);
    const cookie = (await context.cookies()).find((c) => c.name === 'emms_session')!;
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', secure: false });
    const noCsrf = await page.request.post(`${server.base}/api/v1/auth/ws-ticket`);
    expect(noCsrf.status()).toBe(403);
    const csrf = await page.request.get(`${server.base}/api/v1/dashboard/session`).then((r) => r.json());
    const withCsrf = await page.request.post(`${server.base}/api/v1/auth/ws-ticket`, { headers: { 'x-emms-csrf': csrf.csrf_token } });
    expect(withCsrf.status()).toBe(200);
  });

  it('System Overview draws what the query API answers, and engine and key figures', async () => {
    // The collectors' first CPU figure needs two readings of /proc/stat.
    await until('a CPU point from the collectors', async () => {
      const r = await api('GET', `/api/v1/query?metric_pattern=system.cpu.usage_total&start_time=${Date.now() - 3600_000}&end_time=${Date.now()}`);
      return r.body.series?.length > 0 ? true : undefined;
    });
    // The collectors keep writing while the page loads, so a bucket near a boundary may gain a
    // point between the page's query and ours: the chart must hold the API's number as of just
    // before the page asked, or as of just after it drew (collector intervals are >= 5 s, so
    // no bucket gains two points in between).
    const interval = '30s';
    const pageAsked = Date.now();
    const bucketsAt = async (): Promise<Map<number, number>> => {
      const q = await api('GET', `/api/v1/query?${new URLSearchParams({ metric_pattern: 'system.cpu.usage_total', start_time: String(pageAsked - 3 * 3600_000), end_time: String(Date.now()), aggregation: 'avg', interval })}`);
      return new Map<number, number>(q.body.series[0].points.map((p: [number, number]) => [p[0], p[1]]));
    };
    const before = await bucketsAt();
    await view('overview', '[data-panel="cpu"]');
    await panelsLoaded();
    await page.waitForSelector('[data-testid="tile-series"]');
    await page.waitForSelector('[data-testid="tile-keys-total"]');
    expect(Number(await page.getAttribute('[data-testid="tile-keys-total"]', 'data-value'))).toBe(2);
    const health = (await api('GET', '/health')).body;
    expect(Number(await page.getAttribute('[data-testid="tile-series"]', 'data-value'))).toBeLessThanOrEqual(health.components.storage.series);
    const cpu = (await charts()).cpu![0]!;
    expect(cpu.t.length).toBeGreaterThan(0);
    const after = await bucketsAt();
    // The chart also holds live points appended at their own (millisecond) timestamps after it
    // loaded (CI at load 20 drew two); the query's buckets start on multiples of the interval.
    const bucketIndexes = [...cpu.t.keys()].filter((i) => cpu.t[i]! % 30_000 === 0);
    expect(bucketIndexes.length).toBeGreaterThan(0);
    // Every finished bucket the chart drew holds the API's number (the newest may still fill).
    const finished = bucketIndexes.slice(0, -1);
    for (const i of finished) {
      const t = cpu.t[i]!;
      expect(after.has(t), `bucket ${t} drawn, not in the API's answer`).toBe(true);
      expect([before.get(t), after.get(t)]).toContain(cpu.v[i]);
    }
    await shot('overview');
  });

  it('Security and Performance draw the fed series exactly', async () => {
    await view('security', '[data-panel="auth-failures"]');
    await panelsLoaded();
    const fed = (await charts())['auth-failures']!.find((l) => l.label === `security.auth.failures{source_ip=${FED_IP}}`)!;
    expect(fed.v.slice(0, 5)).toEqual([10, 20, 30, 40, 50]);
    expect(fed.t.slice(0, 5)).toEqual(fedTimes);
    expect(JSON.stringify(await charts())).not.toContain(OTHER_IP);
    await shot('security');
    await view('performance', '[data-panel="response-time"]');
    await panelsLoaded();
    const rt = (await charts())['response-time']!.find((l) => l.label === 'application.api.response_time{route=/0-e2e}')!;
    expect(rt.v).toEqual([5, 15, 25, 35, 45]);
    await shot('performance');
  });

  it('Key Management lists the inventory, expiring and weak keys, and one key\'s usage', async () => {
    await view('keys', '[data-testid="key-inventory"]');
    const inventory = await page.textContent('[data-testid="key-inventory"]');
    expect(inventory).toContain('e2e-aes');
    expect(inventory).toContain('e2e-rsa1024');
    expect(await page.textContent('[data-testid="keys-expiring"]')).toContain('e2e-aes');
    // The policy check runs every second here (key_policies.check_interval_seconds).
    await until('the weak-algorithm violation', async () => {
      const weak = (await api('GET', '/api/v1/policy/violations?rule=weak_algorithm')).body.violations.map((v: any) => v.key_id);
      return weak.includes('e2e-rsa1024') ? true : undefined;
    });
    await view('overview', '[data-panel="cpu"]');
    await view('keys', '[data-testid="key-inventory"]');
    expect(await page.textContent('[data-testid="keys-weak"]')).toContain('e2e-rsa1024');
    await page.selectOption('select[name=owner]', 'legacy');
    expect(await page.textContent('[data-testid="key-inventory"]')).not.toContain('e2e-aes');
    await page.selectOption('select[name=owner]', '');
    await page.click('[data-testid="key-inventory"] tr:has-text("e2e-aes") button');
    await page.waitForSelector('[data-panel="usage-e2e-aes"][data-loaded]');
    expect(Number(await page.getAttribute('[data-panel="usage-e2e-aes"]', 'data-series'))).toBeGreaterThan(0);
    await shot('keys');
  });

  it('the explorer gets identical numbers in JSON, in the binary form, and re-aggregated by the WASM kernels in the browser', async () => {
    await view('explore', 'form.explorer-form');
    await page.evaluate(() => {
      location.hash = '#/explore?metric=security.auth.failures&agg=max&range=1h';
    });
    await page.waitForSelector('[data-testid="json-binary-check"][data-same]');
    // Completion from the series index (GET /api/v1/series and /api/v1/labels).
    await page.fill('input[name=metric]', 'security.au');
    await page.waitForSelector('#metric-completions option[value="security.auth.failures"]', { state: 'attached' });
    await page.waitForSelector(`#tag-completions option[value="source_ip=${FED_IP}"]`, { state: 'attached' });
    // Overlays from the analytics API: flagged points and a forecast with its interval.
    await page.evaluate(() => {
      location.hash = '#/explore?metric=e2e.load&agg=avg&interval=1m&range=1h';
    });
    await page.waitForSelector('[data-testid="explorer-table"]:has-text("e2e.load")');
    await page.check('input[name=anomalies]');
    await page.check('input[name=forecast]');
    await page.click('form.explorer-form button[type=submit]');
    await page.waitForSelector('[data-testid="explorer-status"]:has-text("forecast")');
    const overlayStatus = await page.textContent('[data-testid="explorer-status"]');
    expect(overlayStatus, overlayStatus ?? '').toContain('forecast with its interval');
    expect(overlayStatus).toMatch(/\d+ anomalies flagged/);
    const overlay = (await charts()).explorer!.map((l) => l.label.split(' ')[0]);
    expect(overlay).toEqual(expect.arrayContaining(['forecast', 'lower', 'upper']));
    await page.uncheck('input[name=anomalies]');
    await page.uncheck('input[name=forecast]');
    expect(await page.getAttribute('[data-testid="json-binary-check"]', 'data-same')).toBe('true');
    const raw = await page.evaluate(({ start, end }) => (window as any).__emms.compare({ metricPattern: 'application.api.*', startMs: start, endMs: end }), { start: Date.now() - 3600_000, end: Date.now() });
    expect(raw.same).toBe(true);
    expect(raw.points).toBeGreaterThan(0);
    // Raw points re-aggregated in the browser by the WASM kernels = the server's aggregation.
    const span = { startMs: fedTimes[0]! - 3600_000, endMs: Date.now() };
    const inBrowser = await page.evaluate((q) => (window as any).__emms.query(q, { aggregation: 'sum', intervalMs: 1_800_000 }), { metricPattern: 'security.auth.failures', ...span });
    const onServer = await api('GET', `/api/v1/query?${new URLSearchParams({ metric_pattern: 'security.auth.failures', start_time: String(span.startMs), end_time: String(span.endMs), aggregation: 'sum', interval: '30m' })}`);
    const serverPoints = onServer.body.series.map((x: any) => x.points);
    expect(inBrowser.series.map((x: any) => x.timestamps.map((t: number, i: number) => [t, x.values[i]]))).toEqual(serverPoints);
    expect(serverPoints.flat().length).toBeGreaterThan(1);
    await shot('explorer');
  });

  it('a point acknowledged by the server appears on a live chart within 1 s', async () => {
    await view('security', '[data-panel="auth-failures"]');
    await panelsLoaded();
    await page.waitForSelector('[data-testid="live-state"][data-state="live"]');
    const label = `security.auth.failures{source_ip=${FED_IP}}`;
    const appears = (t: number, timeout: number) => page.waitForFunction(({ l, t }) => ((window as any).__emms.charts()['auth-failures'] ?? []).some((x: any) => x.label === l && x.t.includes(t)), { l: label, t }, { timeout, polling: 'raf' });
    // The first point proves the subscription is in place (no time bound); the second is timed.
    const warm = Date.now();
    expect((await api('POST', '/api/v1/metrics', { metrics: [{ metric_id: 'security.auth.failures', value: 60, timestamp: warm, tags: { source_ip: FED_IP } }] })).status).toBe(200);
    await appears(warm, 15_000);
    const t = Date.now() + 1;
    const res = await api('POST', '/api/v1/metrics', { metrics: [{ metric_id: 'security.auth.failures', value: 61, timestamp: t, tags: { source_ip: FED_IP } }] });
    expect(res.status).toBe(200);
    const acked = performance.now();
    await appears(t, 1000);
    expect(performance.now() - acked).toBeLessThan(1000);
  });

  it('acknowledges, silences, un-silences and shows the rule API\'s validation message from the UI', async () => {
    await view('alerts', '[data-testid="active-alerts"]');
    await shot('alerts');
    await page.click('[data-testid="active-alerts"] tr:has-text("E2E threshold") button[data-action=ack]');
    await page.waitForSelector('[data-testid=alerts-status].ok');
    const alerts = (await api('GET', '/api/v1/alerts?rule=e2e-rule')).body.alerts;
    expect(alerts.some((a: any) => a.acknowledged)).toBe(true);

    await page.waitForSelector('[data-testid="silence-form"]');
    await page.fill('[data-testid="silence-form"] input[name=rule_id]', 'e2e-rule');
    await page.selectOption('[data-testid="silence-form"] select[name=duration]', '900');
    await page.fill('[data-testid="silence-form"] input[name=comment]', 'e2e silence');
    const before = Date.now();
    await page.click('[data-testid="silence-form"] button[type=submit]');
    const silence = await until('the silence', async () => (await api('GET', '/api/v1/silences')).body.silences.find((s: any) => s.comment === 'e2e silence'));
    expect(silence.matchers).toEqual({ rule_id: 'e2e-rule' });
    expect(Date.parse(silence.ends_at) - before).toBeGreaterThan(890_000);
    await page.waitForSelector('[data-testid="silences"] button[data-action=unsilence]');
    await page.click('[data-testid="silences"] button[data-action=unsilence]');
    await until('the silence to end', async () => ((await api('GET', '/api/v1/silences')).body.silences.length === 0 ? true : undefined));

    const bad = { rule_id: 'e2e-bad', name: 'bad', metric_pattern: 'x', threshold_value: 'high' };
    const expected = (await api('POST', '/api/v1/alerts/rules', bad)).body.error;
    expect(typeof expected).toBe('string');
    await page.waitForSelector('[data-testid="rule-editor"]');
    await page.fill('[data-testid="rule-editor"]', JSON.stringify(bad));
    await page.click('form.editor button[type=submit]');
    await page.waitForSelector('[data-testid="rule-message"].error');
    expect(await page.textContent('[data-testid="rule-message"]')).toBe(expected);
  });

  it('a reader sees no admin actions; another tenant\'s data never appears; an operator can switch tenant', async () => {
    const oldCookie = (await context.cookies()).find((c) => c.name === 'emms_session')!.value;
    await signOut();
    const ended = await fetch(`${server.base}/api/v1/auth/whoami`, { headers: { cookie: `emms_session=${oldCookie}` } });
    expect(ended.status).toBe(401);

    await signIn(tokens.reader);
    expect(await page.getAttribute('[data-testid=who]', 'data-role')).toBe('reader');
    expect(await page.$('[data-testid=tenant-select]')).toBeNull();
    await view('alerts', '[data-testid="active-alerts"] tbody tr');
    await page.waitForSelector('[data-testid="rules"]');
    expect(await page.$('button[data-action=ack]')).toBeNull();
    expect(await page.$('[data-testid="silence-form"]')).toBeNull();
    expect(await page.$('[data-testid="rule-editor"]')).toBeNull();
    await view('security', '[data-panel="auth-failures"]');
    await panelsLoaded();
    expect(JSON.stringify(await charts())).not.toContain(OTHER_IP);
    await signOut();

    await signIn(tokens.otherAdmin);
    await view('security', '[data-panel="auth-failures"]');
    await panelsLoaded();
    const other = JSON.stringify(await charts());
    expect(other).toContain(OTHER_IP);
    expect(other).not.toContain(FED_IP);
    await view('keys', '[data-testid="key-inventory"]');
    expect(await page.textContent('[data-testid="key-inventory"]')).not.toContain('e2e-aes');
    await signOut();

    await signIn(tokens.operator);
    await page.waitForSelector('[data-testid=tenant-select]');
    await page.selectOption('[data-testid=tenant-select]', 'other');
    await view('security', '[data-panel="auth-failures"]');
    await panelsLoaded();
    const switched = JSON.stringify(await charts());
    expect(switched).toContain(OTHER_IP);
    expect(switched).not.toContain(FED_IP);
    await page.selectOption('[data-testid=tenant-select]', 'default');
  });

  it('is usable at phone width and in the dark theme, without console errors', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    await view('overview', '[data-panel="cpu"]');
    await panelsLoaded();
    await shot('overview-dark');
    await page.setViewportSize({ width: 390, height: 844 });
    await view('security', '[data-panel="auth-failures"]');
    await panelsLoaded();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(1);
    await shot('security-phone');
    await page.keyboard.press('5');
    await page.waitForSelector('[data-view="alerts"]');
    // The one refusal the test provokes on purpose (the rule editor's invalid rule) is logged
    // by chromium as a failed resource; nothing else may be.
    expect(consoleErrors.filter((e) => !(e.includes('status of 400') && e.includes('/api/v1/alerts/rules')))).toEqual([]);
  });
});
