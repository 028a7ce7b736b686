/**
 * Request and response schemas of the server's own routes (builtin_routes.ts): queries,
 * ingest, /federate, /health, /metrics and the OpenAPI document itself. Kept apart from the
 * handlers so each file stays one concern; the field names come from src/ingest/wire.ts.
 */
import {
  ANY_OBJECT, STRING, STRING_LIST, TAGS_SCHEMA, TAG_FILTER_PARAMS, durationSchema, enumSchema, error, jsonBody, ok, param, strictObject, timeSchema,
} from '../http/common_schemas.js';
import type { JsonSchema, RouteSchema } from '../http/route.js';
import { PRECISIONS } from '../ingest/timestamp_precision.js';
import { QueryField, QueryResponseField, WireField } from '../ingest/wire.js';
import { AGGREGATIONS, PERCENTILE_SKETCH_ACCURACY } from '../model/api.js';
import { MetricType } from '../model/metric.js';

const METRIC_TYPE_SCHEMA = enumSchema(Object.values(MetricType), { description: 'Left out: the stored type of an existing series, else gauge.' });
const POINT_TIME = {
  type: ['number', 'string'],
  description: 'Epoch time in the request\'s `precision` (default milliseconds), or ISO-8601. Left out: now.',
} as const;

const POINT_SCHEMA = strictObject({
  [WireField.metricId]: { type: 'string', examples: ['crypto.key.usage'] },
  [WireField.value]: { type: 'number' },
  [WireField.timestamp]: POINT_TIME,
  [WireField.metricType]: METRIC_TYPE_SCHEMA,
  [WireField.tags]: TAGS_SCHEMA,
}, [WireField.metricId, WireField.value]);

const SERIES_SCHEMA = strictObject({
  [WireField.metricId]: STRING,
  [WireField.metricType]: METRIC_TYPE_SCHEMA,
  [WireField.tags]: TAGS_SCHEMA,
  [WireField.timestamps]: { type: 'array', items: POINT_TIME },
  [WireField.values]: { type: 'array', items: { type: 'number' } },
}, [WireField.metricId, WireField.timestamps, WireField.values]);

const INGEST_BODY: JsonSchema = {
  oneOf: [
    strictObject({ [WireField.metrics]: { type: 'array', items: POINT_SCHEMA, minItems: 1 } }, [WireField.metrics], { title: 'rows' }),
    strictObject({ [WireField.series]: { type: 'array', items: SERIES_SCHEMA, minItems: 1 } }, [WireField.series], { title: 'columns' }),
  ],
};

export const PRECISION_PARAMETER = 'precision';

export const INGEST_SCHEMA: RouteSchema = {
  summary: 'Store points (JSON or MessagePack), whole batch or nothing',
  tag: 'ingest',
  description: 'Rows (`metrics`) or columns (`series`). Numeric timestamps are milliseconds unless `precision` says otherwise; without `precision`, one before 2000-01-01 is refused (it is nearly always seconds sent as milliseconds). A field the protocol does not have is refused, naming it.',
  query: {
    [PRECISION_PARAMETER]: param('Unit of numeric timestamps: s, ms, us or ns. Given explicitly (even `ms`), times before 2000 are accepted.', enumSchema(PRECISIONS, { default: 'ms' })),
  },
  body: jsonBody(INGEST_BODY),
  responses: {
    200: ok('Durable: every point stored.', strictObject({ [WireField.accepted]: { type: 'integer' } }, [WireField.accepted])),
    400: ok('A bad point: `{error, index, field}`; nothing stored.', { type: 'object', properties: { error: STRING, index: { type: 'integer' }, field: STRING }, required: ['error'] }),
    408: error('The body did not arrive within the body deadline.'),
    409: error('A point\'s `metric_type` contradicts its existing series\' stored type (named in the error); nothing stored.'),
    413: error('Body or batch past `collector.max_body_bytes` / `collector.batch_size`.'),
    415: error('Neither JSON nor MessagePack.'),
    429: error('Past one of the tenant\'s quotas (named in `quota`); nothing stored.'),
  },
};

