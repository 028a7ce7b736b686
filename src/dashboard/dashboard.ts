/**
 * The web dashboard as one part of `emms serve`: the session store, the cookie-aware
 * authenticator that wraps the server's token authenticator, the page/asset/session routes and
 * the live-update WebSocket with its hub. src/app/emms_app.ts creates it and hands its pieces
 * to the server; `stop()` ends the hub's timer and connections.
 */
import type { Authenticator } from '../auth/authenticator.js';
import type { RouteDefinition } from '../http/route.js';
import type { MetricsSystem } from '../model/api.js';
import { dashboardRoutes } from './dashboard_routes.js';
import { LiveHub } from './live_hub.js';
import { LIVE_PATH, liveSocketBehavior, type LiveSocketContext } from './live_socket.js';
import { SessionAuthenticator } from './session_authenticator.js';
import { SessionStore, type SessionStoreOptions } from './session_store.js';
import { loadDashboardAssets } from './static_assets.js';

export interface DashboardOptions {
  engine: MetricsSystem;
  /** The server's token authenticator. */
  authenticator: Authenticator;
  /** The server speaks TLS (cookies are then Secure). */
  tls: boolean;
  /** Folder of the built front end; default dist/web/ of this package. */
  webRoot?: string | undefined;
  sessions?: SessionStoreOptions;
  onError?: (err: unknown) => void;
}

export interface Dashboard {
  /** Give this to the server instead of the token authenticator. */
  readonly authenticator: SessionAuthenticator;
  readonly routes: RouteDefinition[];
  readonly sockets: Array<{ path: string; behavior(ctx: LiveSocketContext): ReturnType<typeof liveSocketBehavior> }>;
  readonly hub: LiveHub;
  /** False when dist/web/ holds no built page (`/` then answers 503 naming the fix). */
  readonly built: boolean;
  start(): void;
  stop(): void;
}

export function createDashboard(options: DashboardOptions): Dashboard {
  const sessions = new SessionStore(options.sessions);
  const authenticator = new SessionAuthenticator(options.authenticator, sessions);
  const assets = loadDashboardAssets(options.webRoot);
  const hub = new LiveHub(options.engine, { stillValid: (p) => authenticator.stillValid(p), onError: options.onError });
  return {
    authenticator,
    routes: dashboardRoutes({ assets, sessions, authenticator: options.authenticator, secure: options.tls }),
    sockets: [{ path: LIVE_PATH, behavior: (ctx) => liveSocketBehavior(hub, ctx) }],
    hub,
    built: assets.html !== undefined,
    start: () => hub.start(),
    stop: () => hub.stop(),
  };
}
