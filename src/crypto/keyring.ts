/**
 * The keyring of a data directory (`<data>/keyring.json`, format in docs/format/encryption.md):
 * the data keys that encrypt the databases and the audit log, each wrapped by the master key
 * (MasterKeyWrapper), with its id, purpose and creation time.
 *
 * - One database key is current (`database_key_id`); during a data-key rotation a second one is
 *   `pending_database_key_id` until every database file has been rekeyed (a crash half-way
 *   leaves files under either key, and both are still here to open them).
 * - Audit keys accumulate: each audit record names the key that sealed it, and old records stay
 *   readable after a rotation without being rewritten.
 * - The file is replaced atomically (temporary file, fsync, rename), mode 0600. Only start-up
 *   and `emms encryption …` write it; a running server never does, so `rotate-master` may run
 *   beside it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { AEAD_KEY_BYTES } from './aead.js';
import type { MasterKeyWrapper } from './master_key.js';

export const KEYRING_FILE = 'keyring.json';
export const KEYRING_FORMAT = 'emms-keyring';
export const KEYRING_VERSION = 1;
/** SQLite3 Multiple Ciphers' ChaCha20-Poly1305 page cipher (docs/format/encryption.md). */
export const DATABASE_CIPHER = 'chacha20';

export type DataKeyPurpose = 'database' | 'audit';

export interface DataKey {
  id: string;
  purpose: DataKeyPurpose;
  createdMs: number;
  bytes: Buffer;
}

interface WrappedKeyJson {
  id: string;
  purpose: DataKeyPurpose;
  created: string;
  wrapped: string;
}

interface KeyringJson {
  format: typeof KEYRING_FORMAT;
  version: typeof KEYRING_VERSION;
  database_cipher: typeof DATABASE_CIPHER;
  master_key_id: string;
  database_key_id: string;
  pending_database_key_id?: string;
  audit_key_id: string;
  keys: WrappedKeyJson[];
}

/** A keyring that cannot be used: wrong master key, damaged file, unknown format. Names the file and the key ids. */
export class KeyringError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyringError';
  }
}

/** What the master key authenticates with each data key: it cannot be moved to another id or purpose. */
function wrapContext(id: string, purpose: DataKeyPurpose, created: string): Buffer {
  return Buffer.from(`emms-keyring v${KEYRING_VERSION}\n${id}\n${purpose}\n${created}`, 'utf8');
}

function newDataKey(purpose: DataKeyPurpose, nowMs: number): DataKey {
  // Time-ordered prefix for people reading the file; the random part makes ids unique.
  return { id: `dk-${purpose === 'database' ? 'db' : 'au'}-${randomUUID().slice(0, 13)}`, purpose, createdMs: nowMs, bytes: randomBytes(AEAD_KEY_BYTES) };
}

export function keyringPath(dataDir: string): string {
  return join(dataDir, KEYRING_FILE);
}

export function keyringExists(dataDir: string): boolean {
  return existsSync(keyringPath(dataDir));
}

/** The keyring's data keys in the clear (in memory only), and the master key that wraps them. */
export class Keyring {
  readonly path: string;
  #wrapper: MasterKeyWrapper;
  readonly #keys = new Map<string, DataKey>();
  #databaseKeyId: string;
  #pendingDatabaseKeyId: string | undefined;
  #auditKeyId: string;

  private constructor(path: string, wrapper: MasterKeyWrapper, keys: DataKey[], databaseKeyId: string, auditKeyId: string, pending: string | undefined) {
    this.path = path;
    this.#wrapper = wrapper;
    for (const k of keys) this.#keys.set(k.id, k);
    this.#databaseKeyId = databaseKeyId;
    this.#auditKeyId = auditKeyId;
    this.#pendingDatabaseKeyId = pending;
  }

