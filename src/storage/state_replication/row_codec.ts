/**
 * How one SQLite value travels through the shared state log as JSON, exactly: SQLite has five
 * storage classes and JSON has one kind of number, so the two that JSON would blur are tagged.
 *
 *   NULL            null
 *   TEXT            "…"                       (a JSON string is never a tag: tags are objects)
 *   INTEGER         123                       a JSON number without fraction, within ±2^53
 *                   {"i":"9007199254740993"}  beyond ±2^53 (read with safeIntegers, so exact)
 *   REAL            1.5                       a JSON number with a fraction
 *                   {"r":"2"} {"r":"Infinity"} an integral or infinite REAL, which a bare number
 *                                             would turn into an INTEGER on the other node
 *   BLOB            {"b":"00ff…"}             hex
 *
 * Decoding gives what better-sqlite3 binds back to the same storage class: INTEGER as bigint
 * (a JS number always binds as REAL), REAL as number, BLOB as Buffer.
 */

export type SqliteValue = null | string | number | bigint | Buffer;
export type EncodedValue = null | string | number | { i: string } | { r: string } | { b: string };

const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

export class RowCodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RowCodecError';
  }
}

/** Encodes a value read with `safeIntegers(true)` (integers as bigint, reals as number). */
export function encodeValue(value: unknown): EncodedValue {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'bigint') return value <= SAFE_MAX && value >= -SAFE_MAX ? Number(value) : { i: value.toString() };
  if (typeof value === 'number') return Number.isInteger(value) || !Number.isFinite(value) ? { r: String(value) } : value;
  if (Buffer.isBuffer(value)) return { b: value.toString('hex') };
  throw new RowCodecError(`a SQLite value of JavaScript type ${typeof value} cannot be replicated`);
}

/** The inverse of encodeValue; throws RowCodecError naming the malformed value's shape. */
export function decodeValue(value: unknown): SqliteValue {
  if (value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value;
  if (typeof value === 'object' && !Array.isArray(value)) {
    const tag = value as Record<string, unknown>;
    const keys = Object.keys(tag);
    if (keys.length === 1 && typeof tag[keys[0]!] === 'string') {
      const text = tag[keys[0]!] as string;
      if (keys[0] === 'i' && /^-?\d{1,20}$/.test(text)) return BigInt(text);
      if (keys[0] === 'r' && (/^-?\d+(\.\d+)?(e[+-]?\d+)?$/i.test(text) || /^-?Infinity$/.test(text))) return Number(text);
      if (keys[0] === 'b' && /^([0-9a-f]{2})*$/.test(text)) return Buffer.from(text, 'hex');
    }
  }
  throw new RowCodecError(`malformed replicated value ${JSON.stringify(value)?.slice(0, 80)}`);
}
