/**
 * Prometheus Alertmanager, through its v2 API (`POST /api/v2/alerts`, an array of postable
 * alerts), so teams that already route, group and inhibit with Alertmanager keep doing so.
 *
 * Alertmanager resolves an alert it has not heard about for `resolve_timeout` (5 min by
 * default) unless endsAt says otherwise, so firing alerts carry endsAt = now + 4 refresh
 * periods and are re-sent every refresh period (the approach Prometheus itself takes).
 * Identity in Alertmanager is the label set, hence the alert id goes into the annotations.
 */
import type { NotificationBatch, NotificationChannel } from './channel.js';
import type { EgressPolicy } from '../../net/egress_guard.js';
import { DEFAULT_HTTP_TIMEOUT_MS, postOnce } from './http_post.js';

export interface AlertmanagerChannelConfig {
  id: string;
  type: 'alertmanager';
  /** Base URL, e.g. http://alertmanager:9093 */
  url: string;
  refresh_interval_seconds?: number;
  generator_url?: string;
  timeout_ms?: number;
}

export const DEFAULT_AM_REFRESH_SECONDS = 60;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function alertmanagerPayload(batch: NotificationBatch, refreshMs: number, generatorUrl?: string): Array<Record<string, unknown>> {
  return batch.events.map((e) => {
    const a = e.alert;
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(a.series.tags)) if (LABEL_NAME.test(k)) labels[k] = v;
    for (const [k, v] of Object.entries(a.labels)) if (LABEL_NAME.test(k)) labels[k] = v;
    labels.alertname = a.name;
    labels.rule_id = a.rule_id;
    labels.priority = a.priority;
    labels.severity = a.priority.toLowerCase();
    if (a.series.metric_id !== null) labels.metric_id = a.series.metric_id;
    const annotations: Record<string, string> = { ...a.annotations };
    annotations.alert_id = a.alert_id;
    annotations.value = String(a.value);
    if (a.threshold !== null) annotations.threshold = String(a.threshold);
    if (a.escalation_level > 0) annotations.escalation_level = String(a.escalation_level);
    if (a.acknowledged_by !== null) annotations.acknowledged_by = a.acknowledged_by;
    const out: Record<string, unknown> = {
      labels,
      annotations,
      startsAt: a.fired_at ?? a.started_at,
      endsAt: e.kind === 'resolved' && a.resolved_at !== null ? a.resolved_at : new Date(batch.created_at + 4 * refreshMs).toISOString(),
    };
    if (generatorUrl) out.generatorURL = generatorUrl;
    return out;
  });
}

export class AlertmanagerChannel implements NotificationChannel {
  readonly type = 'alertmanager' as const;
  readonly id: string;
  readonly refreshIntervalMs: number;
  readonly #endpoint: string;

  constructor(
    private readonly config: AlertmanagerChannelConfig,
    private readonly egress: EgressPolicy,
  ) {
    this.id = config.id;
    this.refreshIntervalMs = (config.refresh_interval_seconds ?? DEFAULT_AM_REFRESH_SECONDS) * 1000;
    this.#endpoint = config.url.replace(/\/+$/, '') + '/api/v2/alerts';
  }

  async send(batch: NotificationBatch): Promise<void> {
    const body = JSON.stringify(alertmanagerPayload(batch, this.refreshIntervalMs, this.config.generator_url));
    await postOnce(this.#endpoint, body, {}, { timeoutMs: this.config.timeout_ms ?? DEFAULT_HTTP_TIMEOUT_MS, egress: this.egress });
  }
}
