/**
 * Encryption at rest, in-process: audit records sealed under the keyring's audit key (the chain,
 * verify, query and a tampered record named), and the `emms keygen` / `emms encryption`
 * commands called directly (status, rotate-master, rotate-data, verify), plus the
 * `security.encryption` settings.
 */
import { readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AuditRecordCipher } from '../../src/audit/audit_cipher.js';
import { AuditLog } from '../../src/audit/audit_log.js';
import { queryAuditLog } from '../../src/audit/audit_query.js';
import { parseAuditLine, type AuditEvent } from '../../src/audit/audit_record.js';
import { AuditTrail } from '../../src/audit/audit_trail.js';
import { verifyAuditLog } from '../../src/audit/audit_verify.js';
import { runEncryption, runKeygen } from '../../src/cli/encryption_command.js';
import { loadConfig } from '../../src/config/config.js';
import { openAtRestEncryption } from '../../src/crypto/at_rest.js';
import { openSqlite, useDatabaseKey } from '../../src/crypto/sqlite_cipher.js';
import { tempDir } from '../integration/server_harness.js';

const tmp = tempDir('emms-enc-audit-unit-');
let n = 0;
const fresh = (): string => {
  const dir = join(tmp.dir, `d${n++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const KEY = Buffer.alloc(32, 1);
const event = (i: number): AuditEvent => ({ actor: `ak_actor${i}`, tenant: 'acme', source: '198.51.100.23', requestId: `r${i}`, action: 'POST /api/v1/keys', target: `key_id=secret-key-${i}`, outcome: 'ok' });

afterEach(() => useDatabaseKey(undefined));

function captureIo(): { io: { stdout: (t: string) => void; stderr: (t: string) => void }; out: () => string } {
  let text = '';
  return { io: { stdout: (t) => (text += t), stderr: (t) => (text += t) }, out: () => text };
}

describe('sealed audit records', () => {
  it('keep the chain verifiable, open for queries, and name a record whose ciphertext was altered', () => {
    const dir = fresh();
    const path = join(dir, 'audit.log');
    const keys = new Map([['dk-au-old', Buffer.alloc(32, 2)]]);
    const old = new AuditRecordCipher(keys, 'dk-au-old');
    const log = AuditLog.open({ path, checkpointKey: KEY, cipher: old, checkpointEvery: 2 });
    log.append(event(1));
    log.close();
    // A later writer under a rotated key continues the same chain; old records keep their key.
    keys.set('dk-au-new', Buffer.alloc(32, 3));
    const cipher = new AuditRecordCipher(keys, 'dk-au-new');
    const log2 = AuditLog.open({ path, checkpointKey: KEY, cipher, checkpointEvery: 2 });
    log2.append(event(2));
    log2.append(event(3));
    log2.close();
    const text = readFileSync(path, 'utf8');
    for (const s of ['ak_actor', '198.51.100.23', 'secret-key-', 'acme']) expect(text).not.toContain(s);
    expect(text).toContain('"key":"dk-au-old"');
    expect(verifyAuditLog(path, KEY, cipher)).toMatchObject({ ok: true, records: 3 });
    expect(queryAuditLog(path, { limit: 10, tenant: 'acme' }, undefined, cipher).records.map((r) => r.actor)).toEqual(['ak_actor1', 'ak_actor2', 'ak_actor3']);
    expect(() => parseAuditLine(text.split('\n')[0]!, 1)).toThrow(/record 1 is encrypted \(audit key dk-au-old\): give the master key/);
    expect(() => new AuditRecordCipher(keys, 'dk-au-none')).toThrow(/audit key dk-au-none is not among the 2 keys/);
    expect(verifyAuditLog(path, KEY, new AuditRecordCipher(new Map([['dk-au-new', Buffer.alloc(32, 3)]]), 'dk-au-new'))).toMatchObject({ ok: false, problem: expect.stringMatching(/sealed under audit key dk-au-old, which the keyring does not hold/) });
    const lines = text.split('\n');
    const i = lines.findIndex((l) => l.includes('"key":"dk-au-new"'));
    lines[i] = lines[i]!.replace(/"sealed":"(.)/, (_m, c: string) => `"sealed":"${c === 'A' ? 'B' : 'A'}`);
    writeFileSync(path, lines.join('\n'));
    expect(verifyAuditLog(path, KEY, cipher)).toMatchObject({ ok: false, line: i + 1, problem: expect.stringMatching(/record \d+ fails its authentication tag/) });
  });

  it('a record sealed under one number and time does not open under another', () => {
    const cipher = new AuditRecordCipher(new Map([['k', Buffer.alloc(32, 4)]]), 'k');
    const sealed = JSON.parse(cipher.seal(5, '2026-01-01T00:00:00.000Z', '{"seq":5}')) as { seq: number; time: string; key: string; sealed: string };
    expect(cipher.open(sealed)).toBe('{"seq":5}');
    expect(() => cipher.open({ ...sealed, seq: 6 })).toThrow(/record 6 fails its authentication tag/);
    const mismatched = JSON.parse(cipher.seal(7, '2026-01-01T00:00:00.000Z', JSON.stringify({ seq: 8, time: '2026-01-01T00:00:00.000Z', actor: 'a', tenant: 't', source: '', requestId: '', action: 'x', target: '', outcome: 'ok' })));
    expect(() => parseAuditLine(`${'0'.repeat(64)} ${JSON.stringify(mismatched)}`, 3, cipher)).toThrow(/record 7 opens to a record numbered 8/);
  });

  it('the trail of an encrypted directory seals what the server records', async () => {
    const dir = fresh();
    const keyFile = join(tmp.dir, `trail${n++}.key`);
    expect(await runKeygen(['--output', keyFile], captureIo().io)).toBe(0);
    const enc = (await openAtRestEncryption({ dataDir: dir, keyFile, dataKeyMaxAgeDays: 90 }))!;
    const cipher = new AuditRecordCipher(enc.auditKeys, enc.auditKey.id);
    const trail = AuditTrail.open({ dataDir: dir, cipher });
    trail.record(event(9));
    expect(trail.page({ limit: 5 }).records[0]!.actor).toBe('ak_actor9');
    expect(trail.verify()).toMatchObject({ ok: true, records: 1 });
    trail.close();
    const cli = AuditTrail.openWithoutCheckpoints(dir, cipher);
    cli.record(event(10));
    cli.close();
    expect(readFileSync(join(dir, 'audit.log'), 'utf8')).not.toContain('ak_actor');
  });
});

