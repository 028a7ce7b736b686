import { afterEach, describe, expect, it, vi } from 'vitest';
import { alertingOptionsFromConfig } from '../../src/alerts/alerting_config.js';
import { ChannelDeliveryError, type NotificationBatch, type NotificationChannel } from '../../src/alerts/channels/channel.js';
import { createChannel, validateChannelConfig } from '../../src/alerts/channels/create_channel.js';
import { NotificationDispatcher } from '../../src/alerts/notification_dispatcher.js';
import { parseSmtpServers } from '../../src/alerts/channels/smtp_servers.js';
import { STRICT_EGRESS } from '../../src/net/egress_guard.js';
import type { AlertView } from '../../src/alerts/alert.js';
import { harness, T0, type Harness } from './alerts_test_kit.js';

function view(id: string): AlertView {
  return {
    alert_id: id, rule_id: 'r', name: 'n', state: 'firing', priority: 'LOW', series: { metric_id: 'm', tags: {} }, value: 1, threshold: 0,
    anomaly_score: null, started_at: '', fired_at: '', resolved_at: null, acknowledged: false, acknowledged_by: null, acknowledged_at: null,
    acknowledgement_comment: null, escalation_level: 0, silenced: false, labels: {}, annotations: {},
  };
}

const batch = (channel: string, ...ids: string[]): NotificationBatch => ({ channel_id: channel, created_at: 0, events: ids.map((id) => ({ kind: 'firing', alert: view(id) })) });

/** A channel whose sends wait until released, to build a backlog. */
class GatedChannel implements NotificationChannel {
  readonly type = 'custom';
  readonly sent: string[][] = [];
  #release: Array<() => void> = [];
  constructor(readonly id: string) {}
  send(b: NotificationBatch): Promise<void> {
    return new Promise((resolve) => {
      this.#release.push(() => {
        this.sent.push(b.events.map((e) => e.alert.alert_id));
        resolve();
      });
    });
  }
  releaseAll(): void {
    for (const r of this.#release.splice(0)) r();
  }
  get waiting(): number {
    return this.#release.length;
  }
}

describe('NotificationDispatcher', () => {
  it('merges batches that wait behind a busy channel and keeps other channels flowing', async () => {
    const d = new NotificationDispatcher();
    const slow = new GatedChannel('slow');
    const fast: string[][] = [];
    d.setChannel(slow);
    d.setChannel({ id: 'fast', type: 'custom', send: async (b) => void fast.push(b.events.map((e) => e.alert.alert_id)) });
    d.enqueue(batch('slow', 'a'));
    d.enqueue(batch('slow', 'b'));
    d.enqueue(batch('slow', 'c', 'd'));
    d.enqueue(batch('fast', 'x'));
    await new Promise((r) => setImmediate(r));
    expect(fast).toEqual([['x']]); // not held up by the slow channel
    expect(slow.waiting).toBe(1);
    slow.releaseAll();
    await new Promise((r) => setImmediate(r));
    slow.releaseAll();
    await d.idle();
    expect(slow.sent).toEqual([['a'], ['b', 'c', 'd']]);
    expect(d.stats().find((s) => s.channel_id === 'slow')).toMatchObject({ sent_batches: 2, sent_events: 4, queued_batches: 0 });
  });

  it('drops the oldest batch beyond maxQueuedBatches and counts it', async () => {
    const d = new NotificationDispatcher({ maxQueuedBatches: 1 });
    const slow = new GatedChannel('slow');
    d.setChannel(slow);
    const big = (id: string): NotificationBatch => batch('slow', ...Array.from({ length: 300 }, (_, i) => `${id}${i}`));
    d.enqueue(big('a')); // in flight
    d.enqueue(big('b')); // queued
    d.enqueue(big('c')); // 600 events would exceed a merged batch: queued separately, b dropped
    expect(d.stats()[0]!.dropped_batches).toBe(1);
    for (let i = 0; i < 3; i++) {
      slow.releaseAll();
      await new Promise((r) => setImmediate(r));
    }
    await d.idle();
    expect(slow.sent.map((s) => s[0])).toEqual(['a0', 'c0']);
  });

  it('gives up at once on non-retryable errors and after maxAttempts on retryable ones', async () => {
    const failed: Array<[string, number]> = [];
    const d = new NotificationDispatcher({ maxAttempts: 3, baseBackoffMs: 1, onFailed: (id, _b, _e, attempts) => failed.push([id, attempts]) });
    let permanentCalls = 0;
    let transientCalls = 0;
    d.setChannel({ id: 'p', type: 'custom', send: async () => { permanentCalls++; throw new ChannelDeliveryError('400', false, 400); } });
    d.setChannel({ id: 't', type: 'custom', send: async () => { transientCalls++; throw new ChannelDeliveryError('503', true, 503); } });
    d.enqueue(batch('p', 'a'));
    d.enqueue(batch('t', 'a'));
    await d.idle();
    expect(permanentCalls).toBe(1);
    expect(transientCalls).toBe(3);
    expect(failed.sort()).toEqual([['p', 1], ['t', 3]]);
    expect(d.stats().find((s) => s.channel_id === 't')).toMatchObject({ retries: 2, failed_batches: 1, last_error: '503' });
  });

  it('close() ends backoff waits so idle() resolves', async () => {
    const d = new NotificationDispatcher({ maxAttempts: 5, baseBackoffMs: 60_000 });
    d.setChannel({ id: 't', type: 'custom', send: async () => { throw new Error('down'); } });
    d.enqueue(batch('t', 'a'));
    await new Promise((r) => setImmediate(r));
    const idle = d.idle();
    d.close();
    await idle;
    expect(d.channelIds()).toEqual([]);
  });
});

