/**
 * One remote-write request to a receiver, through the egress guard (src/net/guarded_post.ts),
 * so a receiver on a loopback or private address needs `security.egress_allow`.
 *
 * The outcome decides what the forwarder does with the batch, as Prometheus's own queue does:
 * 2xx delivered; network errors, timeouts, 408, 429 and 5xx are retried; any other answer
 * (400 bad data, 401/403, 404, redirects) will not get better by resending and the batch is
 * dropped and counted. Refused egress is retried, not dropped: it is a configuration matter
 * (security.egress_allow, or DNS pointing somewhere new) and the data waits in the bounded queue
 * until it is fixed. Errors name the destination and status, never the token or the receiver's
 * body.
 */
import { checkLiteralEgress, EgressRefusedError, type EgressPolicy } from '../net/egress_guard.js';
import { guardedPost } from '../net/guarded_post.js';
import type { RemoteWriteTarget } from './remote_write_config.js';

export type SendOutcome = { kind: 'delivered' } | { kind: 'retry' | 'drop'; detail: string };

/** `signal` aborts the request (shutdown); the outcome is then a retry, so the batch stays queued. */
export async function sendRemoteWrite(target: RemoteWriteTarget, body: Uint8Array, egress: EgressPolicy, signal?: AbortSignal): Promise<SendOutcome> {
  const where = `${target.name} (${target.url.origin}${target.url.pathname})`;
  try {
    checkLiteralEgress(target.url.hostname, egress);
  } catch (err) {
    return { kind: 'retry', detail: `${where}: ${(err as Error).message}` };
  }
  const headers: Record<string, string> = {
    'content-type': 'application/x-protobuf',
    'content-encoding': 'snappy',
    'x-prometheus-remote-write-version': '0.1.0',
    'user-agent': 'emms-remote-write/1',
  };
  if (target.bearerToken !== undefined) headers.authorization = `Bearer ${target.bearerToken}`;
  try {
    const status = await guardedPost(target.url, body, headers, { timeoutMs: target.timeoutMs, egress, signal });
    if (status >= 200 && status < 300) return { kind: 'delivered' };
    const retry = status >= 500 || status === 429 || status === 408;
    return { kind: retry ? 'retry' : 'drop', detail: `${where} answered ${status}` };
  } catch (err) {
    if (err instanceof EgressRefusedError) return { kind: 'retry', detail: `${where}: ${err.message}` };
    const e = err as NodeJS.ErrnoException;
    return { kind: 'retry', detail: `${where}: ${e.code ?? e.message}` };
  }
}
