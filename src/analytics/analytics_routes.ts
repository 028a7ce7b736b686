/**
 * HTTP routes of the analytics engine under /api/v1/analytics/ (snake_case), mounted by the
 * server. Each endpoint answers GET (parameters in the query string; lists comma-separated,
 * tags as `tag.<key>=<value>`) and POST (a JSON/MessagePack object body with the same names).
 *
 *   anomalies     metric_pattern, window_hours, sensitivity?, method?, warmup_hours?, end_time?, tags?
 *   correlations  primary_metric, secondary_patterns, correlation_threshold, interval?, max_lag?, window_hours?, end_time?, tags?
 *   forecast      metric_pattern, horizon, interval, method?, lookback?, coverage?, end_time?, tags?
 *   capacity      metric_pattern, limit, horizon?, interval?, method?, lookback?, end_time?, tags?
 *   joint_anomalies  metric_pattern, window_hours, entity_tags?, interval?, sensitivity?, window_points?, warmup_hours?, end_time?, tags?
 *
 * Validation errors become 400 with the snake_case field name; query limits 422 (server).
 */
import type { MetricsSystem } from '../model/api.js';
import { MetricValidationError, type Tags } from '../model/metric.js';
import { HttpError, tenantOf, type HttpRequest, type HttpResponseSpec, type RouteDefinition } from '../http/route.js';
import { capacity, detectAnomalies, findCorrelations, forecast, type ForecastMethod } from './analytics_api.js';
import { ANALYTICS_SCHEMAS } from './analytics_route_schemas.js';
import { detectJointAnomalies } from './joint_anomalies.js';
import { JOINT_ANOMALIES_SCHEMA } from './joint_anomalies_schema.js';
import type { DetectorMethod } from './streaming_detector_contract.js';

const BASE = '/api/v1/analytics';

function snake(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Reads parameters from the body (POST) or the query string (GET), by snake_case name. */
class Params {
  readonly #body: Record<string, unknown> | undefined;
  readonly #query: URLSearchParams;

  constructor(req: HttpRequest) {
    this.#query = req.query;
    if (req.method === 'POST') {
      if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) {
        throw new HttpError(400, 'request body must be a JSON object with snake_case fields');
      }
      this.#body = req.body as Record<string, unknown>;
    }
  }

  raw(name: string): unknown {
    if (this.#body !== undefined) return this.#body[name];
    return this.#query.get(name) ?? undefined;
  }

  string(name: string): string | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') throw new HttpError(400, `${name}=${JSON.stringify(v)} must be a string`);
    return v;
  }

  number(name: string): number | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new HttpError(400, `${name}=${JSON.stringify(v)} must be a number`);
    return n;
  }

  /** A duration: `7d` or milliseconds. */
  duration(name: string): string | number | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string' && /^\d+$/.test(v.trim())) return Number(v);
    if (typeof v !== 'string' && typeof v !== 'number') throw new HttpError(400, `${name}=${JSON.stringify(v)} must be a duration like 7d or milliseconds`);
    return v;
  }

  list(name: string): string[] | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
    throw new HttpError(400, `${name}=${JSON.stringify(v)} must be an array of strings (or comma-separated in a query string)`);
  }

  tags(): Tags | undefined {
    if (this.#body !== undefined) {
      const t = this.#body.tags;
      if (t === undefined || t === null) return undefined;
      if (typeof t !== 'object' || Array.isArray(t) || !Object.values(t).every((v) => typeof v === 'string')) {
        throw new HttpError(400, 'tags must be an object of string values');
      }
      return t as Tags;
    }
    let tags: Tags | undefined;
    for (const [k, v] of this.#query) {
      if (k.startsWith('tag.')) (tags ??= {})[k.slice(4)] = v;
    }
    return tags;
  }

  time(name: string): string | number | undefined {
    const v = this.raw(name);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number') return v;
    if (typeof v === 'string') return /^\d+$/.test(v.trim()) ? Number(v) : v;
    throw new HttpError(400, `${name}=${JSON.stringify(v)} must be epoch ms or an ISO-8601 time`);
  }
}

