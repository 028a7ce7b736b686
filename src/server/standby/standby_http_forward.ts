/**
 * One HTTP request a standby forwards to the writer (standby_forwarder.ts): method, path and
 * query, body, and every end-to-end header, the client's `Authorization` included (the writer
 * authenticates and authorizes; the standby never reads credentials). The writer's answer
 * (status, end-to-end headers, body, streamed with back-pressure) goes back as it is, so a
 * forwarded error keeps its status and body.
 *
 * Bounds: the body is read whole first, up to `collector.max_body_bytes` and within
 * `security.limits.body_timeout_ms`, as the writer itself would (413 / 408 from the standby,
 * nothing forwarded); the writer must answer within `timeoutMs` (504 otherwise). A writer that
 * cannot be reached gets 503; both carry `Retry-After`.
 *
 * Client address: the address claims the client sent (`Forwarded`, `X-Forwarded-*`,
 * `X-Real-IP`) are dropped, and `X-Forwarded-For` is set to what the forwarder computed
 * (src/server/forwarded_for.ts `forwardedForToSend`): the client's socket address, after the
 * client's own header only when the client is a trusted proxy of this standby. A writer whose
 * `security.trusted_proxies` holds its standbys takes the client's address from it; any other
 * writer ignores the header and sees the standby's address (README "Storage back-ends").
 *
 * Hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and those it lists, `Keep-Alive`, `TE`,
 * `Trailer`, `Transfer-Encoding`, `Upgrade`, `Proxy-*`) are dropped both ways.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** Bytes of a refused, too-large body still read (and discarded) so its sender sees the 413, as the writer does (http_exchange.ts). */
const OVERSIZE_DRAIN_BYTES = 64 * 1024 * 1024;
const RETRY_AFTER_S = '1';

const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade',
]);
/** Client-supplied address claims: dropped, never passed on as sent (see the file comment). */
const ADDRESS_CLAIMS: ReadonlySet<string> = new Set(['forwarded', 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-real-ip']);

export interface ForwardLimits {
  maxBodyBytes: number;
  bodyTimeoutMs: number;
  /** Longest wait for the writer's answer to start, ms. */
  timeoutMs: number;
}

/** What happened to a forwarded request, for the forwarder's log and its writer watch. */
export type ForwardOutcome =
  | { kind: 'answered'; status: number }
  | { kind: 'refused'; status: number; why: string }
  | { kind: 'writer_failed'; status: number; why: string };

/** Keep-alive connections to the writer, shared by all requests of one standby. */
export class WriterAgents {
  readonly http = new HttpAgent({ keepAlive: true, maxSockets: 256 });
  readonly https = new HttpsAgent({ keepAlive: true, maxSockets: 256 });

  destroy(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

/** Header names the `Connection` header lists: hop-by-hop for this one message. */
function connectionListed(value: string | string[] | undefined): Set<string> {
  const listed = new Set<string>();
  for (const v of Array.isArray(value) ? value : value === undefined ? [] : [value]) {
    for (const name of v.split(',')) listed.add(name.trim().toLowerCase());
  }
  return listed;
}

/** The end-to-end headers of `raw` (name, value pairs as received), without those in `drop`. */
export function endToEndHeaders(raw: readonly string[], connection: string | string[] | undefined, drop: ReadonlySet<string> = new Set()): OutgoingHttpHeaders {
  const listed = connectionListed(connection);
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name) || listed.has(name) || drop.has(name)) continue;
    const value = raw[i + 1]!;
    const known = out[name];
    out[name] = known === undefined ? value : Array.isArray(known) ? [...known, value] : [known, value];
  }
  return out;
}

/** The writer URL of `path`: `path` must be origin-form (`/…`), so no request can point the standby elsewhere. */
export function writerUrlOf(writer: string, path: string): URL | undefined {
  if (!path.startsWith('/')) return undefined;
  const url = new URL(writer + path);
  return url.origin === new URL(writer).origin ? url : undefined;
}

function answer(res: ServerResponse, status: number, body: Record<string, unknown>, headers: Record<string, string> = {}, close = false): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers, ...(close ? { connection: 'close' } : {}) });
  res.end(text);
}

type BodyResult = { ok: true; body: Buffer } | { ok: false; status: number; why: string };

