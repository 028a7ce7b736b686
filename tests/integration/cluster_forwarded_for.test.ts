/**
 * Client addresses through a real standby (issue 15): two `emms serve` processes on one
 * test-owned Redis, each with `security.trusted_proxies: ["127.0.0.1/32"]` (the standby reaches
 * the writer from 127.0.0.1). A client bound to 127.0.0.2 uses an API key restricted to
 * 127.0.0.2/32 through the standby and is accepted, and the writer's audit trail names
 * 127.0.0.2, not the standby; the same key is refused from 127.0.0.1, and a client bound to
 * 127.0.0.3 that claims 127.0.0.2 in X-Forwarded-For is refused, directly (its socket is no
 * trusted proxy, so the header is ignored) and through the standby (which replaces the claim).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { SignJWT, exportSPKI, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeNode, freePorts, killNode, spawnNode, waitFor, type ClusterNode } from './cluster_failover_node.js';
import { startRedis, type RedisInstance } from './redis_instance.js';
import { tempDir } from './server_harness.js';

const START_TIMEOUT_MS = 120_000;
const ISSUER = 'https://idp.forwarded-for.test';
const AUDIENCE = 'emms';
const TENANT = 'fwdfor';

interface Answer { status: number; body: Record<string, unknown> }

/** A request from `localAddress` (a loopback address of 127.0.0.0/8), JSON in and out. */
function call(node: ClusterNode, method: string, path: string, localAddress: string, headers: Record<string, string>, body?: unknown): Promise<Answer> {
  const text = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${node.base}${path}`, {
      method, localAddress, agent: false,
      headers: { ...headers, ...(text === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }) },
    }, (res) => {
      let got = '';
      res.on('data', (d: Buffer) => (got += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, body: got === '' ? {} : (JSON.parse(got) as Record<string, unknown>) }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path} on ${node.name}: no answer in 30 s`)));
    req.end(text);
  });
}

const cleanups: Array<() => Promise<void> | void> = [];
let redis: RedisInstance;
let writer: ClusterNode;
let standby: ClusterNode;
let admin: Record<string, string>;

beforeAll(async () => {
  const { dir, remove } = tempDir('emms-forwarded-for-');
  cleanups.push(remove);
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const pemFile = join(dir, 'idp.pem');
  writeFileSync(pemFile, await exportSPKI(publicKey));
  const configPath = join(dir, 'main.json');
  writeFileSync(configPath, JSON.stringify({
    security: {
      jwt: { algorithms: ['ES256'], public_key_file: pemFile, issuer: ISSUER, audience: AUDIENCE, tenant_claim: 'org', role_claim: 'emms_role' },
      trusted_proxies: ['127.0.0.1/32'],
    },
  }));
  expect(JSON.parse(readFileSync(configPath, 'utf8')).security.trusted_proxies).toEqual(['127.0.0.1/32']);
  const token = await new SignJWT({ org: TENANT, emms_role: 'admin' }).setProtectedHeader({ alg: 'ES256' })
    .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject('forwarded-for-admin').setIssuedAt().setExpirationTime('30m').sign(privateKey);
  admin = { authorization: `Bearer ${token}` };

  redis = await startRedis();
  cleanups.push(() => redis.stop());
  const env = { METRICS_STORAGE_TYPE: 'redis', METRICS_REDIS_URL: redis.url, METRICS_REDIS_PREFIX: 'forwarded-for:' };
  const ports = await freePorts(2);
  const spawnAt = (i: number): ClusterNode => {
    const data = tempDir(`emms-forwarded-for-${i}-`);
    const node = spawnNode(`fwdfor-${i}`, ports[i]!, data.dir, configPath, env, admin);
    cleanups.push(async () => {
      await killNode(node);
      data.remove();
    });
    return node;
  };
  writer = spawnAt(0);
  await waitFor(`the writer listening:\n${describeNode(writer)}`, () => writer.listeningAt !== undefined || !writer.alive(), START_TIMEOUT_MS, 50);
  expect(writer.alive(), describeNode(writer)).toBe(true);
  standby = spawnAt(1);
  await waitFor(`the standby ready:\n${describeNode(standby)}`, async () => {
    if (!standby.alive()) return true;
    try {
      const r = await fetch(`${standby.base}/health/ready`, { signal: AbortSignal.timeout(2_000) });
      await r.body?.cancel();
      return r.status === 200;
    } catch {
      return false;
    }
  }, START_TIMEOUT_MS, 50);
  expect(standby.alive(), describeNode(standby)).toBe(true);
  expect(standby.listeningAt, describeNode(standby)).toBeUndefined();
}, 300_000);

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
}, 60_000);

