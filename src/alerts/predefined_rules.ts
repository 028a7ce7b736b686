/**
 * The seed's predefined rules. They are installed, enabled, the first time an alert database is
 * opened; afterwards they are ordinary rules (switch them off with `enabled: false`, or delete
 * them: a deleted predefined rule is not reinstalled). `predefinedRules: false` in the alerting
 * options skips the installation altogether.
 */
import type { AlertRuleInput } from './rule.js';

export const PREDEFINED_RULES: readonly AlertRuleInput[] = [
  {
    rule_id: 'predefined.high_cpu_usage',
    name: 'High CPU Usage',
    description: 'Total CPU usage above 90% for 5 minutes',
    metric_pattern: 'system.cpu.usage_total',
    threshold_value: 90,
    comparison: '>',
    duration_seconds: 300,
    priority: 'HIGH',
    annotations: { summary: 'CPU usage {{value}}% on {{tags.host}} (threshold {{threshold}}%)' },
  },
  {
    rule_id: 'predefined.memory_exhaustion',
    name: 'Memory Exhaustion',
    description: 'Memory usage above 85% for 5 minutes',
    metric_pattern: 'system.memory.usage_percent',
    threshold_value: 85,
    comparison: '>',
    duration_seconds: 300,
    priority: 'CRITICAL',
    annotations: { summary: 'Memory usage {{value}}% on {{tags.host}} (threshold {{threshold}}%)' },
  },
  {
    // Each point of security.auth.failures counts failed authentications (usually 1) from the
    // address in its `source_ip` tag, so the 5-minute sum is the number of failures per address.
    // EMMS writes it for every unauthorized_access key event that names a source_ip
    // (src/keys/key_service.ts); other sources (a KMS's own auth log) may write it too.
    rule_id: 'predefined.authentication_failures',
    name: 'Authentication Failures',
    description: 'More than 10 failed authentications from one source address in 5 minutes',
    metric_pattern: 'security.auth.failures',
    threshold_value: 10,
    comparison: '>',
    aggregation: 'sum',
    window_seconds: 300,
    duration_seconds: 0,
    group_by: ['source_ip'],
    priority: 'CRITICAL',
    remediation: [{ type: 'block_ip', duration_seconds: 3600, ip_tag: 'source_ip' }],
    annotations: { summary: '{{value}} authentication failures from {{tags.source_ip}} in 5 minutes' },
  },
  {
    // crypto.key.access_count is a counter (src/keys): the detector judges its rate.
    rule_id: 'predefined.key_access_anomalies',
    name: 'Key Access Anomalies',
    description: 'Anomalous access pattern on a cryptographic key',
    metric_pattern: 'crypto.key.access_count',
    threshold_value: null,
    use_anomaly_detection: true,
    ml_sensitivity: 0.5,
    duration_seconds: 0,
    resolve_after_seconds: 300,
    priority: 'HIGH',
    remediation: [{ type: 'enhanced_monitoring', duration_seconds: 3600 }],
    annotations: { summary: 'Anomalous access rate {{value}}/s on key {{tags.key_id}}' },
  },
];
