/**
 * A growable byte buffer for writing large JSON answers straight as UTF-8 (the EMMS query
 * answer and the PromQL range answer). Building them as JS strings (a string per sample, then
 * joins or JSON.stringify of a tree) cost more than the evaluation itself, and the server then
 * had to flatten and re-encode a multi-megabyte UTF-16 string; bytes written once go to the
 * socket as they are.
 */
export class JsonByteBuffer {
  protected buf: Buffer;
  protected at = 0;

  constructor(initialBytes = 4096) {
    this.buf = Buffer.allocUnsafe(Math.max(64, initialBytes));
  }

  get length(): number {
    return this.at;
  }

  /** After writing into reserve()'s buffer directly: the new end of the written bytes. */
  set length(end: number) {
    this.at = end;
  }

  /** Makes room for `extra` more bytes (growing by doubling); returns the buffer, valid until the next call. */
  reserve(extra: number): Buffer {
    const need = this.at + extra;
    if (need > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < need) size *= 2;
      const grown = Buffer.allocUnsafe(size);
      this.buf.copy(grown, 0, 0, this.at);
      this.buf = grown;
    }
    return this.buf;
  }

  byte(code: number): void {
    this.reserve(1)[this.at++] = code;
  }

  /**
   * Text known to be ASCII (numbers, punctuation, fixed keys). A byte loop: for the short
   * pieces a sample is made of, it beats a native call per piece.
   */
  ascii(s: string): void {
    const n = s.length;
    const buf = this.reserve(n);
    let o = this.at;
    for (let k = 0; k < n; k++) buf[o++] = s.charCodeAt(k);
    this.at = o;
  }

  /** Text of any characters, as UTF-8 (already JSON-escaped where it is a JSON string). */
  text(s: string): void {
    const buf = this.reserve(s.length * 3);
    this.at += buf.write(s, this.at, 'utf8');
  }

  /** The bytes written, sharing this buffer's memory. */
  bytes(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}