describe('channel configuration', () => {
  it('validates configs naming the field and the value', () => {
    const smtpServers = parseSmtpServers({ relay: { host: 'smtp.example.org', port: 587 } });
    const ctx = { smtpServers, egress: STRICT_EGRESS };
    expect(() => validateChannelConfig({ id: 'w', type: 'webhook', url: 'not a url' }, ctx)).toThrow('channels.w.url="(not a URL, 9 characters)" must be an http(s) URL');
    expect(() => validateChannelConfig({ id: 'bad id', type: 'webhook' }, ctx)).toThrow(/channel.id="bad id" must match/);
    expect(() => validateChannelConfig({ id: 'w', type: 'webhook', url: 'http://x', headers: { Host: 'evil' } }, ctx)).toThrow(/channels.w.headers.Host="\(set\)" may not be set/);
    expect(() => validateChannelConfig({ id: 'e', type: 'email', smtp_server: 'relay', to: 'not-an-address' }, ctx)).toThrow(/channels.e.to="not-an-address" is not an email address/);
    expect(() => validateChannelConfig({ id: 'e', type: 'email', smtp_server: 'relay', port: 70000, to: 'a@b.c' }, ctx)).toThrow(/channels.e.port=70000 is not accepted/);
    expect(() => validateChannelConfig({ id: 'a', type: 'alertmanager', url: 'http://am:9093', refresh_interval_seconds: 0 }, ctx)).toThrow(/refresh_interval_seconds=0/);
    const email = createChannel({ id: 'e', type: 'email', smtp_server: 'relay', to: 'a@example.org, b@example.org' }, ctx);
    expect(email.type).toBe('email');
    email.close?.();
  });

  it('parses SMTP servers without ever showing a password', () => {
    const servers = parseSmtpServers({ relay: { host: 'smtp.example.org', port: 465, username: 'alerts', password: 'hunter2' } });
    expect(servers.get('relay')).toMatchObject({ host: 'smtp.example.org', port: 465, secure: true, starttls: false, username: 'alerts', password: 'hunter2' });
    expect(() => parseSmtpServers({ relay: { host: 'h', password: 'hunter2' } })).toThrow('alerting.smtp_servers.relay.username=undefined is required with a password');
    expect(() => parseSmtpServers({ relay: { host: 'h', username: 'u', password: 5 } })).toThrow('alerting.smtp_servers.relay.password="(hidden)" must be a string');
    expect(() => parseSmtpServers({ relay: { host: 'h', username: 'u', password: 'x', password_file: '/f' } })).toThrow(/password="\(hidden\)" and password_file are exclusive/);
    expect(() => parseSmtpServers({ relay: { host: 'h', pasword: 'hunter2' } })).toThrow('alerting.smtp_servers.relay.pasword="(set)" is not a known setting (host, port, secure, starttls, username, password, password_file, from, tls_reject_unauthorized, timeout_ms)');
    let message = '';
    try {
      alertingOptionsFromConfig({ channels: { id: 'x', secret: 'hunter2' } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('alerting.channels=(an object) must be an array of channel objects');
  });

  it('maps the main.json alerting section to options', () => {
    expect(alertingOptionsFromConfig({
      interval_seconds: 30, predefined_rules: false, default_channels: ['ops'], channels: [{ id: 'ops', type: 'webhook', url: 'http://x' }],
      notifications: { max_attempts: 3, base_backoff_ms: 100 },
      remediation: { dry_run: true, max_actions_per_hour: 5, commands: { isolate: '/usr/local/bin/isolate' } },
      rules: [{ name: 'r' }],
    })).toEqual({
      rules: [{ name: 'r' }],
      intervalSeconds: 30, predefinedRules: false, defaultChannels: ['ops'], channels: [{ id: 'ops', type: 'webhook', url: 'http://x' }],
      dispatcher: { maxAttempts: 3, baseBackoffMs: 100 },
      remediation: { dryRun: true, maxActionsPerHour: 5, commands: { isolate: '/usr/local/bin/isolate' } },
    });
    expect(() => alertingOptionsFromConfig({ interval_seconds: -1 })).toThrow(/alerting.interval_seconds=-1 must be a positive number/);
    expect(() => alertingOptionsFromConfig({ remediation: { commands: { x: 'relative/path' } } })).toThrow(/alerting.remediation.commands.x="relative\/path" must be an absolute path/);
    // Channels are checked at configuration time, naming the field (the email server must be configured).
    expect(() => alertingOptionsFromConfig({ channels: [{ id: 'ops', type: 'email', smtp_server: 'nowhere', to: ['a@example.org'] }] })).toThrow(/channels\.ops\.smtp_server/);
    expect(() => alertingOptionsFromConfig({ channels: [{ id: 'hook', type: 'webhook', url: 'ftp://x' }] })).toThrow(/channels\.hook\.url/);
  });
});

describe('scheduling', () => {
  let h: Harness;
  afterEach(async () => {
    vi.useRealTimers();
    await h?.cleanup();
  });

  it('start() evaluates every interval until stop()', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    h = harness({ intervalSeconds: 15 });
    h.alerting.addRule('default', { rule_id: 'cpu', name: 'cpu', metric_pattern: 'cpu', threshold_value: 1 });
    h.system.add('cpu', {}, T0, 5);
    h.alerting.start();
    await vi.advanceTimersByTimeAsync(1);
    expect(h.alerting.status('default').cycles).toBe(1);
    await vi.advanceTimersByTimeAsync(15_000 * 3);
    expect(h.alerting.status('default').cycles).toBe(4);
    expect(h.alerting.listAlerts('default', { state: 'firing' })).toHaveLength(1);
    await h.alerting.stop();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(h.alerting.isOpen).toBe(false);
  });
});
