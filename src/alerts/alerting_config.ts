/**
 * The `alerting` section of main.json → AlertingOptions. Every field is optional:
 *
 *   "alerting": {
 *     "interval_seconds": 15,            evaluation period
 *     "stale_after_seconds": 300,        a newer point is needed for `last` rules
 *     "resolve_after_seconds": 0,        default flap damping of rules
 *     "predefined_rules": true,          install the seed's four rules in a new database
 *     "retention_days": 30,              resolved alerts, history, audit
 *     "smtp_servers": { "relay": { "host": "smtp.example.org", "port": 587, "starttls": true,
 *                                  "username": "alerts", "password_file": "/etc/emms/smtp.pass" } },
 *     "channels": [ { "id": "ops", "type": "webhook", "url": "https://…", "secret": "…" },
 *                   { "id": "chat", "type": "slack", "url": "https://hooks.slack.com/…" },
 *                   { "id": "mail", "type": "email", "smtp_server": "relay", "to": ["pki@example.org"] },
 *                   { "id": "am", "type": "alertmanager", "url": "http://alertmanager:9093" } ],
 *     "default_channels": ["ops"],       for rules naming none (default: all)
 *     "rules": [ { "rule_id": "isolate", …, "remediation": [{ "type": "command", "command": "isolate-host" }] } ],
 *     "notifications": { "max_attempts": 5, "base_backoff_ms": 500, "max_backoff_ms": 30000 },
 *     "remediation": { "dry_run": false, "max_actions_per_hour": 30,
 *                      "commands": { "isolate-host": "/usr/local/bin/isolate-host" } }
 *   }
 *
 * Channels, rules and SMTP servers of this section live in tenant `default`. Only `rules` here
 * may run `command` actions. Errors name the field; they never print a channel or a server
 * (either may hold a secret), only the offending field's value when it is not one.
 */
import { isAbsolute } from 'node:path';
import type { AlertingOptions } from './alerting_options.js';
import { parseSmtpServers } from './channels/smtp_servers.js';
import { validateChannelConfig } from './channels/create_channel.js';
import { STRICT_EGRESS } from '../net/egress_guard.js';

function fail(field: string, value: unknown, rule: string): never {
  throw new RangeError(`alerting.${field}=${describe(value)} ${rule}`);
}

/** Objects and arrays by shape only: a channel or rule object may hold a secret. */
function describe(value: unknown): string {
  if (Array.isArray(value)) return `(an array of ${value.length})`;
  if (typeof value === 'object' && value !== null) return '(an object)';
  return JSON.stringify(value) ?? String(value);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function positive(section: Record<string, unknown>, field: string, prefix = ''): number | undefined {
  const v = section[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) fail(prefix + field, v, 'must be a positive number');
  return v;
}

function nonNegative(section: Record<string, unknown>, field: string): number | undefined {
  const v = section[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail(field, v, 'must be a non-negative number');
  return v;
}

export function alertingOptionsFromConfig(section: unknown): Partial<AlertingOptions> {
  if (section === undefined || section === null) return {};
  if (!isObject(section)) fail('', section, 'must be an object');
  const out: Partial<AlertingOptions> = {};
  const interval = positive(section, 'interval_seconds');
  if (interval !== undefined) out.intervalSeconds = interval;
  const stale = positive(section, 'stale_after_seconds');
  if (stale !== undefined) out.staleAfterSeconds = stale;
  const resolveAfter = nonNegative(section, 'resolve_after_seconds');
  if (resolveAfter !== undefined) out.defaultResolveAfterSeconds = resolveAfter;
  const retention = positive(section, 'retention_days');
  if (retention !== undefined) out.retentionDays = retention;
  if (section.predefined_rules !== undefined) {
    if (typeof section.predefined_rules !== 'boolean') fail('predefined_rules', section.predefined_rules, 'must be a boolean');
    out.predefinedRules = section.predefined_rules;
  }
  if (section.channels !== undefined) {
    if (!Array.isArray(section.channels)) fail('channels', section.channels, 'must be an array of channel objects');
    out.channels = section.channels as unknown[];
  }
  if (section.smtp_servers !== undefined) out.smtpServers = parseSmtpServers(section.smtp_servers);
  // Channels are checked now, with the SMTP servers they may name, so that a bad one stops
  // start-up as a configuration error before anything is created in the data directory.
  for (const channel of out.channels ?? []) validateChannelConfig(channel, { smtpServers: out.smtpServers ?? new Map(), egress: STRICT_EGRESS });
  if (section.rules !== undefined) {
    // Validated when the alerting opens (they need the channels and the command allow-list).
    if (!Array.isArray(section.rules)) fail('rules', section.rules, 'must be an array of rule objects');
    out.rules = section.rules as unknown[];
  }
  if (section.default_channels !== undefined) {
    const d = section.default_channels;
    if (!Array.isArray(d) || d.some((c) => typeof c !== 'string')) fail('default_channels', d, 'must be an array of channel ids');
    out.defaultChannels = d as string[];
  }
  if (section.notifications !== undefined) {
    const n = section.notifications;
    if (!isObject(n)) fail('notifications', n, 'must be an object');
    const attempts = positive(n, 'max_attempts', 'notifications.');
    if (attempts !== undefined && !Number.isInteger(attempts)) fail('notifications.max_attempts', attempts, 'must be an integer');
    out.dispatcher = {};
    if (attempts !== undefined) out.dispatcher.maxAttempts = attempts;
    const base = positive(n, 'base_backoff_ms', 'notifications.');
    if (base !== undefined) out.dispatcher.baseBackoffMs = base;
    const max = positive(n, 'max_backoff_ms', 'notifications.');
    if (max !== undefined) out.dispatcher.maxBackoffMs = max;
  }
  if (section.remediation !== undefined) {
    const r = section.remediation;
    if (!isObject(r)) fail('remediation', r, 'must be an object');
    out.remediation = {};
    if (r.dry_run !== undefined) {
      if (typeof r.dry_run !== 'boolean') fail('remediation.dry_run', r.dry_run, 'must be a boolean');
      out.remediation.dryRun = r.dry_run;
    }
    if (r.max_actions_per_hour !== undefined) {
      const m = r.max_actions_per_hour;
      if (typeof m !== 'number' || !Number.isInteger(m) || m < 0) fail('remediation.max_actions_per_hour', m, 'must be a non-negative integer');
      out.remediation.maxActionsPerHour = m;
    }
    if (r.commands !== undefined) {
      if (!isObject(r.commands)) fail('remediation.commands', r.commands, 'must map command names to absolute executable paths');
      // A null-prototype object: `__proto__` or `constructor` are names like any other here,
      // never members of Object.prototype (remediation.ts looks them up in a Map anyway).
      const commands = Object.create(null) as Record<string, string>;
      for (const [name, path] of Object.entries(r.commands)) {
        if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) fail(`remediation.commands.${name}`, name, 'is not a valid command name ([A-Za-z0-9_.-]{1,64})');
        if (typeof path !== 'string' || !isAbsolute(path)) fail(`remediation.commands.${name}`, path, 'must be an absolute path to an executable');
        commands[name] = path;
      }
      out.remediation.commands = commands;
    }
  }
  return out;
}
