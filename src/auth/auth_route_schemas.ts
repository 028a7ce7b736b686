/**
 * Request and response schemas of the API-key, WebSocket-ticket and tenant routes
 * (auth_routes.ts), for the strict request check and the OpenAPI document (src/http/).
 */
import { ANY_OBJECT, STRING, domainChecked, enumSchema, error, integerSchema, jsonBody, ok, param, strictObject } from '../http/common_schemas.js';
import { ROLES, type RouteSchema } from '../http/route.js';
import { QUOTA_CONFIG_KEYS } from '../tenancy/quota.js';

const TAG = 'auth';
const API_KEY_VIEW = {
  type: 'object',
  properties: {
    key_id: STRING, name: STRING, tenant: STRING, role: enumSchema(ROLES), created_at: STRING,
    state: enumSchema(['active', 'expired', 'revoked']), expires_at: { type: ['string', 'null'] }, allowed_networks: { type: ['array', 'null'], items: STRING },
    revoked_at: { type: ['string', 'null'] }, last_used_at: { type: ['string', 'null'] },
  },
} as const;
const TENANT_VIEW = { type: 'object', properties: { tenant: STRING, quotas: ANY_OBJECT } } as const;
const quotaProperties = Object.fromEntries(Object.values(QUOTA_CONFIG_KEYS).map((k) => [k, integerSchema(0, Number.MAX_SAFE_INTEGER)]));

export const AUTH_SCHEMAS = {
  wsTicket: {
    summary: 'A single-use 30 s ticket for a browser\'s WebSocket upgrade',
    tag: TAG,
    description: 'Offer it as the subprotocol `emms.ticket.<ticket>` next to `emms.v1`.',
    responses: { 200: ok('The ticket and the subprotocols to offer.', { type: 'object', properties: { ticket: STRING, expires_in_seconds: { type: 'integer' }, protocol: STRING, protocols: { type: 'array', items: STRING } } }) },
  },
  whoami: {
    summary: 'The caller: credential id, kind, role and tenant',
    tag: TAG,
    responses: { 200: ok('The principal.', { type: 'object', properties: { id: STRING, kind: STRING, role: STRING, tenant: STRING } }) },
  },
  createKey: {
    summary: 'Create an API key; its token is shown once',
    tag: TAG,
    description: 'An admin creates keys of its own tenant, with at most its own role; an operator, for any tenant.',
    body: jsonBody(domainChecked(strictObject({
      name: STRING,
      role: enumSchema(ROLES),
      tenant: { type: 'string', description: 'Default: the caller\'s tenant.' },
      expires_at: { type: ['string', 'null'], format: 'date-time', description: 'ISO-8601, in the future; null or left out: never.' },
      allowed_networks: { type: ['array', 'null'], items: { type: 'string', description: 'CIDR, e.g. 10.0.0.0/8' } },
    }, ['name', 'role']))),
    responses: {
      201: ok('The key, with `token` (shown only now).', { ...API_KEY_VIEW, properties: { ...API_KEY_VIEW.properties, token: STRING } }),
      403: error('A role above the caller\'s, or another tenant.'),
      429: error('Past the tenant\'s `api_keys` quota.'),
    },
  },
  listKeys: {
    summary: 'API keys of the tenant (never their tokens)',
    tag: TAG,
    query: { tenant: param('An operator may list another tenant\'s keys.', STRING) },
    responses: { 200: ok('The keys.', { type: 'object', properties: { keys: { type: 'array', items: API_KEY_VIEW } } }) },
  },
  revokeKey: {
    summary: 'Revoke an API key (streams using it close within 2 s)',
    tag: TAG,
    responses: { 200: ok('The revoked key.', API_KEY_VIEW), 404: error('No such key in the caller\'s tenant.') },
  },
  listTenants: {
    summary: 'Every tenant with its quota overrides',
    tag: 'tenants',
    responses: { 200: ok('The tenants.', { type: 'object', properties: { tenants: { type: 'array', items: TENANT_VIEW } } }) },
  },
  getTenant: {
    summary: 'One tenant with its quotas',
    tag: 'tenants',
    responses: { 200: ok('The tenant.', TENANT_VIEW), 404: error('No such tenant.') },
  },
  putTenant: {
    summary: 'Create a tenant or set its quota overrides',
    tag: 'tenants',
    body: jsonBody(domainChecked(strictObject({ quotas: strictObject(quotaProperties) }))),
    responses: { 200: ok('Updated.', TENANT_VIEW), 201: ok('Created.', TENANT_VIEW) },
  },
} satisfies Record<string, RouteSchema>;


