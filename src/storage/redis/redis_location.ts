/**
 * Where a Redis back-end lives: the `redis://` URL of RedisStorageOptions parsed into the
 * connection settings ioredis takes, the key prefix validated, and the form every message
 * shows (`redis://:***@127.0.0.1:6379/0`: the password never leaves this file unredacted,
 * except inside the settings handed to the driver).
 */
import type { RedisStorageOptions } from '../../model/api.js';
import { redactedUrl } from '../../text/url_password.js';

/** Default key prefix (RedisStorageOptions.prefix). */
export const DEFAULT_REDIS_PREFIX = 'emms:';
/** Longest prefix: it is repeated in every key, and one chunk key per chunk is in memory. */
export const MAX_PREFIX_CHARS = 64;
/** Longest URL accepted: a URL is a few dozen characters; this bounds what is parsed and echoed. */
const MAX_URL_CHARS = 2048;

export interface RedisConnectionSettings {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  /** `rediss://`: TLS with the system's trust store. */
  tls: boolean;
}

export interface RedisLocation {
  settings: RedisConnectionSettings;
  /** The URL with any password shown as `***`: for messages, /health and errors. */
  redacted: string;
  prefix: string;
}

/**
 * Parses and validates RedisStorageOptions. Errors name the field and the value (the URL
 * redacted where a password could be in it).
 */
export function parseRedisLocation(options: RedisStorageOptions): RedisLocation {
  const prefix = validatePrefix(options.prefix ?? DEFAULT_REDIS_PREFIX);
  const url = options.url;
  if (typeof url !== 'string' || url.length === 0) throw new RangeError(`options.redis.url must be a redis:// URL; got ${JSON.stringify(url)}`);
  if (url.length > MAX_URL_CHARS) throw new RangeError(`options.redis.url is ${url.length} characters; at most ${MAX_URL_CHARS} are accepted`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`options.redis.url=${redactedUrl(url)} is not a URL (expected redis://[:password@]host:port[/db])`);
  }
  const redacted = redactedUrl(parsed.href).replace(/\/$/, '');
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new RangeError(`options.redis.url=${redacted}: scheme ${parsed.protocol} is not redis: or rediss:`);
  }
  if (parsed.hostname === '') throw new RangeError(`options.redis.url=${redacted} names no host`);
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  const dbText = parsed.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!/^\d{0,5}$/.test(dbText) || !Number.isInteger(db) || db < 0) {
    throw new RangeError(`options.redis.url=${redacted}: database "${dbText}" must be a non-negative integer`);
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    throw new RangeError(`options.redis.url=${redacted}: query and fragment are not supported (got "${parsed.search}${parsed.hash}")`);
  }
  const settings: RedisConnectionSettings = { host: parsed.hostname.replace(/^\[|\]$/g, ''), port, db, tls: parsed.protocol === 'rediss:' };
  if (parsed.username !== '') settings.username = decodeURIComponent(parsed.username);
  if (parsed.password !== '') settings.password = decodeURIComponent(parsed.password);
  return { settings, redacted, prefix };
}

/** printable ASCII without spaces, at most MAX_PREFIX_CHARS: keys stay readable in redis-cli and SCAN patterns stay escapable. */
export function validatePrefix(prefix: string): string {
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > MAX_PREFIX_CHARS || !/^[\x21-\x7e]+$/.test(prefix)) {
    throw new RangeError(
      `options.redis.prefix=${JSON.stringify(typeof prefix === 'string' ? prefix.slice(0, 100) : prefix)} must be 1 to ${MAX_PREFIX_CHARS} printable ASCII characters without spaces`,
    );
  }
  return prefix;
}

/** Removes the password from any text (a driver's message could echo it). */
export function scrubSecret(text: string, settings: RedisConnectionSettings): string {
  const secret = settings.password;
  return secret === undefined || secret.length === 0 ? text : text.split(secret).join('***');
}
