/**
 * The API key token format: `emms_` + base64url of 32 random bytes (256 bits, 43 characters),
 * and the hash under which a token is stored and looked up.
 *
 * Why a fast hash (one SHA-256) and not a password hash (bcrypt, scrypt, argon2): those exist to
 * make guessing low-entropy human passwords expensive. A token is 256 uniformly random bits;
 * guessing one, or inverting its SHA-256 from a stolen `auth.db`, costs ~2^255 tries whatever
 * the hash's speed. A slow hash would only make every request pay milliseconds for nothing.
 * Looking keys up by the hash also keeps timing side channels harmless: an index or Map probe
 * may leak how much of the HASH matched, which tells nothing about the token.
 */
import { createHash, randomBytes } from 'node:crypto';

export const API_KEY_TOKEN_PREFIX = 'emms_';
const TOKEN_RANDOM_BYTES = 32;
/** base64url of 32 bytes, without padding. */
const TOKEN_BODY_CHARS = 43;
const TOKEN_PATTERN = /^emms_[A-Za-z0-9_-]{43}$/;
/** `ak_` + 16 hex digits (64 random bits: unique per data directory, and not a secret). */
const KEY_ID_PATTERN = /^ak_[0-9a-f]{16}$/;

/** A new token; shown once to its creator and never stored. */
export function generateApiKeyToken(): string {
  const token = API_KEY_TOKEN_PREFIX + randomBytes(TOKEN_RANDOM_BYTES).toString('base64url');
  if (token.length !== API_KEY_TOKEN_PREFIX.length + TOKEN_BODY_CHARS) throw new Error(`BUG: API key token of ${token.length} characters`);
  return token;
}

/** The stored form of a token: lower-case hex SHA-256. */
export function hashApiKeyToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** True when `token` has the exact shape of an EMMS API key token. */
export function isApiKeyTokenShape(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

export function generateKeyId(): string {
  return `ak_${randomBytes(8).toString('hex')}`;
}

export function isKeyId(value: string): boolean {
  return KEY_ID_PATTERN.test(value);
}
