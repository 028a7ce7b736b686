/**
 * Request and response schemas of `/api/v1/analytics/joint_anomalies` (GET with a query string,
 * POST with a body of the same names), for the strict checker and the OpenAPI document.
 */
import {
  durationSchema, error, integerSchema, jsonBody, NUMBER, ok, param, STRING, STRING_LIST, strictObject, TAG_FILTER_PARAMS,
  TAGS_SCHEMA, timeSchema,
} from '../http/common_schemas.js';
import type { JsonSchema, RouteSchema } from '../http/route.js';

const FIELDS: Record<string, { description: string; schema: JsonSchema }> = {
  metric_pattern: { description: 'Glob of the series scored together, e.g. `system.*`.', schema: STRING },
  window_hours: { description: 'Hours of history reported, ending at end_time.', schema: { type: 'number', exclusiveMinimum: 0, maximum: 24 * 366 } },
  entity_tags: { description: 'Tag keys that name an entity (`host`); series with equal values are scored jointly. Default: all matching series form one entity.', schema: STRING_LIST },
  interval: { description: 'Bucket size the series are aligned on.', schema: durationSchema({ default: '5m' }) },
  sensitivity: { description: 'In [0, 1]; higher flags more.', schema: { type: 'number', minimum: 0, maximum: 1, default: 0.5 } },
  window_points: { description: 'Points per series in a joint window.', schema: integerSchema(1, 64, { default: 3 }) },
  warmup_hours: { description: 'History before the window the forest also learns from.', schema: { type: 'number', minimum: 0, maximum: 24 * 366, default: 168 } },
  end_time: { description: 'End of the window; default now.', schema: timeSchema() },
};

const RESPONSE: JsonSchema = {
  type: 'object',
  required: ['sensitivity', 'interval_ms', 'start_time', 'end_time', 'entities'],
  properties: {
    sensitivity: NUMBER,
    interval_ms: NUMBER,
    start_time: NUMBER,
    end_time: NUMBER,
    entities: {
      type: 'array',
      items: {
        type: 'object',
        required: ['entity', 'series', 'timestamps', 'scores', 'threshold', 'anomalies', 'anomaly_timestamps'],
        properties: {
          entity: TAGS_SCHEMA,
          series: {
            type: 'array',
            items: { type: 'object', properties: { metric_id: STRING, tags: TAGS_SCHEMA, scored_on: { enum: ['value', 'rate'] } } },
          },
          timestamps: { type: 'array', items: NUMBER },
          scores: { type: 'array', items: { type: ['number', 'null'] }, description: 'Joint isolation score per aligned time; null before a full joint window.' },
          threshold: { type: ['number', 'null'] },
          anomalies: { type: 'array', items: { type: 'integer' }, description: 'Indices into timestamps.' },
          anomaly_timestamps: { type: 'array', items: NUMBER },
        },
      },
    },
  },
};

const SUMMARY = 'Multivariate anomalies: series of one entity scored jointly by an isolation forest on joint windows';
const DESCRIPTION = 'Finds times when the combination of an entity\'s series is unusual although each series stays within its own normal range.';
const RESPONSES: RouteSchema['responses'] = { 200: ok('Scores and flagged times per entity.', RESPONSE), 400: error('A parameter is missing or invalid; the answer names it (the strict checker lists every problem in `problems`).'), 422: error('The query matches too many series or points.') };

export const JOINT_ANOMALIES_SCHEMA: { get: RouteSchema; post: RouteSchema } = {
  get: {
    summary: SUMMARY, description: DESCRIPTION, tag: 'analytics',
    query: {
      ...Object.fromEntries(Object.entries(FIELDS).map(([k, f]) => [k, k === 'entity_tags' ? { ...param(f.description, f.schema), explode: false } : param(f.description, f.schema, k === 'metric_pattern' || k === 'window_hours')])),
      ...TAG_FILTER_PARAMS,
    },
    responses: RESPONSES,
  },
  post: {
    summary: SUMMARY, description: DESCRIPTION, tag: 'analytics',
    body: jsonBody(strictObject({ ...Object.fromEntries(Object.entries(FIELDS).map(([k, f]) => [k, { ...f.schema, description: f.description }])), tags: TAGS_SCHEMA }, ['metric_pattern', 'window_hours'])),
    responses: RESPONSES,
  },
};
