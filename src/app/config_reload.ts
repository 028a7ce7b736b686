/**
 * SIGHUP: re-reads main.json and applies the sections that can change while the server runs:
 *
 *   monitoring.log_level   the logger's level, at once;
 *   security.quotas        the default tenant quotas (operator overrides stay applied over them);
 *   alerting.rules         the configuration file's rules (added, changed, removed; a changed
 *                          rule keeps its active alerts);
 *   security.tls files     the certificate and key are re-read from the same paths (renewal).
 *
 * Everything else (listen address, storage, limits, channels …) is compared too and each
 * changed key is logged as "takes effect at restart". The file is checked whole first (the same
 * validation as start-up, plus every alerting rule) and an invalid file changes nothing: the
 * log names the key and the running settings stay. Values are logged only for the log level and
 * quotas (numbers); other keys by name, since security settings may name secrets.
 */
import { ConfigError, type EmmsConfig, type LogLevel } from '../config/config.js';
import type { TlsReloadResult } from '../server/server.js';
import { QUOTA_CONFIG_KEYS, QUOTA_NAMES, type TenantQuotas } from '../tenancy/quota.js';
import { configureFeatures } from './emms_app.js';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

export interface RuleChanges {
  added: string[];
  changed: string[];
  removed: string[];
}

/** What a reload acts on; in the server these are the logger, the tenant registry, the alerting and the TLS listener. */
export interface ReloadTargets {
  setLogLevel(level: LogLevel): void;
  setDefaultQuotas(quotas: Readonly<TenantQuotas>): void;
  /** Validates every rule before changing any; throws (RangeError) on an invalid one. */
  reloadAlertingRules(rules: readonly unknown[]): RuleChanges;
  /** Undefined when the server has no TLS. */
  reloadTls: (() => Promise<TlsReloadResult>) | undefined;
}

export interface ReloadOutcome {
  /** False when the file was refused: nothing changed. */
  applied: boolean;
  /** One line per live change made, e.g. `monitoring.log_level: info → debug`. */
  changes: string[];
  /** Changed keys that take effect only at restart. */
  restartNeeded: string[];
  /** Why the file was refused. */
  error?: string;
  /** The settings now in force: the reloaded live sections over the running ones. */
  config: EmmsConfig;
}

