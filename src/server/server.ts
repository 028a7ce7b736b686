/**
 * The network front end: one uWebSockets.js app (native binding only) serving the MessagePack
 * stream on /api/v1/stream, HTTP ingest and query, /health, /metrics, /federate and the
 * features' RouteDefinitions.
 *
 * Threads: the main thread owns the sockets (uWS does its I/O in C++) and the engine's single
 * SQLite writer; decode workers (src/server/decode_worker.ts) do every per-point step. A
 * connection is pinned to one worker, so its frames decode in order against a warm series
 * table, and the main thread receives columns of (series number, timestamp, value) that go to
 * the engine's group commit as they are (decode_pool.ts).
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
 * Frame lifecycle: received → reply slot reserved (replies leave in arrival order) → decoded
 * in the worker → the worker's SeriesTable `collect` (resolves after commit) → `{ack}`; any refusal → `{nack}`
 * and nothing stored. A connection holding more than `collector.max_unacked_bytes` in flight
 * gets no new frame started until earlier ones are acknowledged; frames keep queueing (copied)
 * up to the same bound again, then the connection is closed with 1008 and a reason, because
 * this uWS build cannot pause reading a socket.
 */
import type { HttpRequest as UwsRequest, HttpResponse as UwsResponse, TemplatedApp, WebSocket, us_listen_socket } from 'uWebSockets.js';
import type { EmmsConfig } from '../config/config.js';
import type { MetricsSystem } from '../model/api.js';
import { MetricValidationError } from '../model/metric.js';
import { CollectSeriesTable } from './collect_series_table.js';
import { DecodePool, type DecodeOutcome } from './decode_pool.js';
import { HttpError, type HttpMethod, type HttpRequest, type HttpResponseSpec, type RouteDefinition } from '../http/route.js';
import { loadNativeUws } from './native_uws.js';
import { PROMETHEUS_CONTENT_TYPE, renderFederation } from './prometheus_text.js';
import { canonicalRemoteAddress } from './remote_address.js';
import { queryFromBody, queryFromSearchParams, renderQueryResponse, type QueryLimits } from './query_request.js';
import { Router } from './router.js';
import { SelfMetrics, type NackReason } from './self_metrics.js';
import { CONTENT_TYPE_JSON, CONTENT_TYPE_MSGPACK, CONTENT_TYPES_MSGPACK, WireField, createWireUnpackr, encodeAck, encodeNack, type Seq } from './wire.js';

export interface FrameContext {
  remoteAddress: string;
  seq: Seq | null;
}

/** Handles one extra stream frame type, e.g. `{seq, key_events: [...]}`; resolves when durable. */
export type FrameHandler = (items: unknown[], ctx: FrameContext) => Promise<{ accepted: number }>;

export interface ServerOptions {
  engine: MetricsSystem;
  config: EmmsConfig;
  /** Feature routes (keys, alerts, analytics …), mounted next to the built-in ones. */
  routes?: RouteDefinition[];
  frameHandlers?: Record<string, FrameHandler>;
  /** Called once per answered HTTP request with the route pattern (or `unmatched`). */
  onRequest?: (route: string, status: number, durationMs: number) => void;
  ipBlocklist?: { isBlocked(ip: string): boolean };
  /** Features' own Prometheus text (alerting cycle time, …), appended to GET /metrics. */
  extraMetrics?: () => string;
  /** Diagnostics (listen address, shutdown steps); silent by default. */
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}

export interface EmmsServer {
  /** Starts the decode workers and listens on config.host:config.port (0 = ephemeral). */
  listen(): Promise<{ port: number }>;
  /** Stops accepting, finishes in-flight batches and replies, closes every connection. */
  close(): Promise<void>;
  /** Bound port; 0 before listen(). */
  readonly port: number;
  readonly metrics: SelfMetrics;
}

interface ReplySlot {
  bytes: Uint8Array | undefined;
}

