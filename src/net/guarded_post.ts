/**
 * One HTTP(S) POST through the egress guard (src/net/egress_guard.ts), for everything EMMS sends
 * out (alert channels, webhook remediation, remote-write forwarding). The connection resolves
 * with the guard's `lookup`, so the address checked is the address connected to (no DNS
 * rebinding in between); callers check literal-IP hosts first with `checkLiteralEgress`,
 * because Node skips `lookup` for them.
 *
 * One deadline covers connect, send and answer: a socket idle timeout alone lets a slow
 * receiver trickle bytes forever. The answer's body is drained unread, so a receiver's text
 * never reaches an error message, a log or an API client. Redirects are not followed: the
 * caller gets the 3xx status and decides.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { guardedLookup, type EgressPolicy } from './egress_guard.js';

export interface GuardedPostOptions {
  timeoutMs: number;
  egress: EgressPolicy;
  /** Aborts the request (shutdown). */
  signal?: AbortSignal | undefined;
}

/** Resolves with the answer's status; rejects on network errors, the deadline (code ETIMEDOUT) and refused egress. */
export function guardedPost(url: URL, payload: Uint8Array, headers: Record<string, string>, options: GuardedPostOptions): Promise<number> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<number>((resolve, reject) => {
    const req = request(url, {
      method: 'POST',
      headers: { ...headers, 'content-length': String(payload.byteLength) },
      lookup: guardedLookup(options.egress),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    const deadline = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' })), options.timeoutMs);
    deadline.unref();
    req.on('response', (res: IncomingMessage) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(deadline);
        resolve(res.statusCode ?? 0);
      });
      res.on('error', (err) => {
        clearTimeout(deadline);
        reject(err);
      });
    });
    req.on('error', (err) => {
      clearTimeout(deadline);
      reject(err);
    });
    req.end(payload);
  });
}
