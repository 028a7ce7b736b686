/**
 * Notification channels against real peers: a local HTTP receiver (webhook signature, retries,
 * Slack body), an SMTP server in this process (smtp-server, with authentication over STARTTLS
 * using a self-signed certificate made by openssl), and Debian's prometheus-alertmanager
 * started on a loopback port and checked through its own v2 API.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseSmtpServers } from '../../src/alerts/channels/smtp_servers.js';
import { SIGNATURE_HEADER } from '../../src/alerts/channels/webhook_channel.js';
import { STRICT_EGRESS } from '../../src/net/egress_guard.js';
import { cycleAt, harness, LOOPBACK_EGRESS, T0, type Harness } from '../unit/alerts_test_kit.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.cleanup();
  h = undefined;
});

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  url: string;
}

async function receiver(answer: (n: number, req: Received) => number): Promise<{ url: string; calls: Received[]; close(): Promise<void> }> {
  const calls: Received[] = [];
  const server: Server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const r = { headers: req.headers, body, url: req.url ?? '' };
      calls.push(r);
      res.statusCode = answer(calls.length, r);
      res.end(res.statusCode >= 400 ? 'nope' : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

const cpuRule = (channels: string[]): Record<string, unknown> => ({
  rule_id: 'cpu', name: 'CPU hot', metric_pattern: 'system\\.cpu\\.usage_total', threshold_value: 90, priority: 'HIGH', channels,
  annotations: { summary: 'cpu {{value}} on {{tags.host}}' },
});

describe('webhook channel', () => {
  it('signs the JSON body with HMAC-SHA256 and retries failed deliveries with backoff', async () => {
    const secret = 'webhook-secret';
    const rx = await receiver((n) => (n <= 2 ? 503 : 200));
    try {
      h = harness({ channels: [{ id: 'hook', type: 'webhook', url: `${rx.url}/alerts`, secret, headers: { 'x-team': 'pki' } }], dispatcher: { baseBackoffMs: 20, maxAttempts: 4 } });
      h.alerting.addRule('default', cpuRule(['hook']));
      h.system.add('system.cpu.usage_total', { host: 'a' }, T0, 95);
      h.system.add('system.cpu.usage_total', { host: 'b' }, T0, 97);
      await cycleAt(h, 0);
      expect(rx.calls).toHaveLength(3); // two 503s, then delivered
      const last = rx.calls[2]!;
      expect(last.url).toBe('/alerts');
      expect(last.headers['content-type']).toBe('application/json');
      expect(last.headers['x-team']).toBe('pki');
      const expected = 'sha256=' + createHmac('sha256', secret).update(last.body).digest('hex');
      expect(last.headers[SIGNATURE_HEADER]).toBe(expected);
      const payload = JSON.parse(last.body) as { status: string; channel_id: string; events: Array<{ kind: string; alert: { series: { tags: { host: string } }; value: number; annotations: { summary: string } } }> };
      expect(payload.status).toBe('firing');
      expect(payload.channel_id).toBe('hook');
      // Both alerts of the cycle in one grouped message.
      expect(payload.events.map((e) => [e.kind, e.alert.series.tags.host, e.alert.value]).sort()).toEqual([['firing', 'a', 95], ['firing', 'b', 97]]);
      expect(payload.events.find((e) => e.alert.series.tags.host === 'a')!.alert.annotations.summary).toBe('cpu 95 on a');
      const stats = h.alerting.status('default').channels.find((c) => c.channel_id === 'hook')!;
      expect(stats).toMatchObject({ sent_batches: 1, retries: 2, failed_batches: 0 });
    } finally {
      await rx.close();
    }
  });

  it('does not retry a 4xx answer and counts the failure', async () => {
    const rx = await receiver(() => 400);
    try {
      h = harness({ channels: [{ id: 'hook', type: 'webhook', url: rx.url }] });
      h.alerting.addRule('default', cpuRule(['hook']));
      h.system.add('system.cpu.usage_total', { host: 'a' }, T0, 95);
      await cycleAt(h, 0);
      expect(rx.calls).toHaveLength(1);
      expect(rx.calls[0]!.headers[SIGNATURE_HEADER]).toBeUndefined();
      const status = h.alerting.status('default');
      expect(status.notification_failures).toBe(1);
      // The status code only: the receiver's body ('nope') never comes back.
      expect(status.channels.find((c) => c.channel_id === 'hook')!.last_error).toBe(`POST ${rx.url}/ answered 400`);
    } finally {
      await rx.close();
    }
  });

  it('refuses internal destinations unless egress allows them, and never follows redirects', async () => {
    const rx = await receiver((n) => (n === 1 ? 302 : 200));
    try {
      h = harness({ egress: STRICT_EGRESS, channels: [{ id: 'hook', type: 'webhook', url: `${rx.url}/alerts?token=abc` }] });
      h.alerting.addRule('default', cpuRule(['hook']));
      h.system.add('system.cpu.usage_total', { host: 'a' }, T0, 95);
      await cycleAt(h, 0);
      expect(rx.calls).toHaveLength(0);
      const refused = h.alerting.status('default').channels.find((c) => c.channel_id === 'hook')!;
      expect(refused).toMatchObject({ failed_batches: 1, retries: 0 });
      expect(refused.last_error).toBe(`POST ${rx.url}/alerts?token=[redacted] refused: egress to 127.0.0.1 (127.0.0.1) refused: loopback, private, link-local and metadata addresses need security.egress_allow`);
      // A name that resolves to loopback is refused by the guarded lookup the same way.
      await h.reopen({ egress: STRICT_EGRESS, channels: [{ id: 'hook', type: 'webhook', url: rx.url.replace('127.0.0.1', 'localhost') }] });
      h.system.add('system.cpu.usage_total', { host: 'b' }, T0 + 15_000, 95);
      await cycleAt(h, 15);
      expect(rx.calls).toHaveLength(0);
      expect(h.alerting.status('default').channels.find((c) => c.channel_id === 'hook')!.last_error).toMatch(/refused: egress to localhost \((127\.0\.0\.1|::1)\) refused/);

      // Allowed: a redirect answer is a failure, not followed, not retried.
      await h.reopen({ egress: LOOPBACK_EGRESS, channels: [{ id: 'hook', type: 'webhook', url: rx.url }] });
      h.system.add('system.cpu.usage_total', { host: 'c' }, T0 + 30_000, 95);
      await cycleAt(h, 30);
      expect(rx.calls).toHaveLength(1);
      expect(h.alerting.status('default').channels.find((c) => c.channel_id === 'hook')!.last_error).toBe(`POST ${rx.url}/ answered 302: redirects are not followed`);
    } finally {
      await rx.close();
    }
  });
});

describe('slack channel', () => {
  it('posts a Slack incoming-webhook body with one line per alert', async () => {
    const rx = await receiver(() => 200);
    try {
      h = harness({ channels: [{ id: 'slack', type: 'slack', url: `${rx.url}/services/T/B/X`, username: 'emms' }] });
      h.alerting.addRule('default', cpuRule(['slack']));
      h.system.add('system.cpu.usage_total', { host: 'a' }, T0, 95);
      await cycleAt(h, 0);
      h.system.add('system.cpu.usage_total', { host: 'a' }, T0 + 15_000, 10);
      await cycleAt(h, 15);
      expect(rx.calls).toHaveLength(2);
      const firing = JSON.parse(rx.calls[0]!.body) as { text: string; username: string; attachments: Array<{ color: string; text: string }> };
      expect(firing.username).toBe('emms');
      expect(firing.text).toBe('[EMMS] 1 firing: CPU hot');
      expect(firing.attachments[0]!.color).toBe('#d62728');
      expect(firing.attachments[0]!.text).toBe('[FIRING] HIGH CPU hot: system.cpu.usage_total{host=a} value 95 threshold 90 — cpu 95 on a');
      const resolved = JSON.parse(rx.calls[1]!.body) as { text: string; attachments: Array<{ color: string }> };
      expect(resolved.text).toBe('[EMMS] 1 resolved: CPU hot');
      expect(resolved.attachments[0]!.color).toBe('#2ca02c');
    } finally {
      await rx.close();
    }
  });
});

function decodeQuotedPrintable(body: string): string {
  const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

describe('email channel over SMTP', () => {
  let smtp: SMTPServer;
  let port = 0;
  let certDir = '';
  const mails: Array<{ from: string; to: string[]; data: string; secure: boolean; user: string | undefined }> = [];

  beforeAll(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'emms-smtp-'));
    const key = join(certDir, 'key.pem');
    const cert = join(certDir, 'cert.pem');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost'], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`openssl could not make a test certificate: ${made.stderr || made.error?.message}`);
    smtp = new SMTPServer({
      key: readFileSync(key),
      cert: readFileSync(cert),
      authMethods: ['PLAIN', 'LOGIN'],
      onAuth(auth, _session, cb) {
        if (auth.username === 'alerts' && auth.password === 'hunter2') cb(null, { user: auth.username });
        else cb(new Error('bad credentials'));
      },
      onData(stream, session, cb) {
        let data = '';
        stream.on('data', (d: Buffer) => (data += d.toString()));
        stream.on('end', () => {
          mails.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            data,
            secure: session.secure,
            user: session.user as string | undefined,
          });
          cb();
        });
      },
      logger: false,
    });
    await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', r));
    port = (smtp.server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((r) => smtp.close(() => r()));
    rmSync(certDir, { recursive: true, force: true });
  });

  it('sends one authenticated message per batch over STARTTLS through a named SMTP server of the configuration', async () => {
    const passwordFile = join(certDir, 'smtp.pass');
    writeFileSync(passwordFile, 'hunter2\n', { mode: 0o600 });
    const smtpServers = parseSmtpServers({
      relay: { host: '127.0.0.1', port, username: 'alerts', password_file: passwordFile, from: 'emms@example.org', starttls: true, tls_reject_unauthorized: false },
    });
    h = harness({ smtpServers, channels: [{ id: 'mail', type: 'email', smtp_server: 'relay', to: ['oncall@example.org', 'pki@example.org'] }] });
    h.alerting.addRule('default', cpuRule(['mail']));
    h.system.add('system.cpu.usage_total', { host: 'a' }, T0, 95);
    h.system.add('system.cpu.usage_total', { host: 'b' }, T0, 96);
    await cycleAt(h, 0);
    expect(h.alerting.status('default').notification_failures).toBe(0);
    expect(mails).toHaveLength(1);
    const m = mails[0]!;
    expect(m.secure).toBe(true); // upgraded with STARTTLS before authenticating
    expect(m.user).toBe('alerts');
    expect(m.from).toBe('emms@example.org');
    expect(m.to).toEqual(['oncall@example.org', 'pki@example.org']);
    expect(m.data).toMatch(/^Subject: \[EMMS\] 2 firing\r?$/m);
    const text = decodeQuotedPrintable(m.data.slice(m.data.search(/\r?\n\r?\n/)));
    expect(text).toContain('[FIRING] HIGH CPU hot: system.cpu.usage_total{host=a} value 95 threshold 90 — cpu 95 on a');
    expect(text).toContain('[FIRING] HIGH CPU hot: system.cpu.usage_total{host=b} value 96');
    expect(m.data).toMatch(/^X-EMMS-Channel: mail\r?$/im);
  });

  it('counts a refused login as a failure without retrying it', async () => {
    const before = mails.length;
    const smtpServers = parseSmtpServers({ relay: { host: '127.0.0.1', port, username: 'alerts', password: 'wrong', starttls: true, tls_reject_unauthorized: false } });
    h = harness({ smtpServers, channels: [{ id: 'mail', type: 'email', smtp_server: 'relay', to: 'x@example.org' }] });
    h.alerting.addRule('default', cpuRule(['mail']));
    h.system.add('system.cpu.usage_total', { host: 'a' }, T0, 95);
    await cycleAt(h, 0);
    const stats = h.alerting.status('default').channels.find((c) => c.channel_id === 'mail')!;
    expect(stats).toMatchObject({ failed_batches: 1, retries: 0 });
    expect(stats.last_error).toBe('SMTP delivery via relay failed: EAUTH (reply 535)');
    expect(mails.length).toBe(before);
  });

  it('refuses an SMTP server on an internal address unless egress allows it', async () => {
    const before = mails.length;
    const smtpServers = parseSmtpServers({ relay: { host: '127.0.0.1', port, starttls: true, tls_reject_unauthorized: false } });
    h = harness({ smtpServers, egress: STRICT_EGRESS, channels: [{ id: 'mail', type: 'email', smtp_server: 'relay', to: 'x@example.org' }] });
    h.alerting.addRule('default', cpuRule(['mail']));
    h.system.add('system.cpu.usage_total', { host: 'a' }, T0, 95);
    await cycleAt(h, 0);
    const stats = h.alerting.status('default').channels.find((c) => c.channel_id === 'mail')!;
    expect(stats).toMatchObject({ failed_batches: 1, retries: 0 });
    expect(stats.last_error).toMatch(/^SMTP server relay \(127\.0\.0\.1\): egress to 127\.0\.0\.1 \(127\.0\.0\.1\) refused/);
    expect(mails.length).toBe(before);
  });
});

async function freePort(): Promise<number> {
  const s = createNetServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('Prometheus Alertmanager channel', () => {
  let am: ChildProcess | undefined;
  let amDir = '';
  let amUrl = '';
  let amLog = '';

  beforeAll(async () => {
    amDir = mkdtempSync(join(tmpdir(), 'emms-am-'));
    writeFileSync(join(amDir, 'am.yml'), 'route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n');
    const port = await freePort();
    amUrl = `http://127.0.0.1:${port}`;
    am = spawn('/usr/bin/prometheus-alertmanager', [
      `--config.file=${join(amDir, 'am.yml')}`, `--storage.path=${join(amDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`, '--cluster.listen-address=',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    am.stdout!.on('data', (d: Buffer) => (amLog += d.toString()));
    am.stderr!.on('data', (d: Buffer) => (amLog += d.toString()));
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (am.exitCode !== null) throw new Error(`alertmanager exited (${am.exitCode}): ${amLog.slice(-2000)}`);
      const ready = await fetch(`${amUrl}/-/ready`).then((r) => r.ok, () => false);
      if (ready) break;
      if (Date.now() > deadline) throw new Error(`alertmanager not ready after 20 s: ${amLog.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(async () => {
    if (am && am.exitCode === null) {
      const exited = new Promise((r) => am!.once('exit', r));
      am.kill('SIGTERM');
      await exited;
    }
    rmSync(amDir, { recursive: true, force: true });
  });

  it('posts firing alerts through the v2 API with labels and annotations, then resolves them', async () => {
    h = harness({ channels: [{ id: 'am', type: 'alertmanager', url: amUrl, refresh_interval_seconds: 60 }] });
    // Alertmanager judges startsAt/endsAt against its own clock, so this test runs on real time.
    const now = Date.now();
    h.clock.t = now;
    h.alerting.addRule('default', { ...cpuRule(['am']), labels: { team: 'pki' } });
    h.system.add('system.cpu.usage_total', { host: 'hsm-1', dc: 'fra' }, now, 95);
    await h.alerting.evaluateOnce();
    await h.alerting.idle();
    expect(h.alerting.status('default').notification_failures).toBe(0);

    type AmAlert = { labels: Record<string, string>; annotations: Record<string, string>; status: { state: string }; startsAt: string };
    const alerts = (await (await fetch(`${amUrl}/api/v2/alerts`)).json()) as AmAlert[];
    expect(alerts).toHaveLength(1);
    const got = alerts[0]!;
    expect(got.labels).toEqual({
      alertname: 'CPU hot', rule_id: 'cpu', priority: 'HIGH', severity: 'high', metric_id: 'system.cpu.usage_total',
      host: 'hsm-1', dc: 'fra', team: 'pki',
    });
    expect(got.annotations.summary).toBe('cpu 95 on hsm-1');
    expect(got.annotations.value).toBe('95');
    expect(got.annotations.threshold).toBe('90');
    expect(got.annotations.alert_id).toBe(h.alerting.listAlerts('default')[0]!.alert_id);
    expect(got.status.state).toBe('active');
    expect(Date.parse(got.startsAt)).toBe(now);

    h.system.add('system.cpu.usage_total', { host: 'hsm-1', dc: 'fra' }, now + 1, 10);
    h.clock.t = now + 2;
    await h.alerting.evaluateOnce();
    await h.alerting.idle();
    const deadline = Date.now() + 5000;
    let remaining: AmAlert[] = [];
    do {
      remaining = (await (await fetch(`${amUrl}/api/v2/alerts?active=true`)).json()) as AmAlert[];
      if (remaining.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    } while (Date.now() < deadline);
    expect(remaining).toHaveLength(0);
  });

  it('re-sends firing alerts every refresh period so Alertmanager does not time them out', async () => {
    const rx = await receiver(() => 200);
    try {
      h = harness({ channels: [{ id: 'am', type: 'alertmanager', url: rx.url, refresh_interval_seconds: 60 }] });
      h.alerting.addRule('default', cpuRule(['am']));
      for (let s = 0; s <= 135; s += 15) {
        h.system.add('system.cpu.usage_total', { host: 'a' }, T0 + s * 1000, 95);
        await cycleAt(h, s);
      }
      // Firing at 0 s; refreshes at 60 s and 120 s.
      expect(rx.calls.map((c) => c.url)).toEqual(['/api/v2/alerts', '/api/v2/alerts', '/api/v2/alerts']);
      const posted = rx.calls.map((c) => JSON.parse(c.body) as Array<{ endsAt: string }>);
      expect(posted.map((p) => Date.parse(p[0]!.endsAt) - T0)).toEqual([240_000, 300_000, 360_000]);
    } finally {
      await rx.close();
    }
  });
});
