/**
 * The MessagePack stream on /api/v1/stream: authentication at the upgrade, then frames decoded
 * on the connection's pinned worker with its tenant's series table, acknowledged in arrival
 * order, with backpressure.
 *
 * Authentication happens once, at the upgrade, never per frame: the connection keeps the
 * principal (and so the tenant) it was opened with. Credentials: `Authorization: Bearer …`, or
 * for browsers (which cannot set that header on an upgrade) a single-use ticket offered as a
 * `Sec-WebSocket-Protocol` entry `emms.ticket.<ticket>` next to `emms.v1` (src/auth/ws_tickets.ts);
 * the server selects `emms.v1` when offered and never echoes the ticket. The stream ingests,
 * so it needs the writer role.
 *
 * Frame lifecycle: received → reply slot reserved (replies leave in arrival order) → decoded
 * in the worker → the tenant's ingest rate charged → the worker's SeriesTable `collect`
 * (resolves after commit) → `{ack}`; any refusal → `{nack}` and nothing stored. A connection
 * holding more than `collector.max_unacked_bytes` in flight gets no new frame started until
 * earlier ones are acknowledged; frames keep queueing (copied) up to the same bound again, then
 * the connection is closed with 1008 and a reason, because this uWS build cannot pause reading
 * a socket. A frame larger than `collector.max_frame_bytes` never reaches us: uWS's
 * `maxPayloadLength` is that limit, and uWS drops the connection rather than buffer it.
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket, WebSocketBehavior } from 'uWebSockets.js';
import type { EmmsConfig } from '../config/config.js';
import type { Principal } from '../http/route.js';
import { collectDecoded } from '../ingest/collect_decoded.js';
import type { DecodeOutcome, DecodePool } from '../ingest/decode_pool.js';
import type { IngestRateLimiter } from '../ingest/ingest_rate.js';
import { encodeAck, encodeNack, type Seq } from '../ingest/wire.js';
import type { AccessControl } from './access_control.js';
import { INGEST_ACCESS, STREAM_PATH } from './builtin_routes.js';
import type { ConnectionLimiter } from './connection_limits.js';
import type { ServerLog } from './http_exchange.js';
import type { SelfMetrics } from './self_metrics.js';
import { gatedUpgrade } from './ws_upgrade_gate.js';

export interface FrameContext {
  remoteAddress: string;
  seq: Seq | null;
  /** The connection's principal, established at the upgrade. */
  principal: Principal;
}

/** Handles one extra stream frame type, e.g. `{seq, key_events: [...]}`; resolves when durable. */
export type FrameHandler = (items: unknown[], ctx: FrameContext) => Promise<{ accepted: number }>;

/** What the server shares with its parts: close() waits for `activeWork` to reach zero. */
export interface ServerState {
  shuttingDown: boolean;
  /** Frames and HTTP requests being worked on. */
  activeWork: number;
}

export interface StreamDeps {
  config: EmmsConfig;
  pool: DecodePool;
  rate: IngestRateLimiter;
  metrics: SelfMetrics;
  frameHandlers: Record<string, FrameHandler>;
  access: AccessControl;
  limiter: ConnectionLimiter;
  state: ServerState;
  log: ServerLog;
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

export interface StreamConnection {
  /** True while this connection waits in the once-per-turn reply flush. */
  flushQueued: boolean;
  /** Names the connection to its decode worker (≥ 1; 0 is HTTP bodies). */
  stream: number;
  worker: number;
  remoteAddress: string;
  principal: Principal;
  open: boolean;
  replies: ReplySlot[];
  inflightBytes: number;
  waiting: QueuedFrame[];
  waitingBytes: number;
  socket: WebSocket<StreamConnection> | undefined;
}

const STREAM_ROUTE = `ws:${STREAM_PATH}`;
/** Ack bytes a client may leave unread before its connection is dropped (about 50,000 acks). */
const MAX_UNREAD_REPLY_BYTES = 1024 * 1024;
const CLOSE_POLICY_VIOLATION = 1008;

export class StreamServer {
  readonly #deps: StreamDeps;
  readonly #connections = new Set<StreamConnection>();
  /**
   * Replies go out once per event-loop turn per connection: a group commit settles many frames
   * at once, and one corked write for all their acks costs one syscall instead of one each
   * (the per-frame flush showed up as ~6% of the main thread in a row-form profile).
   */
  readonly #flushQueue: StreamConnection[] = [];
  #flushScheduled = false;
  #nextStream = 1;

  constructor(deps: StreamDeps) {
    this.#deps = deps;
  }

