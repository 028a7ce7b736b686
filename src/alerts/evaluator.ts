/**
 * One evaluation cycle, tenant by tenant, each tenant's rules against its own view of the
 * engine (`engine.forTenant(tenant)`): (1) newest point of every watched series through
 * `latest()` (a few globs covering all the tenant's rule patterns), (2) raw points only for
 * series of windowed or anomaly rules, one query per metric id, (3) conditions per rule and
 * series/group → state transitions (alert_lifecycle.ts); forecast rules read bucketed history
 * and judge the predicted path instead (forecast_rule.ts). Notifications, escalation and the
 * write to alerts.db follow in the facade, so a cycle's reads never wait on a channel.
 *
 * A tenant whose metrics cannot be read keeps its alert states as they are (no data, no
 * verdict) and the other tenants are evaluated as usual.
 */
import type { MetricsSystem, SeriesResult } from '../model/api.js';
import type { Tags } from '../model/metric.js';
import { conditionFalse, conditionTrue, type CycleChanges } from './alert_lifecycle.js';
import type { DetectorFactory } from './alerting_options.js';
import type { RuleRegistry, RuleRuntime } from './rule_registry.js';
import { evaluateForecastRule, refreshForecasts } from './forecast_rule.js';
import { compare, type AlertRule } from './rule.js';
import { coveringGlobs, globForPattern, WatchedSeries } from './watched_series.js';
import { aggregateWindow, GroupAccumulator } from './window_aggregate.js';

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
  /** The first error of each tenant that had one (a tenant's status shows only its own). */
  tenantErrors?: Map<string, string>;
  /** Rules that threw, per tenant. */
  tenantRuleErrors?: Map<string, number>;
}

/** Raw queries in flight at once: enough to overlap the engine's reads, few enough not to crowd ingest. */
const QUERY_CONCURRENCY = 8;
/** Beyond this many distinct globs one `latest('*')` is cheaper than many narrow calls. */
const MAX_LATEST_GLOBS = 32;

export interface EvaluatorOptions {
  intervalMs: number;
  staleMs: number;
  detectorFactory: DetectorFactory;
  /** History fed to a new anomaly detector before it judges. */
  anomalyWarmupMs: number;
  /** Sensitivity added to anomaly rules for series under enhanced monitoring. */
  enhancedSensitivityBoost: number;
}

/** What the evaluator keeps per tenant: the engine view and the series its rules watch. */
interface TenantView {
  readonly system: MetricsSystem;
  readonly series: WatchedSeries;
  /** Series key → end of enhanced monitoring. */
  readonly enhanced: Map<string, number>;
  globs: string[] | null;
  globsVersion: number;
}

export class Evaluator {
  readonly #engine: MetricsSystem;
  readonly #rules: RuleRegistry;
  readonly #opts: EvaluatorOptions;
  readonly #tenants = new Map<string, TenantView>();

  constructor(engine: MetricsSystem, rules: RuleRegistry, options: EvaluatorOptions) {
    this.#engine = engine;
    this.#rules = rules;
    this.#opts = options;
  }

