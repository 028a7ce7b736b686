/**
 * Server configuration: built-in defaults, then main.json, then environment, then command-line
 * flags (each later source wins). Every setting is validated once, here, and an invalid one
 * stops start-up with a ConfigError naming the key, the value and where it came from.
 *
 * main.json layout (every key optional; `emms serve --print-config` prints every default):
 *
 *   { "deployment": { "host", "port" },
 *     "collector":  { "batch_size", "max_body_bytes", "max_frame_bytes", "max_unacked_bytes", "decode_threads" },
 *     "storage":    { "type", "path", "compression", "retention_days", "durability",
 *                   "backup_enabled", "backup_schedule", "backup_directory", "backup_keep",
 *                   "postgres": { … }, "redis": { … } } (src/config/storage_settings.ts),
 *     "monitoring": { "log_level" },
 *     "query":      { "max_series", "max_points", "rollup_memory_mb" },
 *     "security":   { … } (src/config/security_config.ts) }
 */
import { readFileSync } from 'node:fs';
import { CronExpressionParser } from 'cron-parser';
import { availableParallelism } from 'node:os';
import { DEFAULT_DATABASE_PATH, databasePathIn } from '../model/data_directory.js';
import { isLoopbackBind } from '../net/cidr.js';
import { ConfigError } from './config_error.js';
import { integer, oneOf, text, type Setting as SettingOf } from './setting.js';
import { checkStorageBackend, defaultStorageBackendSettings, STORAGE_BACKEND_SETTINGS, type StorageBackendSettings } from './storage_settings.js';
import { applySecuritySection, defaultSecurityConfig, parseAuthSwitch, parseTrustedProxiesEnv, renderSecuritySection, type SecurityConfig } from './security_config.js';

export { ConfigError } from './config_error.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error', 'silent'];

export interface EmmsConfig {
  host: string;
  port: number;
  /** `type` and the PostgreSQL and Redis settings: src/config/storage_settings.ts. */
  storage: StorageBackendSettings & {
    /** SQLite database file; with another back-end its directory still holds this node's own files. */
    path: string;
    compression: 'lz4' | 'none';
    retentionDays: number;
    /** `process`: acked data survives the process being killed; `full`: also power loss (fsync per commit). */
    durability: 'process' | 'full';
    /** Head memory mapped before the server listens (src/storage/head.ts reserve), 0 = none. */
    headReserveMb: number;
    /** Scheduled backups (src/maintenance/backup_schedule.ts); `directory` '' = `<data dir>-backups`. */
    backup: { enabled: boolean; schedule: string; directory: string; keep: number };
  };
  collector: {
    /** Most points one frame or request may carry. */
    batchSize: number;
    maxBodyBytes: number;
    maxFrameBytes: number;
    /** Bytes of frames received but not yet acknowledged, per connection, before it is cut off. */
    maxUnackedBytes: number;
    /** Threads decoding and validating ingest payloads; 0 decodes on the main thread. */
    decodeThreads: number;
  };
  /** rollupMemoryMb: memory for rollups (src/storage/rollup/rollup_store.ts), 0 = none. */
  query: { maxSeries: number; maxPoints: number; rollupMemoryMb: number };
  logLevel: LogLevel;
  /** Authentication, TLS, network controls, egress, quotas: src/config/security_config.ts. */
  security: SecurityConfig;
  /**
   * main.json sections owned by features, passed through raw and validated by the feature that
   * reads them at start-up (its errors name the key too): `collector` keys of the collectors
   * (system_interval, adaptive_sampling, …), `alerting`, `key_policies`.
   */
  featureSections: { collector: Record<string, unknown>; alerting?: unknown; key_policies?: unknown; remote_write?: unknown };
}

/** Top-level main.json sections read by features rather than by this file. */
const FEATURE_SECTIONS = ['alerting', 'key_policies', 'remote_write'] as const;
/** `collector.*` keys read by src/collectors/collector_config.ts. */
const FEATURE_COLLECTOR_KEYS: ReadonlySet<string> = new Set(['system_interval', 'api_stats_interval', 'enhanced_interval', 'adaptive_sampling']);

