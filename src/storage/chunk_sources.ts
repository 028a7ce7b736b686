/**
 * Opens a ChunkSource from a WorkerSourceSpec (backend.ts) in a query worker's thread. The
 * network back-ends are imported only when asked for, so a worker of a SQLite store never
 * loads a PostgreSQL or Redis driver.
 */
import type { ChunkSource, WorkerSourceSpec } from './backend.js';
import { SqliteChunkSource } from './sqlite/sqlite_chunk_source.js';

export async function openChunkSource(spec: WorkerSourceSpec): Promise<ChunkSource> {
  switch (spec.kind) {
    case 'sqlite':
      return SqliteChunkSource.open(spec.path);
    case 'postgresql':
      return (await import('./postgres/postgres_chunk_source.js')).openPostgresChunkSource(spec);
    case 'redis':
      return (await import('./redis/redis_chunk_source.js')).openRedisChunkSource(spec);
  }
}

/** A key naming the spec's store, for a worker's cache of open sources (no secret in it beyond the process). */
export function sourceKey(spec: WorkerSourceSpec): string {
  return JSON.stringify(spec);
}
