/**
 * Where a PostgreSQL store is, and how it is named in messages: the configured URL is checked
 * once at open, and every text that leaves the back-end (its `location`, every error) shows it
 * with the password replaced by `***`.
 *
 * Errors of the `pg` driver are not passed on as they are: a driver or server message could
 * quote connection text, and an error's `cause` chain is printed whole by loggers. Each one is
 * rewrapped as a PostgresStorageError carrying the redacted location, the message with any
 * form of the password removed, and the SQLSTATE code (which callers branch on), without
 * `cause`.
 */
import { PASSWORD_PLACEHOLDER, withPasswordRedacted } from '../../text/url_password.js';

export interface PostgresLocation {
  /** The URL as configured, password included: only ever handed to the driver. */
  readonly url: string;
  /** The URL with its password replaced by `***`. */
  readonly redacted: string;
  /** The password as written in the URL and as decoded (empty when there is none). */
  readonly secrets: readonly string[];
}

/** Longest URL accepted: a connection string, not a document. */
export const MAX_POSTGRES_URL_CHARS = 4096;

/** Parses and checks `options.url`; the error names the field and the redacted value. */
export function parsePostgresLocation(url: unknown, field = 'options.url'): PostgresLocation {
  if (typeof url !== 'string' || url.length === 0) {
    throw new RangeError(`${field} must be a postgres:// URL; got ${url === '' ? "''" : typeof url}`);
  }
  if (url.length > MAX_POSTGRES_URL_CHARS) {
    throw new RangeError(`${field} must be at most ${MAX_POSTGRES_URL_CHARS} characters; got ${url.length}`);
  }
  const redacted = withPasswordRedacted(url);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`${field} must be a postgres:// URL; got ${redacted}`);
  }
  if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:') {
    throw new RangeError(`${field} must start with postgres:// or postgresql://; got ${redacted}`);
  }
  const secrets = new Set<string>();
  if (parsed.password !== '') {
    secrets.add(parsed.password);
    try {
      secrets.add(decodeURIComponent(parsed.password));
    } catch {
      // Not valid percent-encoding: the driver sees the raw text, which is already listed.
    }
  }
  return { url, redacted, secrets: [...secrets].filter((s) => s !== PASSWORD_PLACEHOLDER) };
}

/** `text` with every occurrence of each secret replaced by `***`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length > 0) out = out.split(secret).join(PASSWORD_PLACEHOLDER);
  }
  return out;
}

/** A failure of the PostgreSQL back-end; the message names the redacted location. */
export class PostgresStorageError extends Error {
  constructor(
    message: string,
    /** SQLSTATE of the server's error (`57014` statement timeout, `23505` unique violation, …), or the driver's code. */
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'PostgresStorageError';
  }
}

/**
 * `error` (from pg, or anything thrown while talking to it) as a PostgresStorageError:
 * "<location>: <action>: <message>", password-free. An error already wrapped is kept.
 */
export function wrapPostgresError(error: unknown, location: PostgresLocation, action: string): PostgresStorageError {
  if (error instanceof PostgresStorageError) return error;
  const e = error as { message?: unknown; code?: unknown; detail?: unknown } | undefined;
  const message = typeof e?.message === 'string' && e.message !== '' ? e.message : String(error);
  const detail = typeof e?.detail === 'string' ? ` (${e.detail})` : '';
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const text = `${location.redacted}: ${action}: ${message}${detail}${code === undefined ? '' : ` [${code}]`}`;
  return new PostgresStorageError(redactSecrets(text, location.secrets), code);
}