const QUERY_RESPONSE: JsonSchema = {
  type: 'object',
  required: [QueryResponseField.series, QueryResponseField.stats],
  properties: {
    [QueryResponseField.series]: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          [QueryResponseField.metricId]: STRING,
          [QueryResponseField.metricType]: STRING,
          [QueryResponseField.tags]: TAGS_SCHEMA,
          [QueryResponseField.points]: { type: 'array', items: { type: 'array', prefixItems: [{ type: 'number' }, { type: ['number', 'null'] }], minItems: 2, maxItems: 2 }, description: '[epoch ms, value] pairs; null for an aggregate of nothing.' },
        },
      },
    },
    [QueryResponseField.stats]: {
      type: 'object',
      properties: {
        series: { type: 'integer' }, [QueryResponseField.pointsScanned]: { type: 'integer' }, [QueryResponseField.elapsedMs]: { type: 'number' },
        [QueryResponseField.percentile]: {
          type: 'object',
          description: 'Only with `percentile_accuracy`: how the percentiles were approximated and their bound (docs/format/aggregation.md, "Approximate percentiles").',
          properties: { [QueryResponseField.percentileMethod]: enumSchema(['ddsketch']), [QueryResponseField.relativeError]: { type: 'number' } },
        },
      },
    },
  },
};

const QUERY_RESPONSES: RouteSchema['responses'] = {
  200: ok('Matching series with their points (raw, or one per bucket when aggregated).', QUERY_RESPONSE),
  422: error('Past `query.max_series` or `query.max_points`.'),
  429: error('Past the tenant\'s `query_concurrency`, the query waited 2 s in the fair queue or 256 of the tenant\'s queries were already waiting (Retry-After: 1).'),
};

const QUERY_DESCRIPTION = 'Without `aggregation`, raw points; with it, one value per `interval` bucket (aligned to the epoch), per series or per `group_by` tag values.';

const PERCENTILE_ACCURACY_DESCRIPTION = 'Opt-in approximation of p50/p90/p95/p99: the relative error accepted, ' +
  `at least ${PERCENTILE_SKETCH_ACCURACY}. Answered from DDSketches of relative error ${PERCENTILE_SKETCH_ACCURACY} (merged from rollups where they cover the range); ` +
  '`stats.percentile` states the method and bound. Left out: exact percentiles.';
const PERCENTILE_ACCURACY_SCHEMA: JsonSchema = { type: 'number', minimum: PERCENTILE_SKETCH_ACCURACY, exclusiveMaximum: 1 };

export const QUERY_GET_SCHEMA: RouteSchema = {
  summary: 'Query series by metric pattern (query string)',
  tag: 'query',
  description: QUERY_DESCRIPTION,
  query: {
    [QueryField.metricPattern]: param('Glob over metric ids: `*` any run, `?` one character.', STRING, true),
    [QueryField.startTime]: param('Inclusive start. Default: the first stored point.', timeSchema()),
    [QueryField.endTime]: param('Exclusive end. Default: now.', timeSchema()),
    [QueryField.aggregation]: param('Aggregate per bucket.', enumSchema(AGGREGATIONS)),
    [QueryField.interval]: param('Bucket width, with a unit; required with `aggregation`.', durationSchema()),
    [QueryField.groupBy]: { description: 'Comma-separated tag keys to aggregate series together by; needs `aggregation`.', schema: STRING_LIST, explode: false },
    [QueryField.percentileAccuracy]: param(PERCENTILE_ACCURACY_DESCRIPTION, PERCENTILE_ACCURACY_SCHEMA),
    ...TAG_FILTER_PARAMS,
  },
  responses: QUERY_RESPONSES,
};

export const QUERY_POST_SCHEMA: RouteSchema = {
  summary: 'Query series by metric pattern (JSON body)',
  tag: 'query',
  description: QUERY_DESCRIPTION,
  body: jsonBody(strictObject({
    [QueryField.metricPattern]: STRING,
    [QueryField.startTime]: timeSchema(),
    [QueryField.endTime]: timeSchema(),
    [QueryField.aggregation]: enumSchema(AGGREGATIONS),
    [QueryField.interval]: durationSchema(),
    [QueryField.groupBy]: STRING_LIST,
    [QueryField.percentileAccuracy]: { ...PERCENTILE_ACCURACY_SCHEMA, description: PERCENTILE_ACCURACY_DESCRIPTION },
    [QueryField.tags]: TAGS_SCHEMA,
  }, [QueryField.metricPattern])),
  responses: QUERY_RESPONSES,
};

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