function required<T>(name: string, value: T | undefined): T {
  if (value === undefined) throw new HttpError(400, `${name} is required`);
  return value;
}

/** `tenantEngine` is the engine's view of the caller's tenant: analytics never sees other tenants. */
type Handler = (p: Params, tenantEngine: MetricsSystem) => Promise<unknown>;

function endpoint(engine: MetricsSystem, handler: Handler): (req: HttpRequest) => Promise<HttpResponseSpec> {
  return async (req) => {
    try {
      return { status: 200, body: await handler(new Params(req), engine.forTenant(tenantOf(req))) };
    } catch (err) {
      if (err instanceof MetricValidationError) {
        // The API names camelCase fields; the HTTP client sent snake_case ones.
        const field = snake(err.field);
        const message = err.message.startsWith(`${err.field}=`) ? field + err.message.slice(err.field.length) : err.message;
        throw new HttpError(400, message, { error: message, field });
      }
      throw err;
    }
  };
}

const arrayOf = (a: ArrayLike<number>): number[] => Array.from(a);

export function analyticsRoutes(engine: MetricsSystem): RouteDefinition[] {
  const anomalies = endpoint(engine, async (p, tenantEngine) => {
    const r = await detectAnomalies(tenantEngine, {
      metricPattern: required('metric_pattern', p.string('metric_pattern')),
      windowHours: required('window_hours', p.number('window_hours')),
      sensitivity: p.number('sensitivity'),
      method: p.string('method') as DetectorMethod | undefined,
      warmupHours: p.number('warmup_hours'),
      endTime: p.time('end_time'),
      tags: p.tags(),
    });
    return {
      method: r.method,
      sensitivity: r.sensitivity,
      threshold: r.threshold,
      start_time: r.startTime,
      end_time: r.endTime,
      series: r.series.map((s) => ({
        metric_id: s.metricId,
        metric_type: s.metricType,
        tags: s.tags,
        timestamps: arrayOf(s.timestamps),
        values: arrayOf(s.values),
        scores: arrayOf(s.scores),
        scored_on: s.scoredOn,
        anomalies: s.anomalies,
        anomaly_timestamps: s.anomalyTimestamps,
      })),
    };
  });

  const correlations = endpoint(engine, async (p, tenantEngine) => {
    const r = await findCorrelations(tenantEngine, {
      primaryMetric: required('primary_metric', p.string('primary_metric')),
      secondaryPatterns: required('secondary_patterns', p.list('secondary_patterns')),
      correlationThreshold: required('correlation_threshold', p.number('correlation_threshold')),
      interval: p.string('interval'),
      maxLag: p.number('max_lag'),
      windowHours: p.number('window_hours'),
      endTime: p.time('end_time'),
      tags: p.tags(),
    });
    return {
      primary_metric: r.primaryMetric,
      interval_ms: r.intervalMs,
      pairs: r.pairs.map((c) => ({
        metric_id: c.metricId,
        tags: c.tags,
        r: c.r,
        method: c.method,
        lag: c.lag,
        lag_ms: c.lagMs,
        pearson: c.pearson,
        spearman: c.spearman,
        buckets: c.buckets,
      })),
    };
  });

  const forecastRoute = endpoint(engine, async (p, tenantEngine) => {
    const r = await forecast(tenantEngine, {
      metricPattern: required('metric_pattern', p.string('metric_pattern')),
      horizon: required('horizon', p.duration('horizon')),
      interval: required('interval', p.string('interval')),
      method: p.string('method') as ForecastMethod | undefined,
      lookback: p.duration('lookback'),
      coverage: p.number('coverage'),
      endTime: p.time('end_time'),
      tags: p.tags(),
    });
    return {
      series: r.series.map((s) => ({
        metric_id: s.metricId,
        tags: s.tags,
        method: s.method,
        period: s.period,
        residual_std: s.residualStd,
        ...(s.fallback !== undefined ? { fallback: s.fallback } : {}),
        interval_source: s.intervalSource,
        last_timestamp: s.lastTimestamp,
        last_value: s.lastValue,
        points: s.points,
      })),
    };
  });

  const capacityRoute = endpoint(engine, async (p, tenantEngine) => {
    const r = await capacity(tenantEngine, {
      metricPattern: required('metric_pattern', p.string('metric_pattern')),
      limit: required('limit', p.number('limit')),
      horizon: p.duration('horizon'),
      interval: p.string('interval'),
      method: p.string('method') as ForecastMethod | undefined,
      lookback: p.duration('lookback'),
      endTime: p.time('end_time'),
      tags: p.tags(),
    });
    return {
      series: r.series.map((s) => ({
        metric_id: s.metricId,
        tags: s.tags,
        last_timestamp: s.lastTimestamp,
        last_value: s.lastValue,
        limit: s.limit,
        direction: s.direction,
        method: s.method,
        expected_time: s.expectedTime,
        earliest_time: s.earliestTime,
        latest_time: s.latestTime,
        probability_within_horizon: s.probabilityWithinHorizon,
        days_to_limit: s.daysToLimit,
        days_uncertainty: s.daysUncertainty,
        recommendation: {
          action: s.recommendation.action,
          peak_utilisation: s.recommendation.peakUtilisation,
          recommended_capacity: s.recommendation.recommendedCapacity,
          reason: s.recommendation.reason,
        },
      })),
    };
  });

  const jointAnomalies = endpoint(engine, async (p, tenantEngine) => {
    const r = await detectJointAnomalies(tenantEngine, {
      metricPattern: required('metric_pattern', p.string('metric_pattern')),
      windowHours: required('window_hours', p.number('window_hours')),
      entityTags: p.list('entity_tags'),
      interval: p.string('interval'),
      sensitivity: p.number('sensitivity'),
      windowPoints: p.number('window_points'),
      warmupHours: p.number('warmup_hours'),
      endTime: p.time('end_time'),
      tags: p.tags(),
    });
    return {
      sensitivity: r.sensitivity,
      interval_ms: r.intervalMs,
      start_time: r.startTime,
      end_time: r.endTime,
      entities: r.entities.map((e) => ({
        entity: e.entity,
        series: e.series.map((s) => ({ metric_id: s.metricId, tags: s.tags, scored_on: s.scoredOn })),
        timestamps: arrayOf(e.timestamps),
        // JSON has no NaN: the first rows, without a full joint window, are null.
        scores: Array.from(e.scores, (v) => (Number.isNaN(v) ? null : v)),
        threshold: Number.isNaN(e.threshold) ? null : e.threshold,
        anomalies: e.anomalies,
        anomaly_timestamps: e.anomalyTimestamps,
      })),
    };
  });

  const routes: RouteDefinition[] = [];
  for (const [name, handler] of [['anomalies', anomalies], ['correlations', correlations], ['forecast', forecastRoute], ['capacity', capacityRoute]] as const) {
    const schema = ANALYTICS_SCHEMAS[name];
    routes.push({ method: 'GET', pattern: `${BASE}/${name}`, access: 'reader', schema: schema.get, handler }, { method: 'POST', pattern: `${BASE}/${name}`, access: 'reader', schema: schema.post, handler });
  }
  routes.push(
    { method: 'GET', pattern: `${BASE}/joint_anomalies`, access: 'reader', handler: jointAnomalies, schema: JOINT_ANOMALIES_SCHEMA.get },
    { method: 'POST', pattern: `${BASE}/joint_anomalies`, access: 'reader', handler: jointAnomalies, schema: JOINT_ANOMALIES_SCHEMA.post },
  );
  return routes;
}
