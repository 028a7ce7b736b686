/**
 * The audit log of a real `emms serve`: state-changing requests and refused authentications are
 * recorded with actor, tenant, source, request id, action, target and outcome (never bodies
 * nor tokens); a tenant admin reads only their tenant; `emms audit verify` checks the file the
 * server wrote and names a record altered afterwards.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as runAuditCommand } from '../../src/cli/audit_command.js';
import { startServer, tempDir, type ServerProcess } from './server_harness.js';

let server: ServerProcess;
let data: { dir: string; remove: () => void };

async function call(method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(server.base + path, {
    method,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers };
}

function capture() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (t: string) => void (out.stdout += t), stderr: (t: string) => void (out.stderr += t) } };
}

beforeAll(async () => {
  data = tempDir('emms-audit-server-');
  server = await startServer(['--data', data.dir]);
});

afterAll(async () => {
  if (server.proc.exitCode === null) {
    server.proc.kill('SIGKILL');
    await server.exited;
  }
  data.remove();
});

describe('audit log of a running server', () => {
  let adminToken = '';
  let created: { status: number; body: any; headers: Headers };

  it('records a state change with who, where, which request and what, and no body or token', async () => {
    created = await call('POST', '/api/v1/auth/keys', { ...server.auth, 'x-emms-tenant': 'acme' }, { name: 'acme-admin', role: 'admin' });
    expect(created.status).toBe(201);
    adminToken = created.body.token;
    const page = await call('GET', '/api/v1/audit?tenant=acme', server.auth);
    expect(page.status).toBe(200);
    const record = page.body.records.find((r: any) => r.action === 'POST /api/v1/auth/keys');
    expect(record).toMatchObject({ tenant: 'acme', source: '127.0.0.1', target: '', outcome: 'ok', requestId: created.headers.get('x-request-id') });
    expect(record.actor).toMatch(/^ak_[0-9a-f]{16}$/);
    const file = readFileSync(join(data.dir, 'audit.log'), 'utf8');
    expect(file).not.toContain(adminToken);
    expect(file).not.toContain('acme-admin');
  });

  it('records refused authentications and refused actions', async () => {
    expect((await call('GET', '/api/v1/keys', { authorization: 'Bearer emms_not_a_real_token' })).status).toBe(401);
    const reader = await call('POST', '/api/v1/auth/keys', { ...server.auth, 'x-emms-tenant': 'acme' }, { name: 'acme-reader', role: 'reader' });
    expect((await call('DELETE', `/api/v1/auth/keys/${created.body.key_id}`, { authorization: `Bearer ${reader.body.token}` })).status).toBe(403);
    const records = (await call('GET', '/api/v1/audit?limit=1000', server.auth)).body.records as any[];
    expect(records.find((r) => r.action === 'auth.failure')).toMatchObject({ actor: 'anonymous', source: '127.0.0.1', outcome: 'denied', detail: { reason: expect.any(String) } });
    expect(records.find((r) => r.action === 'DELETE /api/v1/auth/keys/:key_id')).toMatchObject({ actor: reader.body.key_id, tenant: 'acme', target: `key_id=${created.body.key_id}`, outcome: 'denied' });
    // Reads and queries are not state changes.
    expect(records.some((r) => r.action.startsWith('GET '))).toBe(false);
  });

  it('names who signed in to the dashboard, and adds nothing for refused anonymous calls', async () => {
    const before = (await call('GET', '/api/v1/audit?limit=1000', server.auth)).body.records.length as number;
    for (let i = 0; i < 5; i++) expect((await call('POST', '/api/v1/dashboard/session', {}, {})).status).toBe(400);
    const signedIn = await call('POST', '/api/v1/dashboard/session', {}, { token: adminToken });
    expect(signedIn.status).toBe(201);
    const records = (await call('GET', '/api/v1/audit?limit=1000', server.auth)).body.records as any[];
    expect(records.slice(before).map((r) => [r.action, r.outcome, r.tenant])).toEqual([['POST /api/v1/dashboard/session', 'ok', 'acme']]);
    expect(records[records.length - 1].actor).toBe(created.body.key_id);
  });

  it("shows a tenant admin only their tenant's records", async () => {
    await call('POST', '/api/v1/auth/keys', { ...server.auth, 'x-emms-tenant': 'globex' }, { name: 'globex-reader', role: 'reader' });
    const own = await call('GET', '/api/v1/audit', { authorization: `Bearer ${adminToken}` });
    expect(own.status).toBe(200);
    expect(own.body.records.length).toBeGreaterThan(0);
    expect(new Set(own.body.records.map((r: any) => r.tenant))).toEqual(new Set(['acme']));
    expect((await call('GET', '/api/v1/audit?tenant=globex', { authorization: `Bearer ${adminToken}` })).status).toBe(403);
  });

  it('leaves a log that verifies after a stop, and names a record altered afterwards', async () => {
    server.proc.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const ok = capture();
    expect(await runAuditCommand(['verify', '--data', data.dir], ok.io)).toBe(0);
    expect(ok.out.stdout).toMatch(/^OK: \d+ record\(s\), [1-9]\d* checkpoint\(s\)/);
    const path = join(data.dir, 'audit.log');
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    const victim = lines.findIndex((l) => l.includes('"action":"auth.failure"'));
    lines[victim] = lines[victim]!.replace('"outcome":"denied"', '"outcome":"ok"');
    writeFileSync(path, lines.join('\n') + '\n');
    const broken = capture();
    expect(await runAuditCommand(['verify', '--data', data.dir], broken.io)).toBe(1);
    expect(broken.out.stdout).toContain(`BROKEN at line ${victim + 1}`);
  });
});