export const FEDERATE_SCHEMA: RouteSchema = {
  summary: 'Latest value of every matching series, in Prometheus text format',
  tag: 'query',
  description: 'For a Prometheus scrape job (`honor_labels: true`). A metric id\'s `.` becomes `_` in the metric name; tags become labels.',
  query: {
    match: param('Glob over metric ids.', STRING),
    'match[]': param('Same as `match` (Prometheus\' spelling).', STRING),
  },
  responses: {
    200: ok('Prometheus text exposition.', { type: 'string' }, PROMETHEUS_TEXT),
    400: error('No `match`.'),
    422: error('More series than `query.max_series`.'),
  },
};

/** `components` of GET /health; `storage` lists its figures (more may be added, hence no strictness). */
const HEALTH_COMPONENTS: JsonSchema = {
  type: 'object',
  properties: {
    storage: {
      type: 'object',
      properties: {
        status: enumSchema(['ok', 'error']),
        series: { type: 'integer' }, chunks: { type: 'integer' },
        head_points: { type: 'integer', description: 'Points in heads and pending cuts, not yet in chunks.' },
        wal_bytes: { type: 'integer', description: 'Bytes of write-ahead records not yet checkpointed.' },
        disk_bytes: { type: 'integer' },
        pending_cuts: { type: 'integer' }, pending_cut_points: { type: 'integer' },
        checkpoint_running: { type: 'boolean' }, compaction_running: { type: 'boolean' },
        settled: { type: 'boolean', description: 'Ingest is quiet and nothing is left to cut, checkpoint or compact: reads see compacted chunks.' },
        last_settled_at: { type: ['string', 'null'], format: 'date-time', description: 'When settling last finished, if ever.' },
        heads_to_settle: { type: 'integer', description: 'Heads settling would cut, now or once their series have been idle long enough.' },
        head_bytes: { type: 'integer', description: 'Memory holding head and pending-cut points.' },
        wal_oldest_age_ms: { type: 'number', description: 'Age of the oldest write-ahead record (0 when none).' },
        compaction_backlog: { type: 'integer', description: 'Series a compaction still has to look at.' },
        recent_points_per_second: { type: 'number', description: 'Ingest rate over the quiet window of the settle policy.' },
        error: STRING,
      },
    },
    state_replication: {
      type: 'object',
      description: 'A cluster node on PostgreSQL or Redis storage only: the shared state log of API keys, alerts and key events (README "Storage back-ends").',
      properties: {
        status: enumSchema(['ok', 'lagging']),
        log: { type: 'string', description: 'The back-end holding the log, password redacted.' },
        lag_seconds: { type: ['number', 'null'], description: 'Since this node last read to the end of the log (null: never).' },
        outbox_rows: { type: 'integer', description: 'Local changes not yet in the log.' },
        errors: { type: 'integer', description: 'Failed uploads or log reads so far (retried).' },
      },
    },
  },
};

export const HEALTH_SCHEMA: RouteSchema = {
  summary: 'Whether storage takes writes (details with credentials)',
  tag: 'operations',
  responses: {
    200: ok('`{status: "ok"}`; with valid credentials, also `components` (storage backlog and settling, connections, decoders).', { type: 'object', properties: { status: enumSchema(['ok', 'error']), components: HEALTH_COMPONENTS }, required: ['status'] }),
    503: ok('Storage cannot be written: `{status: "error"}` (and `failing`, `components` with credentials).', { type: 'object', properties: { status: STRING, failing: STRING, components: ANY_OBJECT }, required: ['status'] }),
  },
};

export const METRICS_SCHEMA: RouteSchema = {
  summary: 'The server\'s own metrics, in Prometheus text format',
  tag: 'operations',
  description: 'Public by default; `security.metrics_access: "reader"` requires credentials.',
  responses: { 200: ok('Prometheus text exposition.', { type: 'string' }, PROMETHEUS_TEXT) },
};

export const OPENAPI_SCHEMA: RouteSchema = {
  summary: 'This API\'s OpenAPI 3.1 description, generated from the route table',
  tag: 'operations',
  responses: { 200: ok('An OpenAPI 3.1 document.', { type: 'object', required: ['openapi', 'paths'] }) },
};
