/**
 * HTTP routes of health monitoring (mounted by src/server/):
 *
 *   POST   /api/v1/health/targets              add a target → 201 (409 when the id exists)
 *   GET    /api/v1/health/targets              every target with status (up, down, degraded, unknown), last check, latency
 *   GET    /api/v1/health/targets/:id          one target → 404 when unknown
 *   POST   /api/v1/health/targets/:id/check    check now and answer with the result
 *   DELETE /api/v1/health/targets/:id          stop monitoring → 200 {deleted: id}
 */
import { HttpError, type HttpRequest, type HttpResponseSpec, type RouteDefinition } from '../http/route.js';
import { TargetConflictError, TargetNotFoundError, type HealthMonitor, type TargetView } from './health_monitor.js';
import { TargetValidationError } from './health_target.js';

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
      throw err;
    }
  };
}

export function healthTargetRoutes(monitor: HealthMonitor): RouteDefinition[] {
  const id = (req: HttpRequest): string => req.params.id ?? '';
  return [
    { method: 'POST', pattern: '/api/v1/health/targets', handler: wrap((req) => ({ status: 201, body: toJson(monitor.addTarget(req.body)) })) },
    {
      method: 'GET', pattern: '/api/v1/health/targets',
      handler: wrap(() => {
        const targets = monitor.listTargets().map(toJson);
        return { body: { targets, count: targets.length } };
      }),
    },
    {
      method: 'GET', pattern: '/api/v1/health/targets/:id',
      handler: wrap((req) => {
        const t = monitor.getTarget(id(req));
        if (t === undefined) throw new TargetNotFoundError(id(req));
        return { body: toJson(t) };
      }),
    },
    { method: 'POST', pattern: '/api/v1/health/targets/:id/check', handler: wrap(async (req) => ({ body: toJson(await monitor.checkNow(id(req))) })) },
    {
      method: 'DELETE', pattern: '/api/v1/health/targets/:id',
      handler: wrap((req) => {
        monitor.removeTarget(id(req));
        return { body: { deleted: id(req) } };
      }),
    },
  ];
}
