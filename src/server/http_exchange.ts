/**
 * One HTTP request/response over uWebSockets.js: writing answers (once, corked, counted),
 * reading bodies, and turning thrown errors into answers.
 *
 * Bodies are allocated as they arrive: a buffer grows with the bytes received (doubling, up to
 * `collector.max_body_bytes`), never to the declared Content-Length up front, so a client that
 * declares 16 MiB and sends nothing costs nothing. uWS stops its own timeout once a request's
 * headers are parsed and hands the body to us, so a body deadline is ours to keep
 * (`security.limits.body_timeout_ms`): a sender still short of its body then is answered 408
 * and its connection closed.
 *
 * Errors: HttpError, validation and quota errors answer with what they say; anything else is a
 * 500 `{error: "internal error", request_id}` whose real message goes to the log with the same
 * id, never to the client.
 */
import { randomUUID } from 'node:crypto';
import type { HttpResponse as UwsResponse } from 'uWebSockets.js';
import type { AuditEvent } from '../audit/audit_record.js';
import { HttpError, type HttpResponseSpec } from '../http/route.js';
import { CONTENT_TYPE_JSON, CONTENT_TYPE_MSGPACK, CONTENT_TYPES_MSGPACK, createWireUnpackr } from '../ingest/wire.js';
import { MetricValidationError } from '../model/metric.js';
import { QUOTA_CONFIG_KEYS, QuotaExceededError } from '../tenancy/quota.js';
import { WriterLeaseLostError } from '../storage/storage_errors.js';
import { logAnsweredRequest, REQUEST_ID_HEADER } from '../logging/request_log.js';
import type { SelfMetrics } from './self_metrics.js';

/** `fields`: structured extras of the event (src/logging/logger.ts); loggers without structure may ignore them. */
export type ServerLog = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Readonly<Record<string, unknown>>) => void;

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 409: 'Conflict', 413: 'Payload Too Large',
  415: 'Unsupported Media Type', 421: 'Misdirected Request', 422: 'Unprocessable Entity', 429: 'Too Many Requests',
  500: 'Internal Server Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
};

/** Bytes of a refused, too-large body still read (and discarded) so its sender sees the 413. */
const OVERSIZE_DRAIN_BYTES = 64 * 1024 * 1024;
/** First allocation for a body, unless it declared fewer bytes. */
const FIRST_BODY_BUFFER_BYTES = 16 * 1024;

export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Status'}`;
}

export function mediaType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

/** Turns anything a handler or the engine throws into a status and JSON body (500: internal, no message). */
export function errorToResponse(err: unknown): { status: number; body: Record<string, unknown>; headers?: Record<string, string> } {
  if (err instanceof HttpError) return { status: err.status, body: err.body };
  if (err instanceof MetricValidationError) {
    return { status: 400, body: { error: err.message, index: err.index, field: err.field } };
  }
  if (err instanceof QuotaExceededError) {
    const rate = err.quota === 'ingestPointsPerSecond' || err.quota === 'queryConcurrency';
    return {
      status: 429,
      body: { error: err.message, quota: QUOTA_CONFIG_KEYS[err.quota], limit: err.limit },
      ...(rate ? { headers: { 'retry-after': '1' } } : {}),
    };
  }
  const e = err as Error | undefined;
  if (e?.name === 'QueryLimitError') return { status: 422, body: { error: e.message } };
  // A standby takes over the shared store: the client retries on another node.
  if (err instanceof WriterLeaseLostError) return { status: 503, body: { error: err.message }, headers: { 'retry-after': '1' } };
  return { status: 500, body: { error: 'internal error' } };
}

export interface Exchange {
  res: UwsResponse;
  aborted: boolean;
  /** Set while a body is being read, so an abort settles the read. */
  onAbort: (() => void) | undefined;
  done: boolean;
  started: number;
  /** Route pattern once matched, for counters and logs. */
  route: string;
  /** Runs once when the exchange ends (answered or aborted): gives back its connection slot. */
  release: (() => void) | undefined;
  /**
   * Set by the HTTP handler (src/logging/request_log.ts): the answer then carries it as
   * `X-Request-Id` and is logged once as a request event with the method and tenant.
   */
  requestId?: string;
  method?: string;
  tenant?: string;
  remoteAddress?: string;
  /** Set on routes that are audited (src/http/route.ts isAuditedRoute): who acted on what. */
  audit?: { actor: string; tenant: string; action: string; target: string };
}

/** One answered request of an audited route, as the audit log takes it. */
export type AuditedAnswer = Omit<AuditEvent, 'detail'>;

export interface ResponderHooks {
  /** Every answer is recorded once into `metrics.requests` (route, status, duration). */
  metrics: SelfMetrics;
  log: ServerLog;
  /** Every answer of an audited route, once (none on routes that are not audited). */
  audit?: ((answer: AuditedAnswer) => void) | undefined;
}

