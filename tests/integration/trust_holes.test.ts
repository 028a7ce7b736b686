/**
 * Issue 12's list of holes, tried against real `emms serve` processes the way a new user (or a
 * hostile client) would, each asserting that it now fails safely.
 *
 * Covered here:
 * - an API email channel pointing at a host of the client's choice, with SMTP_* credentials in
 *   the server's environment: refused (400 naming the field); the fake SMTP server it names sees
 *   no connection even after alerts fire and notifications go out; a channel naming the
 *   configuration's SMTP server delivers there without any credential from the environment;
 * - eleven points of security.auth.failures tagged source_ip=127.0.0.1: the predefined rule
 *   fires, nothing is blocked, 127.0.0.1 is still served, the log says why;
 * - rule regex `((a+))+b` on the alerting path (RE2): the cycle finishes, /health answers;
 * - health targets at loopback (literal, IPv6, IPv4-mapped, 0.0.0.0, numeric forms), private,
 *   metadata addresses and `localhost`: refused at creation or at the connection, a local
 *   listener sees nothing, no status code or body comes back; interval 0.05 s → 400; past the
 *   tenant's `targets` quota → 429;
 * - a webhook to a loopback listener: delivery refused by the egress policy; with
 *   `security.egress_allow: ["127.0.0.1"]` the same delivery arrives (the policy, not a broken channel);
 * - channel secrets (header values, HMAC secret, Slack token, URL query token, userinfo) redacted
 *   in every answer and in the log, and in no file of the data directory in plaintext;
 * - an invalid `alerting` section holding an SMTP password: exit non-zero, password in neither
 *   stdout nor stderr;
 * - /federate past query.max_series → 422;
 * - without a token: 401 on a sample of API routes and the stream, nothing created; /health
 *   gives the status only; EMMS_AUTH=off (or security.auth "off") with --host 0.0.0.0 refuses
 *   to start naming security.auth.
 *
 * Covered against a real process elsewhere, not repeated here:
 * - pathological glob `*a*a*a*a*a*a*a*b` on /api/v1/query and /federate, /health not held up:
 *   server_limits.test.ts "matches a pathological glob in linear time…";
 * - foreign Origin on the stream: server_limits.test.ts "refuses a WebSocket from a foreign Origin…";
 * - DNS rebinding (foreign Host on a loopback bind), HTTP and stream: server_limits.test.ts
 *   "refuses a foreign Host on its loopback bind…";
 * - 16 MiB Content-Length without a body, body deadline: server_limits.test.ts "200 connections
 *   declaring 16 MiB bodies…"; slowloris: "cut off the slowloris sender…";
 * - a WebSocket frame over collector.max_frame_bytes: server_limits.test.ts "ends a connection
 *   whose frame passes max_frame_bytes before buffering it";
 * - connection caps and the ingest quota: server_limits.test.ts "caps, credentials and quotas…".
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsClient } from '../../bench/load/ws_client.js';
import { runServeToExit, startServer, tempDir, type ServeRun, type ServerProcess } from './server_harness.js';

const cleanups: Array<() => void | Promise<unknown>> = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** What a listener answers; it must never come back through EMMS. */
const INTERNAL_BODY = 'INTERNAL-ONLY-7d3f: db_password=hunter2';

const ENV_SMTP_PASSWORD = 'env-smtp-Pa55-9c41';

/** The SMTP_* variables the pre-issue-12 email channel read, all pointing at `smtpTrap`. */
function smtpEnv(port: number): Record<string, string> {
  return {
    SMTP_HOST: '127.0.0.1', SMTP_PORT: String(port), SMTP_USERNAME: 'env-smtp-user', SMTP_USER: 'env-smtp-user',
    SMTP_PASSWORD: ENV_SMTP_PASSWORD, SMTP_TO: 'env-rcpt@example.org', SMTP_USE_TLS: 'false', SMTP_STARTTLS: 'false',
  };
}

// ---------------------------------------------------------------------------------------------
// Local listeners: what EMMS must not reach (or, where allowed, does reach).

interface Sink {
  port: number;
  connections: number;
  requests: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }>;
}

