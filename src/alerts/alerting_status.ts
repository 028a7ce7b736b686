/**
 * The numbers the alerting reports about itself: cycle durations (a histogram for /metrics),
 * skipped cycles, notification failures per tenant, and the `GET /api/v1/alerts/status` view
 * of one tenant (its alerts, rules, channels; the cycle figures are the server's).
 */
import type { AlertState } from './alert.js';
import type { CycleResult } from './evaluator.js';
import type { ChannelStats } from './notification_dispatcher.js';
import { PRIORITIES, type Priority } from './rule.js';

export interface AlertingStatus {
  by_state: Record<AlertState, number>;
  by_priority: Record<Priority, number>;
  acknowledged: number;
  silenced: number;
  rules: { total: number; enabled: number };
  last_cycle: { at: string | null; duration_ms: number | null; error: string | null; rule_errors: number };
  cycles: number;
  interval_seconds: number;
  series_watched: number;
  notification_failures: number;
  channels: ChannelStats[];
}

/** Cycle-time buckets around the 1 s budget (bench/alerts.bench.ts: 0.15–0.5 s at 10k × 10k). */
export const HISTOGRAM_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class CycleStats {
  cycles = 0;
  skippedCycles = 0;
  lastCycle: CycleResult | null = null;
  readonly histogram = new Array<number>(HISTOGRAM_BUCKETS_S.length).fill(0);
  sumSeconds = 0;
  readonly #failures = new Map<string, number>();

  observe(result: CycleResult): void {
    this.lastCycle = result;
    const s = result.durationMs / 1000;
    this.sumSeconds += s;
    for (let i = 0; i < HISTOGRAM_BUCKETS_S.length; i++) if (s <= HISTOGRAM_BUCKETS_S[i]!) this.histogram[i]!++;
  }

  noteNotificationFailure(tenant: string): void {
    this.#failures.set(tenant, (this.#failures.get(tenant) ?? 0) + 1);
  }

  /** Notification failures of one tenant, or of all. */
  notificationFailures(tenant?: string): number {
    if (tenant !== undefined) return this.#failures.get(tenant) ?? 0;
    let n = 0;
    for (const v of this.#failures.values()) n += v;
    return n;
  }

  /** The last cycle as one tenant sees it: its own error, or a global one (tenant undefined). */
  lastCycleView(tenant?: string): AlertingStatus['last_cycle'] {
    const last = this.lastCycle;
    const error = last === null ? null : tenant === undefined ? last.error ?? null : last.tenantErrors?.get(tenant) ?? null;
    const ruleErrors = last === null ? 0 : tenant === undefined ? last.ruleErrors ?? 0 : last.tenantRuleErrors?.get(tenant) ?? 0;
    return { at: last ? new Date(last.at).toISOString() : null, duration_ms: last ? last.durationMs : null, error, rule_errors: ruleErrors };
  }
}

export function emptyCounts(): { byState: Record<AlertState, number>; byPriority: Record<Priority, number> } {
  return {
    byState: { pending: 0, firing: 0, resolved: 0 },
    byPriority: Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>,
  };
}