  get size(): number {
    return this.#connections.size;
  }

  /** The uWS behaviour for `app.ws(STREAM_PATH, …)`. */
  behavior(): WebSocketBehavior<StreamConnection> {
    const { config, metrics } = this.#deps;
    return {
      // Exactly max_frame_bytes: uWS refuses a larger frame itself before buffering it (it
      // drops the connection), so a hostile client cannot make the server hold 64 MiB messages.
      maxPayloadLength: config.collector.maxFrameBytes,
      maxBackpressure: MAX_UNREAD_REPLY_BYTES,
      closeOnBackpressureLimit: 1,
      idleTimeout: 120,
      sendPingsAutomatically: true,
      upgrade: gatedUpgrade<StreamConnection>({
        access: this.#deps.access,
        limiter: this.#deps.limiter,
        state: this.#deps.state,
        route: STREAM_ROUTE,
        role: INGEST_ACCESS,
        what: `the stream ${STREAM_PATH}`,
        onRefusal: (status, startedMs) => metrics.requests.record(STREAM_ROUTE, status, performance.now() - startedMs),
        log: this.#deps.log,
        admit: (principal, remoteAddress) => ({
          flushQueued: false,
          stream: this.#nextStream++,
          worker: this.#deps.pool.pickWorker(),
          remoteAddress,
          principal,
          open: true,
          replies: [],
          inflightBytes: 0,
          waiting: [],
          waitingBytes: 0,
          socket: undefined,
        }),
      }),
      open: (ws) => {
        const c = ws.getUserData();
        c.socket = ws;
        this.#connections.add(c);
        metrics.wsConnections = this.#connections.size;
      },
      message: (ws, message, isBinary) => this.#onFrame(ws, message, isBinary),
      close: (ws) => {
        const c = ws.getUserData();
        c.open = false;
        c.socket = undefined;
        // Frames not yet started are dropped unacknowledged: the client cannot hear their acks.
        c.waiting.length = 0;
        c.waitingBytes = 0;
        this.#deps.pool.forgetStream(c.worker, c.principal.tenant, c.stream);
        this.#deps.limiter.close(c.remoteAddress);
        this.#connections.delete(c);
        metrics.wsConnections = this.#connections.size;
      },
    };
  }

  /** True while a connection still holds frames not started (close() waits for them). */
  hasWaiting(): boolean {
    for (const c of this.#connections) if (c.waiting.length > 0) return true;
    return false;
  }

  pumpAll(): void {
    for (const c of this.#connections) this.#pumpWaiting(c);
  }

  closeAll(code: number, reason: string): void {
    for (const c of [...this.#connections]) c.socket?.end(code, reason);
  }

  /**
   * Closes the streams whose principal `stillValid` refuses (a revoked or expired API key, an
   * expired JWT), asking once per distinct credential. Returns how many it closed.
   */
  closeEnded(stillValid: (principal: Principal) => boolean, code: number, reason: string): number {
    const verdicts = new Map<string, boolean>();
    let closed = 0;
    for (const c of [...this.#connections]) {
      // Two JWTs of one subject may end at different times: the end is part of the key.
      const key = `${c.principal.id}\u0000${c.principal.expiresAtMs ?? ''}`;
      let valid = verdicts.get(key);
      if (valid === undefined) {
        valid = stillValid(c.principal);
        verdicts.set(key, valid);
      }
      if (!valid) {
        c.socket?.end(code, reason);
        closed++;
      }
    }
    return closed;
  }

  // ---------------------------------------------------------------- frames
  #flushReplies(c: StreamConnection): void {
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

  #queueFlush(c: StreamConnection): void {
    if (c.flushQueued) return;
    c.flushQueued = true;
    this.#flushQueue.push(c);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => {
        this.#flushScheduled = false;
        const queued = this.#flushQueue.splice(0);
        for (const q of queued) {
          q.flushQueued = false;
          this.#flushReplies(q);
        }
      });
    }
  }

  #replyNow(c: StreamConnection, bytes: Uint8Array): void {
    c.replies.push({ bytes });
    this.#queueFlush(c);
  }

