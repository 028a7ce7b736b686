/**
 * Email over SMTP with nodemailer, through one of the configuration's named SMTP servers
 * (smtp_servers.ts): STARTTLS (required when the server says `starttls`, opportunistic
 * otherwise), implicit TLS with `secure` (port 465), and authentication with the server's
 * credentials. A channel chooses only the recipients.
 *
 * Egress: nodemailer resolves names itself and takes no `lookup`, so each send resolves the
 * host once with resolveEgress (refusing internal addresses unless allowed) and connects to
 * that address, with the host name as TLS servername for SNI and certificate checks.
 *
 * One message per batch: the subject counts the events, the body lists one line per alert.
 */
import { isIP } from 'node:net';
import nodemailer from 'nodemailer';
import { resolveEgress, type EgressPolicy } from '../../net/egress_guard.js';
import { batchTitle, ChannelConfigError, ChannelDeliveryError, describeEvent, type NotificationBatch, type NotificationChannel } from './channel.js';
import { smtpPassword, type SmtpServerSettings } from './smtp_servers.js';

export interface EmailChannelConfig {
  id: string;
  type: 'email';
  to: string[] | string;
  /** Name of a server in alerting.smtp_servers. */
  smtp_server: string;
  timeout_ms?: number;
}

/** Settings an email channel may not carry: they belong to the configuration's SMTP servers. */
export const SERVER_FIELDS = ['host', 'port', 'username', 'password', 'secure', 'starttls', 'from', 'tls_reject_unauthorized'] as const;

/** Validated recipients; errors name the field. */
export function emailRecipients(config: Record<string, unknown>, id: string): string[] {
  const toRaw = config.to;
  if (toRaw !== undefined && typeof toRaw !== 'string' && !(Array.isArray(toRaw) && toRaw.every((t) => typeof t === 'string'))) {
    throw new ChannelConfigError(`channels.${id}.to must be an address or an array of addresses`, 'to', toRaw);
  }
  const to = (toRaw === undefined ? [] : Array.isArray(toRaw) ? (toRaw as string[]) : toRaw.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  if (to.length === 0) throw new ChannelConfigError(`channels.${id}.to must list at least one recipient`, 'to', toRaw);
  if (to.length > 100) throw new ChannelConfigError(`channels.${id}.to lists ${to.length} recipients; at most 100`, 'to', to.length);
  for (const addr of to) {
    if (!/^[^\s@<>,]+@[^\s@<>,]+$/.test(addr)) throw new ChannelConfigError(`channels.${id}.to=${JSON.stringify(addr)} is not an email address`, 'to', addr);
  }
  return to;
}

export class EmailChannel implements NotificationChannel {
  readonly type = 'email' as const;
  readonly id: string;
  readonly #server: SmtpServerSettings;
  readonly #password: string | undefined;
  readonly #to: string[];
  readonly #egress: EgressPolicy;
  readonly #timeoutMs: number;

  constructor(config: EmailChannelConfig, server: SmtpServerSettings, egress: EgressPolicy) {
    this.id = config.id;
    this.#server = server;
    this.#password = smtpPassword(server);
    this.#to = emailRecipients(config as unknown as Record<string, unknown>, config.id);
    this.#egress = egress;
    this.#timeoutMs = config.timeout_ms ?? server.timeoutMs;
  }

  async send(batch: NotificationBatch): Promise<void> {
    const s = this.#server;
    let address: string;
    try {
      address = (await resolveEgress(s.host, this.#egress)).address;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ChannelDeliveryError(`SMTP server ${s.name} (${s.host}): ${e.code === 'EEGRESS' ? e.message : `cannot resolve: ${e.code ?? e.message}`}`, e.code !== 'EEGRESS', undefined, { cause: err });
    }
    const transport = nodemailer.createTransport({
      host: address,
      port: s.port,
      secure: s.secure,
      requireTLS: s.starttls,
      auth: s.username !== undefined ? { user: s.username, pass: this.#password ?? '' } : undefined,
      // SNI and the certificate check use the configured name (never an address: SNI forbids it).
      tls: { rejectUnauthorized: s.tlsRejectUnauthorized, ...(isIP(s.host) === 0 ? { servername: s.host } : {}) },
      connectionTimeout: this.#timeoutMs,
      greetingTimeout: this.#timeoutMs,
      socketTimeout: this.#timeoutMs,
    });
    const lines = batch.events.map(describeEvent);
    const details = batch.events.map((e) => JSON.stringify({ kind: e.kind, ...e.alert }, null, 2));
    try {
      await transport.sendMail({
        from: s.from,
        to: this.#to,
        subject: batchTitle(batch),
        text: `${lines.join('\n')}\n\n-- details --\n${details.join('\n')}\n`,
        headers: { 'X-EMMS-Channel': this.id },
      });
    } catch (err) {
      const e = err as Error & { responseCode?: number; code?: string };
      // SMTP 5xx replies (bad recipient, authentication refused) are permanent; 4xx and
      // connection problems are worth another attempt. The server's reply text is not kept.
      const permanent = (e.responseCode !== undefined && e.responseCode >= 500) || e.code === 'EAUTH';
      throw new ChannelDeliveryError(`SMTP delivery via ${s.name} failed: ${e.code ?? 'error'}${e.responseCode !== undefined ? ` (reply ${e.responseCode})` : ''}`, !permanent, e.responseCode, { cause: err });
    } finally {
      transport.close();
    }
  }
}
