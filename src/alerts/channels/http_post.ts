/**
 * One HTTP POST attempt for the HTTP channels (webhook, Slack, Alertmanager) and the webhook
 * remediation action. Classifies failures for the dispatcher's retry decision: network errors,
 * timeouts, 408, 429 and 5xx are worth retrying; other 4xx answers will not change.
 */
import { ChannelDeliveryError } from './channel.js';

export const DEFAULT_HTTP_TIMEOUT_MS = 10_000;

export async function postOnce(
  url: string,
  body: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'emms-alerting/1', ...headers },
      body,
      // A redirect would re-send the alert (and its signature) somewhere not configured.
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = err as Error & { cause?: { code?: string } };
    const detail = cause.cause?.code ?? cause.message;
    throw new ChannelDeliveryError(`POST ${url} failed: ${detail}`, true, undefined, { cause: err });
  }
  // Drain the body so the connection can be reused.
  const text = await response.text().catch(() => '');
  if (response.status >= 200 && response.status < 300) return;
  const retryable = response.status >= 500 || response.status === 429 || response.status === 408;
  throw new ChannelDeliveryError(`POST ${url} answered ${response.status}: ${text.slice(0, 200)}`, retryable, response.status);
}

export function validateHttpUrl(url: unknown): url is string {
  if (typeof url !== 'string') return false;
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}
