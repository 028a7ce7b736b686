/**
 * Generic JSON webhook. The body is the whole batch; with a secret, the header
 * `x-emms-signature-256: sha256=<hex HMAC-SHA256 of the raw body>` lets the receiver check that
 * EMMS sent it (the same scheme as GitHub's X-Hub-Signature-256, so existing verifiers work).
 */
import { createHmac } from 'node:crypto';
import type { NotificationBatch, NotificationChannel } from './channel.js';
import type { EgressPolicy } from '../../net/egress_guard.js';
import { DEFAULT_HTTP_TIMEOUT_MS, postOnce } from './http_post.js';

export const SIGNATURE_HEADER = 'x-emms-signature-256';

export interface WebhookChannelConfig {
  id: string;
  type: 'webhook';
  url: string;
  secret?: string;
  headers?: Record<string, string>;
  timeout_ms?: number;
}

export function signBody(secret: string, body: string): string {
  return 'sha256=' + createHmac('sha256', secret).update(body).digest('hex');
}

export function webhookPayload(batch: NotificationBatch): Record<string, unknown> {
  const firing = batch.events.some((e) => e.kind !== 'resolved');
  return {
    version: '1',
    channel_id: batch.channel_id,
    status: firing ? 'firing' : 'resolved',
    created_at: new Date(batch.created_at).toISOString(),
    events: batch.events.map((e) => ({ kind: e.kind, alert: e.alert })),
  };
}

export class WebhookChannel implements NotificationChannel {
  readonly type = 'webhook' as const;
  readonly id: string;

  constructor(
    private readonly config: WebhookChannelConfig,
    private readonly egress: EgressPolicy,
  ) {
    this.id = config.id;
  }

  async send(batch: NotificationBatch): Promise<void> {
    const body = JSON.stringify(webhookPayload(batch));
    const headers: Record<string, string> = { ...this.config.headers };
    if (this.config.secret) headers[SIGNATURE_HEADER] = signBody(this.config.secret, body);
    await postOnce(this.config.url, body, headers, { timeoutMs: this.config.timeout_ms ?? DEFAULT_HTTP_TIMEOUT_MS, egress: this.egress });
  }
}
