/**
 * The collector contract: something that, when asked, returns points describing the present.
 * Collectors never write; CollectorRunner (collector_runner.ts) schedules them, writes their
 * points through the engine and adapts their interval.
 */
import type { MetricDataPoint } from '../model/metric.js';

export interface Collector {
  /** Stable name, used as the `collector` tag of `collector.interval_ms`. */
  readonly name: string;
  /** Prefixes of the metric ids it writes (`system.`), so enhanced monitoring of a series finds its collector. */
  readonly metricPrefixes: readonly string[];
  /** Points as of `nowMs`; each point's timestamp defaults to `nowMs`. */
  collect(nowMs: number): Promise<MetricDataPoint[]> | MetricDataPoint[];
}
