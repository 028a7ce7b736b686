/**
 * The alerting engine's facade: rules evaluated on a fixed interval over the metrics system,
 * alert lifecycle, silences, acknowledgements, escalation, notifications, remediation and IP
 * blocks, for every tenant, all persisted in `alerts.db` next to the metrics. Each concern
 * lives in its own file; this class wires them, owns the open/close lifecycle and the
 * schedule, and is the API the routes call. Every API method takes the tenant first (the
 * routes pass `tenantOf(req)`); another tenant's rule, alert, silence or channel is "not
 * found".
 *
 *   rule_registry.ts     rules per tenant and their runtime state, CRUD, quota, restore
 *   channel_registry.ts  notification channels (config, API, code), sealed persistence, quota
 *   silences.ts          silences, their matching and quota
 *   evaluator.ts         one cycle's reads and conditions, tenant by tenant
 *   alert_lifecycle.ts   pending → firing → resolved transitions
 *   escalation.ts        remediation start, escalation levels, notification batches
 *   alert_queries.ts     alert lists, single alerts, acknowledgement
 *   ip_blocklist.ts      block_ip: protected addresses, seen clients, per-tenant entries
 *   restore.ts           active alerts and IP blocks after a restart
 *   alerting_status.ts   cycle figures and the status view
 *
 * Lifecycle: `open()` (or `start()`, which opens and schedules a cycle every interval), any
 * number of API calls and `evaluateOnce()` calls, then `stop()` (waits for the running cycle,
 * gives notifications a moment to drain, closes the database). Time comes from the injected
 * clock, so tests drive cycles with `evaluateOnce()` and a fake clock, never with sleeps.
 */
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import type { MetricsSystem } from '../model/api.js';
import type { Tags } from '../model/metric.js';
import { TENANT_NAME_PATTERN } from '../model/tenant.js';
import { STRICT_EGRESS } from '../net/egress_guard.js';
import { fixedQuotas } from '../tenancy/quota.js';
import type { AlertView } from './alert.js';
import { closeAlerts, CycleChanges } from './alert_lifecycle.js';
import { AlertQueries } from './alert_queries.js';
import { ALERTS_DB_FILE, AlertStore, type AlertFilter, type AuditEntry, type HistoryFilter } from './alert_store.js';
import { AlertingError } from './alerting_error.js';
import type { AlertingLog, AlertingOptions, Clock } from './alerting_options.js';
import { CycleStats, emptyCounts, HISTOGRAM_BUCKETS_S, type AlertingStatus } from './alerting_status.js';
import { ChannelRegistry, splitChannelKey } from './channel_registry.js';
import type { NotificationChannel } from './channels/channel.js';
import { deliveredEvents, Escalation, failedEvents } from './escalation.js';
import { Evaluator, type CycleResult } from './evaluator.js';
import { IpBlocklist, normalizeIp, type BlockEntry } from './ip_blocklist.js';
import { NotificationDispatcher, type ChannelStats } from './notification_dispatcher.js';
import { commandAllowList, RemediationExecutor, type RemediationHooks } from './remediation.js';
import { restoreAlerts, restoreBlocks } from './restore.js';
import { RuleRegistry, type RuleRuntime } from './rule_registry.js';
import type { AlertRule } from './rule.js';
import { SecretBox, SECRETS_KEY_FILE } from './secret_box.js';
import { SilenceRegistry } from './silences.js';

export { AlertingError } from './alerting_error.js';
export type { AlertingHooks, AlertingOptions, Clock, DetectorFactory } from './alerting_options.js';
export type { AlertingStatus } from './alerting_status.js';
export type { CycleResult } from './evaluator.js';
export { renderAnnotations } from './alert_lifecycle.js';

const PRUNE_EVERY_MS = 3_600_000;

export class Alerting {
  /** The addresses block_ip denies; the server consults `isBlocked(remoteAddress)`. */
  readonly ipBlocklist: IpBlocklist;
  readonly #system: MetricsSystem;
  readonly #clock: Clock;
  readonly #opts: AlertingOptions;
  readonly #intervalMs: number;
  readonly #log: AlertingLog;
  #store: AlertStore | null = null;
  #dispatcher: NotificationDispatcher | null = null;
  #remediation: RemediationExecutor | null = null;
  readonly #rules: RuleRegistry;
  readonly #channels: ChannelRegistry;
  readonly #silences: SilenceRegistry;
  readonly #evaluator: Evaluator;
  readonly #escalation: Escalation;
  readonly #alerts: AlertQueries;
  readonly #stats = new CycleStats();
  #running: Promise<CycleResult> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #started = false;
  #lastPrune = 0;

