// xxHash32 of a byte range: the integrity check in every chunk's trailer (docs/format/chunk.md).
//
// Provenance: XXH32 by Yann Collet, https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md
// (BSD-2-Clause). Chosen over CRC32 because it runs at several bytes per cycle without tables and a
// 32-bit multiply maps to Math.imul in the TypeScript reference (src/core/reference/chunk_checksum.ts).

const PRIME32_1: u32 = 2654435761;
const PRIME32_2: u32 = 2246822519;
const PRIME32_3: u32 = 3266489917;
const PRIME32_4: u32 = 668265263;
const PRIME32_5: u32 = 374761393;

// @ts-ignore: decorator
@inline function round32(acc: u32, input: u32): u32 {
  return rotl<u32>(acc + input * PRIME32_2, 13) * PRIME32_1;
}

/** XXH32 of the `len` bytes at `ptr` with seed 0. */
export function xxhash32(ptr: usize, len: usize): u32 {
  const end = ptr + len;
  let p = ptr;
  let h: u32;
  if (len >= 16) {
    let v1: u32 = PRIME32_1 + PRIME32_2;
    let v2: u32 = PRIME32_2;
    let v3: u32 = 0;
    let v4: u32 = 0 - PRIME32_1;
    const limit = end - 16;
    do {
      v1 = round32(v1, load<u32>(p));
      v2 = round32(v2, load<u32>(p, 4));
      v3 = round32(v3, load<u32>(p, 8));
      v4 = round32(v4, load<u32>(p, 12));
      p += 16;
    } while (p <= limit);
    h = rotl<u32>(v1, 1) + rotl<u32>(v2, 7) + rotl<u32>(v3, 12) + rotl<u32>(v4, 18);
  } else {
    h = PRIME32_5;
  }
  h += <u32>len;
  while (p + 4 <= end) {
    h = rotl<u32>(h + load<u32>(p) * PRIME32_3, 17) * PRIME32_4;
    p += 4;
  }
  while (p < end) {
    h = rotl<u32>(h + <u32>load<u8>(p) * PRIME32_5, 11) * PRIME32_1;
    p++;
  }
  h ^= h >>> 15;
  h *= PRIME32_2;
  h ^= h >>> 13;
  h *= PRIME32_3;
  h ^= h >>> 16;
  return h;
}
