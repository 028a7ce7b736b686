/**
 * Chunk encoder thread (piscina, one thread): the CPU side of head cuts and compaction
 * (src/storage/chunk_encoding.ts), so that the SQLite writer thread, which also acknowledges
 * every batch, only inserts and deletes rows. A cut's points arrive in shared memory (see
 * HeadTable.take in src/storage/head.ts) that the writer keeps reading until the chunk row
 * lands, so this thread only reads them (encodeCut sorts a copy); compaction inputs arrive as
 * structured-clone copies.
 */
import { isMainThread } from 'node:worker_threads';
import { encodeCut, mergeCluster, type ChunkDefect, type CutPoints, type EncodedChunk, type StoredChunk } from './chunk_encoding.js';
import { lowerThisThreadPriority } from '../workers/background_priority.js';

// Only in the encoder thread: the inline encoder imports this module on the writer thread.
if (!isMainThread) lowerThisThreadPriority();

export interface CutTask {
  kind: 'cut';
  cuts: CutPoints[];
}

export interface MergeTask {
  kind: 'merge';
  /** Per series, its clusters; each cluster's members in (minTs, id) order. */
  series: Array<{ clusters: Array<{ members: StoredChunk[]; overlapping: boolean }> }>;
}

export type EncodeTask = CutTask | MergeTask;

/** For a cut task, the chunks of each cut; for a merge task, per series the chunks of each cluster or a defect. */
export type EncodeResult =
  | { kind: 'cut'; chunks: EncodedChunk[][] }
  | { kind: 'merge'; series: Array<EncodedChunk[][] | ChunkDefect> };

export function runEncodeTask(task: EncodeTask): EncodeResult {
  if (task.kind === 'cut') return { kind: 'cut', chunks: task.cuts.map(encodeCut) };
  return {
    kind: 'merge',
    series: task.series.map((s) => {
      const clusters: EncodedChunk[][] = [];
      for (const cluster of s.clusters) {
        const merged = mergeCluster(cluster.members, cluster.overlapping);
        if (!Array.isArray(merged)) return merged;
        clusters.push(merged);
      }
      return clusters;
    }),
  };
}

export default runEncodeTask;