function listen(server: HttpServer | SMTPServer['server'], port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

/** An HTTP listener on 127.0.0.1 and [::1] (same port) counting every connection. */
async function httpSink(): Promise<Sink> {
  const sink: Sink = { port: 0, connections: 0, requests: [] };
  const servers: HttpServer[] = [];
  const make = (): HttpServer => {
    const s = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString()));
      req.on('end', () => {
        sink.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' }).end(INTERNAL_BODY);
      });
    });
    s.on('connection', () => sink.connections++);
    servers.push(s);
    return s;
  };
  const v4 = make();
  await listen(v4, 0, '127.0.0.1');
  sink.port = (v4.address() as AddressInfo).port;
  await listen(make(), sink.port, '::1');
  cleanups.push(() => Promise.all(servers.map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); }))));
  return sink;
}

interface FakeSmtp {
  port: number;
  connections: number;
  /** `username:password` of every AUTH attempt. */
  auths: string[];
  messages: string[];
}

/** A plain-text SMTP server that accepts anything and records what it saw. */
async function fakeSmtp(): Promise<FakeSmtp> {
  const state: FakeSmtp = { port: 0, connections: 0, auths: [], messages: [] };
  const smtp = new SMTPServer({
    authOptional: true,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, cb) {
      state.auths.push(`${auth.username}:${auth.password}`);
      cb(null, { user: auth.username });
    },
    onData(stream, _session, cb) {
      let text = '';
      stream.on('data', (d: Buffer) => (text += d.toString()));
      stream.on('end', () => {
        state.messages.push(text);
        cb();
      });
    },
  });
  smtp.server.on('connection', () => state.connections++);
  await listen(smtp.server, 0, '127.0.0.1');
  state.port = (smtp.server.address() as AddressInfo).port;
  cleanups.push(() => new Promise((r) => smtp.close(() => r(undefined))));
  return state;
}

// ---------------------------------------------------------------------------------------------
// EMMS processes.

interface Emms extends ServerProcess {
  dataDir: string;
}

async function serve(prefix: string, mainJson: unknown, env: Record<string, string>): Promise<Emms> {
  const { dir, remove } = tempDir(prefix);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const config = join(dir, 'main.json');
  writeFileSync(config, JSON.stringify(mainJson));
  const server = await startServer(['--data', dataDir, '--config', config], env);
  cleanups.push(remove, () => stop(server));
  return { ...server, dataDir };
}

async function stop(server: ServerProcess): Promise<number | string> {
  if (server.proc.exitCode === null && server.proc.signalCode === null) server.proc.kill('SIGTERM');
  return server.exited;
}

async function api(server: ServerProcess, method: string, path: string, body?: unknown, headers: Record<string, string> = server.auth): Promise<{ status: number; body: any; text: string }> {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // Prometheus text and the like stay text.
  }
  return { status: res.status, body: parsed, text };
}

function ingest(server: ServerProcess, metrics: Array<{ metric_id: string; value: number; timestamp: number; tags?: Record<string, string> }>): Promise<{ status: number; body: any }> {
  return api(server, 'POST', '/api/v1/metrics', { metrics });
}

/** Every file under `dir`, recursively. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

// ---------------------------------------------------------------------------------------------

let probeSink: Sink;
let hookSinkA: Sink;
let hookSinkB: Sink;
/** Named by SMTP_* in both servers' environments: must never see a connection. */
let smtpTrap: FakeSmtp;
/** alerting.smtp_servers.relay of server B: the legitimate way, no credentials configured. */
let smtpRelay: FakeSmtp;
/** Authentication on, a 1 s alerting cycle, small quotas, egress policy strict (default). */
let a: Emms;
/** The same with security.egress_allow ["127.0.0.1"] and a configured SMTP relay. */
let b: Emms;
/** Start-up refusals, started once A and B listen so they overlap the tests below. */
let refusals: Record<string, Promise<ServeRun>>;

const CONFIG_SMTP_PASSWORD = 'cfg-smtp-Pa55-e0c7';

