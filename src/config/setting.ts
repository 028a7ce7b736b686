/**
 * One server setting as config.ts and storage_settings.ts declare it: its main.json key, its
 * environment variable, its help line, how a raw value is validated onto the config, and how
 * the config's value is spelled back (for `--print-config` and `--help`). The validators here
 * throw a ConfigError naming the key, the value and the rule.
 */
import { ConfigError } from './config_error.js';

/** Applies a raw value (file, environment or flag) onto a config object, or throws ConfigError. */
export type Apply<C> = (config: C, raw: unknown, source: string) => void;

export interface Setting<C> {
  /** Dotted main.json key, e.g. `storage.retention_days` or `storage.postgres.pool_size`. */
  key: string;
  env?: string;
  /** Read when `env` is unset or empty (e.g. REDIS_URL behind METRICS_REDIS_URL). */
  fallbackEnv?: string;
  /** One line for `emms serve --help`; the default is appended from defaultConfig(). */
  help: string;
  apply: Apply<C>;
  /**
   * The setting's value in a config, as main.json spells it (for --print-config and help);
   * undefined leaves the key out. Secrets come back redacted.
   */
  read: (config: C) => string | number | undefined;
}

export function integer<C>(key: string, min: number, max: number, set: (c: C, v: number) => void): Apply<C> {
  return (config, raw, source) => {
    const n = typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? Number(raw) : raw;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(key, raw, source, `must be an integer in [${min}, ${max}]`);
    }
    set(config, n);
  };
}

export function oneOf<C, T extends string>(key: string, allowed: readonly T[], set: (c: C, v: T) => void): Apply<C> {
  return (config, raw, source) => {
    const v = typeof raw === 'string' ? raw.trim().toLowerCase() : raw;
    if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) {
      throw new ConfigError(key, raw, source, `must be one of ${allowed.join(', ')}`);
    }
    set(config, v as T);
  };
}

export function text<C>(key: string, set: (c: C, v: string) => void): Apply<C> {
  return (config, raw, source) => {
    if (typeof raw !== 'string' || raw.trim() === '') throw new ConfigError(key, raw, source, 'must be a non-empty string');
    set(config, raw);
  };
}
