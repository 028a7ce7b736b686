/**
 * Health monitoring of http and tcp targets. Each check writes, tagged target_id, name and
 * target_type:
 *
 *   health.target.up                1 when the target answered as expected (up or degraded), else 0
 *   health.target.response_time_ms  time to the answer, or to the failure (a timeout writes ≈ timeout)
 *   health.target.degraded          1 when it answered but slower than expected_response_time_ms
 *
 * so an alert rule sees a target that is down or slow. Targets and their last result live in
 * `health.db` in the engine's data directory.
 *
 * Scheduling: one timer ticks every `tickMs` and starts the checks that are due. A target
 * whose previous check is still running is skipped, and every check ends by its timeout, so
 * checks never pile up however slow the target. Lifecycle: `HealthMonitor.open(system)` →
 * `start()` → `close()` (stops ticking, aborts checks in flight without recording them,
 * closes health.db).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { MetricsSystem } from '../model/api.js';
import type { MetricDataPoint } from '../model/metric.js';
import { checkTarget, type CheckResult } from './health_check.js';
import { HEALTH_DB_FILE, HEALTH_DDL, HEALTH_SCHEMA_VERSION, HEALTH_SQL } from './health_schema.js';
import { MIN_INTERVAL_SECONDS, validateTarget, type HealthTarget, type TargetStatus } from './health_target.js';

export const HEALTH_METRICS = {
  up: 'health.target.up',
  responseTime: 'health.target.response_time_ms',
  degraded: 'health.target.degraded',
} as const;

export interface TargetState {
  status: TargetStatus;
  last_check: number | null;
  last_response_time_ms: number | null;
  last_status_code: number | null;
  last_error: string | null;
  consecutive_failures: number;
}

export interface TargetView extends HealthTarget, TargetState {}

export class TargetNotFoundError extends Error {
  constructor(readonly targetId: string) {
    super(`target_id=${JSON.stringify(targetId)} is not a monitored target`);
    this.name = 'TargetNotFoundError';
  }
}

export class TargetConflictError extends Error {
  constructor(readonly targetId: string) {
    super(`target_id=${JSON.stringify(targetId)} already exists`);
    this.name = 'TargetConflictError';
  }
}

export interface HealthMonitorOptions {
  /** health.db location; default `<system.dataDirectory>/health.db`. */
  path?: string;
  /** Scheduler resolution. Default 250 ms. */
  tickMs?: number;
  now?: () => number;
  /** Replaces the network check (tests of scheduling). */
  check?: (t: HealthTarget, signal: AbortSignal) => Promise<CheckResult>;
  onError?: (err: unknown) => void;
}

interface Entry {
  target: HealthTarget;
  state: TargetState;
  nextDueAt: number;
  inFlight: Promise<TargetView> | null;
  /** Epoch ms until which the target is checked ENHANCED_INTERVAL_FACTOR times as often. */
  enhancedUntil: number;
  /** Epoch ms the last check started (0: never). */
  startedAt: number;
}

/** Enhanced monitoring checks a target this many times as often (never beyond MIN_INTERVAL_SECONDS). */
export const ENHANCED_INTERVAL_FACTOR = 4;

interface Row {
  target_id: string; definition: string; last_status: string; last_check: number | null;
  last_response_time_ms: number | null; last_status_code: number | null; last_error: string | null; consecutive_failures: number;
}

export class HealthMonitor {
  readonly #system: MetricsSystem;
  readonly #db: Database.Database;
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;
  readonly #tickMs: number;
  readonly #check: (t: HealthTarget, signal: AbortSignal) => Promise<CheckResult>;
  /** Aborted by close(): a check with a long timeout must not hold up shutdown. */
  readonly #shutdown = new AbortController();
  readonly #onError: (err: unknown) => void;
  readonly #updateStatus: Database.Statement;
  #timer: NodeJS.Timeout | null = null;
  #closed = false;
  /** Checks started and not yet finished (never more than one per target). */
  inFlight = 0;
  /** Checks whose result was recorded. */
  checksRun = 0;

  private constructor(system: MetricsSystem, db: Database.Database, options: HealthMonitorOptions) {
    this.#system = system;
    this.#db = db;
    this.#now = options.now ?? Date.now;
    this.#tickMs = options.tickMs ?? 250;
    this.#check = options.check ?? checkTarget;
    this.#onError = options.onError ?? ((err) => process.emitWarning(`health check failed: ${String(err)}`));
    this.#updateStatus = db.prepare(HEALTH_SQL.updateStatus);
  }

