/**
 * The WebSocket of the dashboard's live updates, `/api/v1/live` (protocol in live_hub.ts).
 *
 * The upgrade passes the same checks as the ingest stream (src/server/ws_stream.ts): network,
 * blocklist, Host, Origin (only this server's own pages may open it), the per-address connection
 * cap, then authentication, by `Authorization` or, from a browser, by a single-use WebSocket
 * ticket in `Sec-WebSocket-Protocol` (src/auth/ws_tickets.ts). Reading is enough: the reader
 * role may subscribe. The connection's tenant is its principal's, fixed at the upgrade.
 */
import type { HttpRequest as UwsRequest, HttpResponse as UwsResponse, WebSocketBehavior, us_socket_context_t } from 'uWebSockets.js';
import type { AuthResult } from '../auth/authenticator.js';
import { WS_PROTOCOL, ticketFromProtocols } from '../auth/ws_tickets.js';
import { authRefusal, roleRefusal, type AccessControl, type Refusal } from '../server/access_control.js';
import type { ConnectionLimiter } from '../server/connection_limits.js';
import { statusLine } from '../server/http_exchange.js';
import { canonicalRemoteAddress } from '../server/remote_address.js';
import type { Principal } from '../http/route.js';
import type { LiveClient, LiveHub } from './live_hub.js';

export const LIVE_PATH = '/api/v1/live';
/** Outgoing bytes a slow client may leave unread; sends past it are dropped (live_hub.ts). */
const MAX_BUFFERED_BYTES = 256 * 1024;
/** Client frames are subscriptions: small. */
const MAX_CLIENT_FRAME_BYTES = 16 * 1024;

interface LiveData {
  principal: Principal;
  remoteAddress: string;
  client: LiveClient | undefined;
}

export interface LiveSocketContext {
  access: AccessControl;
  limiter: ConnectionLimiter;
  state: { shuttingDown: boolean };
}

export function liveSocketBehavior(hub: LiveHub, ctx: LiveSocketContext): WebSocketBehavior<LiveData> {
  const { access, limiter } = ctx;
  return {
    maxPayloadLength: MAX_CLIENT_FRAME_BYTES,
    maxBackpressure: MAX_BUFFERED_BYTES * 2,
    closeOnBackpressureLimit: 1,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => upgrade(res, req, context),
    open: (ws) => {
      const data = ws.getUserData();
      data.client = hub.connect(data.principal, {
        send: (message) => {
          if (ws.getBufferedAmount() > MAX_BUFFERED_BYTES) return false;
          return ws.send(message, false) !== 2;
        },
        close: (code, reason) => ws.end(code, reason),
      });
    },
    message: (ws, message) => ws.getUserData().client?.receive(Buffer.from(message).toString('utf8')),
    close: (ws) => {
      const data = ws.getUserData();
      data.client?.closed();
      limiter.close(data.remoteAddress);
    },
  };

  function upgrade(res: UwsResponse, req: UwsRequest, context: us_socket_context_t): void {
    // Everything of `req` is read now: it is invalid once this callback returns.
    const key = req.getHeader('sec-websocket-key');
    const protocols = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const authorization = req.getHeader('authorization');
    const tenantHeader = req.getHeader('x-emms-tenant');
    const host = req.getHeader('host');
    const origin = req.getHeader('origin');
    const remoteAddress = canonicalRemoteAddress(res.getRemoteAddressAsText());
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const refuse = (r: Refusal): void => {
      if (aborted) return;
      res.writeStatus(statusLine(r.status));
      res.writeHeader('content-type', 'application/json');
      if (r.headers !== undefined) for (const [k, v] of Object.entries(r.headers)) res.writeHeader(k, v);
      res.end(JSON.stringify(r.body), true);
    };
    const early = access.networkRefusal(remoteAddress) ?? access.hostRefusal(host) ?? access.originRefusal(origin, host)
      ?? (ctx.state.shuttingDown ? { status: 503, body: { error: 'server is shutting down' }, close: true } : undefined)
      ?? (hub.full ? { status: 503, body: { error: 'too many live connections on this server; retry later' }, close: true } : undefined);
    if (early !== undefined) return refuse(early);
    const slot = limiter.tryOpen(remoteAddress);
    if (slot !== 'ok') return refuse(limiter.refusal(slot, remoteAddress));

    const finish = (result: AuthResult): void => {
      const refusal = result.ok ? roleRefusal(result.principal, 'reader', `the live updates ${LIVE_PATH}`) : authRefusal(result);
      if (aborted || refusal !== undefined || !result.ok) {
        limiter.close(remoteAddress);
        if (refusal !== undefined) refuse(refusal);
        return;
      }
      const offered = protocols.split(',').some((p) => p.trim() === WS_PROTOCOL);
      const data: LiveData = { principal: result.principal, remoteAddress, client: undefined };
      res.upgrade(data, key, offered ? WS_PROTOCOL : '', extensions, context);
    };
    let result: AuthResult | Promise<AuthResult>;
    try {
      result = access.authenticate({ authorization: authorization || undefined, tenantHeader: tenantHeader || undefined, wsTicket: ticketFromProtocols(protocols), remoteAddress });
    } catch (err) {
      result = Promise.reject(err);
    }
    if (!(result instanceof Promise)) return finish(result);
    result.then((r) => (aborted ? finish(r) : res.cork(() => finish(r))), () => {
      limiter.close(remoteAddress);
      if (!aborted) res.cork(() => refuse({ status: 500, body: { error: 'authentication failed unexpectedly' }, close: true }));
    });
  }
}
