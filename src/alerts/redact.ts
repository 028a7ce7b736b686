/**
 * Redaction of secrets in what the alerting shows: API answers, log lines and error messages
 * never carry webhook secrets, header values, URL tokens or userinfo (issue 12). The stored
 * configs keep them, sealed (secret_box.ts).
 */

/** Shown in place of a secret in API answers; refused when sent back as a value. */
export const REDACTED = '[redacted]';

export function isHttpUrl(v: unknown): v is string {
  if (typeof v !== 'string') return false;
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * A URL as answers and logs show it: userinfo, query values and fragment redacted (they carry
 * tokens); `keepPath` segments of the path kept and the rest redacted (Slack-style webhook
 * URLs are a token in the path). Text that is not a URL shows only its length.
 */
export function redactUrl(url: string, keepPath = Infinity): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return `(not a URL, ${url.length} characters)`;
  }
  const userinfo = u.username !== '' || u.password !== '' ? `${REDACTED}@` : '';
  const segments = u.pathname.split('/').slice(1);
  const path = segments.length > keepPath ? '/' + [...segments.slice(0, keepPath), REDACTED].join('/') : u.pathname;
  const query = [...u.searchParams.keys()].map((k) => `${encodeURIComponent(k)}=${REDACTED}`).join('&');
  return `${u.protocol}//${userinfo}${u.host}${path}${query ? `?${query}` : ''}${u.hash ? `#${REDACTED}` : ''}`;
}

