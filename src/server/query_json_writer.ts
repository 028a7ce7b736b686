/**
 * The JSON answer of /api/v1/query written straight from the engine's Float64Arrays into one
 * growing byte buffer: no object or string per point, no JSON.stringify of a tree, no UTF-16
 * string to encode again on the way out.
 *
 * Numbers are written exactly as JSON.stringify writes them (the shortest decimal that reads
 * back as the same float64; non-finite values as `null`, -0 as `0`). Most of what a metrics
 * engine answers are integers (timestamps, counts) or values with a few decimals (2-decimal
 * gauges, their sums): for those the digits are written directly. Why that is exact: when
 * Math.round(v·10^k) = s with |s| < 10^15 and s / 10^k === v, the decimal D = s·10^-k
 * reads back as v (the division is correctly rounded, like parsing D), and D has at most 15
 * significant digits. Two different decimals of at most 15 digits never read back as the
 * same float64, so no shorter decimal reads back as v, and the shortest one, which
 * JSON.stringify writes, is D with trailing zeros dropped (in plain notation: 10^-3 ≤ |D| <
 * 10^15 lies inside the 10^-6 ≤ |x| < 10^21 that JavaScript writes without an exponent).
 * Every other value goes through String(v), or, for a series whose values are mostly long
 * (see shortDecimals below), through one JSON.stringify of its value column.
 */
import type { QueryStats, SeriesResult } from '../model/api.js';
import { QueryResponseField } from '../ingest/wire.js';
import { JsonByteBuffer } from '../text/json_byte_buffer.js';

/** Decimal places tried for the direct path; v·10^k is exact enough for k ≤ 3 (see above). */
const SCALES = [1, 10, 100, 1000] as const;
const DIRECT_LIMIT = 1e15;
const ZERO = 0x30;
const MINUS = 0x2d;
const POINT = 0x2e;
/** Longest number String(v) writes (e.g. -1.2345678901234567e-308), or 'null'. */
const MAX_NUMBER_BYTES = 25;

const COMMA = 0x2c;
const CLOSE_PAIR = 0x5d;

/**
 * The k ≤ 3 for which v is an exact k-decimal of at most 15 digits (see above), or -1 (also
 * for NaN and ±Infinity).
 */
function decimalPlaces(v: number): number {
  for (let k = 0; k < SCALES.length; k++) {
    const scale = SCALES[k]!;
    const s = Math.round(v * scale);
    if (s / scale === v && s < DIRECT_LIMIT && s > -DIRECT_LIMIT) return k;
  }
  return -1;
}

/** The byte buffer with the number writing of this answer. */
export class JsonByteSink extends JsonByteBuffer {
  /** `v` as JSON.stringify(v) writes it. */
  number(v: number): void {
    this.reserve(MAX_NUMBER_BYTES);
    if (v !== v || v === Infinity || v === -Infinity) {
      this.ascii('null');
      return;
    }
    const k = decimalPlaces(v);
    if (k >= 0) this.#scaled(Math.round(v * SCALES[k]!), k);
    else this.ascii(String(v));
  }

  /**
   * Copies the number that starts at `at` in `json` (text JSON.stringify wrote: a number or
   * null, ended by `,` or `]`); returns the index after its terminator.
   */
  copyNumber(json: string, at: number): number {
    this.reserve(MAX_NUMBER_BYTES);
    const buf = this.buf;
    let end = this.at;
    for (let c = json.charCodeAt(at); c !== COMMA && c !== CLOSE_PAIR; c = json.charCodeAt(++at)) buf[end++] = c;
    this.at = end;
    return at + 1;
  }

