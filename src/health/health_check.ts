/**
 * One health check of one target, bounded by the target's timeout: when the timer fires the
 * request or socket is destroyed, so a target that accepts and never answers costs one
 * socket for at most `timeout` seconds. No connection pooling (`agent: false`): every check
 * measures a fresh connect, as a client meeting the service for the first time would.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { targetUrl, type HealthTarget, type TargetStatus } from './health_target.js';

export interface CheckResult {
  status: Exclude<TargetStatus, 'unknown'>;
  /** Milliseconds from start to the answer (http: response headers; tcp: connect), or to the failure. */
  responseTimeMs: number;
  statusCode: number | null;
  error: string | null;
}

/** `signal` ends a check early (monitor shutdown) with status down and error `aborted`. */
export function checkTarget(target: HealthTarget, signal?: AbortSignal): Promise<CheckResult> {
  return target.target_type === 'tcp' ? checkTcp(target, signal) : checkHttp(target, signal);
}

function aborted(ms: number): CheckResult {
  return { status: 'down', responseTimeMs: ms, statusCode: null, error: 'aborted' };
}

function classify(target: HealthTarget, ms: number): 'up' | 'degraded' {
  return ms > target.expected_response_time_ms ? 'degraded' : 'up';
}

function checkHttp(target: HealthTarget, signal?: AbortSignal): Promise<CheckResult> {
  const timeoutMs = target.timeout * 1000;
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const finish = (r: CheckResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    let url: URL;
    try {
      url = targetUrl(target);
    } catch (err) {
      finish({ status: 'down', responseTimeMs: 0, statusCode: null, error: `bad target URL: ${String(err)}` });
      return;
    }
    const lib = url.protocol === 'https:' ? https : http;
    const req = lib.request(url, { method: 'GET', agent: false, headers: { 'user-agent': 'emms-health-check', connection: 'close' } }, (res) => {
      const ms = elapsed();
      const code = res.statusCode ?? 0;
      if (code !== target.expected_status_code) {
        finish({ status: 'down', responseTimeMs: ms, statusCode: code, error: `status ${code}, expected ${target.expected_status_code}` });
      } else {
        finish({ status: classify(target, ms), responseTimeMs: ms, statusCode: code, error: null });
      }
      // The verdict is in at the headers; the body is not read, so a slow or endless body
      // cannot hold the socket.
      res.on('error', () => undefined);
      req.destroy();
    });
    timer = setTimeout(() => {
      finish({ status: 'down', responseTimeMs: elapsed(), statusCode: null, error: `timeout after ${timeoutMs} ms` });
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => finish({ status: 'down', responseTimeMs: elapsed(), statusCode: null, error: err.message }));
    onAbort(signal, () => {
      finish(aborted(elapsed()));
      req.destroy();
    });
    req.end();
  });
}

function checkTcp(target: HealthTarget, signal?: AbortSignal): Promise<CheckResult> {
  const timeoutMs = target.timeout * 1000;
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  return new Promise((resolve) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const socket = net.connect({ host: target.endpoint, port: target.port! });
    const finish = (r: CheckResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    timer = setTimeout(() => finish({ status: 'down', responseTimeMs: elapsed(), statusCode: null, error: `timeout after ${timeoutMs} ms` }), timeoutMs);
    socket.once('connect', () => {
      const ms = elapsed();
      finish({ status: classify(target, ms), responseTimeMs: ms, statusCode: null, error: null });
    });
    socket.once('error', (err) => finish({ status: 'down', responseTimeMs: elapsed(), statusCode: null, error: err.message }));
    onAbort(signal, () => finish(aborted(elapsed())));
  });
}

function onAbort(signal: AbortSignal | undefined, abort: () => void): void {
  if (signal === undefined) return;
  if (signal.aborted) abort();
  else signal.addEventListener('abort', abort, { once: true });
}