beforeAll(async () => {
  [probeSink, hookSinkA, hookSinkB, smtpTrap, smtpRelay] = await Promise.all([httpSink(), httpSink(), httpSink(), fakeSmtp(), fakeSmtp()]);
  const env = smtpEnv(smtpTrap.port);
  [a, b] = await Promise.all([
    serve('emms-trust-a-', {
      alerting: { interval_seconds: 1 },
      query: { max_series: 5 },
      // Plenty of failed authentications here are deliberate; the default (30/min) would answer 429.
      security: { quotas: { targets: 4 }, limits: { auth_failures_per_minute: 1000 } },
    }, env),
    serve('emms-trust-b-', {
      alerting: { interval_seconds: 1, smtp_servers: { relay: { host: '127.0.0.1', port: smtpRelay.port, from: 'emms@example.org' } } },
      security: { egress_allow: ['127.0.0.1'] },
    }, env),
  ]);

  const { dir, remove } = tempDir('emms-trust-refusals-');
  cleanups.push(remove);
  const withConfig = (name: string, text: string, extra: string[] = [], runEnv: Record<string, string> = {}): Promise<ServeRun> => {
    const path = join(dir, `${name}.json`);
    writeFileSync(path, text);
    mkdirSync(join(dir, name));
    return runServeToExit(['--data', join(dir, name), '--config', path, ...extra], runEnv);
  };
  const pw = CONFIG_SMTP_PASSWORD;
  refusals = {
    // An SMTP server with a bad port, its password inline.
    badPort: withConfig('bad-port', JSON.stringify({ alerting: { smtp_servers: { relay: { host: 'smtp.example.org', port: '587x', username: 'alerts', password: pw } } } })),
    // An email channel of the config carrying host and password itself (no longer accepted).
    inlineChannel: withConfig('inline-channel', JSON.stringify({ alerting: { channels: [{ id: 'mail', type: 'email', host: 'smtp.example.org', username: 'alerts', password: pw, to: ['pki@example.org'] }] } })),
    // Another key wrong, a valid server with a password next to it.
    otherKey: withConfig('other-key', JSON.stringify({ alerting: { interval_seconds: 'often', smtp_servers: { relay: { host: 'smtp.example.org', username: 'alerts', password: pw } } } })),
    // A misspelt key holding the password.
    misspelt: withConfig('misspelt', JSON.stringify({ alerting: { smtp_servers: { relay: { host: 'smtp.example.org', username: 'alerts', passwd: pw } } } })),
    // A typo in the JSON itself: the password's opening quote is missing.
    jsonTypo: withConfig('json-typo', `{"alerting": {"smtp_servers": {"relay": {"host": "smtp.example.org", "username": "alerts", "password": ${pw}"}}}}`),
    authOffEnv: withConfig('auth-off-env', '{}', ['--host', '0.0.0.0'], { EMMS_AUTH: 'off' }),
    authOffFile: withConfig('auth-off-file', JSON.stringify({ security: { auth: 'off' } }), ['--host', '0.0.0.0']),
  };
});

