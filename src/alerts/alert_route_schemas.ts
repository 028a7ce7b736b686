/**
 * Request and response schemas of the alerting routes (alert_routes.ts), for the strict
 * request check and the OpenAPI document (src/http/). Rule bodies list every field of
 * AlertRule (rule.ts): a field not listed here is refused with a "did you mean" hint, so a
 * field added to the rule model must be added here too (the route tests would say so).
 */
import {
  ANY_OBJECT, BOOLEAN, NUMBER, STRING, STRING_LIST, TAGS_SCHEMA, domainChecked, enumSchema, error, integerSchema, jsonBody, ok, param, strictObject, timeSchema,
} from '../http/common_schemas.js';
import type { JsonSchema, RouteSchema } from '../http/route.js';
import { ALERT_STATES } from './alert.js';
import { CHANNEL_TYPES } from './channels/channel.js';
import { COMPARISONS, DETECTOR_METHODS, FORECAST_FIRE_ON, FORECAST_RULE_METHODS, PATTERN_MODES, PRIORITIES, REMEDIATION_TYPES, RULE_AGGREGATIONS } from './rule.js';

const TAG = 'alerts';
const SECONDS: JsonSchema = { type: 'number', minimum: 0 };
const LIMIT = param('Most entries answered.', integerSchema(1, 100_000, { default: 1000 }));
const RULE_FILTER = param('Only this rule\'s (`rule_id` is the same).', STRING);

const RULE_PROPERTIES: Record<string, JsonSchema> = {
  rule_id: { type: 'string', pattern: '^[A-Za-z0-9_.:-]{1,128}$', description: 'Default: derived from the name.' },
  name: STRING,
  description: STRING,
  metric_pattern: { type: 'string', description: 'Metric ids the rule watches, read as `pattern_mode` says: a glob unless pattern_mode is `regex` (a pattern with regex-only syntax and no pattern_mode reads as a regex, as rules did before).' },
  pattern_mode: enumSchema(PATTERN_MODES),
  threshold_value: { type: ['number', 'null'] },
  comparison: enumSchema(COMPARISONS),
  duration_seconds: SECONDS,
  priority: enumSchema(PRIORITIES),
  use_anomaly_detection: BOOLEAN,
  ml_sensitivity: { type: 'number', minimum: 0, maximum: 1 },
  anomaly_method: enumSchema(DETECTOR_METHODS),
  tags: TAGS_SCHEMA,
  aggregation: enumSchema(RULE_AGGREGATIONS),
  window_seconds: SECONDS,
  group_by: { type: ['array', 'null'], items: STRING },
  channels: STRING_LIST,
  escalation: { type: 'array', items: strictObject({ after_seconds: SECONDS, channels: STRING_LIST, priority: enumSchema(PRIORITIES) }, ['after_seconds', 'channels']) },
  remediation: { type: 'array', items: { type: 'object', required: ['type'], properties: { type: enumSchema(REMEDIATION_TYPES), url: STRING, command: STRING, duration_seconds: SECONDS, ip_tag: STRING } } },
  labels: TAGS_SCHEMA,
  annotations: { ...TAGS_SCHEMA, description: 'Values may use {{value}}, {{threshold}}, {{metric_id}}, {{tags.<key>}}, {{rule_name}}.' },
  enabled: BOOLEAN,
  resolve_after_seconds: SECONDS,
  forecast: {
    type: ['object', 'null'],
    description: 'Failure prediction: the alert holds while the forecast crosses threshold_value (by comparison: >, >=, <, <=) within horizon_seconds; the alert\'s annotations carry the expected, earliest and latest crossing.',
    properties: {
      horizon_seconds: { type: 'number', exclusiveMinimum: 0 },
      interval_seconds: { type: 'number', exclusiveMinimum: 0, maximum: 86_400, default: 300 },
      lookback_seconds: { type: 'number', exclusiveMinimum: 0, description: 'Default 1000 intervals.' },
      method: enumSchema(FORECAST_RULE_METHODS, { default: 'auto' }),
      coverage: { type: 'number', minimum: 0.5, maximum: 0.999, default: 0.95 },
      fire_on: enumSchema(FORECAST_FIRE_ON, { default: 'expected', description: '`expected`: the mean path crosses; `earliest`: the pessimistic interval bound does.' }),
    },
    required: ['horizon_seconds'],
    additionalProperties: false,
  },
};

const RULE_VIEW: JsonSchema = { type: 'object', properties: RULE_PROPERTIES };
const ALERT_VIEW: JsonSchema = { type: 'object', properties: { alert_id: STRING, rule_id: STRING, state: STRING, priority: STRING, metric_id: STRING, tags: TAGS_SCHEMA, value: NUMBER } };
const CHANNEL_BODY: JsonSchema = {
  type: 'object', required: ['id', 'type'],
  properties: { id: STRING, type: enumSchema(CHANNEL_TYPES) },
  description: 'The channel\'s settings by type (webhook `url`, slack `webhook_url`, email `smtp`/`to`, alertmanager `url`); see docs/user-guide.md.',
};
const SILENCE_BODY: JsonSchema = {
  type: 'object',
  description: 'Matchers (`rule_id`, `metric_id`, tag keys) as fields or under `matchers`, and when it ends.',
  properties: {
    matchers: { type: 'object', additionalProperties: STRING },
    starts_at: timeSchema(), ends_at: timeSchema(), duration_seconds: { type: 'number', exclusiveMinimum: 0 },
    created_by: STRING, comment: STRING,
  },
};

