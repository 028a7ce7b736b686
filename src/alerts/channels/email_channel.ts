/**
 * Email over SMTP with nodemailer: STARTTLS (required when `starttls` is true, opportunistic
 * otherwise), implicit TLS with `secure` (port 465), and authentication. Missing settings come
 * from the seed's environment variables:
 *
 *   SMTP_HOST, SMTP_PORT (default 587), SMTP_USERNAME (or SMTP_USER), SMTP_PASSWORD,
 *   SMTP_FROM (default emms@<hostname>), SMTP_TO (comma-separated recipients),
 *   SMTP_USE_TLS / SMTP_STARTTLS (true: require STARTTLS), SMTP_SECURE (true: implicit TLS).
 *
 * One message per batch: the subject counts the events, the body lists one line per alert.
 */
import { hostname } from 'node:os';
import nodemailer from 'nodemailer';
import { batchTitle, ChannelConfigError, ChannelDeliveryError, describeEvent, type NotificationBatch, type NotificationChannel } from './channel.js';

export interface EmailChannelConfig {
  id: string;
  type: 'email';
  to?: string[] | string;
  from?: string;
  host?: string;
  port?: number;
  username?: string;
  password?: string;
  /** Require STARTTLS (refuse to send in clear). */
  starttls?: boolean;
  /** Implicit TLS from the first byte (port 465). */
  secure?: boolean;
  /** Set false only for test servers with self-signed certificates. */
  tls_reject_unauthorized?: boolean;
  timeout_ms?: number;
}

function envFlag(v: string | undefined): boolean | undefined {
  if (v === undefined || v === '') return undefined;
  return /^(1|true|yes|on)$/i.test(v);
}

/** The config with every missing setting taken from SMTP_* variables; validated. */
export function resolveEmailConfig(config: EmailChannelConfig, env: NodeJS.ProcessEnv): Required<Omit<EmailChannelConfig, 'username' | 'password'>> & { username?: string; password?: string } {
  const host = config.host ?? env.SMTP_HOST;
  if (typeof host !== 'string' || host === '') throw new ChannelConfigError(`channels.${config.id}.host=${JSON.stringify(host)} must name the SMTP server (or set SMTP_HOST)`, 'host', host);
  const port = config.port ?? (env.SMTP_PORT ? Number(env.SMTP_PORT) : 587);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ChannelConfigError(`channels.${config.id}.port=${String(port)} must be an integer in [1, 65535]`, 'port', port);
  const toRaw = config.to ?? env.SMTP_TO ?? '';
  const to = (Array.isArray(toRaw) ? toRaw : toRaw.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (to.length === 0) throw new ChannelConfigError(`channels.${config.id}.to must list at least one recipient (or set SMTP_TO)`, 'to', config.to);
  for (const addr of to) {
    if (!/^[^\s@<>]+@[^\s@<>]+$/.test(addr)) throw new ChannelConfigError(`channels.${config.id}.to=${JSON.stringify(addr)} is not an email address`, 'to', addr);
  }
  const out: ReturnType<typeof resolveEmailConfig> = {
    id: config.id,
    type: 'email',
    to,
    from: config.from ?? env.SMTP_FROM ?? `emms@${hostname()}`,
    host,
    port,
    starttls: config.starttls ?? envFlag(env.SMTP_USE_TLS) ?? envFlag(env.SMTP_STARTTLS) ?? false,
    secure: config.secure ?? envFlag(env.SMTP_SECURE) ?? port === 465,
    tls_reject_unauthorized: config.tls_reject_unauthorized ?? true,
    timeout_ms: config.timeout_ms ?? 15_000,
  };
  const username = config.username ?? env.SMTP_USERNAME ?? env.SMTP_USER;
  const password = config.password ?? env.SMTP_PASSWORD;
  if (username) out.username = username;
  if (password) out.password = password;
  return out;
}

export class EmailChannel implements NotificationChannel {
  readonly type = 'email' as const;
  readonly id: string;
  readonly #transport: nodemailer.Transporter;
  readonly #from: string;
  readonly #to: string[];

  constructor(config: EmailChannelConfig, env: NodeJS.ProcessEnv = process.env) {
    const c = resolveEmailConfig(config, env);
    this.id = c.id;
    this.#from = c.from;
    this.#to = c.to as string[];
    this.#transport = nodemailer.createTransport({
      host: c.host,
      port: c.port,
      secure: c.secure,
      requireTLS: c.starttls,
      auth: c.username ? { user: c.username, pass: c.password ?? '' } : undefined,
      tls: { rejectUnauthorized: c.tls_reject_unauthorized },
      connectionTimeout: c.timeout_ms,
      greetingTimeout: c.timeout_ms,
      socketTimeout: c.timeout_ms,
    });
  }

  async send(batch: NotificationBatch): Promise<void> {
    const lines = batch.events.map(describeEvent);
    const details = batch.events.map((e) => JSON.stringify({ kind: e.kind, ...e.alert }, null, 2));
    try {
      await this.#transport.sendMail({
        from: this.#from,
        to: this.#to,
        subject: batchTitle(batch),
        text: `${lines.join('\n')}\n\n-- details --\n${details.join('\n')}\n`,
        headers: { 'X-EMMS-Channel': this.id },
      });
    } catch (err) {
      const e = err as Error & { responseCode?: number; code?: string };
      // SMTP 5xx replies (bad recipient, authentication refused) are permanent; 4xx and
      // connection problems are worth another attempt.
      const permanent = (e.responseCode !== undefined && e.responseCode >= 500) || e.code === 'EAUTH';
      throw new ChannelDeliveryError(`SMTP delivery failed: ${e.message}`, !permanent, e.responseCode, { cause: err });
    }
  }

  close(): void {
    this.#transport.close();
  }
}
