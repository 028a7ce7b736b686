/**
 * 200 tenants on one server, as the seed promises 100+: the operator creates a writer and a
 * reader key for each, every tenant writes the same metric ids with its own values over HTTP,
 * and a sample of tenants checks that each sees only its own series, rules, keys and targets,
 * and that per-tenant quotas bind one tenant without touching the others.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmmsApp, type EmmsApp } from '../../src/app/emms_app.js';
import { loadConfig } from '../../src/config/config.js';

const TENANTS = 200;
const SAMPLE = [0, 1, 42, 99, 100, 137, 198, 199];
const NOW = Date.now();
let dir: string;
let app: EmmsApp;
let base: string;
let operator: string;
const writers: string[] = [];
const readers: string[] = [];

async function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
}

const tenant = (i: number): string => `tenant-${String(i).padStart(3, '0')}`;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-tenants-'));
  const config = loadConfig({ env: {}, flags: { port: '0', data: dir } });
  config.collector.decodeThreads = 0;
  app = await startEmmsApp(config, () => undefined);
  base = `http://127.0.0.1:${app.server.port}`;
  operator = readFileSync(app.adminTokenPath!, 'utf8').trim();
  for (let i = 0; i < TENANTS; i++) {
    for (const [role, list] of [['writer', writers], ['reader', readers]] as const) {
      const r = await call('POST', '/api/v1/auth/keys', operator, { name: `${role}-${i}`, tenant: tenant(i), role });
      expect(r.status).toBe(201);
      list.push(r.json.token);
    }
  }
  // Every tenant writes the same ids: crypto.key.access_count{key_id=k1} = its index, and one
  // series of its own name.
  for (let i = 0; i < TENANTS; i++) {
    const r = await call('POST', '/api/v1/metrics', writers[i]!, {
      metrics: [
        { metric_id: 'crypto.key.access_count', value: i, tags: { key_id: 'k1' }, timestamp: NOW - 1000 },
        { metric_id: `own.${tenant(i)}`, value: i * 10, timestamp: NOW - 1000 },
      ],
    });
    expect(r.status).toBe(200);
  }
}, 120_000);

afterAll(async () => {
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe(`${TENANTS} tenants on one server`, () => {
  it('stores every tenant and shows each only its own series', async () => {
    // Every tenant's two series, plus the server's own (collectors) in tenant default.
    expect(app.engine.stats().series).toBeGreaterThanOrEqual(2 * TENANTS);
    for (const i of SAMPLE) {
      const q = await call('GET', '/api/v1/query?metric_pattern=*&start_time=0', readers[i]!);
      expect(q.status).toBe(200);
      const got = (q.json.series as Array<{ metric_id: string; points: number[][] }>).map((s) => [s.metric_id, s.points.map((p) => p[1])]);
      expect(got.sort()).toEqual([['crypto.key.access_count', [i]], [`own.${tenant(i)}`, [i * 10]]]);
      const federated = await fetch(`${base}/federate?match=*`, { headers: { authorization: `Bearer ${readers[i]}` } });
      const text = await federated.text();
      expect(text).toContain(`own_${tenant(i).replace('-', '_')}`);
      expect(text.match(/^own_/gm)?.length).toBe(1);
    }
  });

  it("keeps rules, key inventory and targets per tenant; another tenant's object is 404", async () => {
    const [a, b] = [SAMPLE[2]!, SAMPLE[5]!];
    const adminOf = async (i: number): Promise<string> => (await call('POST', '/api/v1/auth/keys', operator, { name: `admin-${i}`, tenant: tenant(i), role: 'admin' })).json.token;
    const adminA = await adminOf(a);
    const adminB = await adminOf(b);
    expect((await call('POST', '/api/v1/alerts/rules', adminA, { rule_id: 'same-id', name: 'A', metric_pattern: 'crypto\\.key\\..*', threshold_value: 1, comparison: '>', priority: 'LOW' })).status).toBe(201);
    expect((await call('POST', '/api/v1/keys', adminA, { key_id: 'same-key', key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'a', backend: 'kms' })).status).toBe(201);
    expect((await call('POST', '/api/v1/health/targets', adminA, { target_id: 'same-target', target_type: 'tcp', endpoint: 'db.example.com', port: 5432, interval: 60 })).status).toBe(201);
    expect((await call('GET', '/api/v1/alerts/rules/same-id', adminB)).status).toBe(404);
    expect((await call('GET', '/api/v1/keys/same-key', adminB)).status).toBe(404);
    expect((await call('GET', '/api/v1/health/targets/same-target', adminB)).status).toBe(404);
    // B may use the same ids for its own objects.
    expect((await call('POST', '/api/v1/alerts/rules', adminB, { rule_id: 'same-id', name: 'B', metric_pattern: 'own\\..*', threshold_value: 1, comparison: '>', priority: 'LOW' })).status).toBe(201);
    expect((await call('GET', '/api/v1/alerts/rules/same-id', adminA)).json).toMatchObject({ name: 'A' });
    expect((await call('GET', '/api/v1/alerts/rules/same-id', adminB)).json).toMatchObject({ name: 'B' });
  });

  it("binds one tenant's series quota and leaves the others alone", async () => {
    const i = SAMPLE[3]!;
    expect((await call('PUT', `/api/v1/tenants/${tenant(i)}`, operator, { quotas: { active_series: 2 } })).status).toBe(200);
    const refused = await call('POST', '/api/v1/metrics', writers[i]!, { metrics: [{ metric_id: 'third.series', value: 1, timestamp: NOW }] });
    expect(refused.status).toBe(429);
    expect(JSON.stringify(refused.json)).toContain('active_series');
    const other = await call('POST', '/api/v1/metrics', writers[i + 1]!, { metrics: [{ metric_id: 'third.series', value: 1, timestamp: NOW }] });
    expect(other.status).toBe(200);
    const q = await call('GET', '/api/v1/query?metric_pattern=third.*&start_time=0', readers[i]!);
    expect(q.json.series).toEqual([]);
  });
});
