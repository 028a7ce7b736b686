/**
 * The CPU side of writing chunks, kept free of SQLite so that it runs in the chunk encoder
 * thread (src/storage/chunk_encode_task.ts) as well as on the writer thread: turning a cut
 * head into encoded chunks with their stats, and merging a cluster of stored chunks during
 * compaction. The writer thread only inserts and deletes the rows (cut_pipeline.ts and
 * background_compaction.ts, through the back-end's write transaction).
 */
import { encodeChunk, decodeChunk, CODEC_CHUNK_MAX_POINTS } from '../core/codec.js';
import { summarizeChunk, type ChunkSummary } from '../core/chunk_summary.js';
import { sortDedupLastWins } from './last_write_wins_sort.js';

/**
 * Most points per chunk this store writes. Big chunks are what makes ≤ 1.2 bytes/point
 * possible: each chunk costs a row (~100 bytes of stats and keys), an index entry and on
 * average part of a page; at 8,640 points per chunk (a day of 10 s data) that is ~0.03 B/pt,
 * at 360 points it would be ~0.5 B/pt. Decoding a 16k-point chunk for a one-hour read costs
 * ~0.3 ms, which is the price paid for it.
 */
export const STORED_CHUNK_MAX_POINTS = Math.min(16_384, CODEC_CHUNK_MAX_POINTS);

/** Codec family stored in `chunks.codec`: the WASM chunk codec of src/core/codec.ts. */
export const CODEC_EMMS_CHUNK = 1;

/** One chunk ready to insert: its bytes and the stats its row carries. */
export interface EncodedChunk extends ChunkSummary {
  bytes: Uint8Array;
  /**
   * Its rollup records, one array per ROLLUP_RESOLUTIONS_MS, when the encoder thread built
   * them from the points it encoded (src/storage/rollup/encoded_rollups.ts). Not stored.
   */
  rollupRecords?: Float64Array[];
}

/**
 * Encodes sorted, duplicate-free points of one series into chunks of at most
 * STORED_CHUNK_MAX_POINTS, split evenly rather than leaving a small remainder chunk.
 */
export function encodeChunks(timestamps: Float64Array, values: Float64Array): EncodedChunk[] {
  const n = timestamps.length;
  const out: EncodedChunk[] = [];
  if (n === 0) return out;
  const pieces = Math.ceil(n / STORED_CHUNK_MAX_POINTS);
  const per = Math.ceil(n / pieces);
  for (let start = 0; start < n; start += per) {
    const end = Math.min(n, start + per);
    const ts = timestamps.subarray(start, end);
    const vs = values.subarray(start, end);
    out.push({ ...summarizeChunk(ts, vs), bytes: encodeChunk(ts, vs) });
  }
  return out;
}

/** Points of a cut head in arrival order; `inOrder` when their timestamps strictly increase. */
export interface CutPoints {
  timestamps: Float64Array;
  values: Float64Array;
  inOrder: boolean;
}

/** Encodes a cut head: sorted (the last arrival of a timestamp wins) when it is not in order. */
export function encodeCut(points: CutPoints): EncodedChunk[] {
  const sorted = points.inOrder ? points : sortDedupLastWins(points.timestamps, points.values);
  return encodeChunks(sorted.timestamps, sorted.values);
}

/** A stored chunk handed to compaction: its row id, declared point count and bytes. */
export interface StoredChunk {
  id: number;
  codec: number;
  count: number;
  data: Uint8Array;
}

/** A chunk that does not decode, named for the CorruptChunkError the writer thread raises. */
export interface ChunkDefect {
  chunkId: number;
  detail: string;
  /** The decoder's error, when it threw one. */
  cause?: unknown;
}

/**
 * Merges one compaction cluster. `members` in (minTs, id) order; when they overlap in time the
 * points are merged by age (higher id = newer write wins on equal timestamps), otherwise they
 * concatenate. Returns the replacement chunks, or the first member that does not decode.
 */
export function mergeCluster(members: readonly StoredChunk[], overlapping: boolean): EncodedChunk[] | ChunkDefect {
  const merged = mergeClusterPoints(members, overlapping);
  return 'detail' in merged ? merged : encodeChunks(merged.timestamps, merged.values);
}

/** The points mergeCluster encodes (sorted, duplicate-free), or the first member that does not decode. */
export function mergeClusterPoints(members: readonly StoredChunk[], overlapping: boolean): { timestamps: Float64Array; values: Float64Array } | ChunkDefect {
  let total = 0;
  for (const c of members) total += c.count;
  const ts = new Float64Array(total);
  const vs = new Float64Array(total);
  let o = 0;
  const order = overlapping ? [...members].sort((a, b) => a.id - b.id) : members;
  for (const c of order) {
    const decoded = decodeStored(c);
    if ('detail' in decoded) return decoded;
    ts.set(decoded.timestamps, o);
    vs.set(decoded.values, o);
    o += decoded.timestamps.length;
  }
  return overlapping ? sortDedupLastWins(ts, vs) : { timestamps: ts, values: vs };
}

/** Decodes a stored chunk, checking its codec and point count: the checks every reader makes. */
export function decodeStored(c: StoredChunk): { timestamps: Float64Array; values: Float64Array } | ChunkDefect {
  if (c.codec !== CODEC_EMMS_CHUNK) return { chunkId: c.id, detail: `codec=${c.codec} is unknown (expected ${CODEC_EMMS_CHUNK})` };
  let decoded: { timestamps: Float64Array; values: Float64Array };
  try {
    decoded = decodeChunk(c.data);
  } catch (error) {
    return { chunkId: c.id, detail: (error as Error).message, cause: error };
  }
  if (decoded.timestamps.length !== c.count) {
    return { chunkId: c.id, detail: `it holds ${decoded.timestamps.length} points, its row says count=${c.count}` };
  }
  return decoded;
}
