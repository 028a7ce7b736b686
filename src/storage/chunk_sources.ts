/**
 * Opens a ChunkSource from a WorkerSourceSpec (backend.ts) in a query worker's thread.
 *
 * The back-ends are imported statically. Importing the network ones only when asked for (so a
 * worker of a SQLite store would not load a PostgreSQL or Redis driver) failed in query workers
 * running src/ under tsx's loader: the dynamic import found neither the `.js` name nor, given
 * the `.ts` one, a loader for it (the storage conformance suite's snapshot reads, once ingest
 * activity sent aggregations to the workers). The drivers cost a worker some start-up time and
 * memory; a wrong answer in tests of the path users run would cost more.
 */
import type { ChunkSource, WorkerSourceSpec } from './backend.js';
import { SqliteChunkSource } from './sqlite/sqlite_chunk_source.js';
import { openPostgresChunkSource } from './postgres/postgres_chunk_source.js';
import { openRedisChunkSource } from './redis/redis_chunk_source.js';

export async function openChunkSource(spec: WorkerSourceSpec): Promise<ChunkSource> {
  switch (spec.kind) {
    case 'sqlite':
      return SqliteChunkSource.open(spec.path);
    case 'postgresql':
      return openPostgresChunkSource(spec);
    case 'redis':
      return openRedisChunkSource(spec);
  }
}

/** A key naming the spec's store, for a worker's cache of open sources (no secret in it beyond the process). */
export function sourceKey(spec: WorkerSourceSpec): string {
  return JSON.stringify(spec);
}
