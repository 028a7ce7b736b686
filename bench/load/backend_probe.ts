/**
 * Whether a server run really wrote to the database it was pointed at: a build whose engine
 * does not know a back-end could otherwise quietly write its SQLite file and the benchmark
 * would report SQLite's figures under PostgreSQL's or Redis's name. Asks the database itself
 * (information_schema for a PostgreSQL schema, a SCAN for a Redis key prefix).
 */
import pg from 'pg';
import { Redis } from 'ioredis';
import type { StorageType } from '../../src/model/api.js';

/** True, or the reason the store holds nothing. */
export async function backendHoldsData(kind: StorageType, url: string | undefined, store: string): Promise<true | string> {
  if (kind === 'sqlite') return true;
  if (url === undefined) return `no ${kind} URL`;
  if (kind === 'postgresql') {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const r = await client.query<{ n: string }>('SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1', [store]);
      return Number(r.rows[0]!.n) > 0 ? true : `the server ran, but schema ${store} has no tables: this build's engine does not store data in PostgreSQL yet`;
    } finally {
      await client.end();
    }
  }
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${store}:*`, 'COUNT', 1000);
      if (keys.length > 0) return true;
      cursor = next;
    } while (cursor !== '0');
    return `the server ran, but Redis holds no key under ${store}: this build's engine does not store data in Redis yet`;
  } finally {
    redis.disconnect();
  }
}
