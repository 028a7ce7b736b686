/**
 * The SMTP servers of the configuration file (`alerting.smtp_servers`), the only place SMTP
 * credentials live. Email channels, whether from the configuration or the API, name one of
 * them (`smtp_server: "name"`) and choose recipients only: an API client can no longer point
 * EMMS at a host of its choice and have it log in there with the server's credentials, and no
 * channel takes anything from the environment.
 *
 *   "smtp_servers": {
 *     "relay": { "host": "smtp.example.org", "port": 587, "starttls": true,
 *                "username": "alerts", "password_file": "/etc/emms/smtp.pass",
 *                "from": "emms@example.org" }
 *   }
 *
 * `password` inline or `password_file` (read when a channel is built, trailing newline
 * dropped). The host is reached under the egress policy like every destination
 * (`security.egress_allow` for a relay on an internal address).
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

export interface SmtpServerSettings {
  name: string;
  host: string;
  port: number;
  /** Implicit TLS from the first byte (port 465). */
  secure: boolean;
  /** Require STARTTLS (refuse to send in clear). */
  starttls: boolean;
  username?: string;
  password?: string;
  passwordFile?: string;
  from: string;
  /** Set false only for test servers with self-signed certificates. */
  tlsRejectUnauthorized: boolean;
  timeoutMs: number;
}

export const SMTP_SERVER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function fail(field: string, value: unknown, rule: string): never {
  throw new RangeError(`alerting.smtp_servers.${field}=${JSON.stringify(value) ?? String(value)} ${rule}`);
}

/** Parses `alerting.smtp_servers`; errors name the field and never show a password. */
export function parseSmtpServers(section: unknown): Map<string, SmtpServerSettings> {
  const out = new Map<string, SmtpServerSettings>();
  if (section === undefined) return out;
  if (typeof section !== 'object' || section === null || Array.isArray(section)) {
    throw new RangeError('alerting.smtp_servers must be an object of named servers {name: {host, port, ...}}');
  }
  for (const [name, raw] of Object.entries(section)) {
    if (!SMTP_SERVER_NAME.test(name)) fail(name, name, `is not a valid server name (${SMTP_SERVER_NAME.source})`);
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(name, '(not an object)', 'must be an object {host, port, ...}');
    const c = raw as Record<string, unknown>;
    const known = new Set(['host', 'port', 'secure', 'starttls', 'username', 'password', 'password_file', 'from', 'tls_reject_unauthorized', 'timeout_ms']);
    for (const k of Object.keys(c)) if (!known.has(k)) fail(`${name}.${k}`, '(set)', `is not a known setting (${[...known].join(', ')})`);
    if (typeof c.host !== 'string' || !/^[A-Za-z0-9.:[\]-]{1,253}$/.test(c.host)) fail(`${name}.host`, c.host, 'must be a host name or address');
    const port = c.port ?? 587;
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) fail(`${name}.port`, port, 'must be an integer in [1, 65535]');
    for (const flag of ['secure', 'starttls', 'tls_reject_unauthorized'] as const) {
      if (c[flag] !== undefined && typeof c[flag] !== 'boolean') fail(`${name}.${flag}`, c[flag], 'must be a boolean');
    }
    if (c.username !== undefined && (typeof c.username !== 'string' || c.username === '')) fail(`${name}.username`, c.username, 'must be a non-empty string');
    if (c.password !== undefined && typeof c.password !== 'string') fail(`${name}.password`, '(hidden)', 'must be a string');
    if (c.password_file !== undefined && (typeof c.password_file !== 'string' || c.password_file === '')) fail(`${name}.password_file`, c.password_file, 'must be a file path');
    if (c.password !== undefined && c.password_file !== undefined) fail(`${name}.password`, '(hidden)', 'and password_file are exclusive');
    if ((c.password !== undefined || c.password_file !== undefined) && c.username === undefined) fail(`${name}.username`, undefined, 'is required with a password');
    if (c.from !== undefined && (typeof c.from !== 'string' || !/^[^\s@<>]+@[^\s@<>]+$/.test(c.from))) fail(`${name}.from`, c.from, 'must be an email address');
    const timeout = c.timeout_ms ?? 15_000;
    if (typeof timeout !== 'number' || !(timeout > 0)) fail(`${name}.timeout_ms`, timeout, 'must be a positive number');
    const server: SmtpServerSettings = {
      name,
      host: c.host,
      port,
      secure: (c.secure as boolean | undefined) ?? port === 465,
      starttls: (c.starttls as boolean | undefined) ?? false,
      from: (c.from as string | undefined) ?? `emms@${hostname()}`,
      tlsRejectUnauthorized: (c.tls_reject_unauthorized as boolean | undefined) ?? true,
      timeoutMs: timeout,
    };
    if (c.username !== undefined) server.username = c.username as string;
    if (c.password !== undefined) server.password = c.password as string;
    if (c.password_file !== undefined) server.passwordFile = c.password_file as string;
    out.set(name, server);
  }
  return out;
}

/** The server's password, reading password_file now; errors name the file, never its contents. */
export function smtpPassword(server: SmtpServerSettings): string | undefined {
  if (server.passwordFile === undefined) return server.password;
  try {
    return readFileSync(server.passwordFile, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new RangeError(`alerting.smtp_servers.${server.name}.password_file=${JSON.stringify(server.passwordFile)} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
