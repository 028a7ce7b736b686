/**
 * The signature half of JWT verification (RFC 7515 compact JWS), done synchronously with
 * node:crypto.
 *
 * Why not jose's `jwtVerify`: it is asynchronous (WebCrypto), so a WebSocket upgrade carrying a
 * JWT had to call `res.upgrade()` from a later task inside `res.cork()`. uWebSockets 20.30, the
 * version this project pins, can close such a socket right after `open` with no close frame
 * (1006): after the upgrade re-allocates the socket in place, cork()'s tail reads the old HTTP
 * state flags out of the WebSocket's memory (uNetworking/uWebSockets#1929, fixed upstream after
 * 20.30). Calling upgrade uncorked avoids that but makes uWS print a warning per connection.
 * Answering at once keeps the upgrade inside the handler uWS corks itself. Cost: one signature
 * check (50–150 µs) on the event loop per token not yet cached (jwt_verifier.ts caches).
 *
 * What this file decides, and nothing else:
 * - the header is a JSON object whose `alg` is one of the allowed algorithms (`none` never is);
 * - no `crit` header: we implement no extension, and RFC 7515 §4.1.11 says a verifier that does
 *   not understand a critical one must refuse the token (this also refuses RFC 7797 `b64:false`);
 * - the key's type fits the algorithm (RSA ≥ 2048 bits for RS256, P-256 for ES256, Ed25519 for
 *   EdDSA, a secret for HS256), so a public key can never serve as an HMAC secret;
 * - the signature verifies over `header.payload` exactly as sent.
 * Claims (iss, aud, exp, nbf) are jwt_verifier.ts's.
 */
import { createHmac, timingSafeEqual, verify as verifySignature, type KeyObject } from 'node:crypto';
import type { JwtAlgorithm } from '../config/security_config.js';

/** A verification key and the algorithms it may serve; `kid` when it came from a JWKS. */
export interface JwsKey {
  readonly key: KeyObject | Uint8Array;
  readonly algorithms: readonly JwtAlgorithm[];
  readonly kid?: string;
}

/** Why a token's signature part was refused; the message never quotes the token. */
export type JwsRefusal = 'malformed' | 'algorithm_not_allowed' | 'critical_header' | 'no_matching_key' | 'signature_invalid';

export class JwsError extends Error {
  constructor(readonly refusal: JwsRefusal, message: string) {
    super(message);
    this.name = 'JwsError';
  }
}

/** RSA keys shorter than this are refused for RS256 (RFC 7518 §3.3 requires 2048 bits). */
const MIN_RSA_BITS = 2048;
/** ES256 signatures are r ‖ s, 32 bytes each (RFC 7518 §3.4), not DER. */
const ES256_SIGNATURE_BYTES = 64;

/** The decoded payload of a token whose signature one of `keys` verifies; throws JwsError. */
export function verifyCompactJws(token: string, keys: readonly JwsKey[], allowed: readonly JwtAlgorithm[]): Record<string, unknown> {
  const firstDot = token.indexOf('.');
  const secondDot = token.indexOf('.', firstDot + 1);
  if (firstDot <= 0 || secondDot < 0 || token.indexOf('.', secondDot + 1) >= 0) throw new JwsError('malformed', 'malformed JWT');
  const header = jsonObject(token.slice(0, firstDot), 'header');
  const alg = header.alg;
  if (typeof alg !== 'string' || !(allowed as readonly string[]).includes(alg)) throw new JwsError('algorithm_not_allowed', 'JWT algorithm not allowed');
  if (header.crit !== undefined || header.b64 !== undefined) throw new JwsError('critical_header', 'JWT uses a critical header extension this server does not implement');
  const kid = header.kid;
  if (kid !== undefined && typeof kid !== 'string') throw new JwsError('malformed', 'JWT header "kid" must be a string');
  const candidates = keys.filter((k) => k.algorithms.includes(alg as JwtAlgorithm) && (kid === undefined || k.kid === undefined || k.kid === kid) && keyFits(alg as JwtAlgorithm, k.key));
  if (candidates.length === 0) {
    // Every configured key fits some allowed algorithm; none fitting this one means the token asks for an algorithm the keys cannot do.
    if (!keys.some((k) => k.algorithms.includes(alg as JwtAlgorithm))) throw new JwsError('algorithm_not_allowed', 'JWT algorithm not allowed');
    throw new JwsError('no_matching_key', 'no key of the JWKS matches the JWT');
  }
  const signingInput = Buffer.from(token.slice(0, secondDot), 'ascii');
  const signature = Buffer.from(token.slice(secondDot + 1), 'base64url');
  if (!candidates.some((k) => signatureHolds(alg as JwtAlgorithm, k.key, signingInput, signature))) {
    throw new JwsError('signature_invalid', 'JWT signature verification failed');
  }
  return jsonObject(token.slice(firstDot + 1, secondDot), 'payload');
}

/** True when `key` can serve `alg`; the check that makes algorithm confusion impossible. */
export function keyFits(alg: JwtAlgorithm, key: KeyObject | Uint8Array): boolean {
  if (alg === 'HS256') return key instanceof Uint8Array;
  if (key instanceof Uint8Array || key.type !== 'public') return false;
  switch (alg) {
    case 'RS256':
      return key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) >= MIN_RSA_BITS;
    case 'ES256':
      return key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
    case 'EdDSA':
      return key.asymmetricKeyType === 'ed25519';
  }
}

function signatureHolds(alg: JwtAlgorithm, key: KeyObject | Uint8Array, input: Buffer, signature: Buffer): boolean {
  try {
    return checkSignature(alg, key, input, signature);
  } catch {
    // OpenSSL throws on some malformed signatures (wrong length for the key) instead of answering false.
    return false;
  }
}

function checkSignature(alg: JwtAlgorithm, key: KeyObject | Uint8Array, input: Buffer, signature: Buffer): boolean {
  switch (alg) {
    case 'HS256': {
      const expected = createHmac('sha256', key as Uint8Array).update(input).digest();
      return signature.length === expected.length && timingSafeEqual(signature, expected);
    }
    case 'RS256':
      return verifySignature('sha256', input, key as KeyObject, signature);
    case 'ES256':
      return signature.length === ES256_SIGNATURE_BYTES && verifySignature('sha256', input, { key: key as KeyObject, dsaEncoding: 'ieee-p1363' }, signature);
    case 'EdDSA':
      return verifySignature(null, input, key as KeyObject, signature);
  }
}

function jsonObject(part: string, what: 'header' | 'payload'): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new JwsError('malformed', `JWT ${what} is not base64url-encoded JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new JwsError('malformed', `JWT ${what} must be a JSON object`);
  return value as Record<string, unknown>;
}