  static async open(system: MetricsSystem, options: HealthMonitorOptions = {}): Promise<HealthMonitor> {
    const path = options.path ?? join(system.dataDirectory, HEALTH_DB_FILE);
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      db.exec(HEALTH_DDL);
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version === 0) db.pragma(`user_version = ${HEALTH_SCHEMA_VERSION}`);
      else if (version !== HEALTH_SCHEMA_VERSION) throw new Error(`${path}: health.db schema version ${version} is not supported (expected ${HEALTH_SCHEMA_VERSION})`);
      const monitor = new HealthMonitor(system, db, options);
      const now = monitor.#now();
      for (const r of db.prepare(HEALTH_SQL.selectTargets).all() as Row[]) {
        const target = JSON.parse(r.definition) as HealthTarget;
        monitor.#entries.set(r.target_id, {
          target,
          state: {
            status: r.last_status as TargetStatus, last_check: r.last_check, last_response_time_ms: r.last_response_time_ms,
            last_status_code: r.last_status_code, last_error: r.last_error, consecutive_failures: r.consecutive_failures,
          },
          nextDueAt: now,
          inFlight: null,
          enhancedUntil: 0,
          startedAt: 0,
        });
      }
      return monitor;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  addTarget(body: unknown): TargetView {
    const target = validateTarget(body, this.#now());
    if (this.#entries.has(target.target_id)) throw new TargetConflictError(target.target_id);
    this.#db.prepare(HEALTH_SQL.insertTarget).run(target.target_id, JSON.stringify(target));
    const entry: Entry = {
      target,
      state: { status: 'unknown', last_check: null, last_response_time_ms: null, last_status_code: null, last_error: null, consecutive_failures: 0 },
      nextDueAt: this.#now(),
      inFlight: null,
      enhancedUntil: 0,
      startedAt: 0,
    };
    this.#entries.set(target.target_id, entry);
    return view(entry);
  }

  removeTarget(targetId: string): void {
    if (!this.#entries.has(targetId)) throw new TargetNotFoundError(targetId);
    this.#db.prepare(HEALTH_SQL.deleteTarget).run(targetId);
    this.#entries.delete(targetId);
  }

  getTarget(targetId: string): TargetView | undefined {
    const e = this.#entries.get(targetId);
    return e === undefined ? undefined : view(e);
  }

  listTargets(): TargetView[] {
    return [...this.#entries.values()].map(view).sort((a, b) => (a.target_id < b.target_id ? -1 : a.target_id > b.target_id ? 1 : 0));
  }

  /** Checks one target now (or joins its check in flight) and writes the result. */
  checkNow(targetId: string): Promise<TargetView> {
    const e = this.#entries.get(targetId);
    if (e === undefined) return Promise.reject(new TargetNotFoundError(targetId));
    return this.#run(e);
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
    // A check cut short by close() says nothing about the target; one removed while its check
    // ran has no row and no series to extend.
    if (this.#closed || !this.#entries.has(e.target.target_id)) return view(e);
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
    this.#updateStatus.run({ target_id: e.target.target_id, ...e.state, last_status: e.state.status });
    const tags = { target_id: e.target.target_id, name: e.target.name, target_type: e.target.target_type };
    const points: MetricDataPoint[] = [
      { metricId: HEALTH_METRICS.up, metricType: 'gauge', value: failed ? 0 : 1, timestamp: at, tags },
      { metricId: HEALTH_METRICS.responseTime, metricType: 'gauge', value: result.responseTimeMs, timestamp: at, tags },
      { metricId: HEALTH_METRICS.degraded, metricType: 'gauge', value: result.status === 'degraded' ? 1 : 0, timestamp: at, tags },
    ];
    await this.#system.collectMetrics(points);
    return view(e);
  }

  #intervalMs(e: Entry, now: number): number {
    const ms = e.target.interval * 1000;
    return now < e.enhancedUntil ? Math.max(MIN_INTERVAL_SECONDS * 1000, ms / ENHANCED_INTERVAL_FACTOR) : ms;
  }

  /**
   * The alert remediation hook (`enhanced_monitoring`): for a `health.target.*` series, checks
   * its target (tag target_id) more often until `untilMs`. Returns the targets affected.
   */
  enhanceMonitoring(series: { metricId: string; tags?: Record<string, string> }, untilMs: number): string[] {
    if (!series.metricId.startsWith('health.target.')) return [];
    const id = series.tags?.target_id;
    const entries = id === undefined ? [...this.#entries.values()] : [this.#entries.get(id)].filter((e): e is Entry => e !== undefined);
    const now = this.#now();
    for (const e of entries) {
      e.enhancedUntil = Math.max(e.enhancedUntil, untilMs);
      if (e.inFlight === null) e.nextDueAt = Math.min(e.nextDueAt, e.startedAt + this.#intervalMs(e, now));
    }
    return entries.map((e) => e.target.target_id);
  }

  /** Starts the checks that are due now; returns how many started. */
  tick(): number {
    const now = this.#now();
    let started = 0;
    for (const e of this.#entries.values()) {
      if (e.inFlight !== null || e.nextDueAt > now) continue;
      started++;
      this.#run(e).catch(this.#onError);
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
    await Promise.all([...this.#entries.values()].map((e) => e.inFlight?.catch(() => undefined)));
    this.#db.close();
  }
}

function view(e: Entry): TargetView {
  return { ...e.target, ...e.state };
}