describe('server A: strict egress, authentication on, 1 s alerting cycle', () => {
  it('eleven points tagged source_ip=127.0.0.1 fire the predefined Authentication Failures rule, block nothing, and the log says why', async () => {
    // One real failed authentication from 127.0.0.1 first, so the server has seen this address
    // as a failing client: only the loopback protection stands between the rule and a block.
    expect((await api(a, 'GET', '/api/v1/alerts', undefined, { authorization: 'Bearer emms_wrong' })).status).toBe(401);
    const now = Date.now();
    const points = Array.from({ length: 11 }, (_, i) => ({ metric_id: 'security.auth.failures', value: 1, timestamp: now - 11_000 + i * 1000, tags: { source_ip: '127.0.0.1' } }));
    expect((await ingest(a, points)).body).toEqual({ accepted: 11 });

    await expect.poll(async () => (await api(a, 'GET', '/api/v1/alerts?state=firing&rule=predefined.authentication_failures')).body.alerts.length, { timeout: 15_000, interval: 200 }).toBe(1);
    const [alert] = (await api(a, 'GET', '/api/v1/alerts?state=firing&rule=predefined.authentication_failures')).body.alerts;
    expect(alert).toMatchObject({ name: 'Authentication Failures', series: { tags: { source_ip: '127.0.0.1' } } });
    expect(alert.value).toBeGreaterThanOrEqual(11);

    await expect.poll(async () => (await api(a, 'GET', '/api/v1/alerts/remediations')).body.remediations.filter((r: any) => r.action === 'block_ip').length, { timeout: 10_000, interval: 200 }).toBeGreaterThan(0);
    const audit = (await api(a, 'GET', '/api/v1/alerts/remediations')).body.remediations.filter((r: any) => r.action === 'block_ip');
    expect(audit.map((r: any) => [r.target, r.outcome])).toEqual([['127.0.0.1', 'refused']]);
    expect(audit[0].detail).toMatch(/loopback/);

    expect((await api(a, 'GET', '/api/v1/alerts/blocked-ips')).body).toEqual({ blocked_ips: [] });
    // Still served from 127.0.0.1, on the API and the stream.
    expect((await api(a, 'GET', '/api/v1/query?metric_pattern=security.auth.failures&start_time=0')).status).toBe(200);
    expect((await fetch(`${a.base}/health`)).status).toBe(200);
    (await WsClient.open(a.wsUrl, { headers: a.auth })).close();
    await expect.poll(() => a.stderr(), { timeout: 5000 }).toMatch(/block_ip \\?"127\.0\.0\.1\\?" refused: .*loopback.*\(tenant default, rule predefined\.authentication_failures\)/);
  });

  it('an email channel naming a host is refused naming the field; SMTP_* in the environment is never used', async () => {
    const to = ['ops@example.org'];
    const tries: Array<[unknown, RegExp]> = [
      [{ id: 'mail', type: 'email', host: '127.0.0.1', port: smtpTrap.port, to }, /^channels\.mail\.host="127\.0\.0\.1" is not accepted: .*smtp_server/],
      [{ id: 'mail', type: 'email', host: '127.0.0.1', port: smtpTrap.port, username: 'me', password: 'mine-5ecret', to }, /^channels\.mail\.host=/],
      [{ id: 'mail', type: 'email', port: smtpTrap.port, password: 'mine-5ecret', to }, /^channels\.mail\.port=/],
      // No host at all: the old code took SMTP_HOST and the credentials from the environment.
      [{ id: 'mail', type: 'email', to }, /^channels\.mail\.smtp_server=undefined must name an SMTP server of the configuration file \(known: none configured/],
      [{ id: 'mail', type: 'email', smtp_server: 'env', to }, /^channels\.mail\.smtp_server="env" must name an SMTP server/],
    ];
    for (const [body, error] of tries) {
      const res = await api(a, 'POST', '/api/v1/alerts/channels', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.error).toMatch(error);
      expect(res.text).not.toContain('mine-5ecret');
      expect(res.text).not.toContain(ENV_SMTP_PASSWORD);
    }
    expect((await api(a, 'GET', '/api/v1/alerts/channels')).body.channels.filter((c: any) => c.type === 'email')).toEqual([]);
    // That nothing ever connects to smtpTrap, even once alerts fire, is checked after the alert tests below.
  });

  it('a webhook to a loopback listener is refused by the egress policy at delivery, by address and by name', async () => {
    for (const [id, host] of [['hook', '127.0.0.1'], ['hook-name', 'localhost']] as const) {
      const created = await api(a, 'POST', '/api/v1/alerts/channels', { id, type: 'webhook', url: `http://${host}:${hookSinkA.port}/alerts` });
      expect(created.status).toBe(201);
    }
    const rule = { rule_id: 'trust.fire', name: 'Trust fire', metric_pattern: 'trust\\.fire', threshold_value: 0, comparison: '>', channels: ['hook', 'hook-name'] };
    expect((await api(a, 'POST', '/api/v1/alerts/rules', rule)).status).toBe(201);
    expect((await ingest(a, [{ metric_id: 'trust.fire', value: 1, timestamp: Date.now() }])).body).toEqual({ accepted: 1 });

    for (const id of ['hook', 'hook-name']) {
      await expect.poll(async () => (await api(a, 'GET', `/api/v1/alerts/channels/${id}`)).body.stats?.failed_batches ?? 0, { timeout: 15_000, interval: 200 }).toBeGreaterThan(0);
      const { stats } = (await api(a, 'GET', `/api/v1/alerts/channels/${id}`)).body;
      expect(stats.sent_batches).toBe(0);
      expect(stats.last_error).toMatch(/refused: .*security\.egress_allow/);
      expect(stats.last_error).not.toContain(INTERNAL_BODY);
    }
    expect(hookSinkA.connections).toBe(0);
  });

  it('health targets never reach a local listener: refused at creation or at the connection, nothing of it reported back', async () => {
    const port = probeSink.port;
    const targets: Array<Record<string, unknown>> = [
      { target_id: 'lo-http', target_type: 'http', endpoint: `http://127.0.0.1:${port}` },
      { target_id: 'lo-tcp', target_type: 'tcp', endpoint: '127.0.0.1', port },
      { target_id: 'lo-v6', target_type: 'http', endpoint: `http://[::1]:${port}` },
      { target_id: 'lo-mapped', target_type: 'http', endpoint: `http://[::ffff:127.0.0.1]:${port}` },
      { target_id: 'lo-zero', target_type: 'tcp', endpoint: '0.0.0.0', port },
      { target_id: 'lo-short', target_type: 'http', endpoint: `http://127.1:${port}` },
      { target_id: 'lo-decimal', target_type: 'tcp', endpoint: '2130706433', port },
      { target_id: 'private', target_type: 'tcp', endpoint: '10.0.0.1', port: 80, timeout: 1 },
      { target_id: 'metadata', target_type: 'http', endpoint: 'http://169.254.169.254', health_endpoint: '/latest/meta-data/', timeout: 1 },
      { target_id: 'lo-name-http', target_type: 'http', endpoint: `http://localhost:${port}` },
      { target_id: 'lo-name-tcp', target_type: 'tcp', endpoint: 'localhost', port },
    ];
    const outcomes: Record<string, string> = {};
    for (const t of targets) {
      const id = t.target_id as string;
      const created = await api(a, 'POST', '/api/v1/health/targets', { interval: 3600, ...t });
      if (created.status === 400) {
        expect(created.body, id).toMatchObject({ field: 'endpoint' });
        expect(created.body.error, id).toMatch(/^target\.endpoint=.* refused: .*security\.egress_allow/);
        outcomes[id] = 'refused at creation';
        continue;
      }
      expect(created.status, `${id}: ${created.text}`).toBe(201);
      // Checked at once (a new target is due now); a name is refused in the connection's own lookup.
      await expect.poll(async () => (await api(a, 'GET', `/api/v1/health/targets/${id}`)).body.last_check, { timeout: 10_000, interval: 100 }).not.toBeNull();
      const view = await api(a, 'GET', `/api/v1/health/targets/${id}`);
      expect(view.body, id).toMatchObject({ status: 'down', last_status_code: null });
      expect(view.body.last_error, id).toMatch(/^EEGRESS: destination refused by the egress policy \(security\.egress_allow\)$/);
      expect(view.text).not.toContain(INTERNAL_BODY);
      outcomes[id] = 'refused at connection';
      expect((await api(a, 'DELETE', `/api/v1/health/targets/${id}`)).status).toBe(200);
    }
    expect(outcomes).toMatchObject({ 'lo-http': 'refused at creation', private: 'refused at creation', metadata: 'refused at creation', 'lo-name-http': 'refused at connection', 'lo-name-tcp': 'refused at connection' });
    expect(probeSink.connections).toBe(0);

    const fast = await api(a, 'POST', '/api/v1/health/targets', { target_id: 'fast', target_type: 'tcp', endpoint: 'status.example.org', port: 443, interval: 0.05 });
    expect(fast.status).toBe(400);
    expect(fast.body).toMatchObject({ field: 'interval' });
    expect(fast.body.error).toMatch(/^target\.interval=0\.05 must be a number in \[1, 86400\]/);

    // security.quotas.targets = 4: the fifth is 429 naming the quota, and not stored.
    for (let i = 0; i < 4; i++) expect((await api(a, 'POST', '/api/v1/health/targets', { target_id: `q${i}`, target_type: 'tcp', endpoint: 'localhost', port, interval: 3600 })).status).toBe(201);
    const over = await api(a, 'POST', '/api/v1/health/targets', { target_id: 'q4', target_type: 'tcp', endpoint: 'localhost', port, interval: 3600 });
    expect(over.status).toBe(429);
    expect(over.body).toMatchObject({ quota: 'targets' });
    expect((await api(a, 'GET', '/api/v1/health/targets')).body.count).toBe(4);
    expect(probeSink.connections).toBe(0);
  });

  it('a rule regex that backtracks exponentially ((a+))+b runs in linear time on the alerting path', async () => {
    const rule = { rule_id: 'trust.redos', name: 'ReDoS', metric_pattern: '((a+))+b', threshold_value: 0, comparison: '>', channels: ['hook'] };
    expect((await api(a, 'POST', '/api/v1/alerts/rules', rule)).status).toBe(201);
    const cycles = (await api(a, 'GET', '/api/v1/alerts/status')).body.cycles as number;
    const now = Date.now();
    // 2^120 paths per id for a backtracking engine; one id ends with b and matches.
    const metrics = [...Array.from({ length: 300 }, (_, i) => ({ metric_id: `${'a'.repeat(120)}${i}`, value: 1, timestamp: now })), { metric_id: `${'a'.repeat(120)}b`, value: 1, timestamp: now }];
    expect((await ingest(a, metrics)).body).toEqual({ accepted: 301 });
    await expect.poll(async () => (await api(a, 'GET', '/api/v1/alerts?state=firing&rule=trust.redos')).body.alerts.map((x: any) => x.series.metric_id), { timeout: 15_000, interval: 200 }).toEqual([`${'a'.repeat(120)}b`]);
    const status = (await api(a, 'GET', '/api/v1/alerts/status')).body;
    expect(status.cycles).toBeGreaterThan(cycles);
    expect(status.last_cycle.duration_ms).toBeLessThan(1000);
    const started = performance.now();
    expect((await fetch(`${a.base}/health`)).status).toBe(200);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('the SMTP server named by SMTP_* saw no connection although alerts fired and notifications went out', async () => {
    const status = (await api(a, 'GET', '/api/v1/alerts/status')).body;
    expect(status.by_state.firing).toBeGreaterThanOrEqual(3);
    expect(status.notification_failures).toBeGreaterThan(0);
    expect(smtpTrap.connections).toBe(0);
    expect(smtpTrap.auths).toEqual([]);
  });

  it('answers /federate with more series than query.max_series with 422', async () => {
    const now = Date.now();
    expect((await ingest(a, Array.from({ length: 6 }, (_, i) => ({ metric_id: `trust.fed.${i}`, value: i, timestamp: now })))).body).toEqual({ accepted: 6 });
    const over = await api(a, 'GET', '/federate?match=trust.fed.*');
    expect(over.status).toBe(422);
    expect(over.body.error).toMatch(/maxSeries=5/);
    const one = await api(a, 'GET', '/federate?match=trust.fed.3');
    expect(one.status).toBe(200);
    expect(one.text).toMatch(/^trust_fed_3 3 \d+$/m);
  });

  it('without a token: 401 on every sampled route and the stream, nothing created; /health gives the status only', async () => {
    const samples: Array<[string, string, unknown?]> = [
      ['GET', '/api/v1/query?metric_pattern=*&start_time=0'],
      ['POST', '/api/v1/query', { metric_pattern: '*', start_time: 0 }],
      ['POST', '/api/v1/metrics', { metrics: [{ metric_id: 'anon.write', value: 1 }] }],
      ['GET', '/federate?match=*'],
      ['GET', '/api/v1/alerts'],
      ['GET', '/api/v1/alerts/channels'],
      ['POST', '/api/v1/alerts/channels', { id: 'anon', type: 'webhook', url: 'https://example.org/x' }],
      ['POST', '/api/v1/alerts/rules', { rule_id: 'anon', name: 'anon', metric_pattern: 'x', threshold_value: 1 }],
      ['GET', '/api/v1/alerts/blocked-ips'],
      ['DELETE', '/api/v1/alerts/rules/trust.fire'],
      ['GET', '/api/v1/health/targets'],
      ['POST', '/api/v1/health/targets', { target_id: 'anon', target_type: 'tcp', endpoint: 'example.org', port: 443 }],
      ['GET', '/api/v1/keys'],
      ['POST', '/api/v1/keys/events', { events: [] }],
      ['GET', '/api/v1/auth/keys'],
      ['POST', '/api/v1/auth/keys', { name: 'anon', tenant: 'default', role: 'operator' }],
      ['POST', '/api/v1/auth/ws-ticket'],
      ['GET', '/api/v1/tenants'],
    ];
    for (const [method, path, body] of samples) {
      for (const headers of [{}, { authorization: 'Bearer emms_forged' }, { authorization: 'Basic YWRtaW46YWRtaW4=' }] as Array<Record<string, string>>) {
        const res = await api(a, method, path, body, headers);
        expect(res.status, `${method} ${path} ${JSON.stringify(headers)}`).toBe(401);
        expect(Object.keys(res.body)).toEqual(['error']);
      }
    }
    await expect(WsClient.open(a.wsUrl)).rejects.toThrow(/401/);
    await expect(WsClient.open(a.wsUrl, { headers: { authorization: 'Bearer emms_forged' } })).rejects.toThrow(/401/);

    // Nothing was created or deleted.
    expect((await api(a, 'GET', '/api/v1/alerts/channels')).body.channels.map((c: any) => c.id).sort()).toEqual(['hook', 'hook-name']);
    expect((await api(a, 'GET', '/api/v1/alerts/rules/trust.fire')).status).toBe(200);
    expect((await api(a, 'GET', '/api/v1/alerts/rules/anon')).status).toBe(404);
    expect((await api(a, 'GET', '/api/v1/auth/keys')).body.keys).toHaveLength(1);
    expect((await api(a, 'GET', '/api/v1/query?metric_pattern=anon.*&start_time=0')).body.series).toEqual([]);

    const anonymous = await api(a, 'GET', '/health', undefined, {});
    expect(anonymous.status).toBe(200);
    expect(anonymous.body).toEqual({ status: 'ok' });
    const detailed = await api(a, 'GET', '/health');
    expect(detailed.body).toMatchObject({ status: 'ok', components: { storage: { status: 'ok' } } });
  });

  it('redacts every channel secret in answers and the log, and stores none in plaintext in the data directory', async () => {
    const s = {
      bearer: 's3cr3t-bearer-7f1c', apiKey: 'xkey-5ecret-2b9d', hmac: 'hmac-5ecret-91aa', query: 'qtok-5ecret-44e0',
      slack: 'slackTok5ecret3c7e', userinfo: 'pa55-5ecret-d00d', amUserinfo: 'am-5ecret-beef',
    };
    const channels = [
      { id: 'sec-hook', type: 'webhook', url: `https://hooks.example.invalid/notify?token=${s.query}`, secret: s.hmac, headers: { Authorization: `Bearer ${s.bearer}`, 'X-Api-Key': s.apiKey } },
      { id: 'sec-slack', type: 'slack', url: `https://hooks.slack.com/services/T00000000/B00000000/${s.slack}` },
      { id: 'sec-userinfo', type: 'webhook', url: `https://alice:${s.userinfo}@hooks.example.invalid/x` },
      { id: 'sec-am', type: 'alertmanager', url: `http://bob:${s.amUserinfo}@alertmanager.example.invalid:9093` },
    ];
    const answers: string[] = [];
    for (const c of channels) {
      const created = await api(a, 'POST', '/api/v1/alerts/channels', c);
      expect(created.status, created.text).toBe(201);
      answers.push(created.text, (await api(a, 'GET', `/api/v1/alerts/channels/${c.id}`)).text);
    }
    const list = await api(a, 'GET', '/api/v1/alerts/channels');
    answers.push(list.text);
    const byId = Object.fromEntries(list.body.channels.map((c: any) => [c.id, c]));
    expect(byId['sec-hook']).toMatchObject({ secret: '[redacted]', headers: { authorization: '[redacted]', 'x-api-key': '[redacted]' } });
    expect(byId['sec-hook'].url).toMatch(/^https:\/\/hooks\.example\.invalid\/notify\?token=/);
    expect(byId['sec-slack'].url).toMatch(/^https:\/\/hooks\.slack\.com\/services\//);
    expect(byId['sec-userinfo'].url).toMatch(/^https:\/\/.*hooks\.example\.invalid\/x$/);
    for (const text of answers) for (const secret of Object.values(s)) expect(text).not.toContain(secret);

    expect(await stop(a)).toBe(0);
    const logs = a.stderr();
    for (const secret of [...Object.values(s), ENV_SMTP_PASSWORD]) expect(logs).not.toContain(secret);
    const files = filesUnder(a.dataDir);
    expect(files.map((f) => f.slice(a.dataDir.length + 1))).toEqual(expect.arrayContaining(['alerts.db', 'secrets.key', 'admin.token']));
    // The channels were stored (their ids are plain), so the scan below looks at their rows.
    expect(files.some((f) => readFileSync(f).includes('sec-slack'))).toBe(true);
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const secret of [...Object.values(s), ENV_SMTP_PASSWORD]) expect(bytes.includes(Buffer.from(secret)), `${secret} in ${file}`).toBe(false);
    }
    for (const name of ['secrets.key', 'admin.token', 'alerts.db']) expect(statSync(join(a.dataDir, name)).mode & 0o077, name).toBe(0);
  });
});

describe('server B: security.egress_allow ["127.0.0.1"], SMTP relay configured in main.json', () => {
  it('delivers the same webhook to the loopback listener, and email through the configured relay without any credential', async () => {
    expect((await api(b, 'POST', '/api/v1/alerts/channels', { id: 'hook', type: 'webhook', url: `http://127.0.0.1:${hookSinkB.port}/alerts` })).status).toBe(201);
    const mail = await api(b, 'POST', '/api/v1/alerts/channels', { id: 'mail', type: 'email', smtp_server: 'relay', to: ['ops@example.org'] });
    expect(mail.status, mail.text).toBe(201);
    const rule = { rule_id: 'trust.fire', name: 'Trust fire', metric_pattern: 'trust\\.fire', threshold_value: 0, comparison: '>', channels: ['hook', 'mail'] };
    expect((await api(b, 'POST', '/api/v1/alerts/rules', rule)).status).toBe(201);
    expect((await ingest(b, [{ metric_id: 'trust.fire', value: 1, timestamp: Date.now() }])).body).toEqual({ accepted: 1 });

    await expect.poll(() => hookSinkB.requests.length, { timeout: 15_000, interval: 100 }).toBeGreaterThan(0);
    expect(hookSinkB.requests[0]).toMatchObject({ method: 'POST', url: '/alerts' });
    expect(hookSinkB.requests[0]!.body).toContain('trust.fire');
    await expect.poll(() => smtpRelay.messages.length, { timeout: 15_000, interval: 100 }).toBeGreaterThan(0);
    expect(smtpRelay.messages[0]).toMatch(/Trust fire/);
    // No AUTH at all: the relay has no credentials in main.json, and SMTP_* are not read.
    expect(smtpRelay.auths).toEqual([]);
    for (const m of smtpRelay.messages) expect(m).not.toContain(ENV_SMTP_PASSWORD);
    expect(smtpTrap.connections).toBe(0);
    expect((await api(b, 'GET', '/api/v1/alerts/channels/hook')).body.stats).toMatchObject({ failed_batches: 0 });
    expect(b.stderr()).not.toContain(ENV_SMTP_PASSWORD);
  });
});

describe('server B: failure limit at its default (30 a minute)', () => {
  it('bad tokens from the operator\'s own address get 429, and the operator\'s key still works there', async () => {
    const bad = { authorization: 'Bearer emms_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' };
    let limited = false;
    for (let i = 0; i < 40 && !limited; i++) limited = (await api(b, 'GET', '/api/v1/auth/whoami', undefined, bad)).status === 429;
    expect(limited).toBe(true);
    const whoami = await api(b, 'GET', '/api/v1/auth/whoami');
    expect(whoami.status, whoami.text).toBe(200);
    expect((await api(b, 'GET', '/api/v1/alerts/blocked-ips')).status).toBe(200);
  });
});

describe('start-up refusals', () => {
  for (const [name, what, code, error] of [
    ['badPort', 'an SMTP server with an invalid port', 2, /invalid setting alerting=\(an object with keys smtp_servers\) .*alerting\.smtp_servers\.relay\.port="587x" must be an integer/],
    ['inlineChannel', 'an email channel carrying host and password', 2, /invalid setting alerting=.*channels\.mail\.host="smtp\.example\.org" is not accepted/],
    ['otherKey', 'an invalid interval next to a valid SMTP server', 2, /alerting\.interval_seconds="often" must be a positive number/],
    ['misspelt', 'a misspelt password key', 2, /alerting\.smtp_servers\.relay\.passwd="\(set\)" is not a known setting/],
  ] as const) {
    it(`an invalid alerting section (${what}) stops emms serve naming the field, without printing the password`, async () => {
      const run = await refusals[name]!;
      expect(run.code, run.stderr).toBe(code);
      expect(run.stderr).toMatch(error);
      expect(run.stdout).not.toMatch(/listening/);
      expect(run.stdout + run.stderr).not.toContain(CONFIG_SMTP_PASSWORD);
    });
  }

  it('a JSON typo next to the SMTP password stops emms serve without printing the password', async () => {
    const run = await refusals.jsonTypo!;
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--config.*is not valid JSON/);
    // Any part of it: V8's JSON errors quote the text around the error.
    expect(run.stdout + run.stderr).not.toContain(CONFIG_SMTP_PASSWORD.slice(0, 8));
  });

  it('refuses authentication off on a non-loopback bind, naming security.auth', async () => {
    for (const run of [await refusals.authOffEnv!, await refusals.authOffFile!]) {
      expect(run.code, run.stdout + run.stderr).toBe(2);
      expect(run.stderr).toMatch(/invalid setting security\.auth="off" .*may be off only on a loopback bind.*0\.0\.0\.0/);
      expect(run.stdout).not.toMatch(/listening/);
    }
  });
});
