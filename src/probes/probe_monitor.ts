/**
 * Probing of http and tcp targets, per tenant. Each check writes into the target's tenant
 * (`engine.forTenant(tenant)`), tagged target_id, name and target_type:
 *
 *   health.target.up                1 when the target answered as expected (up or degraded), else 0
 *   health.target.response_time_ms  time to the answer, or to the failure (a timeout writes ≈ timeout)
 *   health.target.degraded          1 when it answered but slower than expected_response_time_ms
 *
 * so an alert rule of that tenant sees a target that is down or slow. (The metric names keep
 * the seed's `health.` prefix: alert rules and dashboards name them.) Targets and their last
 * result live in `health.db` (probe_store.ts), keyed by (tenant, target_id); a tenant never sees,
 * checks or deletes another tenant's target (it is "not found").
 *
 * Limits (issue 12): at most `quotas(tenant).targets` targets per tenant and `maxTargets` in
 * all; at least MIN_INTERVAL_SECONDS between two checks of one target, whether scheduled,
 * enhanced or asked for with checkNow (which answers CheckRateLimitedError inside that gap);
 * every connection goes through the egress policy (probe_check.ts).
 *
 * Scheduling: one timer ticks every `tickMs` and starts the checks that are due. A target
 * whose previous check is still running is skipped, and every check ends by its timeout, so
 * checks never pile up however slow the target. Lifecycle: `ProbeMonitor.open(system)` →
 * `start()` → `close()` (stops ticking, aborts checks in flight without recording them,
 * closes health.db).
 */
import { join } from 'node:path';
import type { MetricsSystem } from '../model/api.js';
import type { MetricDataPoint } from '../model/metric.js';
import { DEFAULT_TENANT, TENANT_NAME_PATTERN } from '../model/tenant.js';
import { STRICT_EGRESS, type EgressPolicy } from '../net/egress_guard.js';
import { fixedQuotas, QuotaExceededError, type QuotaLookup } from '../tenancy/quota.js';
import { checkTargetLiteral, probeTarget, type ProbeResult } from './probe_check.js';
import { CheckRateLimitedError, TargetCapacityError, TargetConflictError, TargetNotFoundError } from './probe_errors.js';
import { PROBE_DB_FILE } from './probe_schema.js';
import { ProbeStore } from './probe_store.js';
import {
  MIN_INTERVAL_SECONDS, TargetValidationError, UNCHECKED, validateTarget, type ProbeTarget, type TargetState, type TargetView,
} from './probe_target.js';

export const PROBE_METRICS = {
  up: 'health.target.up',
  responseTime: 'health.target.response_time_ms',
  degraded: 'health.target.degraded',
} as const;

/** Enhanced monitoring checks a target this many times as often (never beyond MIN_INTERVAL_SECONDS). */
export const ENHANCED_INTERVAL_FACTOR = 4;

/**
 * Server-wide cap on targets. At the 1 s floor that is at most 10k connects per second, about
 * what one core of the 2-core reference machine spends on loopback connects; the default
 * per-tenant quota (200) keeps one tenant from taking it all.
 */
export const DEFAULT_MAX_TARGETS = 10_000;

const MIN_GAP_MS = MIN_INTERVAL_SECONDS * 1000;

export type ProbeFunction = (target: ProbeTarget, signal: AbortSignal) => Promise<ProbeResult>;

export interface ProbeMonitorOptions {
  /** health.db location; default `<system.dataDirectory>/health.db`. */
  path?: string;
  /** Scheduler resolution. Default 250 ms. */
  tickMs?: number;
  now?: () => number;
  /** What probes may connect to (`config.security.egress`). Default: public addresses only. */
  egress?: EgressPolicy;
  /** Per-tenant quotas; `targets` bounds each tenant's targets. Default DEFAULT_QUOTAS. */
  quotas?: QuotaLookup;
  /** Targets of all tenants together. Default DEFAULT_MAX_TARGETS. */
  maxTargets?: number;
  /** Replaces the network check (tests of scheduling). */
  check?: ProbeFunction;
  onError?: (err: unknown) => void;
}

interface Entry {
  readonly tenant: string;
  readonly target: ProbeTarget;
  state: TargetState;
  nextDueAt: number;
  inFlight: Promise<TargetView> | null;
  /** Epoch ms until which the target is checked ENHANCED_INTERVAL_FACTOR times as often. */
  enhancedUntil: number;
  /** Epoch ms the last check started; null: never since open. */
  startedAt: number | null;
}

