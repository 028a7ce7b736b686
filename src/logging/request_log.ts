/**
 * One log event per answered HTTP request: request id (also sent back as `X-Request-Id`), method,
 * route pattern (never the raw path: it may carry ids and is unbounded), status, latency in ms,
 * tenant and client address. Query strings and headers are never logged (they carry tokens).
 *
 * A client or proxy may send its own `X-Request-Id` to follow a request across systems; it is
 * kept when it is a short plain token, else a new UUID replaces it (a header is client input:
 * it must not be able to forge log structure or grow lines).
 */
import { randomUUID } from 'node:crypto';
import type { LogFields, LogFunction } from './logger.js';

/** A request id a client may choose: 1–128 characters of `[A-Za-z0-9._:-]`. */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export const REQUEST_ID_HEADER = 'x-request-id';

/** The client's `X-Request-Id` when it is acceptable, else a fresh UUID. */
export function requestIdFor(header: string | undefined): string {
  return header !== undefined && CLIENT_REQUEST_ID.test(header) ? header : randomUUID();
}

export interface AnsweredRequest {
  requestId: string;
  method: string;
  /** Route pattern (`/api/v1/keys/:key_id`) or `unmatched`. */
  route: string;
  status: number;
  latencyMs: number;
  /** Set once the caller was authenticated (or the route is public and credentials were sent). */
  tenant: string | undefined;
  remoteAddress: string | undefined;
}

/** The event's fields, snake_case as log queries spell them. */
export function requestLogFields(r: AnsweredRequest): LogFields {
  return {
    request_id: r.requestId,
    method: r.method,
    route: r.route,
    status: r.status,
    // Microsecond resolution is noise at this level; three decimals keep sub-ms answers visible.
    latency_ms: Math.round(r.latencyMs * 1000) / 1000,
    ...(r.tenant === undefined ? {} : { tenant: r.tenant }),
    ...(r.remoteAddress === undefined ? {} : { remote_address: r.remoteAddress }),
  };
}

/** Probe routes, polled every few seconds by orchestrators and load balancers. */
const PROBE_ROUTES: ReadonlySet<string> = new Set(['/health', '/health/live', '/health/ready']);

/**
 * Server errors at `error`, everything else at `info` (refusals are normal traffic). Probes at
 * `debug` (a kubelet polling twice per 10 s would otherwise be most of the log), or `warn` when
 * they answer 503 (not ready is an expected answer, not a fault of the server).
 */
export function logAnsweredRequest(log: LogFunction, r: AnsweredRequest): void {
  const failed = r.status >= 500;
  const level = PROBE_ROUTES.has(r.route) ? (failed ? 'warn' : 'debug') : failed ? 'error' : 'info';
  log(level, `${r.method} ${r.route} ${r.status}`, requestLogFields(r));
}