export function defaultConfig(): EmmsConfig {
  return {
    host: '127.0.0.1',
    port: 8080,
    storage: { ...defaultStorageBackendSettings(), path: DEFAULT_DATABASE_PATH, compression: 'lz4', retentionDays: 0, durability: 'process', headReserveMb: 16, backup: { enabled: false, schedule: '0 3 * * *', directory: '', keep: 7 } },
    collector: {
      batchSize: 1_000_000,
      maxBodyBytes: 16 * 1024 * 1024,
      maxFrameBytes: 16 * 1024 * 1024,
      // One largest frame in flight, as much again held back; past that the connection is cut off.
      maxUnackedBytes: 16 * 1024 * 1024,
      // One thread keeps the SQLite writer and the sockets; the others decode.
      decodeThreads: Math.max(1, availableParallelism() - 1),
    },
    query: { maxSeries: 10_000, maxPoints: 1_000_000, rollupMemoryMb: 64 },
    logLevel: 'info',
    security: defaultSecurityConfig(),
    featureSections: { collector: {} },
  };
}

type Setting = SettingOf<EmmsConfig>;

const MAX_BYTES_SETTING = 1024 * 1024 * 1024;

const SETTINGS: Setting[] = [
  { key: 'deployment.host', help: 'address to listen on', read: (c) => c.host, env: 'EMMS_HOST', apply: text('deployment.host', (c, v) => { c.host = v; }) },
  { key: 'deployment.port', help: 'TCP port, 0 = any free port', read: (c) => c.port, env: 'EMMS_PORT', apply: integer('deployment.port', 0, 65535, (c, v) => { c.port = v; }) },
  ...STORAGE_BACKEND_SETTINGS,
  { key: 'storage.path', help: 'SQLite database file', read: (c) => c.storage.path, env: 'METRICS_DB_PATH', apply: text('storage.path', (c, v) => { c.storage.path = v; }) },
  {
    key: 'storage.compression', read: (c) => c.storage.compression, help: 'lz4 or none: lz4 compresses write-ahead records where it pays (~4x smaller); none spares the CPU (chunks use the WASM codec either way)', env: 'METRICS_COMPRESSION',
    apply: (config, raw, source) => {
      const v = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
      if (v === true || v === 'true' || v === 'lz4' || v === '1') config.storage.compression = 'lz4';
      else if (v === false || v === 'false' || v === 'none' || v === '0') config.storage.compression = 'none';
      else throw new ConfigError('storage.compression', raw, source, 'must be lz4, none, true or false');
    },
  },
  { key: 'storage.retention_days', help: 'drop chunks older than this many days, 0 = keep forever', read: (c) => c.storage.retentionDays, env: 'METRICS_RETENTION_DAYS', apply: integer('storage.retention_days', 0, 365_000, (c, v) => { c.storage.retentionDays = v; }) },
  {
    key: 'storage.durability', env: 'EMMS_DURABILITY',
    help: 'process (acked data survives a killed process) or full (also power loss: an fsync per group commit)',
    read: (c) => c.storage.durability,
    apply: oneOf('storage.durability', ['process', 'full'] as const, (c, v) => { c.storage.durability = v; }),
  },
  {
    key: 'storage.head_reserve_mb', env: 'METRICS_HEAD_RESERVE_MB',
    help: 'head memory (MiB) mapped at start so that a fresh server\'s first points do not wait on page faults; kept for the life of the process, 0 = none',
    read: (c) => c.storage.headReserveMb,
    apply: integer('storage.head_reserve_mb', 0, 65_536, (c, v) => { c.storage.headReserveMb = v; }),
  },
  {
    key: 'storage.backup_enabled', help: 'take backups on storage.backup_schedule into storage.backup_directory', read: (c) => String(c.storage.backup.enabled),
    apply: (config, raw, source) => {
      const v = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
      if (v === true || v === 'true') config.storage.backup.enabled = true;
      else if (v === false || v === 'false') config.storage.backup.enabled = false;
      else throw new ConfigError('storage.backup_enabled', raw, source, 'must be true or false');
    },
  },
  {
    key: 'storage.backup_schedule', help: 'cron expression (minute hour day month weekday, UTC) of scheduled backups', read: (c) => c.storage.backup.schedule,
    apply: (config, raw, source) => {
      if (typeof raw !== 'string' || raw.length > 200) throw new ConfigError('storage.backup_schedule', raw, source, 'must be a cron expression of at most 200 characters');
      try {
        CronExpressionParser.parse(raw, { tz: 'UTC' });
      } catch (err) {
        throw new ConfigError('storage.backup_schedule', raw, source, `is not a cron expression: ${(err as Error).message}`);
      }
      config.storage.backup.schedule = raw;
    },
  },
  {
    key: 'storage.backup_directory', help: "where scheduled backups go, '' = <data dir>-backups", read: (c) => c.storage.backup.directory,
    apply: (config, raw, source) => {
      if (typeof raw !== 'string') throw new ConfigError('storage.backup_directory', raw, source, 'must be a string (a directory)');
      config.storage.backup.directory = raw;
    },
  },
  { key: 'storage.backup_keep', help: 'scheduled backups kept, older ones are deleted', read: (c) => c.storage.backup.keep, apply: integer('storage.backup_keep', 1, 10_000, (c, v) => { c.storage.backup.keep = v; }) },
  { key: 'collector.batch_size', help: 'most points one frame or request may carry', read: (c) => c.collector.batchSize, env: 'METRICS_BATCH_SIZE', apply: integer('collector.batch_size', 1, 100_000_000, (c, v) => { c.collector.batchSize = v; }) },
  { key: 'collector.max_body_bytes', help: 'largest HTTP body, larger gets 413', read: (c) => c.collector.maxBodyBytes, apply: integer('collector.max_body_bytes', 1024, MAX_BYTES_SETTING, (c, v) => { c.collector.maxBodyBytes = v; }) },
  { key: 'collector.max_frame_bytes', help: 'largest stream frame (uWS maxPayloadLength): a larger one closes the connection', read: (c) => c.collector.maxFrameBytes, apply: integer('collector.max_frame_bytes', 1024, MAX_BYTES_SETTING, (c, v) => { c.collector.maxFrameBytes = v; }) },
  { key: 'collector.max_unacked_bytes', help: 'per stream connection: bytes in flight before frames are held back, and held back before it is closed with 1008', read: (c) => c.collector.maxUnackedBytes, apply: integer('collector.max_unacked_bytes', 1024, 16 * MAX_BYTES_SETTING, (c, v) => { c.collector.maxUnackedBytes = v; }) },
  { key: 'collector.decode_threads', help: 'threads decoding and validating ingest, 0 = main thread (default: CPUs - 1, at least 1)', read: (c) => c.collector.decodeThreads, env: 'EMMS_DECODE_THREADS', apply: integer('collector.decode_threads', 0, 64, (c, v) => { c.collector.decodeThreads = v; }) },
  { key: 'monitoring.log_level', help: 'debug, info, warn, error or silent', read: (c) => c.logLevel, env: 'LOG_LEVEL', apply: oneOf('monitoring.log_level', LOG_LEVELS, (c, v) => { c.logLevel = v; }) },
  { key: 'query.max_series', help: 'most series one query may select, more gets 422', read: (c) => c.query.maxSeries, apply: integer('query.max_series', 1, 100_000_000, (c, v) => { c.query.maxSeries = v; }) },
  { key: 'query.max_points', help: 'most raw points one query may return, more gets 422', read: (c) => c.query.maxPoints, apply: integer('query.max_points', 1, 1_000_000_000, (c, v) => { c.query.maxPoints = v; }) },
  { key: 'query.rollup_memory_mb', help: 'memory for rollups (5 min and 1 h partial aggregates of chunks that aligned queries use instead of decoding), least recently used out first; 0 = none', read: (c) => c.query.rollupMemoryMb, env: 'METRICS_ROLLUP_MEMORY_MB', apply: integer('query.rollup_memory_mb', 0, 1_048_576, (c, v) => { c.query.rollupMemoryMb = v; }) },
];

