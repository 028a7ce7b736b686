/**
 * The feature state of a cluster node (API keys and tenants in auth.db, the key inventory and
 * events in keys.db, probe targets in health.db, rules, alerts, history, silences, channels,
 * blocks and remediation audit in alerts.db) shared through the storage back-end, so that a
 * node taking over as writer has the old writer's state: src/storage/state_replication/.
 *
 * Order at start (emms_app.ts):
 *   1. `openClusterState` (before authentication opens): each feature database is opened once
 *      by its own store, so its tables exist, then captured; the whole shared log is applied.
 *   2. The bootstrap operator key is minted only by the one node that wins the cluster-wide
 *      claim, and only when no key exists after the catch-up (`bootstrapInCluster`).
 *   3. Once the node holds the writer lease, `catchUp()` again before the feature services
 *      load their state (alert evaluation restores active alerts from alerts.db).
 *
 * Standbys run the replication too (their authenticator reads auth.db); the feature services
 * that keep state in memory (keys, probes, alerting) open only on the writer, after the
 * catch-up, and only the writer writes their files, so no in-memory copy goes stale.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { ALERTS_DB_FILE, AlertStore } from '../alerts/alert_store.js';
import { SecretBox, SECRETS_KEY_FILE } from '../alerts/secret_box.js';
import { AuthDatabase } from '../auth/auth_database.js';
import { AUTH_DB_FILE } from '../auth/auth_schema.js';
import type { AuthModule } from '../auth/auth_module.js';
import type { BootstrapResult } from '../auth/bootstrap.js';
import type { EmmsConfig } from '../config/config.js';
import { openSqlite } from '../crypto/sqlite_cipher.js';
import { KEYS_DB_FILE } from '../keys/key_schema.js';
import { KeyStore } from '../keys/key_store.js';
import { PROBE_DB_FILE } from '../probes/probe_schema.js';
import { ProbeStore } from '../probes/probe_store.js';
import type { StateLog } from '../storage/state_replication/state_log.js';
import { SqliteChangeCapture } from '../storage/state_replication/sqlite_change_capture.js';
import { StateReplicator } from '../storage/state_replication/state_replicator.js';

type Log = (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;

/** The claim whose holder alone may mint the bootstrap operator key of a cluster. */
const BOOTSTRAP_CLAIM = 'bootstrap-operator-key';
/** Applied in this order; the last one's cursor is where reading resumes (state_replicator.ts). */
const FEATURE_DATABASES = [AUTH_DB_FILE, KEYS_DB_FILE, PROBE_DB_FILE, ALERTS_DB_FILE] as const;

/**
 * The shared state log in the back-end the cluster shares; undefined for SQLite. The drivers
 * are imported only when chosen (as src/storage/backends.ts does): an embedded SQLite user
 * never loads `pg` or `ioredis`.
 */
async function openSharedStateLog(storage: EmmsConfig['storage']): Promise<StateLog | undefined> {
  const { postgres, redis } = storage;
  if (storage.type === 'postgresql' && postgres.url !== undefined) {
    const { PostgresStateLog } = await import('../storage/postgres/postgres_state_log.js');
    return PostgresStateLog.open({ url: postgres.url, schema: postgres.schema, statementTimeoutMs: postgres.statementTimeoutMs });
  }
  if (storage.type === 'redis' && redis.url !== undefined) {
    const { RedisStateLog } = await import('../storage/redis/redis_state_log.js');
    return RedisStateLog.open({ url: redis.url, prefix: redis.prefix });
  }
  return undefined;
}

/** Creates each feature database's tables the way its store does (migrations included). */
function ensureFeatureSchemas(dataDir: string): void {
  AuthDatabase.open(dataDir).close();
  new KeyStore(join(dataDir, KEYS_DB_FILE)).close();
  ProbeStore.open(join(dataDir, PROBE_DB_FILE)).close();
  new AlertStore(join(dataDir, ALERTS_DB_FILE), SecretBox.openKeyFile(join(dataDir, SECRETS_KEY_FILE))).close();
}

function openReplicationConnection(path: string): Database.Database {
  const db = openSqlite(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  // As the alert store's own connection: rows deleted here (a channel) leave no secret in free pages.
  db.pragma('secure_delete = ON');
  return db;
}

/** A data directory that was a cluster node's, now on SQLite storage: its capture goes (sqlite_change_capture.ts uninstall). */
function removeCapture(dataDir: string, log: Log): void {
  for (const name of FEATURE_DATABASES) {
    const path = join(dataDir, name);
    if (!existsSync(path)) continue;
    const db = openReplicationConnection(path);
    try {
      if (SqliteChangeCapture.uninstall(db)) log('info', `cluster state: ${name} no longer replicated (storage.type sqlite); its change capture was removed`);
    } finally {
      db.close();
    }
  }
}

/**
 * Undefined for SQLite storage (one node, nothing to share). Otherwise opens the shared log,
 * captures the feature databases, applies the whole log and starts the replication loops.
 */
export async function openClusterState(config: EmmsConfig, dataDir: string, log: Log): Promise<StateReplicator | undefined> {
  if (config.storage.type === 'sqlite') {
    removeCapture(dataDir, log);
    return undefined;
  }
  ensureFeatureSchemas(dataDir);
  const stateLog = await openSharedStateLog(config.storage);
  if (stateLog === undefined) return undefined;
  const connections: Database.Database[] = [];
  let replicator: StateReplicator;
  try {
    for (const name of FEATURE_DATABASES) connections.push(openReplicationConnection(join(dataDir, name)));
    replicator = StateReplicator.open({
      log: stateLog,
      databases: FEATURE_DATABASES.map((name, i) => ({ name, db: connections[i]! })),
      // Messages name the file and table, never row contents (token hashes, sealed secrets).
      onError: (err) => log('warn', `cluster state replication: ${err.message} (retried)`),
      onResync: (read, removed) => log('warn', `cluster state: this node was behind deletions since dropped from the shared state log (${stateLog.describe}); it re-read the whole log (${read} entries) and removed ${removed} local rows deleted elsewhere meanwhile`),
    });
  } catch (err) {
    for (const db of connections) db.close();
    await stateLog.close();
    throw err;
  }
  try {
    const started = performance.now();
    const read = await replicator.catchUp();
    log('info', `cluster state: ${read} entries of the shared state log (${stateLog.describe}) applied in ${Math.round(performance.now() - started)} ms`);
  } catch (err) {
    await replicator.close().catch(() => undefined);
    throw err;
  }
  replicator.start();
  return replicator;
}

/**
 * The bootstrap operator key in a cluster: minted only when the shared state holds no key
 * and this node wins the cluster-wide claim, then uploaded before start-up goes on, so a
 * node joining later finds it and mints nothing.
 */
export async function bootstrapInCluster(auth: AuthModule, state: StateReplicator | undefined, log: Log): Promise<BootstrapResult | undefined> {
  if (state === undefined) return auth.bootstrap();
  if (auth.apiKeys.count() > 0) return undefined;
  if (!(await state.claim(BOOTSTRAP_CLAIM))) {
    log('warn', 'the cluster has no API key yet and another node holds the bootstrap claim: its data directory has admin.token (or create one with `emms apikey create`)');
    return undefined;
  }
  const boot = auth.bootstrap();
  if (boot !== undefined) await state.flush();
  return boot;
}
