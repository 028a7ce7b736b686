/**
 * The RouteSchemas of the Prometheus-compatible API (the OpenAPI document is generated from
 * them): parameters as Prometheus documents them (https://prometheus.io/docs/prometheus/latest/querying/api/),
 * the form body of the POST variants, and the success and error envelopes.
 */
import type { JsonSchema, ParameterSchema, RouteSchema } from '../http/route.js';

const TAG = 'prometheus';
const JSON_TYPE = 'application/json';

const TIME: JsonSchema = { type: 'string', description: 'Unix seconds (float) or RFC 3339' };
const DURATION: JsonSchema = { type: 'string', description: 'float seconds or a duration such as 30s, 5m, 1h' };

const ERROR_BODY: JsonSchema = {
  type: 'object',
  required: ['status', 'errorType', 'error'],
  properties: { status: { const: 'error' }, errorType: { enum: ['bad_data', 'execution', 'timeout'] }, error: { type: 'string' } },
};

function envelope(data: JsonSchema): JsonSchema {
  return { type: 'object', required: ['status', 'data'], properties: { status: { const: 'success' }, data } };
}

const LABELS: JsonSchema = { type: 'object', additionalProperties: { type: 'string' } };
const SAMPLE: JsonSchema = { type: 'array', prefixItems: [{ type: 'number' }, { type: 'string' }], minItems: 2, maxItems: 2 };
const QUERY_DATA: JsonSchema = {
  type: 'object',
  required: ['resultType', 'result'],
  properties: {
    resultType: { enum: ['matrix', 'vector', 'scalar', 'string'] },
    result: {
      oneOf: [
        { type: 'array', items: { type: 'object', properties: { metric: LABELS, value: SAMPLE, values: { type: 'array', items: SAMPLE } } } },
        SAMPLE,
      ],
    },
  },
};

/**
 * Never `required`: a form POST carries its parameters in the body, where the query-string
 * check cannot see them; the handlers answer a missing one in Prometheus' own error shape.
 */
function p(description: string, schema: JsonSchema = { type: 'string' }): ParameterSchema {
  return { description, schema };
}

const MATCH: ParameterSchema = p('Series selector; repeat for a union', { type: 'array', items: { type: 'string' } });
const RANGE = { start: p('Start of the series lookup (accepted, not used: see docs/promql.md)', TIME), end: p('End of the series lookup (accepted, not used)', TIME) };

function form(query: Readonly<Record<string, ParameterSchema>>): RouteSchema['body'] {
  const properties: Record<string, JsonSchema> = {};
  for (const [k, v] of Object.entries(query)) properties[k] = v.schema;
  return [{ contentType: 'application/x-www-form-urlencoded', schema: { type: 'object', properties } }];
}

const PASS_THROUGH = 'Parameters Prometheus does not know are ignored, as Prometheus ignores them (clients add their own, e.g. cache busters).';

function schema(summary: string, query: Readonly<Record<string, ParameterSchema>>, data: JsonSchema): RouteSchema {
  return {
    summary,
    tag: TAG,
    description: PASS_THROUGH,
    allowUnknownQuery: true,
    query,
    body: form(query),
    responses: {
      200: { description: 'Success', contentType: JSON_TYPE, schema: envelope(data) },
      400: { description: 'bad_data: a parameter or the expression is invalid', contentType: JSON_TYPE, schema: ERROR_BODY },
      422: { description: 'execution: evaluation failed, a limit was passed, or the expression uses PromQL outside the subset (named)', contentType: JSON_TYPE, schema: ERROR_BODY },
      503: { description: 'timeout: the evaluation deadline passed', contentType: JSON_TYPE, schema: ERROR_BODY },
    },
  };
}

const QUERY = p('PromQL expression (docs/promql.md lists the subset); required');
const TIMEOUT = p('Evaluation timeout, at most the server default (30 s)', DURATION);

export const PROMETHEUS_API_SCHEMAS = {
  query: schema('PromQL instant query', { query: QUERY, time: p('Evaluation time; default now', TIME), timeout: TIMEOUT }, QUERY_DATA),
  queryRange: schema('PromQL range query', {
    query: QUERY, start: p('Start time; required', TIME), end: p('End time; required', TIME), step: p('Resolution step; required', DURATION), timeout: TIMEOUT,
  }, QUERY_DATA),
  series: schema('Series matching selectors', { 'match[]': { ...MATCH, description: 'Series selector, repeatable; at least one required' }, ...RANGE }, { type: 'array', items: LABELS }),
  labels: schema('Label names', { 'match[]': MATCH, ...RANGE }, { type: 'array', items: { type: 'string' } }),
  labelValues: schema('Values of one label (`__name__`: the metric names)', { 'match[]': MATCH, ...RANGE }, { type: 'array', items: { type: 'string' } }),
  metadata: {
    ...schema('Metric metadata (type from the EMMS series)', { limit: p('Most metrics returned', { type: 'string', pattern: '^-?[0-9]+$' }), metric: p('Only this metric name') }, {
      type: 'object', additionalProperties: { type: 'array', items: { type: 'object', properties: { type: { type: 'string' }, help: { type: 'string' }, unit: { type: 'string' } } } },
    }),
    body: undefined,
  } as RouteSchema,
  exemplars: schema('Exemplars (EMMS stores none: always empty)', { query: QUERY, ...RANGE }, { type: 'array', maxItems: 0 }),
  buildinfo: {
    summary: 'Build information; `version` is the Prometheus release whose PromQL EMMS follows',
    tag: TAG,
    query: {},
    responses: {
      200: {
        description: 'Success',
        contentType: JSON_TYPE,
        schema: envelope({ type: 'object', properties: { version: { type: 'string' }, revision: { type: 'string' }, branch: { type: 'string' }, buildUser: { type: 'string' }, buildDate: { type: 'string' }, goVersion: { type: 'string' } } }),
      },
    },
  } satisfies RouteSchema,
};
