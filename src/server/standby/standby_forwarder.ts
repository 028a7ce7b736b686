/**
 * A standby node's listener: while it waits for the writer lease of a PostgreSQL or Redis
 * cluster (src/cluster/writer_lease.ts), it listens on its own host and port and forwards every
 * request to the current writer (the URL the writer published next to its lease), so clients
 * and load balancers can use every node:
 *
 *   HTTP          standby_http_forward.ts: method, path, query, body, Authorization; the
 *                 writer's answer as it is; 413/408 from the standby's own body limits,
 *                 503/504 with Retry-After when the writer cannot answer
 *   WebSocket     standby_ws_relay.ts: the upgrade and then the frames both ways, unchanged;
 *                 acknowledgements are the writer's (after its database committed)
 *   /health, /health/live, /health/ready   answered here: role standby, the writer it
 *                 forwards to (with credentials), ready while that writer answers its own
 *                 readiness probe (standby_writer_watch.ts)
 *
 * Before forwarding, the standby applies the checks that depend on the client's own address
 * and Host (security.allowed_networks, the loopback DNS-rebinding guard, the connection caps),
 * and names the client's address to the writer in X-Forwarded-For (src/server/forwarded_for.ts;
 * the writer believes it when its security.trusted_proxies holds this standby). The client's
 * address is found as the writer finds it: behind this node's own trusted proxies, the one they
 * name. The per-address connection cap counts sockets, before any header: proxies' addresses.
 * Authentication, roles, quotas and everything else are the writer's.
 *
 * Lifecycle: `startStandbyForwarder()` listens (rejects when the port is taken). `handOver(reason)`
 * (this node took the lease, its store is opening) stops forwarding: relayed streams are told
 * to reconnect (close 1012), new requests get 503 with Retry-After and readiness turns false,
 * while the port stays held. `close(reason)` (the normal server is about to listen) lets
 * forwarded requests in flight finish for up to CLOSE_DRAIN_MS, resets what is left and frees
 * the port, so the port is without a listener only between close() and the server's listen.
 * Secrets: nothing here logs a header value.
 *
 * Why node:http and not uWebSockets.js: the relay needs streams with back-pressure on both
 * sides and an upstream client, which node:http and node:net have; a standby's traffic is
 * bounded by its writer's, not by this hop.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Authenticator } from '../../auth/authenticator.js';
import type { EmmsConfig } from '../../config/config.js';
import { AccessControl, type Refusal } from '../access_control.js';
import { ConnectionLimiter } from '../connection_limits.js';
import { canonicalAddressText, ForwardedForError, forwardedForToSend } from '../forwarded_for.js';
import { forwardHttp, WriterAgents } from './standby_http_forward.js';
import { refuseUpgrade, WsRelay } from './standby_ws_relay.js';
import { WriterWatch, type WriterState } from './standby_writer_watch.js';
import type { WriterDirectory } from '../../cluster/writer_lease.js';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

/** Longest wait for the writer's answer to a forwarded request, ms (the writer's own query deadlines are shorter). */
export const FORWARD_TIMEOUT_MS = 60_000;
/** On close, how long forwarded requests in flight may still finish before their connections are reset. */
const CLOSE_DRAIN_MS = 2_000;
/** uWS's fixed header deadline, which the writer applies too (src/server/server.ts). */
const HEADERS_TIMEOUT_MS = 10_000;
const HEALTH_PATHS: ReadonlySet<string> = new Set(['/health', '/health/live', '/health/ready']);

/**
 * The URL other nodes reach this one at: `storage.advertise_url`, or the scheme, host and port
 * it listens on. A wildcard bind (0.0.0.0, ::) names no host, so the first address of a
 * non-loopback interface stands in (in a container: the pod's or the container's own address,
 * which the other nodes of its network reach). Undefined when there is none, or with port 0
 * (the port is only known after the lease): the node writes, but standbys cannot forward to it.
 */
