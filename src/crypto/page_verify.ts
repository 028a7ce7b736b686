/**
 * Checks the Poly1305 tag of every page of an encrypted database file, outside SQLite, and
 * names the pages that fail. SQLite itself reports a failed tag only as "database disk image
 * is malformed" (SQLITE_CORRUPT) without the page; `emms encryption verify` and start-up use
 * this to say which file and which page were altered.
 *
 * Page layout of SQLite3 Multiple Ciphers' ChaCha20-Poly1305 cipher (sqlite3mc
 * cipher_chacha20.c, docs/format/encryption.md): a page of P bytes holds P − 32 bytes of
 * ciphertext, a 16-byte random nonce and a 16-byte tag. The one-time key is the first 32 bytes
 * of the ChaCha20 keystream under the database key, with the nonce's first 12 bytes as nonce and
 * (the nonce's last 4 bytes, little-endian) XOR (page number) as block counter; the tag is
 * Poly1305 over ciphertext ‖ nonce. On page 1 the first 16 bytes are the file's salt and bytes
 * 16–23 stay in the clear (page size, reserved bytes), so the page size is readable without
 * the key. Written against SQLite3MC 2.x (better-sqlite3-multiple-ciphers 12.11).
 */
import { createCipheriv } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const NONCE_BYTES = 16;
const TAG_BYTES = 16;
const RESERVED_BYTES = NONCE_BYTES + TAG_BYTES;
const P1305 = (1n << 130n) - 5n;
const R_CLAMP = 0x0ffffffc0ffffffc0ffffffc0fffffffn;
const MASK_128 = (1n << 128n) - 1n;

function littleEndian(bytes: Uint8Array): bigint {
  if (bytes.length === 0) return 0n;
  return BigInt(`0x${Buffer.from(bytes).reverse().toString('hex')}`);
}

/** Poly1305 (RFC 8439 §2.5) in BigInt: slow (~µs per block), only for verification. */
export function poly1305(message: Uint8Array, key: Uint8Array): Buffer {
  const r = littleEndian(key.subarray(0, 16)) & R_CLAMP;
  const s = littleEndian(key.subarray(16, 32));
  let acc = 0n;
  for (let i = 0; i < message.length; i += 16) {
    const block = message.subarray(i, Math.min(i + 16, message.length));
    acc = ((acc + littleEndian(block) + (1n << BigInt(8 * block.length))) * r) % P1305;
  }
  const tag = (acc + s) & MASK_128;
  const hex = tag.toString(16).padStart(32, '0');
  return Buffer.from(hex, 'hex').reverse();
}

function oneTimeKey(key: Uint8Array, nonce: Uint8Array, counter: number): Buffer {
  // OpenSSL's chacha20 takes a 16-byte IV: the 32-bit block counter (little-endian), then the 96-bit nonce.
  const iv = Buffer.alloc(16);
  iv.writeUInt32LE(counter >>> 0, 0);
  Buffer.from(nonce.subarray(0, 12)).copy(iv, 4);
  const cipher = createCipheriv('chacha20', key, iv);
  return Buffer.concat([cipher.update(Buffer.alloc(64)), cipher.final()]).subarray(0, 32);
}

/** Whether page `pageNumber` (1-based) of `page` bytes authenticates under `key`. */
export function pageAuthenticates(page: Uint8Array, pageNumber: number, key: Uint8Array): boolean {
  const n = page.length - RESERVED_BYTES;
  const nonce = page.subarray(n, n + NONCE_BYTES);
  const counter = (Buffer.from(nonce).readUInt32LE(NONCE_BYTES - 4) ^ pageNumber) >>> 0;
  const tag = poly1305(page.subarray(0, n + NONCE_BYTES), oneTimeKey(key, nonce, counter));
  return tag.equals(page.subarray(n + NONCE_BYTES, n + RESERVED_BYTES));
}

export interface PageVerification {
  pageSize: number;
  pages: number;
  /** 1-based numbers of the pages whose tag fails (at most `maxReported`). */
  badPages: number[];
}

/** Reads `path` page by page and returns the pages that do not authenticate under `key`. */
export function verifyDatabasePages(path: string, key: Uint8Array, maxReported = 100): PageVerification {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const header = Buffer.alloc(24);
    readSync(fd, header, 0, 24, 0);
    const raw = header.readUInt16BE(16);
    const pageSize = raw === 1 ? 65_536 : raw;
    if (pageSize < 512 || (pageSize & (pageSize - 1)) !== 0 || header[20] !== RESERVED_BYTES) {
      throw new Error(`${path} is not a ChaCha20-Poly1305 encrypted SQLite database (page size ${raw}, ${header[20]} reserved bytes per page)`);
    }
    const pages = Math.floor(size / pageSize);
    const badPages: number[] = [];
    const page = Buffer.alloc(pageSize);
    for (let p = 1; p <= pages && badPages.length < maxReported; p++) {
      readSync(fd, page, 0, pageSize, (p - 1) * pageSize);
      if (!pageAuthenticates(page, p, key)) badPages.push(p);
    }
    return { pageSize, pages, badPages };
  } finally {
    closeSync(fd);
  }
}