interface QueuedFrame {
  /**
   * The frame: uWS's own memory while the message callback runs (a frame started at once is
   * copied out by the decode pool before the callback returns), or a copy of it for a frame
   * held back by backpressure.
   */
  bytes: Uint8Array;
  slot: ReplySlot;
  receivedAt: number;
}

interface StreamConnection {
  /** True while this connection waits in the once-per-turn reply flush. */
  flushQueued: boolean;
  /** Names the connection to its decode worker (≥ 1; 0 is HTTP bodies). */
  stream: number;
  worker: number;
  remoteAddress: string;
  open: boolean;
  replies: ReplySlot[];
  inflightBytes: number;
  waiting: QueuedFrame[];
  waitingBytes: number;
  socket: WebSocket<StreamConnection> | undefined;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 413: 'Payload Too Large',
  415: 'Unsupported Media Type', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error',
  501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
};

const INGEST_PATH = '/api/v1/metrics';
const STREAM_PATH = '/api/v1/stream';
const STREAM_ROUTE = `ws:${STREAM_PATH}`;
/** Ack bytes a client may leave unread before its connection is dropped (about 50,000 acks). */
const MAX_UNREAD_REPLY_BYTES = 1024 * 1024;
const CLOSE_POLICY_VIOLATION = 1008;
/** Bytes of a refused, too-large body still read (and discarded) so its sender sees the 413. */
const OVERSIZE_DRAIN_BYTES = 64 * 1024 * 1024;
const CLOSE_GOING_AWAY = 1001;
const HTTP_METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Status'}`;
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Turns anything a handler or the engine throws into a status and JSON body. */
export function errorToResponse(err: unknown): { status: number; body: Record<string, unknown> } {
  if (err instanceof HttpError) return { status: err.status, body: err.body };
  if (err instanceof MetricValidationError) {
    return { status: 400, body: { error: err.message, index: err.index, field: err.field } };
  }
  const e = err as Error | undefined;
  if (e?.name === 'QueryLimitError') return { status: 422, body: { error: e.message } };
  return { status: 500, body: { error: e?.message ?? String(err) } };
}