  async #processFrame(c: StreamConnection, bytes: Uint8Array): Promise<{ reply: Uint8Array; status: number }> {
    const { metrics, pool } = this.#deps;
    const tenant = c.principal.tenant;
    let outcome: DecodeOutcome;
    try {
      // Copies `bytes` before the first await: they may be uWS memory (see QueuedFrame).
      outcome = await pool.decodeCopy(c.worker, bytes, 'msgpack', true, tenant, c.stream);
    } catch (err) {
      metrics.countNack('decode');
      return { reply: encodeNack(null, (err as Error).message), status: 400 };
    }
    if (outcome.kind === 'custom') {
      const handler = this.#deps.frameHandlers[outcome.handler]!;
      try {
        const { accepted } = await handler(outcome.items, { remoteAddress: c.remoteAddress, seq: outcome.seq, principal: c.principal });
        metrics.batches.ws++;
        return { reply: encodeAck(outcome.seq ?? 0, accepted), status: 200 };
      } catch (err) {
        metrics.countNack('handler');
        return { reply: encodeNack(outcome.seq, (err as Error).message), status: 400 };
      }
    }
    try {
      const result = await collectDecoded(outcome, tenant, this.#deps.rate);
      if (!result.ok) {
        metrics.countNack(result.reason);
        return { reply: encodeNack(outcome.seq, result.error), status: result.status };
      }
      // Stored: the engine copied the points into heads and the write-ahead record.
      if (outcome.kind === 'series') pool.giveBackColumns(c.worker, outcome);
      metrics.points.ws += result.accepted;
      metrics.batches.ws++;
      return { reply: encodeAck(outcome.seq ?? 0, result.accepted), status: 200 };
    } catch (err) {
      metrics.countNack('storage');
      const requestId = randomUUID();
      this.#deps.log('error', `stream batch refused by storage request_id=${requestId}: ${(err as Error)?.stack ?? String(err)}`);
      return { reply: encodeNack(outcome.seq, `storage refused the batch; nothing of it was stored (request_id ${requestId})`), status: 503 };
    }
  }

  #startFrame(c: StreamConnection, frame: QueuedFrame): void {
    const size = frame.bytes.byteLength;
    const state = this.#deps.state;
    c.inflightBytes += size;
    state.activeWork++;
    void this.#processFrame(c, frame.bytes).then(({ reply, status }) => {
      frame.slot.bytes = reply;
      c.inflightBytes -= size;
      state.activeWork--;
      const elapsedMs = performance.now() - frame.receivedAt;
      this.#deps.metrics.ingestToAck.observe(elapsedMs / 1000);
      // Stream frames count as requests of their own route in `application.api.*`.
      this.#deps.metrics.requests.recordFrame(STREAM_ROUTE, status, elapsedMs);
      this.#queueFlush(c);
      this.#pumpWaiting(c);
    });
  }

  #pumpWaiting(c: StreamConnection): void {
    const bound = this.#deps.config.collector.maxUnackedBytes;
    while (c.waiting.length > 0) {
      const next = c.waiting[0]!;
      if (c.inflightBytes > 0 && c.inflightBytes + next.bytes.byteLength > bound) return;
      c.waiting.shift();
      c.waitingBytes -= next.bytes.byteLength;
      this.#startFrame(c, next);
    }
  }

  #onFrame(ws: WebSocket<StreamConnection>, message: ArrayBuffer, isBinary: boolean): void {
    const { metrics, state } = this.#deps;
    const c = ws.getUserData();
    const receivedAt = performance.now();
    if (!isBinary) {
      metrics.countNack('not_binary');
      this.#replyNow(c, encodeNack(null, 'text frames are not accepted: send each batch as a binary frame holding one MessagePack map'));
      return;
    }
    if (state.shuttingDown) {
      metrics.countNack('shutdown');
      this.#replyNow(c, encodeNack(null, 'server is shutting down; nothing of this frame was stored'));
      return;
    }
    const size = message.byteLength;
    // uWS neuters `message` when this callback returns: a frame started now is copied by the
    // decode pool inside startFrame (before any await); one held back is copied here.
    const slot: ReplySlot = { bytes: undefined };
    const bound = this.#deps.config.collector.maxUnackedBytes;
    if (c.waiting.length === 0 && (c.inflightBytes === 0 || c.inflightBytes + size <= bound)) {
      c.replies.push(slot);
      this.#startFrame(c, { bytes: new Uint8Array(message), slot, receivedAt });
      return;
    }
    const frame: QueuedFrame = { bytes: new Uint8Array(message).slice(), slot, receivedAt };
    if (c.waitingBytes + size > bound) {
      metrics.wsConnectionsCutOff++;
      this.#deps.log('warn', `closing stream from ${c.remoteAddress}: more than ${bound} bytes sent ahead of acknowledgements`);
      ws.end(CLOSE_POLICY_VIOLATION, `more than collector.max_unacked_bytes=${bound} unacknowledged; wait for acks`);
      return;
    }
    c.replies.push(slot);
    c.waiting.push(frame);
    c.waitingBytes += size;
  }
}