/** Reads the request body within the limits; on refusal the request has been answered. */
function readBody(req: IncomingMessage, res: ServerResponse, limits: ForwardLimits): Promise<BodyResult> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let oversized = false;
    let settled = false;
    const settle = (result: BodyResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const tooLarge = `body exceeds collector.max_body_bytes=${limits.maxBodyBytes} bytes`;
    const timer = setTimeout(() => {
      answer(res, oversized ? 413 : 408, { error: oversized ? tooLarge : `body not complete within security.limits.body_timeout_ms=${limits.bodyTimeoutMs} ms` }, {}, true);
      req.destroy();
      settle({ ok: false, status: oversized ? 413 : 408, why: 'body deadline' });
    }, limits.bodyTimeoutMs);
    timer.unref();
    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (!oversized && received > limits.maxBodyBytes) {
        oversized = true;
        chunks.length = 0;
      }
      if (oversized) {
        // Past the drain bound the sender is cut off; below it, read to the end so it sees the 413.
        if (received > OVERSIZE_DRAIN_BYTES) {
          answer(res, 413, { error: tooLarge }, {}, true);
          req.destroy();
          settle({ ok: false, status: 413, why: tooLarge });
        }
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (oversized) {
        answer(res, 413, { error: tooLarge }, {}, true);
        settle({ ok: false, status: 413, why: tooLarge });
      } else {
        settle({ ok: true, body: Buffer.concat(chunks, received) });
      }
    });
    req.on('error', () => settle({ ok: false, status: 400, why: 'client connection failed' }));
  });
}

/**
 * Forwards `req` to `writer` (an origin, `http://host:port`) with `forwardedFor` as its
 * X-Forwarded-For, and relays the answer into `res`.
 */
export async function forwardHttp(req: IncomingMessage, res: ServerResponse, writer: string, forwardedFor: string, limits: ForwardLimits, agents: WriterAgents): Promise<ForwardOutcome> {
  const target = writerUrlOf(writer, req.url ?? '');
  if (target === undefined) {
    answer(res, 400, { error: `request target ${JSON.stringify((req.url ?? '').slice(0, 80))} must be a path starting with /` }, {}, true);
    return { kind: 'refused', status: 400, why: 'request target not origin-form' };
  }
  const declared = req.headers['content-length'] === undefined ? undefined : Number(req.headers['content-length']);
  if (declared !== undefined && declared > OVERSIZE_DRAIN_BYTES) {
    answer(res, 413, { error: `body exceeds collector.max_body_bytes=${limits.maxBodyBytes} bytes` }, {}, true);
    req.destroy();
    return { kind: 'refused', status: 413, why: 'declared body too large' };
  }
  const read = await readBody(req, res, limits);
  if (!read.ok) return { kind: 'refused', status: read.status, why: read.why };

  const headers = endToEndHeaders(req.rawHeaders, req.headers.connection, new Set([...ADDRESS_CLAIMS, 'host', 'content-length']));
  headers.host = target.host;
  headers['x-forwarded-for'] = forwardedFor;
  if (read.body.length > 0 || declared !== undefined) headers['content-length'] = read.body.length;
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<ForwardOutcome>((resolve) => {
    let done = false;
    const finish = (outcome: ForwardOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(outcome);
    };
    const upstream = send(target, { method: req.method, headers, agent: target.protocol === 'https:' ? agents.https : agents.http });
    const timer = setTimeout(() => {
      upstream.destroy();
      answer(res, 504, { error: `the writer ${writer} did not answer within ${limits.timeoutMs} ms; the request may or may not have been applied` }, { 'retry-after': RETRY_AFTER_S });
      finish({ kind: 'writer_failed', status: 504, why: 'timeout' });
    }, limits.timeoutMs);
    timer.unref();
    // The client went away: nothing more to wait for (a request already sent may still apply on the writer).
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
      finish({ kind: 'refused', status: 499, why: 'client closed the connection' });
    });
    upstream.on('response', (answerIn) => {
      clearTimeout(timer);
      const status = answerIn.statusCode ?? 502;
      const back = endToEndHeaders(answerIn.rawHeaders, answerIn.headers.connection);
      back.via = '1.1 emms-standby';
      res.writeHead(status, back);
      answerIn.pipe(res);
      answerIn.on('error', () => res.destroy());
      answerIn.on('end', () => finish({ kind: 'answered', status }));
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? err.message;
      // Before a connection, nothing was sent: the client may simply retry. After, the outcome is unknown.
      const sent = code !== 'ECONNREFUSED' && code !== 'ENOTFOUND' && code !== 'EHOSTUNREACH';
      answer(res, 503, {
        error: `the writer ${writer} cannot be reached (${code})${sent ? '; the request may or may not have been applied' : ''}; retry (a failover may be in progress)`,
      }, { 'retry-after': RETRY_AFTER_S });
      finish({ kind: 'writer_failed', status: 503, why: code });
    });
    upstream.end(read.body);
  });
}