export class ProbeMonitor {
  readonly #system: MetricsSystem;
  readonly #store: ProbeStore;
  /** tenant → target_id → entry; a tenant without targets has no map. */
  readonly #tenants = new Map<string, Map<string, Entry>>();
  #targetCount = 0;
  readonly #now: () => number;
  readonly #tickMs: number;
  readonly #egress: EgressPolicy;
  readonly #quotas: QuotaLookup;
  readonly #maxTargets: number;
  readonly #check: ProbeFunction;
  /**
   * Aborted by close(): a check with a long timeout must not hold up shutdown. Shared by every
   * check, so each check detaches its listener when it ends (probe_check.ts).
   */
  readonly #shutdown = new AbortController();
  readonly #onError: (err: unknown) => void;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  /** Checks started and not yet finished (never more than one per target). */
  inFlight = 0;
  /** Checks whose result was recorded. */
  checksRun = 0;

  private constructor(system: MetricsSystem, store: ProbeStore, options: ProbeMonitorOptions) {
    this.#system = system;
    this.#store = store;
    this.#now = options.now ?? Date.now;
    this.#tickMs = options.tickMs ?? 250;
    this.#egress = options.egress ?? STRICT_EGRESS;
    this.#quotas = options.quotas ?? fixedQuotas();
    const maxTargets = options.maxTargets ?? DEFAULT_MAX_TARGETS;
    if (!Number.isInteger(maxTargets) || maxTargets < 0) throw new RangeError(`options.maxTargets=${String(maxTargets)} must be a non-negative integer`);
    this.#maxTargets = maxTargets;
    const egress = this.#egress;
    this.#check = options.check ?? ((t, signal) => probeTarget(t, { egress, signal }));
    this.#onError = options.onError ?? ((err) => process.emitWarning(`probe failed: ${String(err)}`));
  }

  static async open(system: MetricsSystem, options: ProbeMonitorOptions = {}): Promise<ProbeMonitor> {
    const store = ProbeStore.open(options.path ?? join(system.dataDirectory, PROBE_DB_FILE));
    try {
      const monitor = new ProbeMonitor(system, store, options);
      const now = monitor.#now();
      for (const { tenant, target, state } of store.load()) {
        monitor.#insert({ tenant, target, state, nextDueAt: now, inFlight: null, enhancedUntil: 0, startedAt: null });
      }
      return monitor;
    } catch (err) {
      store.close();
      throw err;
    }
  }

