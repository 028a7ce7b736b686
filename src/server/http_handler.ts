/**
 * Every HTTP request: the checks of access_control.ts in their order, the connection caps,
 * routing, the body (read as it arrives, under the body deadline), authentication and the
 * route's access, then the handler, or for `POST /api/v1/metrics` the ingest path.
 *
 * uWS drops body chunks that arrive while no reader is attached, so the body read starts in
 * the handler itself, before an asynchronous authenticator has answered; a request refused
 * then is answered at once and its connection closed if its body was still arriving.
 */
import type { HttpRequest as UwsRequest, HttpResponse as UwsResponse } from 'uWebSockets.js';
import type { AuthResult } from '../auth/authenticator.js';
import { influxTokenAsBearer } from '../auth/influx_token_scheme.js';
import type { EmmsConfig } from '../config/config.js';
import { isAuditedRoute, type HttpMethod, type HttpRequest, type Principal, type RouteDefinition } from '../http/route.js';
import type { DecodePool } from '../ingest/decode_pool.js';
import { checkRequest } from '../http/strict_params.js';
import { ingestHttpBody } from '../ingest/http_ingest.js';
import { timestampPolicy } from '../ingest/timestamp_precision.js';
import type { IngestRateLimiter } from '../ingest/ingest_rate.js';
import { CONTENT_TYPE_JSON, CONTENT_TYPE_MSGPACK, CONTENT_TYPES_MSGPACK } from '../ingest/wire.js';
import { QUOTA_CONFIG_KEYS } from '../tenancy/quota.js';
import { REQUEST_ID_HEADER, requestIdFor } from '../logging/request_log.js';
import type { AccessControl, Refusal } from './access_control.js';
import { INGEST_ROUTE, OPENAPI_ROUTE, openApiDocument, PRECISION_PARAMETER } from './builtin_routes.js';
import type { ConnectionLimiter } from './connection_limits.js';
import { mediaType, openExchange, parseBody, readBody, type BodyLimits, type BodyRead, type Exchange, type HttpResponder } from './http_exchange.js';
import { FORWARDED_FOR_HEADER } from './forwarded_for.js';
import { canonicalRemoteAddress } from './remote_address.js';
import type { RouteMatch, Router } from './router.js';
import type { SelfMetrics } from './self_metrics.js';
import type { ServerState } from './ws_stream.js';

export interface HttpHandlerDeps {
  config: EmmsConfig;
  router: Router<RouteDefinition>;
  responder: HttpResponder;
  access: AccessControl;
  limiter: ConnectionLimiter;
  state: ServerState;
  pool: DecodePool;
  rate: IngestRateLimiter;
  metrics: SelfMetrics;
  bodyTimeoutMs: number;
}

interface Request {
  method: string;
  path: string;
  rawQuery: string;
  headers: Record<string, string>;
  remoteAddress: string;
  contentType: string;
}

/** Longest route parameter value kept in an audit record (ids are short; this bounds a hostile one). */
const AUDIT_PARAMETER_CHARS = 200;

/** The route's parameters as `name=value …`: what was acted on, never a body. */
function auditTarget(params: Record<string, string>): string {
  return Object.entries(params).map(([k, v]) => `${k}=${v.length > AUDIT_PARAMETER_CHARS ? `${v.slice(0, AUDIT_PARAMETER_CHARS)}…` : v}`).join(' ');
}

