/**
 * HTTP routes of the prober (mounted by src/server/). The paths keep their public spelling
 * `/api/v1/health/targets…`. Every route acts on the caller's tenant (`tenantOf`); another
 * tenant's target answers 404.
 *
 *   POST   /api/v1/health/targets              admin   add a target → 201 (409 when the id exists, 429 past the quota)
 *   GET    /api/v1/health/targets              reader  every target with status (up, down, degraded, unknown), last check, latency
 *   GET    /api/v1/health/targets/:id          reader  one target → 404 when unknown
 *   POST   /api/v1/health/targets/:id/check    admin   check now and answer with the result (429 within 1 s of the last check)
 *   DELETE /api/v1/health/targets/:id          admin   stop monitoring → 200 {deleted: id}
 */
import { HttpError, tenantOf, type HttpRequest, type HttpResponseSpec, type RouteDefinition } from '../http/route.js';
import { CheckRateLimitedError, TargetCapacityError, TargetConflictError, TargetNotFoundError } from './probe_errors.js';
import type { ProbeMonitor } from './probe_monitor.js';
import { PROBE_SCHEMAS } from './probe_route_schemas.js';
import { TargetValidationError, type TargetView } from './probe_target.js';

function toJson(t: TargetView): Record<string, unknown> {
  return {
    ...t,
    created_at: new Date(t.created_at).toISOString(),
    last_check: t.last_check === null ? null : new Date(t.last_check).toISOString(),
    latency_ms: t.last_response_time_ms,
  };
}

function wrap(handler: (req: HttpRequest) => HttpResponseSpec | Promise<HttpResponseSpec>) {
  return async (req: HttpRequest): Promise<HttpResponseSpec> => {
    try {
      return await handler(req);
    } catch (err) {
      if (err instanceof TargetValidationError) throw new HttpError(400, err.message, { error: err.message, field: err.field });
      if (err instanceof TargetNotFoundError) throw new HttpError(404, err.message);
      if (err instanceof TargetConflictError) throw new HttpError(409, err.message);
      if (err instanceof TargetCapacityError) throw new HttpError(429, err.message);
      if (err instanceof CheckRateLimitedError) throw new HttpError(429, err.message, { error: err.message, retry_after_ms: err.retryAfterMs });
      // QuotaExceededError goes on to the server, which answers 429 for every quota alike.
      throw err;
    }
  };
}

export function probeTargetRoutes(monitor: ProbeMonitor): RouteDefinition[] {
  const id = (req: HttpRequest): string => req.params.id ?? '';
  return [
    {
      method: 'POST', pattern: '/api/v1/health/targets', access: 'admin', schema: PROBE_SCHEMAS.add,
      handler: wrap((req) => ({ status: 201, body: toJson(monitor.addTarget(tenantOf(req), req.body)) })),
    },
    {
      method: 'GET', pattern: '/api/v1/health/targets', access: 'reader', schema: PROBE_SCHEMAS.list,
      handler: wrap((req) => {
        const targets = monitor.listTargets(tenantOf(req)).map(toJson);
        return { body: { targets, count: targets.length } };
      }),
    },
    {
      method: 'GET', pattern: '/api/v1/health/targets/:id', access: 'reader', schema: PROBE_SCHEMAS.get,
      handler: wrap((req) => {
        const t = monitor.getTarget(tenantOf(req), id(req));
        if (t === undefined) throw new TargetNotFoundError(id(req));
        return { body: toJson(t) };
      }),
    },
    {
      method: 'POST', pattern: '/api/v1/health/targets/:id/check', access: 'admin', schema: PROBE_SCHEMAS.check,
      handler: wrap(async (req) => ({ body: toJson(await monitor.checkNow(tenantOf(req), id(req))) })),
    },
    {
      method: 'DELETE', pattern: '/api/v1/health/targets/:id', access: 'admin', schema: PROBE_SCHEMAS.remove,
      handler: wrap((req) => {
        monitor.removeTarget(tenantOf(req), id(req));
        return { body: { deleted: id(req) } };
      }),
    },
  ];
}
