/**
 * Verifies JWTs issued by the organisation's identity provider, per `security.jwt`:
 * synchronously, the signature by jws_signature.ts (node:crypto; that file says why not jose),
 * the claims here.
 *
 * What a token must pass: a signature by the configured key with one of the configured
 * algorithms (the header's `alg` is never trusted on its own: `none` is never accepted, and a
 * PEM key pins the one algorithm its type can do, so an HS256 token "signed" with the RSA
 * public key as HMAC secret is refused); `iss` and `aud` equal to the configured values; `exp`
 * present and not past, `nbf` not in the future (both with `clock_tolerance_seconds`); a role
 * claim naming a role, and for every role but `operator` a tenant claim naming a valid tenant.
 *
 * Cache: RS256/ES256/EdDSA verification costs 50-150 µs of CPU, more than the whole request
 * budget the issue allows (0.1 ms), so a verified token is remembered under its SHA-256 until
 * its expiry (with tolerance) or `maxCacheMs`, whichever is first, in a Map of at most
 * `cacheSize` entries (FIFO eviction).
 */
import { createHash, createPublicKey, X509Certificate, type JsonWebKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JwtAlgorithm, JwtSettings } from '../config/security_config.js';
import { DEFAULT_TENANT, ROLES, TENANT_NAME_PATTERN, type Role } from '../http/route.js';
import { JwsError, keyFits, verifyCompactJws, type JwsKey } from './jws_signature.js';

/** Who a verified token speaks for. */
export interface JwtIdentity {
  /** `jwt:<sub>`. */
  readonly id: string;
  readonly role: Role;
  /** The tenant claim; `default` for operators (who choose a tenant with X-Emms-Tenant). */
  readonly tenant: string;
  /** `exp` plus the clock tolerance, in epoch ms: streams opened with the token end then. */
  readonly expiresAtMs: number;
}

/** A token refused; the message is safe to send to the client (it never quotes the token). */
export class JwtVerificationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JwtVerificationError';
  }
}

/** The configured key cannot be used; raised at start-up, names the setting and file, never the key. */
export class JwtKeyError extends Error {
  constructor(readonly key: string, readonly file: string, rule: string) {
    super(`${key}=${JSON.stringify(file)} ${rule}`);
    this.name = 'JwtKeyError';
  }
}

export interface JwtVerifierOptions {
  now?: () => number;
  /** Verified tokens remembered; default 10 000. */
  cacheSize?: number;
  /** Longest a verified token is trusted without re-verification; default 5 min. */
  maxCacheMs?: number;
}

const MAX_JWT_CHARS = 16_384;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
const MIN_HS256_SECRET_BYTES = 32;

/** True when `token` has the three-part shape of a compact JWS (cheap pre-check before jose). */
export function looksLikeJwt(token: string): boolean {
  return token.length <= MAX_JWT_CHARS && JWT_SHAPE.test(token);
}

interface CachedIdentity {
  identity: JwtIdentity;
  validUntilMs: number;
}

export class JwtVerifier {
  readonly #settings: JwtSettings;
  readonly #keys: readonly JwsKey[];
  readonly #algorithms: readonly JwtAlgorithm[];
  readonly #now: () => number;
  readonly #cacheSize: number;
  readonly #maxCacheMs: number;
  readonly #cache = new Map<string, CachedIdentity>();

  /** Reads the key file named in `settings` (synchronously: once, at start-up). */
  constructor(settings: JwtSettings, options: JwtVerifierOptions = {}) {
    this.#settings = settings;
    this.#now = options.now ?? Date.now;
    this.#cacheSize = options.cacheSize ?? 10_000;
    this.#maxCacheMs = options.maxCacheMs ?? 300_000;
    const loaded = loadKeys(settings);
    this.#keys = loaded.keys;
    this.#algorithms = loaded.algorithms;
  }

