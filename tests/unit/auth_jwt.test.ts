import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JwtKeyError, JwtVerificationError, JwtVerifier } from '../../src/auth/jwt_verifier.js';
import type { JwtAlgorithm, JwtSettings } from '../../src/config/security_config.js';
import { authKit } from './auth_test_kit.js';

const NOW_S = 1_900_000_000;
const now = () => NOW_S * 1000;
let dir: string;
const pairs = new Map<string, { publicKey: CryptoKey; privateKey: CryptoKey; pem: string }>();
const SECRET = 'an-hs256-secret-of-at-least-32-bytes!!';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-jwt-'));
  for (const alg of ['RS256', 'ES256', 'EdDSA', 'RS256-other']) {
    const { publicKey, privateKey } = await generateKeyPair(alg.replace('-other', ''), { extractable: true });
    const pem = await exportSPKI(publicKey);
    writeFileSync(join(dir, `${alg}.pem`), pem);
    pairs.set(alg, { publicKey, privateKey, pem });
  }
  writeFileSync(join(dir, 'hs256.secret'), `${SECRET}\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function settings(alg: JwtAlgorithm, extra: Partial<JwtSettings> = {}): JwtSettings {
  return {
    algorithms: [alg],
    ...(alg === 'HS256' ? { secretFile: join(dir, 'hs256.secret') } : { publicKeyFile: join(dir, `${alg}.pem`) }),
    issuer: 'https://idp.example.com',
    audience: 'emms',
    tenantClaim: 'tenant',
    roleClaim: 'role',
    clockToleranceSeconds: 30,
    ...extra,
  };
}

const CLAIMS = { tenant: 'acme', role: 'writer' };

async function sign(alg: string, key: CryptoKey | Uint8Array, claims: JWTPayload = CLAIMS, opts: { iss?: string; aud?: string; exp?: number | null; nbf?: number; kid?: string } = {}): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg, ...(opts.kid === undefined ? {} : { kid: opts.kid }) })
    .setSubject('alice')
    .setIssuer(opts.iss ?? 'https://idp.example.com')
    .setAudience(opts.aud ?? 'emms')
    .setIssuedAt(NOW_S - 10);
  if (opts.exp !== null) jwt.setExpirationTime(opts.exp ?? NOW_S + 600);
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(key);
}

const hsKey = new TextEncoder().encode(SECRET);
const privateOf = (alg: string) => pairs.get(alg)!.privateKey;

async function refusedWith(verifier: JwtVerifier, token: string): Promise<string> {
  let err: unknown;
  try {
    verifier.verify(token);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(JwtVerificationError);
  const message = (err as Error).message;
  expect(message).not.toContain((token.split('.')[2] ?? '').slice(0, 16) || 'never');
  return message;
}

describe('JWT verifier', () => {
  it.each(['HS256', 'RS256', 'ES256', 'EdDSA'] as const)('accepts a valid %s token and maps its claims', async (alg) => {
    const verifier = new JwtVerifier(settings(alg), { now });
    const token = await sign(alg, alg === 'HS256' ? hsKey : privateOf(alg));
    expect(await verifier.verify(token)).toEqual({ id: 'jwt:alice', role: 'writer', tenant: 'acme', expiresAtMs: (NOW_S + 600 + 30) * 1000 });
  });

  it('refuses wrong issuer, audience, expiry, not-before, missing exp and bad signatures', async () => {
    const verifier = new JwtVerifier(settings('RS256'), { now });
    const key = privateOf('RS256');
    expect(await refusedWith(verifier, await sign('RS256', key, CLAIMS, { iss: 'https://evil.example.com' }))).toBe('JWT claim "iss" check failed');
    expect(await refusedWith(verifier, await sign('RS256', key, CLAIMS, { aud: 'other' }))).toBe('JWT claim "aud" check failed');
    expect(await refusedWith(verifier, await sign('RS256', key, CLAIMS, { exp: NOW_S - 31 }))).toBe('JWT expired');
    expect(await verifier.verify(await sign('RS256', key, CLAIMS, { exp: NOW_S - 29 }))).toMatchObject({ role: 'writer' }); // within tolerance
    expect(await refusedWith(verifier, await sign('RS256', key, CLAIMS, { nbf: NOW_S + 31 }))).toBe('JWT claim "nbf" check failed');
    expect(await refusedWith(verifier, await sign('RS256', key, CLAIMS, { exp: null }))).toBe('JWT claim "exp" is missing');
    expect(await refusedWith(verifier, await sign('RS256', privateOf('RS256-other')))).toBe('JWT signature verification failed');
  });

  it('refuses alg none and algorithm confusion', async () => {
    const verifier = new JwtVerifier(settings('RS256'), { now });
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const payload = { ...CLAIMS, sub: 'mallory', iss: 'https://idp.example.com', aud: 'emms', exp: NOW_S + 600 };
    expect(await refusedWith(verifier, `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`)).toBe('JWT algorithm not allowed');
    // The classic confusion: HS256 "signed" with the RSA public key (PEM text) as the HMAC secret.
    const forged = await sign('HS256', new TextEncoder().encode(pairs.get('RS256')!.pem));
    expect(await refusedWith(verifier, forged)).toBe('JWT algorithm not allowed');
    // An algorithm the configuration names but the key cannot do is refused too.
    expect(await refusedWith(verifier, await sign('ES256', privateOf('ES256')))).toBe('JWT algorithm not allowed');
    const hs = new JwtVerifier(settings('HS256'), { now });
    expect(await refusedWith(hs, await sign('RS256', privateOf('RS256')))).toBe('JWT algorithm not allowed');
  });

  it('refuses critical headers, tampered payloads, DER-encoded ES256 signatures and non-string kids; accepts an audience array', async () => {
    const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const rs = new JwtVerifier(settings('RS256'), { now });
    const token = await sign('RS256', privateOf('RS256'));
    const [h, p, sig] = token.split('.') as [string, string, string];
    // A header the signature covers, but naming an extension we do not implement (RFC 7515 §4.1.11).
    const crit = await new SignJWT({ ...CLAIMS, iss: 'https://idp.example.com', aud: 'emms', exp: NOW_S + 600 })
      .setProtectedHeader({ alg: 'RS256', crit: ['exp'], exp: 1 } as never).sign(privateOf('RS256')).catch(() => undefined);
    if (crit !== undefined) expect(await refusedWith(rs, crit)).toMatch(/critical header/);
    expect(await refusedWith(rs, `${b64({ alg: 'RS256', crit: ['x'] })}.${p}.${sig}`)).toMatch(/critical header/);
    expect(await refusedWith(rs, `${b64({ alg: 'RS256', b64: false })}.${p}.${sig}`)).toMatch(/critical header/);
    expect(await refusedWith(rs, `${b64({ alg: 'RS256', kid: 7 })}.${p}.${sig}`)).toBe('JWT header "kid" must be a string');
    const forgedPayload = b64({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), role: 'admin' });
    expect(await refusedWith(rs, `${h}.${forgedPayload}.${sig}`)).toBe('JWT signature verification failed');
    expect(await refusedWith(rs, `${h}.${p}.${sig.slice(0, 20)}`)).toBe('JWT signature verification failed');
    expect(await refusedWith(rs, `${h}.${p}`)).toBe('malformed JWT');

    const es = new JwtVerifier(settings('ES256'), { now });
    const esToken = await sign('ES256', privateOf('ES256'));
    const [eh, ep, esig] = esToken.split('.') as [string, string, string];
    const raw = Buffer.from(esig, 'base64url');
    const int = (b: Buffer) => (b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
    const r = int(raw.subarray(0, 32));
    const sv = int(raw.subarray(32));
    const der = Buffer.concat([Buffer.from([0x30, r.length + sv.length + 4, 0x02, r.length]), r, Buffer.from([0x02, sv.length]), sv]);
    expect(await refusedWith(es, `${eh}.${ep}.${der.toString('base64url')}`)).toBe('JWT signature verification failed');
    expect(es.verify(esToken)).toMatchObject({ role: 'writer' });

    const multi = await new SignJWT({ ...CLAIMS }).setProtectedHeader({ alg: 'EdDSA' }).setSubject('alice').setIssuer('https://idp.example.com')
      .setAudience(['grafana', 'emms']).setExpirationTime(NOW_S + 600).sign(privateOf('EdDSA'));
    expect(new JwtVerifier(settings('EdDSA'), { now }).verify(multi)).toMatchObject({ tenant: 'acme' });
  });

  it('skips JWKS keys for encryption and refuses a JWKS with no key for the configured algorithms, and RSA keys under 2048 bits', async () => {
    const jwksFile = join(dir, 'jwks-use.json');
    const sigKey = { ...(await exportJWK(pairs.get('ES256')!.publicKey)), kid: 's' };
    const encKey = { ...(await exportJWK(pairs.get('RS256')!.publicKey)), kid: 'e', use: 'enc' };
    writeFileSync(jwksFile, JSON.stringify({ keys: [encKey, sigKey] }));
    const v = new JwtVerifier(settings('ES256', { publicKeyFile: undefined, jwksFile }), { now });
    expect(v.verify(await sign('ES256', privateOf('ES256'), CLAIMS, { kid: 's' }))).toMatchObject({ tenant: 'acme' });
    writeFileSync(jwksFile, JSON.stringify({ keys: [encKey] }));
    expect(() => new JwtVerifier(settings('ES256', { publicKeyFile: undefined, jwksFile }), { now })).toThrow(/holds no signing key for security.jwt.algorithms \["ES256"\]/);
    // jose will not even make one; OpenSSL will.
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'short' }] }));
    expect(() => new JwtVerifier(settings('RS256', { publicKeyFile: undefined, jwksFile }), { now })).toThrow(/holds no signing key/);
    const shortPem = join(dir, 'short-rsa.pem');
    writeFileSync(shortPem, publicKey.export({ format: 'pem', type: 'spki' }));
    expect(() => new JwtVerifier(settings('RS256', { publicKeyFile: shortPem }), { now })).toThrow(/holds a 1024-bit RSA key; RS256 needs at least 2048 bits/);
  });

  it('refuses invalid tenant and role claims, honours custom claim names, and lets operators omit the tenant', async () => {
    const verifier = new JwtVerifier(settings('ES256', { tenantClaim: 'https://emms/tenant', roleClaim: 'emms_role' }), { now });
    const key = privateOf('ES256');
    expect(await verifier.verify(await sign('ES256', key, { 'https://emms/tenant': 'beta', emms_role: 'admin' }))).toMatchObject({ id: 'jwt:alice', role: 'admin', tenant: 'beta' });
    expect(await refusedWith(verifier, await sign('ES256', key, { 'https://emms/tenant': 'beta', emms_role: 'root' }))).toBe('JWT claim "emms_role" must be one of reader, writer, admin, operator');
    expect(await refusedWith(verifier, await sign('ES256', key, { 'https://emms/tenant': 'a/b', emms_role: 'reader' }))).toMatch(/^JWT claim "https:\/\/emms\/tenant" must be a tenant name/);
    expect(await refusedWith(verifier, await sign('ES256', key, { tenant: 'acme', role: 'reader' }))).toMatch(/"emms_role" must be one of/);
    expect(await verifier.verify(await sign('ES256', key, { emms_role: 'operator' }))).toMatchObject({ id: 'jwt:alice', role: 'operator', tenant: 'default' });
  });

  it('verifies against a local JWKS by kid and refuses JWKS or PEM files holding secrets', async () => {
    const jwk1 = { ...(await exportJWK(pairs.get('RS256')!.publicKey)), kid: 'k1', alg: 'RS256' };
    const jwk2 = { ...(await exportJWK(pairs.get('RS256-other')!.publicKey)), kid: 'k2', alg: 'RS256' };
    const jwksFile = join(dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [jwk1, jwk2] }));
    const s = settings('RS256', { publicKeyFile: undefined, jwksFile });
    const verifier = new JwtVerifier(s, { now });
    expect(await verifier.verify(await sign('RS256', privateOf('RS256-other'), CLAIMS, { kid: 'k2' }))).toMatchObject({ tenant: 'acme' });
    expect(await refusedWith(verifier, await sign('RS256', privateOf('RS256-other'), CLAIMS, { kid: 'k1' }))).toBe('JWT signature verification failed');
    expect(await refusedWith(verifier, await sign('RS256', privateOf('RS256'), CLAIMS, { kid: 'k9' }))).toBe('no key of the JWKS matches the JWT');

    writeFileSync(jwksFile, JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'h' }] }));
    expect(() => new JwtVerifier(s, { now })).toThrow(/keys\[0\] must be a public key/);
    const privatePem = join(dir, 'private.pem');
    writeFileSync(privatePem, await exportPKCS8(privateOf('RS256')));
    expect(() => new JwtVerifier(settings('RS256', { publicKeyFile: privatePem }), { now })).toThrow(/holds a private key/);
    expect(() => new JwtVerifier(settings('ES256', { publicKeyFile: join(dir, 'RS256.pem') }), { now })).toThrow(/holds a rsa key, which serves RS256; security.jwt.algorithms is \["ES256"\]/);
    const short = join(dir, 'short.secret');
    writeFileSync(short, 'too short\n');
    expect(() => new JwtVerifier(settings('HS256', { secretFile: short }), { now })).toThrow(JwtKeyError);
    expect(() => new JwtVerifier(settings('HS256', { secretFile: short }), { now })).toThrow(/holds 9 bytes; HS256 needs a secret of at least 32 bytes/);
  });

  it('caches a verified token until its expiry, bounded in size', async () => {
    const clock = { now: now() };
    const verifier = new JwtVerifier(settings('EdDSA'), { now: () => clock.now, cacheSize: 2 });
    const token = await sign('EdDSA', privateOf('EdDSA'), CLAIMS, { exp: NOW_S + 60 });
    expect(verifier.verifyCached(token)).toBeUndefined();
    await verifier.verify(token);
    expect(verifier.verifyCached(token)).toMatchObject({ id: 'jwt:alice', role: 'writer', tenant: 'acme' });
    clock.now = (NOW_S + 60 + 30) * 1000; // exp + tolerance
    expect(verifier.verifyCached(token)).toBeUndefined();
    clock.now = now();
    const others = await Promise.all([1, 2, 3].map((i) => sign('EdDSA', privateOf('EdDSA'), { ...CLAIMS, n: i })));
    for (const t of others) await verifier.verify(t);
    expect(verifier.verifyCached(others[0]!)).toBeUndefined();
    expect(verifier.verifyCached(others[2]!)).toBeDefined();
  });
});

describe('authenticator with JWT', () => {
  it('authenticates a JWT synchronously (a WebSocket upgrade must not wait: jws_signature.ts) and applies the tenant header rules', async () => {
    const kit = authKit({ jwt: new JwtVerifier(settings('RS256'), { now }) });
    try {
      const token = await sign('RS256', privateOf('RS256'));
      const first = kit.authenticator.authenticate({ authorization: `Bearer ${token}`, tenantHeader: undefined, remoteAddress: '10.0.0.1' });
      expect(first).not.toBeInstanceOf(Promise);
      expect(first).toMatchObject({ ok: true, principal: { id: 'jwt:alice', kind: 'jwt', role: 'writer', tenant: 'acme' } });
      const second = kit.authenticator.authenticate({ authorization: `Bearer ${token}`, tenantHeader: undefined, remoteAddress: '10.0.0.1' });
      expect(second).not.toBeInstanceOf(Promise);
      expect(await kit.auth({ authorization: `Bearer ${token}`, tenantHeader: 'beta' })).toMatchObject({ ok: false, status: 403 });
      const op = await sign('RS256', privateOf('RS256'), { role: 'operator' });
      expect(await kit.principal(op, 'beta')).toMatchObject({ id: 'jwt:alice', kind: 'jwt', role: 'operator', tenant: 'beta' });
      const expired = await sign('RS256', privateOf('RS256'), CLAIMS, { exp: NOW_S - 100 });
      const r = await kit.auth({ authorization: `Bearer ${expired}` });
      expect(r).toEqual({ ok: false, status: 401, error: 'JWT expired' });
      expect(kit.failures.map((f) => f.reason)).toEqual(['tenant_not_allowed', 'invalid_jwt']);
    } finally {
      kit.cleanup();
    }
  });
});
