/**
 * The notification channel contract. A channel delivers one batch (every event of one cycle
 * for that channel, so many alerts at once become one message) and throws a
 * ChannelDeliveryError on failure; retries, backoff, queueing and failure counting belong to
 * the NotificationDispatcher, so a channel stays a plain "send once" adapter.
 *
 * Lifecycle: created from a validated config by `createChannel`; `send` may be called again
 * after a failure (that is how retries work); `close()` once when the channel is removed.
 */
import type { AlertView } from '../alert.js';

export const CHANNEL_TYPES = ['webhook', 'slack', 'email', 'alertmanager'] as const;
export type ChannelType = (typeof CHANNEL_TYPES)[number];

/**
 * `refresh` re-sends alerts that are still firing to receivers that expire them otherwise
 * (Alertmanager resolves an alert it has not heard about for resolve_timeout).
 */
export type NotificationKind = 'firing' | 'resolved' | 'escalated' | 'refresh';

export interface NotificationEvent {
  kind: NotificationKind;
  alert: AlertView;
}

export interface NotificationBatch {
  channel_id: string;
  events: NotificationEvent[];
  /** Epoch ms when the batch was formed (evaluation time). */
  created_at: number;
}

export interface NotificationChannel {
  readonly id: string;
  /** A ChannelType, or any name for channels registered in code (`registerChannel`). */
  readonly type: string;
  /** When set, the alerting re-sends firing alerts routed here at this period (kind `refresh`). */
  readonly refreshIntervalMs?: number;
  send(batch: NotificationBatch): Promise<void>;
  close?(): void;
}

/** A delivery attempt failed; `retryable` false for answers that will not change (4xx). */
export class ChannelDeliveryError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ChannelDeliveryError';
  }
}

/** A channel configuration that cannot work; names the field and the bad value. */
export class ChannelConfigError extends Error {
  constructor(
    message: string,
    readonly field: string,
    readonly value: unknown,
  ) {
    super(message);
    this.name = 'ChannelConfigError';
  }
}

export const CHANNEL_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/** One line per event, shared by the text channels (Slack, email). */
export function describeEvent(e: NotificationEvent): string {
  const a = e.alert;
  const what = e.kind === 'escalated' ? `ESCALATED (level ${a.escalation_level})` : e.kind.toUpperCase();
  const series = a.series.metric_id ?? 'group';
  const tags = Object.entries(a.series.tags).map(([k, v]) => `${k}=${v}`).join(',');
  const threshold = a.threshold === null ? '' : ` threshold ${a.threshold}`;
  const summary = a.annotations.summary ? ` — ${a.annotations.summary}` : '';
  return `[${what}] ${a.priority} ${a.name}: ${series}{${tags}} value ${a.value}${threshold}${summary}`;
}

export function batchTitle(batch: NotificationBatch): string {
  const counts = new Map<NotificationKind, number>();
  for (const e of batch.events) counts.set(e.kind, (counts.get(e.kind) ?? 0) + 1);
  const parts = [...counts].map(([k, n]) => `${n} ${k}`);
  const first = batch.events[0]?.alert.name ?? '';
  return `[EMMS] ${parts.join(', ')}${batch.events.length === 1 ? `: ${first}` : ''}`;
}