export function createHttpHandler(deps: HttpHandlerDeps): (res: UwsResponse, req: UwsRequest) => void {
  const { access, limiter, responder, router, state } = deps;
  /** Built on first request: the route table is fixed once the server listens. */
  let openApi: string | undefined;
  const limits: BodyLimits = { maxBytes: deps.config.collector.maxBodyBytes, maxBytesSetting: 'collector.max_body_bytes', timeoutMs: deps.bodyTimeoutMs };

  function refuse(x: Exchange, r: Refusal, close = r.close): void {
    responder.json(x, r.status, r.body, r.headers, close);
  }

  return (res, uwsReq) => {
    const x = openExchange(res);
    const headers: Record<string, string> = {};
    uwsReq.forEach((k, v) => {
      // Repeated X-Forwarded-For lines are one list (RFC 9110 §5.3): a proxy may add its own line
      // rather than extend the client's, and keeping only one would let the client's win.
      headers[k] = k === FORWARDED_FOR_HEADER && headers[k] !== undefined ? `${headers[k]}, ${v}` : v;
    });
    const client = access.clientAddress(canonicalRemoteAddress(res.getRemoteAddressAsText()), headers[FORWARDED_FOR_HEADER]);
    const req: Request = {
      method: uwsReq.getMethod().toUpperCase(),
      path: uwsReq.getUrl(),
      rawQuery: uwsReq.getQuery() ?? '',
      headers,
      remoteAddress: client.address,
      contentType: mediaType(headers['content-type']),
    };
    x.requestId = requestIdFor(headers[REQUEST_ID_HEADER]);
    x.method = req.method;
    x.remoteAddress = req.remoteAddress;
    if (client.refusal !== undefined) return refuse(x, client.refusal);
    const early = access.networkRefusal(req.remoteAddress) ?? access.hostRefusal(headers.host);
    if (early !== undefined) return refuse(x, early);
    if (state.shuttingDown) return responder.json(x, 503, { error: 'server is shutting down' }, undefined, true);
    const slot = limiter.tryOpen(req.remoteAddress);
    if (slot !== 'ok') return refuse(x, limiter.refusal(slot, req.remoteAddress));
    x.release = () => limiter.close(req.remoteAddress);

    const match = router.match(req.method, req.path);
    if (match.kind === 'none') return responder.json(x, 404, { error: `no route for ${req.method} ${req.path}` });
    if (match.kind === 'wrong_method') {
      return responder.json(x, 405, { error: `${req.method} is not allowed on ${req.path}; use ${match.allowed.join(', ')}` }, { allow: match.allowed.join(', ') });
    }
    x.route = match.pattern;
    const lengthHeader = headers['content-length'];
    const declaredLength = lengthHeader === undefined ? undefined : Number(lengthHeader);
    if (declaredLength !== undefined && !(Number.isSafeInteger(declaredLength) && declaredLength >= 0)) {
      return responder.json(x, 400, { error: `content-length=${JSON.stringify(lengthHeader)} is not a byte count` }, undefined, true);
    }
    if (declaredLength !== undefined && declaredLength > limits.maxBytes) {
      return responder.refuseOversizedBody(x, `content-length ${declaredLength} passes collector.max_body_bytes=${limits.maxBytes}`, declaredLength, limits.timeoutMs);
    }
    const hasBody = (declaredLength !== undefined && declaredLength > 0) || headers['transfer-encoding'] !== undefined;
    const body = hasBody ? readBody(x, responder, declaredLength, limits) : undefined;
    const definition = match.value;

    const proceed = (result: AuthResult | undefined): void => {
      if (x.done || x.aborted) {
        body?.cancel();
        return;
      }
      // Refused credentials (401) are recorded by the authenticator's failure hook instead,
      // once per refusal whatever the route.
      if (isAuditedRoute(definition) && (result === undefined || result.ok)) {
        x.audit = {
          actor: result?.ok === true ? result.principal.id : 'anonymous',
          tenant: result?.ok === true ? result.principal.tenant : '*',
          action: `${req.method} ${match.pattern}`,
          target: auditTarget(match.params),
        };
      }
      const refusal = result === undefined ? undefined : access.accessRefusal(result, definition.access, `${req.method} ${match.pattern}`);
      if (refusal !== undefined) {
        body?.cancel();
        return refuse(x, refusal, refusal.close || (body !== undefined && !body.complete));
      }
      const principal = result?.ok === true ? result.principal : undefined;
      x.tenant = principal?.tenant;
      if (definition === INGEST_ROUTE) return ingest(x, req, body, principal!);
      void dispatch(x, req, definition, match, body, principal);
    };

    if (!access.needsCredentials(definition.access, headers.authorization, headers.cookie)) return proceed(undefined);
    let result: AuthResult | Promise<AuthResult>;
    try {
      result = access.authenticate({
        authorization: definition.acceptsTokenScheme === true ? influxTokenAsBearer(headers.authorization) : headers.authorization,
        tenantHeader: headers['x-emms-tenant'], remoteAddress: req.remoteAddress,
        cookie: headers.cookie, method: req.method, csrfToken: headers['x-emms-csrf'],
      });
    } catch (err) {
      result = Promise.reject(err);
    }
    if (!(result instanceof Promise)) return proceed(result);
    result.then(proceed, (err: unknown) => {
      body?.cancel();
      responder.error(x, err, body !== undefined && !body.complete);
    });
  };

  async function dispatch(x: Exchange, req: Request, definition: RouteDefinition, match: Extract<RouteMatch<RouteDefinition>, { kind: 'found' }>, body: BodyRead | undefined, principal: Principal | undefined): Promise<void> {
    let counted = false;
    try {
      let parsed: unknown;
      let raw: Uint8Array | undefined = definition.bodyFormat === 'raw' ? new Uint8Array(0) : undefined;
      if (body !== undefined) {
        // Not counted as work while the body arrives: shutdown must not wait on a client
        // that stalls mid-body (the body deadline ends that wait anyway).
        const bytes = await body.done;
        if (bytes === undefined) return;
        if (raw !== undefined) raw = bytes;
        else parsed = parseBody(bytes, req.contentType);
      }
      state.activeWork++;
      counted = true;
      const request: HttpRequest = {
        method: req.method as HttpMethod,
        path: req.path,
        params: match.params,
        query: new URLSearchParams(req.rawQuery),
        headers: req.headers,
        body: parsed,
        ...(raw !== undefined ? { rawBody: raw } : {}),
        remoteAddress: req.remoteAddress,
        principal,
      };
      // Before the handler: unknown, missing and invalid parameters are one 400 (strict_params.ts).
      checkRequest(definition, request.query, request.body);
      if (definition === OPENAPI_ROUTE) {
        openApi ??= JSON.stringify(openApiDocument(router.values()));
        return responder.spec(x, { body: openApi, contentType: CONTENT_TYPE_JSON });
      }
      responder.spec(x, await definition.handler(request));
    } catch (err) {
      responder.error(x, err);
    } finally {
      if (counted) state.activeWork--;
    }
  }

  function ingest(x: Exchange, req: Request, body: BodyRead | undefined, principal: Principal): void {
    const { contentType } = req;
    if (contentType !== CONTENT_TYPE_JSON && !CONTENT_TYPES_MSGPACK.has(contentType)) {
      body?.cancel();
      const error = `content-type ${JSON.stringify(req.headers['content-type'] ?? '')} is not supported; send ${CONTENT_TYPE_JSON}, ${CONTENT_TYPE_MSGPACK} or application/x-msgpack`;
      return responder.json(x, 415, { error }, undefined, body !== undefined && !body.complete);
    }
    const query = new URLSearchParams(req.rawQuery);
    let policy;
    try {
      checkRequest(INGEST_ROUTE, query, undefined);
      policy = timestampPolicy(query.get(PRECISION_PARAMETER));
    } catch (err) {
      body?.cancel();
      return responder.error(x, err, body !== undefined && !body.complete);
    }
    void (async () => {
      const bytes = body === undefined ? new Uint8Array(0) : await body.done;
      if (bytes === undefined) return;
      state.activeWork++;
      try {
        const r = await ingestHttpBody(deps, bytes, contentType === CONTENT_TYPE_JSON ? 'json' : 'msgpack', principal.tenant, policy);
        if (r.status === 200) {
          deps.metrics.points.http += r.accepted;
          deps.metrics.batches.http++;
          deps.metrics.ingestToAck.observe((performance.now() - x.started) / 1000);
          return responder.json(x, 200, r.body);
        }
        deps.metrics.countNack(r.reason);
        responder.json(x, r.status, r.body, r.body.quota === QUOTA_CONFIG_KEYS.ingestPointsPerSecond ? { 'retry-after': '1' } : undefined);
      } catch (err) {
        deps.metrics.countNack('storage');
        responder.error(x, err);
      } finally {
        state.activeWork--;
      }
    })();
  }
}
