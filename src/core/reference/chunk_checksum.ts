/**
 * Reference for assembly/chunk_checksum.ts: xxHash32 with seed 0, the integrity check in every
 * chunk's trailer (docs/format/chunk.md, "Chunk").
 *
 * Provenance: XXH32 by Yann Collet, https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md
 * (BSD-2-Clause); the kernel's 32-bit multiplies are Math.imul here.
 */

const PRIME32_1 = 2654435761;
const PRIME32_2 = 2246822519;
const PRIME32_3 = 3266489917;
const PRIME32_4 = 668265263;
const PRIME32_5 = 374761393;

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** The little-endian uint32 at byte p. */
export function readU32(b: Uint8Array, p: number): number {
  return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
}

function round32(acc: number, input: number): number {
  return Math.imul(rotl32((acc + Math.imul(input, PRIME32_2)) | 0, 13), PRIME32_1);
}

/** XXH32 with seed 0 of bytes[0, len). */
export function xxhash32Reference(bytes: Uint8Array, len: number): number {
  let p = 0;
  let h: number;
  if (len >= 16) {
    let v1 = (PRIME32_1 + PRIME32_2) | 0;
    let v2 = PRIME32_2 | 0;
    let v3 = 0;
    let v4 = -PRIME32_1 | 0;
    const limit = len - 16;
    do {
      v1 = round32(v1, readU32(bytes, p));
      v2 = round32(v2, readU32(bytes, p + 4));
      v3 = round32(v3, readU32(bytes, p + 8));
      v4 = round32(v4, readU32(bytes, p + 12));
      p += 16;
    } while (p <= limit);
    h = (rotl32(v1, 1) + rotl32(v2, 7) + rotl32(v3, 12) + rotl32(v4, 18)) | 0;
  } else {
    h = PRIME32_5 | 0;
  }
  h = (h + len) | 0;
  while (p + 4 <= len) {
    h = Math.imul(rotl32((h + Math.imul(readU32(bytes, p), PRIME32_3)) | 0, 17), PRIME32_4);
    p += 4;
  }
  while (p < len) {
    h = Math.imul(rotl32((h + Math.imul(bytes[p]!, PRIME32_5)) | 0, 11), PRIME32_1);
    p++;
  }
  h ^= h >>> 15;
  h = Math.imul(h, PRIME32_2);
  h ^= h >>> 13;
  h = Math.imul(h, PRIME32_3);
  h ^= h >>> 16;
  return h >>> 0;
}