export function clusterAdvertiseUrl(config: Pick<EmmsConfig, 'host' | 'port' | 'storage' | 'security'>, interfaces = networkInterfaces()): string | undefined {
  if (config.storage.advertiseUrl !== undefined) return config.storage.advertiseUrl;
  if (config.port === 0) return undefined;
  const wildcard = config.host === '0.0.0.0' || config.host === '::' || config.host === '';
  const host = wildcard ? interfaceAddress(interfaces, config.host === '::') : config.host;
  if (host === undefined) return undefined;
  return `${config.security.tls === undefined ? 'http' : 'https'}://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

/** The first IPv4 (then, on an IPv6 bind, IPv6 non-link-local) address of a non-loopback interface. */
function interfaceAddress(interfaces: NodeJS.Dict<NetworkInterfaceInfo[]>, ipv6: boolean): string | undefined {
  const all = Object.values(interfaces).flatMap((list) => list ?? []).filter((a) => !a.internal);
  return all.find((a) => a.family === 'IPv4')?.address
    ?? (ipv6 ? all.find((a) => a.family === 'IPv6' && !a.address.toLowerCase().startsWith('fe80:'))?.address : undefined);
}

/** Node's form of an IPv4 client on a dual-stack socket (`::ffff:1.2.3.4`) in the canonical form the access checks use. */
function canonicalAddress(raw: string | undefined): string {
  if (raw === undefined) return '';
  return canonicalAddressText(raw) ?? raw.toLowerCase();
}

/** Who the client is, and the X-Forwarded-For to send on; or the 400 for a header that cannot be read. */
type ClientOf = { ok: true; address: string; forwardedFor: string } | { ok: false; refusal: Refusal };

export interface StandbyForwarderOptions {
  config: EmmsConfig;
  /** Where the current writer is (the writer lease's holder address). */
  directory: WriterDirectory;
  /** This node's advertised URL: a standby never forwards to itself. */
  ownAddress: string | undefined;
  /** Checks credentials for the detailed GET /health only; forwarded requests are authenticated by the writer. */
  authenticator: Authenticator;
  log: Log;
  /** Longest wait for the writer's answer; default FORWARD_TIMEOUT_MS (tests shorten it). */
  forwardTimeoutMs?: number;
}

export interface StandbyForwarder {
  readonly port: number;
  /** The writer as last checked. */
  readonly writer: WriterState;
  /** Stops forwarding (503 from now on, streams closed with 1012); the port stays held. Idempotent. */
  handOver(reason: string): void;
  /** Hands over if not yet done and frees the port; resolves once every connection is closed. Idempotent. */
  close(reason: string): Promise<void>;
}

export async function startStandbyForwarder(options: StandbyForwarderOptions): Promise<StandbyForwarder> {
  const { config, log } = options;
  const security = config.security;
  const tls = security.tls;
  const access = new AccessControl({ security, authenticator: options.authenticator, bindHost: config.host, tls: tls !== undefined });
  const limiter = new ConnectionLimiter(security.limits);
  const agents = new WriterAgents();
  const limits = { maxBodyBytes: config.collector.maxBodyBytes, bodyTimeoutMs: security.limits.bodyTimeoutMs, timeoutMs: options.forwardTimeoutMs ?? FORWARD_TIMEOUT_MS };
  const watch = new WriterWatch(options.directory, options.ownAddress, (now, before) => {
    if (now.reachable) log('info', `standby: forwarding to the writer ${now.address}`);
    else if (before.reachable) log('warn', `standby: the writer is not reachable (${now.problem}); answering 503 until a writer is`);
  });
  const sockets = new Set<Socket>();
  const relays = new Set<WsRelay>();
  let inFlight = 0;
  let handedOver: string | undefined;
  let closing: Promise<void> | undefined;

  const clientOf = (req: IncomingMessage): ClientOf => {
    const socketAddress = canonicalAddress(req.socket.remoteAddress);
    // Node joins repeated X-Forwarded-For lines with ", ", as the writer does.
    const raw = req.headers['x-forwarded-for'];
    const claimed = Array.isArray(raw) ? raw.join(', ') : raw;
    const client = access.clientAddress(socketAddress, claimed);
    if (client.refusal !== undefined) return { ok: false, refusal: client.refusal };
    try {
      return { ok: true, address: client.address, forwardedFor: forwardedForToSend(socketAddress, claimed, security.trustedProxies) };
    } catch (err) {
      if (!(err instanceof ForwardedForError)) throw err;
      return { ok: false, refusal: { status: 400, body: { error: err.message }, close: true } };
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?', 1)[0]!;
    const client = clientOf(req);
    if (!client.ok) return refuse(res, client.refusal);
    const refusal = access.networkRefusal(client.address) ?? access.hostRefusal(req.headers.host);
    if (refusal !== undefined) return refuse(res, refusal);
    if (req.method === 'GET' && HEALTH_PATHS.has(path)) {
      void answerHealth(path, req, res, client.address).catch(() => refuse(res, { status: 500, body: { error: 'internal error' }, close: true }));
      return;
    }
    if (handedOver !== undefined) return refuse(res, { status: 503, body: { error: 'this node is taking over as the writer; retry' }, headers: { 'retry-after': '1' }, close: true });
    const writer = watch.state.address;
    if (writer === undefined) {
      // The body is not read: the connection closes after the answer, so the client sees the 503, not a broken pipe mid-body.
      return refuse(res, { status: 503, body: { error: 'no writer to forward to (a failover may be in progress); retry' }, headers: { 'retry-after': '1' }, close: true });
    }
    inFlight++;
    void forwardHttp(req, res, writer, client.forwardedFor, limits, agents).then((outcome) => {
      if (outcome.kind === 'writer_failed') {
        log('warn', `standby: ${req.method} ${path} → writer ${writer}: ${outcome.why} (answered ${outcome.status})`);
        watch.suspect();
      }
    }, (err: unknown) => {
      log('error', `standby: forwarding ${req.method} ${path} failed: ${(err as Error).message}`);
      refuse(res, { status: 500, body: { error: 'internal error' }, close: true });
    }).finally(() => {
      inFlight--;
    });
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const client = clientOf(req);
    if (!client.ok) return refuseUpgrade(socket, 400, 'Bad Request', client.refusal.body);
    const refusal = access.networkRefusal(client.address) ?? access.hostRefusal(req.headers.host);
    if (refusal !== undefined) return refuseUpgrade(socket, refusal.status, 'Refused', refusal.body, refusal.headers);
    const writer = watch.state.address;
    if (handedOver !== undefined || writer === undefined) {
      return refuseUpgrade(socket, 503, 'Service Unavailable', { error: handedOver !== undefined ? 'this node is taking over as the writer; retry' : 'no writer to forward to (a failover may be in progress); retry' }, { 'retry-after': '1' });
    }
    const relay = new WsRelay(req, socket, head, writer, client.forwardedFor, (end) => {
      relays.delete(relay);
      if (end.writerFailed) {
        log('warn', `standby: stream ${(req.url ?? '').split('?', 1)[0]} relayed to ${writer} ended: ${end.why}`);
        watch.suspect();
      }
    });
    relays.add(relay);
  };

  async function answerHealth(path: string, req: IncomingMessage, res: ServerResponse, clientAddress: string): Promise<void> {
    const state = watch.state;
    if (path === '/health/live') return json(res, 200, { status: 'alive' });
    if (handedOver !== undefined) {
      return path === '/health/ready' ? json(res, 503, { status: 'not_ready', reason: 'taking over as the writer (opening the store)' }) : json(res, 503, { status: 'error', role: 'taking_over' });
    }
    // The writer's address is for callers with credentials, as the writer's own /health components are.
    const publicReason = 'standby: no reachable writer to forward to (details: GET /health with credentials)';
    if (path === '/health/ready') return state.reachable ? json(res, 200, { status: 'ready' }) : json(res, 503, { status: 'not_ready', reason: publicReason });
    const status = state.reachable ? 'ok' : 'error';
    const auth = await access.authenticate({
      authorization: req.headers.authorization, tenantHeader: typeof req.headers['x-emms-tenant'] === 'string' ? req.headers['x-emms-tenant'] : undefined,
      remoteAddress: clientAddress,
    });
    const body: Record<string, unknown> = { status, role: 'standby' };
    if (auth.ok) {
      body.components = {
        writer: {
          status: state.reachable ? 'ok' : 'error', address: state.address ?? null, reachable: state.reachable,
          ...(state.problem === undefined ? {} : { problem: state.problem }),
          checked_at: state.checkedAtMs === 0 ? null : new Date(state.checkedAtMs).toISOString(),
        },
      };
    }
    json(res, state.reachable ? 200 : 503, body);
  }

  const server: Server = tls === undefined ? createHttpServer() : createHttpsServer({
    cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile), minVersion: tls.minVersion === '1.2' ? 'TLSv1.2' : 'TLSv1.3',
    ...(tls.passphraseFile === undefined ? {} : { passphrase: readFileSync(tls.passphraseFile, 'utf8').replace(/\r?\n$/, '') }),
  });
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  // Body deadlines are the forwarder's own (security.limits.body_timeout_ms); streams have none.
  server.requestTimeout = 0;
  server.on('request', onRequest);
  server.on('upgrade', onUpgrade);
  server.on('connection', (socket: Socket) => {
    const address = canonicalAddress(socket.remoteAddress);
    const slot = limiter.tryOpen(address);
    if (slot !== 'ok') {
      const r = limiter.refusal(slot, address);
      refuseUpgrade(socket, r.status, r.status === 429 ? 'Too Many Requests' : 'Service Unavailable', r.body, r.headers);
      return;
    }
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      limiter.close(address);
    });
  });
  server.on('clientError', (_err, socket: Duplex) => {
    if (socket.writable) refuseUpgrade(socket, 400, 'Bad Request', { error: 'malformed HTTP request' });
    else socket.destroy();
  });

  await watch.start();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`standby: cannot listen on ${config.host}:${config.port} (${err.code ?? err.message})`, { cause: err })));
    server.listen({ host: config.host, port: config.port, exclusive: true }, () => resolve());
  }).catch(async (err: unknown) => {
    await watch.stop();
    agents.destroy();
    throw err;
  });
  const port = (server.address() as { port: number }).port;
  const s = watch.state;
  log('warn', `standby: listening on ${tls === undefined ? 'http' : 'https'}://${config.host}:${port} and forwarding to the writer (${s.reachable ? s.address : `none reachable yet: ${s.problem}`})`);

  const forwarder: StandbyForwarder = {
    port,
    get writer() {
      return watch.state;
    },
    handOver(reason: string) {
      if (handedOver !== undefined) return;
      handedOver = reason;
      for (const relay of [...relays]) relay.close(reason);
      void watch.stop();
    },
    close(reason: string) {
      forwarder.handOver(reason);
      closing ??= closeNow(reason);
      return closing;
    },
  };
  return forwarder;

  async function closeNow(reason: string): Promise<void> {
    // Requests in flight finish while the port is still held (new ones get 503): the port is
    // without a listener only from server.close() below until the normal server listens.
    const deadline = performance.now() + CLOSE_DRAIN_MS;
    while ((inFlight > 0 || relays.size > 0) && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await watch.stop();
    agents.destroy();
    const closedAt = performance.now();
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    // A reset rather than a FIN: no socket of ours stays in TIME_WAIT on the port the normal server takes next.
    for (const socket of sockets) socket.resetAndDestroy();
    await stopped;
    log('info', `standby: closed its listener (${reason}); ${sockets.size} connection(s) left, closing took ${Math.round(performance.now() - closedAt)} ms`);
  }
}

function json(res: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function refuse(res: ServerResponse, r: Refusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(r.body);
  res.writeHead(r.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...r.headers, ...(r.close ? { connection: 'close' } : {}) });
  res.end(text);
}
