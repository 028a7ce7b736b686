/**
 * Slack-compatible incoming webhook (Slack, Mattermost, Rocket.Chat accept the same body):
 * `text` carries the summary line, one attachment per batch lists the events, coloured by the
 * most severe event.
 */
import { batchTitle, describeEvent, type NotificationBatch, type NotificationChannel } from './channel.js';
import type { EgressPolicy } from '../../net/egress_guard.js';
import { DEFAULT_HTTP_TIMEOUT_MS, postOnce } from './http_post.js';

export interface SlackChannelConfig {
  id: string;
  type: 'slack';
  url: string;
  username?: string;
  channel?: string;
  timeout_ms?: number;
}

const COLOR_FIRING = '#d62728';
const COLOR_RESOLVED = '#2ca02c';

export function slackPayload(batch: NotificationBatch, config: Pick<SlackChannelConfig, 'username' | 'channel'>): Record<string, unknown> {
  const firing = batch.events.some((e) => e.kind !== 'resolved');
  const payload: Record<string, unknown> = {
    text: batchTitle(batch),
    attachments: [
      {
        color: firing ? COLOR_FIRING : COLOR_RESOLVED,
        text: batch.events.map(describeEvent).join('\n'),
        ts: Math.floor(batch.created_at / 1000),
      },
    ],
  };
  if (config.username) payload.username = config.username;
  if (config.channel) payload.channel = config.channel;
  return payload;
}

export class SlackChannel implements NotificationChannel {
  readonly type = 'slack' as const;
  readonly id: string;

  constructor(
    private readonly config: SlackChannelConfig,
    private readonly egress: EgressPolicy,
  ) {
    this.id = config.id;
  }

  async send(batch: NotificationBatch): Promise<void> {
    const body = JSON.stringify(slackPayload(batch, this.config));
    // The path after its first segment is the webhook's token: errors show only `/services/[redacted]`.
    await postOnce(this.config.url, body, {}, { timeoutMs: this.config.timeout_ms ?? DEFAULT_HTTP_TIMEOUT_MS, egress: this.egress, keepPathSegments: 1 });
  }
}
