/**
 * The collectors EMMS runs on itself: the system collector and the API statistics, each on
 * its own runner, created from the `collector` settings. Also the handle alert remediation's
 * `enhanced_monitoring` uses to raise collection frequency for a while.
 *
 * Lifecycle: `CollectorSet.create(system, settings)` → `start()` → `stop()` (waits for
 * collections in flight). The ApiStatsRecorder is exposed for the server, which records every
 * request into it (createServer's `requestStats`) and renders GET /metrics from it too.
 */
import type { MetricsSystem } from '../model/api.js';
import { ApiStatsCollector, ApiStatsRecorder } from './api_stats.js';
import type { Collector } from './collector.js';
import type { CollectorSettings } from './collector_config.js';
import { CollectorRunner } from './collector_runner.js';
import { SystemCollector, type SystemCollectorOptions } from './system_collector.js';

/** What alert remediation needs: raise sampling of one collector, or all, for a period. */
export interface EnhancedMonitoring {
  enhance(durationMs: number, options?: { collector?: string; intervalMs?: number }): string[];
  /**
   * The alert remediation hook (`enhanced_monitoring`): samples the collector that writes
   * `series.metricId` faster until `untilMs`; a series no collector writes is left alone.
   */
  enhanceMonitoring(series: { metricId: string; tags?: Record<string, string> }, untilMs: number): string[];
}

export class CollectorSet implements EnhancedMonitoring {
  readonly apiStats: ApiStatsRecorder;
  readonly #runners = new Map<string, CollectorRunner>();

  private constructor(apiStats: ApiStatsRecorder, now: () => number) {
    this.apiStats = apiStats;
    this.#now = now;
  }

  readonly #now: () => number = Date.now;

  static async create(
    system: MetricsSystem, settings: CollectorSettings,
    options: { now?: () => number; system?: SystemCollectorOptions; onError?: (err: unknown) => void } = {},
  ): Promise<CollectorSet> {
    const set = new CollectorSet(new ApiStatsRecorder(), options.now ?? Date.now);
    const common = {
      enhancedIntervalMs: settings.enhancedIntervalMs,
      ...(options.now !== undefined ? { now: options.now } : {}),
      ...(options.onError !== undefined ? { onError: options.onError } : {}),
    };
    set.add(system, await SystemCollector.create(options.system), { ...common, intervalMs: settings.systemIntervalMs, adaptive: settings.adaptive });
    set.add(system, new ApiStatsCollector(set.apiStats, (options.now ?? Date.now)()), { ...common, intervalMs: settings.apiStatsIntervalMs });
    return set;
  }

  add(system: MetricsSystem, collector: Collector, options: ConstructorParameters<typeof CollectorRunner>[2]): CollectorRunner {
    if (this.#runners.has(collector.name)) throw new Error(`collector name=${JSON.stringify(collector.name)} is already registered`);
    const runner = new CollectorRunner(system, collector, options);
    this.#runners.set(collector.name, runner);
    return runner;
  }

  runner(name: string): CollectorRunner | undefined {
    return this.#runners.get(name);
  }

  get names(): string[] {
    return [...this.#runners.keys()];
  }

  start(): void {
    for (const r of this.#runners.values()) r.start();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#runners.values()].map((r) => r.stop()));
  }

  /** Returns the names of the collectors enhanced; throws for an unknown collector name. */
  enhance(durationMs: number, options: { collector?: string; intervalMs?: number } = {}): string[] {
    if (!Number.isFinite(durationMs) || durationMs <= 0) throw new RangeError(`enhance durationMs=${durationMs} must be a positive number of milliseconds`);
    const targets = options.collector === undefined ? [...this.#runners.values()] : [this.#runners.get(options.collector)];
    if (targets[0] === undefined) throw new RangeError(`collector=${JSON.stringify(options.collector)} is not one of ${this.names.join(', ')}`);
    for (const r of targets) r!.enhance(durationMs, options.intervalMs);
    return targets.map((r) => r!.collector.name);
  }

  enhanceMonitoring(series: { metricId: string; tags?: Record<string, string> }, untilMs: number): string[] {
    const durationMs = untilMs - this.#now();
    if (!(durationMs > 0)) return [];
    const names: string[] = [];
    for (const r of this.#runners.values()) {
      if (!r.collector.metricPrefixes.some((p) => series.metricId.startsWith(p))) continue;
      r.enhance(durationMs);
      names.push(r.collector.name);
    }
    return names;
  }
}
