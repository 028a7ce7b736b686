/**
 * Encryption at rest against real `emms serve` processes and their data directories (issue 14):
 * distinctive metric ids, tag keys and values, float64 values, key ids, actors, source
 * addresses, a channel secret and audit records are written over the API; after the server
 * stops, every byte of every file is scanned (tests/integration/data_dir_scan.ts). With
 * encryption off the same scan finds them (the scan works); with it on it finds none.
 * Then: a restart reads everything back, a wrong or missing key refuses to start and changes
 * no byte, an altered page and an altered audit record are named, master-key rotation leaves
 * only the new key working, and data-key rotation rekeys every database.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, cpSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeFiles, scanDirectory } from './data_dir_scan.js';
import { CLI_ENTRY, REPO_ROOT, runServeToExit, startServer, tempDir, type ServerProcess } from './server_harness.js';

const T0 = Date.UTC(2026, 0, 7, 9, 0, 0);
const PLANTED = {
  metric: 'zz.enc.payments_latency_seconds',
  tagKey: 'enc_datacenter_row',
  tagValue: 'rack-aisle-0042-secretish',
  keyId: 'enc-orders-dek-7f3a9c',
  actor: 'carol.keyholder@example.org',
  sourceIp: '203.0.113.219',
  channelSecret: 'whsec_do-not-leak-8c1f2e',
  channelId: 'enc-pager-webhook-17',
};
/** Values with distinctive bit patterns (and decimal-scaled integers). */
const VALUES = [31415.926535897, 2718.2818284590];

const tmp = tempDir('emms-encryption-it-');
const masterKey = join(tmp.dir, 'master.key');
const otherKey = join(tmp.dir, 'other.key');
const newMasterKey = join(tmp.dir, 'master-2.key');
const encrypted = join(tmp.dir, 'encrypted');
const plain = join(tmp.dir, 'plain');
/** The bootstrap operator's API key id of each data directory: the actor of its audit records, a key id in auth.db. */
const operatorKeyIds = new Map<string, string>();

function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

async function call(server: ServerProcess, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const res = await fetch(`${server.base}${path}`, {
    method, headers: { ...server.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text === '' ? undefined : JSON.parse(text) };
}

async function stop(server: ServerProcess): Promise<void> {
  server.proc.kill('SIGTERM');
  expect(await server.exited).toBe(0);
}

/** Writes every kind of planted data through the API of a fresh server on `dataDir`. */
async function plant(dataDir: string, env: Record<string, string>): Promise<void> {
  // Key use from outside 10.0.0.0/8 is a policy violation, which keys.db keeps with its actor and address.
  const config = join(tmp.dir, 'main.json');
  writeFileSync(config, JSON.stringify({ key_policies: { allowed_networks: ['10.0.0.0/8'] } }));
  const server = await startServer(['--data', dataDir, '--config', config], env);
  try {
    const metrics = [];
    // A whole hour of one series, so that a chunk is cut and the codec's encodings are on disk.
    for (let i = 0; i < 240; i++) metrics.push({ metric_id: PLANTED.metric, value: VALUES[i % 2], timestamp: T0 + i * 15_000, tags: { [PLANTED.tagKey]: PLANTED.tagValue } });
    expect((await call(server, 'POST', '/api/v1/metrics', { metrics })).status).toBe(200);
    expect((await call(server, 'POST', '/api/v1/keys', { key_id: PLANTED.keyId, key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'payments', backend: 'vault', created_at: T0 - 86_400_000 })).status).toBe(201);
    // The refused access is a policy violation: keys.db keeps it with its actor and source address.
    const events = await call(server, 'POST', '/api/v1/keys/events', { events: [
      { key_id: PLANTED.keyId, event_type: 'encrypt', timestamp: T0 + 10, actor: PLANTED.actor, source_ip: PLANTED.sourceIp },
      { key_id: PLANTED.keyId, event_type: 'unauthorized_access', timestamp: T0 + 20, actor: PLANTED.actor, source_ip: PLANTED.sourceIp, outcome: 'denied' },
    ] });
    expect(events.status, JSON.stringify(events.json)).toBe(200);
    const channel = await call(server, 'POST', '/api/v1/alerts/channels', { id: PLANTED.channelId, type: 'webhook', url: 'https://hooks.example.org/enc', secret: PLANTED.channelSecret });
    expect(channel.status, JSON.stringify(channel.json)).toBe(201);
    const keys = await call(server, 'GET', '/api/v1/auth/keys');
    operatorKeyIds.set(dataDir, (keys.json.keys as Array<{ key_id: string }>)[0]!.key_id);
  } finally {
    await stop(server);
  }
}

function scan(dir: string, operatorOf = dir): ReturnType<typeof scanDirectory> {
  return scanDirectory(dir, { strings: [...Object.values(PLANTED), operatorKeyIds.get(operatorOf)!], values: VALUES });
}

function fileHashes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) out[name] = createHash('sha256').update(readFileSync(join(dir, name))).digest('hex');
  return out;
}

