/**
 * The main.json a deployment ships, and the paths every artifact agrees on. Built from the same
 * keys `emms serve` reads (src/config/config.ts), so `emms serve --config main.json
 * --print-config` accepts it (the deploy tests load it with the real loader).
 */
import type { DeployOptions } from './deploy_options.js';
import type { Tuning } from './auto_tune.js';

/** Inside containers and on systemd hosts alike. */
export const DATA_DIR = '/var/lib/emms';
export const CONFIG_DIR = '/etc/emms';
export const CONFIG_FILE = `${CONFIG_DIR}/main.json`;
export const SECRETS_DIR = `${CONFIG_DIR}/secrets`;
/** UID/GID of the image's `emms` user: fixed, so volumes and pod securityContext agree. */
export const EMMS_UID = 10001;
export const HEALTH_LIVE_PATH = '/health/live';
export const HEALTH_READY_PATH = '/health/ready';
/** The Prometheus-compatible query API Grafana's data source points at. */
export const PROMETHEUS_API_PATH = '/prometheus';

/**
 * Hosts: containers must listen on every interface (the runtime's network is the boundary);
 * a systemd host in development listens on loopback only.
 */
function listenHost(o: DeployOptions): string {
  return o.infrastructure === 'systemd' && o.mode === 'development' ? '127.0.0.1' : '0.0.0.0';
}

export function emmsSettings(o: DeployOptions, tuning: Tuning | undefined): Record<string, unknown> {
  const collector: Record<string, unknown> = {};
  const query: Record<string, unknown> = {};
  if (tuning !== undefined) {
    Object.assign(collector, {
      decode_threads: tuning.decodeThreads, batch_size: tuning.batchSize, max_body_bytes: tuning.maxBodyBytes,
      max_frame_bytes: tuning.maxFrameBytes, max_unacked_bytes: tuning.maxUnackedBytes,
    });
    query.max_points = tuning.queryMaxPoints;
  }
  return {
    deployment: { host: listenHost(o), port: o.port },
    storage: {
      type: o.storage,
      path: `${DATA_DIR}/metrics.db`,
      // Production survives power loss too (an fsync per group commit); development only a killed process.
      durability: o.mode === 'production' ? 'full' : 'process',
      compression: 'lz4',
    },
    monitoring: { log_level: o.mode === 'production' ? 'info' : 'debug' },
    ...(Object.keys(collector).length > 0 ? { collector } : {}),
    ...(Object.keys(query).length > 0 ? { query } : {}),
    // /metrics stays open so Prometheus scrapes without a token; the data it shows is the
    // server's own, never a tenant's series (those need a reader on /federate).
    security: { auth: 'on', metrics_access: 'open' },
  };
}

export function renderMainJson(o: DeployOptions, tuning: Tuning | undefined): string {
  return `${JSON.stringify(emmsSettings(o, tuning), null, 2)}\n`;
}

/** `node` flags of the server process: the initial old space (see serve_command.ts) and the tuned heap ceiling. */
export function nodeFlags(tuning: Tuning | undefined): string[] {
  return ['--initial-old-space-size=128', ...(tuning === undefined ? [] : [`--max-old-space-size=${tuning.heapMiB}`])];
}

/**
 * The variable the server reads the back-end's URL from (src/config/storage_settings.ts), and
 * an example value. The URL carries the database password, so every artifact passes it as an
 * environment variable from a secret (compose .env, a systemd EnvironmentFile of mode 0600, a
 * Kubernetes Secret), never in main.json.
 */
export function storageUrlEnv(o: DeployOptions): { name: string; example: string } | undefined {
  if (o.storage === 'redis') return { name: 'METRICS_REDIS_URL', example: 'redis://redis:6379/0' };
  if (o.storage === 'postgresql') return { name: 'METRICS_POSTGRES_URL', example: 'postgresql://emms:CHANGE_ME@postgres:5432/emms' };
  return undefined;
}

/** The URL of a database on the same host, for the systemd EnvironmentFile (PASSWORD is the user's to fill in). */
export function hostStorageUrlExample(o: DeployOptions): string | undefined {
  if (o.storage === 'redis') return 'redis://127.0.0.1:6379/0';
  if (o.storage === 'postgresql') return 'postgresql://emms:PASSWORD@127.0.0.1:5432/emms';
  return undefined;
}

/**
 * redis-server flags the Redis back-end demands (src/storage/redis/redis_server_checks.ts): it
 * refuses a server without the append-only file fsynced on every write, because an
 * acknowledged point must survive a killed Redis and a power loss. Main.json has no setting to
 * accept less (`everysec`), so every Redis a deployment points EMMS at must run with these.
 */
export const REDIS_DURABLE_ARGS: readonly string[] = ['--appendonly', 'yes', '--appendfsync', 'always'];