/** Every main.json key, for `emms serve --help`. */
export const CONFIG_KEYS: readonly string[] = SETTINGS.map((s) => s.key);
/** Every main.json key with its environment variable and help line (ending in its default). */
export const CONFIG_HELP: ReadonlyArray<{ key: string; env: string | undefined; help: string }> = SETTINGS.map(({ key, env, fallbackEnv, help, read }) => ({
  key, env: fallbackEnv === undefined ? env : `${env}, ${fallbackEnv}`, help: help.includes('(default') ? help : `${help} (default ${read(defaultConfig())})`,
}));

/**
 * `config` as a main.json file (`emms serve --print-config`): every setting of this file, and
 * the security section's plain settings (file names, never file contents). Loading the output
 * gives the same settings back, except database passwords: they print as `***`, and loading
 * that placeholder is refused until the real password is put back (or given in the
 * environment). The defaults are written nowhere else.
 */
export function renderConfigFile(config: EmmsConfig): string {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const value = s.read(config);
    if (value === undefined) continue;
    const path = s.key.split('.');
    let at: Record<string, unknown> = out;
    for (const name of path.slice(0, -1)) at = (at[name] ??= {}) as Record<string, unknown>;
    at[path[path.length - 1]!] = value;
  }
  out.security = renderSecuritySection(config.security);
  return `${JSON.stringify(out, null, 2)}\n`;
}

