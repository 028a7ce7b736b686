/**
 * Which back-end holds the data (`storage.type`) and the PostgreSQL and Redis settings:
 *
 *   "storage": { "type": "sqlite" | "postgresql" | "redis",                 METRICS_STORAGE_TYPE
 *     "postgres": { "url": "postgres://emms:PASSWORD@127.0.0.1:5432/emms",  METRICS_POSTGRES_URL
 *                   "pool_size": 4, "statement_timeout_ms": 30000,           METRICS_POSTGRES_POOL_SIZE, …_STATEMENT_TIMEOUT_MS
 *                   "schema": "emms" },                                      METRICS_POSTGRES_SCHEMA
 *     "redis":    { "url": "redis://:PASSWORD@127.0.0.1:6379/0",             METRICS_REDIS_URL (or REDIS_URL)
 *                   "prefix": "emms:",                                       METRICS_REDIS_PREFIX
 *                   "durability": "always" | "everysec" },                   METRICS_REDIS_DURABILITY
 *     "advertise_url": "http://10.0.0.5:8080" }                              METRICS_ADVERTISE_URL
 *
 * `advertise_url` is where the other nodes of a PostgreSQL or Redis cluster reach this node
 * when it writes (standbys forward every request to it, src/server/standby/standby_forwarder.ts);
 * unset, it is derived from host and port (clusterAdvertiseUrl in that file).
 *
 * The URLs are secrets (they carry the database password): every place they are shown (printed
 * settings, errors, the listening line) shows the password as `***`. A printed configuration
 * pasted back with the `***` placeholder is refused rather than sent to the database as a
 * wrong password.
 */
import type { MetricsSystemOptions, StorageType } from '../model/api.js';
import { hasPlaceholderPassword, PASSWORD_PLACEHOLDER, withPasswordRedacted } from '../text/url_password.js';
import { ConfigError } from './config_error.js';
import { integer, oneOf, type Apply, type Setting } from './setting.js';

export const STORAGE_TYPES: readonly StorageType[] = ['sqlite', 'postgresql', 'redis'];

export interface PostgresSettings {
  /** Unset until configured; required when storage.type is postgresql. */
  url: string | undefined;
  poolSize: number;
  statementTimeoutMs: number;
  schema: string;
}

export interface RedisSettings {
  url: string | undefined;
  prefix: string;
  /** The least the Redis server must be configured for (checked at open by the back-end). */
  durability: 'always' | 'everysec';
}

export interface StorageBackendSettings {
  type: StorageType;
  postgres: PostgresSettings;
  redis: RedisSettings;
  /** Scheme, host and port other nodes reach this one at; undefined: derived from host and port. */
  advertiseUrl: string | undefined;
}

interface Holder {
  storage: StorageBackendSettings;
}

/** Longest URL accepted: a real one is ~100 characters; the bound keeps errors and logs short. */
const MAX_URL_CHARS = 2048;
/** PostgreSQL truncates identifiers at 63 bytes (NAMEDATALEN - 1). */
const MAX_SCHEMA_CHARS = 63;
const MAX_PREFIX_CHARS = 64;

export function defaultStorageBackendSettings(): StorageBackendSettings {
  return {
    type: 'sqlite',
    postgres: { url: undefined, poolSize: 4, statementTimeoutMs: 30_000, schema: 'emms' },
    redis: { url: undefined, prefix: 'emms:', durability: 'always' },
    advertiseUrl: undefined,
  };
}

/** Validates a database URL of one of `schemes`; errors show it with the password redacted. */
function databaseUrl(key: string, schemes: readonly string[], set: (c: Holder, v: string) => void): Apply<Holder> {
  return (config, raw, source) => {
    // Redacted before it is cut (a cut inside a long password would hide the `@` ending it).
    const shown = typeof raw === 'string' ? withPasswordRedacted(raw).slice(0, MAX_URL_CHARS) : raw;
    const rule = `must be a URL ${schemes.map((s) => `${s}//…`).join(' or ')} of at most ${MAX_URL_CHARS} characters`;
    if (typeof raw !== 'string' || raw.length > MAX_URL_CHARS) throw new ConfigError(key, shown, source, rule);
    let url: URL;
    try {
      url = new URL(raw.trim());
    } catch {
      throw new ConfigError(key, shown, source, `${rule} (this one does not parse; percent-encode special characters of the password)`);
    }
    if (!schemes.includes(url.protocol)) throw new ConfigError(key, shown, source, rule);
    // `postgres:///emms?host=/run/postgresql` names a Unix socket directory instead of a host.
    if (url.hostname === '' && !url.searchParams.has('host')) throw new ConfigError(key, shown, source, `${rule}, with a host`);
    set(config, raw.trim());
  };
}

