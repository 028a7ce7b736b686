/**
 * GET/POST /api/v1/query: turns query-string or JSON parameters into an engine query, and the
 * engine's columnar result into the response JSON (written by query_json_writer.ts). A bad
 * parameter is a 400 naming it.
 */
import { AGGREGATIONS, parseAggregation, parsePercentileAccuracy, type AggregatedQuery, type QueryStats, type RawQuery, type SeriesResult } from '../model/api.js';
import { parseInterval } from '../model/interval.js';
import { MetricValidationError, describeValue, type Tags } from '../model/metric.js';
import { isQueryTime, timeInputMs } from '../model/time.js';
import { MAX_BUCKETS } from '../core/aggregate_options.js';
import { HttpError } from '../http/route.js';
import { QueryField } from '../ingest/wire.js';
import { writeQueryJson } from './query_json_writer.js';

export interface QueryLimits {
  maxSeries: number;
  maxPoints: number;
}

function bad(parameter: string, value: unknown, rule: string): never {
  const message = `${parameter}=${describeValue(value)} ${rule}`;
  throw new HttpError(400, message, { error: message, parameter });
}

/** Times are read as the embedded API reads them (src/model/time.ts: offset-less ISO is UTC). */
function parseTime(parameter: string, raw: unknown): number | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  const ms = timeInputMs(raw);
  if (ms === undefined) bad(parameter, raw, 'must be epoch milliseconds, an ISO-8601 time or a relative time such as now-1h');
  if (!isQueryTime(ms)) bad(parameter, raw, 'must be a time in [1970, 2200]');
  return ms;
}

/** The engine's own rule for a parameter (one home for each), reported under the HTTP name. */
function engineRule<T>(parameter: string, parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof MetricValidationError) {
      const message = err.message.replace(/^\w+=/, `${parameter}=`);
      throw new HttpError(400, message, { error: message, parameter });
    }
    throw err;
  }
}

interface LooseQuery {
  metricPattern: unknown;
  startTime: unknown;
  endTime: unknown;
  aggregation: unknown;
  interval: unknown;
  groupBy: string[] | undefined;
  tags: Tags | undefined;
  /** A number (JSON) or its text (query string); absent when undefined or ''. */
  percentileAccuracy: unknown;
}

/** The query string's text as a number for the engine's rule; other text stays text, so the 400 quotes it. */
function numberOrText(raw: unknown): unknown {
  if (typeof raw !== 'string') return raw;
  const n = raw.trim() === '' ? NaN : Number(raw);
  return Number.isFinite(n) ? n : raw;
}

function build(q: LooseQuery, limits: QueryLimits): RawQuery | AggregatedQuery {
  if (typeof q.metricPattern !== 'string' || q.metricPattern === '') {
    bad(QueryField.metricPattern, q.metricPattern, 'is required: a glob over metric ids (`*` any run, `?` one character)');
  }
  const startTime = parseTime(QueryField.startTime, q.startTime);
  const endTime = parseTime(QueryField.endTime, q.endTime);
  if (startTime !== undefined && endTime !== undefined && endTime < startTime) {
    bad(QueryField.endTime, q.endTime, `must not be before ${QueryField.startTime}`);
  }
  const raw: RawQuery = { metricPattern: q.metricPattern, maxSeries: limits.maxSeries, maxPoints: limits.maxPoints };
  if (startTime !== undefined) raw.startTime = startTime;
  if (endTime !== undefined) raw.endTime = endTime;
  if (q.tags !== undefined) raw.tags = q.tags;
  const hasAggregation = q.aggregation !== undefined && q.aggregation !== '';
  const hasInterval = q.interval !== undefined && q.interval !== '';
  const hasAccuracy = q.percentileAccuracy !== undefined && q.percentileAccuracy !== null && q.percentileAccuracy !== '';
  if (!hasAggregation) {
    if (hasAccuracy) bad(QueryField.percentileAccuracy, q.percentileAccuracy, `needs ${QueryField.aggregation} (one of p50, p90, p95, p99)`);
    if (hasInterval) bad(QueryField.interval, q.interval, `needs ${QueryField.aggregation} (one of ${AGGREGATIONS.join(', ')})`);
    if (q.groupBy !== undefined) bad(QueryField.groupBy, q.groupBy.join(','), `needs ${QueryField.aggregation} and ${QueryField.interval}`);
    return raw;
  }
  const aggregation = engineRule(QueryField.aggregation, () => parseAggregation(q.aggregation));
  if (!hasInterval || typeof q.interval !== 'string') bad(QueryField.interval, q.interval, 'is required with an aggregation: a duration such as 30s, 5m, 1.5h, 1d or 1w');
  const interval = q.interval;
  engineRule(QueryField.interval, () => parseInterval(interval));
  const agg: AggregatedQuery = { ...raw, aggregation, interval };
  if (q.groupBy !== undefined) agg.groupBy = q.groupBy;
  if (hasAccuracy) {
    const accuracy = engineRule(QueryField.percentileAccuracy, () => parsePercentileAccuracy(numberOrText(q.percentileAccuracy), aggregation));
    if (accuracy !== undefined) agg.percentileAccuracy = accuracy;
  }
  return agg;
}

