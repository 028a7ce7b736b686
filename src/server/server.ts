/**
 * The network front end: one uWebSockets.js app (native binding only; SSLApp when
 * `security.tls` is set) serving the MessagePack stream on /api/v1/stream (ws_stream.ts),
 * HTTP ingest and query, /health, /metrics, /federate (builtin_routes.ts) and the features'
 * RouteDefinitions, every request checked by access_control.ts first (http_handler.ts).
 *
 * Threads: the main thread owns the sockets (uWS does its I/O in C++) and the engine's single
 * SQLite writer; decode workers (src/ingest/decode_worker.ts) do every per-point step. A
 * connection is pinned to one worker, so its frames decode in order against a warm series
 * table, and the main thread receives columns of (series number, timestamp, value) that go to
 * the engine's group commit as they are (src/ingest/decode_pool.ts).
 * Why not one uWS app per worker thread on a shared port: every ingest batch still has to
 * reach the one writer thread, so those apps would forward frames to the main thread anyway,
 * and every HTTP route would need proxying too; pinning decode work to workers gives the same
 * core usage with one routing table (profiled: socket work is ~5% of the main thread, the
 * engine's ingest most of the rest).
 * Measured trade-off (bench/server_ingest.bench.ts, TSBS rows, 8 connections of 100 hosts
 * each, 2 cores shared with the load generator and other work at load ~4): since the worker
 * hands over columns of series numbers (no per-point object on the main thread) and predicts
 * each connection's points from its previous frame, both modes cost about the same CPU per
 * point (0.85–1.2 M points per server CPU-second with the worker, 0.9–1.0 M decoding on the
 * main thread), and the worker lets the decode run on the second core: the main thread was
 * ~25% idle and the worker ~35% idle at 1.2 M points/s. The default keeps the worker; the
 * bench prints both so the choice can be re-checked.
 *
 * Deadlines: uWS closes a connection that has not sent a complete request within 10 s of
 * connecting or of its previous answer (its fixed HTTP idle timeout, not reset by each byte:
 * a client sending a header a byte a second is cut off, tests/integration/server_limits.test.ts).
 * That is the header deadline; `security.limits.header_timeout_ms` cannot move it in this uWS
 * build. The body deadline is the server's own (http_exchange.ts).
 */
import type { AppOptions, TemplatedApp, WebSocketBehavior, us_listen_socket } from 'uWebSockets.js';
import type { Authenticator } from '../auth/authenticator.js';
import type { ApiStatsRecorder } from '../collectors/api_stats.js';
import type { EmmsConfig } from '../config/config.js';
import type { SecurityConfig } from '../config/security_config.js';
import { ROLES, type RouteDefinition } from '../http/route.js';
import { CollectSeriesTable } from '../ingest/collect_series_table.js';
import { DecodePool } from '../ingest/decode_pool.js';
import { IngestRateLimiter } from '../ingest/ingest_rate.js';
import type { MetricsSystem } from '../model/api.js';
import type { QuotaLookup } from '../tenancy/quota.js';
import { AccessControl } from './access_control.js';
import { INGEST_ROUTE, STREAM_PATH, builtinRoutes } from './builtin_routes.js';
import { ConnectionLimiter } from './connection_limits.js';
import { createHttpHandler } from './http_handler.js';
import { HttpResponder, type AuditedAnswer, type ServerLog } from './http_exchange.js';
import { loadNativeUws } from './native_uws.js';
import { nonListeningSocketsOnPort } from './port_sockets.js';
import { QueryConcurrency } from './query_concurrency.js';
import { threadClock } from './thread_clock.js';
import { Router } from './router.js';
import { SelfMetrics } from './self_metrics.js';
import { loadTls } from './tls.js';
import { StreamServer, type FrameHandler, type ServerState } from './ws_stream.js';

export { errorToResponse } from './http_exchange.js';
export type { FrameContext, FrameHandler } from './ws_stream.js';

