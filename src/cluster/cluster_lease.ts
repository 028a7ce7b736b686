/**
 * Which lease a node opens, from its storage settings: the embedded SQLite store is one node
 * (SingleNodeLease), a PostgreSQL store holds its leases as advisory locks in the same database
 * (same schema, so clusters sharing a database stay apart), a Redis store as keys under its
 * prefix. `holder` moves the leases of a PostgreSQL cluster to a Redis server it also uses for
 * live updates (the "Redis … can hold the leases"); PostgreSQL's bound is tighter on
 * failover (see redis_lease.ts), so it is not the default.
 */
import type { PostgresStorageOptions, RedisStorageOptions, StorageType } from '../model/api.js';
import { SingleNodeLease, type Lease, type LeaseHandlers } from './lease.js';
import { openPostgresLease, type PostgresLeaseOptions } from './postgres_lease.js';
import { openRedisLease, type RedisLeaseOptions } from './redis_lease.js';

export interface ClusterLeaseSettings {
  storage: StorageType;
  postgres?: PostgresStorageOptions | undefined;
  redis?: RedisStorageOptions | undefined;
  /** The server that holds the leases; default the storage's own. */
  holder?: 'postgresql' | 'redis' | undefined;
  /** Timing overrides (tests; operators keep the defaults). */
  postgresTiming?: Pick<PostgresLeaseOptions, 'retryMs' | 'renewMs' | 'holderTimeoutMs'> | undefined;
  redisTiming?: Pick<RedisLeaseOptions, 'retryMs' | 'ttlMs'> | undefined;
}

/** Opens lease `name` where `settings` say; rejects naming the missing setting or the unreachable server. */
export async function openClusterLease(settings: ClusterLeaseSettings, name: string, handlers: LeaseHandlers = {}): Promise<Lease> {
  const holder = settings.holder ?? settings.storage;
  switch (holder) {
    case 'sqlite':
      return new SingleNodeLease(name, handlers);
    case 'postgresql': {
      const pg = settings.postgres;
      if (pg === undefined) throw new RangeError(`lease ${name}: leases held by PostgreSQL need storage.postgres.url (METRICS_POSTGRES_URL)`);
      return openPostgresLease({ url: pg.url, name, ...(pg.schema === undefined ? {} : { schema: pg.schema }), ...settings.postgresTiming }, handlers);
    }
    case 'redis': {
      const redis = settings.redis;
      if (redis === undefined) throw new RangeError(`lease ${name}: leases held by Redis need storage.redis.url (METRICS_REDIS_URL)`);
      return openRedisLease({ url: redis.url, name, ...(redis.prefix === undefined ? {} : { prefix: redis.prefix }), ...settings.redisTiming }, handlers);
    }
    default:
      throw new RangeError(`lease ${name}: holder=${JSON.stringify(holder)} must be one of sqlite, postgresql, redis`);
  }
}
