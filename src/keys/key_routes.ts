/**
 * HTTP routes of the key inventory (mounted by src/server/). Every route acts on the caller's
 * tenant (`tenantOf(req)`, from the credentials, never from the body or query): another
 * tenant's key answers 404 as an unknown one does.
 *
 *   access  route
 *   admin   POST   /api/v1/keys                      register a key → 201 (409 when the id exists);
 *                                                    {"keys": [...]} registers many at once, all or nothing
 *   reader  GET    /api/v1/keys                      ?state= &algorithm= &owner= &backend= &key_type= &expiring_within_days=
 *   reader  GET    /api/v1/keys/:key_id              one key → 404 when unknown
 *   admin   PATCH  /api/v1/keys/:key_id              change fields (state, expires_at, tags …)
 *   writer  POST   /api/v1/keys/events               {"events": [...]} (also `key_events`, or a bare array), JSON or msgpack
 *   reader  GET    /api/v1/keys/:key_id/violations   that key's policy violations, newest first
 *   reader  GET    /api/v1/policy/violations         ?key_id= &rule= &limit=
 *
 * Past the tenant's `keys` quota a registration throws QuotaExceededError (the server answers 429).
 */
import { describeValue } from '../model/metric.js';
import { HttpError, tenantOf, type HttpRequest, type RouteDefinition } from '../http/route.js';
import { KeyEventValidationError } from './key_events.js';
import { keyIdProblem, keyToJson, KeyValidationError, KEY_STATES } from './key_model.js';
import { KeyConflictError, KeyNotFoundError, type KeyListFilter, type KeyService } from './key_service.js';
import { POLICY_RULES } from './key_policy.js';
import { KEY_SCHEMAS } from './key_route_schemas.js';
import type { ViolationRecord } from './key_store.js';

/** Longest value of a list filter (`owner`, `algorithm` …); longer ones can match no key. */
const MAX_FILTER_CHARS = 256;

function toHttpError(err: unknown): unknown {
  if (err instanceof KeyValidationError) return new HttpError(400, err.message, { error: err.message, field: err.field });
  if (err instanceof KeyEventValidationError) return new HttpError(400, err.message, { error: err.message, index: err.index, field: err.field });
  if (err instanceof KeyNotFoundError) return new HttpError(404, err.message);
  if (err instanceof KeyConflictError) return new HttpError(409, err.message);
  return err;
}

function badParam(name: string, value: string, rule: string): HttpError {
  const message = `${name}=${describeValue(value)} ${rule}`;
  return new HttpError(400, message, { error: message, field: name });
}

function listFilter(q: URLSearchParams): KeyListFilter {
  const filter: KeyListFilter = {};
  const state = q.get('state');
  if (state !== null) {
    if (!(KEY_STATES as readonly string[]).includes(state)) throw badParam('state', state, `must be one of ${KEY_STATES.join(', ')}`);
    filter.state = state;
  }
  for (const name of ['algorithm', 'owner', 'backend', 'key_type'] as const) {
    const v = q.get(name);
    if (v === null) continue;
    if (v.length > MAX_FILTER_CHARS) throw badParam(name, v, `must be at most ${MAX_FILTER_CHARS} characters`);
    filter[name] = v;
  }
  const within = q.get('expiring_within_days');
  if (within !== null) {
    const days = Number(within);
    if (within.trim() === '' || !Number.isFinite(days) || days < 0) throw badParam('expiring_within_days', within, 'must be a non-negative number of days');
    filter.expiringWithinDays = days;
  }
  return filter;
}

function limitParam(q: URLSearchParams): number {
  const raw = q.get('limit');
  if (raw === null) return 1000;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw badParam('limit', raw, 'must be an integer in [1, 100000]');
  return n;
}

function eventsOf(body: unknown): unknown {
  if (Array.isArray(body)) return body;
  if (typeof body === 'object' && body !== null) {
    const b = body as Record<string, unknown>;
    if (b.events !== undefined) return b.events;
    if (b.key_events !== undefined) return b.key_events;
  }
  throw new HttpError(400, 'body must be {"events": [...]} (or a bare array of key events)', { error: 'body must be {"events": [...]}', field: 'events' });
}

