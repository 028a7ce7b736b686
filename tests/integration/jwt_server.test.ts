/**
 * JWT through the real server: an ES256 public key in a PEM file (security.jwt), tokens signed
 * by the identity provider's private key. The tenant and role come from the token's claims and
 * scope what the caller sees; forged, expired, wrong-audience and `alg: none` tokens get 401,
 * and an HS256 token signed with the public key (algorithm confusion) too.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { WsClient } from '../../bench/load/ws_client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmmsApp, type EmmsApp } from '../../src/app/emms_app.js';
import { loadConfig } from '../../src/config/config.js';

let dir: string;
let app: EmmsApp;
let base: string;
let sign: (claims: Record<string, unknown>, opts?: { expiresIn?: string; audience?: string }) => Promise<string>;
let publicPem: string;

const get = async (path: string, token: string): Promise<{ status: number; json: any }> => {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-jwt-'));
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  publicPem = await exportSPKI(publicKey);
  const pemFile = join(dir, 'idp.pem');
  writeFileSync(pemFile, publicPem);
  sign = (claims, opts = {}) => new SignJWT(claims).setProtectedHeader({ alg: 'ES256' }).setIssuer('https://idp.example.org')
    .setAudience(opts.audience ?? 'emms').setSubject('alice').setIssuedAt().setExpirationTime(opts.expiresIn ?? '5m').sign(privateKey);
  const configFile = join(dir, 'main.json');
  writeFileSync(configFile, JSON.stringify({
    security: { jwt: { algorithms: ['ES256'], public_key_file: pemFile, issuer: 'https://idp.example.org', audience: 'emms', tenant_claim: 'org', role_claim: 'emms_role', clock_tolerance_seconds: 0 } },
  }));
  const config = loadConfig({ configPath: configFile, env: {}, flags: { port: '0', data: join(dir, 'data') } });
  config.collector.decodeThreads = 0;
  app = await startEmmsApp(config, () => undefined);
  base = `http://127.0.0.1:${app.server.port}`;
}, 60_000);

afterAll(async () => {
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('JWT on the real server', () => {
  it('takes tenant and role from the claims, and scopes the caller to that tenant', async () => {
    const writer = await sign({ org: 'payments', emms_role: 'writer' });
    expect((await get('/api/v1/auth/whoami', writer)).json).toMatchObject({ kind: 'jwt', tenant: 'payments', role: 'writer' });
    const res = await fetch(`${base}/api/v1/metrics`, {
      method: 'POST', headers: { authorization: `Bearer ${writer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ metrics: [{ metric_id: 'jwt.m', value: 7, timestamp: Date.now() - 1000 }] }),
    });
    expect(res.status).toBe(200);
    const reader = await sign({ org: 'payments', emms_role: 'reader' });
    expect((await get('/api/v1/query?metric_pattern=jwt.m&start_time=0', reader)).json.series).toHaveLength(1);
    const other = await sign({ org: 'billing', emms_role: 'admin' });
    expect((await get('/api/v1/query?metric_pattern=jwt.m&start_time=0', other)).json.series).toEqual([]);
    // A reader may not write.
    expect((await fetch(`${base}/api/v1/metrics`, { method: 'POST', headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' }, body: '{"metrics":[]}' })).status).toBe(403);
  });

  it('refuses expired, wrong-audience, unsigned and algorithm-confused tokens with 401', async () => {
    expect((await get('/api/v1/auth/whoami', await sign({ org: 'payments', emms_role: 'admin' }, { expiresIn: '-1m' }))).status).toBe(401);
    expect((await get('/api/v1/auth/whoami', await sign({ org: 'payments', emms_role: 'admin' }, { audience: 'grafana' }))).status).toBe(401);
    const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const payload = { iss: 'https://idp.example.org', aud: 'emms', sub: 'mallory', org: 'payments', emms_role: 'admin', exp: Math.floor(Date.now() / 1000) + 300 };
    expect((await get('/api/v1/auth/whoami', `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`)).status).toBe(401);
    // HS256 "signed" with the public key's PEM text as the HMAC secret.
    const confused = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(publicPem));
    expect((await get('/api/v1/auth/whoami', confused)).status).toBe(401);
    // A role claim the server does not know.
    expect((await get('/api/v1/auth/whoami', await sign({ org: 'payments', emms_role: 'root' }))).status).toBe(401);
  });

  it('closes a stream opened with a JWT when the token expires', async () => {
    const token = await sign({ org: 'payments', emms_role: 'writer' }, { expiresIn: '3s' });
    const ws = await WsClient.open(`${base.replace('http', 'ws')}/api/v1/stream`, { headers: { authorization: `Bearer ${token}` } });
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      ws.onClose = (code, reason) => resolve({ code, reason });
    });
    // exp (3 s, whole seconds) plus the default 30 s clock tolerance is too long for a test:
    // the server under test is configured with no tolerance (clock_tolerance_seconds: 0).
    const { code, reason } = await Promise.race([closed, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('stream still open 10 s after its JWT expired')), 10_000))]);
    expect(code).toBe(1008);
    expect(reason).toMatch(/revoked or has expired/);
  }, 15_000);
});