describe('client addresses through a standby (Redis cluster, trusted_proxies 127.0.0.1/32)', () => {
  it('an API key restricted to 127.0.0.2/32 works through the standby from 127.0.0.2, and the audit names 127.0.0.2', async () => {
    // Created through the standby from 127.0.0.2 by the admin: an audited request.
    const created = await call(standby, 'POST', '/api/v1/auth/keys', '127.0.0.2', admin, { name: 'from-two', role: 'reader', allowed_networks: ['127.0.0.2/32'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const key = { authorization: `Bearer ${created.body.token as string}` };

    const through = await call(standby, 'GET', '/api/v1/auth/whoami', '127.0.0.2', key);
    expect(through.status, JSON.stringify(through.body)).toBe(200);
    expect(through.body).toMatchObject({ kind: 'api_key', role: 'reader', tenant: TENANT });
    // Directly on the writer from 127.0.0.2: the same.
    expect((await call(writer, 'GET', '/api/v1/auth/whoami', '127.0.0.2', key)).status).toBe(200);

    // From 127.0.0.1 (a trusted proxy's address, but sending no header: the client itself) it is refused.
    const wrong = await call(writer, 'GET', '/api/v1/auth/whoami', '127.0.0.1', key);
    expect(wrong.status).toBe(403);
    expect(wrong.body.error).toContain('may not be used from 127.0.0.1');

    const audit = await call(writer, 'GET', '/api/v1/audit?limit=1000', '127.0.0.1', admin);
    expect(audit.status, JSON.stringify(audit.body)).toBe(200);
    const records = audit.body.records as Array<Record<string, unknown>>;
    const creation = records.filter((r) => r.action === 'POST /api/v1/auth/keys');
    expect(creation, JSON.stringify(records)).toHaveLength(1);
    expect(creation[0]).toMatchObject({ source: '127.0.0.2', outcome: 'ok' });
  }, 60_000);

  it('a client that is no trusted proxy cannot claim another address: directly, the header is ignored; through the standby, it is replaced', async () => {
    const created = await call(writer, 'POST', '/api/v1/auth/keys', '127.0.0.1', admin, { name: 'only-two', role: 'reader', allowed_networks: ['127.0.0.2/32'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const spoofed = { authorization: `Bearer ${created.body.token as string}`, 'x-forwarded-for': '127.0.0.2' };
    for (const node of [writer, standby]) {
      const r = await call(node, 'GET', '/api/v1/auth/whoami', '127.0.0.3', spoofed);
      expect(r.status, `${node.name}: ${JSON.stringify(r.body)}`).toBe(403);
      expect(r.body.error).toContain('may not be used from 127.0.0.3');
    }
    // A header that cannot be read, from the standby's trusted address, is a 400 from the standby itself.
    const garbage = await call(standby, 'GET', '/api/v1/auth/whoami', '127.0.0.1', { 'x-forwarded-for': '127.0.0.2, unknown' });
    expect(garbage.status).toBe(400);
    expect(garbage.body.error).toBe('header X-Forwarded-For="127.0.0.2, unknown" has "unknown", which is not an IP address');
  }, 60_000);
});