  /** A new keyring with one database key and one audit key, written to `<dataDir>/keyring.json`. */
  static async create(dataDir: string, wrapper: MasterKeyWrapper, nowMs = Date.now()): Promise<Keyring> {
    const db = newDataKey('database', nowMs);
    const audit = newDataKey('audit', nowMs);
    const ring = new Keyring(keyringPath(dataDir), wrapper, [db, audit], db.id, audit.id, undefined);
    await ring.save({ exclusive: true });
    return ring;
  }

  /** Reads and unwraps `<dataDir>/keyring.json`; a wrong master key is a KeyringError naming both key ids. */
  static async open(dataDir: string, wrapper: MasterKeyWrapper): Promise<Keyring> {
    const path = keyringPath(dataDir);
    const json = readKeyringJson(path);
    if (json.master_key_id !== wrapper.id) {
      throw new KeyringError(`the master key in ${wrapper.source} (id ${wrapper.id}) is not the key of this data directory: ${path} was wrapped by master key ${json.master_key_id}; nothing was changed`);
    }
    const keys: DataKey[] = [];
    for (const entry of json.keys) {
      let bytes: Uint8Array;
      try {
        bytes = await wrapper.unwrap(Buffer.from(entry.wrapped, 'base64'), wrapContext(entry.id, entry.purpose, entry.created));
      } catch (err) {
        throw new KeyringError(`the master key in ${wrapper.source} (id ${wrapper.id}) does not unwrap data key ${entry.id} of ${path} (${(err as Error).message}): the keyring was altered or the key is not this directory's; nothing was changed`);
      }
      if (bytes.length !== AEAD_KEY_BYTES) throw new KeyringError(`data key ${entry.id} of ${path} unwraps to ${bytes.length} bytes, not ${AEAD_KEY_BYTES}`);
      keys.push({ id: entry.id, purpose: entry.purpose, createdMs: Date.parse(entry.created), bytes: Buffer.from(bytes) });
    }
    return new Keyring(path, wrapper, keys, json.database_key_id, json.audit_key_id, json.pending_database_key_id);
  }

  get masterKeyId(): string {
    return this.#wrapper.id;
  }

  get databaseKey(): DataKey {
    return this.#key(this.#databaseKeyId);
  }

  /** The database key a rotation is moving to, while one is under way. */
  get pendingDatabaseKey(): DataKey | undefined {
    return this.#pendingDatabaseKeyId === undefined ? undefined : this.#key(this.#pendingDatabaseKeyId);
  }

  get auditKey(): DataKey {
    return this.#key(this.#auditKeyId);
  }

  /** Every audit key, current and retired, by id (records name the key that sealed them). */
  auditKeys(): Map<string, Buffer> {
    return new Map([...this.#keys.values()].filter((k) => k.purpose === 'audit').map((k) => [k.id, k.bytes]));
  }

  /** Data keys with ids, purposes and ages, no key bytes (for `emms encryption status`). */
  describe(): Array<{ id: string; purpose: DataKeyPurpose; created: string; current: boolean }> {
    return [...this.#keys.values()].map((k) => ({
      id: k.id, purpose: k.purpose, created: new Date(k.createdMs).toISOString(),
      current: k.id === this.#databaseKeyId || k.id === this.#auditKeyId,
    }));
  }

  /** Starts a database-key rotation: a new key becomes pending (saved before any file is rekeyed). */
  async beginDatabaseKeyRotation(nowMs = Date.now()): Promise<DataKey> {
    const pending = this.pendingDatabaseKey;
    if (pending !== undefined) return pending;
    const key = newDataKey('database', nowMs);
    this.#keys.set(key.id, key);
    this.#pendingDatabaseKeyId = key.id;
    await this.save();
    return key;
  }

  /** Ends it once every file is under the pending key: the old key is dropped from the keyring. */
  async finishDatabaseKeyRotation(): Promise<void> {
    const pending = this.#pendingDatabaseKeyId;
    if (pending === undefined) return;
    this.#keys.delete(this.#databaseKeyId);
    this.#databaseKeyId = pending;
    this.#pendingDatabaseKeyId = undefined;
    await this.save();
  }

