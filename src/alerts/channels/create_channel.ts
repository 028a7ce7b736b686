/**
 * The one factory `switch` over channel types (STYLE habit 3): a new channel type is one new
 * file plus one case here. Validates a raw config (from main.json or the API) naming the
 * offending field, and redacts configs for answers: every secret (webhook `secret` and header
 * values, Slack's token path, userinfo and query values of URLs) shows as `[redacted]`, and a
 * config sent back with that placeholder as a value is refused rather than stored.
 */
import type { EgressPolicy } from '../../net/egress_guard.js';
import { isHttpUrl, REDACTED, redactUrl } from '../redact.js';
import { AlertmanagerChannel } from './alertmanager_channel.js';
import { CHANNEL_ID_PATTERN, CHANNEL_TYPES, ChannelConfigError, type ChannelType, type NotificationChannel } from './channel.js';
import { EmailChannel, emailRecipients, SERVER_FIELDS, type EmailChannelConfig } from './email_channel.js';
import { SlackChannel } from './slack_channel.js';
import type { SmtpServerSettings } from './smtp_servers.js';
import { WebhookChannel } from './webhook_channel.js';

export type ChannelConfig = Record<string, unknown> & { id: string; type: ChannelType };

/** What building a channel needs beyond its config. */
export interface ChannelContext {
  /** alerting.smtp_servers, by name. */
  smtpServers: ReadonlyMap<string, SmtpServerSettings>;
  egress: EgressPolicy;
}

/** Headers a webhook config may not set: they belong to the request itself. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'content-type', 'transfer-encoding', 'connection', 'user-agent']);
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/;

function bad(id: string, field: string, shown: unknown, rule: string): never {
  throw new ChannelConfigError(`channels.${id}.${field}=${JSON.stringify(shown) ?? String(shown)} ${rule}`, field, shown);
}

function optionalPositive(id: string, config: Record<string, unknown>, field: string): void {
  const v = config[field];
  if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) bad(id, field, v, 'must be a positive number');
}

function checkUrl(id: string, c: Record<string, unknown>, rule: string, keepPath?: number): void {
  const url = c.url;
  if (!isHttpUrl(url)) bad(id, 'url', typeof url === 'string' ? redactUrl(url) : url, rule);
  if (url.includes(REDACTED)) bad(id, 'url', redactUrl(url, keepPath), `holds the placeholder ${REDACTED} of a redacted answer; send the full URL`);
}

/** Checks a raw config; returns it typed. Does not open connections. */
export function validateChannelConfig(raw: unknown, ctx: ChannelContext): ChannelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ChannelConfigError('channel config must be an object with id and type', '', '(not an object)');
  const c = raw as Record<string, unknown>;
  const id = c.id;
  if (typeof id !== 'string' || !CHANNEL_ID_PATTERN.test(id)) throw new ChannelConfigError(`channel.id=${JSON.stringify(id) ?? String(id)} must match ${CHANNEL_ID_PATTERN.source}`, 'id', id);
  if (typeof c.type !== 'string' || !(CHANNEL_TYPES as readonly string[]).includes(c.type)) bad(id, 'type', c.type, `must be one of ${CHANNEL_TYPES.join(', ')}`);
  optionalPositive(id, c, 'timeout_ms');
  const type = c.type as ChannelType;
  switch (type) {
    case 'webhook':
      checkUrl(id, c, 'must be an http(s) URL');
      if (c.secret !== undefined && (typeof c.secret !== 'string' || c.secret === '')) bad(id, 'secret', '(hidden)', 'must be a non-empty string');
      if (c.secret === REDACTED) bad(id, 'secret', REDACTED, 'is the placeholder of a redacted answer; send the real secret');
      if (c.headers !== undefined) {
        if (typeof c.headers !== 'object' || c.headers === null || Array.isArray(c.headers)) bad(id, 'headers', '(not an object)', 'must be an object of string values');
        for (const [name, value] of Object.entries(c.headers)) {
          if (!HEADER_NAME.test(name)) bad(id, `headers.${name}`, '(set)', 'is not a valid header name');
          if (RESERVED_HEADERS.has(name.toLowerCase())) bad(id, `headers.${name}`, '(set)', `may not be set (${[...RESERVED_HEADERS].join(', ')} belong to the request)`);
          if (typeof value !== 'string' || /[\r\n]/.test(value)) bad(id, `headers.${name}`, '(hidden)', 'must be a string without line breaks');
          if (value === REDACTED) bad(id, `headers.${name}`, REDACTED, 'is the placeholder of a redacted answer; send the real value');
        }
        // Header names are case-insensitive: kept lower-case, as node sends them.
        return { ...c, headers: Object.fromEntries(Object.entries(c.headers as Record<string, string>).map(([n, v]) => [n.toLowerCase(), v])) } as unknown as ChannelConfig;
      }
      break;
    case 'slack':
      checkUrl(id, c, 'must be an http(s) URL', 1);
      break;
    case 'alertmanager':
      checkUrl(id, c, 'must be an http(s) base URL such as http://alertmanager:9093');
      optionalPositive(id, c, 'refresh_interval_seconds');
      break;
    case 'email': {
      for (const field of SERVER_FIELDS) {
        if (c[field] !== undefined) bad(id, field, field === 'password' ? '(hidden)' : c[field], 'is not accepted: email channels name an SMTP server of the configuration file (smtp_server); the server holds host, port, TLS and credentials');
      }
      const server = c.smtp_server;
      if (typeof server !== 'string' || !ctx.smtpServers.has(server)) {
        const known = [...ctx.smtpServers.keys()].join(', ') || 'none configured in alerting.smtp_servers';
        bad(id, 'smtp_server', server, `must name an SMTP server of the configuration file (known: ${known})`);
      }
      emailRecipients(c, id);
      break;
    }
  }
  return c as ChannelConfig;
}

export function createChannel(raw: unknown, ctx: ChannelContext): NotificationChannel {
  const c = validateChannelConfig(raw, ctx);
  switch (c.type) {
    case 'webhook':
      return new WebhookChannel(c as never, ctx.egress);
    case 'slack':
      return new SlackChannel(c as never, ctx.egress);
    case 'alertmanager':
      return new AlertmanagerChannel(c as never, ctx.egress);
    case 'email': {
      const config = c as unknown as EmailChannelConfig;
      return new EmailChannel(config, ctx.smtpServers.get(config.smtp_server)!, ctx.egress);
    }
  }
}

/** The config as answers and logs show it: every secret replaced by `[redacted]`. */
export function redactChannelConfig(c: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) {
    if (v === undefined) continue;
    if (k === 'secret' || k === 'password') out[k] = REDACTED;
    else if (k === 'headers' && typeof v === 'object' && v !== null) out[k] = Object.fromEntries(Object.keys(v).map((h) => [h, REDACTED]));
    else if (k === 'url' && typeof v === 'string') out[k] = redactUrl(v, c.type === 'slack' ? 1 : Infinity);
    else out[k] = v;
  }
  return out;
}
