/**
 * How a failed scheduled backup raises an alert: each scheduled run writes `emms.backup.failed`
 * (1 failed, 0 succeeded) into the default tenant, beside the server's own series, and the rule
 * `maintenance.backup_failed` fires when that was 1 at any time in the last 24 hours. The rule
 * is installed like a predefined one: once, when missing; an operator may disable it, change
 * it (its channels, priority) or delete it, and a deleted one is installed again at the next
 * start only while backups are enabled.
 */
import type { AlertRuleInput } from '../alerts/rule.js';
import type { MetricsSystem } from '../model/api.js';

export const BACKUP_FAILED_METRIC = 'emms.backup.failed';

export const BACKUP_FAILED_RULE: AlertRuleInput = {
  rule_id: 'maintenance.backup_failed',
  name: 'Scheduled Backup Failed',
  description: 'A scheduled backup failed in the last 24 hours (see emms_backup_failures_total and the server log)',
  metric_pattern: 'emms\\.backup\\.failed',
  threshold_value: 0,
  comparison: '>',
  aggregation: 'max',
  window_seconds: 86_400,
  duration_seconds: 0,
  priority: 'HIGH',
  annotations: { summary: 'A scheduled backup failed; the last archive may be older than the schedule promises' },
};

/** The slice of the alerting facade the rule needs. */
export interface RuleInstaller {
  getRule(tenant: string, ruleId: string): unknown;
  addRule(tenant: string, input: unknown): unknown;
}

/** Installs the rule into `tenant` unless a rule with its id exists. */
export function ensureBackupAlertRule(rules: RuleInstaller, tenant: string): void {
  if (rules.getRule(tenant, BACKUP_FAILED_RULE.rule_id!) !== undefined) return;
  rules.addRule(tenant, BACKUP_FAILED_RULE);
}

/** Writes one point of the outcome (1 = failed). */
export async function recordBackupOutcome(system: MetricsSystem, failed: boolean, nowMs = Date.now()): Promise<void> {
  await system.collectMetric({ metricId: BACKUP_FAILED_METRIC, metricType: 'gauge', value: failed ? 1 : 0, timestamp: nowMs });
}
