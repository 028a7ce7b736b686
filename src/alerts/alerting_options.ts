/**
 * What the alerting engine takes: its clock, evaluation settings, the configuration file's
 * rules, channels and SMTP servers, remediation, the security settings it enforces (egress,
 * administrator networks, quotas) and the hooks other parts of EMMS implement.
 * `alertingOptionsFromConfig` (alerting_config.ts) builds the main.json part; the app adds
 * the rest (see src/alerts/index.ts).
 */
import type { StreamingDetector, StreamingDetectorOptions } from '../analytics/streaming_detector_contract.js';
import type { NetworkList } from '../net/cidr.js';
import type { EgressPolicy } from '../net/egress_guard.js';
import type { QuotaLookup } from '../tenancy/quota.js';
import type { NotificationChannel } from './channels/channel.js';
import type { SmtpServerSettings } from './channels/smtp_servers.js';
import type { BlockEntry } from './ip_blocklist.js';
import type { DispatcherOptions } from './notification_dispatcher.js';
import type { RemediationOptions, TenantSeries } from './remediation.js';

export interface Clock {
  now(): number;
}

export type DetectorFactory = (options: StreamingDetectorOptions) => StreamingDetector;

export type AlertingLog = (level: 'warn' | 'info', message: string) => void;

/** What other parts of EMMS learn from remediation. */
export interface AlertingHooks {
  /** Raise collection frequency for a tenant's series (collectors, probes) until `untilMs`. */
  enhanceMonitoring?(series: TenantSeries, untilMs: number): void;
  /** A block was made (the server consults `alerting.ipBlocklist` itself; this is for logs, audit). */
  onIpBlocked?(entry: BlockEntry): void;
}

export interface AlertingOptions {
  /** Source of time for evaluation, lifecycle and escalation. Default Date.now. */
  clock?: Clock;
  /** Evaluation period. Default 15 s. */
  intervalSeconds?: number;
  /** A `last` value older than this is no data (condition false). Default 300 s. */
  staleAfterSeconds?: number;
  /** Flap damping default for rules without resolve_after_seconds. Default 0. */
  defaultResolveAfterSeconds?: number;
  /** Install the seed's predefined rules (tenant `default`) into a new database. Default true. */
  predefinedRules?: boolean;
  /**
   * Rules of the configuration file (`alerting.rules`), in tenant `default`: the only rules
   * that may run `command` actions; the API cannot change or delete them. Rules stored from
   * an earlier configuration and no longer listed are removed.
   */
  rules?: unknown[];
  /** Channel configs of the configuration file (tenant `default`); they replace stored channels with the same id. */
  channels?: unknown[];
  /** `alerting.smtp_servers`: the only SMTP servers (and credentials) email channels may use. */
  smtpServers?: ReadonlyMap<string, SmtpServerSettings>;
  /** Channels implemented in code (embedded use), in tenant `default`, installed before stored rules are loaded. */
  registeredChannels?: NotificationChannel[];
  /** Channels of tenant `default`'s rules that name none. Default: every channel of the tenant. */
  defaultChannels?: string[];
  dispatcher?: DispatcherOptions;
  remediation?: RemediationOptions;
  hooks?: AlertingHooks;
  /** Never blocked by block_ip, like loopback (`security.admin_networks`). */
  adminNetworks?: NetworkList;
  /**
   * True when the server saw `ip` as a client (for instance one that failed to authenticate);
   * block_ip acts only on such addresses. Default: none seen, so nothing is blocked.
   */
  wasSeenClient?: (ip: string) => boolean;
  /** Where webhooks, Slack, Alertmanager, SMTP and remediation webhooks may connect. Default STRICT_EGRESS. */
  egress?: EgressPolicy;
  /** Per-tenant quotas (rules, channels, silences). Default DEFAULT_QUOTAS for every tenant. */
  quotas?: QuotaLookup;
  /** Warnings worth an operator's eye (refused blocks, stored items dropped). Default: none. */
  log?: AlertingLog;
  /** Key sealing channel secrets in alerts.db. Default `<directory of the database>/secrets.key`. */
  secretsKeyPath?: string;
  /** Streaming anomaly detector per series for anomaly rules. */
  detectorFactory: DetectorFactory;
  /**
   * History fed to a new anomaly detector before it judges. Default 6 h: the `auto` detector
   * raises nothing during its first 288 points, and 6 h holds that many at intervals up to
   * 75 s, so a rule added (or a server restarted) judges at once instead of after hours.
   */
  anomalyWarmupSeconds?: number;
  /** Sensitivity added to anomaly rules for series under enhanced monitoring. Default 0.2. */
  enhancedSensitivityBoost?: number;
  /** Resolved alerts, history and audit older than this are pruned. Default 30 days. */
  retentionDays?: number;
  /** Alert database file. Default `<system.dataDirectory>/alerts.db`. */
  databasePath?: string;
}
