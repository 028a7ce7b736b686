/**
 * The alerting subsystem's public surface: the engine (`createAlerting`), its HTTP routes and
 * /metrics text, the remediation contract and the IP blocklist the server consults.
 *
 * @example
 * const alerting = createAlerting(engine, {
 *   ...alertingOptionsFromConfig(mainJson.alerting),   // intervals, rules, channels, smtp_servers, remediation
 *   egress: config.security.egress,                   // where channels and webhooks may connect
 *   adminNetworks: config.security.adminNetworks,     // never blocked by block_ip
 *   wasSeenClient: (ip) => server.sawClient(ip),      // block_ip acts only on real clients
 *   quotas,                                           // per-tenant rules, channels, silences
 *   hooks: { enhanceMonitoring },                     // collectors: raise frequency for a series
 *   log,
 * });
 * alerting.start();                     // opens <dataDirectory>/alerts.db, evaluates every 15 s
 * routes.push(...alertRoutes(alerting));
 * server consults alerting.ipBlocklist.isBlocked(remoteAddress);
 * metricsText += alertingMetrics(alerting);
 * alerting.addRule('default', { name: 'CPU', metric_pattern: 'system.cpu.usage_total', threshold_value: 90 });
 * await alerting.stop();
 */
export { createAlerting } from './create_alerting.js';
export { Alerting, AlertingError, type AlertingHooks, type AlertingOptions, type AlertingStatus, type Clock, type CycleResult, type DetectorFactory } from './alerting.js';
export { alertRoutes } from './alert_routes.js';
export { alertingMetrics } from './alerting_metrics.js';
export { alertingOptionsFromConfig } from './alerting_config.js';
export { IpBlocklist, BlockRefusedError, MAX_BLOCK_SECONDS, type BlockEntry, type IpBlocklistOptions } from './ip_blocklist.js';
export type { RemediationHooks, RemediationOptions, TenantSeries } from './remediation.js';
export type { SmtpServerSettings } from './channels/smtp_servers.js';
export type { AlertRule, AlertRuleInput, Priority, Comparison, RuleAggregation, PatternMode } from './rule.js';
export type { AlertView, AlertState } from './alert.js';
export { SIGNATURE_HEADER } from './channels/webhook_channel.js';
