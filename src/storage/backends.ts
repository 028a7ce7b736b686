/**
 * Opens the back-end MetricsSystemOptions name (`storage`: sqlite, postgresql or redis). The
 * network back-ends are imported only when chosen: an embedded SQLite user never loads `pg`
 * or `ioredis`.
 */
import type { StorageBackend } from './backend.js';
import type { Durability } from './sqlite/database.js';
import type { PostgresStorageOptions, RedisStorageOptions, StorageType } from '../model/api.js';
import { SqliteBackend } from './sqlite/sqlite_backend.js';

export interface BackendOptions {
  type: StorageType;
  /** The SQLite file (sqlite only). */
  path: string;
  durability?: Durability | undefined;
  pageSizeBytes?: number | undefined;
  postgres?: PostgresStorageOptions | undefined;
  redis?: RedisStorageOptions | undefined;
}

export async function openBackend(options: BackendOptions): Promise<StorageBackend> {
  switch (options.type) {
    case 'sqlite':
      return SqliteBackend.open({ path: options.path, durability: options.durability, pageSizeBytes: options.pageSizeBytes });
    case 'postgresql':
      if (options.postgres === undefined) throw new RangeError("options.postgres is required when storage is 'postgresql'");
      return (await import('./postgres/postgres_backend.js')).openPostgresBackend(options.postgres);
    case 'redis':
      if (options.redis === undefined) throw new RangeError("options.redis is required when storage is 'redis'");
      return (await import('./redis/redis_backend.js')).openRedisBackend(options.redis);
  }
}