  /** Series watched for one tenant's rules, or for all. */
  seriesWatched(tenant?: string): number {
    if (tenant !== undefined) return this.#tenants.get(tenant)?.series.size ?? 0;
    let n = 0;
    for (const v of this.#tenants.values()) n += v.series.size;
    return n;
  }

  clear(): void {
    this.#tenants.clear();
  }

  /**
   * Reads each tenant's metrics and applies its enabled rules' conditions into `changes`. A
   * tenant whose metrics cannot be read is left as it is and its error recorded in `result`;
   * a rule that throws is counted and the others go on.
   */
  async evaluate(changes: CycleChanges, cycle: number, result: CycleResult): Promise<void> {
    for (const tenant of this.#rules.tenants()) {
      try {
        await this.#evaluateTenant(tenant, changes, cycle, result);
      } catch (err) {
        // No data, no verdict: leaving states untouched beats resolving everything on a read error.
        noteError(result, tenant, (err as Error).message);
      }
    }
  }

  async #evaluateTenant(tenant: string, changes: CycleChanges, cycle: number, result: CycleResult): Promise<void> {
    const view = this.#view(tenant);
    const now = changes.now;
    await this.#refreshLatest(tenant, view);
    const runtimes = [...this.#rules.runtimes(tenant)].filter((rt) => rt.rule.enabled);
    for (const rt of runtimes) this.#updateRuleSeries(view, rt);
    const raw = await this.#fetchRaw(view, runtimes, now);
    for (const rt of runtimes) if (rt.rule.forecast) await refreshForecasts(view.system, view.series, rt, now);
    for (const rt of runtimes) {
      // A rule replaced or deleted while data was being fetched is skipped this cycle.
      if (this.#rules.runtime(tenant, rt.rule.rule_id) !== rt) continue;
      try {
        this.#evaluateRule(view, changes, rt, raw, cycle);
        result.rulesEvaluated++;
      } catch (err) {
        // One broken rule (say, a detector refusing its options) must not silence the others.
        result.ruleErrors = (result.ruleErrors ?? 0) + 1;
        result.tenantRuleErrors ??= new Map();
        result.tenantRuleErrors.set(tenant, (result.tenantRuleErrors.get(tenant) ?? 0) + 1);
        noteError(result, tenant, `rule ${rt.rule.rule_id}: ${(err as Error).message}`);
      }
    }
  }

  #view(tenant: string): TenantView {
    let v = this.#tenants.get(tenant);
    if (!v) this.#tenants.set(tenant, (v = { system: this.#engine.forTenant(tenant), series: new WatchedSeries(), enhanced: new Map(), globs: null, globsVersion: -1 }));
    return v;
  }

  /** Raises anomaly sensitivity for a tenant's series until `untilMs` (the enhanced_monitoring action). */
  enhance(tenant: string, series: { metricId: string; tags: Tags }, untilMs: number): void {
    const view = this.#view(tenant);
    const key = view.series.seriesKey(series.metricId, series.tags);
    view.enhanced.set(key, Math.max(untilMs, view.enhanced.get(key) ?? 0));
  }

  pruneEnhanced(now: number): void {
    for (const view of this.#tenants.values()) for (const [k, until] of view.enhanced) if (until <= now) view.enhanced.delete(k);
  }

  /** A tenant's series under enhanced monitoring now, for collectors and analytics. */
  enhancedSeries(tenant: string, now: number): Array<{ metricId: string; tags: Tags; untilMs: number }> {
    const view = this.#tenants.get(tenant);
    const out: Array<{ metricId: string; tags: Tags; untilMs: number }> = [];
    if (!view) return out;
    for (const [key, until] of view.enhanced) {
      if (until <= now) continue;
      const idx = view.series.keys.indexOf(key);
      if (idx >= 0) out.push({ metricId: view.series.metricIds[idx]!, tags: view.series.tags[idx]!, untilMs: until });
    }
    return out;
  }

  async #refreshLatest(tenant: string, view: TenantView): Promise<void> {
    const version = this.#rules.versionOf(tenant);
    if (view.globs === null || view.globsVersion !== version) {
      const globs: string[] = [];
      for (const rt of this.#rules.runtimes(tenant)) if (rt.rule.enabled) globs.push(globForPattern(rt.rule.metric_pattern, rt.rule.pattern_mode));
      view.globs = coveringGlobs(globs, MAX_LATEST_GLOBS);
      view.globsVersion = version;
    }
    const results = await Promise.all(view.globs.map((g) => view.system.latest(g)));
    for (const points of results) for (const p of points) view.series.upsert(p);
  }

  #updateRuleSeries(view: TenantView, rt: RuleRuntime): void {
    const table = view.series;
    const metrics = rt.match.update(table);
    let total = 0;
    for (const m of rt.match.matched) total += table.byMetric.get(m)?.length ?? 0;
    if (metrics === rt.builtMetrics && total === rt.builtSeries) return;
    const filter = Object.entries(rt.rule.tags);
    const out: number[] = [];
    for (const m of rt.match.matched) {
      for (const idx of table.byMetric.get(m) ?? []) {
        const tags = table.tags[idx]!;
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
  async #fetchRaw(view: TenantView, runtimes: RuleRuntime[], now: number): Promise<Map<number, SeriesResult>> {
    const table = view.series;
    const startBySeries = new Map<number, number>();
    for (const rt of runtimes) {
      const r = rt.rule;
      const windowed = r.aggregation !== 'last';
      if (!windowed && !r.use_anomaly_detection) continue;
      for (const idx of rt.series) {
        let start = windowed ? now - r.window_seconds * 1000 : Infinity;
        if (r.use_anomaly_detection) {
          const d = rt.detectors.get(idx);
          const reusable = d !== undefined && d.sensitivity === this.#sensitivityFor(view, r, table.keys[idx]!, now);
          start = Math.min(start, reusable ? d.lastTs + 1 : now - this.#opts.anomalyWarmupMs);
        }
        const prev = startBySeries.get(idx);
        if (prev === undefined || start < prev) startBySeries.set(idx, start);
      }
    }
    const startByMetric = new Map<string, number>();
    for (const [idx, start] of startBySeries) {
      const m = table.metricIds[idx]!;
      const prev = startByMetric.get(m);
      if (prev === undefined || start < prev) startByMetric.set(m, start);
    }
    const raw = new Map<number, SeriesResult>();
    const jobs = [...startByMetric];
    for (let i = 0; i < jobs.length; i += QUERY_CONCURRENCY) {
      const chunk = jobs.slice(i, i + QUERY_CONCURRENCY);
      const results = await Promise.all(
        chunk.map(([metricId, start]) => view.system.queryMetrics({ metricPattern: metricId, startTime: Math.max(0, start), endTime: now + 1 })),
      );
      for (const seriesList of results) {
        for (const s of seriesList) {
          const idx = table.indexOf(s.metricId, s.tags);
          if (idx !== undefined && startBySeries.has(idx)) raw.set(idx, s);
        }
      }
    }
    return raw;
  }

  #evaluateRule(view: TenantView, changes: CycleChanges, rt: RuleRuntime, raw: Map<number, SeriesResult>, cycle: number): void {
    const r = rt.rule;
    if (r.forecast) return evaluateForecastRule(changes, rt, view.series, cycle);
    const t = view.series;
    const now = changes.now;
    const staleCut = now - this.#opts.staleMs;
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
        const verdict = this.#feedDetector(view, rt, idx, raw.get(idx), now);
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
      if (holds) conditionTrue(changes, rt, t.keys[idx]!, value, Math.min(now, dataTs), t.metricIds[idx]!, t.tags[idx]!, score, cycle);
    }

    if (groups) {
      for (const [key, g] of groups) {
        const value = g.acc.value(r.aggregation);
        const holds = (!r.use_anomaly_detection || g.anomalous) && value === value && (threshold === null || compare(r.comparison, value, threshold));
        if (holds) conditionTrue(changes, rt, key, value, g.acc.newestTs === -Infinity ? now : g.acc.newestTs, g.metricId, g.tags, r.use_anomaly_detection ? g.score : null, cycle);
      }
    }

    // Alerts whose condition was false, or whose series or group produced no value this cycle.
    if (rt.alerts.size > 0) {
      for (const a of [...rt.alerts.values()]) {
        if (a.seen !== cycle) {
          a.seen = cycle;
          conditionFalse(changes, rt, a);
        }
      }
    }
  }

  /** The rule's sensitivity, raised while the series is under enhanced monitoring. */
  #sensitivityFor(view: TenantView, rule: AlertRule, seriesKey: string, now: number): number {
    const enhancedUntil = view.enhanced.get(seriesKey);
    const boost = enhancedUntil !== undefined && enhancedUntil > now ? this.#opts.enhancedSensitivityBoost : 0;
    return Math.min(1, rule.ml_sensitivity + boost);
  }

  #feedDetector(view: TenantView, rt: RuleRuntime, idx: number, s: SeriesResult | undefined, now: number): { score: number; anomalous: boolean; value: number } {
    const r = rt.rule;
    const sensitivity = this.#sensitivityFor(view, r, view.series.keys[idx]!, now);
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
    const judgeFrom = warmingUp ? now - this.#opts.intervalMs : -Infinity;
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
}

function noteError(result: CycleResult, tenant: string, message: string): void {
  result.error ??= message;
  result.tenantErrors ??= new Map();
  if (!result.tenantErrors.has(tenant)) result.tenantErrors.set(tenant, message);
}
