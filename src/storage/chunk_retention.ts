/**
 * Retention for the storage engine (StorageEngine.applyRetention, at open, every maintenance
 * round and at stop): deletes the chunks whose newest point is older than their tenant's
 * retention period. A back-end that can drop whole ranges (PostgreSQL's monthly partitions,
 * StorageBackend.dropChunksBefore) first drops what every tenant with chunks has passed; the
 * rest goes chunk by chunk in one chunk-deleting write, which waits for running snapshot reads.
 */
import type { StorageBackend } from './backend.js';
import type { BackgroundWriter } from './background_writer.js';
import type { ChunkCatalog } from './chunk_catalog.js';
import type { SeriesCatalog } from './series_index.js';

const DAY_MS = 86_400_000;

export interface RetentionParts {
  chunks: ChunkCatalog;
  catalog: SeriesCatalog;
  backend: StorageBackend;
  /** A tenant's retention in days (0 = keep forever). */
  retentionDaysOf: (tenant: string) => number;
  write: BackgroundWriter['write'];
  /** Runs `body` in the write turn as a write that deletes chunks (snapshot reads drained first). */
  inDeletingTurn: <T>(body: () => Promise<T>) => Promise<T>;
}

/** Deletes chunks past their tenant's retention at `nowMs`; returns how many. */
export async function expireChunks(parts: RetentionParts, nowMs: number): Promise<number> {
  const { chunks, catalog, backend } = parts;
  // Looked up once per tenant per pass: the lookup may read operator settings.
  const cutoffs = new Map<string, number>();
  const cutoffOf = (tenant: string): number => {
    let cutoff = cutoffs.get(tenant);
    if (cutoff === undefined) {
      const days = parts.retentionDaysOf(tenant);
      cutoff = days > 0 ? nowMs - days * DAY_MS : -Infinity;
      cutoffs.set(tenant, cutoff);
    }
    return cutoff;
  };
  let dropped = 0;
  const dropBefore = backend.dropChunksBefore;
  if (dropBefore !== undefined) {
    // The oldest cutoff that every tenant with chunks has passed; none while a tenant keeps forever.
    let oldest = Infinity;
    for (const sid of chunks.seriesWithChunks()) {
      const info = catalog.get(sid);
      if (info !== undefined) oldest = Math.min(oldest, cutoffOf(info.tenant));
    }
    if (oldest > -Infinity && oldest < Infinity && hasChunkBefore(chunks, oldest)) {
      dropped = await parts.inDeletingTurn(async () => chunks.forgetBefore(await dropBefore.call(backend, oldest)));
    }
  }
  const expired: Array<[number, Set<number>]> = [];
  for (const sid of chunks.seriesWithChunks()) {
    const info = catalog.get(sid);
    if (info === undefined) continue;
    const cutoff = cutoffOf(info.tenant);
    if (cutoff === -Infinity) continue;
    const old = new Set<number>();
    for (const c of chunks.chunksOf(sid)) if (c.maxTs < cutoff) old.add(c.id);
    if (old.size > 0) expired.push([sid, old]);
  }
  if (expired.length === 0) return dropped;
  return parts.write((tx) => {
    let deleted = dropped;
    for (const [sid, old] of expired) {
      // A chunk deleted meanwhile (an erasure) is not in the catalogue any more: deleting it again is harmless.
      chunks.delete(tx, sid, old);
      deleted += old.size;
    }
    return deleted;
  }, undefined, { deletesChunks: true });
}

function hasChunkBefore(chunks: ChunkCatalog, boundMs: number): boolean {
  for (const sid of chunks.seriesWithChunks()) if ((chunks.chunksOf(sid)[0]?.minTs ?? Infinity) < boundMs) return true;
  return false;
}
