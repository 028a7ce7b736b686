/**
 * The one factory `switch` over channel types (STYLE habit 3): a new channel type is one new
 * file plus one case here. Validates a raw config (from main.json or the API) and names the
 * offending field.
 */
import { AlertmanagerChannel } from './alertmanager_channel.js';
import { CHANNEL_ID_PATTERN, CHANNEL_TYPES, ChannelConfigError, type ChannelType, type NotificationChannel } from './channel.js';
import { EmailChannel, resolveEmailConfig, type EmailChannelConfig } from './email_channel.js';
import { validateHttpUrl } from './http_post.js';
import { SlackChannel } from './slack_channel.js';
import { WebhookChannel } from './webhook_channel.js';

export type ChannelConfig = Record<string, unknown> & { id: string; type: ChannelType };

function bad(id: string, field: string, value: unknown, rule: string): never {
  throw new ChannelConfigError(`channels.${id}.${field}=${JSON.stringify(value) ?? String(value)} ${rule}`, field, value);
}

function optionalPositive(id: string, config: Record<string, unknown>, field: string): void {
  const v = config[field];
  if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v <= 0)) bad(id, field, v, 'must be a positive number');
}

/** Checks a raw config; returns it typed. Does not open connections. */
export function validateChannelConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): ChannelConfig {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ChannelConfigError('channel config must be an object with id and type', '', raw);
  const c = raw as Record<string, unknown>;
  const id = c.id;
  if (typeof id !== 'string' || !CHANNEL_ID_PATTERN.test(id)) throw new ChannelConfigError(`channel.id=${JSON.stringify(id) ?? String(id)} must match ${CHANNEL_ID_PATTERN.source}`, 'id', id);
  if (typeof c.type !== 'string' || !(CHANNEL_TYPES as readonly string[]).includes(c.type)) bad(id, 'type', c.type, `must be one of ${CHANNEL_TYPES.join(', ')}`);
  optionalPositive(id, c, 'timeout_ms');
  const type = c.type as ChannelType;
  switch (type) {
    case 'webhook':
      if (!validateHttpUrl(c.url)) bad(id, 'url', c.url, 'must be an http(s) URL');
      if (c.secret !== undefined && (typeof c.secret !== 'string' || c.secret === '')) bad(id, 'secret', '(hidden)', 'must be a non-empty string');
      if (c.headers !== undefined) {
        if (typeof c.headers !== 'object' || c.headers === null || Object.values(c.headers).some((v) => typeof v !== 'string')) bad(id, 'headers', c.headers, 'must be an object of string values');
      }
      break;
    case 'slack':
      if (!validateHttpUrl(c.url)) bad(id, 'url', c.url, 'must be an http(s) URL');
      break;
    case 'alertmanager':
      if (!validateHttpUrl(c.url)) bad(id, 'url', c.url, 'must be an http(s) base URL such as http://alertmanager:9093');
      optionalPositive(id, c, 'refresh_interval_seconds');
      break;
    case 'email':
      resolveEmailConfig(c as unknown as EmailChannelConfig, env);
      break;
  }
  return c as ChannelConfig;
}

export function createChannel(raw: unknown, env: NodeJS.ProcessEnv = process.env): NotificationChannel {
  const c = validateChannelConfig(raw, env);
  switch (c.type) {
    case 'webhook':
      return new WebhookChannel(c as never);
    case 'slack':
      return new SlackChannel(c as never);
    case 'alertmanager':
      return new AlertmanagerChannel(c as never);
    case 'email':
      return new EmailChannel(c as unknown as EmailChannelConfig, env);
  }
}

const SECRET_FIELDS = new Set(['secret', 'password']);

/** The config as the API shows it: secrets replaced by "***". */
export function redactChannelConfig(c: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) out[k] = SECRET_FIELDS.has(k) && v !== undefined ? '***' : v;
  return out;
}
