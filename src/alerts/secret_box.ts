/**
 * Sealing of secrets kept at rest (alert channel configs with webhook secrets, header values,
 * URL tokens): AES-256-GCM with a 32-byte key in `<data dir>/secrets.key` (src/crypto/key_file.ts
 * says how it is created and guarded). A sealed value is `sealed:v1:<base64 of iv(12) | tag(16) | ciphertext>`; the
 * additional authenticated data (e.g. `alert_channels/<tenant>/<id>`) binds it to its row, so
 * a sealed value copied into another tenant's row does not open.
 *
 * Kept free of alerting concerns: it may move to a shared place when other stores seal secrets.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { KEY_FILE_BYTES, KeyFileError, openKeyFile } from '../crypto/key_file.js';

export const SECRETS_KEY_FILE = 'secrets.key';
const KEY_BYTES = KEY_FILE_BYTES;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const PREFIX = 'sealed:v1:';

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretBoxError';
  }
}

export class SecretBox {
  readonly #key: Buffer;

  private constructor(key: Buffer) {
    this.#key = key;
  }

  /** A box over a key held in memory (tests, embedding); `key` must be 32 bytes. */
  static fromKey(key: Uint8Array): SecretBox {
    if (key.length !== KEY_BYTES) throw new SecretBoxError(`secret key must be ${KEY_BYTES} bytes; got ${key.length}`);
    return new SecretBox(Buffer.from(key));
  }

  /**
   * Reads the key file, creating it (32 random bytes, mode 0600) when it does not exist.
   * Errors name the file, never its contents.
   */
  static openKeyFile(path: string): SecretBox {
    try {
      return new SecretBox(openKeyFile(path, { purpose: 'secret' }));
    } catch (err) {
      if (err instanceof KeyFileError) throw new SecretBoxError(err.message);
      throw err;
    }
  }

  static isSealed(value: string): boolean {
    return value.startsWith(PREFIX);
  }

  seal(plaintext: string, aad: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ct]).toString('base64');
  }

  /** Throws SecretBoxError when the value was not sealed with this key and `aad`. */
  open(sealed: string, aad: string): string {
    if (!SecretBox.isSealed(sealed)) throw new SecretBoxError(`value for ${aad} is not sealed`);
    const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new SecretBoxError(`sealed value for ${aad} is truncated (${raw.length} bytes)`);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    try {
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretBoxError(`sealed value for ${aad} does not open with this key (wrong secrets.key, or the row was moved)`);
    }
  }
}
