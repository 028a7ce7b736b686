/**
 * Encryption at rest, in-process: AES-GCM sealing, the master key file and its wrapper, the
 * keyring (create, open, wrong key, altered entry, rotations, re-wrap), the SQLite cipher
 * driver, the page verifier (RFC 8439 Poly1305 vector, an altered page named), and start-up's
 * decisions (off, missing key, plaintext directory, age rotation, interrupted rotation).
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AeadAuthenticationError, openAesGcm, sealAesGcm } from '../../src/crypto/aead.js';
import { EncryptionStartError, databaseFilesIn, describeDamage, openAtRestEncryption, rotateDatabaseKey } from '../../src/crypto/at_rest.js';
import { openCommandEncryption } from '../../src/crypto/command_encryption.js';
import { KeyFileError } from '../../src/crypto/key_file.js';
import { KEYRING_FILE, Keyring, KeyringError, keyringMasterKeyId } from '../../src/crypto/keyring.js';
import { KeyFileMasterKey, masterKeyId, parseMasterKeyText, writeNewMasterKeyFile, type MasterKeyWrapper } from '../../src/crypto/master_key.js';
import { pageAuthenticates, poly1305, verifyDatabasePages } from '../../src/crypto/page_verify.js';
import { DatabaseKeyError, cipherDriver, databaseEncryptionOn, evaluatedWorkerDriver, openEncrypted, openSqlite, useDatabaseKey, workerDataForDatabases } from '../../src/crypto/sqlite_cipher.js';
import { tempDir } from '../integration/server_harness.js';

const tmp = tempDir('emms-keyring-unit-');
let n = 0;
const freshDir = (): string => {
  const dir = join(tmp.dir, `d${n++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
};
const newKeyFile = (): string => {
  const path = join(tmp.dir, `k${n++}.key`);
  writeNewMasterKeyFile(path);
  return path;
};

afterEach(() => useDatabaseKey(undefined));

describe('AES-256-GCM sealing', () => {
  it('opens what it sealed, with a fresh nonce each time, and refuses altered bytes or context', () => {
    const key = Buffer.alloc(32, 3);
    const a = sealAesGcm(key, Buffer.from('hello'), Buffer.from('ctx'));
    const b = sealAesGcm(key, Buffer.from('hello'), Buffer.from('ctx'));
    expect(a.equals(b)).toBe(false);
    expect(openAesGcm(key, a, Buffer.from('ctx')).toString()).toBe('hello');
    expect(() => openAesGcm(key, a, Buffer.from('other'))).toThrow(AeadAuthenticationError);
    const altered = Buffer.from(a);
    altered[14]! ^= 1;
    expect(() => openAesGcm(key, altered, Buffer.from('ctx'))).toThrow(AeadAuthenticationError);
    expect(() => openAesGcm(key, Buffer.alloc(10), Buffer.from('ctx'))).toThrow(/shorter than a nonce and a tag/);
    expect(() => sealAesGcm(Buffer.alloc(16), Buffer.from('x'), Buffer.alloc(0))).toThrow(/must be 32 bytes; got 16/);
  });
});

describe('master key file', () => {
  it('is written with mode 0600, never overwritten, and read as hex or base64', () => {
    const path = join(tmp.dir, 'master.key');
    const id = writeNewMasterKeyFile(path);
    expect(readFileSync(path, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    expect(KeyFileMasterKey.fromFile(path).id).toBe(id);
    expect(() => writeNewMasterKeyFile(path)).toThrow(/cannot create the master key file/);
    const raw = Buffer.from(readFileSync(path, 'utf8').trim(), 'hex');
    expect(parseMasterKeyText(raw.toString('base64'), 'f').equals(raw)).toBe(true);
    expect(masterKeyId(raw)).toBe(id);
    expect(() => parseMasterKeyText('abc', 'f.key')).toThrow(/master key file f.key must hold 32 bytes as 64 hex digits or as base64/);
    chmodSync(path, 0o644);
    expect(() => KeyFileMasterKey.fromFile(path)).toThrow(KeyFileError);
    expect(() => KeyFileMasterKey.fromFile(join(tmp.dir, 'none.key'))).toThrow(/cannot read the master key key file|cannot read the master key file/);
  });
});

describe('keyring', () => {
  it('wraps data keys under the master key; only that key opens it, and an altered entry is named', async () => {
    const dir = freshDir();
    const master = KeyFileMasterKey.fromFile(newKeyFile());
    const ring = await Keyring.create(dir, master, Date.UTC(2026, 0, 1));
    const text = readFileSync(join(dir, KEYRING_FILE), 'utf8');
    expect(text).not.toContain(ring.databaseKey.bytes.toString('hex'));
    expect(text).not.toContain(ring.databaseKey.bytes.toString('base64'));
    expect(keyringMasterKeyId(dir)).toBe(master.id);
    const again = await Keyring.open(dir, master);
    expect(again.databaseKey.bytes.equals(ring.databaseKey.bytes)).toBe(true);
    expect(again.auditKeys().get(ring.auditKey.id)!.equals(ring.auditKey.bytes)).toBe(true);
    expect(again.describe().map((k) => k.purpose).sort()).toEqual(['audit', 'database']);
    const other = KeyFileMasterKey.fromFile(newKeyFile());
    await expect(Keyring.open(dir, other)).rejects.toThrow(new RegExp(`\\(id ${other.id}\\) is not the key of this data directory: .* master key ${master.id}`));
    // An impostor with the right id but another key (or an altered wrapped key) fails the tag.
    const impostor: MasterKeyWrapper = { id: master.id, source: 'test', wrap: other.wrap.bind(other), unwrap: other.unwrap.bind(other) };
    await expect(Keyring.open(dir, impostor)).rejects.toThrow(new RegExp(`does not unwrap data key ${ring.databaseKey.id}|does not unwrap data key ${ring.auditKey.id}`));
    await expect(Keyring.create(dir, master)).rejects.toThrow(/already exists/);
  });

  it('rotates audit keys (keeping old ones), re-wraps under a new master, and moves the database key in two steps', async () => {
    const dir = freshDir();
    const master = KeyFileMasterKey.fromFile(newKeyFile());
    const ring = await Keyring.create(dir, master);
    const firstAudit = ring.auditKey.id;
    await ring.rotateAuditKey();
    expect(ring.auditKey.id).not.toBe(firstAudit);
    expect([...ring.auditKeys().keys()]).toContain(firstAudit);
    const next = KeyFileMasterKey.fromFile(newKeyFile());
    await ring.rewrap(next);
    await expect(Keyring.open(dir, master)).rejects.toThrow(KeyringError);
    const reopened = await Keyring.open(dir, next);
    const oldDb = reopened.databaseKey.id;
    const pending = await reopened.beginDatabaseKeyRotation();
    expect(await reopened.beginDatabaseKeyRotation()).toBe(pending);
    expect((await Keyring.open(dir, next)).pendingDatabaseKey?.id).toBe(pending.id);
    await reopened.finishDatabaseKeyRotation();
    await reopened.finishDatabaseKeyRotation();
    const done = await Keyring.open(dir, next);
    expect(done.databaseKey.id).toBe(pending.id);
    expect(done.describe().map((k) => k.id)).not.toContain(oldDb);
  });

  it('refuses files that are not a keyring of this version', async () => {
    const dir = freshDir();
    const master = KeyFileMasterKey.fromFile(newKeyFile());
    const path = join(dir, KEYRING_FILE);
    writeFileSync(path, '{');
    await expect(Keyring.open(dir, master)).rejects.toThrow(/cannot read the keyring/);
    writeFileSync(path, JSON.stringify({ format: 'other' }));
    await expect(Keyring.open(dir, master)).rejects.toThrow(/is not an EMMS keyring/);
    writeFileSync(path, JSON.stringify({ format: 'emms-keyring', version: 9 }));
    await expect(Keyring.open(dir, master)).rejects.toThrow(/keyring version 9 is not supported/);
    writeFileSync(path, JSON.stringify({ format: 'emms-keyring', version: 1, database_cipher: 'rc4' }));
    await expect(Keyring.open(dir, master)).rejects.toThrow(/database_cipher "rc4" is not supported/);
    writeFileSync(path, JSON.stringify({ format: 'emms-keyring', version: 1, database_cipher: 'chacha20' }));
    await expect(Keyring.open(dir, master)).rejects.toThrow(/lacks master_key_id/);
    writeFileSync(path, JSON.stringify({ format: 'emms-keyring', version: 1, database_cipher: 'chacha20', master_key_id: master.id, database_key_id: 'a', audit_key_id: 'b', keys: [{ id: 'a' }] }));
    await expect(Keyring.open(dir, master)).rejects.toThrow(/keys\[0\] must have id, purpose/);
    writeFileSync(path, JSON.stringify({ format: 'emms-keyring', version: 1, database_cipher: 'chacha20', master_key_id: master.id, database_key_id: 'a', audit_key_id: 'b', keys: [] }));
    const empty = await Keyring.open(dir, master);
    expect(() => empty.databaseKey).toThrow(/names data key a but does not hold it/);
  });
});

describe('SQLite cipher driver', () => {
  const key = { id: 'dk-db-test', bytes: Buffer.alloc(32, 9) };

  it('encrypts every page under the key, refuses another key, and hands the key to workers', () => {
    const dir = freshDir();
    const path = join(dir, 'x.db');
    expect(databaseEncryptionOn()).toBe(false);
    expect(workerDataForDatabases()).toEqual({});
    expect(evaluatedWorkerDriver().keyHex).toBeUndefined();
    useDatabaseKey(key);
    expect(databaseEncryptionOn()).toBe(true);
    const db = openSqlite(path);
    db.pragma('page_size = 1024');
    db.exec("CREATE TABLE t(a TEXT); INSERT INTO t VALUES ('plain-text-marker-123')");
    expect(db.pragma('temp_store', { simple: true })).toBe(2);
    db.close();
    expect(readFileSync(path).includes('plain-text-marker-123')).toBe(false);
    expect(verifyDatabasePages(path, key.bytes)).toMatchObject({ pageSize: 1024, badPages: [] });
    expect(workerDataForDatabases()).toMatchObject({ emmsDatabaseKey: { id: key.id } });
    expect(evaluatedWorkerDriver()).toMatchObject({ keyHex: key.bytes.toString('hex'), driverPath: expect.stringContaining('multiple-ciphers') });
    const ro = openSqlite(path, { readonly: true });
    expect(ro.prepare('SELECT a FROM t').pluck().get()).toBe('plain-text-marker-123');
    ro.close();
    expect(() => openEncrypted(cipherDriver(), path, { id: 'dk-db-wrong', bytes: Buffer.alloc(32, 1) })).toThrow(DatabaseKeyError);
    expect(() => openEncrypted(cipherDriver(), path, { id: 'dk-db-wrong', bytes: Buffer.alloc(32, 1) })).toThrow(/cannot be read with data key dk-db-wrong/);
  });
});

describe('page verification', () => {
  it('computes Poly1305 as RFC 8439 §2.5.2 and names an altered page', () => {
    const tag = poly1305(Buffer.from('Cryptographic Forum Research Group'), Buffer.from('85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b', 'hex'));
    expect(tag.toString('hex')).toBe('a8061dc1305136c6c22b8baf0c0127a9');
    const key = { id: 'dk-db-p', bytes: Buffer.alloc(32, 5) };
    const dir = freshDir();
    const path = join(dir, 'p.db');
    const db = openEncrypted(cipherDriver(), path, key);
    db.pragma('page_size = 1024');
    db.exec('CREATE TABLE t(a BLOB)');
    db.prepare('INSERT INTO t VALUES (?)').run(Buffer.alloc(5000, 7));
    db.close();
    const bytes = readFileSync(path);
    expect(pageAuthenticates(bytes.subarray(1024, 2048), 2, key.bytes)).toBe(true);
    expect(pageAuthenticates(bytes.subarray(1024, 2048), 3, key.bytes)).toBe(false); // a page moved elsewhere
    bytes[3 * 1024 + 10]! ^= 0x80;
    writeFileSync(path, bytes);
    expect(verifyDatabasePages(path, key.bytes).badPages).toEqual([4]);
    expect(describeDamage(path, key as never)).toMatch(/page\(s\) 4 fail their authentication tag/);
    expect(describeDamage(path, { ...key, bytes: Buffer.alloc(32, 6) } as never)).toMatch(/was not written under this key/);
    writeFileSync(join(dir, 'plain.db'), Buffer.alloc(4096));
    expect(() => verifyDatabasePages(join(dir, 'plain.db'), key.bytes)).toThrow(/is not a ChaCha20-Poly1305 encrypted SQLite database/);
  });
});

describe('start-up decisions', () => {
  it('is off without a key, refuses a keyring without a key and a key over plaintext files', async () => {
    const dir = freshDir();
    expect(await openAtRestEncryption({ dataDir: dir, keyFile: undefined, dataKeyMaxAgeDays: 90 })).toBeUndefined();
    writeFileSync(join(dir, 'metrics.db'), '');
    const keyFile = newKeyFile();
    await expect(openAtRestEncryption({ dataDir: dir, keyFile, dataKeyMaxAgeDays: 90 })).rejects.toThrow(/already holds files written without encryption \(metrics\.db\)/);
    expect(existsSync(join(dir, KEYRING_FILE))).toBe(false);
    const enc = freshDir();
    expect(await openAtRestEncryption({ dataDir: enc, keyFile, dataKeyMaxAgeDays: 90 })).toBeDefined();
    await expect(openAtRestEncryption({ dataDir: enc, keyFile: undefined, dataKeyMaxAgeDays: 90 })).rejects.toThrow(EncryptionStartError);
    await expect(openAtRestEncryption({ dataDir: enc, keyFile: newKeyFile(), dataKeyMaxAgeDays: 90 })).rejects.toThrow(/is not the key of this data directory/);
    await expect(openAtRestEncryption({ dataDir: enc, keyFile: join(tmp.dir, 'absent.key'), dataKeyMaxAgeDays: 90 })).rejects.toThrow(/absent\.key.*nothing was changed/);
    expect(await openCommandEncryption(dir)).toBeUndefined();
    await expect(openCommandEncryption(enc, undefined)).rejects.toThrow(/no master key is configured/);
    expect((await openCommandEncryption(enc, keyFile))?.databaseKey.id).toMatch(/^dk-db-/);
  });

  it('rotates keys past their age at start-up (every database rekeyed), and finishes an interrupted rotation', async () => {
    const dir = freshDir();
    const keyFile = newKeyFile();
    let now = Date.UTC(2026, 0, 1);
    const first = (await openAtRestEncryption({ dataDir: dir, keyFile, dataKeyMaxAgeDays: 90, now: () => now }))!;
    for (const name of ['metrics.db', 'alerts.db']) {
      const db = openSqlite(join(dir, name));
      db.pragma('journal_mode = WAL');
      db.exec("CREATE TABLE t(a TEXT); INSERT INTO t VALUES ('kept')");
      db.close();
    }
    expect(databaseFilesIn(dir)).toEqual(['alerts.db', 'metrics.db']);
    now += 91 * 86_400_000;
    const logs: string[] = [];
    const second = (await openAtRestEncryption({ dataDir: dir, keyFile, dataKeyMaxAgeDays: 90, now: () => now, log: (_l, m) => logs.push(m) }))!;
    expect(second.databaseKey.id).not.toBe(first.databaseKey.id);
    expect(second.auditKey.id).not.toBe(first.auditKey.id);
    expect(second.auditKeys.has(first.auditKey.id)).toBe(true);
    expect(logs.join('\n')).toMatch(/database key .* → .*\(older than 90 days; 2 file\(s\)/);
    for (const name of ['metrics.db', 'alerts.db']) {
      const db = openSqlite(join(dir, name));
      expect(db.prepare('SELECT a FROM t').pluck().get()).toBe('kept');
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      db.close();
    }
    // Interrupted: one file moved to the pending key, the keyring not yet switched.
    useDatabaseKey(undefined);
    const ring = second.keyring;
    const pending = await ring.beginDatabaseKeyRotation(now);
    const { rekeyDatabaseFile } = await import('../../src/crypto/sqlite_cipher.js');
    rekeyDatabaseFile(join(dir, 'alerts.db'), ring.databaseKey, pending);
    const third = (await openAtRestEncryption({ dataDir: dir, keyFile, dataKeyMaxAgeDays: 90, now: () => now, log: (_l, m) => logs.push(m) }))!;
    expect(third.databaseKey.id).toBe(pending.id);
    expect(logs.join('\n')).toContain('finished the interrupted rotation');
    expect((await rotateDatabaseKey(third.keyring, dir)).files).toBe(2);
    // A database file from elsewhere (another key) is refused, naming it.
    useDatabaseKey(undefined);
    const stranger = openEncrypted(cipherDriver(), join(dir, 'keys.db'), { id: 'x', bytes: Buffer.alloc(32, 4) });
    stranger.exec('CREATE TABLE t(a)');
    stranger.close();
    await expect(openAtRestEncryption({ dataDir: dir, keyFile, dataKeyMaxAgeDays: 0 })).rejects.toThrow(/keys\.db was not written under this key|keys\.db/);
  });
});