function schemaName(key: string): Apply<Holder> {
  return (config, raw, source) => {
    // Lower case only: an unquoted identifier folds to lower case, so `Emms` would name a
    // different schema in psql than in EMMS's quoted statements. `pg_` is reserved for the system.
    const ok = typeof raw === 'string' && raw.length <= MAX_SCHEMA_CHARS && /^[a-z_][a-z0-9_]*$/.test(raw) && !raw.startsWith('pg_');
    if (!ok) throw new ConfigError(key, raw, source, `must be a PostgreSQL identifier: lower-case letters, digits and _, not starting with a digit or pg_, at most ${MAX_SCHEMA_CHARS} characters`);
    config.storage.postgres.schema = raw;
  };
}

function keyPrefix(key: string): Apply<Holder> {
  return (config, raw, source) => {
    const ok = typeof raw === 'string' && raw.length >= 1 && raw.length <= MAX_PREFIX_CHARS && /^[A-Za-z0-9:_.{}-]+$/.test(raw);
    if (!ok) throw new ConfigError(key, raw, source, `must be 1 to ${MAX_PREFIX_CHARS} characters of letters, digits and : _ . - { } (e.g. "emms:")`);
    config.storage.redis.prefix = raw;
  };
}

/** An origin (scheme, host, optional port) with nothing else: it is joined with each forwarded path. */
function advertiseUrl(key: string): Apply<Holder> {
  return (config, raw, source) => {
    const rule = 'must be http://HOST[:PORT] or https://HOST[:PORT], without user, path, query or fragment, at most 512 characters';
    // Shown with any password as ***: a URL pasted with credentials is refused, not echoed.
    const shown = typeof raw === 'string' ? withPasswordRedacted(raw).slice(0, 120) : raw;
    if (typeof raw !== 'string' || raw.trim().length === 0 || raw.length > 512) throw new ConfigError(key, shown, source, rule);
    let url: URL;
    try {
      url = new URL(raw.trim());
    } catch {
      throw new ConfigError(key, shown, source, rule);
    }
    const bare = url.username === '' && url.password === '' && (url.pathname === '/' || url.pathname === '') && url.search === '' && url.hash === '';
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '' || !bare) throw new ConfigError(key, shown, source, rule);
    config.storage.advertiseUrl = url.origin;
  };
}

const redacted = (url: string | undefined): string | undefined => (url === undefined ? undefined : withPasswordRedacted(url));

export const STORAGE_BACKEND_SETTINGS: ReadonlyArray<Setting<Holder>> = [
  {
    key: 'storage.type', env: 'METRICS_STORAGE_TYPE', read: (c) => c.storage.type,
    help: 'where the data lives: sqlite (one file in the data directory), postgresql (storage.postgres.*; several nodes may share one database) or redis (storage.redis.*)',
    apply: oneOf('storage.type', STORAGE_TYPES, (c, v) => { c.storage.type = v; }),
  },
  {
    key: 'storage.postgres.url', env: 'METRICS_POSTGRES_URL', read: (c) => redacted(c.storage.postgres.url),
    help: 'postgres://user:password@host:5432/database (required with storage.type postgresql; shown with the password as ***) (default unset)',
    apply: databaseUrl('storage.postgres.url', ['postgres:', 'postgresql:'], (c, v) => { c.storage.postgres.url = v; }),
  },
  {
    key: 'storage.postgres.pool_size', env: 'METRICS_POSTGRES_POOL_SIZE', read: (c) => c.storage.postgres.poolSize,
    help: 'connections this node keeps to PostgreSQL for writes', apply: integer('storage.postgres.pool_size', 1, 64, (c, v) => { c.storage.postgres.poolSize = v; }),
  },
  {
    key: 'storage.postgres.statement_timeout_ms', env: 'METRICS_POSTGRES_STATEMENT_TIMEOUT_MS', read: (c) => c.storage.postgres.statementTimeoutMs,
    help: 'longest one statement may run before PostgreSQL cancels it (the write is then refused, nothing kept)',
    apply: integer('storage.postgres.statement_timeout_ms', 100, 600_000, (c, v) => { c.storage.postgres.statementTimeoutMs = v; }),
  },
  {
    key: 'storage.postgres.schema', env: 'METRICS_POSTGRES_SCHEMA', read: (c) => c.storage.postgres.schema,
    help: "schema holding EMMS's tables, created if missing; every node of one cluster uses the same", apply: schemaName('storage.postgres.schema'),
  },
  {
    key: 'storage.redis.url', env: 'METRICS_REDIS_URL', fallbackEnv: 'REDIS_URL', read: (c) => redacted(c.storage.redis.url),
    help: 'redis://[:password@]host:6379[/db] or rediss:// (required with storage.type redis; METRICS_REDIS_URL wins over REDIS_URL; shown with the password as ***) (default unset)',
    apply: databaseUrl('storage.redis.url', ['redis:', 'rediss:'], (c, v) => { c.storage.redis.url = v; }),
  },
  {
    key: 'storage.redis.prefix', env: 'METRICS_REDIS_PREFIX', read: (c) => c.storage.redis.prefix,
    help: 'prefix of every key EMMS writes, so one Redis can hold several stores', apply: keyPrefix('storage.redis.prefix'),
  },
  {
    key: 'storage.redis.durability', env: 'METRICS_REDIS_DURABILITY', read: (c) => c.storage.redis.durability,
    help: 'what the Redis server must be configured for, checked at start: always (appendonly yes, appendfsync always: nothing acknowledged is lost) or everysec (also accepts appendfsync everysec, ~2 s at risk on power loss, and a Redis whose CONFIG command is disabled)',
    apply: oneOf('storage.redis.durability', ['always', 'everysec'] as const, (c, v) => { c.storage.redis.durability = v; }),
  },
  {
    key: 'storage.advertise_url', env: 'METRICS_ADVERTISE_URL', read: (c) => c.storage.advertiseUrl,
    help: 'with postgresql or redis: the http(s)://host:port the other nodes reach this one at; the writer publishes it next to its lease and standbys forward every request there (default: http(s)://host:port, with host 0.0.0.0 or :: the first non-loopback interface address; set it behind NAT or a proxy) (default unset)',
    apply: advertiseUrl('storage.advertise_url'),
  },
];

