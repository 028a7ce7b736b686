/**
 * One HTTP POST attempt for the HTTP channels (webhook, Slack, Alertmanager) and the webhook
 * remediation action, through the egress guard (src/net/guarded_post.ts): loopback, private,
 * link-local and metadata addresses are refused unless `security.egress_allow` lists them.
 *
 * Failures are classified for the dispatcher's retry decision: network errors, timeouts, 408,
 * 429 and 5xx are worth retrying; other 4xx answers, redirects (never followed: they would
 * re-send the alert and its signature somewhere not configured) and refused egress are not.
 * Errors carry the redacted URL and the status code only, never the response body: an internal
 * service's answer must not come back to an API client through a channel's last_error.
 */
import { checkLiteralEgress, EgressRefusedError, type EgressPolicy } from '../../net/egress_guard.js';
import { guardedPost } from '../../net/guarded_post.js';
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
  const payload = Buffer.from(body, 'utf8');
  const status = await guardedPost(u, payload, { 'content-type': 'application/json', 'user-agent': 'emms-alerting/1', ...headers }, options).catch((err: unknown) => {
    if (err instanceof EgressRefusedError) throw new ChannelDeliveryError(`POST ${shown} refused: ${err.message}`, false, undefined, { cause: err });
    const e = err as NodeJS.ErrnoException;
    throw new ChannelDeliveryError(`POST ${shown} failed: ${e.code ?? e.message}`, true, undefined, { cause: err });
  });
  if (status >= 200 && status < 300) return;
  if (status >= 300 && status < 400) throw new ChannelDeliveryError(`POST ${shown} answered ${status}: redirects are not followed`, false, status);
  const retryable = status >= 500 || status === 429 || status === 408;
  throw new ChannelDeliveryError(`POST ${shown} answered ${status}`, retryable, status);
}