/** Dotted keys under `prefix` whose values differ (arrays and leaves compared whole). */
export function changedKeys(a: unknown, b: unknown, prefix: string): string[] {
  const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
  if (isPlain(a) && isPlain(b)) {
    const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return names.flatMap((name) => changedKeys(a[name], b[name], prefix === '' ? name : `${prefix}.${name}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [mainJsonSpelling(prefix)];
}

/** `query.maxSeries` → `query.max_series`: keys as main.json spells them (EmmsConfig is camelCase). */
function mainJsonSpelling(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** The alerting section minus its rules; absent and `{}` compare equal. */
function alertingWithoutRules(section: unknown): unknown {
  if (section === undefined || section === null) return {};
  if (typeof section !== 'object' || Array.isArray(section)) return section;
  const { rules: _rules, ...rest } = section as Record<string, unknown>;
  return rest;
}

function rulesOf(section: unknown): readonly unknown[] {
  const rules = (section as { rules?: unknown } | undefined)?.rules;
  return Array.isArray(rules) ? rules : [];
}

/**
 * The keys that differ between the running and the re-read settings, split by whether this
 * reload applies them. `tls` counts as live only for its files' contents: changed paths or
 * options need a restart.
 */
export function planReload(current: EmmsConfig, next: EmmsConfig): { live: string[]; restartNeeded: string[] } {
  const live: string[] = [];
  if (current.logLevel !== next.logLevel) live.push('monitoring.log_level');
  live.push(...changedKeys(current.security.quotas, next.security.quotas, 'security.quotas'));
  if (JSON.stringify(rulesOf(current.featureSections.alerting)) !== JSON.stringify(rulesOf(next.featureSections.alerting))) live.push('alerting.rules');
  const { quotas: _q1, ...securityNow } = current.security;
  const { quotas: _q2, ...securityNext } = next.security;
  const restartNeeded = [
    ...changedKeys({ host: current.host, port: current.port }, { host: next.host, port: next.port }, 'deployment'),
    ...changedKeys(current.storage, next.storage, 'storage'),
    ...changedKeys(current.collector, next.collector, 'collector'),
    ...changedKeys(current.query, next.query, 'query'),
    ...changedKeys(securityNow, securityNext, 'security'),
    ...changedKeys(current.featureSections.collector, next.featureSections.collector, 'collector'),
    ...changedKeys(alertingWithoutRules(current.featureSections.alerting), alertingWithoutRules(next.featureSections.alerting), 'alerting'),
    ...changedKeys(current.featureSections.key_policies, next.featureSections.key_policies, 'key_policies'),
  ];
  return { live, restartNeeded };
}

function quotaChanges(before: Readonly<TenantQuotas>, after: Readonly<TenantQuotas>): string[] {
  return QUOTA_NAMES.filter((q) => before[q] !== after[q]).map((q) => `security.quotas.${QUOTA_CONFIG_KEYS[q]}: ${before[q]} → ${after[q]}`);
}

/**
 * Re-reads the settings with `load` and applies the live sections to `targets`. Never throws:
 * a refused file is an outcome with `applied: false` and the running settings unchanged.
 */
export async function reloadConfig(current: EmmsConfig, load: () => EmmsConfig, targets: ReloadTargets, log: Log): Promise<ReloadOutcome> {
  const refuse = (err: unknown): ReloadOutcome => {
    const error = err instanceof ConfigError || err instanceof RangeError ? err.message : `${(err as Error).name}: ${(err as Error).message}`;
    log('error', `SIGHUP: configuration refused, nothing changed: ${error}`);
    return { applied: false, changes: [], restartNeeded: [], error, config: current };
  };
  let next: EmmsConfig;
  try {
    next = load();
    // The feature sections are checked as at start-up (channels, SMTP servers, key policies …).
    configureFeatures(next);
  } catch (err) {
    return refuse(err);
  }
  const plan = planReload(current, next);
  const changes: string[] = [];
  // Rules first: they are the only step that can still refuse, and they change nothing then.
  if (plan.live.includes('alerting.rules')) {
    let r: RuleChanges;
    try {
      r = targets.reloadAlertingRules(rulesOf(next.featureSections.alerting));
    } catch (err) {
      return refuse(err);
    }
    changes.push(`alerting.rules: added [${r.added.join(', ')}], changed [${r.changed.join(', ')}], removed [${r.removed.join(', ')}]`);
  }
  const quotas = quotaChanges(current.security.quotas, next.security.quotas);
  if (quotas.length > 0) {
    targets.setDefaultQuotas(next.security.quotas);
    changes.push(...quotas);
  }
  const levelChanged = current.logLevel !== next.logLevel;
  if (levelChanged) changes.push(`monitoring.log_level: ${current.logLevel} → ${next.logLevel}`);
  const config: EmmsConfig = {
    ...current,
    logLevel: next.logLevel,
    security: { ...current.security, quotas: { ...next.security.quotas } },
    featureSections: { ...current.featureSections, alerting: withRules(current.featureSections.alerting, rulesOf(next.featureSections.alerting)) },
  };
  for (const line of changes) log('info', `SIGHUP: ${line}`);
  for (const key of plan.restartNeeded) log('warn', `SIGHUP: ${key} changed; it takes effect at restart`);
  if (changes.length === 0 && plan.restartNeeded.length === 0) log('info', 'SIGHUP: configuration re-read; nothing changed');
  // Last, so that the lines above are written at the level they were asked under (a switch
  // from info to warn still records what changed).
  if (levelChanged) targets.setLogLevel(next.logLevel);
  if (targets.reloadTls !== undefined) {
    try {
      const result = await targets.reloadTls();
      const line = `TLS certificate ${result.applied ? 'reloaded' : 'checked but not applied; the old one serves until restart'}: ${result.detail}`;
      log(result.applied ? 'info' : 'warn', `SIGHUP: ${line}`);
      if (result.applied) changes.push(line);
    } catch (err) {
      log('error', `SIGHUP: TLS certificate not reloaded, the old one stays: ${(err as Error).message}`);
    }
  }
  return { applied: true, changes, restartNeeded: plan.restartNeeded, config };
}

function withRules(section: unknown, rules: readonly unknown[]): unknown {
  const base = typeof section === 'object' && section !== null && !Array.isArray(section) ? (section as Record<string, unknown>) : {};
  return { ...base, rules: [...rules] };
}

/** The reload targets of a running app: its tenant registry, alerting and server. */
export function reloadTargetsOf(
  app: { auth: { tenants: { setDefaults(q: Readonly<TenantQuotas>): void } }; alerting: { reloadConfigRules(rules: readonly unknown[]): RuleChanges }; server: { reloadTls(): Promise<TlsReloadResult> } },
  setLogLevel: (level: LogLevel) => void,
  hasTls: boolean,
): ReloadTargets {
  return {
    setLogLevel,
    setDefaultQuotas: (quotas) => app.auth.tenants.setDefaults(quotas),
    reloadAlertingRules: (rules) => app.alerting.reloadConfigRules(rules),
    reloadTls: hasTls ? () => app.server.reloadTls() : undefined,
  };
}
