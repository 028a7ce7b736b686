/**
 * Secrets inside free-text log messages. Structured fields are redacted by path (logger.ts);
 * a message is text a feature built, and may quote what a client sent: a bearer token in an
 * error, a JWT, an EMMS API key token, a URL with userinfo or `password=…`. Those are replaced
 * with `[redacted]` before the line is written.
 *
 * The scan is one split on a fixed character class plus a constant-time check per word, so it
 * is linear in the message length (no backtracking regex over client text); messages are cut
 * at MAX_MESSAGE_CHARS first, so one log call is bounded whatever a feature passes.
 */

export const REDACTED_TEXT = '[redacted]';

/** Longer messages are cut (a stack trace of a few KB fits); the cut is marked. */
export const MAX_MESSAGE_CHARS = 16_384;

/** `Bearer <token>`, `Basic <credentials>`: the next word is a credential whatever separates them. */
const SCHEME_LEADS: ReadonlySet<string> = new Set(['bearer', 'basic']);
/** `password=<value>`, `token: <value>`: the next word is a credential when `=` or `:` separates them. */
const KEY_LEADS: ReadonlySet<string> = new Set([
  'token', 'password', 'passwd', 'secret', 'api_key', 'apikey', 'client_secret', 'authorization', 'jwt', 'cookie', 'access_token', 'refresh_token',
]);

function isKeyLead(lower: string): boolean {
  return KEY_LEADS.has(lower) || lower.endsWith('_token') || lower.endsWith('_password') || lower.endsWith('_secret');
}

/** Separators between words; kept in the output so the message reads the same. */
const SEPARATORS = /([\s"'`=,;:()[\]{}<>]+)/;

const API_TOKEN_PREFIX = 'emms_';
const API_TOKEN_BODY_CHARS = 43;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * A JWT: base64url parts joined by dots, the first a JSON header (`eyJ` is base64 of `{"`).
 * Trailing dots are not part of it (a sentence's full stop; an unsigned JWT's empty signature).
 */
function isJwtShape(word: string): boolean {
  if (!word.startsWith('eyJ')) return false;
  const parts = word.split('.');
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return (parts.length === 2 || parts.length === 3) && parts[0]!.length > 8 && parts[1]!.length > 2 && parts.every((p) => BASE64URL.test(p));
}

/** The dots ending `word`, kept after a redaction so the sentence still reads. */
function trailingDots(word: string): string {
  let n = 0;
  while (n < word.length && word[word.length - 1 - n] === '.') n++;
  return word.slice(word.length - n);
}

function isApiTokenShape(word: string): boolean {
  return word.startsWith(API_TOKEN_PREFIX) && word.length >= API_TOKEN_PREFIX.length + API_TOKEN_BODY_CHARS && BASE64URL.test(word.slice(API_TOKEN_PREFIX.length));
}

/** Where a URL's authority (`user:pass@host:port`) ends in text. */
const AUTHORITY_END = /[\s"'`<>/?#]/;

/** Every `scheme://user:pass@host/…` in `text` with its userinfo redacted; one pass. */
function redactUserinfo(text: string): string {
  let out = '';
  let copied = 0;
  let searchFrom = 0;
  for (;;) {
    const scheme = text.indexOf('://', searchFrom);
    if (scheme < 0) break;
    const hostStart = scheme + 3;
    let end = hostStart;
    let at = -1;
    for (; end < text.length && !AUTHORITY_END.test(text[end]!); end++) if (text[end] === '@') at = end;
    if (at >= 0) {
      out += `${text.slice(copied, hostStart)}${REDACTED_TEXT}`;
      copied = at;
    }
    searchFrom = end;
  }
  return copied === 0 ? text : out + text.slice(copied);
}

/** `message` with credentials replaced by `[redacted]`; see the module comment for what counts. */
export function redactSecretsInText(message: string): string {
  const text = message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS)}… (${message.length - MAX_MESSAGE_CHARS} more characters)` : message;
  const withoutUserinfo = redactUserinfo(text);
  const pieces = withoutUserinfo.split(SEPARATORS);
  let changed = withoutUserinfo !== text;
  let credentialNext = false;
  // Even indexes are words, odd ones the separators split kept.
  for (let i = 0; i < pieces.length; i += 2) {
    const word = pieces[i]!;
    if (word === '') continue;
    const lower = word.toLowerCase();
    let out: string;
    // `Bearer <token>` in a help text is a placeholder, not a credential.
    const placeholder = (pieces[i - 1] ?? '').endsWith('<');
    if (credentialNext && !placeholder && !SCHEME_LEADS.has(lower)) out = REDACTED_TEXT;
    else if (isJwtShape(word)) out = REDACTED_TEXT + trailingDots(word);
    else if (isApiTokenShape(word)) out = REDACTED_TEXT;
    else out = word;
    const separator = pieces[i + 1] ?? '';
    credentialNext = SCHEME_LEADS.has(lower) || (isKeyLead(lower) && (separator.includes('=') || separator.includes(':')));
    if (out !== word) {
      pieces[i] = out;
      changed = true;
    }
  }
  return changed ? pieces.join('') : withoutUserinfo;
}
