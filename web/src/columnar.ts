/**
 * Decodes the columnar binary answer of /api/v1/query (src/server/query_columnar.ts):
 * MessagePack with the float64 columns as raw little-endian bytes. The columns are copied once
 * into aligned Float64Arrays (a bin field may start at any byte offset) and each series gets
 * subarray views of them: no per-point object, no number parsing.
 */
import { unpack } from 'msgpackr/unpack';

export interface DecodedSeries {
  metricId: string;
  metricType: string;
  tags: Record<string, string>;
  timestamps: Float64Array;
  values: Float64Array;
}

interface Wire {
  series: Array<{ metric_id: string; metric_type: string; tags: Record<string, string>; offset: number; count: number }>;
  timestamps: Uint8Array;
  values: Uint8Array;
}

function column(bytes: Uint8Array): Float64Array {
  if (bytes.byteLength % 8 !== 0) throw new Error(`columnar answer: a column of ${bytes.byteLength} bytes is not whole float64s`);
  const out = new Float64Array(bytes.byteLength / 8);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export function decodeColumnar(bytes: Uint8Array): DecodedSeries[] {
  const wire = unpack(bytes) as Wire;
  const ts = column(wire.timestamps);
  const vs = column(wire.values);
  return wire.series.map((s) => ({
    metricId: s.metric_id,
    metricType: s.metric_type,
    tags: s.tags,
    timestamps: ts.subarray(s.offset, s.offset + s.count),
    values: vs.subarray(s.offset, s.offset + s.count),
  }));
}

/** The JSON answer in the same shape (for the JSON-vs-binary check and as a fallback). */
export function fromJson(body: { series: Array<{ metric_id: string; metric_type: string; tags: Record<string, string>; points: Array<[number, number | string | null]> }> }): DecodedSeries[] {
  return body.series.map((s) => ({
    metricId: s.metric_id,
    metricType: s.metric_type,
    tags: s.tags,
    timestamps: Float64Array.from(s.points, (p) => p[0]),
    // JSON writes non-finite values as null; the binary form keeps them (NaN, ±Infinity).
    values: Float64Array.from(s.points, (p) => (p[1] === null ? Number.NaN : Number(p[1]))),
  }));
}
