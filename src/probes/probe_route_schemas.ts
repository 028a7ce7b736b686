/**
 * Request and response schemas of the monitoring-target routes (probe_routes.ts), for the
 * strict request check and the OpenAPI document (src/http/). Fields mirror probe_target.ts's
 * FIELDS; the target validator still checks ranges against the egress policy.
 */
import { NUMBER, STRING, domainChecked, enumSchema, error, jsonBody, ok, strictObject } from '../http/common_schemas.js';
import type { JsonSchema, RouteSchema } from '../http/route.js';
import { MAX_INTERVAL_SECONDS, MAX_TIMEOUT_SECONDS, MIN_INTERVAL_SECONDS, TARGET_TYPES } from './probe_target.js';

const TAG = 'targets';
const TARGET_BODY = strictObject({
  target_id: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$' },
  name: STRING,
  target_type: enumSchema(TARGET_TYPES),
  endpoint: { type: 'string', description: 'A URL (http) or a host (tcp).' },
  port: { type: 'integer', minimum: 1, maximum: 65535 },
  health_endpoint: { type: 'string', description: 'Path checked on an http target.' },
  expected_status_code: { type: 'integer', minimum: 100, maximum: 599 },
  expected_response_time_ms: { type: 'number', minimum: 0 },
  interval: { type: 'number', minimum: MIN_INTERVAL_SECONDS, maximum: MAX_INTERVAL_SECONDS, description: 'Seconds between checks.' },
  timeout: { type: 'number', exclusiveMinimum: 0, maximum: MAX_TIMEOUT_SECONDS, description: 'Seconds.' },
}, ['target_type', 'endpoint']);
const TARGET_VIEW: JsonSchema = {
  type: 'object',
  properties: { target_id: STRING, name: STRING, target_type: STRING, endpoint: STRING, status: enumSchema(['up', 'down', 'degraded', 'unknown']), last_check: { type: ['string', 'null'] }, latency_ms: { type: ['number', 'null'] }, created_at: STRING },
};

export const PROBE_SCHEMAS = {
  add: {
    summary: 'Monitor an HTTP or TCP target', tag: TAG, body: jsonBody(domainChecked(TARGET_BODY)),
    responses: { 201: ok('The target.', TARGET_VIEW), 409: error('The target id exists.'), 429: error('Past the tenant\'s `targets` quota.') },
  },
  list: { summary: 'Targets with their status', tag: TAG, responses: { 200: ok('The targets.', { type: 'object', properties: { targets: { type: 'array', items: TARGET_VIEW }, count: NUMBER } }) } },
  get: { summary: 'One target', tag: TAG, responses: { 200: ok('The target.', TARGET_VIEW), 404: error('No such target.') } },
  check: { summary: 'Check a target now', tag: TAG, responses: { 200: ok('The target after the check.', TARGET_VIEW), 404: error('No such target.'), 429: error('Within 1 s of its last check.') } },
  remove: { summary: 'Stop monitoring a target', tag: TAG, responses: { 200: ok('`{deleted: id}`.', { type: 'object', properties: { deleted: STRING } }), 404: error('No such target.') } },
} satisfies Record<string, RouteSchema>;
