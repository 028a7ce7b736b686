/**
 * The rules in force, per tenant, and their runtime state (matched series, active alerts,
 * anomaly detectors): rule CRUD with validation and the tenant's rules quota, persistence of
 * every change, the restore of stored rules on open, the predefined rules (tenant `default`)
 * and the rules of the configuration file (`alerting.rules`, tenant `default`, the only ones
 * that may run `command` actions; the API may not change them). What deleting or disabling a
 * rule does to its alerts is the lifecycle's business: the registry calls `closeAlerts`.
 */
import type { StreamingDetector } from '../analytics/streaming_detector_contract.js';
import { DEFAULT_TENANT } from '../model/tenant.js';
import { QuotaExceededError, type QuotaLookup } from '../tenancy/quota.js';
import type { AlertRecord } from './alert.js';
import type { AlertStore, RuleOrigin, StoredRule } from './alert_store.js';
import { AlertingError } from './alerting_error.js';
import { PREDEFINED_RULES } from './predefined_rules.js';
import { RuleValidationError, ruleView, validateRule, type AlertRule, type RuleValidationContext } from './rule.js';
import type { ForecastVerdict } from './forecast_rule.js';
import { PatternMatch } from './watched_series.js';

export interface ActiveAlert {
  rec: AlertRecord;
  /** Cycle number in which the condition was last evaluated for this alert. */
  seen: number;
}

export interface DetectorState {
  detector: StreamingDetector;
  sensitivity: number;
  lastTs: number;
  /** Counter series: the previous raw value, to turn totals into rates. */
  lastRaw: number;
}

export interface RuleRuntime {
  readonly tenant: string;
  readonly origin: RuleOrigin;
  rule: AlertRule;
  match: PatternMatch;
  /** Matched metric count and their total series count when `series` was built. */
  builtMetrics: number;
  builtSeries: number;
  /** Indices into the tenant's series table (evaluator.ts). */
  series: number[];
  alerts: Map<string, ActiveAlert>;
  detectors: Map<number, DetectorState>;
  /** Forecast rules: the verdict per series index, recomputed once per forecast bucket (forecast_rule.ts). */
  forecasts?: Map<number, ForecastVerdict>;
}

const META_PREDEFINED = 'predefined_rules_installed';

export interface RuleRegistryDeps {
  store(): AlertStore;
  now(): number;
  /** Ids of the tenant's channels, which its rules may name. */
  knownChannels(tenant: string): ReadonlySet<string>;
  defaultResolveAfterSeconds: number;
  quotas: QuotaLookup;
  /** The remediation.commands allow-list, for rules of the configuration file. */
  isAllowedCommand(name: string): boolean;
  /** Resolves (or clears) a rule's active alerts outside a cycle. */
  closeAlerts(rt: RuleRuntime, reason: string): void;
  log(level: 'warn' | 'info', message: string): void;
}

interface TenantRules {
  readonly rules: Map<string, RuleRuntime>;
  /** One PatternMatch per distinct pattern: it follows the tenant's series table. */
  readonly patterns: Map<string, PatternMatch>;
  /** Bumped on every change, so the evaluator knows when to recompute what it reads. */
  version: number;
}

export class RuleRegistry {
  readonly #tenants = new Map<string, TenantRules>();
  readonly #deps: RuleRegistryDeps;

  constructor(deps: RuleRegistryDeps) {
    this.#deps = deps;
  }

