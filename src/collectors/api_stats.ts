/**
 * Self-instrumentation of EMMS's HTTP and WebSocket handling: the one tally of requests.
 *
 * The server records each answered HTTP request once, `record(route, status, durationMs)`
 * (src/server/http_exchange.ts, and refused stream upgrades in ws_stream.ts), and each stream
 * frame once, `recordFrame(route, status, durationMs)`. Two outputs read the same tally:
 *
 *   GET /metrics  emms_http_requests_total {route, code}   HTTP answers since start, by status
 *                 (src/server/self_metrics.ts renders `answers()`); stream frames are not HTTP
 *                 requests and are left out, as their own families count them
 *   ApiStatsCollector, each interval (`drain()`), HTTP requests and stream frames alike:
 *     application.api.response_time {route}   mean milliseconds per request in the interval
 *     application.api.request_rate  {route}   requests per second over the interval
 *     application.api.error_rate    {route}   fraction (0–1) of requests answered with status ≥ 500
 *
 * Only server errors count as errors: a 4xx is the client's mistake and says nothing about
 * EMMS's health. A route seen before but idle in an interval reports rates of 0, so gauges
 * drop instead of freezing at their last busy value. Recording runs on the request path: one
 * Map lookup for the route, one for the status, and a few additions.
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

/** One route's figures: answers by status since start (HTTP only), and the current interval's tally. */
interface RouteTally {
  readonly answersByStatus: Map<number, number>;
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

/** HTTP answers of one route and status code since the recorder was made. */
export interface AnswerCount {
  route: string;
  status: number;
  count: number;
}

export class ApiStatsRecorder {
  /** Every route seen (at most MAX_TRACKED_ROUTES and `other`), in first-seen order. */
  readonly #routes = new Map<string, RouteTally>();

  /**
   * One answered HTTP request. `route` should be the route pattern (`/api/v1/keys/:key_id`),
   * not the raw path.
   */
  record(route: string, status: number, durationMs: number): void {
    const t = this.#tally(route, status, durationMs);
    t.answersByStatus.set(status, (t.answersByStatus.get(status) ?? 0) + 1);
  }

  /** One stream frame answered (ack or nack): counts for the `application.api.*` series only. */
  recordFrame(route: string, status: number, durationMs: number): void {
    this.#tally(route, status, durationMs);
  }

  #tally(route: string, status: number, durationMs: number): RouteTally {
    let t = this.#routes.get(route);
    if (t === undefined) {
      const name = this.#routes.size >= MAX_TRACKED_ROUTES ? OTHER_ROUTE : route;
      t = this.#routes.get(name);
      if (t === undefined) {
        t = { answersByStatus: new Map(), requests: 0, errors: 0, totalMs: 0, maxMs: 0 };
        this.#routes.set(name, t);
      }
    }
    t.requests++;
    if (status >= 500) t.errors++;
    if (durationMs >= 0 && Number.isFinite(durationMs)) {
      t.totalMs += durationMs;
      if (durationMs > t.maxMs) t.maxMs = durationMs;
    }
    return t;
  }

  /** HTTP answers since start, by route and status, for GET /metrics (read at scrape time). */
  *answers(): Generator<AnswerCount> {
    for (const [route, t] of this.#routes) {
      for (const [status, count] of t.answersByStatus) yield { route, status, count };
    }
  }

  /** Returns the tallies since the previous call (every known route, idle ones with zeros) and starts new ones. */
  drain(): ApiStatsSnapshot[] {
    const out: ApiStatsSnapshot[] = [];
    for (const [route, t] of this.#routes) {
      out.push(t.requests === 0
        ? { route, requests: 0, errors: 0, meanMs: null, maxMs: 0 }
        : { route, requests: t.requests, errors: t.errors, meanMs: t.totalMs / t.requests, maxMs: t.maxMs });
      t.requests = 0;
      t.errors = 0;
      t.totalMs = 0;
      t.maxMs = 0;
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