  /** s·10^-k with trailing fraction zeros dropped; s is an integer, |s| < 10^15 (−0 writes 0). */
  #scaled(s: number, k: number): void {
    let a = s;
    if (a < 0) {
      this.buf[this.at++] = MINUS;
      a = -a;
    }
    let frac = 0;
    if (k > 0) {
      const scale = SCALES[k]!;
      frac = a % scale;
      a = (a - frac) / scale;
      while (k > 0 && frac % 10 === 0) {
        frac /= 10;
        k--;
      }
    }
    this.#digits(a);
    if (k === 0) return;
    this.buf[this.at++] = POINT;
    // The fraction's k digits, leading zeros included (0.05 → "05").
    for (let i = k - 1; i >= 0; i--) {
      const d = frac % 10;
      this.buf[this.at + i] = ZERO + d;
      frac = (frac - d) / 10;
    }
    this.at += k;
  }

  /**
   * A non-negative integer below 10^15, written as two int32 halves: `%` on a double beyond
   * int32 is a floating-point remainder (a libm call per digit), on an int32 one instruction.
   */
  #digits(n: number): void {
    if (n < 1e8) {
      this.#int32(n | 0, 0);
      return;
    }
    const high = Math.floor(n / 1e8);
    this.#int32(high | 0, 0);
    this.#int32((n - high * 1e8) | 0, 8);
  }

  /** n ≥ 0 in decimal, left-padded with zeros to `width` digits. */
  #int32(n: number, width: number): void {
    let len = 1;
    for (let p = 10; p <= n; p *= 10) len++;
    if (len < width) len = width;
    const buf = this.buf;
    const at = this.at;
    for (let i = len - 1; i >= 0; i--) {
      const q = (n / 10) | 0;
      buf[at + i] = ZERO + (n - q * 10);
      n = q;
    }
    this.at = at + len;
  }

}

/** Bytes per point of a typical answer, to size the buffer once for most answers. */
const TYPICAL_POINT_BYTES = 24;
const OPEN_PAIR = 0x5b;
/** Values probed per series to choose how its values are written. */
const PROBE_VALUES = 8;

/**
 * True when a series' values look like short decimals (probed on the first few): written one
 * by one, digits directly. Otherwise (averages, rates: mostly 15–17 significant digits) one
 * JSON.stringify of the whole column and a copy of each number out of it: the engine formats
 * a double array natively, without a string per number, and measured 2.5× faster than
 * String(v) per value on hourly averages (and 3× slower on 2-decimal values, hence the probe).
 */
function shortDecimals(values: Float64Array): boolean {
  const n = Math.min(values.length, PROBE_VALUES);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v === v && v !== Infinity && v !== -Infinity && decimalPlaces(v) < 0) return false;
  }
  return true;
}

/**
 * The /api/v1/query JSON answer, `{"series":[{"metric_id","metric_type","tags","points":[[ts,v],…]}],"stats":{…}}`,
 * byte for byte what JSON.stringify writes for the same objects.
 */
export function writeQueryJson(series: readonly SeriesResult[], stats: QueryStats): Buffer {
  const F = QueryResponseField;
  let points = 0;
  for (const s of series) points += s.timestamps.length;
  const out = new JsonByteSink(256 + series.length * 256 + points * TYPICAL_POINT_BYTES);
  out.text(`{"${F.series}":[`);
  for (let k = 0; k < series.length; k++) {
    const s = series[k]!;
    out.text(`${k === 0 ? '' : ','}{"${F.metricId}":${JSON.stringify(s.metricId)},"${F.metricType}":${JSON.stringify(s.metricType)},"${F.tags}":${JSON.stringify(s.tags)},"${F.points}":[`);
    const ts = s.timestamps;
    const vs = s.values;
    const direct = shortDecimals(vs);
    const column = direct ? '' : JSON.stringify(Array.from(vs));
    let at = 1;
    for (let i = 0; i < ts.length; i++) {
      if (i > 0) out.byte(COMMA);
      out.byte(OPEN_PAIR);
      out.number(ts[i]!);
      out.byte(COMMA);
      if (direct) out.number(vs[i]!);
      else at = out.copyNumber(column, at);
      out.byte(CLOSE_PAIR);
    }
    out.text(']}');
  }
  out.text(`],"${F.stats}":{"series":`);
  out.number(stats.series);
  out.text(`,"${F.pointsScanned}":`);
  out.number(stats.pointsScanned);
  out.text(`,"${F.elapsedMs}":`);
  out.number(stats.elapsedMs);
  if (stats.percentile !== undefined) {
    out.text(`,"${F.percentile}":{"${F.percentileMethod}":${JSON.stringify(stats.percentile.method)},"${F.relativeError}":`);
    out.number(stats.percentile.relativeError);
    out.text('}');
  }
  out.text('}}');
  return out.bytes();
}
