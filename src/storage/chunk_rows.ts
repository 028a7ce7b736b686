/**
 * Chunk rows as queries read them, whatever the back-end: decoding with every check, and the
 * error that names a chunk that cannot be decoded (series, chunk id, what is wrong).
 */
import { chunkPointCount, decodeChunkRangeInto } from '../core/codec.js';
import { CODEC_EMMS_CHUNK, STORED_CHUNK_MAX_POINTS, decodeStored } from './chunk_encoding.js';
import { canonicalTags } from '../model/metric.js';
import type { SeriesInfo } from './series_index.js';
import type { ChunkRow } from './backend.js';

export { CODEC_EMMS_CHUNK, STORED_CHUNK_MAX_POINTS };
export type { ChunkRow };

/** A stored chunk that cannot be decoded; queries touching it fail with this. */
export class CorruptChunkError extends Error {
  constructor(
    readonly seriesId: number,
    readonly seriesName: string,
    readonly chunkId: number,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`chunk ${chunkId} of series ${seriesId} ${seriesName} cannot be decoded: ${detail}`, options);
    this.name = 'CorruptChunkError';
  }
}

/** `metric{k=v,…}`, the way errors name a series. */
export function describeSeries(info: (Pick<SeriesInfo, 'metricId' | 'tags'> & { canonicalTags?: string }) | undefined): string {
  if (info === undefined) return '(unknown series)';
  return `${info.metricId}{${info.canonicalTags ?? canonicalTags(info.tags)}}`;
}

/** Decodes a chunk row, turning any failure into a CorruptChunkError naming series and chunk. */
export function decodeChunkRow(row: ChunkRow, seriesName: string): { timestamps: Float64Array; values: Float64Array } {
  if (row.data === undefined || row.data === null) throw new Error(`BUG: chunk ${row.id} was read without its data`);
  const decoded = decodeStored({ id: row.id, codec: row.codec, count: row.count, data: row.data });
  if ('detail' in decoded) {
    throw new CorruptChunkError(row.series_id, seriesName, row.id, decoded.detail, decoded.cause === undefined ? undefined : { cause: decoded.cause });
  }
  return decoded;
}

/**
 * decodeChunkRow for readers that concatenate: copies the row's points in [startMs, endMs)
 * into `outTs`/`outVs` from `at` (room for row.count points) and returns how many, with the
 * same checks and the same CorruptChunkError.
 */
export function decodeChunkRowInto(
  row: ChunkRow, seriesName: string, startMs: number, endMs: number, outTs: Float64Array, outVs: Float64Array, at: number,
): number {
  if (row.data === undefined || row.data === null) throw new Error(`BUG: chunk ${row.id} was read without its data`);
  const corrupt = (detail: string, cause?: unknown): CorruptChunkError =>
    new CorruptChunkError(row.series_id, seriesName, row.id, detail, cause === undefined ? undefined : { cause });
  if (row.codec !== CODEC_EMMS_CHUNK) throw corrupt(`codec=${row.codec} is unknown (expected ${CODEC_EMMS_CHUNK})`);
  // The declared count bounds the copy: a chunk holding more points must not write past the room made for it.
  let header: number;
  try {
    header = chunkPointCount(row.data);
  } catch (error) {
    throw corrupt((error as Error).message, error);
  }
  if (header !== row.count) throw corrupt(`it holds ${header} points, its row says count=${row.count}`);
  try {
    return decodeChunkRangeInto(row.data, startMs, endMs, outTs, outVs, at).copied;
  } catch (error) {
    throw corrupt((error as Error).message, error);
  }
}
