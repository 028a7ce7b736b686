/**
 * The alerting engine: rules evaluated on a fixed interval over the metrics system, alert
 * lifecycle (see alert.ts), silences, acknowledgements, escalation, notifications through the
 * NotificationDispatcher and remediation, all persisted in `alerts.db` next to the metrics.
 *
 * Lifecycle: `open()` (or `start()`, which opens and schedules a cycle every interval), any
 * number of API calls and `evaluateOnce()` calls, then `stop()` (waits for the running cycle,
 * gives notifications a moment to drain, closes the database). Time comes from the injected
 * clock, so tests drive cycles with `evaluateOnce()` and a fake clock, never with sleeps.
 *
 * A cycle: (1) newest point of every watched series through `latest()` (a few globs covering
 * all rule patterns), (2) raw points only for series of windowed or anomaly rules, one query
 * per metric id, (3) conditions per rule and series/group → state transitions, (4) one pass
 * over firing alerts for notifications, escalation and refreshes, (5) one SQLite transaction
 * with what changed. Notifications and remediation run in the background: a failing channel
 * never delays the next cycle.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { MetricsSystem, SeriesResult } from '../model/api.js';
import type { Tags } from '../model/metric.js';
import type { StreamingDetector, StreamingDetectorOptions } from '../analytics/streaming_detector_contract.js';
import {
  alertView, silenceMatches, type AlertRecord, type AlertState, type AlertView, type HistoryEvent,
  type HistoryEventKind, type Silence, type SilenceMatchers,
} from './alert.js';
import { ALERTS_DB_FILE, AlertStore, type AlertFilter, type AuditEntry, type HistoryFilter } from './alert_store.js';
import type { NotificationBatch, NotificationChannel, NotificationEvent, NotificationKind } from './channels/channel.js';
import { createChannel, redactChannelConfig, validateChannelConfig } from './channels/create_channel.js';
import { IpBlocklist } from './ip_blocklist.js';
import { NotificationDispatcher, type ChannelStats, type DispatcherOptions } from './notification_dispatcher.js';
import { PREDEFINED_RULES } from './predefined_rules.js';
import { RemediationExecutor, type RemediationHooks, type RemediationOptions } from './remediation.js';
import {
  compare, PRIORITIES, priorityRank, raisePriority, RuleValidationError, validateRule, type AlertRule, type Priority,
} from './rule.js';
import { coveringGlobs, globForPattern, PatternMatch, SeriesTable } from './series_table.js';
import { aggregateWindow, GroupAccumulator } from './window_aggregate.js';

export interface Clock {
  now(): number;
}

export type DetectorFactory = (options: StreamingDetectorOptions) => StreamingDetector;

export interface AlertingOptions {
  /** Source of time for evaluation, lifecycle and escalation. Default Date.now. */
  clock?: Clock;
  /** Evaluation period. Default 15 s. */
  intervalSeconds?: number;
  /** A `last` value older than this is no data (condition false). Default 300 s. */
  staleAfterSeconds?: number;
  /** Flap damping default for rules without resolve_after_seconds. Default 0. */
  defaultResolveAfterSeconds?: number;
  /** Install the seed's predefined rules into a new database. Default true. */
  predefinedRules?: boolean;
  /** Channel configs (main.json); they replace stored channels with the same id. */
  channels?: unknown[];
  /** Channels implemented in code (embedded use), installed before stored rules are loaded. */
  registeredChannels?: NotificationChannel[];
  /** Channels of rules that name none. Default: every configured channel. */
  defaultChannels?: string[];
  /** Environment for SMTP_* defaults. Default process.env. */
  env?: NodeJS.ProcessEnv;
  dispatcher?: DispatcherOptions;
  remediation?: RemediationOptions;
  /** Remediation hooks of other parts (server blocklist, collectors). */
  hooks?: Partial<RemediationHooks>;
  /** Blocklist the `block_ip` action fills; the server consults it. Default: a new one. */
  ipBlocklist?: IpBlocklist;
  /** Streaming anomaly detector per series for anomaly rules. */
  detectorFactory: DetectorFactory;
  /** History fed to a new anomaly detector before it judges. Default 3600 s. */
  anomalyWarmupSeconds?: number;
  /** Sensitivity added to anomaly rules for series under enhanced monitoring. Default 0.2. */
  enhancedSensitivityBoost?: number;
  /** Resolved alerts, history and audit older than this are pruned. Default 30 days. */
  retentionDays?: number;
  /** Alert database file. Default `<system.dataDirectory>/alerts.db`. */
  databasePath?: string;
}

export interface CycleResult {
  at: number;
  durationMs: number;
  rulesEvaluated: number;
  seriesWatched: number;
  transitions: number;
  /** Set when the cycle could not read metrics (alert states left unchanged) or a rule failed. */
  error?: string;
  /** Rules whose evaluation threw this cycle. */
  ruleErrors?: number;
}

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

/** Raised by the embedded API; the HTTP layer maps `status` to the response code. */
export class AlertingError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409,
  ) {
    super(message);
    this.name = 'AlertingError';
  }
}

interface ActiveAlert {
  rec: AlertRecord;
  /** Cycle number in which the condition was last evaluated for this alert. */
  seen: number;
}

interface DetectorState {
  detector: StreamingDetector;
  sensitivity: number;
  lastTs: number;
  /** Counter series: the previous raw value, to turn totals into rates. */
  lastRaw: number;
}

interface RuleRuntime {
  rule: AlertRule;
  match: PatternMatch;
  /** Matched metric count and their total series count when `series` was built. */
  builtMetrics: number;
  builtSeries: number;
  series: number[];
  alerts: Map<string, ActiveAlert>;
  detectors: Map<number, DetectorState>;
}

/** Cycle-time buckets around the 1 s budget (bench/alerts.bench.ts: 0.15–0.5 s at 10k × 10k). */
const HISTOGRAM_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Raw queries in flight at once: enough to overlap the engine's reads, few enough not to crowd ingest. */
const QUERY_CONCURRENCY = 8;
/** Beyond this many distinct globs one `latest('*')` is cheaper than many narrow calls. */
const MAX_LATEST_GLOBS = 32;
const PRUNE_EVERY_MS = 3_600_000;
const META_PREDEFINED = 'predefined_rules_installed';

