/**
 * A growable byte buffer for writing large JSON answers straight as UTF-8. Building a range
 * query's matrix as JS strings (a template string per sample, then joins) cost more than the
 * evaluation itself, and the server then had to flatten and re-encode the multi-megabyte
 * string; bytes written once go to the socket as they are.
 */

const MIN_CAPACITY = 4096;

export class JsonBytes {
  #buf: Buffer;
  #len = 0;

  constructor(expectedBytes = MIN_CAPACITY) {
    this.#buf = Buffer.allocUnsafe(Math.max(MIN_CAPACITY, expectedBytes));
  }

  get length(): number {
    return this.#len;
  }

  /** After writing into reserve()'s buffer directly: the new end of the written bytes. */
  set length(end: number) {
    this.#len = end;
  }

  /** Makes room for `extra` more bytes; returns the buffer (valid until the next call). */
  reserve(extra: number): Buffer {
    const need = this.#len + extra;
    if (need > this.#buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.#buf.length * 2));
      this.#buf.copy(grown, 0, 0, this.#len);
      this.#buf = grown;
    }
    return this.#buf;
  }

  /**
   * Text known to be ASCII (numbers, punctuation, fixed keys). A byte loop: for the short
   * pieces a sample is made of, it beats a native call per piece.
   */
  ascii(s: string): void {
    const n = s.length;
    const buf = this.reserve(n);
    let o = this.#len;
    for (let k = 0; k < n; k++) buf[o++] = s.charCodeAt(k);
    this.#len = o;
  }

  /** Any text, as UTF-8 (label names and values). */
  text(s: string): void {
    const buf = this.reserve(Buffer.byteLength(s, 'utf8'));
    this.#len += buf.write(s, this.#len, 'utf8');
  }

  byte(c: number): void {
    const buf = this.reserve(1);
    buf[this.#len++] = c;
  }

  /** The bytes written, sharing this writer's memory. */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }
}