  constructor(system: MetricsSystem, options: AlertingOptions) {
    this.#system = system;
    this.#opts = options;
    this.#clock = options.clock ?? { now: Date.now };
    this.#log = options.log ?? (() => undefined);
    const interval = options.intervalSeconds ?? 15;
    if (!(interval > 0 && interval <= 86_400)) throw new RangeError(`alerting.intervalSeconds must be in (0, 86400]; got ${interval}`);
    this.#intervalMs = interval * 1000;
    const stale = options.staleAfterSeconds ?? 300;
    if (!(stale > 0)) throw new RangeError(`alerting.staleAfterSeconds must be > 0; got ${stale}`);
    this.ipBlocklist = new IpBlocklist({
      now: () => this.#clock.now(),
      adminNetworks: options.adminNetworks,
      wasSeenClient: options.wasSeenClient,
      log: this.#log,
    });
    const quotas = options.quotas ?? fixedQuotas();
    const commands = commandAllowList(options.remediation?.commands);
    const store = (): AlertStore => this.#requireStore();
    const now = (): number => this.#clock.now();
    this.#rules = new RuleRegistry({
      store, now, quotas,
      knownChannels: (tenant) => this.#channels.ids(tenant),
      defaultResolveAfterSeconds: options.defaultResolveAfterSeconds ?? 0,
      isAllowedCommand: (name) => commands.has(name),
      closeAlerts: (rt, reason) => this.#closeAlerts(rt, reason),
      log: this.#log,
    });
    this.#channels = new ChannelRegistry({
      store, quotas,
      dispatcher: () => this.#requireDispatcher(),
      context: { smtpServers: options.smtpServers ?? new Map(), egress: options.egress ?? STRICT_EGRESS },
      usersOf: (tenant, id) => this.#rules.usersOf(tenant, id),
      log: this.#log,
    });
    this.#silences = new SilenceRegistry({ store, now, quotas });
    this.#evaluator = new Evaluator(system, this.#rules, {
      intervalMs: this.#intervalMs,
      staleMs: stale * 1000,
      detectorFactory: options.detectorFactory,
      anomalyWarmupMs: (options.anomalyWarmupSeconds ?? 6 * 3600) * 1000,
      enhancedSensitivityBoost: options.enhancedSensitivityBoost ?? 0.2,
    });
    this.#escalation = new Escalation({
      dispatcher: () => this.#requireDispatcher(),
      remediation: () => this.#remediation!,
      silences: this.#silences,
      defaultChannels: options.defaultChannels,
      channelIds: (tenant) => this.#channels.ids(tenant),
    });
    this.#alerts = new AlertQueries({ store, now, runtimes: (tenant) => this.#rules.runtimes(tenant), silences: this.#silences });
  }

  get intervalSeconds(): number {
    return this.#intervalMs / 1000;
  }

  get isOpen(): boolean {
    return this.#store !== null;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Opens the database and restores channels, rules, silences, active alerts and blocks. Idempotent. */
  open(): void {
    if (this.#store) return;
    const path = this.#opts.databasePath ?? join(this.#system.dataDirectory, ALERTS_DB_FILE);
    const box = SecretBox.openKeyFile(this.#opts.secretsKeyPath ?? join(path === ':memory:' ? this.#system.dataDirectory : dirname(path), SECRETS_KEY_FILE));
    const store = new AlertStore(path, box);
    this.#store = store;
    try {
      this.#dispatcher = new NotificationDispatcher({
        ...this.#opts.dispatcher,
        now: () => this.#clock.now(),
        onDelivered: (key, batch, attempts) => this.#store?.appendHistory(deliveredEvents(key, batch, attempts, this.#clock.now())),
        onFailed: (key, batch, error, attempts) => {
          this.#stats.noteNotificationFailure(splitChannelKey(key).tenant);
          this.#store?.appendHistory(failedEvents(key, batch, error, attempts, this.#clock.now()));
        },
      });
      this.#channels.restore(this.#opts.registeredChannels ?? [], this.#opts.channels ?? [], this.#opts.defaultChannels ?? []);
      this.#remediation = new RemediationExecutor(store, this.#remediationHooks(), () => this.#clock.now(), { ...this.#opts.remediation, egress: this.#opts.remediation?.egress ?? this.#opts.egress });
      this.#rules.restore(this.#opts.predefinedRules !== false, this.#opts.rules ?? []);
      this.#silences.restore();
      restoreAlerts(store, this.#rules, this.#clock.now());
      restoreBlocks(store, this.ipBlocklist);
    } catch (err) {
      this.#dispatcher?.close();
      this.#dispatcher = null;
      this.#clearMemory();
      store.close();
      this.#store = null;
      throw err;
    }
  }

  /** Opens if needed and evaluates every interval until stop(). */
  start(): void {
    this.open();
    if (this.#started) return;
    this.#started = true;
    const tick = (): void => {
      if (!this.#started) return;
      if (this.#running) this.#stats.skippedCycles++;
      else void this.evaluateOnce().catch(() => undefined);
      this.#timer = setTimeout(tick, this.#intervalMs);
      this.#timer.unref();
    };
    this.#timer = setTimeout(tick, 0);
    this.#timer.unref();
  }

  /** Stops scheduling, waits for the running cycle and (up to drainMs) for notifications, closes. */
  async stop(drainMs = 2000): Promise<void> {
    this.#started = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#running) await this.#running.catch(() => undefined);
    if (this.#dispatcher) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.#dispatcher.idle(),
        new Promise<void>((r) => { timer = setTimeout(r, drainMs); }),
      ]);
      clearTimeout(timer);
    }
    await this.#remediation?.idle();
    this.#dispatcher?.close();
    this.#dispatcher = null;
    this.#store?.close();
    this.#store = null;
    this.#clearMemory();
  }

  /** Resolves when queued notifications and started remediations are done (tests). */
  async idle(): Promise<void> {
    await this.#dispatcher?.idle();
    await this.#remediation?.idle();
  }

  #clearMemory(): void {
    this.#rules.clear();
    this.#silences.clear();
    this.#channels.clear();
    this.#evaluator.clear();
  }

  #requireStore(): AlertStore {
    if (!this.#store) throw new Error('alerting is not open: call open() or start() first');
    return this.#store;
  }

  #requireDispatcher(): NotificationDispatcher {
    if (!this.#dispatcher) throw new Error('alerting is not open: call open() or start() first');
    return this.#dispatcher;
  }

  /** The tenant of an API call; the routes pass the credential's, so a bad one is a bug. */
  #tenant(tenant: string): string {
    if (typeof tenant !== 'string' || !TENANT_NAME_PATTERN.test(tenant)) throw new RangeError(`BUG: tenant=${JSON.stringify(tenant)} must match ${TENANT_NAME_PATTERN.source}`);
    this.#requireStore();
    return tenant;
  }

  #remediationHooks(): RemediationHooks {
    const external = this.#opts.hooks ?? {};
    return {
      blockRefusal: (ip, origin) => this.ipBlocklist.check(ip, origin)?.message,
      blockIp: (ip, untilMs, origin) => {
        const entry = this.ipBlocklist.block(ip, untilMs, origin);
        this.#store?.saveBlock(entry);
        external.onIpBlocked?.(entry);
        return `blocked until ${new Date(entry.until_ms).toISOString()}`;
      },
      enhanceMonitoring: (series, untilMs) => {
        this.#evaluator.enhance(series.tenant, series, untilMs);
        external.enhanceMonitoring?.(series, untilMs);
      },
    };
  }

  // ---------------------------------------------------------------- evaluation

  /** Runs one evaluation cycle now (unless one is running: then waits for that one). */
  evaluateOnce(): Promise<CycleResult> {
    this.#requireStore();
    if (this.#running) return this.#running;
    const p = this.#evaluate().finally(() => {
      this.#running = null;
    });
    this.#running = p;
    return p;
  }

  async #evaluate(): Promise<CycleResult> {
    const started = performance.now();
    const now = this.#clock.now();
    const cycle = ++this.#stats.cycles;
    const changes = new CycleChanges(now);
    const result: CycleResult = { at: now, durationMs: 0, rulesEvaluated: 0, seriesWatched: 0, transitions: 0 };
    await this.#evaluator.evaluate(changes, cycle, result);
    if (!this.#store) return result;
    this.#escalation.afterCycle(changes, this.#rules.runtimes());
    result.transitions = changes.events.length;
    this.#store.saveCycle(changes.dirty.values(), changes.events, changes.cleared);
    if (now - this.#lastPrune >= PRUNE_EVERY_MS) {
      this.#lastPrune = now;
      const before = now - (this.#opts.retentionDays ?? 30) * 86_400_000;
      this.#store.prune(before);
      this.#store.deleteExpiredBlocks(now);
      this.#silences.prune(before);
      this.#evaluator.pruneEnhanced(now);
      this.ipBlocklist.prune(now);
    }
    result.seriesWatched = this.#evaluator.seriesWatched();
    result.durationMs = performance.now() - started;
    this.#stats.observe(result);
    return result;
  }

  /** Resolves a rule's active alerts outside a cycle (rule disabled or deleted). */
  #closeAlerts(rt: RuleRuntime, reason: string): void {
    if (rt.alerts.size === 0) return;
    const changes = closeAlerts(rt, reason, this.#clock.now());
    this.#escalation.afterCycle(changes, [rt]);
    this.#requireStore().saveCycle(changes.dirty.values(), changes.events, changes.cleared);
  }

  // ---------------------------------------------------------------- rules API

  listRules(tenant: string): AlertRule[] {
    return this.#rules.list(this.#tenant(tenant));
  }

  getRule(tenant: string, ruleId: string): AlertRule | undefined {
    return this.#rules.get(this.#tenant(tenant), ruleId);
  }

  /** Validates and stores a new rule; 400 for a bad one (or one with a command action), 409 when the id exists. */
  addRule(tenant: string, input: unknown): AlertRule {
    return this.#rules.add(this.#tenant(tenant), input);
  }

  /** Partial update: fields not given keep their value. Active alerts carry over. */
  updateRule(tenant: string, ruleId: string, input: unknown): AlertRule {
    return this.#rules.update(this.#tenant(tenant), ruleId, input);
  }

  deleteRule(tenant: string, ruleId: string): void {
    this.#rules.delete(this.#tenant(tenant), ruleId);
  }

  /**
   * Replaces the rules of the configuration file (`alerting.rules`, SIGHUP). Throws RangeError
   * naming the first invalid rule, and then changes nothing.
   */
  reloadConfigRules(rules: readonly unknown[]): { added: string[]; changed: string[]; removed: string[] } {
    return this.#rules.replaceConfigRules(rules);
  }

  // ---------------------------------------------------------------- alerts API

  /** Pending and firing alerts from memory, resolved ones from the database; newest first. */
  listAlerts(tenant: string, filter: AlertFilter = {}): AlertView[] {
    return this.#alerts.list(this.#tenant(tenant), filter);
  }

  getAlert(tenant: string, alertId: string): AlertView | undefined {
    return this.#alerts.get(this.#tenant(tenant), alertId);
  }

  acknowledge(tenant: string, alertId: string, by: string, comment = ''): AlertView {
    return this.#alerts.acknowledge(this.#tenant(tenant), alertId, by, comment);
  }

  history(tenant: string, filter: HistoryFilter = {}): Array<Record<string, unknown>> {
    return this.#requireStore().listHistory(this.#tenant(tenant), filter).map(({ tenant: _t, ...e }) => ({ ...e, at: new Date(e.at).toISOString() }));
  }

  remediationAudit(tenant: string, limit = 1000): Array<Omit<AuditEntry, 'tenant'>> {
    return this.#requireStore().listAudit(this.#tenant(tenant), limit).map(({ tenant: _t, ...e }) => e);
  }

  /** The tenant's alerts, rules and channels; cycle figures are the server's. */
  status(tenant: string): AlertingStatus {
    const t = this.#tenant(tenant);
    return this.#status(t);
  }

  #status(tenant: string | undefined): AlertingStatus {
    const store = this.#requireStore();
    const now = this.#clock.now();
    const { byState, byPriority } = emptyCounts();
    let acknowledged = 0;
    let silenced = 0;
    let enabled = 0;
    for (const rt of this.#rules.runtimes(tenant)) {
      if (rt.rule.enabled) enabled++;
      for (const { rec: a } of rt.alerts.values()) {
        byState[a.state]++;
        byPriority[a.priority]++;
        if (a.acknowledged_at !== null) acknowledged++;
        if (this.#silences.isSilenced(a, now)) silenced++;
      }
    }
    byState.resolved = store.countAlerts(tenant ?? null, 'resolved');
    return {
      by_state: byState,
      by_priority: byPriority,
      acknowledged,
      silenced,
      rules: { total: this.#rules.size(tenant), enabled },
      last_cycle: this.#stats.lastCycleView(tenant),
      cycles: this.#stats.cycles,
      interval_seconds: this.#intervalMs / 1000,
      series_watched: this.#evaluator.seriesWatched(tenant),
      notification_failures: this.#stats.notificationFailures(tenant),
      channels: tenant === undefined ? this.#allChannelStats().map(({ tenant: _t, ...c }) => c) : this.#channels.stats(tenant),
    };
  }

  /**
   * Server-wide counters for /metrics (alerting_metrics.ts): every tenant together; channel
   * counters carry their tenant.
   */
  metricsSnapshot(): {
    status: AlertingStatus;
    channels: Array<ChannelStats & { tenant: string }>;
    cycleHistogram: { buckets: readonly number[]; counts: readonly number[]; sumSeconds: number; count: number };
    skippedCycles: number;
  } {
    return {
      status: this.#status(undefined),
      channels: this.#allChannelStats(),
      cycleHistogram: { buckets: HISTOGRAM_BUCKETS_S, counts: [...this.#stats.histogram], sumSeconds: this.#stats.sumSeconds, count: this.#stats.cycles },
      skippedCycles: this.#stats.skippedCycles,
    };
  }

  /** Every tenant's channel counters, with the tenant apart from the channel id. */
  #allChannelStats(): Array<ChannelStats & { tenant: string }> {
    return this.#requireDispatcher().stats().map((c) => {
      const { tenant, channelId } = splitChannelKey(c.channel_id);
      return { ...c, tenant, channel_id: channelId };
    });
  }

  // ---------------------------------------------------------------- silences API

  /**
   * Accepts `{ matchers: {rule_id?, priority?, tags?} }` or the same fields at top level, plus
   * starts_at (default now), ends_at or duration_seconds, created_by, comment.
   */
  addSilence(tenant: string, input: unknown): Record<string, unknown> {
    return this.#silences.add(this.#tenant(tenant), input);
  }

  listSilences(tenant: string, includeExpired = false): Array<Record<string, unknown>> {
    return this.#silences.list(this.#tenant(tenant), includeExpired);
  }

  /** Expires the silence now (kept for the record). */
  expireSilence(tenant: string, silenceId: string): Record<string, unknown> {
    return this.#silences.expire(this.#tenant(tenant), silenceId);
  }

  // ---------------------------------------------------------------- channels API

  /** The tenant's channels, secrets redacted, with delivery counters. */
  listChannels(tenant: string): Array<Record<string, unknown>> {
    return this.#channels.list(this.#tenant(tenant));
  }

  getChannel(tenant: string, channelId: string): Record<string, unknown> {
    return this.#channels.get(this.#tenant(tenant), channelId);
  }

  /**
   * Registers a channel implemented in code (embedded use: a callback, a message bus). Not
   * persisted; pass it as `registeredChannels` too (tenant `default`) so stored rules naming
   * it keep it on reopen.
   */
  registerChannel(tenant: string, channel: NotificationChannel): void {
    this.#channels.register(this.#tenant(tenant), channel);
  }

  /** Adds or replaces a channel (persisted, sealed); the answer is redacted. */
  putChannel(tenant: string, raw: unknown): Record<string, unknown> {
    return this.#channels.put(this.#tenant(tenant), raw);
  }

  deleteChannel(tenant: string, channelId: string): void {
    this.#channels.delete(this.#tenant(tenant), channelId);
  }

  // ---------------------------------------------------------------- blocked addresses API

  /** Blocks the tenant's rules made that still run (each address is refused server-wide). */
  listBlockedIps(tenant: string): BlockEntry[] {
    return this.ipBlocklist.list(this.#tenant(tenant));
  }

  /** Lifts the tenant's block of `ip`; 404 when it has none. Another tenant's block of the address stays. */
  unblockIp(tenant: string, ip: string): void {
    const t = this.#tenant(tenant);
    if (typeof ip !== 'string' || isIP(normalizeIp(ip)) === 0) throw new AlertingError(`ip=${JSON.stringify(ip)} is not an IPv4 or IPv6 address`, 400);
    if (!this.ipBlocklist.unblock(t, ip)) throw new AlertingError(`no block of ${JSON.stringify(ip)} by this tenant's rules`, 404);
    this.#requireStore().deleteBlock(t, normalizeIp(ip));
    this.#log('info', `block of ${normalizeIp(ip)} by tenant ${t} lifted`);
  }

  /** The tenant's series under enhanced monitoring, for collectors and analytics. */
  enhancedSeries(tenant: string): Array<{ metricId: string; tags: Tags; untilMs: number }> {
    return this.#evaluator.enhancedSeries(this.#tenant(tenant), this.#clock.now());
  }
}

