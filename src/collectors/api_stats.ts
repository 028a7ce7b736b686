/**
 * Self-instrumentation of EMMS's HTTP and WebSocket handling. The server calls
 * `ApiStatsRecorder.record(route, status, durationMs)` for every request (its onRequest hook)
 * and every WebSocket frame; ApiStatsCollector turns each interval's tallies into
 *
 *   application.api.response_time {route}   mean milliseconds per request in the interval
 *   application.api.request_rate  {route}   requests per second over the interval
 *   application.api.error_rate    {route}   fraction (0–1) of requests answered with status ≥ 500
 *
 * Only server errors count: a 4xx is the client's mistake and says nothing about EMMS's
 * health. A route seen before but idle in an interval reports rates of 0, so gauges drop
 * instead of freezing at their last busy value. `record` is a few additions on a Map entry:
 * it runs on the request path.
 */
import type { MetricDataPoint } from '../model/metric.js';
import type { Collector } from './collector.js';

export const API_METRICS = {
  responseTime: 'application.api.response_time',
  requestRate: 'application.api.request_rate',
  errorRate: 'application.api.error_rate',
} as const;

/** Routes beyond this many are tallied as `other`: a client cannot grow the series set without bound. */
export const MAX_TRACKED_ROUTES = 1000;
export const OTHER_ROUTE = 'other';

interface Tally {
  requests: number;
  errors: number;
  totalMs: number;
  maxMs: number;
}

export interface ApiStatsSnapshot {
  route: string;
  requests: number;
  errors: number;
  meanMs: number | null;
  maxMs: number;
}

export class ApiStatsRecorder {
  #current = new Map<string, Tally>();
  readonly #known = new Set<string>();

  /** `route` should be the route pattern (`/api/v1/keys/:key_id`), not the raw path. */
  record(route: string, status: number, durationMs: number): void {
    let name = route;
    if (!this.#known.has(name)) {
      if (this.#known.size >= MAX_TRACKED_ROUTES) name = OTHER_ROUTE;
      this.#known.add(name);
    }
    let t = this.#current.get(name);
    if (t === undefined) {
      t = { requests: 0, errors: 0, totalMs: 0, maxMs: 0 };
      this.#current.set(name, t);
    }
    t.requests++;
    if (status >= 500) t.errors++;
    if (durationMs >= 0 && Number.isFinite(durationMs)) {
      t.totalMs += durationMs;
      if (durationMs > t.maxMs) t.maxMs = durationMs;
    }
  }

  /** Returns the tallies since the previous call (every known route, idle ones with zeros) and starts new ones. */
  drain(): ApiStatsSnapshot[] {
    const tallies = this.#current;
    this.#current = new Map();
    const out: ApiStatsSnapshot[] = [];
    for (const route of this.#known) {
      const t = tallies.get(route);
      out.push(t === undefined
        ? { route, requests: 0, errors: 0, meanMs: null, maxMs: 0 }
        : { route, requests: t.requests, errors: t.errors, meanMs: t.totalMs / t.requests, maxMs: t.maxMs });
    }
    return out;
  }
}

export class ApiStatsCollector implements Collector {
  readonly name = 'api';
  readonly metricPrefixes = ['application.api.'] as const;
  readonly #recorder: ApiStatsRecorder;
  #lastAt: number;

  constructor(recorder: ApiStatsRecorder, startedAtMs: number = Date.now()) {
    this.#recorder = recorder;
    this.#lastAt = startedAtMs;
  }

  collect(nowMs: number): MetricDataPoint[] {
    const seconds = Math.max((nowMs - this.#lastAt) / 1000, 1e-3);
    this.#lastAt = nowMs;
    const points: MetricDataPoint[] = [];
    for (const s of this.#recorder.drain()) {
      const tags = { route: s.route };
      if (s.meanMs !== null) points.push({ metricId: API_METRICS.responseTime, metricType: 'gauge', value: s.meanMs, timestamp: nowMs, tags });
      points.push(
        { metricId: API_METRICS.requestRate, metricType: 'gauge', value: s.requests / seconds, timestamp: nowMs, tags },
        { metricId: API_METRICS.errorRate, metricType: 'gauge', value: s.requests === 0 ? 0 : s.errors / s.requests, timestamp: nowMs, tags },
      );
    }
    return points;
  }
}
