/**
 * Chunk encoder thread (piscina, one thread): the CPU side of head cuts and compaction
 * (src/storage/chunk_encoding.ts), so that the SQLite writer thread, which also acknowledges
 * every batch, only inserts and deletes rows. A cut's points arrive in shared memory (see
 * HeadTable.take in src/storage/head.ts) that the writer keeps reading until the chunk row
 * lands, so this thread only reads them (encodeCut sorts a copy); compaction inputs arrive as
 * structured-clone copies.
 */
import { isMainThread } from 'node:worker_threads';
import { encodeCut, mergeCluster, mergeClusterPoints, type ChunkDefect, type CutPoints, type EncodedChunk, type StoredChunk } from './chunk_encoding.js';
import { sortDedupLastWins } from './last_write_wins_sort.js';
import { encodeWithRollups } from './rollup/encoded_rollups.js';
import { lowerThisThreadPriority } from '../workers/background_priority.js';

// Only in the encoder thread: the inline encoder imports this module on the writer thread.
if (!isMainThread) lowerThisThreadPriority();

export interface CutTask {
  kind: 'cut';
  cuts: CutPoints[];
  /** Build each chunk's rollup records too (encoded_rollups.ts): the store keeps rollups. */
  rollups?: boolean;
}

export interface MergeTask {
  kind: 'merge';
  /** As CutTask's. */
  rollups?: boolean;
  /** Per series, its clusters; each cluster's members in (minTs, id) order. */
  series: Array<{ clusters: Array<{ members: StoredChunk[]; overlapping: boolean }> }>;
}

export type EncodeTask = CutTask | MergeTask;

/** For a cut task, the chunks of each cut; for a merge task, per series the chunks of each cluster or a defect. */
export type EncodeResult =
  | { kind: 'cut'; chunks: EncodedChunk[][] }
  | { kind: 'merge'; series: Array<EncodedChunk[][] | ChunkDefect> };

export function runEncodeTask(task: EncodeTask): EncodeResult {
  const rollups = task.rollups === true;
  if (task.kind === 'cut') return { kind: 'cut', chunks: task.cuts.map(rollups ? encodeCutWithRollups : encodeCut) };
  return {
    kind: 'merge',
    series: task.series.map((s) => {
      const clusters: EncodedChunk[][] = [];
      for (const cluster of s.clusters) {
        const merged = rollups ? mergeClusterWithRollups(cluster.members, cluster.overlapping) : mergeCluster(cluster.members, cluster.overlapping);
        if (!Array.isArray(merged)) return merged;
        clusters.push(merged);
      }
      return clusters;
    }),
  };
}

/** encodeCut, with each chunk's rollup records. */
function encodeCutWithRollups(points: CutPoints): EncodedChunk[] {
  const sorted = points.inOrder ? points : sortDedupLastWins(points.timestamps, points.values);
  return encodeWithRollups(sorted.timestamps, sorted.values);
}

/** mergeCluster, with each chunk's rollup records. */
function mergeClusterWithRollups(members: readonly StoredChunk[], overlapping: boolean): EncodedChunk[] | ChunkDefect {
  const merged = mergeClusterPoints(members, overlapping);
  return 'detail' in merged ? merged : encodeWithRollups(merged.timestamps, merged.values);
}

export default runEncodeTask;