  /** The identity of a token verified recently and still valid, without any crypto; else undefined. */
  verifyCached(token: string): JwtIdentity | undefined {
    if (this.#cache.size === 0) return undefined;
    const hash = createHash('sha256').update(token).digest('hex');
    const hit = this.#cache.get(hash);
    if (hit === undefined) return undefined;
    if (this.#now() < hit.validUntilMs) return hit.identity;
    this.#cache.delete(hash);
    return undefined;
  }

  /** Verifies a token; throws JwtVerificationError with a client-safe reason. */
  verify(token: string): JwtIdentity {
    const cached = this.verifyCached(token);
    if (cached !== undefined) return cached;
    if (!looksLikeJwt(token)) throw new JwtVerificationError('malformed JWT');
    const nowMs = this.#now();
    let payload: Record<string, unknown>;
    try {
      payload = verifyCompactJws(token, this.#keys, this.#algorithms);
    } catch (err) {
      if (err instanceof JwsError) throw new JwtVerificationError(err.message);
      throw err;
    }
    const exp = this.#checkClaims(payload, nowMs);
    const expMs = exp * 1000 + this.#settings.clockToleranceSeconds * 1000;
    const identity = this.#identityOf(payload, expMs);
    if (this.#cache.size >= this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value as string);
    this.#cache.set(createHash('sha256').update(token).digest('hex'), { identity, validUntilMs: Math.min(expMs, nowMs + this.#maxCacheMs) });
    return identity;
  }

  /**
   * The registered claims (RFC 7519 §4.1) the configuration pins; returns `exp`. Times compare in
   * whole seconds with the tolerance on the lenient side: expired when exp ≤ now − tolerance, not
   * yet valid when nbf > now + tolerance.
   */
  #checkClaims(payload: Record<string, unknown>, nowMs: number): number {
    const s = this.#settings;
    const nowS = Math.floor(nowMs / 1000);
    for (const claim of ['exp', 'nbf', 'iat'] as const) {
      const v = payload[claim];
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) throw new JwtVerificationError(`JWT claim "${claim}" must be a number`);
    }
    if (payload.iss !== s.issuer) throw new JwtVerificationError('JWT claim "iss" check failed');
    const audiences: unknown[] = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!audiences.includes(s.audience)) throw new JwtVerificationError('JWT claim "aud" check failed');
    const exp = payload.exp as number | undefined;
    if (exp === undefined) throw new JwtVerificationError('JWT claim "exp" is missing');
    if (exp <= nowS - s.clockToleranceSeconds) throw new JwtVerificationError('JWT expired');
    const nbf = payload.nbf as number | undefined;
    if (nbf !== undefined && nbf > nowS + s.clockToleranceSeconds) throw new JwtVerificationError('JWT claim "nbf" check failed');
    return exp;
  }

  #identityOf(payload: Record<string, unknown>, expiresAtMs: number): JwtIdentity {
    const { roleClaim, tenantClaim } = this.#settings;
    const role = payload[roleClaim];
    // Claim values are not quoted back: they come from the token.
    if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) {
      throw new JwtVerificationError(`JWT claim "${roleClaim}" must be one of ${ROLES.join(', ')}`);
    }
    let tenant = DEFAULT_TENANT;
    if (role !== 'operator') {
      const claimed = payload[tenantClaim];
      if (typeof claimed !== 'string' || !TENANT_NAME_PATTERN.test(claimed)) {
        throw new JwtVerificationError(`JWT claim "${tenantClaim}" must be a tenant name matching ${TENANT_NAME_PATTERN}`);
      }
      tenant = claimed;
    }
    const sub = typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub.slice(0, 256) : '(no subject)';
    return Object.freeze({ id: `jwt:${sub}`, role: role as Role, tenant, expiresAtMs });
  }
}

function loadKeys(s: JwtSettings): { keys: JwsKey[]; algorithms: JwtAlgorithm[] } {
  if (s.secretFile !== undefined) return { keys: [{ key: loadSecret(s.secretFile), algorithms: ['HS256'] }], algorithms: ['HS256'] };
  if (s.jwksFile !== undefined) return { keys: loadJwks(s.jwksFile, s.algorithms), algorithms: [...s.algorithms] };
  if (s.publicKeyFile !== undefined) {
    const { key, algorithms } = loadPem(s.publicKeyFile, s.algorithms);
    return { keys: [{ key, algorithms }], algorithms };
  }
  throw new JwtKeyError('security.jwt', '', 'has no key source');
}