/** Where each back-end's URL comes from, for the error when it is missing. */
const URL_SOURCES: Record<Exclude<StorageType, 'sqlite'>, { key: string; env: string; example: string }> = {
  postgresql: { key: 'storage.postgres.url', env: 'METRICS_POSTGRES_URL', example: 'postgres://emms:PASSWORD@127.0.0.1:5432/emms' },
  redis: { key: 'storage.redis.url', env: 'METRICS_REDIS_URL (or REDIS_URL)', example: 'redis://127.0.0.1:6379/0' },
};

/**
 * Checks what no single setting can: the chosen back-end has its URL, and that URL is not a
 * printed one with the `***` placeholder. Runs once every source has been applied.
 */
export function checkStorageBackend(storage: StorageBackendSettings): void {
  if (storage.type === 'sqlite') return;
  const url = storage.type === 'postgresql' ? storage.postgres.url : storage.redis.url;
  const from = URL_SOURCES[storage.type];
  if (url === undefined) {
    throw new ConfigError(from.key, undefined, 'config file and environment', `is required when storage.type is ${storage.type}: set ${from.env}=${from.example} or ${from.key} in main.json`);
  }
  if (hasPlaceholderPassword(url)) {
    throw new ConfigError(from.key, withPasswordRedacted(url), 'config file or environment', `has the password placeholder ${PASSWORD_PLACEHOLDER} of a printed configuration: put the real password back, or give the URL in ${from.env}`);
  }
}

/** The engine options (src/model/api.ts) for the configured back-end; only its own URL is passed on. */
export function storageSystemOptions(storage: StorageBackendSettings): Pick<MetricsSystemOptions, 'storage' | 'postgres' | 'redis'> {
  checkStorageBackend(storage);
  if (storage.type === 'postgresql') {
    const p = storage.postgres;
    return { storage: 'postgresql', postgres: { url: p.url!, poolSize: p.poolSize, statementTimeoutMs: p.statementTimeoutMs, schema: p.schema } };
  }
  if (storage.type === 'redis') return { storage: 'redis', redis: { url: storage.redis.url!, prefix: storage.redis.prefix, durability: storage.redis.durability } };
  return { storage: 'sqlite' };
}

/** Where the data is, for the start-up line and messages: a file, or a redacted URL with its schema or prefix. */
export function storageLocation(storage: StorageBackendSettings, sqlitePath: string): string {
  if (storage.type === 'postgresql') return `postgresql ${redacted(storage.postgres.url) ?? '(no url)'} schema ${storage.postgres.schema}`;
  if (storage.type === 'redis') return `redis ${redacted(storage.redis.url) ?? '(no url)'} prefix ${storage.redis.prefix}`;
  return `sqlite ${sqlitePath}`;
}
