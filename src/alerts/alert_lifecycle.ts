/**
 * State transitions of alerts (see the diagram in alert.ts): a condition true opens or keeps a
 * pending alert and fires it once it has held for duration_seconds; a condition false clears a
 * pending alert or, after resolve_after_seconds of flap damping, resolves a firing one.
 *
 * Transitions are collected in a CycleChanges (what to write, which history events, what to
 * announce), which the evaluator or the API call then hands to escalation.ts and writes to
 * alerts.db in one transaction.
 */
import { randomUUID } from 'node:crypto';
import type { Tags } from '../model/metric.js';
import type { AlertRecord, HistoryEvent, HistoryEventKind } from './alert.js';
import type { AlertKey } from './alert_store.js';
import type { ActiveAlert, RuleRuntime } from './rule_registry.js';
import type { AlertRule } from './rule.js';

export interface AlertTransition {
  rt: RuleRuntime;
  rec: AlertRecord;
}

/** What one evaluation cycle (or one API call that closes alerts) changed. */
export class CycleChanges {
  /** Alerts to write, by id. */
  readonly dirty = new Map<string, AlertRecord>();
  readonly events: HistoryEvent[] = [];
  /** Pending alerts cleared: their rows are deleted with the transaction. */
  readonly cleared: AlertKey[] = [];
  readonly newlyFiring: AlertTransition[] = [];
  readonly newlyResolved: AlertTransition[] = [];

  constructor(readonly now: number) {}

  /** Marks the alert changed and appends a history event for it. */
  record(rec: AlertRecord, event: HistoryEventKind, details: Record<string, unknown>): void {
    rec.updated_at = this.now;
    this.dirty.set(rec.alert_id, rec);
    this.event(rec, event, details);
  }

  event(rec: AlertRecord, event: HistoryEventKind, details: Record<string, unknown>): void {
    this.events.push({ tenant: rec.tenant, at: this.now, event, alert_id: rec.alert_id, rule_id: rec.rule_id, details });
  }
}

/** The condition holds for the series or group `key` this cycle. */
export function conditionTrue(
  changes: CycleChanges, rt: RuleRuntime, key: string, value: number, dataTs: number,
  metricId: string | null, tags: Tags, score: number | null, cycle: number,
): void {
  const r = rt.rule;
  const now = changes.now;
  let a = rt.alerts.get(key);
  if (!a) {
    const rec: AlertRecord = {
      tenant: rt.tenant, alert_id: randomUUID(), rule_id: r.rule_id, name: r.name, group_key: key, state: 'pending', priority: r.priority,
      metric_id: metricId, tags, value, threshold: r.threshold_value, anomaly_score: score,
      // Measured from the violating point, so the delay to firing is duration + at most one interval.
      started_at: Math.min(now, dataTs), fired_at: null, resolved_at: null,
      acknowledged_by: null, acknowledged_at: null, ack_comment: null, escalation_level: 0,
      annotations: {}, labels: r.labels, false_since: null, notified_state: 'none', remediated: false, updated_at: now,
    };
    rec.annotations = renderAnnotations(r, rec);
    a = { rec, seen: cycle };
    rt.alerts.set(key, a);
    changes.record(rec, 'pending', { value });
  } else {
    a.seen = cycle;
    const rec = a.rec;
    rec.value = value;
    rec.anomaly_score = score;
    if (rec.false_since !== null) {
      rec.false_since = null;
      changes.dirty.set(rec.alert_id, rec);
    }
  }
  const rec = a.rec;
  if (rec.state === 'pending' && now - rec.started_at >= r.duration_seconds * 1000) {
    rec.state = 'firing';
    rec.fired_at = now;
    rec.annotations = renderAnnotations(r, rec);
    changes.record(rec, 'firing', { value });
    changes.newlyFiring.push({ rt, rec });
  }
}

/** The condition was false for the alert's series or group, or it produced no value. */
export function conditionFalse(changes: CycleChanges, rt: RuleRuntime, a: ActiveAlert): void {
  const rec = a.rec;
  const now = changes.now;
  if (rec.state === 'pending') {
    clearPending(changes, rt, rec, {});
    return;
  }
  if (rec.false_since === null) {
    rec.false_since = now;
    changes.dirty.set(rec.alert_id, rec);
  }
  if (now - rec.false_since >= rt.rule.resolve_after_seconds * 1000) resolveAlert(changes, rt, rec, {});
}

function clearPending(changes: CycleChanges, rt: RuleRuntime, rec: AlertRecord, details: Record<string, unknown>): void {
  rt.alerts.delete(rec.group_key);
  changes.dirty.delete(rec.alert_id);
  changes.cleared.push({ tenant: rec.tenant, alert_id: rec.alert_id });
  changes.event(rec, 'cleared', details);
}

export function resolveAlert(changes: CycleChanges, rt: RuleRuntime, rec: AlertRecord, details: Record<string, unknown>): void {
  rt.alerts.delete(rec.group_key);
  const wasFiring = rec.state === 'firing';
  rec.state = 'resolved';
  rec.resolved_at = changes.now;
  changes.record(rec, 'resolved', details);
  if (wasFiring) changes.newlyResolved.push({ rt, rec });
}

/** Clears or resolves every active alert of a rule (rule disabled or deleted). */
export function closeAlerts(rt: RuleRuntime, reason: string, now: number): CycleChanges {
  const changes = new CycleChanges(now);
  for (const a of [...rt.alerts.values()]) {
    if (a.rec.state === 'pending') clearPending(changes, rt, a.rec, { reason });
    else resolveAlert(changes, rt, a.rec, { reason });
  }
  return changes;
}

const TEMPLATE = /\{\{\s*([A-Za-z0-9_.]+)\s*\}\}/g;

/** Fills {{value}}, {{threshold}}, {{metric_id}}, {{rule_name}}, {{tags.<key>}} in annotations. */
export function renderAnnotations(rule: AlertRule, rec: AlertRecord): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, template] of Object.entries(rule.annotations)) {
    out[k] = template.replace(TEMPLATE, (whole, name: string) => {
      if (name === 'value') return formatNumber(rec.value);
      if (name === 'threshold') return rec.threshold === null ? '' : formatNumber(rec.threshold);
      if (name === 'metric_id') return rec.metric_id ?? '';
      if (name === 'rule_name') return rule.name;
      if (name.startsWith('tags.')) return Object.hasOwn(rec.tags, name.slice(5)) ? rec.tags[name.slice(5)]! : '';
      return whole;
    });
  }
  if (rule.description && out.description === undefined) out.description = rule.description;
  return out;
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
}
