/**
 * The alerting's part of `/metrics`, in the Prometheus text exposition format (HELP and TYPE
 * for every family); the server appends it to its own output. Figures are server-wide (every
 * tenant together); per-channel counters carry the channel's tenant as a label.
 */
import type { Alerting } from './alerting.js';
import { PRIORITIES } from './rule.js';

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function channelLabels(c: { tenant: string; channel_id: string; type: string }): string {
  return `tenant="${escapeLabel(c.tenant)}",channel="${escapeLabel(c.channel_id)}",type="${escapeLabel(c.type)}"`;
}

function family(lines: string[], name: string, type: 'gauge' | 'counter' | 'histogram', help: string): void {
  lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

export function alertingMetrics(alerting: Alerting): string {
  if (!alerting.isOpen) return '';
  const { status, channels, cycleHistogram, skippedCycles } = alerting.metricsSnapshot();
  const lines: string[] = [];

  family(lines, 'emms_alerting_cycle_duration_seconds', 'histogram', 'Duration of rule evaluation cycles.');
  cycleHistogram.buckets.forEach((le, i) => lines.push(`emms_alerting_cycle_duration_seconds_bucket{le="${le}"} ${cycleHistogram.counts[i]}`));
  lines.push(`emms_alerting_cycle_duration_seconds_bucket{le="+Inf"} ${cycleHistogram.count}`);
  lines.push(`emms_alerting_cycle_duration_seconds_sum ${cycleHistogram.sumSeconds}`);
  lines.push(`emms_alerting_cycle_duration_seconds_count ${cycleHistogram.count}`);

  family(lines, 'emms_alerting_last_cycle_duration_seconds', 'gauge', 'Duration of the most recent evaluation cycle.');
  lines.push(`emms_alerting_last_cycle_duration_seconds ${(status.last_cycle.duration_ms ?? 0) / 1000}`);

  family(lines, 'emms_alerting_skipped_cycles_total', 'counter', 'Cycles skipped because the previous one was still running.');
  lines.push(`emms_alerting_skipped_cycles_total ${skippedCycles}`);

  family(lines, 'emms_alerting_rules', 'gauge', 'Alert rules by enabled state.');
  lines.push(`emms_alerting_rules{enabled="true"} ${status.rules.enabled}`);
  lines.push(`emms_alerting_rules{enabled="false"} ${status.rules.total - status.rules.enabled}`);

  family(lines, 'emms_alerting_series_watched', 'gauge', 'Series the evaluator reads each cycle.');
  lines.push(`emms_alerting_series_watched ${status.series_watched}`);

  family(lines, 'emms_alerts', 'gauge', 'Alerts by state (resolved: kept in history).');
  for (const [state, n] of Object.entries(status.by_state)) lines.push(`emms_alerts{state="${state}"} ${n}`);

  family(lines, 'emms_alerts_active_by_priority', 'gauge', 'Pending and firing alerts by priority.');
  for (const p of PRIORITIES) lines.push(`emms_alerts_active_by_priority{priority="${p}"} ${status.by_priority[p]}`);

  family(lines, 'emms_alerts_acknowledged', 'gauge', 'Active alerts that are acknowledged.');
  lines.push(`emms_alerts_acknowledged ${status.acknowledged}`);
  family(lines, 'emms_alerts_silenced', 'gauge', 'Active alerts matched by a silence.');
  lines.push(`emms_alerts_silenced ${status.silenced}`);

  family(lines, 'emms_alerting_notifications_total', 'counter', 'Notification batches delivered, by channel.');
  for (const c of channels) lines.push(`emms_alerting_notifications_total{${channelLabels(c)}} ${c.sent_batches}`);
  family(lines, 'emms_alerting_notification_failures_total', 'counter', 'Notification batches that failed after all retries, by channel.');
  for (const c of channels) lines.push(`emms_alerting_notification_failures_total{${channelLabels(c)}} ${c.failed_batches}`);
  family(lines, 'emms_alerting_notification_retries_total', 'counter', 'Notification delivery retries, by channel.');
  for (const c of channels) lines.push(`emms_alerting_notification_retries_total{${channelLabels(c)}} ${c.retries}`);
  family(lines, 'emms_alerting_notification_queue', 'gauge', 'Notification batches waiting, by channel.');
  for (const c of channels) lines.push(`emms_alerting_notification_queue{${channelLabels(c)}} ${c.queued_batches}`);

  return lines.join('\n') + '\n';
}
