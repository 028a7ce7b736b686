/**
 * Which of a series' chunks compaction rewrites, from the catalogue alone (no bytes read).
 *
 * The clusters to rewrite: chunks overlapping one another (merged with precedence, newer id
 * wins), and runs of consecutive small chunks packed into chunks of up to
 * STORED_CHUNK_MAX_POINTS. A cluster's output replaces all of its members, so no chunk outside
 * a cluster shares a timestamp with it and precedence elsewhere is untouched.
 *
 * `minPackRun`: a run of non-overlapping chunks is rewritten only if it has at least this many
 * chunks. Background compaction uses 4 so that a point is rewritten about
 * log4(STORED_CHUNK_MAX_POINTS / cut size) times, not once per checkpoint; stop() packs every run.
 */
import { STORED_CHUNK_MAX_POINTS } from './chunk_encoding.js';
import type { ChunkMeta } from './chunk_catalog.js';

/** `list`: one series' chunks in (minTs, id) order (ChunkCatalog.chunksOf). */
export function planCompaction(list: readonly ChunkMeta[], minPackRun: number): ChunkMeta[][] {
  if (list.length < 2) return [];
  const clusters: ChunkMeta[][] = [];
  let current: ChunkMeta[] = [list[0]!];
  let currentMax = list[0]!.maxTs;
  let currentCount = list[0]!.count;
  for (let k = 1; k < list.length; k++) {
    const c = list[k]!;
    if (c.minTs <= currentMax || currentCount + c.count <= STORED_CHUNK_MAX_POINTS) {
      current.push(c);
      currentCount += c.count;
      if (c.maxTs > currentMax) currentMax = c.maxTs;
    } else {
      clusters.push(current);
      current = [c];
      currentMax = c.maxTs;
      currentCount = c.count;
    }
  }
  clusters.push(current);
  return clusters.filter((c) => c.length >= minPackRun || (c.length > 1 && hasOverlap(c)));
}

/** Whether a chunk shares any part of the time range of a cluster. */
export function overlapsCluster(c: ChunkMeta, cluster: readonly ChunkMeta[]): boolean {
  let minTs = Infinity;
  let maxTs = -Infinity;
  for (const m of cluster) {
    if (m.minTs < minTs) minTs = m.minTs;
    if (m.maxTs > maxTs) maxTs = m.maxTs;
  }
  return c.minTs <= maxTs && c.maxTs >= minTs;
}

/** Whether chunks given in (minTs, id) order overlap in time. */
export function hasOverlap(sortedByMinTs: readonly ChunkMeta[]): boolean {
  let maxSoFar = -Infinity;
  for (const c of sortedByMinTs) {
    if (c.minTs <= maxSoFar) return true;
    if (c.maxTs > maxSoFar) maxSoFar = c.maxTs;
  }
  return false;
}
