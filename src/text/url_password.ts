/**
 * Database URLs (`postgres://emms:pw@host:5432/emms`, `redis://:pw@host:6379/0`) carry their
 * password. Wherever such a URL is shown (printed settings, errors, /health, logs) it goes
 * through `withPasswordRedacted`: the user name, host, port, database and options stay, so the
 * operator still sees which server is meant; the password becomes `***`.
 *
 * Written without `new URL()`'s re-serialisation (which percent-encodes and lowercases) so the
 * rest of the text is shown exactly as configured, and without a regex over the input: one
 * scan for `://`, one for the end of the authority, one for the last `@` inside it.
 */

export const PASSWORD_PLACEHOLDER = '***';

/** Where the authority (`user:password@host:port`) ends. */
const AUTHORITY_END = new Set(['/', '?', '#']);

/** The span of the password in `url` ([start, end) offsets), or undefined when it has none. */
function passwordSpan(url: string): [number, number] | undefined {
  const scheme = url.indexOf('://');
  if (scheme < 0) return undefined;
  const start = scheme + 3;
  let end = start;
  while (end < url.length && !AUTHORITY_END.has(url[end]!)) end++;
  // A password may contain a raw `@` when the operator did not percent-encode it: the host is
  // after the LAST one.
  const at = url.lastIndexOf('@', end - 1);
  if (at < start) return undefined;
  const colon = url.indexOf(':', start);
  if (colon < 0 || colon > at) return undefined;
  return [colon + 1, at];
}

/** `url` with its password (if any) replaced by `***`; text that is no URL is returned as is. */
export function withPasswordRedacted(url: string): string {
  const span = passwordSpan(url);
  if (span === undefined) return url;
  return `${url.slice(0, span[0])}${PASSWORD_PLACEHOLDER}${url.slice(span[1])}`;
}

/** True when `url` carries the `***` placeholder as its password: a printed setting pasted back. */
export function hasPlaceholderPassword(url: string): boolean {
  const span = passwordSpan(url);
  return span !== undefined && url.slice(span[0], span[1]) === PASSWORD_PLACEHOLDER;
}

/** What redactedUrl shows for text that does not parse as a URL. */
export const UNPARSABLE_URL = '<unparsable URL>';

/**
 * For messages about a connection (leases, live updates, the Redis back-end): the URL as
 * `new URL()` serialises it, password redacted. Text that does not parse is not echoed at all:
 * without a URL's structure nothing says which part of it is the credential.
 */
export function redactedUrl(url: string): string {
  let href: string;
  try {
    href = new URL(url).href;
  } catch {
    return UNPARSABLE_URL;
  }
  return withPasswordRedacted(href);
}
