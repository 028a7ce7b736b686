/**
 * AES-256-GCM with a random 96-bit nonce per message, for the keyring's wrapped data keys and
 * the audit log's records (docs/format/encryption.md).
 *
 * Sealed layout: nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes). Random nonces, not a counter:
 * the writers (server, command line, several processes on one directory) share no counter
 * state, and at 2^-32 collision risk per key after 2^32 messages (NIST SP 800-38D §8.3) a data
 * key is rotated long before: the audit key sees a few records per request, never billions.
 * The additional authenticated data binds a ciphertext to its place (record number, key id), so
 * a sealed value moved elsewhere fails its tag as surely as an edited one.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const AEAD_KEY_BYTES = 32;
export const AEAD_NONCE_BYTES = 12;
export const AEAD_TAG_BYTES = 16;

/** The tag did not verify: the ciphertext, its nonce, its context or the key is not the one sealed. */
export class AeadAuthenticationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AeadAuthenticationError';
  }
}

function checkKey(key: Uint8Array): void {
  if (key.length !== AEAD_KEY_BYTES) throw new RangeError(`AES-256-GCM key must be ${AEAD_KEY_BYTES} bytes; got ${key.length}`);
}

export function sealAesGcm(key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  checkKey(key);
  const nonce = randomBytes(AEAD_NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(aad);
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

export function openAesGcm(key: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer {
  checkKey(key);
  if (sealed.length < AEAD_NONCE_BYTES + AEAD_TAG_BYTES) throw new AeadAuthenticationError(`sealed value of ${sealed.length} bytes is shorter than a nonce and a tag`);
  const nonce = sealed.subarray(0, AEAD_NONCE_BYTES);
  const tag = sealed.subarray(sealed.length - AEAD_TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(sealed.subarray(AEAD_NONCE_BYTES, sealed.length - AEAD_TAG_BYTES)), decipher.final()]);
  } catch {
    throw new AeadAuthenticationError('authentication tag mismatch');
  }
}
