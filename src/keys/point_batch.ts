/**
 * The points one key-event batch or periodic check of one tenant writes: cumulative counters
 * per key (coalesced within a resolution window), gauges, and authentication failures per
 * source address. Built in memory, then handed to the tenant's engine view in one call.
 */
import type { MetricDataPoint, Tags } from '../model/metric.js';

/** Failed authentications per source address, fed by unauthorized_access key events. */
export const AUTH_FAILURES_METRIC = 'security.auth.failures';

/** The points of one batch; counter points of one series within `resolutionMs` share one. */
export class PointBatch {
  readonly points: MetricDataPoint[] = [];
  readonly #last = new Map<number, MetricDataPoint>();
  readonly #failures = new Map<string, MetricDataPoint>();

  constructor(readonly resolutionMs: number) {}

  /** `seriesId` is the caller's small-integer identity of the series (key ordinal × counters + counter). */
  counter(seriesId: number, metricId: string, tags: Tags, timestamp: number, value: number): void {
    const last = this.#last.get(seriesId);
    if (last !== undefined && Math.floor((last.timestamp as number) / this.resolutionMs) === Math.floor(timestamp / this.resolutionMs) && timestamp >= (last.timestamp as number)) {
      last.timestamp = timestamp;
      last.value = value;
      return;
    }
    const p: MetricDataPoint = { metricId, metricType: 'counter', tags, timestamp, value };
    this.#last.set(seriesId, p);
    this.points.push(p);
  }

  gauge(metricId: string, tags: Tags, timestamp: number, value: number): void {
    this.points.push({ metricId, metricType: 'gauge', tags, timestamp, value });
  }

  /**
   * One point of `security.auth.failures{source_ip}` per address and millisecond, holding how
   * many failures it stands for: the predefined Authentication Failures rule sums these over
   * 5 minutes per address, and its block_ip remediation reads the address from the tag. Equal
   * timestamps are summed here because a second point at the same time would replace the first.
   */
  authFailure(sourceIp: string, timestamp: number, n: number): void {
    const key = `${sourceIp} ${timestamp}`;
    const existing = this.#failures.get(key);
    if (existing !== undefined) {
      existing.value += n;
      return;
    }
    const p: MetricDataPoint = { metricId: AUTH_FAILURES_METRIC, metricType: 'gauge', tags: { source_ip: sourceIp }, timestamp, value: n };
    this.#failures.set(key, p);
    this.points.push(p);
  }
}