export interface ServerOptions {
  /** The engine; queries, /federate and ingest use `engine.forTenant(principal.tenant)`. */
  engine: MetricsSystem;
  config: EmmsConfig;
  /** Checks the credentials of every request whose route is not public, and of every stream upgrade. */
  authenticator: Authenticator;
  /** Network controls, TLS, limits; default `config.security`. */
  security?: SecurityConfig;
  /** Per-tenant quotas in force (ingest points per second, query concurrency). */
  quotas: QuotaLookup;
  /** Feature routes (keys, alerts, analytics …), mounted next to the built-in ones. */
  routes?: RouteDefinition[];
  frameHandlers?: Record<string, FrameHandler>;
  /** Other protocols' decode-worker codecs, name → module URL (src/ingest/protocol_codec.ts). */
  codecs?: Readonly<Record<string, string>>;
  /**
   * Where every answered HTTP request (route pattern or `unmatched`, status, duration) and
   * stream frame is recorded, once: GET /metrics renders it, and the app hands the same
   * recorder to the `application.api.*` collector. Default: a recorder of the server's own.
   */
  requestStats?: ApiStatsRecorder;
  ipBlocklist?: { isBlocked(ip: string): boolean };
  /** Features' own Prometheus text (alerting cycle time, …), appended to GET /metrics. */
  extraMetrics?: () => string;
  /** Further components of GET /health with credentials (builtin_routes.ts). */
  extraHealth?: () => Record<string, unknown>;
  /** Where answers of audited routes go (src/http/route.ts isAuditedRoute); the app passes the audit trail. */
  audit?: (answer: AuditedAnswer) => void;
  /** Diagnostics (listen address, shutdown steps, 500s with their request id); silent by default. */
  log?: ServerLog;
  /**
   * Runs in listen() once the decode workers are up, right before the port is bound: a node
   * taking over from its standby forwarder frees the port here (src/app/emms_app.ts), so the
   * port is without a listener for this step only, not for the workers' start-up.
   */
  beforeListen?: () => Promise<void>;
  /**
   * Further WebSocket paths (the dashboard's live updates); each builds its upgrade on the
   * server's one gate (ws_upgrade_gate.ts) with the access control, limiter, state and log given.
   */
  sockets?: ReadonlyArray<{ path: string; behavior(ctx: { access: AccessControl; limiter: ConnectionLimiter; state: ServerState; log: ServerLog }): WebSocketBehavior<any> }>;
}

export interface TlsReloadResult {
  /** True when new connections get the new certificate. */
  applied: boolean;
  detail: string;
}

export interface EmmsServer {
  /** Starts the decode workers and listens on config.host:config.port (0 = ephemeral). */
  listen(): Promise<{ port: number }>;
  /** Stops accepting, finishes in-flight batches and replies, closes every connection. */
  close(): Promise<void>;
  /**
   * Re-reads and checks `security.tls`' files (SIGHUP). Throws TlsFilesError for bad files,
   * leaving the running certificate in place; see the method for when the new one applies.
   */
  reloadTls(): Promise<TlsReloadResult>;
  /** Bound port; 0 before listen(). */
  readonly port: number;
  readonly metrics: SelfMetrics;
  /**
   * Every HTTP route mounted (built-in, ingest, features), each with its access: the table the
   * role × route × tenant matrix test is generated from. The stream (`ws:/api/v1/stream`,
   * writer) is not an HTTP route.
   */
  readonly routes: readonly RouteDefinition[];
  /**
   * The decode pool and the ingest rate limiter, for the routes of other protocols
   * (src/interop/): they decode in the same workers and charge the same per-tenant bucket.
   */
  readonly ingest: { readonly pool: DecodePool; readonly rate: IngestRateLimiter };
}

const HTTP_METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
const ACCESS_VALUES: ReadonlySet<string> = new Set(['public', ...ROLES]);
const CLOSE_GOING_AWAY = 1001;
const CLOSE_POLICY_VIOLATION = 1008;
/**
 * How often open streams' credentials are checked again (streams authenticate only at the
 * upgrade): a revoked or expired key's streams close within this. One SQLite read per distinct
 * key per sweep, off the frame path.
 */
const CREDENTIAL_SWEEP_MS = 2_000;
/** uWS's fixed HTTP idle timeout, the effective header deadline (see the header comment). */
const UWS_HTTP_IDLE_TIMEOUT_MS = 10_000;

