/**
 * One HTTP POST attempt for the HTTP channels (webhook, Slack, Alertmanager) and the webhook
 * remediation action, through node:http/https so the connection resolves with the egress
 * guard's `lookup` (src/net/egress_guard.ts): loopback, private, link-local and metadata
 * addresses are refused after DNS resolution unless `security.egress_allow` lists them, and
 * the address checked is the address connected to (no DNS rebinding in between). Node skips
 * `lookup` for literal IP hosts, so those are checked here before connecting.
 *
 * Failures are classified for the dispatcher's retry decision: network errors, timeouts, 408,
 * 429 and 5xx are worth retrying; other 4xx answers, redirects (never followed: they would
 * re-send the alert and its signature somewhere not configured) and refused egress are not.
 * Errors carry the redacted URL and the status code only, never the response body: an internal
 * service's answer must not come back to an API client through a channel's last_error.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { checkLiteralEgress, EgressRefusedError, guardedLookup, type EgressPolicy } from '../../net/egress_guard.js';
import { redactUrl } from '../redact.js';
import { ChannelDeliveryError } from './channel.js';

export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;

export interface PostOptions {
  timeoutMs: number;
  egress: EgressPolicy;
  /** How many path segments errors may show (Slack URLs are a token in the path). Default all. */
  keepPathSegments?: number;
}

export async function postOnce(url: string, body: string, headers: Record<string, string>, options: PostOptions): Promise<void> {
  const shown = redactUrl(url, options.keepPathSegments);
  const u = new URL(url);
  try {
    checkLiteralEgress(u.hostname, options.egress);
  } catch (err) {
    throw new ChannelDeliveryError(`POST ${shown} refused: ${(err as Error).message}`, false, undefined, { cause: err });
  }
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  const payload = Buffer.from(body, 'utf8');
  const status = await new Promise<number>((resolve, reject) => {
    const req = request(u, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'emms-alerting/1', ...headers, 'content-length': String(payload.length) },
      lookup: guardedLookup(options.egress),
    });
    // One deadline for connect, send and answer (a socket idle timeout alone lets a slow
    // receiver trickle bytes forever).
    const deadline = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' })), options.timeoutMs);
    deadline.unref();
    req.on('response', (res: IncomingMessage) => {
      // Drain without keeping: the body never reaches an error or a log.
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
  }).catch((err: unknown) => {
    if (err instanceof EgressRefusedError) throw new ChannelDeliveryError(`POST ${shown} refused: ${err.message}`, false, undefined, { cause: err });
    const e = err as NodeJS.ErrnoException;
    throw new ChannelDeliveryError(`POST ${shown} failed: ${e.code ?? e.message}`, true, undefined, { cause: err });
  });
  if (status >= 200 && status < 300) return;
  if (status >= 300 && status < 400) throw new ChannelDeliveryError(`POST ${shown} answered ${status}: redirects are not followed`, false, status);
  const retryable = status >= 500 || status === 429 || status === 408;
  throw new ChannelDeliveryError(`POST ${shown} answered ${status}`, retryable, status);
}

