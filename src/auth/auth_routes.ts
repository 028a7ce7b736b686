/**
 * HTTP routes of authentication and tenant management (mounted by src/server/):
 *
 *   POST   /api/v1/auth/ws-ticket      reader+   → {ticket, expires_in_seconds: 30, protocol, protocols}
 *   GET    /api/v1/auth/whoami         reader+   → {id, kind, role, tenant}
 *   POST   /api/v1/auth/keys           admin+    {name, role, tenant?, expires_at?, allowed_networks?} → 201 with the token (shown once)
 *   GET    /api/v1/auth/keys           admin+    admin: its tenant's keys; operator: all, or ?tenant= (`*` = operator keys)
 *   DELETE /api/v1/auth/keys/:key_id   admin+    revoke; another tenant's key is 404
 *   GET    /api/v1/tenants             operator  registered tenants with their quotas
 *   GET    /api/v1/tenants/:tenant     operator
 *   PUT    /api/v1/tenants/:tenant     operator  {quotas: {api_keys: 5, …}} replaces the overrides (201 when new)
 *
 * Who may create what: an admin creates keys of its own tenant only (a `tenant` in the body
 * that differs is 403) and of at most its own role; an operator creates any role for any tenant
 * (`tenant` defaults to the one it acts on; operator keys are global, tenant `*`). The
 * tenant's `api_keys` quota counts unrevoked, unexpired keys; past it, QuotaExceededError (429).
 * Answers never contain a token hash, and a token only in the 201 of its creation.
 */
import { ConfigError } from '../config/config_error.js';
import { HttpError, principalOf, roleAtLeast, TENANT_NAME_PATTERN, type HttpRequest, type HttpResponseSpec, type RouteDefinition } from '../http/route.js';
import {
  ApiKeyValidationError, checkTenantForRole, GLOBAL_TENANT, parseAllowedNetworks, parseExpiresAt, parseKeyName, parseRole, parseTenantName,
} from './api_key_input.js';
import type { ApiKeyRecord, ApiKeyStore } from './api_key_store.js';
import { quotasToJson, type TenantRecord, type TenantRegistry } from './tenant_registry.js';
import { ticketProtocol, WS_PROTOCOL, WsTicketLimitError, type WsTicketIssuer } from './ws_tickets.js';
import { AUTH_SCHEMAS } from './auth_route_schemas.js';

export interface AuthRoutesDeps {
  apiKeys: ApiKeyStore;
  tenants: TenantRegistry;
  tickets: WsTicketIssuer;
  now?: () => number;
}

const KEY_FIELDS = ['name', 'tenant', 'role', 'expires_at', 'allowed_networks'];
/** Answers carrying a credential must not be kept by caches or proxies. */
const NO_STORE = { 'cache-control': 'no-store' };

export function apiKeyState(r: ApiKeyRecord, nowMs: number): 'active' | 'expired' | 'revoked' {
  if (r.revokedAt !== undefined) return 'revoked';
  return r.expiresAt !== undefined && r.expiresAt <= nowMs ? 'expired' : 'active';
}

/** An API key as answered and listed: never the token, never its hash. */
export function apiKeyToJson(r: ApiKeyRecord, nowMs: number): Record<string, unknown> {
  return {
    key_id: r.keyId,
    name: r.name,
    tenant: r.tenant,
    role: r.role,
    state: apiKeyState(r, nowMs),
    created_at: iso(r.createdAt),
    expires_at: iso(r.expiresAt),
    allowed_networks: r.allowedNetworks ?? null,
    revoked_at: iso(r.revokedAt),
    last_used_at: iso(r.lastUsedAt),
  };
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function bad(field: string, message: string): HttpError {
  return new HttpError(400, message, { error: message, field });
}

function forbidden(message: string): HttpError {
  return new HttpError(403, message);
}

function objectBody(body: unknown, allowed: readonly string[], shape: string): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw bad('body', `the body must be a JSON object ${shape}`);
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) {
    if (!allowed.includes(k)) throw bad(k, `${JSON.stringify(k.slice(0, 64))} is not a field of this request; expected ${allowed.join(', ')}`);
  }
  return b;
}

function wrap(handler: (req: HttpRequest) => HttpResponseSpec): (req: HttpRequest) => HttpResponseSpec {
  return (req) => {
    try {
      return handler(req);
    } catch (err) {
      if (err instanceof ApiKeyValidationError) throw bad(err.field, err.message);
      if (err instanceof ConfigError) throw bad(err.key, err.message);
      throw err;
    }
  };
}

function quoteParam(value: string): string {
  return JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value);
}

