/**
 * The collectors' settings in main.json's `collector` section (alongside the server's own
 * collector.* keys). Seconds in the file, milliseconds in code.
 *
 * ```json
 * "collector": {
 *   "system_interval": 30,
 *   "api_stats_interval": 15,
 *   "enhanced_interval": 5,
 *   "adaptive_sampling": { "enabled": true, "min_interval": 5, "max_interval": 120, "fast_change": 0.1, "flat_change": 0.01 }
 * }
 * ```
 */
import { describeValue } from '../model/metric.js';
import type { AdaptiveSamplingOptions } from './adaptive_interval.js';

export interface CollectorSettings {
  systemIntervalMs: number;
  apiStatsIntervalMs: number;
  enhancedIntervalMs: number;
  /** null: fixed intervals. */
  adaptive: AdaptiveSamplingOptions | null;
}

export const COLLECTOR_KEYS = ['system_interval', 'api_stats_interval', 'enhanced_interval', 'adaptive_sampling'] as const;

export class CollectorConfigError extends Error {
  constructor(readonly key: string, readonly value: unknown, rule: string) {
    super(`${key}=${describeValue(value)} ${rule}`);
    this.name = 'CollectorConfigError';
  }
}

function seconds(key: string, value: unknown, fallback: number, min = 0.01, max = 86_400): number {
  if (value === undefined) return fallback * 1000;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new CollectorConfigError(key, value, `must be a number of seconds in [${min}, ${max}]`);
  }
  return value * 1000;
}

function fraction(key: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new CollectorConfigError(key, value, 'must be a non-negative number');
  return value;
}

/** Reads the collectors' keys of the `collector` section; other keys (the server's) are left alone. */
export function parseCollectorSettings(section: unknown, path = 'collector'): CollectorSettings {
  const s = (typeof section === 'object' && section !== null && !Array.isArray(section) ? section : {}) as Record<string, unknown>;
  if (section !== undefined && s !== section) throw new CollectorConfigError(path, section, 'must be an object');
  const settings: CollectorSettings = {
    systemIntervalMs: seconds(`${path}.system_interval`, s.system_interval, 30),
    apiStatsIntervalMs: seconds(`${path}.api_stats_interval`, s.api_stats_interval, 15),
    enhancedIntervalMs: seconds(`${path}.enhanced_interval`, s.enhanced_interval, 5),
    adaptive: null,
  };
  const a = s.adaptive_sampling;
  if (a === undefined || a === false || a === null) return settings;
  const ap = `${path}.adaptive_sampling`;
  if (a === true) {
    settings.adaptive = { minMs: 5000, maxMs: 120_000 };
    return settings;
  }
  if (typeof a !== 'object' || Array.isArray(a)) throw new CollectorConfigError(ap, a, 'must be true, false or an object');
  const o = a as Record<string, unknown>;
  if (o.enabled !== undefined && typeof o.enabled !== 'boolean') throw new CollectorConfigError(`${ap}.enabled`, o.enabled, 'must be true or false');
  if (o.enabled === false) return settings;
  const minMs = seconds(`${ap}.min_interval`, o.min_interval, 5);
  const maxMs = seconds(`${ap}.max_interval`, o.max_interval, 120);
  if (maxMs < minMs) throw new CollectorConfigError(`${ap}.max_interval`, o.max_interval, `must be ≥ min_interval (${minMs / 1000})`);
  settings.adaptive = {
    minMs, maxMs,
    fastChange: fraction(`${ap}.fast_change`, o.fast_change, 0.1),
    flatChange: fraction(`${ap}.flat_change`, o.flat_change, 0.01),
  };
  return settings;
}
