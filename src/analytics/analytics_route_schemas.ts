/**
 * Request and response schemas of the analytics routes (analytics_routes.ts): each endpoint
 * answers GET (query string; lists comma-separated, tags as `tag.<key>=<value>`) and POST (a
 * body of the same names), so one field table gives both schemas. Durations need a unit
 * (`horizon=24` is refused: say `24h`).
 */
import {
  ANY_OBJECT, NUMBER, STRING, STRING_LIST, TAGS_SCHEMA, TAG_FILTER_PARAMS, durationSchema, enumSchema, error, jsonBody, ok, strictObject, timeSchema,
} from '../http/common_schemas.js';
import type { JsonSchema, ParameterSchema, RouteSchema } from '../http/route.js';
import { FORECAST_METHODS } from './analytics_api.js';
import { DETECTOR_METHODS } from './streaming_detector.js';

const TAG = 'analytics';
type Field = { description: string; schema: JsonSchema; required?: boolean };

const HOURS: JsonSchema = { type: 'number', exclusiveMinimum: 0, maximum: 24 * 366 };
const END_TIME: Field = { description: 'End of the window; default now.', schema: timeSchema() };
const PATTERN: Field = { description: 'Glob over metric ids.', schema: STRING, required: true };
const FORECAST_METHOD: Field = { description: 'Model; `auto` picks by backtest.', schema: enumSchema(FORECAST_METHODS, { default: 'auto' }) };
const LOOKBACK: Field = { description: 'History the model learns from.', schema: durationSchema() };

/**
 * The handlers read a body's numbers as they read the query string's, so `"window_hours": "1"`
 * has always worked; the schema keeps that: a number, or a string holding one.
 */
function bodyForm(schema: JsonSchema): JsonSchema {
  if (schema.type !== 'number' && schema.type !== 'integer') return schema;
  return { ...schema, type: [schema.type, 'string'], pattern: schema.type === 'integer' ? '^-?\\d+$' : '^-?\\d+(?:\\.\\d+)?(?:[eE][+-]?\\d+)?$' };
}

function endpoint(summary: string, description: string, fields: Record<string, Field>, response: JsonSchema): { get: RouteSchema; post: RouteSchema } {
  const query: Record<string, ParameterSchema> = { ...TAG_FILTER_PARAMS };
  const properties: Record<string, JsonSchema> = { tags: TAGS_SCHEMA };
  const required: string[] = [];
  for (const [name, f] of Object.entries(fields)) {
    const isList = f.schema.type === 'array';
    query[name] = { description: f.description, schema: f.schema, ...(f.required === true ? { required: true } : {}), ...(isList ? { explode: false } : {}) };
    properties[name] = { ...bodyForm(f.schema), description: f.description };
    if (f.required === true) required.push(name);
  }
  const responses: RouteSchema['responses'] = { 200: ok('The result.', response), 422: error('Past `query.max_series` or `query.max_points`.') };
  return {
    get: { summary, tag: TAG, description, query, responses },
    post: { summary: `${summary} (JSON body)`, tag: TAG, description, body: jsonBody(strictObject(properties, required)), responses },
  };
}

const SERIES_LIST = (item: Record<string, JsonSchema>): JsonSchema => ({ type: 'object', properties: { series: { type: 'array', items: { type: 'object', properties: item } } } });

export const ANALYTICS_SCHEMAS = {
  anomalies: endpoint('Anomaly scores of matching series', 'Each point scored on the points before it (and, for `auto` and `cad`, on the value range of the whole queried series, read first), with the anomalies past the sensitivity\'s threshold.', {
    metric_pattern: PATTERN,
    window_hours: { description: 'Hours reported, ending at end_time.', schema: HOURS, required: true },
    sensitivity: { description: 'In [0, 1]; higher flags more.', schema: { type: 'number', minimum: 0, maximum: 1, default: 0.5 } },
    method: { description: 'Detector. `auto` runs `cad` (CAD OSE over the queried series\' value range); `ensemble` is what alert rules run under `auto`.', schema: enumSchema(DETECTOR_METHODS, { default: 'auto' }) },
    warmup_hours: { description: 'History before the window the detector learns from.', schema: { type: 'number', minimum: 0, maximum: 24 * 366 } },
    end_time: END_TIME,
  }, { type: 'object', properties: { method: STRING, sensitivity: NUMBER, threshold: NUMBER, start_time: NUMBER, end_time: NUMBER, series: { type: 'array', items: ANY_OBJECT } } }),
  correlations: endpoint('Series correlated with a primary metric', 'Pearson and Spearman over aligned buckets, with the best lag.', {
    primary_metric: { description: 'The metric id compared against.', schema: STRING, required: true },
    secondary_patterns: { description: 'Globs of the metrics compared (comma-separated in a query string).', schema: STRING_LIST, required: true },
    correlation_threshold: { description: 'Least |r| reported, in [0, 1].', schema: { type: 'number', minimum: 0, maximum: 1 }, required: true },
    interval: { description: 'Bucket width the series are aligned on.', schema: durationSchema() },
    max_lag: { description: 'Most buckets of lag tried either way.', schema: { type: 'integer', minimum: 0 } },
    window_hours: { description: 'Hours compared, ending at end_time.', schema: HOURS },
    end_time: END_TIME,
  }, { type: 'object', properties: { primary_metric: STRING, interval_ms: NUMBER, pairs: { type: 'array', items: ANY_OBJECT } } }),
  forecast: endpoint('Forecast of matching series', 'Points ahead with prediction intervals.', {
    metric_pattern: PATTERN,
    horizon: { description: 'How far ahead, with a unit (`24h`, `7d`).', schema: durationSchema(), required: true },
    interval: { description: 'Step of the forecast.', schema: durationSchema(), required: true },
    method: FORECAST_METHOD,
    lookback: LOOKBACK,
    coverage: { description: 'Coverage of the prediction interval, in (0, 1).', schema: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.95 } },
    end_time: END_TIME,
  }, SERIES_LIST({ metric_id: STRING, tags: TAGS_SCHEMA, method: STRING, points: { type: 'array', items: ANY_OBJECT } })),
  capacity: endpoint('When matching series reach a limit', 'Expected time to the limit with its uncertainty, and a recommendation.', {
    metric_pattern: PATTERN,
    limit: { description: 'The capacity limit, in the series\' unit.', schema: NUMBER, required: true },
    horizon: { description: 'How far ahead to look, with a unit.', schema: durationSchema() },
    interval: { description: 'Step of the forecast.', schema: durationSchema() },
    method: FORECAST_METHOD,
    lookback: LOOKBACK,
    end_time: END_TIME,
  }, SERIES_LIST({ metric_id: STRING, tags: TAGS_SCHEMA, expected_time: { type: ['number', 'null'] }, days_to_limit: { type: ['number', 'null'] }, recommendation: ANY_OBJECT })),
} as const;
