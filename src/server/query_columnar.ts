/**
 * The binary answer of /api/v1/query, for clients that send `Accept: application/x-msgpack`
 * (the dashboard): the same series as the JSON answer, in a columnar MessagePack layout that
 * a browser turns into Float64Arrays without parsing a number.
 *
 *   { series: [{ metric_id, metric_type, tags, offset, count }],  ← point range of each series
 *     timestamps: bin(8 × N),   ← every series' timestamps, concatenated, float64 little-endian
 *     values:     bin(8 × N),   ← the values, same order
 *     stats: { series, points_scanned, elapsed_ms } }
 *
 * Float64 columns carry every value bit for bit (NaN payloads and ±Infinity included), which
 * JSON cannot: the JSON answer (query_json_writer.ts) writes non-finite values as null. Field
 * names come from src/ingest/wire.ts.
 */
import { Packr } from 'msgpackr';
import { endianness } from 'node:os';
import type { QueryStats, SeriesResult } from '../model/api.js';
import { QueryResponseField } from '../ingest/wire.js';

export const CONTENT_TYPE_COLUMNAR = 'application/x-msgpack';
/** Names of the columnar layout's own fields (the rest are QueryResponseField's). */
export const ColumnarField = { offset: 'offset', count: 'count', timestamps: 'timestamps', values: 'values' } as const;

// Columns are the engine's Float64Arrays' own bytes; a big-endian host would need a swap.
const LITTLE_ENDIAN_HOST = endianness() === 'LE';
const packr = new Packr({ useRecords: false, variableMapSize: true });

/** True when the Accept header asks for the columnar form (and not only as a fallback to JSON). */
export function acceptsColumnar(accept: string | undefined): boolean {
  if (accept === undefined) return false;
  for (const part of accept.split(',')) {
    const [type, ...params] = part.split(';');
    const media = type!.trim().toLowerCase();
    if (media !== CONTENT_TYPE_COLUMNAR && media !== 'application/msgpack') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

function columnBytes(column: Float64Array): Uint8Array {
  if (!LITTLE_ENDIAN_HOST) {
    const out = new Uint8Array(column.length * 8);
    const view = new DataView(out.buffer);
    for (let i = 0; i < column.length; i++) view.setFloat64(i * 8, column[i]!, true);
    return out;
  }
  return new Uint8Array(column.buffer, column.byteOffset, column.byteLength);
}

export function encodeColumnarQuery(series: readonly SeriesResult[], stats: QueryStats): Uint8Array {
  const F = QueryResponseField;
  let total = 0;
  for (const s of series) total += s.timestamps.length;
  const timestamps = new Float64Array(total);
  const values = new Float64Array(total);
  const meta: Array<Record<string, unknown>> = [];
  let offset = 0;
  for (const s of series) {
    timestamps.set(s.timestamps, offset);
    values.set(s.values, offset);
    meta.push({ [F.metricId]: s.metricId, [F.metricType]: s.metricType, [F.tags]: s.tags, [ColumnarField.offset]: offset, [ColumnarField.count]: s.timestamps.length });
    offset += s.timestamps.length;
  }
  return packr.pack({
    [F.series]: meta,
    [ColumnarField.timestamps]: columnBytes(timestamps),
    [ColumnarField.values]: columnBytes(values),
    [F.stats]: { series: stats.series, [F.pointsScanned]: stats.pointsScanned, [F.elapsedMs]: stats.elapsedMs },
  });
}
