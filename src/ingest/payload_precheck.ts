/**
 * How many points a MessagePack payload says it carries, read from its headers before the slow
 * path unpacks it. Unpacking builds one JS object per point and one array slot per column
 * entry, so a 16 MiB frame of one-byte elements (`{metrics: [{}, {}, …]}`, or a `values`
 * column of 16 M fixints) would allocate hundreds of MB before `collector.batch_size` was
 * checked; reading the array headers first refuses it at the cost of a walk over the bytes.
 *
 * Walks without recursion and gives up (undefined) on anything it does not expect: the full
 * unpack then produces the precise error. JSON bodies have no such headers; their size is
 * bounded by `collector.max_body_bytes` and their count is checked right after the parse.
 *
 * MessagePack spec: https://github.com/msgpack/msgpack/blob/master/spec.md
 */
import { WireField, type Seq } from './wire.js';

const enc = new TextEncoder();
const K_SEQ = enc.encode(WireField.seq);
const K_METRICS = enc.encode(WireField.metrics);
const K_SERIES = enc.encode(WireField.series);
const K_TIMESTAMPS = enc.encode(WireField.timestamps);
const K_VALUES = enc.encode(WireField.values);

class Reader {
  pos = 0;
  readonly #view: DataView;
  constructor(readonly b: Uint8Array) {
    this.#view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  /** A fixed-width big-endian length of `bytes` bytes, or -1 past the end. */
  #len(bytes: 1 | 2 | 4): number {
    if (this.pos + bytes > this.b.length) return -1;
    const v = bytes === 1 ? this.b[this.pos]! : bytes === 2 ? this.#view.getUint16(this.pos) : this.#view.getUint32(this.pos);
    this.pos += bytes;
    return v;
  }

  /** Entry count of a map header at `pos`, or -1. */
  mapLen(): number {
    const t = this.b[this.pos++];
    if (t === undefined) return -1;
    if (t >= 0x80 && t <= 0x8f) return t & 0x0f;
    if (t === 0xde) return this.#len(2);
    if (t === 0xdf) return this.#len(4);
    return -1;
  }

  /** Element count of an array header at `pos`, or -1. */
  arrayLen(): number {
    const t = this.b[this.pos++];
    if (t === undefined) return -1;
    if (t >= 0x90 && t <= 0x9f) return t & 0x0f;
    if (t === 0xdc) return this.#len(2);
    if (t === 0xdd) return this.#len(4);
    return -1;
  }

  /** Element count of an array at `pos`, or of a bin as float64s (a column); -1 otherwise. */
  columnLen(): number {
    const t = this.b[this.pos];
    if (t !== undefined && ((t >= 0x90 && t <= 0x9f) || t === 0xdc || t === 0xdd)) return this.arrayLen();
    this.pos++;
    let bytes = -1;
    if (t === 0xc4) bytes = this.#len(1);
    else if (t === 0xc5) bytes = this.#len(2);
    else if (t === 0xc6) bytes = this.#len(4);
    if (bytes < 0) return -1;
    this.pos += bytes;
    return Math.floor(bytes / 8);
  }

  /** An unsigned integer at `pos` (a bigint beyond 2^53), or undefined. */
  unsigned(): Seq | undefined {
    const t = this.b[this.pos++];
    if (t === undefined) return undefined;
    if (t <= 0x7f) return t;
    const width = t === 0xcc ? 1 : t === 0xcd ? 2 : t === 0xce ? 4 : t === 0xcf ? 8 : 0;
    if (width === 0 || this.pos + width > this.b.length) return undefined;
    if (width < 8) return this.#len(width as 1 | 2 | 4);
    const big = this.#view.getBigUint64(this.pos);
    this.pos += 8;
    return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
  }

  /** True when the str at `pos` equals `key`; moves past it either way (false on a non-str). */
  keyIs(key: Uint8Array): boolean {
    const t = this.b[this.pos++];
    let n: number;
    if (t === undefined) return false;
    if (t >= 0xa0 && t <= 0xbf) n = t & 0x1f;
    else if (t === 0xd9) n = this.#len(1);
    else if (t === 0xda) n = this.#len(2);
    else if (t === 0xdb) n = this.#len(4);
    else return false;
    const at = this.pos;
    this.pos += n;
    if (n !== key.length || this.pos > this.b.length) return false;
    for (let i = 0; i < n; i++) if (this.b[at + i] !== key[i]) return false;
    return true;
  }

