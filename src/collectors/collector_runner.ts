/**
 * Runs one collector on its (adaptive) interval and writes its points through the engine.
 *
 * Lifecycle: `start()` schedules the first collection after one interval; each collection
 * schedules the next only when it has finished, so collections never overlap or pile up
 * behind a slow disk; `stop()` cancels the timer and waits for a collection in flight.
 * `enhance(durationMs)` samples at the enhanced interval for a while (alert remediation
 * `enhanced_monitoring`), rescheduling a pending collection sooner if needed.
 *
 * With each collection the runner writes `collector.interval_ms {collector}`: the interval
 * that led to this collection, so the sampling rate itself is a series.
 */
import type { MetricsSystem } from '../model/api.js';
import { canonicalTags, type MetricDataPoint } from '../model/metric.js';
import { AdaptiveInterval, type AdaptiveSamplingOptions } from './adaptive_interval.js';
import type { Collector } from './collector.js';

export const COLLECTOR_INTERVAL_METRIC = 'collector.interval_ms';

export interface CollectorRunnerOptions {
  /** Interval without adaptive sampling (also the starting interval with it). */
  intervalMs: number;
  /** Bounds and thresholds of adaptive sampling; null or absent: fixed interval. */
  adaptive?: AdaptiveSamplingOptions | null;
  /** Interval while enhanced; default max(1000, intervalMs / 6), never above intervalMs. */
  enhancedIntervalMs?: number;
  now?: () => number;
  onError?: (err: unknown) => void;
}

export class CollectorRunner {
  readonly collector: Collector;
  readonly #system: MetricsSystem;
  readonly #interval: AdaptiveInterval;
  readonly #adaptive: boolean;
  readonly #now: () => number;
  readonly #onError: (err: unknown) => void;
  #timer: NodeJS.Timeout | null = null;
  #dueAt = 0;
  #running: Promise<number> | null = null;
  #started = false;
  #lastIntervalMs: number;
  /** Interval enhance() uses by default under adaptive sampling (else the interval's minimum). */
  #enhancedMs: number | null = null;
  collections = 0;

  constructor(system: MetricsSystem, collector: Collector, options: CollectorRunnerOptions) {
    this.#system = system;
    this.collector = collector;
    this.#now = options.now ?? Date.now;
    this.#onError = options.onError ?? ((err) => process.emitWarning(`collector ${collector.name} failed: ${String(err)}`));
    const adaptive = options.adaptive ?? null;
    this.#adaptive = adaptive !== null;
    if (adaptive !== null) {
      this.#interval = new AdaptiveInterval({ initialMs: options.intervalMs, ...adaptive });
    } else {
      const enhanced = Math.min(options.intervalMs, options.enhancedIntervalMs ?? Math.max(1000, options.intervalMs / 6));
      // Fixed sampling: min = the enhanced interval, so only enhance() ever goes below intervalMs.
      this.#interval = new AdaptiveInterval({ minMs: enhanced, maxMs: options.intervalMs, initialMs: options.intervalMs });
    }
    if (adaptive !== null && options.enhancedIntervalMs !== undefined) this.#enhancedMs = options.enhancedIntervalMs;
    this.#lastIntervalMs = this.#interval.current(this.#now());
  }

  get intervalMs(): number {
    return this.#interval.current(this.#now());
  }

  get adaptiveInterval(): AdaptiveInterval {
    return this.#interval;
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#schedule(this.#interval.current(this.#now()));
  }

  #schedule(delayMs: number): void {
    if (!this.#started) return;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#lastIntervalMs = delayMs;
    this.#dueAt = this.#now() + delayMs;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.runOnce().catch(this.#onError).finally(() => this.#schedule(this.#interval.current(this.#now())));
    }, delayMs);
    this.#timer.unref();
  }

  /** Collects and writes once (waits for, rather than overlaps, a collection in flight). Returns points written. */
  runOnce(): Promise<number> {
    if (this.#running !== null) return this.#running;
    this.#running = this.#collect().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #collect(): Promise<number> {
    const now = this.#now();
    const points = await this.collector.collect(now);
    if (this.#adaptive) {
      const gauges = new Map<string, number>();
      for (const p of points) if (p.metricType !== 'counter') gauges.set(p.metricId + '|' + canonicalTags(p.tags ?? {}), p.value);
      this.#interval.observe(gauges, now);
    }
    const all: MetricDataPoint[] = [...points, {
      metricId: COLLECTOR_INTERVAL_METRIC, metricType: 'gauge', value: this.#lastIntervalMs, timestamp: now, tags: { collector: this.collector.name },
    }];
    await this.#system.collectMetrics(all);
    this.collections++;
    return all.length;
  }

  /** Samples at the enhanced interval (or `intervalMs`) for `durationMs`. */
  enhance(durationMs: number, intervalMs?: number): void {
    const now = this.#now();
    this.#interval.boost(now, durationMs, intervalMs ?? this.#enhancedMs ?? this.#interval.minMs);
    const next = this.#interval.current(now);
    if (this.#timer !== null && this.#dueAt > now + next) this.#schedule(next);
  }

  async stop(): Promise<void> {
    this.#started = false;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#running !== null) await this.#running.catch(() => undefined);
  }
}
