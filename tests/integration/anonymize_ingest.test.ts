/**
 * Anonymization at ingest against a real `emms serve` (issue 14): with `security.anonymize`
 * rules in main.json, points sent over the WebSocket stream (msgpack, decoded by the worker
 * pool), HTTP, line protocol and remote write, key events, and a Vault trail imported with
 * `emms import-audit --config`, carry distinctive raw addresses, users, e-mails and actors.
 * Remote write out is configured towards a closed port, so every batch stays in the durable
 * queue file. After the server stops, every byte of every file in the data directory is
 * scanned: no raw value may appear. Group-by on the truncated and pseudonymized tags sums
 * exactly what was sent per /24 and per person, a tenant's override is honoured, and a restart
 * keeps the pseudonyms (the same raw value lands in the same series).
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { compressSync, uncompressSync } from 'snappy';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WsClient } from '../../bench/load/ws_client.js';
import { encodeWriteRequest } from '../../src/interop/remote_write_proto.js';
import { describeFiles, scanDirectory } from './data_dir_scan.js';
import { CLI_ENTRY, REPO_ROOT, packr, startServer, tempDir, unpackr, type ServerProcess } from './server_harness.js';

const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);
const RAW = {
  wsIp: '198.51.100.77', wsIp2: '198.51.100.81', httpIp: '198.51.100.78', lpIp: '198.51.100.79', rwIp: '198.51.100.80', otherNet: '203.0.113.91',
  ip6: '2001:db8:cafe:beef::77',
  user: 'mallory.subject@example.org', email: 'private.mailbox@example.net',
  actor: 'dave.keyholder@example.org', eventIp: '192.0.2.155',
  vaultActor: 'vault-display-name-erin', vaultIp: '192.0.2.222',
};
const ACME_IP = '192.0.2.17';

const tmp = tempDir('emms-anon-it-');
const data = join(tmp.dir, 'data');
const configPath = join(tmp.dir, 'main.json');
let server: ServerProcess | undefined;
let acmeToken = '';

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = server!.auth): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server!.base}${path}`, {
    method, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
}

async function sumBy(metric: string, groupBy: string, headers = server!.auth): Promise<Record<string, number>> {
  const r = await call('POST', '/api/v1/query', { metric_pattern: metric, aggregation: 'sum', interval: '1d', group_by: [groupBy], start_time: T0 - 60_000, end_time: T0 + 3_600_000 }, headers);
  expect(r.status).toBe(200);
  const out: Record<string, number> = {};
  for (const s of r.json.series as Array<{ tags: Record<string, string>; points: Array<[number, number]> }>) {
    out[s.tags[groupBy] ?? ''] = s.points.reduce((a, p) => a + p[1], 0);
  }
  return out;
}

async function streamFrame(metrics: unknown[]): Promise<void> {
  const ws = await WsClient.open(server!.wsUrl, { headers: server!.auth });
  const reply = new Promise<{ ack?: unknown; nack?: unknown; error?: string }>((resolve) => {
    ws.onMessage = (m) => resolve(unpackr.unpack(m.data) as { ack?: unknown });
  });
  ws.send(packr.pack({ seq: 1, metrics }));
  const r = await reply;
  ws.close();
  expect(r.ack, JSON.stringify(r)).toBeDefined();
}

function runCli(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

async function stopServer(): Promise<void> {
  if (server === undefined) return;
  server.proc.kill('SIGTERM');
  await server.exited;
  server = undefined;
}

beforeAll(async () => {
  writeFileSync(configPath, JSON.stringify({
    security: {
      egress_allow: ['127.0.0.1'],
      anonymize: {
        rules: { client_ip: 'truncate_ip', user: 'hmac', email: 'drop', actor: 'hmac', source_ip: 'truncate_ip' },
        tenants: { acme: { client_ip: 'keep', user: 'drop' } },
      },
    },
    key_policies: { allowed_networks: ['10.0.0.0/8'] },
    // Nothing listens there: every forwarded batch waits in remote_write_queue.db, which the scan reads.
    remote_write: [{ url: `http://127.0.0.1:${await closedPort()}/api/v1/write`, name: 'sink', min_backoff_ms: 1000, max_backoff_ms: 5000 }],
  }));
  server = await startServer(['--data', data, '--config', configPath]);
  const key = await call('POST', '/api/v1/auth/keys', { name: 'acme-writer', tenant: 'acme', role: 'writer' });
  expect(key.status).toBe(201);
  acmeToken = key.json.token;
}, 60_000);

afterAll(async () => {
  await stopServer();
  tmp.remove();
});

describe('anonymization at ingest, real server', () => {
  it('accepts raw values over every protocol', async () => {
    await streamFrame([
      { metric_id: 'web.requests', value: 1, timestamp: T0, tags: { client_ip: RAW.wsIp, user: RAW.user, email: RAW.email } },
      // Another raw address of the same /24 in the same frame: the worker numbers it apart
      // (other bytes), the resolver maps both to the one series this frame creates.
      { metric_id: 'web.requests', value: 256, timestamp: T0 + 6, tags: { client_ip: RAW.wsIp2, user: RAW.user } },
      { metric_id: 'web.requests', value: 2, timestamp: T0 + 1, tags: { client_ip: RAW.otherNet, user: RAW.user } },
      { metric_id: 'web.requests', value: 4, timestamp: T0 + 2, tags: { client_ip: RAW.ip6, user: 'someone-else' } },
    ]);
    const http = await call('POST', '/api/v1/metrics', { metrics: [{ metric_id: 'web.requests', value: 8, timestamp: T0 + 3, tags: { client_ip: RAW.httpIp, user: RAW.user, email: 'second.mailbox@example.net' } }] });
    expect(http.status).toBe(200);
    const lp = await fetch(`${server!.base}/api/v2/write?precision=ms`, {
      method: 'POST', headers: { ...server!.auth, 'content-type': 'text/plain' },
      body: `web,client_ip=${RAW.lpIp},user=${RAW.user.replace(/ /g, '\\ ')} requests=16 ${T0 + 4}\n`,
    });
    expect(lp.status).toBe(204);
    const body = compressSync(Buffer.from(encodeWriteRequest({ timeseries: [{
      labels: [{ name: '__name__', value: 'web_requests' }, { name: 'client_ip', value: RAW.rwIp }, { name: 'user', value: RAW.user }, { name: 'email', value: RAW.email }],
      samples: [{ value: 32, timestamp: T0 + 5 }],
    }] })));
    const rw = await fetch(`${server!.base}/api/v1/write`, {
      method: 'POST', headers: { ...server!.auth, 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0' }, body: new Uint8Array(body),
    });
    expect(rw.status).toBe(204);
    const acme = await call('POST', '/api/v1/metrics', { metrics: [{ metric_id: 'web.requests', value: 64, timestamp: T0, tags: { client_ip: ACME_IP, user: 'acme-user' } }] }, { authorization: `Bearer ${acmeToken}` });
    expect(acme.status).toBe(200);

    expect((await call('POST', '/api/v1/keys', { key_id: 'orders-dek', key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'payments', backend: 'vault', created_at: T0 - 86_400_000 })).status).toBe(201);
    const events = await call('POST', '/api/v1/keys/events', { events: [
      { key_id: 'orders-dek', event_type: 'encrypt', timestamp: T0 + 10, actor: RAW.actor, source_ip: RAW.eventIp },
      { key_id: 'orders-dek', event_type: 'unauthorized_access', timestamp: T0 + 20, actor: RAW.actor, source_ip: RAW.eventIp, outcome: 'denied' },
    ] });
    expect(events.status, JSON.stringify(events.json)).toBe(200);
  }, 60_000);

  it('group-by on the anonymized tags sums per /24 and per person', async () => {
    // Line protocol's web requests=… is web.requests too; remote write's __name__ is web_requests.
    expect(await sumBy('web.requests', 'client_ip')).toEqual({ '198.51.100.0': 1 + 8 + 16 + 256, '203.0.113.0': 2, '2001:db8:cafe::': 4 });
    expect(await sumBy('web_requests', 'client_ip')).toEqual({ '198.51.100.0': 32 });
    expect(await sumBy('web.requests', 'client_ip', { authorization: `Bearer ${acmeToken}` })).toEqual({ [ACME_IP]: 64 });
    const all = await call('POST', '/api/v1/query', { metric_pattern: 'web*', start_time: T0 - 60_000, end_time: T0 + 3_600_000 });
    const users = new Set<string>();
    for (const s of all.json.series as Array<{ metric_id: string; tags: Record<string, string> }>) {
      expect(s.tags.email).toBeUndefined();
      expect(s.tags.user).toMatch(/^h:[0-9a-f]{20}$/);
      if (s.tags.client_ip!.startsWith('198.51.100.')) {
        expect(s.tags.client_ip).toBe('198.51.100.0');
        users.add(s.tags.user!);
      }
    }
    // Every protocol pseudonymized the same person alike, and the stream, HTTP and line
    // protocol's four raw addresses of 198.51.100.0/24 (emails dropped) are one series.
    expect(users.size).toBe(1);
    const listed = (await call('GET', '/api/v1/series?match=web.requests')).json.series as Array<{ tags: Record<string, string> }>;
    expect(listed.filter((x) => x.tags.client_ip === '198.51.100.0')).toHaveLength(1);
    // Computed here from the key file alone (not with EMMS code): HMAC-SHA256 under the
    // tenant key HMAC-SHA256(master, "emms-anonymize-v1\0default"), first 20 hex digits.
    const keyPath = join(data, 'anonymize.key');
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    const tenantKey = createHmac('sha256', readFileSync(keyPath)).update('emms-anonymize-v1\u0000default').digest();
    const expected = `h:${createHmac('sha256', tenantKey).update(RAW.user).digest('hex').slice(0, 20)}`;
    expect([...users]).toEqual([expected]);
    const byUser = await sumBy('web*', 'user');
    expect(byUser[expected]).toBe(1 + 2 + 8 + 16 + 32 + 256);
    expect(byUser[`h:${createHmac('sha256', tenantKey).update('someone-else').digest('hex').slice(0, 20)}`]).toBe(4);
    const violations = await call('GET', '/api/v1/policy/violations');
    const list = violations.json.violations as Array<{ rule: string; actor: string; source_ip: string }>;
    expect(list.find((v) => v.rule === 'source_network')).toMatchObject({ source_ip: '192.0.2.0', actor: expect.stringMatching(/^h:/) });
  }, 60_000);

  it('no raw value is in any file of the data directory, the queue and the import included', async () => {
    await stopServer();
    const vault = JSON.stringify({
      time: new Date(T0 + 30).toISOString(), type: 'response', auth: { display_name: RAW.vaultActor },
      request: { id: 'req-anon-1', operation: 'update', mount_type: 'transit', mount_point: 'transit/', path: 'transit/encrypt/orders-dek', data: {}, remote_address: RAW.vaultIp },
    });
    const trail = join(tmp.dir, 'vault.log');
    writeFileSync(trail, `${vault}\n`);
    const imported = await runCli(['import-audit', '--format', 'vault', trail, '--data', data, '--config', configPath]);
    expect(imported.code, imported.out).toBe(0);
    expect(imported.out).toContain('imported 1 key events');
    const hits = scanDirectory(data, { strings: Object.values(RAW) });
    expect(hits, describeFiles(data)).toEqual([]);
    // The queue's bodies are snappy-compressed, which could hide a string from a byte scan:
    // decompressed, they hold the rewritten labels and none of the raw ones.
    const queue = new Database(join(data, 'remote_write_queue.db'), { readonly: true });
    const bodies = (queue.prepare('SELECT body FROM rw_queue').all() as Array<{ body: Buffer }>).map((r) => (uncompressSync(r.body) as Buffer).toString('latin1')).join('\n');
    queue.close();
    expect(bodies).toContain('198.51.100.0');
    for (const raw of Object.values(RAW)) expect(bodies).not.toContain(raw);
  }, 60_000);

  it('a restart keeps the pseudonyms: the same raw values land in the same series', async () => {
    server = await startServer(['--data', data, '--config', configPath]);
    const before = await call('GET', '/api/v1/series?match=web.requests');
    expect(before.status).toBe(200);
    await streamFrame([{ metric_id: 'web.requests', value: 128, timestamp: T0 + 100, tags: { client_ip: '198.51.100.200', user: RAW.user } }]);
    const after = await call('GET', '/api/v1/series?match=web.requests');
    expect(JSON.stringify(after.json)).toBe(JSON.stringify(before.json));
    expect((await sumBy('web.requests', 'client_ip'))['198.51.100.0']).toBe(1 + 8 + 16 + 256 + 128);
    const violations = (await call('GET', '/api/v1/policy/violations')).json.violations as Array<{ actor: string | null; source_ip: string | null }>;
    expect(violations.some((v) => v.source_ip === '192.0.2.0' && v.actor !== null)).toBe(true);
    await stopServer();
    expect(scanDirectory(data, { strings: Object.values(RAW) })).toEqual([]);
  }, 60_000);
});