beforeAll(async () => {
  for (const path of [masterKey, otherKey, newMasterKey]) {
    const r = await runCli(['keygen', '--output', path]);
    expect(r.code, r.out).toBe(0);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  }
  await plant(plain, {});
  await plant(encrypted, { EMMS_ENCRYPTION_KEY_FILE: masterKey });
}, 120_000);

afterAll(() => tmp.remove());

describe('encryption at rest, real server', () => {
  it('with encryption off, the scan finds every kind of planted data (the scan works)', () => {
    const found = scan(plain).map((h) => h.needle).join('\n');
    for (const s of [...Object.values(PLANTED).filter((s) => s !== PLANTED.channelSecret), operatorKeyIds.get(plain)!]) expect(found).toContain(JSON.stringify(s));
    expect(found).toContain('float64 31415.926535897');
    // The channel secret is sealed even without encryption at rest (src/alerts/secret_box.ts).
    expect(found).not.toContain(PLANTED.channelSecret);
  });

  it('with encryption on, no file of the data directory holds any of it', () => {
    const names = readdirSync(encrypted);
    expect(names).toEqual(expect.arrayContaining(['keyring.json', 'metrics.db', 'auth.db', 'alerts.db', 'keys.db', 'audit.log']));
    expect(statSync(join(encrypted, 'audit.log')).size).toBeGreaterThan(0);
    expect(scan(encrypted), describeFiles(encrypted)).toEqual([]);
  });

  it('a restart with the key reads everything back: series by pattern and tag, key events, channels, the audit log', async () => {
    const server = await startServer(['--data', encrypted], { EMMS_ENCRYPTION_KEY_FILE: masterKey });
    try {
      const q = await call(server, 'POST', '/api/v1/query', { metric_pattern: 'zz.enc.*', tags: { [PLANTED.tagKey]: PLANTED.tagValue }, start_time: T0, end_time: T0 + 3_600_000 });
      expect(q.status).toBe(200);
      expect(q.json.series).toHaveLength(1);
      expect(q.json.series[0].tags).toEqual({ [PLANTED.tagKey]: PLANTED.tagValue });
      expect(q.json.series[0].points).toHaveLength(240);
      expect(q.json.series[0].points[0]).toEqual([T0, VALUES[0]]);
      const hourly = await call(server, 'POST', '/api/v1/query', { metric_pattern: PLANTED.metric, aggregation: 'avg', interval: '1h', start_time: T0, end_time: T0 + 3_600_000 });
      expect(hourly.json.series[0].points[0][1]).toBeCloseTo((VALUES[0]! + VALUES[1]!) / 2, 9);
      const keys = await call(server, 'GET', '/api/v1/keys');
      expect(JSON.stringify(keys.json)).toContain(PLANTED.keyId);
      const violations = await call(server, 'GET', '/api/v1/policy/violations');
      expect(violations.json.violations).toEqual(expect.arrayContaining([expect.objectContaining({ actor: PLANTED.actor, source_ip: PLANTED.sourceIp })]));
      const channel = await call(server, 'GET', `/api/v1/alerts/channels/${PLANTED.channelId}`);
      expect(channel.status).toBe(200);
      const audit = await call(server, 'GET', '/api/v1/audit?limit=100');
      expect(audit.status).toBe(200);
      const actions = (audit.json.records as Array<{ actor: string; action: string }>).filter((r) => r.actor === operatorKeyIds.get(encrypted)).map((r) => r.action);
      expect(actions).toEqual(expect.arrayContaining(['POST /api/v1/keys', 'POST /api/v1/keys/events', 'POST /api/v1/alerts/channels']));
    } finally {
      await stop(server);
    }
    const verify = await runCli(['audit', 'verify', '--data', encrypted], { EMMS_ENCRYPTION_KEY_FILE: masterKey });
    expect(verify.code, verify.out).toBe(0);
    expect(verify.out).toMatch(/^OK: \d+ record/m);
    const exported = await runCli(['audit', 'export', '--data', encrypted], { EMMS_ENCRYPTION_KEY_FILE: masterKey });
    expect(exported.code, exported.out).toBe(0);
    expect(exported.out).toContain(`"actor":"${operatorKeyIds.get(encrypted)!}"`);
  }, 60_000);

  it('a wrong or missing key stops start-up naming the key file and key ids, and changes no byte on disk', async () => {
    const before = fileHashes(encrypted);
    const wrong = await runServeToExit(['--data', encrypted], { EMMS_ENCRYPTION_KEY_FILE: otherKey });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(otherKey);
    expect(wrong.stderr).toMatch(/id mk-[0-9a-f]{16}\) is not the key of this data directory: .*keyring\.json was wrapped by master key mk-[0-9a-f]{16}/);
    const missing = await runServeToExit(['--data', encrypted]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/is encrypted \(.*keyring\.json, master key mk-[0-9a-f]{16}\) but no master key is configured: set security.encryption.key_file or EMMS_ENCRYPTION_KEY_FILE/);
    const absent = await runServeToExit(['--data', encrypted], { EMMS_ENCRYPTION_KEY_FILE: join(tmp.dir, 'no-such.key') });
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain(`cannot read the master key file ${join(tmp.dir, 'no-such.key')}`);
    expect(fileHashes(encrypted)).toEqual(before);
    // And the other way: a key given to a directory of plaintext files.
    const plainBefore = fileHashes(plain);
    const onPlain = await runServeToExit(['--data', plain], { EMMS_ENCRYPTION_KEY_FILE: masterKey });
    expect(onPlain.code).toBe(1);
    expect(onPlain.stderr).toMatch(/already holds files written without encryption \(.*metrics\.db/);
    expect(fileHashes(plain)).toEqual(plainBefore);
  }, 90_000);

  it('an altered database page and an altered audit record are detected and named, never decoded', async () => {
    const copy = join(tmp.dir, 'tampered');
    cpSync(encrypted, copy, { recursive: true });
    const db = join(copy, 'metrics.db');
    const bytes = readFileSync(db);
    const pageSize = bytes.readUInt16BE(16);
    const page = Math.floor(bytes.length / pageSize); // the last page
    bytes[(page - 1) * pageSize + 100]! ^= 0x01;
    writeFileSync(db, bytes);
    const lines = readFileSync(join(copy, 'audit.log'), 'utf8').split('\n');
    const sealed = lines.findIndex((l) => l.includes('"sealed":"'));
    expect(sealed).toBeGreaterThanOrEqual(0);
    // One base64 character of the ciphertext changed; the chain hash recomputed would not help either.
    lines[sealed] = lines[sealed]!.replace(/"sealed":"(.)/, (_m, c: string) => `"sealed":"${c === 'A' ? 'B' : 'A'}`);
    writeFileSync(join(copy, 'audit.log'), lines.join('\n'));
    const verify = await runCli(['encryption', 'verify', '--data', copy], { EMMS_ENCRYPTION_KEY_FILE: masterKey });
    expect(verify.code, verify.out).toBe(1);
    expect(verify.out).toContain(`DAMAGED ${db}: page(s) ${page} of ${page} fail their authentication tag`);
    expect(verify.out).toMatch(new RegExp(`DAMAGED ${join(copy, 'audit.log')}: line ${sealed + 1}: record \\d+ fails its authentication tag`));
    expect(verify.out).toMatch(/OK .*auth\.db/);
    const audit = await runCli(['audit', 'verify', '--data', copy], { EMMS_ENCRYPTION_KEY_FILE: masterKey });
    expect(audit.code).toBe(1);
    expect(audit.out).toMatch(new RegExp(`BROKEN at line ${sealed + 1}: .*fails its authentication tag`));
  }, 60_000);

  it('master-key rotation re-wraps the data keys only; afterwards the new key opens the directory and the old one does not', async () => {
    const dbBefore = createHash('sha256').update(readFileSync(join(encrypted, 'metrics.db'))).digest('hex');
    const r = await runCli(['encryption', 'rotate-master', '--data', encrypted, '--new-key-file', newMasterKey], { EMMS_ENCRYPTION_KEY_FILE: masterKey });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/re-wrapped from master key mk-[0-9a-f]{16} to mk-[0-9a-f]{16}; no data rewritten/);
    expect(createHash('sha256').update(readFileSync(join(encrypted, 'metrics.db'))).digest('hex')).toBe(dbBefore);
    const old = await runServeToExit(['--data', encrypted], { EMMS_ENCRYPTION_KEY_FILE: masterKey });
    expect(old.code).toBe(1);
    expect(old.stderr).toContain('is not the key of this data directory');
    const server = await startServer(['--data', encrypted], { EMMS_ENCRYPTION_KEY_FILE: newMasterKey });
    try {
      const q = await call(server, 'POST', '/api/v1/query', { metric_pattern: PLANTED.metric, start_time: T0, end_time: T0 + 3_600_000 });
      expect(q.json.series[0].points).toHaveLength(240);
    } finally {
      await stop(server);
    }
  }, 60_000);

  it('data-key rotation rekeys every database (each file rewritten) and keeps old audit records readable', async () => {
    const keyringBefore = JSON.parse(readFileSync(join(encrypted, 'keyring.json'), 'utf8'));
    const dbBefore = readFileSync(join(encrypted, 'metrics.db'));
    const r = await runCli(['encryption', 'rotate-data', '--data', encrypted], { EMMS_ENCRYPTION_KEY_FILE: newMasterKey });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/database key dk-db-\S+ → dk-db-\S+: \d+ file\(s\), \d+ bytes rewritten in \d+ ms/);
    const keyringAfter = JSON.parse(readFileSync(join(encrypted, 'keyring.json'), 'utf8'));
    expect(keyringAfter.database_key_id).not.toBe(keyringBefore.database_key_id);
    expect(keyringAfter.audit_key_id).not.toBe(keyringBefore.audit_key_id);
    expect(keyringAfter.keys.map((k: { id: string }) => k.id)).toContain(keyringBefore.audit_key_id);
    expect(readFileSync(join(encrypted, 'metrics.db')).subarray(1024).equals(dbBefore.subarray(1024))).toBe(false);
    const server = await startServer(['--data', encrypted], { EMMS_ENCRYPTION_KEY_FILE: newMasterKey });
    try {
      const q = await call(server, 'POST', '/api/v1/query', { metric_pattern: PLANTED.metric, start_time: T0, end_time: T0 + 3_600_000 });
      expect(q.json.series[0].points).toHaveLength(240);
      expect((await call(server, 'POST', '/api/v1/keys/events', { events: [{ key_id: PLANTED.keyId, event_type: 'decrypt', timestamp: T0 + 20, actor: PLANTED.actor, source_ip: PLANTED.sourceIp }] })).status).toBe(200);
    } finally {
      await stop(server);
    }
    const verify = await runCli(['encryption', 'verify', '--data', encrypted], { EMMS_ENCRYPTION_KEY_FILE: newMasterKey });
    expect(verify.code, verify.out).toBe(0);
    expect(scan(encrypted), describeFiles(encrypted)).toEqual([]);
    // A backup archive of the encrypted directory stays encrypted.
    const archive = join(tmp.dir, 'backup.tar.gz');
    const backup = await runCli(['backup', '--data', encrypted, '--output', archive], { EMMS_ENCRYPTION_KEY_FILE: newMasterKey });
    expect(backup.code, backup.out).toBe(0);
    const restored = join(tmp.dir, 'restored');
    const restore = await runCli(['restore', '--input', archive, '--data', restored]);
    expect(restore.code, restore.out).toBe(0);
    expect(scan(restored, encrypted), describeFiles(restored)).toEqual([]);
    copyFileSync(archive, join(restored, 'archive.copy'));
    expect(scan(restored, encrypted)).toEqual([]);
  }, 90_000);
});