function outcomeOf(status: number): string {
  if (status < 400) return 'ok';
  return status === 401 || status === 403 ? 'denied' : `error:${status}`;
}

function finish(x: Exchange): void {
  const release = x.release;
  x.release = undefined;
  release?.();
}

/** Starts an exchange for a request uWS handed over; must run inside the uWS handler. */
export function openExchange(res: UwsResponse): Exchange {
  const x: Exchange = { res, aborted: false, onAbort: undefined, done: false, started: performance.now(), route: 'unmatched', release: undefined };
  res.onAborted(() => {
    x.aborted = true;
    x.onAbort?.();
    finish(x);
  });
  return x;
}

export class HttpResponder {
  readonly #hooks: ResponderHooks;

  constructor(hooks: ResponderHooks) {
    this.#hooks = hooks;
  }

  /** Writes the answer once; later calls for the same exchange do nothing. */
  respond(x: Exchange, status: number, body: string | Uint8Array, contentType: string, headers?: Record<string, string>, closeConnection = false): void {
    if (x.done) return;
    x.done = true;
    x.onAbort = undefined;
    const latencyMs = performance.now() - x.started;
    this.#hooks.metrics.requests.record(x.route, status, latencyMs);
    const requestId = x.requestId;
    if (requestId !== undefined) {
      logAnsweredRequest(this.#hooks.log, { requestId, method: x.method ?? '?', route: x.route, status, latencyMs, tenant: x.tenant, remoteAddress: x.remoteAddress });
    }
    // A refused anonymous call changed nothing. Refused credentials are recorded by the
    // authenticator's failure hook (summarized per address under a flood); recording every
    // other refusal of an anonymous caller would let anyone grow the log at will.
    const anonymousRefusal = x.audit?.actor === 'anonymous' && status >= 400;
    if (x.audit !== undefined && !anonymousRefusal) this.#hooks.audit?.({ ...x.audit, source: x.remoteAddress ?? '', requestId: requestId ?? '', outcome: outcomeOf(status) });
    if (!x.aborted) {
      x.res.cork(() => {
        x.res.writeStatus(statusLine(status));
        x.res.writeHeader('content-type', contentType);
        if (requestId !== undefined && headers?.[REQUEST_ID_HEADER] === undefined) x.res.writeHeader(REQUEST_ID_HEADER, requestId);
        if (headers !== undefined) for (const [k, v] of Object.entries(headers)) x.res.writeHeader(k, v);
        x.res.end(body, closeConnection);
      });
    }
    finish(x);
  }

  json(x: Exchange, status: number, body: unknown, headers?: Record<string, string>, closeConnection = false): void {
    this.respond(x, status, JSON.stringify(body), CONTENT_TYPE_JSON, headers, closeConnection);
  }

  spec(x: Exchange, spec: HttpResponseSpec, closeConnection = false): void {
    const status = spec.status ?? 200;
    if (x.audit !== undefined && spec.auditPrincipal !== undefined) x.audit = { ...x.audit, actor: spec.auditPrincipal.id, tenant: spec.auditPrincipal.tenant };
    const body = spec.body;
    if (body === undefined) return this.respond(x, status, '', spec.contentType ?? CONTENT_TYPE_JSON, spec.headers, closeConnection);
    if ((typeof body === 'string' || body instanceof Uint8Array) && spec.contentType !== undefined) {
      return this.respond(x, status, body, spec.contentType, spec.headers, closeConnection);
    }
    this.respond(x, status, JSON.stringify(body), CONTENT_TYPE_JSON, spec.headers, closeConnection);
  }

  /** Answers a thrown error; a 500 carries a request id, and the real message goes to the log only. */
  error(x: Exchange, err: unknown, closeConnection = false): void {
    const { status, body, headers } = errorToResponse(err);
    if (status === 500 && !(err instanceof HttpError)) {
      const requestId = x.requestId ?? randomUUID();
      this.#hooks.log('error', `${x.route} request_id=${requestId}: ${(err as Error)?.stack ?? String(err)}`);
      this.json(x, 500, { ...body, request_id: requestId }, { 'x-request-id': requestId }, closeConnection);
      return;
    }
    this.json(x, status, body, headers, closeConnection);
  }

  /**
   * Answers 413 for a body past the limit. A client still writing a body it cannot know is
   * refused gets a broken pipe instead of the answer when the connection closes under it (Node's
   * fetch then reports EPIPE, not the 413), so a body up to OVERSIZE_DRAIN_BYTES long is read to
   * its end (within the body deadline) and discarded first; a longer one is cut off at once.
   */
  refuseOversizedBody(x: Exchange, message: string, declaredLength: number, deadlineMs: number): void {
    if (declaredLength > OVERSIZE_DRAIN_BYTES) {
      this.json(x, 413, { error: message }, undefined, true);
      return;
    }
    const timer = setTimeout(() => this.json(x, 413, { error: message }, undefined, true), deadlineMs);
    x.onAbort = () => clearTimeout(timer);
    x.res.onData((_chunk, isLast) => {
      if (!isLast) return;
      clearTimeout(timer);
      this.json(x, 413, { error: message });
    });
  }
}

/** A body being read; `done` resolves with the bytes, or undefined when the exchange was answered instead. */
export interface BodyRead {
  readonly done: Promise<Uint8Array | undefined>;
  /** True once every byte arrived (the connection can stay open after an early answer). */
  readonly complete: boolean;
  /** Stops keeping bytes (the request is being refused); the caller answers, closing the connection. */
  cancel(): void;
}

export interface BodyLimits {
  maxBytes: number;
  /** Name of the byte limit in error messages (`collector.max_body_bytes`). */
  maxBytesSetting: string;
  timeoutMs: number;
}

/**
 * Reads the whole body, growing a buffer as chunks arrive. Answers 413 past `maxBytes` (draining
 * what the client still sends) and 408 when the body is not complete within `timeoutMs`; must
 * be called inside the uWS handler (uWS drops body chunks that arrive with no reader).
 */
export function readBody(x: Exchange, responder: HttpResponder, declaredLength: number | undefined, limits: BodyLimits): BodyRead {
  let resolveDone: (bytes: Uint8Array | undefined) => void = () => undefined;
  const done = new Promise<Uint8Array | undefined>((resolve) => {
    resolveDone = resolve;
  });
  const state = { complete: false, settled: false };
  let deadline: ReturnType<typeof setTimeout> | undefined;
  const settle = (bytes: Uint8Array | undefined): void => {
    if (state.settled) return;
    state.settled = true;
    resolveDone(bytes);
  };
  const read: BodyRead = {
    done,
    get complete() {
      return state.complete;
    },
    cancel() {
      // The caller answers now and closes the connection: no deadline is left to keep.
      clearTimeout(deadline);
      settle(undefined);
    },
  };
  if (declaredLength === 0) {
    state.complete = true;
    settle(new Uint8Array(0));
    return read;
  }
  const tooLarge = `body passes ${limits.maxBytesSetting}=${limits.maxBytes}`;
  let drained = -1;
  // Kept until the last byte (also while a refused body is drained), whoever settled the read.
  deadline = setTimeout(() => {
    if (state.complete) return;
    settle(undefined);
    if (drained >= 0) responder.json(x, 413, { error: tooLarge }, undefined, true);
    else responder.json(x, 408, { error: `body not received within security.limits.body_timeout_ms=${limits.timeoutMs}` }, undefined, true);
  }, limits.timeoutMs);
  // A client that hangs up mid-body (or lied about Content-Length and then left) never
  // delivers its last chunk; the abort settles the read instead.
  x.onAbort = () => {
    clearTimeout(deadline);
    settle(undefined);
  };
  let buf = new Uint8Array(0);
  let length = 0;
  x.res.onData((chunk, isLast) => {
    if (isLast) {
      state.complete = true;
      clearTimeout(deadline);
    }
    if (drained >= 0) {
      drained += chunk.byteLength;
      if (isLast || drained > OVERSIZE_DRAIN_BYTES) responder.json(x, 413, { error: tooLarge }, undefined, !isLast);
      return;
    }
    if (state.settled) return;
    if (length + chunk.byteLength > limits.maxBytes) {
      settle(undefined);
      // Drained like refuseOversizedBody: the 413 goes out once the client stops writing.
      drained = 0;
      if (isLast) responder.json(x, 413, { error: tooLarge });
      return;
    }
    if (length + chunk.byteLength > buf.byteLength) {
      const wanted = Math.max(buf.byteLength * 2, length + chunk.byteLength, Math.min(FIRST_BODY_BUFFER_BYTES, declaredLength ?? FIRST_BODY_BUFFER_BYTES));
      const grown = new Uint8Array(Math.max(length + chunk.byteLength, Math.min(limits.maxBytes, declaredLength ?? limits.maxBytes, wanted)));
      grown.set(buf.subarray(0, length));
      buf = grown;
    }
    buf.set(new Uint8Array(chunk), length);
    length += chunk.byteLength;
    if (isLast) settle(buf.subarray(0, length));
  });
  return read;
}

const bodyUnpackr = createWireUnpackr();

/** Parses a feature route's body by its content type; HttpError 400/415 naming what is wrong. */
export function parseBody(bytes: Uint8Array, contentType: string): unknown {
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
