/**
 * Alerts and history events: the records the evaluator keeps (epoch-ms times) and the JSON
 * views the API returns (ISO-8601 times, the seed's field names). Silences are in silences.ts.
 *
 * Lifecycle of one alert (one per rule and series, or per group):
 *
 *   condition true ──▶ pending ──(held duration_seconds)──▶ firing ──(false resolve_after_seconds)──▶ resolved
 *                        │                                     ▲  │
 *                        └──(false before firing)──▶ cleared   └──┘ true again within the damping time: stays firing
 *
 * Acknowledgement (who, when, comment) is a flag on a pending or firing alert; it stops
 * escalation. A resolved alert is final: the next violation opens a new alert with a new id.
 */
import type { Tags } from '../model/metric.js';
import type { Priority } from './rule.js';

export type AlertState = 'pending' | 'firing' | 'resolved';
export const ALERT_STATES: readonly AlertState[] = ['pending', 'firing', 'resolved'];

/** What the channels were last told about an alert; persisted so a restart does not re-announce. */
export type NotifiedState = 'none' | 'firing' | 'resolved';

export interface AlertRecord {
  /** The tenant whose rule raised it; never part of the API view (the caller's own). */
  tenant: string;
  alert_id: string;
  rule_id: string;
  name: string;
  /** Identity of the alert within its rule: the series key, or the group's tag values. */
  group_key: string;
  state: AlertState;
  priority: Priority;
  /** The series' metric id; for a group, the metric id shared by every series (else null). */
  metric_id: string | null;
  /** The series' tags; for a group, the group_by tag values. */
  tags: Tags;
  value: number;
  threshold: number | null;
  anomaly_score: number | null;
  started_at: number;
  fired_at: number | null;
  resolved_at: number | null;
  acknowledged_by: string | null;
  acknowledged_at: number | null;
  ack_comment: string | null;
  escalation_level: number;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  /** When the condition last turned false while firing (flap damping); null while true. */
  false_since: number | null;
  notified_state: NotifiedState;
  remediated: boolean;
  updated_at: number;
}

export interface AlertView {
  alert_id: string;
  rule_id: string;
  name: string;
  state: AlertState;
  priority: Priority;
  series: { metric_id: string | null; tags: Tags };
  value: number;
  threshold: number | null;
  anomaly_score: number | null;
  started_at: string;
  fired_at: string | null;
  resolved_at: string | null;
  acknowledged: boolean;
  acknowledged_by: string | null;
  acknowledged_at: string | null;
  acknowledgement_comment: string | null;
  escalation_level: number;
  silenced: boolean;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

export function alertView(a: AlertRecord, silenced: boolean): AlertView {
  return {
    alert_id: a.alert_id,
    rule_id: a.rule_id,
    name: a.name,
    state: a.state,
    priority: a.priority,
    series: { metric_id: a.metric_id, tags: a.tags },
    value: a.value,
    threshold: a.threshold,
    anomaly_score: a.anomaly_score,
    started_at: new Date(a.started_at).toISOString(),
    fired_at: isoOrNull(a.fired_at),
    resolved_at: isoOrNull(a.resolved_at),
    acknowledged: a.acknowledged_at !== null,
    acknowledged_by: a.acknowledged_by,
    acknowledged_at: isoOrNull(a.acknowledged_at),
    acknowledgement_comment: a.ack_comment,
    escalation_level: a.escalation_level,
    silenced,
    labels: a.labels,
    annotations: a.annotations,
  };
}

export type HistoryEventKind =
  | 'pending' | 'firing' | 'resolved' | 'cleared' | 'acknowledged' | 'escalated'
  | 'notified' | 'notification_failed' | 'suppressed' | 'remediation'
  | 'rule_created' | 'rule_updated' | 'rule_deleted' | 'silence_created' | 'silence_expired';

export interface HistoryEvent {
  tenant: string;
  at: number;
  event: HistoryEventKind;
  alert_id: string | null;
  rule_id: string | null;
  details: Record<string, unknown>;
}
