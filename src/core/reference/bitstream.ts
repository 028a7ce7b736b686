/**
 * Reference for assembly/bitstream.ts: the MSB-first bit writer and reader of the chunk format
 * (docs/format/chunk.md, "Chunk" and "Common fields"), and the zigzag and bit-length helpers.
 *
 * Arithmetic is in float64 on purpose: the format keeps every integer in [-2^50, 2^50), every
 * difference below 2^52 and every zigzag residual below 2^53, so doubles are exact and no BigInt
 * is needed. Raw float64 bit patterns (XOR, constants) are handled as two uint32 words.
 */

export const TWO_POW_32 = 2 ** 32;

/** Bits needed to write u (an integer below 2^53); 0 for 0. */
export function bitLength(u: number): number {
  return u < TWO_POW_32 ? 32 - Math.clz32(u) : 64 - Math.clz32(Math.floor(u / TWO_POW_32));
}

export function zigzag(x: number): number {
  return x >= 0 ? 2 * x : -2 * x - 1;
}

export function unzigzag(u: number): number {
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
}

export class BitWriter {
  readonly buf: Uint8Array;
  bitPos: number;

  constructor(buf: Uint8Array, startByte: number) {
    this.buf = buf;
    this.bitPos = startByte * 8;
  }

  /** Appends the low n bits (n <= 32) of v, most significant first. */
  small(v: number, n: number): void {
    while (n > 0) {
      const byte = this.bitPos >>> 3;
      const free = 8 - (this.bitPos & 7);
      const take = Math.min(free, n);
      const chunk = (v >>> (n - take)) & ((1 << take) - 1);
      this.buf[byte]! |= chunk << (free - take);
      this.bitPos += take;
      n -= take;
    }
  }

  /** Appends v (an integer below 2^53) in n <= 53 bits. */
  num(v: number, n: number): void {
    if (n > 32) {
      this.small(Math.floor(v / TWO_POW_32), n - 32);
      this.small(v >>> 0, 32);
    } else {
      this.small(n === 32 ? v >>> 0 : v % 2 ** n, n);
    }
  }

  /** Appends the low n <= 64 bits of the 64-bit word (hi, lo). */
  word(hi: number, lo: number, n: number): void {
    if (n > 32) {
      this.small(hi, n - 32);
      this.small(lo, 32);
    } else {
      this.small(lo, n);
    }
  }

  ones(n: number): void {
    while (n > 0) {
      const take = Math.min(n, 32);
      this.small(0xffffffff, take);
      n -= take;
    }
  }

  varBits(u: number): void {
    const w = bitLength(u);
    this.small(w, 6);
    this.num(u, w);
  }
}

export class BitReader {
  constructor(
    readonly bytes: Uint8Array,
    readonly lenBytes: number,
    public pos: number,
  ) {}

  get overrun(): boolean {
    return this.pos > this.lenBytes * 8;
  }

  /** Reads n <= 32 bits; bits past the end read as zero. */
  small(n: number): number {
    let v = 0;
    while (n > 0) {
      const byteIndex = this.pos >>> 3;
      const byte = byteIndex < this.lenBytes ? this.bytes[byteIndex]! : 0;
      const avail = 8 - (this.pos & 7);
      const take = Math.min(avail, n);
      v = v * (1 << take) + ((byte >>> (avail - take)) & ((1 << take) - 1));
      this.pos += take;
      n -= take;
    }
    return v;
  }

  /** Reads n <= 53 bits as a number. */
  num(n: number): number {
    if (n > 32) {
      const hi = this.small(n - 32);
      return hi * TWO_POW_32 + this.small(32);
    }
    return this.small(n);
  }

  /** Reads n <= 64 bits into a (hi, lo) pair. */
  word(n: number): [number, number] {
    if (n > 32) {
      const hi = this.small(n - 32);
      return [hi, this.small(32)];
    }
    return [0, this.small(n)];
  }

  /** Counts leading ones up to `limit`, consuming the terminating zero when below it. */
  unary(limit: number): number {
    let count = 0;
    while (count < limit) {
      if (this.small(1) === 0) return count;
      count++;
    }
    return count;
  }

  /** A varbits field, or -1 if its width exceeds maxWidth. */
  varBits(maxWidth: number): number {
    const w = this.small(6);
    if (w > maxWidth) return -1;
    return this.num(w);
  }
}