const LIST = (name: string, item: JsonSchema): JsonSchema => ({ type: 'object', properties: { [name]: { type: 'array', items: item } }, required: [name] });

export const ALERT_SCHEMAS = {
  status: { summary: 'Counts of alerts by state and priority, and the evaluator\'s status', tag: TAG, responses: { 200: ok('The status.') } },
  history: {
    summary: 'State changes of alerts, newest first',
    tag: TAG,
    query: {
      alert_id: param('Only this alert\'s.', STRING), rule: RULE_FILTER, rule_id: RULE_FILTER,
      since: param('From this time.', timeSchema()), until: param('Until this time.', timeSchema()), limit: LIMIT,
    },
    responses: { 200: ok('The history.', LIST('history', ANY_OBJECT)) },
  },
  listRules: { summary: 'Alert rules of the tenant', tag: TAG, responses: { 200: ok('The rules.', LIST('rules', RULE_VIEW)) } },
  getRule: { summary: 'One rule', tag: TAG, responses: { 200: ok('The rule.', RULE_VIEW), 404: error('No such rule.') } },
  addRule: {
    summary: 'Add a rule', tag: TAG,
    body: jsonBody(domainChecked(strictObject(RULE_PROPERTIES, ['name', 'metric_pattern']))),
    responses: { 201: ok('The rule as stored, defaults filled in.', RULE_VIEW), 409: error('The rule id exists.'), 429: error('Past the tenant\'s `rules` quota.') },
  },
  updateRule: {
    summary: 'Replace a rule', tag: TAG,
    body: jsonBody(domainChecked(strictObject(RULE_PROPERTIES, ['name', 'metric_pattern']))),
    responses: { 200: ok('The rule as stored.', RULE_VIEW), 404: error('No such rule.') },
  },
  deleteRule: { summary: 'Delete a rule', tag: TAG, responses: { 204: { description: 'Deleted.' }, 404: error('No such rule.') } },
  listChannels: { summary: 'Notification channels (secrets redacted) with their delivery stats', tag: TAG, responses: { 200: ok('The channels.', LIST('channels', ANY_OBJECT)) } },
  getChannel: { summary: 'One channel (secrets redacted)', tag: TAG, responses: { 200: ok('The channel.'), 404: error('No such channel.') } },
  putChannel: {
    summary: 'Add or replace a notification channel', tag: TAG,
    body: jsonBody(domainChecked(CHANNEL_BODY)),
    responses: { 201: ok('The channel (secrets redacted).'), 429: error('Past the tenant\'s `channels` quota.') },
  },
  deleteChannel: { summary: 'Delete a channel', tag: TAG, responses: { 204: { description: 'Deleted.' }, 404: error('No such channel.') } },
  remediations: { summary: 'Audit of remediation actions taken', tag: TAG, query: { limit: LIMIT }, responses: { 200: ok('The audit.', LIST('remediations', ANY_OBJECT)) } },
  blockedIps: { summary: 'Addresses blocked by `block_ip` remediation', tag: TAG, responses: { 200: ok('The blocks.', LIST('blocked_ips', ANY_OBJECT)) } },
  unblockIp: { summary: 'Lift a block', tag: TAG, responses: { 204: { description: 'Lifted.' }, 404: error('Not blocked.') } },
  listAlerts: {
    summary: 'Alerts, newest first', tag: TAG,
    query: {
      state: param('Only alerts in this state.', enumSchema([...ALERT_STATES, 'active', 'acknowledged'])),
      priority: param('Only this priority (any case).', STRING),
      rule: RULE_FILTER, rule_id: RULE_FILTER, limit: LIMIT,
    },
    responses: { 200: ok('The alerts.', LIST('alerts', ALERT_VIEW)) },
  },
  getAlert: { summary: 'One alert', tag: TAG, responses: { 200: ok('The alert.', ALERT_VIEW), 404: error('No such alert.') } },
  acknowledge: {
    summary: 'Acknowledge an alert (stops its escalation)', tag: TAG,
    body: jsonBody(strictObject({
      acknowledged_by: { type: 'string', description: 'Who (default: the credential\'s id).' }, user: { type: 'string', description: 'Same as acknowledged_by.' },
      by: { type: 'string', description: 'Same as acknowledged_by.' }, comment: STRING,
    }), false),
    responses: { 200: ok('The alert.', ALERT_VIEW), 404: error('No such alert.') },
  },
  addSilence: { summary: 'Silence matching alerts for a while', tag: TAG, body: jsonBody(domainChecked(SILENCE_BODY)), responses: { 201: ok('The silence.'), 429: error('Past the tenant\'s `silences` quota.') } },
  listSilences: {
    summary: 'Silences', tag: TAG,
    query: { expired: param('Include expired ones.', { type: 'boolean', default: false }) },
    responses: { 200: ok('The silences.', LIST('silences', ANY_OBJECT)) },
  },
  expireSilence: { summary: 'End a silence now', tag: TAG, responses: { 200: ok('The silence, expired.'), 404: error('No such silence.') } },
} satisfies Record<string, RouteSchema>;