/** GET form: `tag.<key>=<value>` filters, `group_by=a,b`. */
export function queryFromSearchParams(params: URLSearchParams, limits: QueryLimits): RawQuery | AggregatedQuery {
  let tags: Tags | undefined;
  for (const [name, value] of params) {
    if (!name.startsWith(QueryField.tagPrefix)) continue;
    const key = name.slice(QueryField.tagPrefix.length);
    if (key === '') bad(name, value, 'needs a tag key after `tag.`');
    tags ??= {};
    tags[key] = value;
  }
  const groupByRaw = params.get(QueryField.groupBy);
  const groupBy = groupByRaw === null ? undefined : groupByRaw === '' ? [] : groupByRaw.split(',').map((s) => s.trim());
  return build(
    {
      metricPattern: params.get(QueryField.metricPattern) ?? undefined,
      startTime: params.get(QueryField.startTime) ?? undefined,
      endTime: params.get(QueryField.endTime) ?? undefined,
      aggregation: params.get(QueryField.aggregation) ?? undefined,
      interval: params.get(QueryField.interval) ?? undefined,
      groupBy,
      tags,
      percentileAccuracy: params.get(QueryField.percentileAccuracy) ?? undefined,
    },
    limits,
  );
}

/** POST form: `tags` an object of strings, `group_by` an array of tag keys. */
export function queryFromBody(body: unknown, limits: QueryLimits): RawQuery | AggregatedQuery {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    bad('body', body, `must be a JSON object with ${QueryField.metricPattern}`);
  }
  const b = body as Record<string, unknown>;
  const tagsRaw = b[QueryField.tags];
  let tags: Tags | undefined;
  if (tagsRaw !== undefined && tagsRaw !== null) {
    if (typeof tagsRaw !== 'object' || Array.isArray(tagsRaw)) bad(QueryField.tags, tagsRaw, 'must be an object of string values');
    for (const [k, v] of Object.entries(tagsRaw as Record<string, unknown>)) {
      if (typeof v !== 'string') bad(`${QueryField.tags}.${k}`, v, 'must be a string');
    }
    tags = tagsRaw as Tags;
  }
  const groupByRaw = b[QueryField.groupBy];
  let groupBy: string[] | undefined;
  if (groupByRaw !== undefined && groupByRaw !== null) {
    if (!Array.isArray(groupByRaw) || groupByRaw.some((k) => typeof k !== 'string')) {
      bad(QueryField.groupBy, groupByRaw, 'must be an array of tag keys');
    }
    groupBy = groupByRaw as string[];
  }
  return build(
    {
      metricPattern: b[QueryField.metricPattern],
      startTime: b[QueryField.startTime],
      endTime: b[QueryField.endTime],
      aggregation: b[QueryField.aggregation],
      interval: b[QueryField.interval],
      groupBy,
      tags,
      percentileAccuracy: b[QueryField.percentileAccuracy],
    },
    limits,
  );
}

/**
 * The engine's refusal of too many buckets names its internal options (`options.intervalMs`);
 * the client wrote `interval`, `start_time` and `end_time`, so the answer says those.
 */
export function cleanIntervalError(err: unknown): unknown {
  if (!(err instanceof MetricValidationError) || err.field !== 'interval' || !err.message.includes('options.')) return err;
  const buckets = /makes (\d+) buckets/.exec(err.message)?.[1];
  const message = `${QueryField.interval}=${describeValue(err.value)} makes ${buckets === undefined ? 'too many' : buckets} buckets over the range queried; ` +
    `at most ${MAX_BUCKETS} (use a longer ${QueryField.interval}, or a shorter range with ${QueryField.startTime} and ${QueryField.endTime})`;
  return new HttpError(400, message, { error: message, parameter: QueryField.interval });
}

/**
 * The response JSON as a string (for callers that want text; the route sends the bytes of
 * writeQueryJson without decoding them).
 */
export function renderQueryResponse(series: readonly SeriesResult[], stats: QueryStats): string {
  return writeQueryJson(series, stats).toString('utf8');
}
