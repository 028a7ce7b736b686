/**
 * The dashboard's session cookie: its name, reading it out of a `Cookie` header, and the
 * `Set-Cookie` values that set and clear it.
 *
 * HttpOnly keeps it from page scripts (an injected script cannot carry it away), SameSite=Strict
 * keeps other sites' pages from sending it, Secure is added when the server speaks TLS (a
 * plain-HTTP localhost server would otherwise never receive it back), and `Path=/` because the
 * API under /api/v1 is what it authenticates.
 */
export const SESSION_COOKIE = 'emms_session';
/** The header a page sends its CSRF token in on state-changing calls. */
export const CSRF_HEADER = 'x-emms-csrf';

/** The longest Cookie header looked at; browsers send at most a few KiB. */
const MAX_COOKIE_HEADER_CHARS = 8192;

/** The session id of a `Cookie` header, or undefined. */
export function sessionIdFromCookie(header: string | undefined): string | undefined {
  if (header === undefined || header.length > MAX_COOKIE_HEADER_CHARS) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** `Set-Cookie` for a new session lasting `maxAgeMs`. */
export function sessionCookie(id: string, maxAgeMs: number, secure: boolean): string {
  const seconds = Math.max(0, Math.floor(maxAgeMs / 1000));
  return `${SESSION_COOKIE}=${id}; Path=/; Max-Age=${seconds}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/** `Set-Cookie` that removes the session cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}