describe('emms keygen and emms encryption, in-process', () => {
  it('keygen writes a 0600 key and refuses to overwrite or run without --output', async () => {
    const path = join(tmp.dir, 'kg.key');
    const ok = captureIo();
    expect(await runKeygen(['--output', path], ok.io)).toBe(0);
    expect(ok.out()).toMatch(/master key mk-[0-9a-f]{16} written to .*kg\.key \(mode 0600\)/);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(await runKeygen(['--output', path], captureIo().io)).toBe(1);
    expect(await runKeygen([], captureIo().io)).toBe(2);
    expect(await runKeygen(['--bogus'], captureIo().io)).toBe(2);
    expect(await runKeygen(['--help'], captureIo().io)).toBe(0);
  });

  it('status, rotate-master, rotate-data and verify on a directory', async () => {
    const dir = fresh();
    const keyFile = join(tmp.dir, `c${n++}.key`);
    const next = join(tmp.dir, `c${n++}.key`);
    await runKeygen(['--output', keyFile], captureIo().io);
    await runKeygen(['--output', next], captureIo().io);
    await openAtRestEncryption({ dataDir: dir, keyFile, dataKeyMaxAgeDays: 90 });
    const db = openSqlite(join(dir, 'metrics.db'));
    db.exec("CREATE TABLE t(a); INSERT INTO t VALUES ('x')");
    db.close();
    const trail = AuditTrail.open({ dataDir: dir, cipher: undefined });
    trail.close();
    useDatabaseKey(undefined);

    const status = captureIo();
    expect(await runEncryption(['status', '--data', dir, '--key-file', keyFile], status.io)).toBe(0);
    expect(status.out()).toMatch(/master key mk-[0-9a-f]{16}, database cipher ChaCha20-Poly1305/);
    expect(status.out()).toContain('encrypted databases: metrics.db');
    const rotated = captureIo();
    expect(await runEncryption(['rotate-master', '--data', dir, '--key-file', keyFile, '--new-key-file', next], rotated.io)).toBe(0);
    expect(await runEncryption(['status', '--data', dir, '--key-file', keyFile], captureIo().io)).toBe(1);
    const rekeyed = captureIo();
    expect(await runEncryption(['rotate-data', '--data', dir, '--key-file', next], rekeyed.io)).toBe(0);
    expect(rekeyed.out()).toMatch(/: 1 file\(s\), \d+ bytes rewritten in \d+ ms/);
    const verified = captureIo();
    expect(await runEncryption(['verify', '--data', dir, '--key-file', next], verified.io)).toBe(0);
    expect(verified.out()).toMatch(/OK .*metrics\.db: \d+ pages authenticate/);
    const bytes = readFileSync(join(dir, 'metrics.db'));
    bytes[bytes.length - 200]! ^= 1;
    writeFileSync(join(dir, 'metrics.db'), bytes);
    const damaged = captureIo();
    expect(await runEncryption(['verify', '--data', dir, '--key-file', next], damaged.io)).toBe(1);
    expect(damaged.out()).toMatch(/DAMAGED .*metrics\.db: page\(s\) \d+ of \d+ fail their authentication tag/);

    const plain = fresh();
    expect(await runEncryption(['status', '--data', plain], captureIo().io)).toBe(1);
    expect(await runEncryption(['rotate-master', '--data', dir], captureIo().io)).toBe(2);
    expect(await runEncryption(['explode', '--data', dir], captureIo().io)).toBe(2);
    expect(await runEncryption(['status'], captureIo().io)).toBe(2);
    expect(await runEncryption(['status', '--nope'], captureIo().io)).toBe(2);
    expect(await runEncryption([], captureIo().io)).toBe(2);
    expect(await runEncryption(['--help'], captureIo().io)).toBe(0);
  });
});