  /** Skips one value (of any depth, iteratively); false when the bytes end first or are invalid. */
  skip(): boolean {
    let pending = 1;
    const b = this.b;
    while (pending > 0) {
      pending--;
      if (this.pos >= b.length) return false;
      const t = b[this.pos++]!;
      if (t <= 0x7f || t >= 0xe0 || t === 0xc0 || t === 0xc2 || t === 0xc3) continue;
      if (t <= 0x8f) { pending += 2 * (t & 0x0f); continue; }
      if (t <= 0x9f) { pending += t & 0x0f; continue; }
      if (t <= 0xbf) { this.pos += t & 0x1f; continue; }
      let n: number;
      switch (t) {
        case 0xcc: case 0xd0: this.pos += 1; continue;
        case 0xcd: case 0xd1: this.pos += 2; continue;
        case 0xca: case 0xce: case 0xd2: this.pos += 4; continue;
        case 0xcb: case 0xcf: case 0xd3: this.pos += 8; continue;
        case 0xd4: this.pos += 2; continue;
        case 0xd5: this.pos += 3; continue;
        case 0xd6: this.pos += 5; continue;
        case 0xd7: this.pos += 9; continue;
        case 0xd8: this.pos += 17; continue;
        case 0xc4: case 0xd9: n = this.#len(1); break;
        case 0xc5: case 0xda: n = this.#len(2); break;
        case 0xc6: case 0xdb: n = this.#len(4); break;
        case 0xc7: n = this.#len(1); this.pos += 1; break;
        case 0xc8: n = this.#len(2); this.pos += 1; break;
        case 0xc9: n = this.#len(4); this.pos += 1; break;
        case 0xdc: n = this.#len(2); if (n < 0) return false; pending += n; continue;
        case 0xdd: n = this.#len(4); if (n < 0) return false; pending += n; continue;
        case 0xde: n = this.#len(2); if (n < 0) return false; pending += 2 * n; continue;
        case 0xdf: n = this.#len(4); if (n < 0) return false; pending += 2 * n; continue;
        default: return false;
      }
      if (n < 0) return false;
      this.pos += n;
    }
    return this.pos <= b.length;
  }
}

/**
 * Points declared by a row (`metrics` array length) or columnar payload (the sum over series of
 * the longer of each series' `timestamps` and `values` columns). Stops counting once past
 * `limit` (the returned count is then some number above it). Undefined when the payload is not
 * a map whose layout can be read this way.
 */
export function declaredPointCount(bytes: Uint8Array, limit: number): number | undefined {
  const r = new Reader(bytes);
  const entries = r.mapLen();
  if (entries < 0) return undefined;
  for (let e = 0; e < entries; e++) {
    const keyAt = r.pos;
    if (r.keyIs(K_METRICS)) {
      const n = r.arrayLen();
      return n < 0 ? undefined : n;
    }
    r.pos = keyAt;
    if (r.keyIs(K_SERIES)) return seriesPoints(r, limit);
    r.pos = keyAt;
    if (!r.skip() || !r.skip()) return undefined;
  }
  return undefined;
}

/**
 * The top-level `seq` of a payload when it is an unsigned integer, for the nack of a payload
 * refused on its headers; undefined otherwise (the slow path is not run for it).
 */
export function declaredSeq(bytes: Uint8Array): Seq | undefined {
  const r = new Reader(bytes);
  const entries = r.mapLen();
  for (let e = 0; e < entries; e++) {
    const keyAt = r.pos;
    if (r.keyIs(K_SEQ)) return r.unsigned();
    r.pos = keyAt;
    if (!r.skip() || !r.skip()) return undefined;
  }
  return undefined;
}

function seriesPoints(r: Reader, limit: number): number | undefined {
  const count = r.arrayLen();
  if (count < 0) return undefined;
  let total = 0;
  for (let s = 0; s < count; s++) {
    const fields = r.mapLen();
    if (fields < 0) return undefined;
    let longest = 0;
    for (let f = 0; f < fields; f++) {
      const keyAt = r.pos;
      let column = r.keyIs(K_TIMESTAMPS);
      if (!column) {
        r.pos = keyAt;
        column = r.keyIs(K_VALUES);
      }
      if (column) {
        const n = columnEntries(r, limit - total);
        if (n === undefined) return undefined;
        longest = Math.max(longest, n);
        if (total + longest > limit) return total + longest;
      } else {
        r.pos = keyAt;
        if (!r.skip() || !r.skip()) return undefined;
      }
    }
    total += longest;
  }
  return total;
}

/**
 * Entries of a column: float64s in a bin, or array elements (skipped over, unless there are
 * more than `room`: then the count alone answers).
 */
function columnEntries(r: Reader, room: number): number | undefined {
  const t = r.b[r.pos];
  const n = r.columnLen();
  if (n < 0) return undefined;
  if ((t !== undefined && t >= 0xc4 && t <= 0xc6) || n > room) return n;
  for (let i = 0; i < n; i++) if (!r.skip()) return undefined;
  return n;
}