export interface ConfigFlags {
  host?: string;
  port?: string;
  /** Data directory: the database becomes `<data>/metrics.db`. */
  data?: string;
}

export interface LoadConfigOptions {
  /** Path of main.json; when absent no file is read. */
  configPath?: string;
  env?: Record<string, string | undefined>;
  flags?: ConfigFlags;
  /** Receives a line for each unknown main.json key (ignored, but probably a typo). */
  warn?: (message: string) => void;
}

export function loadConfig(options: LoadConfigOptions = {}): EmmsConfig {
  const config = defaultConfig();
  const env = options.env ?? process.env;
  if (options.configPath !== undefined) {
    applyFile(config, readConfigFile(options.configPath), options.configPath, options.warn ?? (() => undefined));
  }
  for (const s of SETTINGS) {
    if (s.env === undefined) continue;
    const name = env[s.env] === undefined || env[s.env] === '' ? s.fallbackEnv : s.env;
    const raw = name === undefined ? undefined : env[name];
    if (raw !== undefined && raw !== '') s.apply(config, raw, `environment ${name}`);
  }
  if (env.EMMS_AUTH !== undefined && env.EMMS_AUTH !== '') config.security.auth = parseAuthSwitch('security.auth', env.EMMS_AUTH, 'environment EMMS_AUTH');
  if (env.EMMS_ENCRYPTION_KEY_FILE !== undefined && env.EMMS_ENCRYPTION_KEY_FILE !== '') config.security.encryption.keyFile = env.EMMS_ENCRYPTION_KEY_FILE;
  if (env.METRICS_TRUSTED_PROXIES !== undefined && env.METRICS_TRUSTED_PROXIES !== '') config.security.trustedProxies = parseTrustedProxiesEnv(env.METRICS_TRUSTED_PROXIES, 'environment METRICS_TRUSTED_PROXIES');
  const flags = options.flags ?? {};
  if (flags.host !== undefined) settingFor('deployment.host').apply(config, flags.host, 'flag --host');
  if (flags.port !== undefined) settingFor('deployment.port').apply(config, flags.port, 'flag --port');
  if (flags.data !== undefined) {
    settingFor('storage.path').apply(config, flags.data, 'flag --data');
    config.storage.path = databasePathIn(flags.data);
  }
  checkStorageBackend(config.storage);
  if (config.security.auth === 'off' && !isLoopbackBind(config.host)) {
    throw new ConfigError('security.auth', 'off', 'config, environment EMMS_AUTH or flags', `may be off only on a loopback bind, and deployment.host=${config.host} accepts connections from other machines: every client there would be an administrator. Turn authentication on, or listen on 127.0.0.1`);
  }
  return config;
}

