/**
 * The WebSocket of the dashboard's live updates, `/api/v1/live` (protocol in live_hub.ts).
 *
 * The upgrade passes the server's one gate (src/server/ws_upgrade_gate.ts), as the ingest stream
 * does, with a capacity check of the hub's own. Reading is enough: the reader role may
 * subscribe. The connection's tenant is its principal's, fixed at the upgrade.
 */
import type { WebSocketBehavior } from 'uWebSockets.js';
import type { AccessControl } from '../server/access_control.js';
import type { ConnectionLimiter } from '../server/connection_limits.js';
import type { ServerLog } from '../server/http_exchange.js';
import { gatedUpgrade } from '../server/ws_upgrade_gate.js';
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
  log?: ServerLog | undefined;
}

export function liveSocketBehavior(hub: LiveHub, ctx: LiveSocketContext): WebSocketBehavior<LiveData> {
  const { access, limiter } = ctx;
  return {
    maxPayloadLength: MAX_CLIENT_FRAME_BYTES,
    maxBackpressure: MAX_BUFFERED_BYTES * 2,
    closeOnBackpressureLimit: 1,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    upgrade: gatedUpgrade<LiveData>({
      access, limiter, state: ctx.state, log: ctx.log,
      route: `ws:${LIVE_PATH}`,
      role: 'reader',
      what: `the live updates ${LIVE_PATH}`,
      capacityRefusal: () => (hub.full ? { status: 503, body: { error: 'too many live connections on this server; retry later' }, close: true } : undefined),
      admit: (principal, remoteAddress) => ({ principal, remoteAddress, client: undefined }),
    }),
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
}