function wrap(handler: (req: HttpRequest) => Promise<{ status?: number; body: unknown }> | { status?: number; body: unknown }) {
  return async (req: HttpRequest) => {
    try {
      return await handler(req);
    } catch (err) {
      throw toHttpError(err);
    }
  };
}

/** The routes; `keys` is any view of the service (each request acts on its caller's tenant). */
export function keyRoutes(keys: KeyService, now: () => number = Date.now): RouteDefinition[] {
  const of = (req: HttpRequest): KeyService => keys.forTenant(tenantOf(req));
  return [
    {
      method: 'POST', pattern: '/api/v1/keys/events', access: 'writer', schema: KEY_SCHEMAS.events,
      handler: wrap(async (req) => ({ body: await of(req).ingestEvents(eventsOf(req.body)) })),
    },
    {
      method: 'POST', pattern: '/api/v1/keys', access: 'admin', schema: KEY_SCHEMAS.register,
      handler: wrap((req) => {
        const tenantKeys = of(req);
        const b = req.body as { keys?: unknown } | undefined;
        if (typeof b === 'object' && b !== null && !Array.isArray(b) && Array.isArray(b.keys)) {
          const t = now();
          const created = tenantKeys.registerKeys(b.keys);
          return { status: 201, body: { keys: created.map((k) => keyToJson(k, t)), count: created.length } };
        }
        return { status: 201, body: keyToJson(tenantKeys.registerKey(req.body), now()) };
      }),
    },
    {
      method: 'GET', pattern: '/api/v1/keys', access: 'reader', schema: KEY_SCHEMAS.list,
      handler: wrap((req) => {
        const list = of(req).listKeys(listFilter(req.query));
        const t = now();
        return { body: { keys: list.map((k) => keyToJson(k, t)), count: list.length } };
      }),
    },
    {
      method: 'GET', pattern: '/api/v1/keys/:key_id', access: 'reader', schema: KEY_SCHEMAS.get,
      handler: wrap((req) => {
        const key = of(req).getKey(req.params.key_id ?? '');
        if (key === undefined) throw new KeyNotFoundError(req.params.key_id ?? '');
        return { body: keyToJson(key, now()) };
      }),
    },
    {
      method: 'PATCH', pattern: '/api/v1/keys/:key_id', access: 'admin', schema: KEY_SCHEMAS.update,
      handler: wrap((req) => ({ body: keyToJson(of(req).updateKey(req.params.key_id ?? '', req.body), now()) })),
    },
    {
      method: 'GET', pattern: '/api/v1/keys/:key_id/violations', access: 'reader', schema: KEY_SCHEMAS.keyViolations,
      handler: wrap((req) => {
        const tenantKeys = of(req);
        const keyId = req.params.key_id ?? '';
        if (!tenantKeys.hasKey(keyId)) throw new KeyNotFoundError(keyId);
        return { body: { violations: tenantKeys.violations({ keyId, limit: limitParam(req.query) }).map(violationToJson) } };
      }),
    },
    {
      method: 'GET', pattern: '/api/v1/policy/violations', access: 'reader', schema: KEY_SCHEMAS.violations,
      handler: wrap((req) => {
        const rule = req.query.get('rule');
        if (rule !== null && !(POLICY_RULES as readonly string[]).includes(rule)) throw badParam('rule', rule, `must be one of ${POLICY_RULES.join(', ')}`);
        const keyId = req.query.get('key_id');
        const filter: { keyId?: string; rule?: string; limit: number } = { limit: limitParam(req.query) };
        if (keyId !== null) {
          const problem = keyIdProblem(keyId);
          if (problem !== null) throw badParam('key_id', keyId, problem);
          filter.keyId = keyId;
        }
        if (rule !== null) filter.rule = rule;
        return { body: { violations: of(req).violations(filter).map(violationToJson) } };
      }),
    },
  ];
}

function violationToJson(v: ViolationRecord): Record<string, unknown> {
  return { ...v, timestamp: new Date(v.timestamp).toISOString() };
}