describe('security.encryption settings', () => {
  it('come from main.json or EMMS_ENCRYPTION_KEY_FILE, and bad values are named', () => {
    const dir = fresh();
    const file = join(dir, 'main.json');
    writeFileSync(file, JSON.stringify({ security: { encryption: { key_file: '/etc/emms/master.key', data_key_max_age_days: 30 } } }));
    const c = loadConfig({ configPath: file, env: {} });
    expect(c.security.encryption).toEqual({ keyFile: '/etc/emms/master.key', dataKeyMaxAgeDays: 30 });
    expect(loadConfig({ env: { EMMS_ENCRYPTION_KEY_FILE: '/k' } }).security.encryption.keyFile).toBe('/k');
    expect(loadConfig({ env: {} }).security.encryption).toEqual({ keyFile: undefined, dataKeyMaxAgeDays: 90 });
    writeFileSync(file, JSON.stringify({ security: { encryption: { data_key_max_age_days: -1 } } }));
    expect(() => loadConfig({ configPath: file, env: {} })).toThrow(/security\.encryption\.data_key_max_age_days/);
    writeFileSync(file, JSON.stringify({ security: { encryption: { cipher: 'x' } } }));
    expect(() => loadConfig({ configPath: file, env: {} })).toThrow(/security\.encryption\.cipher/);
  });
});