function readKeyFile(setting: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new JwtKeyError(setting, file, `cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function loadSecret(file: string): Uint8Array {
  const bytes = readKeyFile('security.jwt.secret_file', file);
  // A trailing newline left by `echo` or an editor is not part of the secret.
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  if (end < MIN_HS256_SECRET_BYTES) {
    throw new JwtKeyError('security.jwt.secret_file', file, `holds ${end} bytes; HS256 needs a secret of at least ${MIN_HS256_SECRET_BYTES} bytes (RFC 7518 §3.2)`);
  }
  return new Uint8Array(bytes.subarray(0, end));
}

/**
 * The signing keys of a JWKS file. A key serves the configured algorithms its type fits, narrowed
 * by its own `alg`; keys marked for another `use` (encryption) or serving none are left out, and
 * a file left with no key at all is an error at start-up rather than a refusal of every token.
 */
function loadJwks(file: string, configured: readonly JwtAlgorithm[]): JwsKey[] {
  const setting = 'security.jwt.jwks_file';
  let jwks: { keys?: unknown };
  try {
    jwks = JSON.parse(readKeyFile(setting, file).toString('utf8')) as { keys?: unknown };
  } catch (err) {
    if (err instanceof JwtKeyError) throw err;
    throw new JwtKeyError(setting, file, 'is not valid JSON');
  }
  if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys) || jwks.keys.length === 0) {
    throw new JwtKeyError(setting, file, 'must be a JSON Web Key Set: {"keys": [ … ]} with at least one key');
  }
  const keys: JwsKey[] = [];
  (jwks.keys as unknown[]).forEach((k, i) => {
    // A symmetric or private key in a file of public keys means a leaked secret, or an
    // HMAC key an attacker could pair with a forged `alg`.
    if (typeof k !== 'object' || k === null || (k as JsonWebKey).kty === 'oct' || (k as JsonWebKey).d !== undefined) {
      throw new JwtKeyError(setting, file, `keys[${i}] must be a public key (no "oct" keys, no private "d")`);
    }
    const jwk = k as JsonWebKey & { kid?: unknown; alg?: unknown; use?: unknown };
    if (jwk.use !== undefined && jwk.use !== 'sig') return;
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk, format: 'jwk' });
    } catch {
      throw new JwtKeyError(setting, file, `keys[${i}] is not a valid public JWK`);
    }
    const algorithms = configured.filter((alg) => alg !== 'HS256' && keyFits(alg, key) && (jwk.alg === undefined || jwk.alg === alg));
    if (algorithms.length > 0) keys.push({ key, algorithms, ...(typeof jwk.kid === 'string' ? { kid: jwk.kid } : {}) });
  });
  if (keys.length === 0) throw new JwtKeyError(setting, file, `holds no signing key for security.jwt.algorithms ${JSON.stringify(configured)}`);
  return keys;
}

function loadPem(file: string, configured: readonly JwtAlgorithm[]): { key: KeyObject; algorithms: JwtAlgorithm[] } {
  const setting = 'security.jwt.public_key_file';
  const text = readKeyFile(setting, file).toString('utf8');
  if (text.includes('PRIVATE KEY')) throw new JwtKeyError(setting, file, 'holds a private key; give the public key (or certificate) only');
  let key: KeyObject;
  try {
    key = text.includes('BEGIN CERTIFICATE') ? new X509Certificate(text).publicKey : createPublicKey(text);
  } catch {
    throw new JwtKeyError(setting, file, 'is not a PEM public key or certificate');
  }
  const alg = algorithmOfKey(key);
  if (alg === undefined || !configured.includes(alg)) {
    throw new JwtKeyError(setting, file, `holds a ${describeKey(key)} key, which serves ${alg ?? 'none of the supported algorithms'}; security.jwt.algorithms is ${JSON.stringify(configured)}`);
  }
  if (!keyFits(alg, key)) {
    throw new JwtKeyError(setting, file, `holds a ${key.asymmetricKeyDetails?.modulusLength ?? '?'}-bit RSA key; ${alg} needs at least 2048 bits (RFC 7518 §3.3)`);
  }
  // A PEM key does one algorithm: pinning it is what makes algorithm confusion impossible.
  return { key, algorithms: [alg] };
}

function algorithmOfKey(key: KeyObject): JwtAlgorithm | undefined {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'ec':
      return key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? 'ES256' : undefined;
    case 'ed25519':
      return 'EdDSA';
    default:
      return undefined;
  }
}

function describeKey(key: KeyObject): string {
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve === undefined ? String(key.asymmetricKeyType) : `${key.asymmetricKeyType} ${curve}`;
}
