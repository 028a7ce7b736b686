/**
 * `emms/core`: the engine's WebAssembly kernels as a standalone library — the chunk codec and
 * bucketed aggregation — for Node with no SQLite and no server.
 *
 * @module
 * @example
 * ```ts
 * import { encodeChunk, decodeChunk, aggregate, BucketAccumulator, parseInterval } from 'emms/core';
 *
 * const timestamps = Float64Array.from({ length: 8640 }, (_, i) => Date.UTC(2026, 0, 1) + i * 10_000);
 * const values = timestamps.map((_, i) => 50 + Math.sin(i / 100));
 *
 * const bytes = encodeChunk(timestamps, values);          // a few bytes per point, lossless
 * const back = decodeChunk(bytes);                        // bit-identical columns
 *
 * // Hourly averages of one series (buckets aligned to the Unix epoch, empty ones left out).
 * const hourly = aggregate(timestamps, values, { aggregation: 'avg', intervalMs: parseInterval('1h') });
 *
 * // p99 per 5 minutes over several series, fed as encoded chunks (decoded and aggregated in WASM).
 * const acc = new BucketAccumulator({ aggregation: 'p99', intervalMs: 300_000, startMs: Date.UTC(2026, 0, 1), endMs: Date.UTC(2026, 0, 2) });
 * for (const chunk of [bytes]) { acc.beginSeries(); acc.addChunk(chunk); }
 * const { timestamps: bucketStarts, values: p99 } = acc.finish();
 * ```
 *
 * Semantics of every aggregation: docs/format/aggregation.md. Chunk byte layout:
 * docs/format/chunk.md. Each thread (main or worker) gets its own WASM instance on first use.
 */
export { encodeChunk, decodeChunk, ChunkDecodeError, CHUNK_FORMAT_VERSION } from './codec.js';
export { aggregate, BucketAccumulator, AggregationInputError } from './bucket_accumulator.js';
export { MAX_BUCKETS } from './aggregate_options.js';
export type { AggregateOptions, AggregateResult } from './aggregate_options.js';
export { partialTransferList } from './aggregate_partial.js';
export type { AggregatePartial } from './aggregate_partial.js';
export { summaryUsable, summarizeChunk } from './chunk_summary.js';
export type { ChunkSummary } from './chunk_summary.js';
export { parseInterval } from '../model/interval.js';
export { AGGREGATIONS } from '../model/api.js';
export type { Aggregation } from '../model/api.js';
