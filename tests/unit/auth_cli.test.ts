import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runApikeyCommand } from '../../src/cli/apikey_command.js';
import { authKit, type AuthKit } from './auth_test_kit.js';

let dir: string;
let out: string;
let err: string;
const io = { stdout: (s: string) => void (out += s), stderr: (s: string) => void (err += s) };

async function apikey(...argv: string[]): Promise<number> {
  out = '';
  err = '';
  return runApikeyCommand(argv, io);
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-apikey-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('emms apikey', () => {
  it('creates (token once on stdout), lists and revokes keys in a data directory', async () => {
    expect(await apikey('create', '--data', dir, '--name', 'ci ingest', '--tenant', 'acme', '--role', 'writer', '--expires-at', '2099-01-01T00:00:00Z', '--allowed-networks', '10.0.0.0/8, 192.168.1.0/24')).toBe(0);
    const token = out.trim();
    expect(token).toMatch(/^emms_[A-Za-z0-9_-]{43}$/);
    expect(out).toBe(`${token}\n`);
    const keyId = /created API key (ak_[0-9a-f]{16}) \("ci ingest", tenant acme, role writer, expires 2099-01-01T00:00:00.000Z, 10.0.0.0\/8, 192.168.1.0\/24\)/.exec(err)?.[1];
    expect(keyId).toBeDefined();
    expect(statSync(join(dir, 'auth.db')).mode & 0o777).toBe(0o600);

    expect(await apikey('create', '--data', dir, '--name', 'root', '--role', 'operator')).toBe(0);
    expect(await apikey('list', '--data', dir)).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^key_id\s+name\s+tenant\s+role\s+state\s+created_at\s+expires_at\s+last_used_at\s+allowed_networks$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(new RegExp(`^${keyId}\\s+ci ingest\\s+acme\\s+writer\\s+active\\s+\\S+\\s+2099-01-01T00:00:00.000Z\\s+-\\s+10.0.0.0/8,192.168.1.0/24$`));
    expect(lines[2]).toMatch(/^ak_[0-9a-f]{16}\s+root\s+\*\s+operator\s+active/);
    expect(out).not.toContain(token.slice(5));

    expect(await apikey('list', '--data', dir, '--tenant', 'acme', '--json')).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ count: 1, keys: [{ key_id: keyId, tenant: 'acme', state: 'active' }] });

    expect(await apikey('revoke', '--data', dir, keyId!)).toBe(0);
    expect(err).toMatch(new RegExp(`revoked API key ${keyId} \\("ci ingest", tenant acme\\)`));
    expect(await apikey('list', '--data', dir, '--tenant', 'acme', '--json')).toBe(0);
    expect(JSON.parse(out).keys[0].state).toBe('revoked');
    expect(await apikey('revoke', '--data', dir, 'ak_0000000000000000')).toBe(1);
    expect(err).toMatch(/no API key ak_0000000000000000/);
  });

  it('refuses bad input naming the flag and value', async () => {
    expect(await apikey('create', '--data', join(dir, 'missing'), '--name', 'x', '--role', 'reader', '--tenant', 'a')).toBe(2);
    expect(err).toMatch(/--data=".*missing" is not a directory/);
    expect(await apikey('create', '--data', dir, '--name', 'x', '--role', 'root', '--tenant', 'a')).toBe(2);
    expect(err).toMatch(/role="root" must be one of reader, writer, admin, operator/);
    expect(await apikey('create', '--data', dir, '--name', 'x', '--role', 'reader')).toBe(2);
    expect(err).toMatch(/tenant=undefined is required for role reader/);
    expect(await apikey('create', '--data', dir, '--name', 'x', '--role', 'reader', '--tenant', 'a', '--allowed-networks', '10.0.0.0/99')).toBe(2);
    expect(err).toMatch(/allowed_networks\[0\]="10.0.0.0\/99" must be a CIDR/);
    expect(await apikey('create', '--data', dir, '--name', 'x', '--role', 'reader', '--tenant', 'a', '--bogus')).toBe(2);
    expect(await apikey('revoke', '--data', dir, 'not-an-id')).toBe(2);
    expect(await apikey('frobnicate', '--data', dir)).toBe(2);
    expect(await apikey('--help')).toBe(0);
    expect(out).toMatch(/emms apikey create --data DIR/);
  });

  it('revokes a key a running server uses; the server refuses it within the change-check bound', async () => {
    let server: AuthKit | undefined;
    try {
      server = authKit({ dir });
      expect(await apikey('create', '--data', dir, '--name', 'live', '--tenant', 'acme', '--role', 'reader')).toBe(0);
      const token = out.trim();
      const keyId = /created API key (ak_[0-9a-f]{16})/.exec(err)![1]!;
      expect((await server.principal(token)).id).toBe(keyId);
      expect(await apikey('revoke', '--data', dir, keyId)).toBe(0);
      expect((await server.auth({ authorization: `Bearer ${token}` })).ok).toBe(true); // cached, bound not reached
      server.clock.now += 1000;
      expect(await server.auth({ authorization: `Bearer ${token}` })).toMatchObject({ ok: false, status: 401, error: `API key ${keyId} has been revoked` });
    } finally {
      server?.cleanup();
    }
  });
});