export class Alerting {
  readonly ipBlocklist: IpBlocklist;
  readonly #system: MetricsSystem;
  readonly #clock: Clock;
  readonly #opts: AlertingOptions;
  readonly #intervalMs: number;
  readonly #staleMs: number;
  #store: AlertStore | null = null;
  #dispatcher: NotificationDispatcher | null = null;
  #remediation: RemediationExecutor | null = null;
  readonly #rules = new Map<string, RuleRuntime>();
  readonly #channelConfigs = new Map<string, Record<string, unknown>>();
  readonly #silences = new Map<string, Silence>();
  readonly #series = new SeriesTable();
  readonly #patterns = new Map<string, PatternMatch>();
  /** Series key → end of enhanced monitoring. */
  readonly #enhanced = new Map<string, number>();
  readonly #lastRefresh = new Map<string, number>();
  #globs: string[] | null = null;
  #cycle = 0;
  #running: Promise<CycleResult> | null = null;
  #timer: NodeJS.Timeout | null = null;
  #started = false;
  #lastCycle: CycleResult | null = null;
  #lastPrune = 0;
  #notificationFailures = 0;
  #skippedCycles = 0;
  readonly #cycleHistogram = new Array<number>(HISTOGRAM_BUCKETS_S.length).fill(0);
  #cycleSumS = 0;
  // Per-cycle scratch, reset at the start of each cycle.
  #dirty = new Map<string, AlertRecord>();
  #events: HistoryEvent[] = [];
  /** Pending alerts cleared this cycle: their rows are deleted with the cycle's transaction. */
  #cleared: string[] = [];
  #newlyFiring: Array<{ rt: RuleRuntime; rec: AlertRecord }> = [];
  #newlyResolved: Array<{ rt: RuleRuntime; rec: AlertRecord }> = [];
  #now = 0;

