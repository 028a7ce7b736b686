/**
 * The checks every WebSocket upgrade of this server passes, in order, for the ingest stream
 * (ws_stream.ts) and for any further socket a feature mounts (the dashboard's live updates):
 *
 * 1. the client's address (behind security.trusted_proxies the one their X-Forwarded-For names,
 *    forwarded_for.ts; 400 when that header cannot be read), then network (allowed networks,
 *    blocked addresses), Host and Origin (no DNS rebinding, only this server's own pages from
 *    a browser), shutdown, and the path's own capacity;
 * 2. the per-address and overall connection caps (a slot taken here is given back on every
 *    path that does not end in an open socket);
 * 3. authentication, by `Authorization` or, from a browser, by a single-use ticket offered in
 *    `Sec-WebSocket-Protocol` (src/auth/ws_tickets.ts), then the path's least role; shutdown
 *    is checked again, since authentication may have waited.
 *
 * One gate, so that a check added for one socket (a blocklist, an origin rule) holds for all.
 * Everything of the uWS request is read before the first await: it is invalid once the
 * upgrade callback returns.
 */
import { randomUUID } from 'node:crypto';
import type { HttpRequest as UwsRequest, HttpResponse as UwsResponse, us_socket_context_t } from 'uWebSockets.js';
import type { AuthResult } from '../auth/authenticator.js';
import { WS_PROTOCOL, ticketFromProtocols } from '../auth/ws_tickets.js';
import type { Principal, Role } from '../http/route.js';
import { CONTENT_TYPE_JSON } from '../ingest/wire.js';
import { authRefusal, roleRefusal, type AccessControl, type Refusal } from './access_control.js';
import type { ConnectionLimiter } from './connection_limits.js';
import { statusLine, type ServerLog } from './http_exchange.js';
import { FORWARDED_FOR_HEADER } from './forwarded_for.js';
import { canonicalRemoteAddress } from './remote_address.js';

export interface UpgradeGate<Data> {
  access: AccessControl;
  limiter: ConnectionLimiter;
  state: { readonly shuttingDown: boolean };
  /** The path's name in logs, e.g. `ws:/api/v1/stream`. */
  route: string;
  /** The least role the path needs, and how a refusal names the path. */
  role: Role;
  what: string;
  /** A refusal of the path's own before authentication (e.g. too many live connections). */
  capacityRefusal?: () => Refusal | undefined;
  /** Every refusal answered, with the time the upgrade arrived (for request counters). */
  onRefusal?: (status: number, startedMs: number) => void;
  /** Where an authenticator that threw is reported, under the request id the 500 carries. */
  log?: ServerLog | undefined;
  /** The socket's user data, once admitted. */
  admit: (principal: Principal, remoteAddress: string) => Data;
}

const SHUTTING_DOWN: Refusal = { status: 503, body: { error: 'server is shutting down' }, close: true };

export function gatedUpgrade<Data>(gate: UpgradeGate<Data>): (res: UwsResponse, req: UwsRequest, context: us_socket_context_t) => void {
  const { access, limiter, state } = gate;
  return (res, req, context) => {
    const key = req.getHeader('sec-websocket-key');
    const protocols = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const authorization = req.getHeader('authorization');
    const tenantHeader = req.getHeader('x-emms-tenant');
    const host = req.getHeader('host');
    const origin = req.getHeader('origin');
    let forwardedFor: string | undefined;
    // Every line of a repeated header, as the HTTP handler reads it (getHeader gives the first only).
    req.forEach((k, v) => {
      if (k === FORWARDED_FOR_HEADER) forwardedFor = forwardedFor === undefined ? v : `${forwardedFor}, ${v}`;
    });
    const started = performance.now();
    const client = access.clientAddress(canonicalRemoteAddress(res.getRemoteAddressAsText()), forwardedFor);
    const remoteAddress = client.address;
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const refuse = (r: Refusal): void => {
      gate.onRefusal?.(r.status, started);
      if (aborted) return;
      res.writeStatus(statusLine(r.status));
      res.writeHeader('content-type', CONTENT_TYPE_JSON);
      if (r.headers !== undefined) for (const [k, v] of Object.entries(r.headers)) res.writeHeader(k, v);
      res.end(JSON.stringify(r.body), true);
    };
    if (client.refusal !== undefined) return refuse(client.refusal);
    const early = access.networkRefusal(remoteAddress) ?? access.hostRefusal(host) ?? access.originRefusal(origin, host)
      ?? (state.shuttingDown ? SHUTTING_DOWN : undefined) ?? gate.capacityRefusal?.();
    if (early !== undefined) return refuse(early);
    const slot = limiter.tryOpen(remoteAddress);
    if (slot !== 'ok') return refuse(limiter.refusal(slot, remoteAddress));

    const finish = (result: AuthResult): void => {
      const refusal = result.ok ? roleRefusal(result.principal, gate.role, gate.what) : authRefusal(result);
      if (aborted || refusal !== undefined || !result.ok || state.shuttingDown) {
        limiter.close(remoteAddress);
        if (!aborted) refuse(refusal ?? SHUTTING_DOWN);
        return;
      }
      const offered = protocols.split(',').some((p) => p.trim() === WS_PROTOCOL);
      res.upgrade(gate.admit(result.principal, remoteAddress), key, offered ? WS_PROTOCOL : '', extensions, context);
    };

    let result: AuthResult | Promise<AuthResult>;
    try {
      result = access.authenticate({ authorization: authorization || undefined, tenantHeader: tenantHeader || undefined, wsTicket: ticketFromProtocols(protocols), remoteAddress });
    } catch (err) {
      result = Promise.reject(err);
    }
    // Every authenticator we ship answers at once, so the upgrade happens inside the handler
    // uWS corks itself. An asynchronous answer has to upgrade inside res.cork() from a later
    // task, which uWS 20.30 can close right after open (src/auth/jws_signature.ts says how).
    if (!(result instanceof Promise)) return finish(result);
    result.then(
      (r) => {
        if (aborted) limiter.close(remoteAddress);
        else res.cork(() => finish(r));
      },
      (err: unknown) => {
        limiter.close(remoteAddress);
        const requestId = randomUUID();
        gate.log?.('error', `${gate.route} upgrade request_id=${requestId}: authentication failed: ${(err as Error)?.stack ?? String(err)}`);
        if (!aborted) res.cork(() => refuse({ status: 500, body: { error: 'internal error', request_id: requestId }, close: true }));
      },
    );
  };
}
