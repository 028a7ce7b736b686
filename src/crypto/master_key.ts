/**
 * The master key of encryption at rest and the interface through which it wraps data keys.
 *
 * The master key never encrypts data: it wraps (encrypts) the data keys kept in the data
 * directory's keyring (src/crypto/keyring.ts). Rotating it therefore re-wraps a few dozen
 * bytes per data key and rewrites no data. A KMS or an HSM plugs in by implementing
 * `MasterKeyWrapper` (docs/format/encryption.md "Using a KMS or an HSM"); this file holds the
 * implementation over a local key file (`security.encryption.key_file`,
 * `EMMS_ENCRYPTION_KEY_FILE`).
 *
 * Key file: 32 random bytes written as 64 hex digits or as base64 (surrounding whitespace
 * ignored), mode 0600 (refused when group or others can read it). `emms keygen` writes one.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { AEAD_KEY_BYTES, openAesGcm, sealAesGcm } from './aead.js';
import { KeyFileError, readPrivateFile } from './key_file.js';

/**
 * Wraps and unwraps data keys. Lifecycle: created once at start-up (or by a command), used for
 * a handful of calls, never for data. Both methods may be remote calls, hence promises.
 * - `id` identifies the master key without revealing it (stored in the keyring, named in errors);
 * - `wrap(dataKey, context)` returns an opaque blob that only `unwrap` with the same key and the
 *   same `context` (additional authenticated data: the data key's id, purpose and creation time)
 *   turns back into the key;
 * - `unwrap` rejects (never returns wrong bytes) when the blob, the context or the key differ.
 */
export interface MasterKeyWrapper {
  readonly id: string;
  /** Where the key lives, for messages (a file path, a KMS key ARN); never the key. */
  readonly source: string;
  wrap(dataKey: Uint8Array, context: Uint8Array): Promise<Uint8Array>;
  unwrap(wrapped: Uint8Array, context: Uint8Array): Promise<Uint8Array>;
}

export const MASTER_KEY_BYTES = AEAD_KEY_BYTES;

/** `mk-` and 16 hex digits of HMAC-SHA256(key, label): names the key, reveals nothing usable about it. */
export function masterKeyId(key: Uint8Array): string {
  return `mk-${createHmac('sha256', key).update('emms master key id v1').digest('hex').slice(0, 16)}`;
}

/** Parses a key file's text: 64 hex digits or the base64 of 32 bytes. */
export function parseMasterKeyText(text: string, path: string): Buffer {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/]{43}=?$/.test(trimmed)) {
    const bytes = Buffer.from(trimmed, 'base64');
    if (bytes.length === MASTER_KEY_BYTES) return bytes;
  }
  throw new KeyFileError(`master key file ${path} must hold ${MASTER_KEY_BYTES} bytes as 64 hex digits or as base64 (emms keygen --output FILE writes one); it holds ${trimmed.length} other characters`);
}

/** The master key in a local file. */
export class KeyFileMasterKey implements MasterKeyWrapper {
  readonly id: string;
  readonly source: string;
  readonly #key: Buffer;

  private constructor(key: Buffer, path: string) {
    this.#key = key;
    this.id = masterKeyId(key);
    this.source = path;
  }

  static fromFile(path: string): KeyFileMasterKey {
    const text = readPrivateFile(path, 'master').toString('utf8');
    return new KeyFileMasterKey(parseMasterKeyText(text, path), path);
  }

  async wrap(dataKey: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    return sealAesGcm(this.#key, dataKey, context);
  }

  async unwrap(wrapped: Uint8Array, context: Uint8Array): Promise<Uint8Array> {
    return openAesGcm(this.#key, wrapped, context);
  }
}

/** Writes a new master key (64 hex digits and a newline) to `path`, mode 0600; never overwrites. */
export function writeNewMasterKeyFile(path: string): string {
  const key = randomBytes(MASTER_KEY_BYTES);
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (err) {
    throw new KeyFileError(`cannot create the master key file ${path}: ${(err as Error).message}`);
  }
  try {
    writeSync(fd, `${key.toString('hex')}\n`);
  } finally {
    closeSync(fd);
  }
  return masterKeyId(key);
}
