/**
 * Encryption at rest for one data directory, as start-up and `emms encryption …` see it:
 * the master key, the keyring, the database key every SQLite connection uses, the audit keys,
 * and data-key rotation (docs/format/encryption.md).
 *
 * Start-up order matters: everything here runs before any file of the data directory is
 * created or opened for writing, so a wrong or missing key stops start-up with nothing on disk
 * changed. The checks, in order:
 * 1. a keyring without a configured key, or a key with plaintext files and no keyring: refuse;
 * 2. the master key's id against the keyring's, then each data key's unwrap (AES-GCM tag);
 * 3. every database file's first page under the database key (a file from elsewhere).
 * Then an interrupted database-key rotation is finished, and keys past their age are rotated:
 * the audit key by adding a new one (old records keep theirs), the database key by
 * `PRAGMA rekey` of every database file, which rewrites each file (bench/encryption.bench.ts
 * measures it); that is why it happens here, while no connection is open, and not live.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KeyFileError } from './key_file.js';
import { Keyring, KeyringError, keyringExists, keyringMasterKeyId, keyringPath, type DataKey } from './keyring.js';
import { KeyFileMasterKey, type MasterKeyWrapper } from './master_key.js';
import { DatabaseKeyError, cipherDriver, openEncrypted, rekeyDatabaseFile, useDatabaseKey } from './sqlite_cipher.js';
import { verifyDatabasePages } from './page_verify.js';

const DAY_MS = 86_400_000;
const DATABASE_NAME = /^[a-z0-9_]+\.db$/;
/** Files whose presence means the directory already holds data written without encryption. */
const PLAINTEXT_EVIDENCE = /^([a-z0-9_]+\.db|audit\.log)$/;

/** Start-up refused: the message names the key file, the key ids and the file concerned. */
export class EncryptionStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncryptionStartError';
  }
}

export interface AtRestOptions {
  dataDir: string;
  /** `security.encryption.key_file` / EMMS_ENCRYPTION_KEY_FILE; undefined = off. */
  keyFile: string | undefined;
  /** Rotate data keys older than this at start-up; 0 = never by age. */
  dataKeyMaxAgeDays: number;
  /** A KMS/HSM wrapper instead of the key file (same interface). */
  wrapper?: MasterKeyWrapper;
  now?: () => number;
  log?: (level: 'info' | 'warn', message: string) => void;
}

export interface AtRestEncryption {
  keyring: Keyring;
  databaseKey: DataKey;
  /** The key new audit records are sealed with. */
  auditKey: DataKey;
  /** Every audit key by id, for reading older records. */
  auditKeys: Map<string, Buffer>;
  /** What start-up rotated, for the log. */
  rotated: string[];
}

/** The SQLite files of a data directory (top level `*.db`), sorted. */
export function databaseFilesIn(dataDir: string): string[] {
  if (!existsSync(dataDir)) return [];
  return readdirSync(dataDir).filter((name) => DATABASE_NAME.test(name) && statSync(join(dataDir, name)).isFile()).sort();
}

/** Reads the master key file as a wrapper; errors name the file. */
export function masterKeyFromFile(path: string): MasterKeyWrapper {
  try {
    return KeyFileMasterKey.fromFile(path);
  } catch (err) {
    if (err instanceof KeyFileError) throw new EncryptionStartError(`${err.message}; nothing was changed`);
    throw err;
  }
}

/**
 * Opens (or, for a new data directory, creates) the directory's encryption and sets the
 * database key of this process. Returns undefined when encryption is off.
 */