export function authRoutes(deps: AuthRoutesDeps): RouteDefinition[] {
  const { apiKeys, tenants, tickets } = deps;
  const now = deps.now ?? Date.now;

  const tenantToJson = (t: TenantRecord): Record<string, unknown> => ({
    tenant: t.tenant,
    quotas: quotasToJson(t.quotas),
    overrides: t.overrides,
    active_api_keys: apiKeys.countActive(t.tenant),
    created_at: iso(t.createdAt),
    updated_at: iso(t.updatedAt),
  });

  const tenantParam = (req: HttpRequest): string => {
    const t = req.params.tenant ?? '';
    if (!TENANT_NAME_PATTERN.test(t)) throw bad('tenant', `tenant=${quoteParam(t)} is not a tenant name (must match ${TENANT_NAME_PATTERN})`);
    return t;
  };

  return [
    {
      method: 'POST', pattern: '/api/v1/auth/ws-ticket', access: 'reader', schema: AUTH_SCHEMAS.wsTicket,
      handler: (req) => {
        try {
          const { ticket, expiresInSeconds } = tickets.issue(principalOf(req));
          const protocol = ticketProtocol(ticket);
          return { headers: NO_STORE, body: { ticket, expires_in_seconds: expiresInSeconds, protocol, protocols: [WS_PROTOCOL, protocol] } };
        } catch (err) {
          if (err instanceof WsTicketLimitError) throw new HttpError(429, err.message);
          throw err;
        }
      },
    },
    {
      method: 'GET', pattern: '/api/v1/auth/whoami', access: 'reader', schema: AUTH_SCHEMAS.whoami,
      handler: (req) => {
        const p = principalOf(req);
        return { body: { id: p.id, kind: p.kind, role: p.role, tenant: p.tenant } };
      },
    },
    {
      method: 'POST', pattern: '/api/v1/auth/keys', access: 'admin', schema: AUTH_SCHEMAS.createKey,
      handler: wrap((req) => {
        const p = principalOf(req);
        const b = objectBody(req.body, KEY_FIELDS, '{"name", "role", "tenant"?, "expires_at"?, "allowed_networks"?}');
        const role = parseRole(b.role);
        if (!roleAtLeast(p.role, role)) throw forbidden(`role=${JSON.stringify(role)} is above your own role (${p.role}); you may create keys of role ${p.role} or below`);
        let tenant: string;
        if (p.role === 'operator') {
          tenant = role === 'operator' ? checkTenantForRole(role, b.tenant as string | undefined) : b.tenant === undefined ? p.tenant : parseTenantName('tenant', b.tenant);
        } else {
          if (b.tenant !== undefined && b.tenant !== p.tenant) {
            throw forbidden(`tenant=${JSON.stringify(b.tenant)} is not your tenant (${p.tenant}); only an operator may create keys for another tenant`);
          }
          tenant = p.tenant;
        }
        const t = now();
        const created = apiKeys.create(
          {
            name: parseKeyName(b.name),
            tenant,
            role,
            expiresAt: b.expires_at === undefined || b.expires_at === null ? undefined : parseExpiresAt(b.expires_at, t),
            allowedNetworks: b.allowed_networks === undefined || b.allowed_networks === null ? undefined : parseAllowedNetworks(b.allowed_networks),
          },
          tenant === GLOBAL_TENANT ? {} : { maxActiveInTenant: tenants.quotaLookup(tenant).apiKeys },
        );
        const { key_id, ...rest } = apiKeyToJson(created.record, t);
        return { status: 201, headers: NO_STORE, body: { key_id, token: created.token, ...rest } };
      }),
    },
    {
      method: 'GET', pattern: '/api/v1/auth/keys', access: 'admin', schema: AUTH_SCHEMAS.listKeys,
      handler: wrap((req) => {
        const p = principalOf(req);
        const asked = req.query.get('tenant');
        let tenant: string | undefined;
        if (p.role === 'operator') {
          if (asked !== null && asked !== GLOBAL_TENANT) tenant = parseTenantName('tenant', asked);
          else if (asked === GLOBAL_TENANT) tenant = GLOBAL_TENANT;
        } else {
          if (asked !== null && asked !== p.tenant) throw forbidden(`tenant=${quoteParam(asked)} is not your tenant (${p.tenant}); only an operator may list another tenant's keys`);
          tenant = p.tenant;
        }
        const t = now();
        const keys = apiKeys.list(tenant === undefined ? {} : { tenant }).map((r) => apiKeyToJson(r, t));
        return { body: { keys, count: keys.length } };
      }),
    },
    {
      method: 'DELETE', pattern: '/api/v1/auth/keys/:key_id', access: 'admin', schema: AUTH_SCHEMAS.revokeKey,
      handler: (req) => {
        const p = principalOf(req);
        const keyId = req.params.key_id ?? '';
        const found = apiKeys.get(keyId);
        // Another tenant's key answers exactly like a missing one.
        if (found === undefined || (p.role !== 'operator' && found.tenant !== p.tenant)) throw new HttpError(404, `API key ${quoteParam(keyId)} not found`);
        const revoked = apiKeys.revoke(keyId);
        if (revoked === undefined) throw new HttpError(404, `API key ${quoteParam(keyId)} not found`);
        return { body: apiKeyToJson(revoked, now()) };
      },
    },
    {
      method: 'GET', pattern: '/api/v1/tenants', access: 'operator', schema: AUTH_SCHEMAS.listTenants,
      handler: () => {
        const list = tenants.list().map(tenantToJson);
        return { body: { tenants: list, count: list.length } };
      },
    },
    {
      method: 'GET', pattern: '/api/v1/tenants/:tenant', access: 'operator', schema: AUTH_SCHEMAS.getTenant,
      handler: (req) => {
        const name = tenantParam(req);
        const found = tenants.get(name);
        if (found === undefined) throw new HttpError(404, `tenant ${quoteParam(name)} not found`);
        return { body: tenantToJson(found) };
      },
    },
    {
      method: 'PUT', pattern: '/api/v1/tenants/:tenant', access: 'operator', schema: AUTH_SCHEMAS.putTenant,
      handler: wrap((req) => {
        const name = tenantParam(req);
        const b = objectBody(req.body, ['quotas'], '{"quotas": {"api_keys": 5, …}}');
        const { record, created } = tenants.setQuotas(name, b.quotas ?? {}, `PUT /api/v1/tenants/${name}`);
        return { status: created ? 201 : 200, body: tenantToJson(record) };
      }),
    },
  ];
}
