/**
 * The alerting subsystem's public surface: the engine (`createAlerting`), its HTTP routes and
 * /metrics text, the remediation contract and the IP blocklist the server consults.
 *
 * @example
 * const alerting = createAlerting(system, {
 *   ...alertingOptionsFromConfig(mainJson.alerting),
 *   ipBlocklist,                        // the same IpBlocklist the server consults
 *   hooks: { enhanceMonitoring },       // collectors: raise frequency for a series
 * });
 * alerting.start();                     // opens <dataDirectory>/alerts.db, evaluates every 15 s
 * routes.push(...alertRoutes(alerting));
 * metricsText += alertingMetrics(alerting);
 * await alerting.stop();
 */
export { createAlerting } from './create_alerting.js';
export { Alerting, AlertingError, type AlertingOptions, type AlertingStatus, type Clock, type CycleResult, type DetectorFactory } from './alerting.js';
export { alertRoutes } from './alert_routes.js';
export { alertingMetrics } from './alerting_metrics.js';
export { alertingOptionsFromConfig } from './alerting_config.js';
export { IpBlocklist } from './ip_blocklist.js';
export type { RemediationHooks, RemediationOptions } from './remediation.js';
export type { AlertRule, AlertRuleInput, Priority, Comparison, RuleAggregation } from './rule.js';
export type { AlertView, AlertState } from './alert.js';
export { SIGNATURE_HEADER } from './channels/webhook_channel.js';