export async function openAtRestEncryption(opts: AtRestOptions): Promise<AtRestEncryption | undefined> {
  const { dataDir } = opts;
  const now = opts.now ?? Date.now;
  if (opts.keyFile === undefined && opts.wrapper === undefined) {
    if (keyringExists(dataDir)) {
      throw new EncryptionStartError(`${dataDir} is encrypted (${keyringPath(dataDir)}, master key ${keyringMasterKeyId(dataDir)}) but no master key is configured: set security.encryption.key_file or EMMS_ENCRYPTION_KEY_FILE; nothing was changed`);
    }
    useDatabaseKey(undefined);
    return undefined;
  }
  const wrapper = opts.wrapper ?? masterKeyFromFile(opts.keyFile!);
  let keyring: Keyring;
  if (!keyringExists(dataDir)) {
    const plaintext = existsSync(dataDir) ? readdirSync(dataDir).filter((n) => PLAINTEXT_EVIDENCE.test(n)).sort() : [];
    if (plaintext.length > 0) {
      throw new EncryptionStartError(`${dataDir} already holds files written without encryption (${plaintext.join(', ')}); encryption at rest (master key ${wrapper.id} in ${wrapper.source}) can be switched on for a new data directory only; nothing was changed`);
    }
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    keyring = await Keyring.create(dataDir, wrapper, now());
    opts.log?.('info', `encryption at rest: new keyring ${keyring.path} under master key ${wrapper.id}`);
  } else {
    try {
      keyring = await Keyring.open(dataDir, wrapper);
    } catch (err) {
      if (err instanceof KeyringError) throw new EncryptionStartError(err.message);
      throw err;
    }
  }
  const rotated: string[] = [];
  if (keyring.pendingDatabaseKey !== undefined) {
    await rotateDatabaseKey(keyring, dataDir, now);
    rotated.push(`finished the interrupted rotation to database key ${keyring.databaseKey.id}`);
  }
  checkDatabaseFiles(dataDir, keyring, wrapper);
  const maxAgeMs = opts.dataKeyMaxAgeDays * DAY_MS;
  if (maxAgeMs > 0 && now() - keyring.databaseKey.createdMs >= maxAgeMs) {
    const old = keyring.databaseKey.id;
    const report = await rotateDatabaseKey(keyring, dataDir, now);
    rotated.push(`database key ${old} → ${keyring.databaseKey.id} (older than ${opts.dataKeyMaxAgeDays} days; ${report.files} file(s), ${report.bytes} bytes rewritten in ${report.ms} ms)`);
  }
  if (maxAgeMs > 0 && now() - keyring.auditKey.createdMs >= maxAgeMs) {
    const old = keyring.auditKey.id;
    await keyring.rotateAuditKey(now());
    rotated.push(`audit key ${old} → ${keyring.auditKey.id} (older than ${opts.dataKeyMaxAgeDays} days)`);
  }
  for (const line of rotated) opts.log?.('info', `encryption at rest: ${line}`);
  useDatabaseKey(keyring.databaseKey);
  return { keyring, databaseKey: keyring.databaseKey, auditKey: keyring.auditKey, auditKeys: keyring.auditKeys(), rotated };
}

/** Every database file must open under the database key; otherwise say which file and which page. */
function checkDatabaseFiles(dataDir: string, keyring: Keyring, wrapper: MasterKeyWrapper): void {
  const driver = cipherDriver();
  for (const name of databaseFilesIn(dataDir)) {
    const path = join(dataDir, name);
    if (statSync(path).size === 0) continue;
    try {
      openEncrypted(driver, path, keyring.databaseKey, { fileMustExist: true }).close();
    } catch (err) {
      if (!(err instanceof DatabaseKeyError) && (err as { code?: string }).code !== 'SQLITE_CORRUPT') throw err;
      throw new EncryptionStartError(`${describeDamage(path, keyring.databaseKey)} (data key ${keyring.databaseKey.id} of ${keyring.path}, master key ${wrapper.id} in ${wrapper.source}); nothing was changed`);
    }
  }
}

/** Which pages of `path` fail their tag, in words; or that page 1 itself does not open (another key). */
export function describeDamage(path: string, key: DataKey): string {
  let bad: number[];
  try {
    bad = verifyDatabasePages(path, key.bytes).badPages;
  } catch (err) {
    return `${path} is not readable as an encrypted database: ${(err as Error).message}`;
  }
  if (bad.length === 0) return `${path}: every page authenticates, but SQLite refused the file`;
  if (bad.length > 1 && bad[0] === 1) return `${path} was not written under this key: page 1 and ${bad.length - 1} more fail their authentication tag`;
  return `${path}: page(s) ${bad.slice(0, 10).join(', ')}${bad.length > 10 ? ' …' : ''} fail their authentication tag (altered or damaged on disk; never decoded)`;
}

export interface RekeyReport {
  files: number;
  bytes: number;
  ms: number;
}

/**
 * Moves every database file of `dataDir` to a new database key (or finishes a move that was
 * interrupted): `PRAGMA rekey` per file, which rewrites all its pages. The data directory must
 * not be in use (start-up, or `emms encryption rotate-data` on a stopped directory).
 */
export async function rotateDatabaseKey(keyring: Keyring, dataDir: string, now: () => number = Date.now): Promise<RekeyReport> {
  const started = Date.now();
  const from = keyring.databaseKey;
  const to = await keyring.beginDatabaseKeyRotation(now());
  const driver = cipherDriver();
  let files = 0;
  let bytes = 0;
  for (const name of databaseFilesIn(dataDir)) {
    const path = join(dataDir, name);
    try {
      openEncrypted(driver, path, to, { fileMustExist: true }).close();
      continue; // moved before an interruption
    } catch (err) {
      if (!(err instanceof DatabaseKeyError)) throw err;
    }
    rekeyDatabaseFile(path, from, to);
    files++;
    bytes += statSync(path).size;
  }
  await keyring.finishDatabaseKeyRotation();
  return { files, bytes, ms: Date.now() - started };
}