/** `close()` is in this uWS build but missing from its type declarations. */
function closeApp(app: TemplatedApp): void {
  (app as unknown as { close(): void }).close();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function createServer(options: ServerOptions): EmmsServer {
  const uws = loadNativeUws();
  const { engine, config } = options;
  const security = options.security ?? config.security;
  const log: ServerLog = options.log ?? (() => undefined);
  const metrics = new SelfMetrics(options.requestStats);
  const frameHandlers = options.frameHandlers ?? {};
  const state: ServerState = { shuttingDown: false, activeWork: 0 };
  const pool = new DecodePool({
    threads: config.collector.decodeThreads,
    maxPointsPerBatch: config.collector.batchSize,
    customFrameNames: Object.keys(frameHandlers),
    ...(options.codecs === undefined ? {} : { codecs: { ...options.codecs } }),
    // The engine's resolved path when it has one: series validated and looked up once per
    // (worker, tenant) table, then points go to the group commit as the worker's own columns.
    createSeriesTable: (tenant) => {
      const view = engine.forTenant(tenant);
      return view.createSeriesTable !== undefined ? view.createSeriesTable() : new CollectSeriesTable(view);
    },
  });
  // Checked now, so that a server with unreadable or mismatched TLS files refuses to start.
  let tls = security.tls === undefined ? undefined : loadTls(security.tls);
  const rate = new IngestRateLimiter(options.quotas);
  const limiter = new ConnectionLimiter(security.limits);
  const access = new AccessControl({ security, authenticator: options.authenticator, bindHost: config.host, tls: tls !== undefined, ipBlocklist: options.ipBlocklist });
  const responder = new HttpResponder({ metrics, log, audit: options.audit });
  const stream = new StreamServer({ config, pool, rate, metrics, frameHandlers, access, limiter, state, log });

  const router = new Router<RouteDefinition>();
  const builtIn = builtinRoutes({
    engine, metrics, extraMetrics: options.extraMetrics, extraHealth: options.extraHealth,
    limits: { maxSeries: config.query.maxSeries, maxPoints: config.query.maxPoints },
    metricsAccess: security.metricsAccess,
    // Created here, on the main thread: the clock is that of the thread that opens it.
    queries: new QueryConcurrency(options.quotas, { clock: threadClock() }),
    status: () => ({ shuttingDown: state.shuttingDown, wsConnections: stream.size, decodeThreads: pool.threads }),
  });
  const routes: readonly RouteDefinition[] = Object.freeze([...builtIn, INGEST_ROUTE, ...(options.routes ?? [])]);
  for (const r of routes) {
    if (!HTTP_METHODS.has(r.method)) throw new Error(`route ${r.pattern}: method ${String(r.method)} is not one of ${[...HTTP_METHODS].join(', ')}`);
    if (!ACCESS_VALUES.has(r.access)) throw new Error(`route ${r.method} ${r.pattern}: access ${JSON.stringify(r.access)} is not one of ${[...ACCESS_VALUES].join(', ')}`);
    router.add(r.method, r.pattern, r);
  }
  const extraSockets = (options.sockets ?? []).map((s) => ({ path: s.path, behavior: s.behavior({ access, limiter, state, log }) }));
  const onHttp = createHttpHandler({ config, router, responder, access, limiter, state, pool, rate, metrics, bodyTimeoutMs: security.limits.bodyTimeoutMs });

  function buildApp(tlsOptions: AppOptions | undefined): TemplatedApp {
    const app = tlsOptions === undefined ? uws.App() : uws.SSLApp(tlsOptions);
    app.ws(STREAM_PATH, stream.behavior());
    for (const s of extraSockets) app.ws(s.path, s.behavior);
    app.any('/*', onHttp);
    return app;
  }

  /** uWS calls the listen callback before `listen` returns. */
  function listenNow(app: TemplatedApp, port: number): us_listen_socket | false {
    let socket: us_listen_socket | false = false;
    app.listen(config.host, port, (s) => {
      socket = s;
    });
    return socket;
  }

  let app = buildApp(tls?.appOptions);
  /** Apps replaced by reloadTls while they still served connections; closed with the server. */
  const retired: TemplatedApp[] = [];
  let listenSocket: us_listen_socket | undefined;
  let boundPort = 0;
  let credentialSweep: NodeJS.Timeout | undefined;

  async function reloadTls(): Promise<TlsReloadResult> {
    if (security.tls === undefined) throw new Error('reloadTls: security.tls is not set; this server speaks plain HTTP');
    const next = loadTls(security.tls);
    if (listenSocket === undefined) {
      tls = next;
      app = buildApp(next.appOptions);
      return { applied: true, detail: `loaded ${next.summary} (not listening yet)` };
    }
    const nextApp = buildApp(next.appOptions);
    // A uWS build that listens with SO_REUSEPORT takes a second listener on the port: new
    // connections then reach the new app while the old one finishes its connections.
    const second = listenNow(nextApp, boundPort);
    if (second !== false) {
      uws.us_listen_socket_close(listenSocket);
      retired.push(app);
      [app, listenSocket, tls] = [nextApp, second, next];
      log('info', `TLS reloaded: ${next.summary}`);
      return { applied: true, detail: `new connections get ${next.summary}` };
    }
    // This build has no SO_REUSEPORT (nor SO_REUSEADDR): the port can change hands only while
    // no connection is on it, not even one in TIME_WAIT. Then the listener is given up and
    // taken again at once, all in this synchronous block, so no connection can be accepted in
    // between (ones the kernel queued are reset and retried by their clients).
    const held = nonListeningSocketsOnPort(boundPort);
    if (held === 0) {
      uws.us_listen_socket_close(listenSocket);
      const again = listenNow(nextApp, boundPort);
      if (again !== false) {
        closeApp(app);
        [app, listenSocket, tls] = [nextApp, again, next];
        log('info', `TLS reloaded: ${next.summary}`);
        return { applied: true, detail: `new connections get ${next.summary}` };
      }
      const back = listenNow(app, boundPort);
      listenSocket = back === false ? undefined : back;
      if (back === false) log('error', `TLS reload lost the listener on ${config.host}:${boundPort}; restart the server`);
    }
    closeApp(nextApp);
    const why = held === undefined ? 'its sockets cannot be inspected (/proc/net/tcp)' : `${held} connection(s) are open or in TIME_WAIT on it`;
    return {
      applied: false,
      detail: `the new files are valid (${next.summary}) but the port cannot change hands now: this uWebSockets.js build cannot listen twice on ${config.host}:${boundPort} and ${why}; reload again when idle, or restart to apply`,
    };
  }

  return {
    metrics,
    routes,
    ingest: { pool, rate },
    reloadTls,
    get port() {
      return boundPort;
    },
    async listen() {
      if (security.limits.headerTimeoutMs !== UWS_HTTP_IDLE_TIMEOUT_MS) {
        log('info', `security.limits.header_timeout_ms=${security.limits.headerTimeoutMs}: uWebSockets.js applies its own fixed ${UWS_HTTP_IDLE_TIMEOUT_MS / 1000} s header deadline`);
      }
      await pool.start();
      try {
        await options.beforeListen?.();
      } catch (err) {
        await pool.close();
        throw err;
      }
      const socket = listenNow(app, config.port);
      if (socket === false) {
        await pool.close();
        throw new Error(`cannot listen on ${config.host}:${config.port} (address in use or not available)`);
      }
      listenSocket = socket;
      boundPort = uws.us_socket_local_port(socket as unknown as Parameters<typeof uws.us_socket_local_port>[0]);
      const stillValid = options.authenticator.stillValid?.bind(options.authenticator);
      if (stillValid !== undefined) {
        credentialSweep = setInterval(() => {
          const closed = stream.closeEnded(stillValid, CLOSE_POLICY_VIOLATION, 'the credential of this stream was revoked or has expired');
          if (closed > 0) log('info', `closed ${closed} stream(s) whose credential was revoked or expired`);
        }, CREDENTIAL_SWEEP_MS);
        credentialSweep.unref();
      }
      if (tls !== undefined) log('info', `TLS: ${tls.summary}`);
      log('info', `listening on ${tls === undefined ? 'http' : 'https'}://${config.host}:${boundPort}`);
      return { port: boundPort };
    },
    async close() {
      if (state.shuttingDown) return;
      state.shuttingDown = true;
      if (credentialSweep !== undefined) clearInterval(credentialSweep);
      if (listenSocket !== undefined) {
        uws.us_listen_socket_close(listenSocket);
        listenSocket = undefined;
      }
      // Let in-flight frames commit and their acks go out before connections close.
      // 6 s leaves the engine's flush room inside the 10 s a supervisor allows.
      const deadline = Date.now() + 6_000;
      while ((state.activeWork > 0 || stream.hasWaiting()) && Date.now() < deadline) {
        stream.pumpAll();
        await sleep(5);
      }
      stream.closeAll(CLOSE_GOING_AWAY, 'server is shutting down');
      await sleep(20);
      for (const a of [app, ...retired]) closeApp(a);
      await pool.close();
      log('info', 'server closed');
    },
  };
}
