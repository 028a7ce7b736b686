/**
 * Request and response schemas of the key-inventory routes (key_routes.ts), for the strict
 * request check and the OpenAPI document (src/http/). Key fields mirror key_model.ts's
 * CREATE_FIELDS; the model still checks each value (ids, algorithms, time order).
 */
import { ANY_OBJECT, NUMBER, STRING, TAGS_SCHEMA, domainChecked, enumSchema, error, integerSchema, jsonBody, ok, param, timeSchema } from '../http/common_schemas.js';
import type { JsonSchema, RouteSchema } from '../http/route.js';
import { KEY_EVENT_TYPES } from './key_events.js';
import { KEY_BACKENDS, KEY_STATES, KEY_TYPES } from './key_model.js';
import { POLICY_RULES } from './key_policy.js';

const TAG = 'keys';
const LIMIT = param('Most entries answered.', integerSchema(1, 100_000, { default: 1000 }));
const FILTER = (what: string): ReturnType<typeof param> => param(`Only keys of this ${what}.`, { type: 'string', maxLength: 256 });

const KEY_FIELDS: Record<string, JsonSchema> = {
  key_id: STRING,
  key_type: enumSchema(KEY_TYPES),
  algorithm: { type: 'string', examples: ['AES-256-GCM', 'RSA-3072', 'ECDSA-P256'] },
  owner: STRING,
  service: STRING,
  backend: enumSchema(KEY_BACKENDS),
  created_at: timeSchema(),
  expires_at: { ...timeSchema(), type: ['string', 'integer', 'null'] },
  rotation_period_days: { type: ['number', 'null'], exclusiveMinimum: 0 },
  state: enumSchema(KEY_STATES),
  tags: TAGS_SCHEMA,
};
const { key_id: _keyId, ...PATCH_FIELDS } = KEY_FIELDS;
const KEY_VIEW: JsonSchema = { type: 'object', properties: { ...KEY_FIELDS, days_until_expiry: { type: ['number', 'null'] } } };
const EVENT: JsonSchema = {
  type: 'object',
  required: ['key_id'],
  properties: { key_id: STRING, event_type: enumSchema(KEY_EVENT_TYPES), type: { ...enumSchema(KEY_EVENT_TYPES), description: 'Same as event_type.' }, timestamp: timeSchema() },
  description: 'One key event; see docs/user-guide.md for every field.',
};

export const KEY_SCHEMAS = {
  events: {
    summary: 'Record key lifecycle, usage and security events',
    tag: TAG,
    description: '`{"events": [...]}`, `{"key_events": [...]}` or a bare array. Each event also counts in its `crypto.key.*` series.',
    body: jsonBody(domainChecked({
      type: ['object', 'array'], items: EVENT,
      properties: { events: { type: 'array', items: EVENT }, key_events: { type: 'array', items: EVENT } }, additionalProperties: false,
    })),
    responses: { 200: ok('How many were accepted.'), 404: error('An event names an unknown key.') },
  },
  register: {
    summary: 'Register a key, or several as {"keys": [...]}',
    tag: TAG,
    body: jsonBody(domainChecked({ type: 'object', properties: { ...KEY_FIELDS, keys: { type: 'array', items: ANY_OBJECT } }, additionalProperties: false })),
    responses: { 201: ok('The key (or `{keys, count}`).', KEY_VIEW), 409: error('The key id exists.'), 429: error('Past the tenant\'s `keys` quota.') },
  },
  list: {
    summary: 'The key inventory, filtered',
    tag: TAG,
    query: {
      state: param('Only keys in this state.', enumSchema(KEY_STATES)),
      algorithm: FILTER('algorithm'), owner: FILTER('owner'), backend: FILTER('backend'), key_type: FILTER('type'),
      expiring_within_days: param('Only keys that expire within this many days.', { type: 'number', minimum: 0 }),
    },
    responses: { 200: ok('The keys.', { type: 'object', properties: { keys: { type: 'array', items: KEY_VIEW }, count: { type: 'integer' } } }) },
  },
  get: { summary: 'One key', tag: TAG, responses: { 200: ok('The key.', KEY_VIEW), 404: error('No such key.') } },
  update: {
    summary: 'Change a key\'s fields (state, owner, expiry …)',
    tag: TAG,
    body: jsonBody(domainChecked({ type: 'object', properties: PATCH_FIELDS, additionalProperties: false })),
    responses: { 200: ok('The key.', KEY_VIEW), 404: error('No such key.') },
  },
  keyViolations: {
    summary: 'Policy violations of one key',
    tag: TAG,
    query: { limit: LIMIT },
    responses: { 200: ok('The violations.', { type: 'object', properties: { violations: { type: 'array', items: ANY_OBJECT } } }), 404: error('No such key.') },
  },
  violations: {
    summary: 'Policy violations of the tenant\'s keys',
    tag: TAG,
    query: { rule: param('Only this policy rule\'s.', enumSchema(POLICY_RULES)), key_id: param('Only this key\'s.', STRING), limit: LIMIT },
    responses: { 200: ok('The violations.', { type: 'object', properties: { violations: { type: 'array', items: { type: 'object', properties: { key_id: STRING, rule: STRING, timestamp: STRING, value: NUMBER } } } } }) },
  },
} satisfies Record<string, RouteSchema>;