export function createServer(options: ServerOptions): EmmsServer {
  const uws = loadNativeUws();
  const { engine, config } = options;
  const log = options.log ?? (() => undefined);
  const metrics = new SelfMetrics();
  const frameHandlers = options.frameHandlers ?? {};
  const pool = new DecodePool({
    threads: config.collector.decodeThreads,
    maxPointsPerBatch: config.collector.batchSize,
    customFrameNames: Object.keys(frameHandlers),
    // The engine's resolved path when it has one: series validated and looked up once per
    // worker table, then points go to the group commit as the worker's own columns.
    createSeriesTable: engine.createSeriesTable !== undefined ? () => engine.createSeriesTable!() : () => new CollectSeriesTable(engine),
  });
  const limits: QueryLimits = { maxSeries: config.query.maxSeries, maxPoints: config.query.maxPoints };
  const bodyUnpackr = createWireUnpackr();
  const connections = new Set<StreamConnection>();
  let listenSocket: us_listen_socket | undefined;
  let boundPort = 0;
  let shuttingDown = false;
  /** Frames and HTTP requests being worked on; close() waits for zero. */
  let activeWork = 0;
  let nextStream = 1;

  // ---------------------------------------------------------------- routes
  const router = new Router<RouteDefinition>();
  const builtIn: RouteDefinition[] = [
    { method: 'GET', pattern: '/api/v1/query', handler: (req) => runQuery(queryFromSearchParams(req.query, limits)) },
    { method: 'POST', pattern: '/api/v1/query', handler: (req) => runQuery(queryFromBody(req.body, limits)) },
    { method: 'GET', pattern: '/health', handler: () => health() },
    {
      method: 'GET', pattern: '/metrics',
      handler: () => ({
        body: metrics.render(engine.running ? engine.stats() : undefined) + (options.extraMetrics?.() ?? ''),
        contentType: PROMETHEUS_CONTENT_TYPE,
      }),
    },
    {
      method: 'GET', pattern: '/federate',
      handler: async (req) => {
        const match = req.query.get('match') ?? req.query.get('match[]');
        if (match === null || match === '') throw new HttpError(400, 'match is required: a glob over metric ids, e.g. match=crypto.*', { error: 'match is required', parameter: 'match' });
        return { body: renderFederation(await engine.latest(match)), contentType: PROMETHEUS_CONTENT_TYPE };
      },
    },
  ];
  for (const r of [...builtIn, ...(options.routes ?? [])]) {
    if (!HTTP_METHODS.has(r.method)) throw new Error(`route ${r.pattern}: method ${String(r.method)} is not one of ${[...HTTP_METHODS].join(', ')}`);
    router.add(r.method, r.pattern, r);
  }
  // The ingest route is served separately (its body goes to a decode worker), but 405s and
  // duplicate checks should know it exists.
  const INGEST_ROUTE: RouteDefinition = {
    method: 'POST',
    pattern: INGEST_PATH,
    handler: () => {
      throw new Error(`BUG: POST ${INGEST_PATH} is answered by ingestHttp, never through the router`);
    },
  };
  router.add('POST', INGEST_PATH, INGEST_ROUTE);

  async function runQuery(query: Parameters<MetricsSystem['queryWithStats']>[0]): Promise<HttpResponseSpec> {
    const started = performance.now();
    try {
      const { series, stats } = await engine.queryWithStats(query);
      return { body: renderQueryResponse(series, stats), contentType: CONTENT_TYPE_JSON };
    } finally {
      metrics.queryLatency.observe((performance.now() - started) / 1000);
    }
  }

  function health(): HttpResponseSpec {
    const components: Record<string, unknown> = {
      server: { status: shuttingDown ? 'stopping' : 'ok', ws_connections: connections.size },
      decoders: { status: 'ok', threads: pool.threads },
    };
    try {
      if (!engine.running) throw new Error('engine is not running');
      engine.checkWritable();
      const s = engine.stats();
      const m = s.maintenance;
      components.storage = {
        status: 'ok', series: s.series, chunks: s.chunks, head_points: s.headPoints, wal_bytes: s.walBytes, disk_bytes: s.diskBytes,
        ...(m === undefined ? {} : {
          pending_cuts: m.pendingCuts, pending_cut_points: m.pendingCutPoints, cuts_encoded_by_writer: m.cutsEncodedByWriter, checkpoint_running: m.checkpointRunning, compaction_running: m.compactionRunning,
          maintenance_failures: m.failures + m.encoderFailures,
          // Writes still succeed (status ok), but an operator should see why maintenance is stuck.
          ...(m.lastError === undefined ? {} : { last_maintenance_error: m.lastError }),
        }),
      };
    } catch (err) {
      components.storage = { status: 'error', error: (err as Error).message };
      return { status: 503, body: { status: 'error', failing: 'storage', components } };
    }
    return { body: { status: 'ok', components } };
  }

  // ---------------------------------------------------------------- HTTP plumbing
  interface Exchange {
    res: UwsResponse;
    aborted: boolean;
    /** Set while a body is being read, so an abort settles the read. */
    onAbort: (() => void) | undefined;
    done: boolean;
    started: number;
    route: string;
  }

  function respond(x: Exchange, status: number, body: string | Uint8Array, contentType: string, headers?: Record<string, string>, closeConnection = false): void {
    if (x.done) return;
    x.done = true;
    metrics.countHttp(x.route, status);
    options.onRequest?.(x.route, status, performance.now() - x.started);
    if (x.aborted) return;
    x.res.cork(() => {
      x.res.writeStatus(statusLine(status));
      x.res.writeHeader('content-type', contentType);
      if (headers !== undefined) for (const [k, v] of Object.entries(headers)) x.res.writeHeader(k, v);
      x.res.end(body, closeConnection);
    });
  }

  function respondJson(x: Exchange, status: number, body: unknown, headers?: Record<string, string>, closeConnection = false): void {
    respond(x, status, JSON.stringify(body), CONTENT_TYPE_JSON, headers, closeConnection);
  }

  function respondSpec(x: Exchange, spec: HttpResponseSpec): void {
    const status = spec.status ?? 200;
    const body = spec.body;
    if (body === undefined) return respond(x, status, '', spec.contentType ?? CONTENT_TYPE_JSON, spec.headers);
    if ((typeof body === 'string' || body instanceof Uint8Array) && spec.contentType !== undefined) {
      return respond(x, status, body, spec.contentType, spec.headers);
    }
    respond(x, status, JSON.stringify(body), CONTENT_TYPE_JSON, spec.headers);
  }

  function respondError(x: Exchange, err: unknown): void {
    const { status, body } = errorToResponse(err);
    if (status >= 500) log('error', `${x.route}: ${(err as Error)?.stack ?? String(err)}`);
    respondJson(x, status, body);
  }

  /**
   * Answers 413 for a body past the limit. A client still writing a body it cannot know is
   * refused gets a broken pipe instead of the answer when the connection closes under it (Node's
   * fetch then reports EPIPE, not the 413), so a body up to OVERSIZE_DRAIN_BYTES long is read to
   * its end and discarded first; a longer one is cut off at once.
   */
  function refuseOversizedBody(x: Exchange, message: string, declaredLength: number): void {
    if (declaredLength > OVERSIZE_DRAIN_BYTES) {
      respondJson(x, 413, { error: message }, undefined, true);
      return;
    }
    x.res.onData((_chunk, isLast) => {
      if (isLast) respondJson(x, 413, { error: message });
    });
  }

  /**
   * Reads the whole body, refusing past `limit` bytes. Resolves undefined when the client went
   * away or the limit was passed (the 413 is already sent).
   */
  function readBody(x: Exchange, declaredLength: number | undefined, limit: number): Promise<Uint8Array | undefined> {
    if (declaredLength === 0) return Promise.resolve(new Uint8Array(0));
    return new Promise((resolve) => {
      let buf = new Uint8Array(declaredLength ?? 64 * 1024);
      let length = 0;
      let finished = false;
      // A client that hangs up mid-body (or lied about Content-Length and then left) never
      // delivers its last chunk; the abort settles the read instead.
      x.onAbort = () => {
        if (!finished) {
          finished = true;
          resolve(undefined);
        }
      };
      let drained = -1;
      x.res.onData((chunk, isLast) => {
        if (drained >= 0) {
          drained += chunk.byteLength;
          if (isLast || drained > OVERSIZE_DRAIN_BYTES) respondJson(x, 413, { error: `body passes collector.max_body_bytes=${limit}` }, undefined, !isLast);
          return;
        }
        if (finished) return;
        const bytes = new Uint8Array(chunk);
        if (length + bytes.byteLength > limit) {
          finished = true;
          resolve(undefined);
          // Drained like refuseOversizedBody: the 413 goes out once the client stops writing.
          drained = 0;
          if (isLast) respondJson(x, 413, { error: `body passes collector.max_body_bytes=${limit}` });
          return;
        }
        if (length + bytes.byteLength > buf.byteLength) {
          const grown = new Uint8Array(Math.min(limit, Math.max(buf.byteLength * 2, length + bytes.byteLength)));
          grown.set(buf.subarray(0, length));
          buf = grown;
        }
        buf.set(bytes, length);
        length += bytes.byteLength;
        if (isLast) {
          finished = true;
          resolve(buf.subarray(0, length));
        }
      });
    });
  }

  function parseBody(bytes: Uint8Array, contentType: string): unknown {
    if (bytes.byteLength === 0) return undefined;
    if (contentType === CONTENT_TYPE_JSON) {
      try {
        return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
      } catch (err) {
        throw new HttpError(400, `body is not valid JSON: ${(err as Error).message}`);
      }
    }
    if (CONTENT_TYPES_MSGPACK.has(contentType)) {
      try {
        return bodyUnpackr.unpack(bytes);
      } catch (err) {
        throw new HttpError(400, `body is not valid MessagePack: ${(err as Error).message}`);
      }
    }
    throw new HttpError(415, `content-type ${JSON.stringify(contentType)} is not supported; send ${CONTENT_TYPE_JSON} or ${CONTENT_TYPE_MSGPACK}`);
  }

  function onHttp(res: UwsResponse, req: UwsRequest): void {
    const x: Exchange = { res, aborted: false, onAbort: undefined, done: false, started: performance.now(), route: 'unmatched' };
    res.onAborted(() => {
      x.aborted = true;
      x.onAbort?.();
    });
    const method = req.getMethod().toUpperCase();
    const path = req.getUrl();
    const rawQuery = req.getQuery() ?? '';
    const headers: Record<string, string> = {};
    req.forEach((k, v) => {
      headers[k] = v;
    });
    const remoteAddress = canonicalRemoteAddress(res.getRemoteAddressAsText());
    if (options.ipBlocklist?.isBlocked(remoteAddress) === true) {
      respondJson(x, 403, { error: `client address ${remoteAddress} is blocked` }, undefined, true);
      return;
    }
    if (shuttingDown) {
      respondJson(x, 503, { error: 'server is shutting down' }, undefined, true);
      return;
    }
    const match = router.match(method, path);
    if (match.kind === 'none') {
      respondJson(x, 404, { error: `no route for ${method} ${path}` });
      return;
    }
    if (match.kind === 'wrong_method') {
      respondJson(x, 405, { error: `${method} is not allowed on ${path}; use ${match.allowed.join(', ')}` }, { allow: match.allowed.join(', ') });
      return;
    }
    x.route = match.pattern;
    const lengthHeader = headers['content-length'];
    const declaredLength = lengthHeader === undefined ? undefined : Number(lengthHeader);
    if (declaredLength !== undefined && !(Number.isSafeInteger(declaredLength) && declaredLength >= 0)) {
      respondJson(x, 400, { error: `content-length=${JSON.stringify(lengthHeader)} is not a byte count` }, undefined, true);
      return;
    }
    const hasBody = (declaredLength !== undefined && declaredLength > 0) || headers['transfer-encoding'] !== undefined;
    const contentType = mediaType(headers['content-type']);
    const limit = config.collector.maxBodyBytes;
    if (declaredLength !== undefined && declaredLength > limit) {
      refuseOversizedBody(x, `content-length ${declaredLength} passes collector.max_body_bytes=${limit}`, declaredLength);
      return;
    }
    if (match.value === INGEST_ROUTE) {
      if (contentType !== CONTENT_TYPE_JSON && !CONTENT_TYPES_MSGPACK.has(contentType)) {
        respondJson(x, 415, { error: `content-type ${JSON.stringify(headers['content-type'] ?? '')} is not supported; send ${CONTENT_TYPE_JSON}, ${CONTENT_TYPE_MSGPACK} or application/x-msgpack` }, undefined, hasBody);
        return;
      }
      void ingestHttp(x, hasBody ? declaredLength : 0, contentType === CONTENT_TYPE_JSON ? 'json' : 'msgpack');
      return;
    }
    const definition = match.value;
    void (async () => {
      let counted = false;
      try {
        let body: unknown;
        if (hasBody) {
          // Not counted as work while the body arrives: shutdown must not wait on a client
          // that stalls mid-body.
          const bytes = await readBody(x, declaredLength, limit);
          if (bytes === undefined) return;
          body = parseBody(bytes, contentType);
        }
        activeWork++;
        counted = true;
        const request: HttpRequest = {
          method: method as HttpMethod,
          path,
          params: match.params,
          query: new URLSearchParams(rawQuery),
          headers,
          body,
          remoteAddress,
        };
        respondSpec(x, await definition.handler(request));
      } catch (err) {
        respondError(x, err);
      } finally {
        if (counted) activeWork--;
      }
    })();
  }

  async function ingestHttp(x: Exchange, declaredLength: number | undefined, format: 'json' | 'msgpack'): Promise<void> {
    const bytes = await readBody(x, declaredLength, config.collector.maxBodyBytes);
    if (bytes === undefined) return;
    activeWork++;
    try {
      if (bytes.byteLength === 0) {
        metrics.countNack('empty');
        respondJson(x, 400, { error: `empty body: send {"${WireField.metrics}": [...]}`, index: -1, field: WireField.metrics });
        return;
      }
      // Hand the worker a buffer of its own: `bytes` may be a view into a larger one.
      const owned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
      const outcome = await pool.decode(pool.pickWorker(), owned, format, false);
      if (outcome.kind === 'refused') {
        metrics.countNack(outcome.reason);
        const status = outcome.reason === 'too_large' ? 413 : 400;
        respondJson(x, status, { error: outcome.error, index: outcome.index, field: outcome.field });
        return;
      }
      if (outcome.kind === 'custom') throw new HttpError(400, `${outcome.handler} is only accepted on ${STREAM_PATH}`);
      const { accepted } = await outcome.table.collect(outcome.seriesOf, outcome.timestamps, outcome.values);
      metrics.points.http += accepted;
      metrics.batches.http++;
      metrics.ingestToAck.observe((performance.now() - x.started) / 1000);
      respondJson(x, 200, { [WireField.accepted]: accepted });
    } catch (err) {
      metrics.countNack(err instanceof MetricValidationError || err instanceof HttpError ? 'validation' : 'storage');
      respondError(x, err);
    } finally {
      activeWork--;
    }
  }

  // ---------------------------------------------------------------- WebSocket stream
  function flushReplies(c: StreamConnection): void {
    if (!c.open || c.socket === undefined) {
      // Nobody to tell; drop the slots of finished frames so nothing accumulates.
      while (c.replies.length > 0 && c.replies[0]!.bytes !== undefined) c.replies.shift();
      return;
    }
    if (c.replies.length === 0 || c.replies[0]!.bytes === undefined) return;
    const ws = c.socket;
    ws.cork(() => {
      while (c.replies.length > 0 && c.replies[0]!.bytes !== undefined && c.open) {
        const bytes = c.replies.shift()!.bytes!;
        ws.send(bytes, true);
      }
    });
  }

  /**
   * Replies go out once per event-loop turn per connection: a group commit settles many frames
   * at once, and one corked write for all their acks costs one syscall instead of one each
   * (the per-frame flush showed up as ~6% of the main thread in a row-form profile).
   */
  const flushQueue: StreamConnection[] = [];
  let flushScheduled = false;
  function queueFlush(c: StreamConnection): void {
    if (c.flushQueued) return;
    c.flushQueued = true;
    flushQueue.push(c);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(() => {
        flushScheduled = false;
        const queued = flushQueue.splice(0);
        for (const q of queued) {
          q.flushQueued = false;
          flushReplies(q);
        }
      });
    }
  }

  function replyNow(c: StreamConnection, bytes: Uint8Array): void {
    c.replies.push({ bytes });
    queueFlush(c);
  }

  async function processFrame(c: StreamConnection, bytes: Uint8Array): Promise<{ reply: Uint8Array; status: number }> {
    let outcome: DecodeOutcome;
    try {
      // Copies `bytes` before the first await: they may be uWS memory (see QueuedFrame).
      outcome = await pool.decodeCopy(c.worker, bytes, 'msgpack', true, c.stream);
    } catch (err) {
      metrics.countNack('decode');
      return { reply: encodeNack(null, (err as Error).message), status: 400 };
    }
    if (outcome.kind === 'refused') {
      metrics.countNack(outcome.reason);
      return { reply: encodeNack(outcome.seq, outcome.error), status: 400 };
    }
    if (outcome.kind === 'custom') {
      const handler = frameHandlers[outcome.handler]!;
      try {
        const { accepted } = await handler(outcome.items, { remoteAddress: c.remoteAddress, seq: outcome.seq });
        metrics.batches.ws++;
        return { reply: encodeAck(outcome.seq ?? 0, accepted), status: 200 };
      } catch (err) {
        metrics.countNack('handler');
        return { reply: encodeNack(outcome.seq, (err as Error).message), status: 400 };
      }
    }
    try {
      const { accepted } = await outcome.table.collect(outcome.seriesOf, outcome.timestamps, outcome.values);
      metrics.points.ws += accepted;
      metrics.batches.ws++;
      return { reply: encodeAck(outcome.seq ?? 0, accepted), status: 200 };
    } catch (err) {
      const reason: NackReason = err instanceof MetricValidationError ? 'validation' : 'storage';
      metrics.countNack(reason);
      if (reason === 'storage') log('error', `stream batch refused by storage: ${(err as Error).message}`);
      return { reply: encodeNack(outcome.seq, (err as Error).message), status: reason === 'storage' ? 503 : 400 };
    }
  }

  function startFrame(c: StreamConnection, frame: QueuedFrame): void {
    const size = frame.bytes.byteLength;
    c.inflightBytes += size;
    activeWork++;
    void processFrame(c, frame.bytes).then(({ reply, status }) => {
      frame.slot.bytes = reply;
      c.inflightBytes -= size;
      activeWork--;
      const elapsedMs = performance.now() - frame.receivedAt;
      metrics.ingestToAck.observe(elapsedMs / 1000);
      // Stream frames count as requests of their own route in the self-instrumentation.
      options.onRequest?.(STREAM_ROUTE, status, elapsedMs);
      queueFlush(c);
      pumpWaiting(c);
    });
  }

  function pumpWaiting(c: StreamConnection): void {
    const bound = config.collector.maxUnackedBytes;
    while (c.waiting.length > 0) {
      const next = c.waiting[0]!;
      if (c.inflightBytes > 0 && c.inflightBytes + next.bytes.byteLength > bound) return;
      c.waiting.shift();
      c.waitingBytes -= next.bytes.byteLength;
      startFrame(c, next);
    }
  }

  function onFrame(ws: WebSocket<StreamConnection>, message: ArrayBuffer, isBinary: boolean): void {
    const c = ws.getUserData();
    const receivedAt = performance.now();
    if (!isBinary) {
      metrics.countNack('not_binary');
      replyNow(c, encodeNack(null, 'text frames are not accepted: send each batch as a binary frame holding one MessagePack map'));
      return;
    }
    const size = message.byteLength;
    if (size > config.collector.maxFrameBytes) {
      metrics.countNack('too_large');
      replyNow(c, encodeNack(null, `frame of ${size} bytes passes collector.max_frame_bytes=${config.collector.maxFrameBytes}; split the batch`));
      return;
    }
    if (shuttingDown) {
      metrics.countNack('shutdown');
      replyNow(c, encodeNack(null, 'server is shutting down; nothing of this frame was stored'));
      return;
    }
    // uWS neuters `message` when this callback returns: a frame started now is copied by the
    // decode pool inside startFrame (before any await); one held back is copied here.
    const slot: ReplySlot = { bytes: undefined };
    const bound = config.collector.maxUnackedBytes;
    if (c.waiting.length === 0 && (c.inflightBytes === 0 || c.inflightBytes + size <= bound)) {
      c.replies.push(slot);
      startFrame(c, { bytes: new Uint8Array(message), slot, receivedAt });
      return;
    }
    const frame: QueuedFrame = { bytes: new Uint8Array(message).slice(), slot, receivedAt };
    if (c.waitingBytes + size > bound) {
      metrics.wsConnectionsCutOff++;
      log('warn', `closing stream from ${c.remoteAddress}: more than ${bound} bytes sent ahead of acknowledgements`);
      ws.end(CLOSE_POLICY_VIOLATION, `more than collector.max_unacked_bytes=${bound} unacknowledged; wait for acks`);
      return;
    }
    c.replies.push(slot);
    c.waiting.push(frame);
    c.waitingBytes += size;
  }

  // ---------------------------------------------------------------- app
  const app: TemplatedApp = uws.App();
  app.ws<StreamConnection>(STREAM_PATH, {
    // Frames between max_frame_bytes and this get a clear nack; only beyond it does uWS close
    // the connection itself (1009), so a 32 MiB frame is answered, not dropped.
    maxPayloadLength: Math.max(config.collector.maxFrameBytes * 4, 64 * 1024 * 1024),
    maxBackpressure: MAX_UNREAD_REPLY_BYTES,
    closeOnBackpressureLimit: 1,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const remoteAddress = canonicalRemoteAddress(res.getRemoteAddressAsText());
      if (options.ipBlocklist?.isBlocked(remoteAddress) === true || shuttingDown) {
        res.writeStatus(shuttingDown ? statusLine(503) : statusLine(403)).end(shuttingDown ? 'server is shutting down' : `client address ${remoteAddress} is blocked`, true);
        return;
      }
      const data: StreamConnection = {
        flushQueued: false,
        stream: nextStream++,
        worker: pool.pickWorker(),
        remoteAddress,
        open: true,
        replies: [],
        inflightBytes: 0,
        waiting: [],
        waitingBytes: 0,
        socket: undefined,
      };
      res.upgrade(data, req.getHeader('sec-websocket-key'), req.getHeader('sec-websocket-protocol'), req.getHeader('sec-websocket-extensions'), context);
    },
    open: (ws) => {
      const c = ws.getUserData();
      c.socket = ws;
      connections.add(c);
      metrics.wsConnections = connections.size;
    },
    message: onFrame,
    close: (ws) => {
      const c = ws.getUserData();
      c.open = false;
      c.socket = undefined;
      // Frames not yet started are dropped unacknowledged: the client cannot hear their acks.
      c.waiting.length = 0;
      c.waitingBytes = 0;
      pool.forgetStream(c.worker, c.stream);
      connections.delete(c);
      metrics.wsConnections = connections.size;
    },
  });
  app.any('/*', onHttp);

  return {
    metrics,
    get port() {
      return boundPort;
    },
    async listen() {
      await pool.start();
      const socket = await new Promise<us_listen_socket | false>((resolve) => {
        app.listen(config.host, config.port, (s) => resolve(s));
      });
      if (socket === false) {
        await pool.close();
        throw new Error(`cannot listen on ${config.host}:${config.port} (address in use or not available)`);
      }
      listenSocket = socket;
      boundPort = uws.us_socket_local_port(socket as unknown as Parameters<typeof uws.us_socket_local_port>[0]);
      log('info', `listening on http://${config.host}:${boundPort}`);
      return { port: boundPort };
    },
    async close() {
      if (shuttingDown) return;
      shuttingDown = true;
      if (listenSocket !== undefined) {
        uws.us_listen_socket_close(listenSocket);
        listenSocket = undefined;
      }
      // Let in-flight frames commit and their acks go out before connections close.
      // 6 s leaves the engine's flush room inside the 10 s a supervisor allows.
      const deadline = Date.now() + 6_000;
      while ((activeWork > 0 || [...connections].some((c) => c.waiting.length > 0)) && Date.now() < deadline) {
        for (const c of connections) pumpWaiting(c);
        await sleep(5);
      }
      for (const c of [...connections]) c.socket?.end(CLOSE_GOING_AWAY, 'server is shutting down');
      await sleep(20);
      (app as unknown as { close?: () => void }).close?.();
      await pool.close();
      log('info', 'server closed');
    },
  };
}