  /** A new audit key for new records; older records keep theirs. */
  async rotateAuditKey(nowMs = Date.now()): Promise<DataKey> {
    const key = newDataKey('audit', nowMs);
    this.#keys.set(key.id, key);
    this.#auditKeyId = key.id;
    await this.save();
    return key;
  }

  /** Re-wraps every data key under `next`; no data is rewritten. */
  async rewrap(next: MasterKeyWrapper): Promise<void> {
    this.#wrapper = next;
    await this.save();
  }

  async save(options: { exclusive?: boolean } = {}): Promise<void> {
    const keys: WrappedKeyJson[] = [];
    for (const k of this.#keys.values()) {
      const created = new Date(k.createdMs).toISOString();
      const wrapped = await this.#wrapper.wrap(k.bytes, wrapContext(k.id, k.purpose, created));
      keys.push({ id: k.id, purpose: k.purpose, created, wrapped: Buffer.from(wrapped).toString('base64') });
    }
    const json: KeyringJson = {
      format: KEYRING_FORMAT, version: KEYRING_VERSION, database_cipher: DATABASE_CIPHER,
      master_key_id: this.#wrapper.id, database_key_id: this.#databaseKeyId,
      ...(this.#pendingDatabaseKeyId === undefined ? {} : { pending_database_key_id: this.#pendingDatabaseKeyId }),
      audit_key_id: this.#auditKeyId, keys,
    };
    writeFileAtomically(this.path, `${JSON.stringify(json, null, 2)}\n`, options.exclusive === true);
  }

  #key(id: string): DataKey {
    const key = this.#keys.get(id);
    if (key === undefined) throw new KeyringError(`${this.path} names data key ${id} but does not hold it`);
    return key;
  }
}

/** The keyring's master key id without unwrapping anything (for the "key missing" message). */
export function keyringMasterKeyId(dataDir: string): string {
  return readKeyringJson(keyringPath(dataDir)).master_key_id;
}

function readKeyringJson(path: string): KeyringJson {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new KeyringError(`cannot read the keyring ${path}: ${(err as Error).message}`);
  }
  const v = value as Partial<KeyringJson>;
  if (typeof v !== 'object' || v === null || v.format !== KEYRING_FORMAT) throw new KeyringError(`${path} is not an EMMS keyring (format ${JSON.stringify(v?.format)})`);
  if (v.version !== KEYRING_VERSION) throw new KeyringError(`${path}: keyring version ${JSON.stringify(v.version)} is not supported by this build (expected ${KEYRING_VERSION})`);
  if (v.database_cipher !== DATABASE_CIPHER) throw new KeyringError(`${path}: database_cipher ${JSON.stringify(v.database_cipher)} is not supported (expected ${DATABASE_CIPHER})`);
  if (typeof v.master_key_id !== 'string' || typeof v.database_key_id !== 'string' || typeof v.audit_key_id !== 'string' || !Array.isArray(v.keys)) {
    throw new KeyringError(`${path} lacks master_key_id, database_key_id, audit_key_id or keys`);
  }
  for (const [i, k] of v.keys.entries()) {
    const e = k as Partial<WrappedKeyJson>;
    if (typeof e.id !== 'string' || (e.purpose !== 'database' && e.purpose !== 'audit') || typeof e.created !== 'string' || typeof e.wrapped !== 'string' || Number.isNaN(Date.parse(e.created))) {
      throw new KeyringError(`${path}: keys[${i}] must have id, purpose (database|audit), created (ISO time) and wrapped (base64)`);
    }
  }
  return v as KeyringJson;
}

function writeFileAtomically(path: string, text: string, exclusive: boolean): void {
  if (exclusive && existsSync(path)) throw new KeyringError(`${path} already exists`);
  const temporary = `${path}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temporary, path);
}