function settingFor(key: string): Setting {
  const s = SETTINGS.find((x) => x.key === key);
  if (s === undefined) throw new Error(`BUG: no setting ${key}`);
  return s;
}

function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('--config', path, 'flag --config', `cannot read the file: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ConfigError('--config', path, 'flag --config', `is not valid JSON: ${jsonErrorWithoutText(err as Error, text)}`);
  }
}

/**
 * V8's JSON errors quote the text around the fault (`Unexpected token 'c', ..."assword": cfg-…"...
 * is not valid JSON`), and that text may be a password of the file: only the kind of error and
 * its line and column are kept.
 */
function jsonErrorWithoutText(err: Error, text: string): string {
  const kind = /^(Unexpected end of JSON input|Unexpected token|Unexpected non-whitespace character|Expected [^']*?(?= in JSON| after|$)|Bad control character|Bad escaped character|Unterminated string)/.exec(err.message)?.[1] ?? 'syntax error';
  const position = /position (\d+)/.exec(err.message);
  const at = position === null ? firstSyntaxErrorOffset(text) : Number(position[1]);
  if (at === undefined) return kind;
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return `${kind} at line ${line}, column ${at - before.lastIndexOf('\n')}`;
}

/** Offset of the first character at which `text` stops being a valid JSON prefix (binary search), if found. */
function firstSyntaxErrorOffset(text: string): number | undefined {
  // A prefix that fails only for being cut short is still valid so far.
  const validSoFar = (n: number): boolean => {
    try {
      JSON.parse(text.slice(0, n));
      return true;
    } catch (e) {
      return /Unexpected end of JSON input|Unterminated string|Expected .* after/.test((e as Error).message) && !/Unexpected token/.test((e as Error).message);
    }
  };
  if (text.length > 1_000_000) return undefined;
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (validSoFar(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function applyFile(config: EmmsConfig, parsed: unknown, path: string, warn: (m: string) => void): void {
  const source = `config file ${path}`;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('(root)', parsed, source, 'must be a JSON object with deployment, collector, storage, monitoring sections');
  }
  const known = new Set(CONFIG_KEYS);
  for (const [section, body] of Object.entries(parsed as Record<string, unknown>)) {
    if (section === 'security') {
      applySecuritySection(config.security, body, source);
      continue;
    }
    if ((FEATURE_SECTIONS as readonly string[]).includes(section)) {
      config.featureSections[section as (typeof FEATURE_SECTIONS)[number]] = body;
      continue;
    }
    if (!CONFIG_KEYS.some((k) => k.startsWith(`${section}.`))) {
      warn(`${source}: ignoring unknown section ${section}`);
      continue;
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new ConfigError(section, body, source, 'must be an object');
    }
    for (const [name, raw] of Object.entries(body as Record<string, unknown>)) {
      if (section === 'collector' && FEATURE_COLLECTOR_KEYS.has(name)) {
        config.featureSections.collector[name] = raw;
        continue;
      }
      applyKey(config, `${section}.${name}`, raw, known, source, warn);
    }
  }
}

/** One key of the file; a sub-section such as `storage.postgres` is walked key by key. */
function applyKey(config: EmmsConfig, key: string, raw: unknown, known: ReadonlySet<string>, source: string, warn: (m: string) => void): void {
  if (known.has(key)) {
    settingFor(key).apply(config, raw, source);
    return;
  }
  if (!CONFIG_KEYS.some((k) => k.startsWith(`${key}.`))) {
    warn(`${source}: ignoring unknown setting ${key}`);
    return;
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new ConfigError(key, raw, source, 'must be an object');
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) applyKey(config, `${key}.${name}`, value, known, source, warn);
}
