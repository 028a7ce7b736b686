/**
 * After each cycle (or API call that closed alerts): start remediation for newly firing
 * alerts, escalate unacknowledged ones past their levels' delays, and turn what changed into
 * one notification batch per channel (firing, escalated, refresh, resolved), honouring
 * silences. Deliveries and failures come back as history rows.
 */
import { DEFAULT_TENANT } from '../model/tenant.js';
import { alertView, type HistoryEvent } from './alert.js';
import type { CycleChanges } from './alert_lifecycle.js';
import { channelKey, splitChannelKey } from './channel_registry.js';
import type { NotificationBatch, NotificationEvent, NotificationKind } from './channels/channel.js';
import type { NotificationDispatcher } from './notification_dispatcher.js';
import type { RemediationExecutor } from './remediation.js';
import type { RuleRuntime } from './rule_registry.js';
import { priorityRank, raisePriority } from './rule.js';
import type { SilenceRegistry } from './silences.js';

export interface EscalationDeps {
  dispatcher(): NotificationDispatcher;
  remediation(): RemediationExecutor;
  silences: SilenceRegistry;
  /** Channels of tenant `default`'s rules naming none (main.json); undefined: every channel. */
  defaultChannels: readonly string[] | undefined;
  /** A tenant's channel ids: where its rules naming no channel go. */
  channelIds(tenant: string): Iterable<string>;
}

export class Escalation {
  readonly #deps: EscalationDeps;
  /** Channel key → when firing alerts were last re-sent to it (channels with refreshIntervalMs). */
  readonly #lastRefresh = new Map<string, number>();

  constructor(deps: EscalationDeps) {
    this.#deps = deps;
  }

  /** Dispatcher keys of the channels an alert of `rt` at `escalationLevel` goes to: always its own tenant's. */
  #routeChannels(rt: RuleRuntime, escalationLevel: number): string[] {
    const rule = rt.rule;
    const fallback = rt.tenant === DEFAULT_TENANT && this.#deps.defaultChannels !== undefined ? this.#deps.defaultChannels : this.#deps.channelIds(rt.tenant);
    const out = new Set(rule.channels.length > 0 ? rule.channels : fallback);
    for (let i = 0; i < escalationLevel && i < rule.escalation.length; i++) for (const c of rule.escalation[i]!.channels) out.add(c);
    const dispatcher = this.#deps.dispatcher();
    return [...out].map((c) => channelKey(rt.tenant, c)).filter((key) => dispatcher.hasChannel(key));
  }

  /** Remediation, escalation and notifications for what `changes` holds and every firing alert. */
  afterCycle(changes: CycleChanges, runtimes: Iterable<RuleRuntime>): void {
    const now = changes.now;
    const dispatcher = this.#deps.dispatcher();
    const silences = this.#deps.silences;
    const outbox = new Map<string, NotificationEvent[]>();
    const push = (channels: Iterable<string>, kind: NotificationKind, view: ReturnType<typeof alertView>): void => {
      for (const c of channels) {
        let list = outbox.get(c);
        if (!list) outbox.set(c, (list = []));
        list.push({ kind, alert: view });
      }
    };
    const refreshDue = new Set<string>();
    for (const id of dispatcher.channelIds()) {
      const refresh = dispatcher.channel(id)?.refreshIntervalMs;
      if (refresh !== undefined && now - (this.#lastRefresh.get(id) ?? -Infinity) >= refresh) refreshDue.add(id);
    }

    const remediation = this.#deps.remediation();
    for (const { rt, rec } of changes.newlyFiring) {
      if (rec.remediated || rt.rule.remediation.length === 0) continue;
      rec.remediated = true;
      remediation.run(rt.tenant, alertView(rec, false), rt.rule, rt.origin === 'config');
      changes.event(rec, 'remediation', { actions: rt.rule.remediation.map((a) => a.type), dry_run: remediation.dryRun });
    }

    for (const rt of runtimes) {
      if (rt.alerts.size === 0) continue;
      const rule = rt.rule;
      for (const { rec } of rt.alerts.values()) {
        if (rec.state !== 'firing') continue;
        const silenced = silences.isSilenced(rec, now);
        // Escalation: unacknowledged past a level's delay → that level's channels, higher priority.
        if (rec.acknowledged_at === null && rule.escalation.length > rec.escalation_level) {
          let level = rec.escalation_level;
          while (level < rule.escalation.length && now - rec.fired_at! >= rule.escalation[level]!.after_seconds * 1000) {
            // Escalation only ever raises the priority, even if a level names a lower one.
            const next = rule.escalation[level]!.priority ?? raisePriority(rec.priority);
            if (priorityRank(next) > priorityRank(rec.priority)) rec.priority = next;
            level++;
          }
          if (level > rec.escalation_level) {
            const from = rec.escalation_level;
            rec.escalation_level = level;
            changes.record(rec, 'escalated', { from_level: from, to_level: level, priority: rec.priority });
            if (!silenced) push(this.#routeChannels(rt, level), 'escalated', alertView(rec, false));
            else changes.event(rec, 'suppressed', { kind: 'escalated' });
            if (rec.notified_state !== 'firing' && !silenced) rec.notified_state = 'firing';
            continue;
          }
        }
        if (silenced) {
          if (rec.notified_state === 'none' && rec.fired_at === now) changes.event(rec, 'suppressed', { kind: 'firing' });
          continue;
        }
        if (rec.notified_state !== 'firing') {
          // New, or its silence just ended: announce once.
          rec.notified_state = 'firing';
          changes.dirty.set(rec.alert_id, rec);
          push(this.#routeChannels(rt, rec.escalation_level), 'firing', alertView(rec, false));
        } else if (refreshDue.size > 0) {
          const due = this.#routeChannels(rt, rec.escalation_level).filter((c) => refreshDue.has(c));
          if (due.length > 0) push(due, 'refresh', alertView(rec, false));
        }
      }
    }

    for (const { rt, rec } of changes.newlyResolved) {
      // Only what was announced gets a resolution message, even if silenced since.
      if (rec.notified_state !== 'firing') continue;
      rec.notified_state = 'resolved';
      push(this.#routeChannels(rt, rec.escalation_level), 'resolved', alertView(rec, silences.isSilenced(rec, now)));
    }

    for (const id of refreshDue) this.#lastRefresh.set(id, now);
    for (const [channelId, events] of outbox) dispatcher.enqueue({ channel_id: channelId, events, created_at: now });
  }
}

/** History rows for a batch delivered to the channel known as `key` (refreshes are not news). */
export function deliveredEvents(key: string, batch: NotificationBatch, attempts: number, at: number): HistoryEvent[] {
  const { tenant, channelId } = splitChannelKey(key);
  return batch.events
    .filter((e) => e.kind !== 'refresh')
    .map((e) => ({ tenant, at, event: 'notified', alert_id: e.alert.alert_id, rule_id: e.alert.rule_id, details: { channel: channelId, kind: e.kind, attempts } }));
}

/** History rows for a batch that failed after its retries (the error is redacted at its source). */
export function failedEvents(key: string, batch: NotificationBatch, error: Error, attempts: number, at: number): HistoryEvent[] {
  const { tenant, channelId } = splitChannelKey(key);
  return batch.events.map((e) => ({ tenant, at, event: 'notification_failed', alert_id: e.alert.alert_id, rule_id: e.alert.rule_id, details: { channel: channelId, kind: e.kind, attempts, error: error.message } }));
}
