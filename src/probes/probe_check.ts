/**
 * One check of one target, bounded by the target's timeout: when the timer fires the request
 * or socket is destroyed, so a target that accepts and never answers costs one socket for at
 * most `timeout` seconds. No connection pooling (`agent: false`): every check measures a fresh
 * connect, as a client meeting the service for the first time would.
 *
 * Egress: the destination is chosen by an API client, so every connection resolves through
 * `guardedLookup(egress)`, which refuses loopback, private, link-local and metadata addresses
 * after DNS resolution (a name that rebinds to 127.0.0.1 is refused at connect time). Node skips
 * `lookup` for a literal address, so a literal is checked here before connecting.
 *
 * What a result tells: up/down/degraded, the status code, the latency and an error CLASS
 * (`ECONNREFUSED`, `EEGRESS`, `timeout after 200 ms`, `status 503, expected 200`), never a
 * byte of the response body or a resolved address: the target is chosen by the client, so
 * anything more would make the prober a reader of internal services.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { checkLiteralEgress, guardedLookup, type EgressPolicy } from '../net/egress_guard.js';
import { targetUrl, type ProbeTarget, type TargetStatus } from './probe_target.js';

export interface ProbeResult {
  status: Exclude<TargetStatus, 'unknown'>;
  /** Milliseconds from start to the answer (http: response headers; tcp: connect), or to the failure. */
  responseTimeMs: number;
  statusCode: number | null;
  error: string | null;
}

export interface ProbeOptions {
  /** What may be connected to; see src/net/egress_guard.ts. */
  egress: EgressPolicy;
  /** Ends the check early (monitor shutdown) with status down and error `aborted`. */
  signal?: AbortSignal;
}

export function probeTarget(target: ProbeTarget, options: ProbeOptions): Promise<ProbeResult> {
  return target.target_type === 'tcp' ? probeTcp(target, options) : probeHttp(target, options);
}

/** The error as a class name or code, never its message (which may quote what the peer sent). */
export function errorClass(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'EEGRESS') return 'EEGRESS: destination refused by the egress policy (security.egress_allow)';
  if (typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,63}$/.test(code)) return code;
  const name = (err as { name?: unknown } | null)?.name;
  return typeof name === 'string' && /^[A-Za-z]{1,64}$/.test(name) ? name : 'Error';
}

/**
 * Throws EgressRefusedError when the target names a literal address the policy refuses, so a
 * target such as `http://169.254.169.254/` can be refused when it is added; a host name is only
 * judged when a check resolves it.
 */
export function checkTargetLiteral(target: ProbeTarget, egress: EgressPolicy): void {
  checkLiteralEgress(target.target_type === 'http' ? targetUrl(target).hostname : target.endpoint, egress);
}

function classify(target: ProbeTarget, ms: number): 'up' | 'degraded' {
  return ms > target.expected_response_time_ms ? 'degraded' : 'up';
}

/**
 * The shared bookkeeping of one check: settles once, clears the timer, and detaches its abort
 * listener from the (long-lived, shared) shutdown signal when it settles, so checks completed
 * leave no listener behind.
 */
function settleOnce(
  target: ProbeTarget,
  signal: AbortSignal | undefined,
  resolve: (r: ProbeResult) => void,
  release: () => void,
): { finish: (r: ProbeResult) => void; elapsed: () => number; settled: () => boolean } {
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;
  const timeoutMs = target.timeout * 1000;
  let settled = false;
  const finish = (r: ProbeResult): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
    release();
    resolve(r);
  };
  const onAbort = (): void => finish({ status: 'down', responseTimeMs: elapsed(), statusCode: null, error: 'aborted' });
  const timer = setTimeout(() => finish({ status: 'down', responseTimeMs: elapsed(), statusCode: null, error: `timeout after ${timeoutMs} ms` }), timeoutMs);
  if (signal?.aborted === true) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  return { finish, elapsed, settled: () => settled };
}

function probeHttp(target: ProbeTarget, options: ProbeOptions): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let req: http.ClientRequest | undefined;
    const { finish, elapsed, settled } = settleOnce(target, options.signal, resolve, () => req?.destroy());
    const fail = (err: unknown): void => finish({ status: 'down', responseTimeMs: elapsed(), statusCode: null, error: errorClass(err) });
    let url: URL;
    try {
      url = targetUrl(target);
      checkLiteralEgress(url.hostname, options.egress);
    } catch (err) {
      fail(err);
      return;
    }
    if (settled()) return; // aborted before it began
    const lib = url.protocol === 'https:' ? https : http;
    req = lib.request(url, {
      method: 'GET',
      agent: false,
      lookup: guardedLookup(options.egress),
      headers: { 'user-agent': 'emms-probe', connection: 'close' },
    }, (res) => {
      const ms = elapsed();
      const code = res.statusCode ?? 0;
      // The verdict is in at the headers; the body is never read, so a slow or endless body
      // cannot hold the socket and no byte of it can reach a result.
      res.on('error', () => undefined);
      if (code !== target.expected_status_code) {
        finish({ status: 'down', responseTimeMs: ms, statusCode: code, error: `status ${code}, expected ${target.expected_status_code}` });
      } else {
        finish({ status: classify(target, ms), responseTimeMs: ms, statusCode: code, error: null });
      }
    });
    req.on('error', fail);
    req.end();
  });
}

function probeTcp(target: ProbeTarget, options: ProbeOptions): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let socket: net.Socket | undefined;
    const { finish, elapsed, settled } = settleOnce(target, options.signal, resolve, () => socket?.destroy());
    const fail = (err: unknown): void => finish({ status: 'down', responseTimeMs: elapsed(), statusCode: null, error: errorClass(err) });
    try {
      checkLiteralEgress(target.endpoint, options.egress);
    } catch (err) {
      fail(err);
      return;
    }
    if (settled()) return; // aborted before it began
    socket = net.connect({ host: target.endpoint.replace(/^\[|\]$/g, ''), port: target.port!, lookup: guardedLookup(options.egress) });
    socket.once('connect', () => {
      const ms = elapsed();
      finish({ status: classify(target, ms), responseTimeMs: ms, statusCode: null, error: null });
    });
    // `on`, not `once`: a second error after destroy() must not go unhandled.
    socket.on('error', fail);
  });
}