  /**
   * Validates and adds a target of `tenant`. Throws TargetValidationError (400), also for a
   * literal address the egress policy refuses; TargetConflictError (409); QuotaExceededError
   * or TargetCapacityError (429).
   */
  addTarget(tenant: string, body: unknown): TargetView {
    if (!TENANT_NAME_PATTERN.test(tenant)) throw new RangeError(`tenant=${JSON.stringify(tenant)} must match ${TENANT_NAME_PATTERN.source}`);
    const target = validateTarget(body, this.#now());
    try {
      checkTargetLiteral(target, this.#egress);
    } catch (err) {
      throw new TargetValidationError(`target.endpoint=${JSON.stringify(target.endpoint)} ${(err as Error).message}`, 'endpoint', target.endpoint);
    }
    const own = this.#tenants.get(tenant);
    if (own?.has(target.target_id) === true) throw new TargetConflictError(target.target_id);
    const limit = this.#quotas(tenant).targets;
    const count = own?.size ?? 0;
    if (count >= limit) throw new QuotaExceededError(tenant, 'targets', limit, `${count} targets monitored`);
    if (this.#targetCount >= this.#maxTargets) throw new TargetCapacityError(this.#maxTargets);
    this.#store.insert(tenant, target);
    const entry: Entry = { tenant, target, state: { ...UNCHECKED }, nextDueAt: this.#now(), inFlight: null, enhancedUntil: 0, startedAt: null };
    this.#insert(entry);
    return view(entry);
  }

  removeTarget(tenant: string, targetId: string): void {
    const own = this.#tenants.get(tenant);
    if (own?.has(targetId) !== true) throw new TargetNotFoundError(targetId);
    this.#store.delete(tenant, targetId);
    own.delete(targetId);
    this.#targetCount--;
    if (own.size === 0) this.#tenants.delete(tenant);
  }

  getTarget(tenant: string, targetId: string): TargetView | undefined {
    const e = this.#tenants.get(tenant)?.get(targetId);
    return e === undefined ? undefined : view(e);
  }

  listTargets(tenant: string): TargetView[] {
    const own = this.#tenants.get(tenant);
    if (own === undefined) return [];
    return [...own.values()].map(view).sort((a, b) => (a.target_id < b.target_id ? -1 : a.target_id > b.target_id ? 1 : 0));
  }

  /** Targets of `tenant`, or of every tenant. */
  targetCount(tenant?: string): number {
    return tenant === undefined ? this.#targetCount : (this.#tenants.get(tenant)?.size ?? 0);
  }

  /**
   * Checks one target now and writes the result, or joins its check in flight. Rejects with
   * TargetNotFoundError, or CheckRateLimitedError within MIN_INTERVAL_SECONDS of its last check.
   */
  checkNow(tenant: string, targetId: string): Promise<TargetView> {
    const e = this.#tenants.get(tenant)?.get(targetId);
    if (e === undefined) return Promise.reject(new TargetNotFoundError(targetId));
    if (e.inFlight !== null) return e.inFlight;
    const wait = this.#gapLeftMs(e, this.#now());
    if (wait > 0) return Promise.reject(new CheckRateLimitedError(targetId, Math.ceil(wait), MIN_GAP_MS));
    return this.#run(e);
  }

  /**
   * The alert remediation hook (`enhanced_monitoring`): for a `health.target.*` series of
   * `tenant`, checks its target (tag target_id; every target of the tenant without one) more
   * often until `untilMs`. Returns the targets affected.
   */
  enhanceMonitoring(series: { metricId: string; tags?: Record<string, string> }, untilMs: number, tenant: string = DEFAULT_TENANT): string[] {
    if (!series.metricId.startsWith('health.target.')) return [];
    const own = this.#tenants.get(tenant);
    if (own === undefined) return [];
    const id = series.tags?.target_id;
    const entries = id === undefined ? [...own.values()] : [own.get(id)].filter((e): e is Entry => e !== undefined);
    const now = this.#now();
    for (const e of entries) {
      e.enhancedUntil = Math.max(e.enhancedUntil, untilMs);
      if (e.inFlight === null) e.nextDueAt = Math.min(e.nextDueAt, (e.startedAt ?? now) + this.#intervalMs(e, now));
    }
    return entries.map((e) => e.target.target_id);
  }

  /** Starts the checks that are due now; returns how many started. */
  tick(): number {
    const now = this.#now();
    let started = 0;
    for (const own of this.#tenants.values()) {
      for (const e of own.values()) {
        if (e.inFlight !== null || e.nextDueAt > now || this.#gapLeftMs(e, now) > 0) continue;
        started++;
        this.#run(e).catch(this.#onError);
      }
    }
    return started;
  }

  start(): void {
    if (this.#timer !== null || this.#closed) return;
    this.#timer = setInterval(() => this.tick(), this.#tickMs);
    this.#timer.unref();
    this.tick();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#shutdown.abort();
    const running = [...this.#tenants.values()].flatMap((own) => [...own.values()].map((e) => e.inFlight?.catch(() => undefined)));
    await Promise.all(running);
    this.#store.close();
  }

  #insert(e: Entry): void {
    let own = this.#tenants.get(e.tenant);
    if (own === undefined) this.#tenants.set(e.tenant, (own = new Map()));
    own.set(e.target.target_id, e);
    this.#targetCount++;
  }

  /** Milliseconds until the target may be checked again (the 1 s floor); ≤ 0: now. */
  #gapLeftMs(e: Entry, now: number): number {
    return e.startedAt === null ? 0 : e.startedAt + MIN_GAP_MS - now;
  }

  #run(e: Entry): Promise<TargetView> {
    if (e.inFlight !== null) return e.inFlight;
    this.inFlight++;
    const now = this.#now();
    e.startedAt = now;
    e.nextDueAt = now + this.#intervalMs(e, now);
    e.inFlight = this.#runCheck(e).finally(() => {
      e.inFlight = null;
      this.inFlight--;
    });
    return e.inFlight;
  }

  async #runCheck(e: Entry): Promise<TargetView> {
    const result = await this.#check(e.target, this.#shutdown.signal);
    // A check cut short by close() says nothing about the target; one removed (or removed and
    // added again) while its check ran has no row and no series to extend.
    if (this.#closed || this.#tenants.get(e.tenant)?.get(e.target.target_id) !== e) return view(e);
    const at = this.#now();
    const failed = result.status === 'down';
    e.state = {
      status: result.status,
      last_check: at,
      last_response_time_ms: result.responseTimeMs,
      last_status_code: result.statusCode,
      last_error: result.error,
      consecutive_failures: failed ? e.state.consecutive_failures + 1 : 0,
    };
    this.checksRun++;
    this.#store.updateStatus(e.tenant, e.target.target_id, e.state);
    const tags = { target_id: e.target.target_id, name: e.target.name, target_type: e.target.target_type };
    const points: MetricDataPoint[] = [
      { metricId: PROBE_METRICS.up, metricType: 'gauge', value: failed ? 0 : 1, timestamp: at, tags },
      { metricId: PROBE_METRICS.responseTime, metricType: 'gauge', value: result.responseTimeMs, timestamp: at, tags },
      { metricId: PROBE_METRICS.degraded, metricType: 'gauge', value: result.status === 'degraded' ? 1 : 0, timestamp: at, tags },
    ];
    await this.#system.forTenant(e.tenant).collectMetrics(points);
    return view(e);
  }

  #intervalMs(e: Entry, now: number): number {
    const ms = e.target.interval * 1000;
    return now < e.enhancedUntil ? Math.max(MIN_GAP_MS, ms / ENHANCED_INTERVAL_FACTOR) : ms;
  }
}

function view(e: Entry): TargetView {
  return { ...e.target, ...e.state };
}