  constructor(system: MetricsSystem, options: AlertingOptions) {
    this.#system = system;
    this.#opts = options;
    this.#clock = options.clock ?? { now: Date.now };
    const interval = options.intervalSeconds ?? 15;
    if (!(interval > 0 && interval <= 86_400)) throw new RangeError(`alerting.intervalSeconds must be in (0, 86400]; got ${interval}`);
    this.#intervalMs = interval * 1000;
    const stale = options.staleAfterSeconds ?? 300;
    if (!(stale > 0)) throw new RangeError(`alerting.staleAfterSeconds must be > 0; got ${stale}`);
    this.#staleMs = stale * 1000;
    this.ipBlocklist = options.ipBlocklist ?? new IpBlocklist(() => this.#clock.now());
  }

  get intervalSeconds(): number {
    return this.#intervalMs / 1000;
  }

  get isOpen(): boolean {
    return this.#store !== null;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Opens the database and restores rules, channels, silences and active alerts. Idempotent. */
  open(): void {
    if (this.#store) return;
    const path = this.#opts.databasePath ?? join(this.#system.dataDirectory, ALERTS_DB_FILE);
    const store = new AlertStore(path);
    this.#store = store;
    try {
      this.#dispatcher = new NotificationDispatcher({
        ...this.#opts.dispatcher,
        now: () => this.#clock.now(),
        onDelivered: (channelId, batch, attempts) => this.#onDelivered(channelId, batch, attempts),
        onFailed: (channelId, batch, error, attempts) => this.#onFailed(channelId, batch, error, attempts),
      });
      this.#restoreChannels(store);
      this.#remediation = new RemediationExecutor(store, this.#remediationHooks(), () => this.#clock.now(), this.#opts.remediation);
      this.#restoreRules(store);
      for (const s of store.loadSilences()) this.#silences.set(s.silence_id, s);
      this.#restoreAlerts(store);
      this.#restoreBlocks(store);
    } catch (err) {
      this.#dispatcher?.close();
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
      if (this.#running) this.#skippedCycles++;
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
    this.#rules.clear();
    this.#silences.clear();
    this.#channelConfigs.clear();
  }

  /** Resolves when queued notifications and started remediations are done (tests). */
  async idle(): Promise<void> {
    await this.#dispatcher?.idle();
    await this.#remediation?.idle();
  }

  #requireStore(): AlertStore {
    if (!this.#store) throw new Error('alerting is not open: call open() or start() first');
    return this.#store;
  }

  // ---------------------------------------------------------------- restore

  #restoreChannels(store: AlertStore): void {
    const env = this.#opts.env ?? process.env;
    for (const channel of this.#opts.registeredChannels ?? []) {
      this.#dispatcher!.setChannel(channel);
      this.#channelConfigs.set(channel.id, { id: channel.id, type: channel.type, registered_in_code: true });
    }
    for (const raw of store.loadChannels()) this.#installChannel(raw, env);
    for (const raw of this.#opts.channels ?? []) {
      const c = validateChannelConfig(raw, env);
      this.#installChannel(c, env);
      store.saveChannel(c.id, c);
    }
    for (const id of this.#opts.defaultChannels ?? []) {
      if (!this.#channelConfigs.has(id)) throw new RangeError(`alerting.defaultChannels names unknown channel ${JSON.stringify(id)}`);
    }
  }

  #installChannel(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): NotificationChannel {
    const channel = createChannel(raw, env);
    this.#dispatcher!.setChannel(channel);
    this.#channelConfigs.set(channel.id, raw);
    return channel;
  }

  #restoreRules(store: AlertStore): void {
    const ctx = this.#validationContext();
    if (this.#opts.predefinedRules !== false && store.getMeta(META_PREDEFINED) === undefined) {
      const now = this.#clock.now();
      store.saveRules(PREDEFINED_RULES.map((r) => validateRule(r, ctx)), now);
      store.setMeta(META_PREDEFINED, new Date(now).toISOString());
    }
    for (const stored of store.loadRules()) {
      // Stored rules were valid when saved; a channel removed since then is dropped, not fatal.
      const rule: AlertRule = {
        ...stored,
        channels: stored.channels.filter((c) => this.#channelConfigs.has(c)),
        escalation: stored.escalation.map((l) => ({ ...l, channels: l.channels.filter((c) => this.#channelConfigs.has(c)) })),
      };
      this.#rules.set(rule.rule_id, this.#newRuntime(rule));
    }
    this.#globs = null;
  }

  #restoreAlerts(store: AlertStore): void {
    const orphans: AlertRecord[] = [];
    const now = this.#clock.now();
    for (const rec of store.loadActiveAlerts()) {
      const rt = this.#rules.get(rec.rule_id);
      if (!rt) {
        rec.state = 'resolved';
        rec.resolved_at = now;
        rec.updated_at = now;
        orphans.push(rec);
        continue;
      }
      rt.alerts.set(rec.group_key, { rec, seen: 0 });
    }
    if (orphans.length > 0) {
      store.saveCycle(orphans, orphans.map((r) => ({ at: now, event: 'resolved' as const, alert_id: r.alert_id, rule_id: r.rule_id, details: { reason: 'rule no longer exists' } })));
    }
  }

  /** Blocks and enhanced monitoring still running when EMMS stopped are re-applied. */
  #restoreBlocks(store: AlertStore): void {
    const now = this.#clock.now();
    for (const e of store.listAudit(10_000, now - 366 * 86_400_000)) {
      if (e.outcome !== 'ok' || e.until_ms === null || e.until_ms <= now) continue;
      if (e.action === 'block_ip') this.ipBlocklist.block(e.target, e.until_ms);
    }
  }

  #remediationHooks(): RemediationHooks {
    const external = this.#opts.hooks ?? {};
    return {
      blockIp: (ip, untilMs) => {
        this.ipBlocklist.block(ip, untilMs);
        external.blockIp?.(ip, untilMs);
      },
      enhanceMonitoring: (series, untilMs) => {
        const key = this.#series.seriesKey(series.metricId, series.tags);
        this.#enhanced.set(key, Math.max(untilMs, this.#enhanced.get(key) ?? 0));
        external.enhanceMonitoring?.(series, untilMs);
      },
    };
  }

  #newRuntime(rule: AlertRule): RuleRuntime {
    let match = this.#patterns.get(rule.metric_pattern);
    if (!match) this.#patterns.set(rule.metric_pattern, (match = new PatternMatch(rule.metric_pattern)));
    return { rule, match, builtMetrics: -1, builtSeries: -1, series: [], alerts: new Map(), detectors: new Map() };
  }

  #validationContext(): { knownChannels: ReadonlySet<string>; defaultResolveAfterSeconds: number } {
    return { knownChannels: new Set(this.#channelConfigs.keys()), defaultResolveAfterSeconds: this.#opts.defaultResolveAfterSeconds ?? 0 };
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
    this.#now = now;
    const cycle = ++this.#cycle;
    this.#dirty = new Map();
    this.#events = [];
    this.#cleared = [];
    this.#newlyFiring = [];
    this.#newlyResolved = [];
    const result: CycleResult = { at: now, durationMs: 0, rulesEvaluated: 0, seriesWatched: 0, transitions: 0 };

    try {
      await this.#refreshLatest();
      const runtimes = [...this.#rules.values()].filter((rt) => rt.rule.enabled);
      for (const rt of runtimes) this.#updateRuleSeries(rt);
      const raw = await this.#fetchRaw(runtimes, now);
      for (const rt of runtimes) {
        // A rule replaced or deleted while data was being fetched is skipped this cycle.
        if (this.#rules.get(rt.rule.rule_id) !== rt || !this.#store) continue;
        try {
          this.#evaluateRule(rt, raw, now, cycle);
          result.rulesEvaluated++;
        } catch (err) {
          // One broken rule (say, a detector refusing its options) must not silence the others.
          result.ruleErrors = (result.ruleErrors ?? 0) + 1;
          result.error ??= `rule ${rt.rule.rule_id}: ${(err as Error).message}`;
        }
      }
    } catch (err) {
      // No data, no verdict: leaving states untouched beats resolving everything on a read error.
      result.error = (err as Error).message;
    }
    if (!this.#store) return result;
    this.#notifyAndEscalate(now);
    result.transitions = this.#events.length;
    this.#store.saveCycle(this.#dirty.values(), this.#events, this.#cleared);
    if (now - this.#lastPrune >= PRUNE_EVERY_MS) {
      this.#lastPrune = now;
      this.#store.prune(now - (this.#opts.retentionDays ?? 30) * 86_400_000);
      for (const [k, until] of this.#enhanced) if (until <= now) this.#enhanced.delete(k);
    }
    result.seriesWatched = this.#series.size;
    result.durationMs = performance.now() - started;
    this.#observeCycle(result);
    return result;
  }

  #observeCycle(result: CycleResult): void {
    this.#lastCycle = result;
    const s = result.durationMs / 1000;
    this.#cycleSumS += s;
    for (let i = 0; i < HISTOGRAM_BUCKETS_S.length; i++) if (s <= HISTOGRAM_BUCKETS_S[i]!) this.#cycleHistogram[i]!++;
  }

  async #refreshLatest(): Promise<void> {
    if (this.#globs === null) {
      const globs: string[] = [];
      for (const rt of this.#rules.values()) if (rt.rule.enabled) globs.push(globForPattern(rt.rule.metric_pattern));
      this.#globs = coveringGlobs(globs, MAX_LATEST_GLOBS);
    }
    const results = await Promise.all(this.#globs.map((g) => this.#system.latest(g)));
    for (const points of results) for (const p of points) this.#series.upsert(p);
  }

  #updateRuleSeries(rt: RuleRuntime): void {
    const metrics = rt.match.update(this.#series);
    let total = 0;
    for (const m of rt.match.matched) total += this.#series.byMetric.get(m)?.length ?? 0;
    if (metrics === rt.builtMetrics && total === rt.builtSeries) return;
    const filter = Object.entries(rt.rule.tags);
    const out: number[] = [];
    for (const m of rt.match.matched) {
      for (const idx of this.#series.byMetric.get(m) ?? []) {
        const tags = this.#series.tags[idx]!;
        let ok = true;
        for (const [k, v] of filter) if (tags[k] !== v) { ok = false; break; }
        if (ok) out.push(idx);
      }
    }
    rt.series = out;
    rt.builtMetrics = metrics;
    rt.builtSeries = total;
  }

  /** Raw points per series index, only for series that windowed or anomaly rules need. */
  async #fetchRaw(runtimes: RuleRuntime[], now: number): Promise<Map<number, SeriesResult>> {
    const startBySeries = new Map<number, number>();
    const warmupMs = (this.#opts.anomalyWarmupSeconds ?? 3600) * 1000;
    for (const rt of runtimes) {
      const r = rt.rule;
      const windowed = r.aggregation !== 'last';
      if (!windowed && !r.use_anomaly_detection) continue;
      for (const idx of rt.series) {
        let start = windowed ? now - r.window_seconds * 1000 : Infinity;
        if (r.use_anomaly_detection) {
          const d = rt.detectors.get(idx);
          const reusable = d !== undefined && d.sensitivity === this.#sensitivityFor(r, this.#series.keys[idx]!, now);
          start = Math.min(start, reusable ? d.lastTs + 1 : now - warmupMs);
        }
        const prev = startBySeries.get(idx);
        if (prev === undefined || start < prev) startBySeries.set(idx, start);
      }
    }
    const startByMetric = new Map<string, number>();
    for (const [idx, start] of startBySeries) {
      const m = this.#series.metricIds[idx]!;
      const prev = startByMetric.get(m);
      if (prev === undefined || start < prev) startByMetric.set(m, start);
    }
    const raw = new Map<number, SeriesResult>();
    const jobs = [...startByMetric];
    for (let i = 0; i < jobs.length; i += QUERY_CONCURRENCY) {
      const chunk = jobs.slice(i, i + QUERY_CONCURRENCY);
      const results = await Promise.all(
        chunk.map(([metricId, start]) => this.#system.queryMetrics({ metricPattern: metricId, startTime: Math.max(0, start), endTime: now + 1 })),
      );
      for (const seriesList of results) {
        for (const s of seriesList) {
          const idx = this.#series.indexOf(s.metricId, s.tags);
          if (idx !== undefined && startBySeries.has(idx)) raw.set(idx, s);
        }
      }
    }
    return raw;
  }

  #evaluateRule(rt: RuleRuntime, raw: Map<number, SeriesResult>, now: number, cycle: number): void {
    const r = rt.rule;
    const t = this.#series;
    const staleCut = now - this.#staleMs;
    const windowFrom = now - r.window_seconds * 1000;
    const threshold = r.threshold_value;
    const grouped = r.group_by !== null;
    const groups = grouped ? new Map<string, { acc: GroupAccumulator; tags: Tags; metricId: string | null; score: number; anomalous: boolean }>() : null;

    for (const idx of rt.series) {
      let value: number;
      let dataTs: number;
      if (r.aggregation === 'last') {
        dataTs = t.lastTs[idx]!;
        value = dataTs >= staleCut ? t.lastValue[idx]! : NaN;
      } else {
        const s = raw.get(idx);
        value = s ? aggregateWindow(s.timestamps, s.values, windowFrom, now, r.aggregation) : NaN;
        dataTs = s && s.timestamps.length > 0 ? s.timestamps[s.timestamps.length - 1]! : now;
      }
      let score: number | null = null;
      let anomalous = true;
      if (r.use_anomaly_detection) {
        const verdict = this.#feedDetector(rt, idx, raw.get(idx), now);
        score = verdict.score;
        anomalous = verdict.anomalous;
        if (threshold === null) value = verdict.value;
      }
      const holds = anomalous && value === value && (threshold === null || compare(r.comparison, value, threshold));
      if (groups) {
        // The condition applies to the group's combined value, so every series with a value joins.
        if (value !== value) continue;
        const key = r.group_by!.map((k) => t.tags[idx]![k] ?? '').join('\u0001');
        let g = groups.get(key);
        if (!g) {
          const tags: Tags = {};
          for (const k of r.group_by!) { const v = t.tags[idx]![k]; if (v !== undefined) tags[k] = v; }
          groups.set(key, (g = { acc: new GroupAccumulator(), tags, metricId: t.metricIds[idx]!, score: 0, anomalous: false }));
        } else if (g.metricId !== t.metricIds[idx]) {
          g.metricId = null;
        }
        if (value === value) g.acc.add(value, Math.min(now, dataTs));
        if (score !== null && score > g.score) g.score = score;
        if (anomalous && r.use_anomaly_detection) g.anomalous = true;
        continue;
      }
      // A false condition needs no lookup here: the sweep below handles every alert not seen.
      if (holds) this.#conditionTrue(rt, t.keys[idx]!, value, Math.min(now, dataTs), t.metricIds[idx]!, t.tags[idx]!, score, cycle);
    }

    if (groups) {
      for (const [key, g] of groups) {
        const value = g.acc.value(r.aggregation);
        const holds = (!r.use_anomaly_detection || g.anomalous) && value === value && (threshold === null || compare(r.comparison, value, threshold));
        if (holds) this.#conditionTrue(rt, key, value, g.acc.newestTs === -Infinity ? now : g.acc.newestTs, g.metricId, g.tags, r.use_anomaly_detection ? g.score : null, cycle);
      }
    }

    // Alerts whose condition was false, or whose series or group produced no value this cycle.
    if (rt.alerts.size > 0) {
      for (const a of [...rt.alerts.values()]) {
        if (a.seen !== cycle) {
          a.seen = cycle;
          this.#conditionFalse(rt, a);
        }
      }
    }
  }

  /** The rule's sensitivity, raised while the series is under enhanced monitoring. */
  #sensitivityFor(rule: AlertRule, seriesKey: string, now: number): number {
    const enhancedUntil = this.#enhanced.get(seriesKey);
    const boost = enhancedUntil !== undefined && enhancedUntil > now ? (this.#opts.enhancedSensitivityBoost ?? 0.2) : 0;
    return Math.min(1, rule.ml_sensitivity + boost);
  }

  #feedDetector(rt: RuleRuntime, idx: number, s: SeriesResult | undefined, now: number): { score: number; anomalous: boolean; value: number } {
    const r = rt.rule;
    const sensitivity = this.#sensitivityFor(r, this.#series.keys[idx]!, now);
    let d = rt.detectors.get(idx);
    let warmingUp = false;
    if (!d || d.sensitivity !== sensitivity) {
      // A new detector (or one at a new sensitivity) learns from the recent history first;
      // verdicts on that history are not news, only points since the previous cycle are.
      d = { detector: this.#opts.detectorFactory({ method: r.anomaly_method, sensitivity }), sensitivity, lastTs: -Infinity, lastRaw: NaN };
      rt.detectors.set(idx, d);
      warmingUp = true;
    }
    let best = { score: 0, anomalous: false, value: NaN };
    if (!s) return best;
    // A counter's total only grows; what can be anomalous is how fast it grows, so counters
    // are judged on their per-second rate between consecutive points (a reset restarts at 0).
    const isCounter = s.metricType === 'counter';
    const judgeFrom = warmingUp ? now - this.#intervalMs : -Infinity;
    const ts = s.timestamps;
    const vs = s.values;
    for (let i = 0; i < ts.length; i++) {
      const tMs = ts[i]!;
      if (tMs <= d.lastTs) continue;
      let x = vs[i]!;
      if (isCounter) {
        const prevRaw = d.lastRaw;
        const prevTs = d.lastTs;
        d.lastRaw = x;
        d.lastTs = tMs;
        if (Number.isNaN(prevRaw)) continue;
        x = (x >= prevRaw ? x - prevRaw : x) / ((tMs - prevTs) / 1000);
      }
      const verdict = d.detector.update(tMs, x);
      d.lastTs = tMs;
      if (tMs < judgeFrom) continue;
      if (verdict.score > best.score || Number.isNaN(best.value)) best = { score: verdict.score, anomalous: verdict.isAnomaly || best.anomalous, value: x };
      else if (verdict.isAnomaly) best.anomalous = true;
    }
    return best;
  }

  #conditionTrue(rt: RuleRuntime, key: string, value: number, dataTs: number, metricId: string | null, tags: Tags, score: number | null, cycle: number): void {
    const r = rt.rule;
    const now = this.#now;
    let a = rt.alerts.get(key);
    if (!a) {
      const rec: AlertRecord = {
        alert_id: randomUUID(), rule_id: r.rule_id, name: r.name, group_key: key, state: 'pending', priority: r.priority,
        metric_id: metricId, tags, value, threshold: r.threshold_value, anomaly_score: score,
        // Measured from the violating point, so the delay to firing is duration + at most one interval.
        started_at: Math.min(now, dataTs), fired_at: null, resolved_at: null,
        acknowledged_by: null, acknowledged_at: null, ack_comment: null, escalation_level: 0,
        annotations: {}, labels: r.labels, false_since: null, notified_state: 'none', remediated: false, updated_at: now,
      };
      rec.annotations = renderAnnotations(r, rec);
      a = { rec, seen: cycle };
      rt.alerts.set(key, a);
      this.#record(rec, 'pending', { value });
    } else {
      a.seen = cycle;
      const rec = a.rec;
      rec.value = value;
      rec.anomaly_score = score;
      if (rec.false_since !== null) {
        rec.false_since = null;
        this.#dirty.set(rec.alert_id, rec);
      }
    }
    const rec = a.rec;
    if (rec.state === 'pending' && now - rec.started_at >= r.duration_seconds * 1000) {
      rec.state = 'firing';
      rec.fired_at = now;
      rec.annotations = renderAnnotations(r, rec);
      this.#record(rec, 'firing', { value });
      this.#newlyFiring.push({ rt, rec });
    }
  }

  #conditionFalse(rt: RuleRuntime, a: ActiveAlert): void {
    const rec = a.rec;
    const now = this.#now;
    if (rec.state === 'pending') {
      rt.alerts.delete(rec.group_key);
      this.#dirty.delete(rec.alert_id);
      this.#cleared.push(rec.alert_id);
      this.#events.push({ at: now, event: 'cleared', alert_id: rec.alert_id, rule_id: rec.rule_id, details: {} });
      return;
    }
    if (rec.false_since === null) {
      rec.false_since = now;
      this.#dirty.set(rec.alert_id, rec);
    }
    if (now - rec.false_since >= rt.rule.resolve_after_seconds * 1000) this.#resolve(rt, rec, {});
  }

  #resolve(rt: RuleRuntime, rec: AlertRecord, details: Record<string, unknown>): void {
    const now = this.#now;
    rt.alerts.delete(rec.group_key);
    const wasFiring = rec.state === 'firing';
    rec.state = 'resolved';
    rec.resolved_at = now;
    this.#record(rec, 'resolved', details);
    if (wasFiring) this.#newlyResolved.push({ rt, rec });
  }

  #record(rec: AlertRecord, event: HistoryEventKind, details: Record<string, unknown>): void {
    rec.updated_at = this.#now;
    this.#dirty.set(rec.alert_id, rec);
    this.#events.push({ at: this.#now, event, alert_id: rec.alert_id, rule_id: rec.rule_id, details });
  }

  // ---------------------------------------------------------------- notifications

  #isSilenced(rec: AlertRecord, now: number): boolean {
    for (const s of this.#silences.values()) if (silenceMatches(s, rec, now)) return true;
    return false;
  }

  #routeChannels(rule: AlertRule, escalationLevel: number): string[] {
    const base = rule.channels.length > 0 ? rule.channels : this.#opts.defaultChannels ?? [...this.#channelConfigs.keys()];
    const out = new Set(base);
    for (let i = 0; i < escalationLevel && i < rule.escalation.length; i++) for (const c of rule.escalation[i]!.channels) out.add(c);
    return [...out].filter((c) => this.#dispatcher!.hasChannel(c));
  }

  #notifyAndEscalate(now: number): void {
    const outbox = new Map<string, NotificationEvent[]>();
    const push = (channels: Iterable<string>, kind: NotificationKind, view: AlertView): void => {
      for (const c of channels) {
        let list = outbox.get(c);
        if (!list) outbox.set(c, (list = []));
        list.push({ kind, alert: view });
      }
    };
    const refreshDue = new Set<string>();
    for (const id of this.#dispatcher!.channelIds()) {
      const refresh = this.#dispatcher!.channel(id)?.refreshIntervalMs;
      if (refresh !== undefined && now - (this.#lastRefresh.get(id) ?? -Infinity) >= refresh) refreshDue.add(id);
    }

    for (const { rt, rec } of this.#newlyFiring) {
      if (rec.remediated || rt.rule.remediation.length === 0) continue;
      rec.remediated = true;
      this.#remediation!.run(alertView(rec, false), rt.rule);
      this.#events.push({ at: now, event: 'remediation', alert_id: rec.alert_id, rule_id: rec.rule_id, details: { actions: rt.rule.remediation.map((a) => a.type), dry_run: this.#remediation!.dryRun } });
    }

    for (const rt of this.#rules.values()) {
      if (rt.alerts.size === 0) continue;
      const rule = rt.rule;
      for (const { rec } of rt.alerts.values()) {
        if (rec.state !== 'firing') continue;
        const silenced = this.#isSilenced(rec, now);
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
            this.#record(rec, 'escalated', { from_level: from, to_level: level, priority: rec.priority });
            if (!silenced) push(this.#routeChannels(rule, level), 'escalated', alertView(rec, false));
            else this.#events.push({ at: now, event: 'suppressed', alert_id: rec.alert_id, rule_id: rec.rule_id, details: { kind: 'escalated' } });
            if (rec.notified_state !== 'firing' && !silenced) rec.notified_state = 'firing';
            continue;
          }
        }
        if (silenced) {
          if (rec.notified_state === 'none' && rec.fired_at === now) {
            this.#events.push({ at: now, event: 'suppressed', alert_id: rec.alert_id, rule_id: rec.rule_id, details: { kind: 'firing' } });
          }
          continue;
        }
        if (rec.notified_state !== 'firing') {
          // New, or its silence just ended: announce once.
          rec.notified_state = 'firing';
          this.#dirty.set(rec.alert_id, rec);
          push(this.#routeChannels(rule, rec.escalation_level), 'firing', alertView(rec, false));
        } else if (refreshDue.size > 0) {
          const due = this.#routeChannels(rule, rec.escalation_level).filter((c) => refreshDue.has(c));
          if (due.length > 0) push(due, 'refresh', alertView(rec, false));
        }
      }
    }

    for (const { rt, rec } of this.#newlyResolved) {
      // Only what was announced gets a resolution message, even if silenced since.
      if (rec.notified_state !== 'firing') continue;
      rec.notified_state = 'resolved';
      push(this.#routeChannels(rt.rule, rec.escalation_level), 'resolved', alertView(rec, this.#isSilenced(rec, now)));
    }

    for (const id of refreshDue) this.#lastRefresh.set(id, now);
    for (const [channelId, events] of outbox) this.#dispatcher!.enqueue({ channel_id: channelId, events, created_at: now });
  }

  #onDelivered(channelId: string, batch: NotificationBatch, attempts: number): void {
    if (!this.#store) return;
    const at = this.#clock.now();
    const events: HistoryEvent[] = batch.events
      .filter((e) => e.kind !== 'refresh')
      .map((e) => ({ at, event: 'notified', alert_id: e.alert.alert_id, rule_id: e.alert.rule_id, details: { channel: channelId, kind: e.kind, attempts } }));
    this.#store.appendHistory(events);
  }

  #onFailed(channelId: string, batch: NotificationBatch, error: Error, attempts: number): void {
    this.#notificationFailures++;
    if (!this.#store) return;
    const at = this.#clock.now();
    this.#store.appendHistory(
      batch.events.map((e) => ({ at, event: 'notification_failed', alert_id: e.alert.alert_id, rule_id: e.alert.rule_id, details: { channel: channelId, kind: e.kind, attempts, error: error.message } })),
    );
  }

  // ---------------------------------------------------------------- rules API

  listRules(): AlertRule[] {
    this.#requireStore();
    return [...this.#rules.values()].map((rt) => rt.rule);
  }

  getRule(ruleId: string): AlertRule | undefined {
    return this.#rules.get(ruleId)?.rule;
  }

  /** Validates and stores a new rule; 409 when the id exists. */
  addRule(input: unknown): AlertRule {
    const store = this.#requireStore();
    const rule = this.#validate(input);
    if (this.#rules.has(rule.rule_id)) throw new AlertingError(`rule ${JSON.stringify(rule.rule_id)} already exists`, 409);
    const now = this.#clock.now();
    store.saveRule(rule, now);
    store.appendHistory([{ at: now, event: 'rule_created', alert_id: null, rule_id: rule.rule_id, details: { name: rule.name } }]);
    this.#rules.set(rule.rule_id, this.#newRuntime(rule));
    this.#globs = null;
    return rule;
  }

  /** Partial update: fields not given keep their value. Active alerts carry over. */
  updateRule(ruleId: string, input: unknown): AlertRule {
    const store = this.#requireStore();
    const rt = this.#rules.get(ruleId);
    if (!rt) throw new AlertingError(`rule ${JSON.stringify(ruleId)} not found`, 404);
    const rule = this.#validate(input, rt.rule);
    const now = this.#clock.now();
    store.saveRule(rule, now);
    store.appendHistory([{ at: now, event: 'rule_updated', alert_id: null, rule_id: rule.rule_id, details: {} }]);
    const next = this.#newRuntime(rule);
    next.alerts = rt.alerts;
    const old = rt.rule;
    if (old.use_anomaly_detection === rule.use_anomaly_detection && old.anomaly_method === rule.anomaly_method && old.metric_pattern === rule.metric_pattern) {
      next.detectors = rt.detectors;
    }
    this.#rules.set(ruleId, next);
    this.#globs = null;
    if (!rule.enabled) this.#closeAlerts(next, 'rule disabled');
    return rule;
  }

  deleteRule(ruleId: string): void {
    const store = this.#requireStore();
    const rt = this.#rules.get(ruleId);
    if (!rt) throw new AlertingError(`rule ${JSON.stringify(ruleId)} not found`, 404);
    this.#closeAlerts(rt, 'rule deleted');
    this.#rules.delete(ruleId);
    store.deleteRule(ruleId);
    store.appendHistory([{ at: this.#clock.now(), event: 'rule_deleted', alert_id: null, rule_id: ruleId, details: {} }]);
    this.#globs = null;
  }

  /** Resolves a rule's active alerts outside a cycle (rule disabled or deleted). */
  #closeAlerts(rt: RuleRuntime, reason: string): void {
    if (rt.alerts.size === 0) return;
    this.#now = this.#clock.now();
    const saved = { dirty: this.#dirty, events: this.#events, cleared: this.#cleared, resolved: this.#newlyResolved, firing: this.#newlyFiring };
    this.#dirty = new Map();
    this.#events = [];
    this.#cleared = [];
    this.#newlyResolved = [];
    this.#newlyFiring = [];
    for (const a of [...rt.alerts.values()]) {
      if (a.rec.state === 'pending') {
        rt.alerts.delete(a.rec.group_key);
        this.#cleared.push(a.rec.alert_id);
        this.#events.push({ at: this.#now, event: 'cleared', alert_id: a.rec.alert_id, rule_id: a.rec.rule_id, details: { reason } });
      } else this.#resolve(rt, a.rec, { reason });
    }
    this.#notifyAndEscalate(this.#now);
    this.#store!.saveCycle(this.#dirty.values(), this.#events, this.#cleared);
    this.#dirty = saved.dirty;
    this.#events = saved.events;
    this.#cleared = saved.cleared;
    this.#newlyResolved = saved.resolved;
    this.#newlyFiring = saved.firing;
  }

  #validate(input: unknown, existing?: AlertRule): AlertRule {
    try {
      return validateRule(input, this.#validationContext(), existing);
    } catch (err) {
      if (err instanceof RuleValidationError) throw new AlertingError(err.message, 400);
      throw err;
    }
  }

  // ---------------------------------------------------------------- alerts API

  #activeRecords(): AlertRecord[] {
    const out: AlertRecord[] = [];
    for (const rt of this.#rules.values()) for (const a of rt.alerts.values()) out.push(a.rec);
    return out;
  }

  /** Pending and firing alerts from memory, resolved ones from the database; newest first. */
  listAlerts(filter: AlertFilter = {}): AlertView[] {
    const store = this.#requireStore();
    const now = this.#clock.now();
    const limit = filter.limit ?? 1000;
    let recs: AlertRecord[] = [];
    if (filter.state !== 'resolved') {
      recs = this.#activeRecords().filter(
        (a) =>
          (filter.state === undefined || filter.state === 'active' || a.state === filter.state || (filter.state === 'acknowledged' && a.acknowledged_at !== null)) &&
          (filter.priority === undefined || a.priority === filter.priority) &&
          (filter.rule_id === undefined || a.rule_id === filter.rule_id),
      );
    }
    if (filter.state === undefined || filter.state === 'resolved') {
      recs = recs.concat(store.listAlerts({ ...filter, state: 'resolved', limit }));
    }
    recs.sort((a, b) => b.started_at - a.started_at || (a.alert_id < b.alert_id ? -1 : 1));
    return recs.slice(0, limit).map((a) => alertView(a, this.#isSilenced(a, now)));
  }

  getAlert(alertId: string): AlertView | undefined {
    const store = this.#requireStore();
    const rec = this.#findActive(alertId)?.rec ?? store.getAlert(alertId);
    return rec ? alertView(rec, this.#isSilenced(rec, this.#clock.now())) : undefined;
  }

  #findActive(alertId: string): ActiveAlert | undefined {
    for (const rt of this.#rules.values()) for (const a of rt.alerts.values()) if (a.rec.alert_id === alertId) return a;
    return undefined;
  }

  acknowledge(alertId: string, by: string, comment = ''): AlertView {
    const store = this.#requireStore();
    if (typeof by !== 'string' || by.trim() === '' || by.length > 200) throw new AlertingError(`acknowledged_by=${JSON.stringify(by)} must be a non-empty string of at most 200 characters`, 400);
    if (typeof comment !== 'string' || comment.length > 2000) throw new AlertingError('comment must be a string of at most 2000 characters', 400);
    const a = this.#findActive(alertId);
    if (!a) {
      if (store.getAlert(alertId)) throw new AlertingError(`alert ${alertId} is resolved and cannot be acknowledged`, 409);
      throw new AlertingError(`alert ${JSON.stringify(alertId)} not found`, 404);
    }
    const now = this.#clock.now();
    const rec = a.rec;
    rec.acknowledged_by = by;
    rec.acknowledged_at = now;
    rec.ack_comment = comment;
    rec.updated_at = now;
    store.saveCycle([rec], [{ at: now, event: 'acknowledged', alert_id: rec.alert_id, rule_id: rec.rule_id, details: { by, comment } }]);
    return alertView(rec, this.#isSilenced(rec, now));
  }

  history(filter: HistoryFilter = {}): Array<Record<string, unknown>> {
    return this.#requireStore().listHistory(filter).map((e) => ({ ...e, at: new Date(e.at).toISOString() }));
  }

  remediationAudit(limit = 1000): AuditEntry[] {
    return this.#requireStore().listAudit(limit);
  }

  status(): AlertingStatus {
    this.#requireStore();
    const now = this.#clock.now();
    const byState: Record<AlertState, number> = { pending: 0, firing: 0, resolved: 0 };
    const byPriority = Object.fromEntries(PRIORITIES.map((p) => [p, 0])) as Record<Priority, number>;
    let acknowledged = 0;
    let silenced = 0;
    for (const a of this.#activeRecords()) {
      byState[a.state]++;
      byPriority[a.priority]++;
      if (a.acknowledged_at !== null) acknowledged++;
      if (this.#isSilenced(a, now)) silenced++;
    }
    byState.resolved = this.#store!.countAlerts('resolved');
    let enabled = 0;
    for (const rt of this.#rules.values()) if (rt.rule.enabled) enabled++;
    const last = this.#lastCycle;
    return {
      by_state: byState,
      by_priority: byPriority,
      acknowledged,
      silenced,
      rules: { total: this.#rules.size, enabled },
      last_cycle: { at: last ? new Date(last.at).toISOString() : null, duration_ms: last ? last.durationMs : null, error: last?.error ?? null, rule_errors: last?.ruleErrors ?? 0 },
      cycles: this.#cycle,
      interval_seconds: this.#intervalMs / 1000,
      series_watched: this.#series.size,
      notification_failures: this.#notificationFailures,
      channels: this.#dispatcher?.stats() ?? [],
    };
  }

  /** Counters for /metrics (alerting_metrics.ts). */
  metricsSnapshot(): {
    status: AlertingStatus;
    cycleHistogram: { buckets: readonly number[]; counts: readonly number[]; sumSeconds: number; count: number };
    skippedCycles: number;
  } {
    return {
      status: this.status(),
      cycleHistogram: { buckets: HISTOGRAM_BUCKETS_S, counts: [...this.#cycleHistogram], sumSeconds: this.#cycleSumS, count: this.#cycle },
      skippedCycles: this.#skippedCycles,
    };
  }

  // ---------------------------------------------------------------- silences API

  /**
   * Accepts `{ matchers: {rule_id?, priority?, tags?} }` or the same fields at top level, plus
   * starts_at (default now), ends_at or duration_seconds, created_by, comment.
   */
  addSilence(input: unknown): Record<string, unknown> {
    const store = this.#requireStore();
    if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new AlertingError('silence must be an object', 400);
    const body = input as Record<string, unknown>;
    const m = (typeof body.matchers === 'object' && body.matchers !== null ? body.matchers : body) as Record<string, unknown>;
    const matchers: SilenceMatchers = {};
    if (m.rule_id !== undefined) {
      if (typeof m.rule_id !== 'string' || m.rule_id === '') throw new AlertingError(`silence.rule_id=${JSON.stringify(m.rule_id)} must be a non-empty string`, 400);
      matchers.rule_id = m.rule_id;
    }
    if (m.priority !== undefined) {
      if (typeof m.priority !== 'string' || !(PRIORITIES as readonly string[]).includes(m.priority)) throw new AlertingError(`silence.priority=${JSON.stringify(m.priority)} must be one of ${PRIORITIES.join(', ')}`, 400);
      matchers.priority = m.priority as Priority;
    }
    if (m.tags !== undefined) {
      if (typeof m.tags !== 'object' || m.tags === null || Array.isArray(m.tags) || Object.values(m.tags).some((v) => typeof v !== 'string')) {
        throw new AlertingError('silence.tags must be an object of string values', 400);
      }
      matchers.tags = { ...(m.tags as Tags) };
    }
    if (Object.keys(matchers).length === 0) throw new AlertingError('silence must have at least one matcher (rule_id, priority or tags)', 400);
    const now = this.#clock.now();
    const startsAt = body.starts_at === undefined ? now : parseTime('starts_at', body.starts_at);
    let endsAt: number;
    if (body.ends_at !== undefined) endsAt = parseTime('ends_at', body.ends_at);
    else if (typeof body.duration_seconds === 'number' && body.duration_seconds > 0 && Number.isFinite(body.duration_seconds)) endsAt = startsAt + body.duration_seconds * 1000;
    else throw new AlertingError(`silence needs ends_at or a positive duration_seconds; got ${JSON.stringify(body.duration_seconds)}`, 400);
    if (endsAt <= startsAt) throw new AlertingError(`silence.ends_at=${new Date(endsAt).toISOString()} must be after starts_at=${new Date(startsAt).toISOString()}`, 400);
    const createdBy = body.created_by ?? 'api';
    const comment = body.comment ?? '';
    if (typeof createdBy !== 'string' || typeof comment !== 'string') throw new AlertingError('silence.created_by and silence.comment must be strings', 400);
    const s: Silence = { silence_id: randomUUID(), matchers, starts_at: startsAt, ends_at: endsAt, created_by: createdBy, comment, created_at: now };
    store.saveSilence(s);
    store.appendHistory([{ at: now, event: 'silence_created', alert_id: null, rule_id: matchers.rule_id ?? null, details: { silence_id: s.silence_id, matchers } }]);
    this.#silences.set(s.silence_id, s);
    return silenceViewOf(s, now);
  }

  listSilences(includeExpired = false): Array<Record<string, unknown>> {
    this.#requireStore();
    const now = this.#clock.now();
    return [...this.#silences.values()]
      .filter((s) => includeExpired || s.ends_at > now)
      .sort((a, b) => a.starts_at - b.starts_at)
      .map((s) => silenceViewOf(s, now));
  }

  /** Expires the silence now (kept for the record). */
  expireSilence(silenceId: string): Record<string, unknown> {
    const store = this.#requireStore();
    const s = this.#silences.get(silenceId);
    if (!s) throw new AlertingError(`silence ${JSON.stringify(silenceId)} not found`, 404);
    const now = this.#clock.now();
    if (s.ends_at > now) {
      s.ends_at = Math.max(now, s.starts_at);
      store.saveSilence(s);
      store.appendHistory([{ at: now, event: 'silence_expired', alert_id: null, rule_id: s.matchers.rule_id ?? null, details: { silence_id: s.silence_id } }]);
    }
    return silenceViewOf(s, now);
  }

  // ---------------------------------------------------------------- channels API

  listChannels(): Array<Record<string, unknown>> {
    this.#requireStore();
    const stats = new Map((this.#dispatcher?.stats() ?? []).map((s) => [s.channel_id, s]));
    return [...this.#channelConfigs.values()].map((c) => ({ ...redactChannelConfig(c), stats: stats.get(c.id as string) ?? null }));
  }

  /**
   * Registers a channel implemented in code (embedded use: a callback, a message bus). Not
   * persisted; pass it as `registeredChannels` too so stored rules naming it keep it on reopen.
   */
  registerChannel(channel: NotificationChannel): void {
    this.#requireStore();
    this.#dispatcher!.setChannel(channel);
    this.#channelConfigs.set(channel.id, { id: channel.id, type: channel.type, registered_in_code: true });
  }

  /** Adds or replaces a channel (persisted). */
  putChannel(raw: unknown): Record<string, unknown> {
    const store = this.#requireStore();
    let config: Record<string, unknown>;
    try {
      config = validateChannelConfig(raw, this.#opts.env ?? process.env);
      this.#installChannel(config, this.#opts.env ?? process.env);
    } catch (err) {
      throw new AlertingError((err as Error).message, 400);
    }
    store.saveChannel(config.id as string, config);
    return redactChannelConfig(config);
  }

  deleteChannel(channelId: string): void {
    const store = this.#requireStore();
    if (!this.#channelConfigs.has(channelId)) throw new AlertingError(`channel ${JSON.stringify(channelId)} not found`, 404);
    const users = [...this.#rules.values()].filter((rt) => rt.rule.channels.includes(channelId) || rt.rule.escalation.some((l) => l.channels.includes(channelId)));
    if (users.length > 0) throw new AlertingError(`channel ${JSON.stringify(channelId)} is used by rules ${users.map((rt) => rt.rule.rule_id).join(', ')}`, 409);
    this.#dispatcher!.removeChannel(channelId);
    this.#channelConfigs.delete(channelId);
    store.deleteChannel(channelId);
  }

  /** Series key → end of enhanced monitoring, for collectors and analytics. */
  enhancedSeries(): Array<{ metricId: string; tags: Tags; untilMs: number }> {
    const now = this.#clock.now();
    const out: Array<{ metricId: string; tags: Tags; untilMs: number }> = [];
    for (const [key, until] of this.#enhanced) {
      if (until <= now) continue;
      const idx = this.#series.keys.indexOf(key);
      if (idx >= 0) out.push({ metricId: this.#series.metricIds[idx]!, tags: this.#series.tags[idx]!, untilMs: until });
    }
    return out;
  }
}

function silenceViewOf(s: Silence, now: number): Record<string, unknown> {
  return {
    silence_id: s.silence_id,
    matchers: s.matchers,
    starts_at: new Date(s.starts_at).toISOString(),
    ends_at: new Date(s.ends_at).toISOString(),
    created_by: s.created_by,
    comment: s.comment,
    created_at: new Date(s.created_at).toISOString(),
    state: now < s.starts_at ? 'pending' : now < s.ends_at ? 'active' : 'expired',
  };
}

function parseTime(field: string, v: unknown): number {
  const ms = typeof v === 'number' ? v : typeof v === 'string' ? Date.parse(v) : NaN;
  if (!Number.isFinite(ms)) throw new AlertingError(`silence.${field}=${JSON.stringify(v)} must be epoch ms or an ISO-8601 time`, 400);
  return ms;
}

const TEMPLATE = /\{\{\s*([A-Za-z0-9_.]+)\s*\}\}/g;

/** Fills {{value}}, {{threshold}}, {{metric_id}}, {{rule_name}}, {{tags.<key>}} in annotations. */
export function renderAnnotations(rule: AlertRule, rec: AlertRecord): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, template] of Object.entries(rule.annotations)) {
    out[k] = template.replace(TEMPLATE, (whole, name: string) => {
      if (name === 'value') return formatNumber(rec.value);
      if (name === 'threshold') return rec.threshold === null ? '' : formatNumber(rec.threshold);
      if (name === 'metric_id') return rec.metric_id ?? '';
      if (name === 'rule_name') return rule.name;
      if (name.startsWith('tags.')) return rec.tags[name.slice(5)] ?? '';
      return whole;
    });
  }
  if (rule.description && out.description === undefined) out.description = rule.description;
  return out;
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : String(Math.round(v * 1000) / 1000);
}