  /** Tenants that have rules. */
  tenants(): string[] {
    return [...this.#tenants.keys()].filter((t) => this.#tenants.get(t)!.rules.size > 0);
  }

  versionOf(tenant: string): number {
    return this.#tenants.get(tenant)?.version ?? 0;
  }

  size(tenant?: string): number {
    if (tenant !== undefined) return this.#tenants.get(tenant)?.rules.size ?? 0;
    let n = 0;
    for (const t of this.#tenants.values()) n += t.rules.size;
    return n;
  }

  /** Runtimes of one tenant, or of every tenant. */
  *runtimes(tenant?: string): IterableIterator<RuleRuntime> {
    if (tenant !== undefined) {
      const t = this.#tenants.get(tenant);
      if (t) yield* t.rules.values();
      return;
    }
    for (const t of this.#tenants.values()) yield* t.rules.values();
  }

  runtime(tenant: string, ruleId: string): RuleRuntime | undefined {
    return this.#tenants.get(tenant)?.rules.get(ruleId);
  }

  clear(): void {
    this.#tenants.clear();
  }

  /**
   * Installs the predefined rules into a new database (tenant `default`), replaces the rules of
   * the configuration file, then loads every stored rule.
   */
  restore(installPredefined: boolean, configRules: readonly unknown[]): void {
    const store = this.#deps.store();
    const now = this.#deps.now();
    if (installPredefined && store.getMeta(DEFAULT_TENANT, META_PREDEFINED) === undefined) {
      const ctx = this.#context(DEFAULT_TENANT, false);
      store.saveRules(PREDEFINED_RULES.map((r) => ({ tenant: DEFAULT_TENANT, origin: 'predefined', rule: validateRule(r, ctx) })), now);
      store.setMeta(DEFAULT_TENANT, META_PREDEFINED, new Date(now).toISOString());
    }
    const fromConfig = this.#validateConfigRules(configRules);
    const configIds = new Set(fromConfig.map((r) => r.rule.rule_id));
    for (const stored of store.loadRules()) {
      if (stored.origin === 'config' && !configIds.has(stored.rule.rule_id)) {
        // Removed from the configuration file: removed here too (its alerts resolve as orphans).
        store.deleteRule(stored.tenant, stored.rule.rule_id);
        continue;
      }
      if (stored.tenant === DEFAULT_TENANT && configIds.has(stored.rule.rule_id)) continue;
      this.#load(stored);
    }
    store.saveRules(fromConfig, now);
    for (const r of fromConfig) this.#load(r);
  }

  /**
   * Replaces the rules of the configuration file while running (SIGHUP). Every rule is validated
   * first: an invalid one throws RangeError naming it and nothing changes. A changed rule keeps
   * its active alerts (as an API update does); a removed one resolves them.
   */
  replaceConfigRules(configRules: readonly unknown[]): { added: string[]; changed: string[]; removed: string[] } {
    const fromConfig = this.#validateConfigRules(configRules);
    const store = this.#deps.store();
    const now = this.#deps.now();
    const t = this.#tenant(DEFAULT_TENANT);
    const nextIds = new Set(fromConfig.map((r) => r.rule.rule_id));
    const out = { added: [] as string[], changed: [] as string[], removed: [] as string[] };
    for (const rt of [...t.rules.values()]) {
      if (rt.origin !== 'config' || nextIds.has(rt.rule.rule_id)) continue;
      this.#deps.closeAlerts(rt, 'rule removed from the configuration file');
      t.rules.delete(rt.rule.rule_id);
      store.deleteRule(DEFAULT_TENANT, rt.rule.rule_id);
      out.removed.push(rt.rule.rule_id);
    }
    const saved: StoredRule[] = [];
    for (const stored of fromConfig) {
      const id = stored.rule.rule_id;
      const old = t.rules.get(id);
      if (old !== undefined && old.origin === 'config' && JSON.stringify(old.rule) === JSON.stringify(stored.rule)) continue;
      saved.push(stored);
      (old === undefined ? out.added : out.changed).push(id);
    }
    store.saveRules(saved, now);
    for (const stored of saved) {
      const old = t.rules.get(stored.rule.rule_id);
      this.#load(stored);
      const next = t.rules.get(stored.rule.rule_id);
      if (old !== undefined && next !== undefined) next.alerts = old.alerts;
      if (next !== undefined && !next.rule.enabled) this.#deps.closeAlerts(next, 'rule disabled');
    }
    t.version++;
    return out;
  }

  #validateConfigRules(configRules: readonly unknown[]): StoredRule[] {
    const ctx = this.#context(DEFAULT_TENANT, true);
    const seen = new Set<string>();
    return configRules.map((raw, i) => {
      let rule: AlertRule;
      try {
        rule = validateRule(raw, ctx);
      } catch (err) {
        throw new RangeError(`alerting.rules[${i}]: ${(err as Error).message}`);
      }
      if (seen.has(rule.rule_id)) throw new RangeError(`alerting.rules[${i}].rule_id=${JSON.stringify(rule.rule_id)} is defined twice`);
      seen.add(rule.rule_id);
      return { tenant: DEFAULT_TENANT, origin: 'config', rule };
    });
  }

  /** A stored rule back in memory, after the checks that may have changed since it was saved. */
  #load(stored: StoredRule): void {
    const known = this.#deps.knownChannels(stored.tenant);
    let rule: AlertRule = {
      ...stored.rule,
      // Stored before rules had a mode, when every pattern was a regex: it keeps that meaning.
      pattern_mode: stored.rule.pattern_mode ?? 'regex',
      forecast: stored.rule.forecast ?? null,
      // A channel removed since the rule was saved is dropped, not fatal.
      channels: stored.rule.channels.filter((c) => known.has(c)),
      escalation: stored.rule.escalation.map((l) => ({ ...l, channels: l.channels.filter((c) => known.has(c)) })),
    };
    if (stored.origin !== 'config' && rule.remediation.some((a) => a.type === 'command')) {
      // Written through the API before commands were limited to the configuration file.
      this.#deps.log('warn', `rule ${stored.tenant}/${rule.rule_id}: command actions dropped (only rules of the configuration file may run commands)`);
      rule = { ...rule, remediation: rule.remediation.filter((a) => a.type !== 'command') };
    }
    let rt: RuleRuntime;
    try {
      rt = this.#newRuntime(stored.tenant, stored.origin, rule);
    } catch (err) {
      this.#deps.log('warn', `rule ${stored.tenant}/${rule.rule_id} not loaded: ${(err as Error).message}`);
      return;
    }
    const t = this.#tenant(stored.tenant);
    t.rules.set(rule.rule_id, rt);
    t.version++;
  }

  list(tenant: string): AlertRule[] {
    return [...this.runtimes(tenant)].map((rt) => ruleView(rt.rule));
  }

  get(tenant: string, ruleId: string): AlertRule | undefined {
    const rt = this.runtime(tenant, ruleId);
    return rt ? ruleView(rt.rule) : undefined;
  }

  /** Rules of the tenant whose channels or escalation name `channelId`. */
  usersOf(tenant: string, channelId: string): string[] {
    return [...this.runtimes(tenant)]
      .filter((rt) => rt.rule.channels.includes(channelId) || rt.rule.escalation.some((l) => l.channels.includes(channelId)))
      .map((rt) => rt.rule.rule_id);
  }

  /** Validates and stores a new API rule; 409 when the id exists, QuotaExceededError past `rules`. */
  add(tenant: string, input: unknown): AlertRule {
    const store = this.#deps.store();
    const rule = this.#validate(tenant, input);
    if (this.runtime(tenant, rule.rule_id)) throw new AlertingError(`rule ${JSON.stringify(rule.rule_id)} already exists`, 409);
    const limit = this.#deps.quotas(tenant).rules;
    if (this.size(tenant) >= limit) throw new QuotaExceededError(tenant, 'rules', limit, `the tenant has ${this.size(tenant)} alert rules`);
    const rt = this.#newRuntime(tenant, 'api', rule);
    const now = this.#deps.now();
    store.saveRule(tenant, 'api', rule, now);
    store.appendHistory([{ tenant, at: now, event: 'rule_created', alert_id: null, rule_id: rule.rule_id, details: { name: rule.name } }]);
    const t = this.#tenant(tenant);
    t.rules.set(rule.rule_id, rt);
    t.version++;
    return ruleView(rule);
  }

  /** Partial update: fields not given keep their value. Active alerts carry over. */
  update(tenant: string, ruleId: string, input: unknown): AlertRule {
    const store = this.#deps.store();
    const rt = this.#requireApiRule(tenant, ruleId);
    const rule = this.#validate(tenant, input, rt.rule);
    const next = this.#newRuntime(tenant, rt.origin, rule);
    const now = this.#deps.now();
    store.saveRule(tenant, rt.origin, rule, now);
    store.appendHistory([{ tenant, at: now, event: 'rule_updated', alert_id: null, rule_id: rule.rule_id, details: {} }]);
    next.alerts = rt.alerts;
    const old = rt.rule;
    if (old.use_anomaly_detection === rule.use_anomaly_detection && old.anomaly_method === rule.anomaly_method && old.metric_pattern === rule.metric_pattern && old.pattern_mode === rule.pattern_mode) {
      next.detectors = rt.detectors;
    }
    const t = this.#tenant(tenant);
    t.rules.set(ruleId, next);
    t.version++;
    if (!rule.enabled) this.#deps.closeAlerts(next, 'rule disabled');
    return ruleView(rule);
  }

  delete(tenant: string, ruleId: string): void {
    const store = this.#deps.store();
    const rt = this.#requireApiRule(tenant, ruleId);
    this.#deps.closeAlerts(rt, 'rule deleted');
    const t = this.#tenant(tenant);
    t.rules.delete(ruleId);
    t.version++;
    store.deleteRule(tenant, ruleId);
    store.appendHistory([{ tenant, at: this.#deps.now(), event: 'rule_deleted', alert_id: null, rule_id: ruleId, details: {} }]);
  }

  #requireApiRule(tenant: string, ruleId: string): RuleRuntime {
    const rt = this.runtime(tenant, ruleId);
    if (!rt) throw new AlertingError(`rule ${JSON.stringify(ruleId)} not found`, 404);
    if (rt.origin === 'config') {
      throw new AlertingError(`rule ${JSON.stringify(ruleId)} is defined in the alerting section of the configuration file; change it there`, 409);
    }
    return rt;
  }

  #tenant(tenant: string): TenantRules {
    let t = this.#tenants.get(tenant);
    if (!t) this.#tenants.set(tenant, (t = { rules: new Map(), patterns: new Map(), version: 0 }));
    return t;
  }

  #context(tenant: string, fromConfig: boolean): RuleValidationContext {
    const ctx: RuleValidationContext = { knownChannels: this.#deps.knownChannels(tenant), defaultResolveAfterSeconds: this.#deps.defaultResolveAfterSeconds };
    if (fromConfig) ctx.isAllowedCommand = (name) => this.#deps.isAllowedCommand(name);
    return ctx;
  }

  #validate(tenant: string, input: unknown, existing?: AlertRule): AlertRule {
    try {
      return validateRule(input, this.#context(tenant, false), existing);
    } catch (err) {
      if (err instanceof RuleValidationError) throw new AlertingError(err.message, 400);
      throw err;
    }
  }

  #newRuntime(tenant: string, origin: RuleOrigin, rule: AlertRule): RuleRuntime {
    const patterns = this.#tenant(tenant).patterns;
    const key = `${rule.pattern_mode}\u0000${rule.metric_pattern}`;
    let match = patterns.get(key);
    if (!match) patterns.set(key, (match = new PatternMatch(rule.metric_pattern, rule.pattern_mode)));
    return { tenant, origin, rule, match, builtMetrics: -1, builtSeries: -1, series: [], alerts: new Map(), detectors: new Map() };
  }
}
