/**
 * Calls feature routes the way the server does, without a socket: the server's own Router
 * matches the path, the route's access is checked against the caller's role, and thrown
 * HttpErrors (and quota errors) become answers. For unit tests of route files.
 */
import { HttpError, roleAtLeast, type HttpMethod, type HttpResponseSpec, type Principal, type RouteDefinition } from '../../src/http/route.js';
import { Router } from '../../src/server/router.js';
import { QuotaExceededError } from '../../src/tenancy/quota.js';

export type RouteAnswer = HttpResponseSpec & { status: number; body: any };

export async function callRoute(
  routes: RouteDefinition[], principal: Principal, method: HttpMethod, url: string, body?: unknown, remoteAddress = '127.0.0.1',
): Promise<RouteAnswer> {
  const router = new Router<RouteDefinition>();
  for (const r of routes) router.add(r.method, r.pattern, r);
  const u = new URL(url, 'http://x');
  const match = router.match(method, u.pathname);
  if (match.kind !== 'found') return { status: match.kind === 'none' ? 404 : 405, body: { error: 'no route' } };
  const route = match.value;
  if (route.access !== 'public' && !roleAtLeast(principal.role, route.access)) return { status: 403, body: { error: `needs ${route.access}` } };
  try {
    const res = await route.handler({ method, path: u.pathname, params: match.params, query: u.searchParams, headers: {}, body, remoteAddress, principal });
    return { ...res, status: res.status ?? 200, body: res.body };
  } catch (err) {
    if (err instanceof HttpError) return { status: err.status, body: err.body };
    if (err instanceof QuotaExceededError) return { status: 429, body: { error: err.message } };
    throw err;
  }
}

/** An API-key principal of `role` in `tenant`. */
export function principal(role: Principal['role'], tenant: string): Principal {
  return { id: `ak_${role}_${tenant}`, kind: 'api_key', role, tenant };
}
