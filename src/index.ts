/**
 * EMMS — Enterprise Metrics Management System, embedded: a metrics engine in your process,
 * storing points in one SQLite file (or a PostgreSQL schema, or Redis keys: `storage`) with a
 * WebAssembly codec (≈1.1 bytes per point) and answering range and aggregation queries, with
 * no server.
 *
 * @example
 * ```ts
 * import { createMetricsSystem, MetricType } from 'emms';
 *
 * const ms = createMetricsSystem({ storage: 'sqlite', path: 'data/metrics.db' });
 * await ms.start();
 * await ms.collectMetric({
 *   metricId: 'crypto.key.access_count', value: 42, metricType: MetricType.COUNTER,
 *   tags: { key_type: 'encryption', algorithm: 'AES-256' }, timestamp: Date.now(),
 * });
 * await ms.collectMetrics(points);          // resolves when durable; a bad point refuses the batch
 * const raw = await ms.queryMetrics({ metricPattern: 'crypto.key.*', startTime: Date.now() - 3600_000 });
 * const hourly = await ms.queryAggregated({
 *   metricPattern: 'crypto.key.*', aggregation: 'avg', interval: '1h', groupBy: ['algorithm'],
 *   startTime: '2026-01-01T00:00:00Z', endTime: new Date(),
 * });
 * await ms.stop();                          // flushes; a later start() sees every point
 * ```
 *
 * Durability: a collect call resolves once its batch is committed to SQLite (write-ahead
 * record in WAL mode); a process killed right after loses none of it. Tags objects are cached
 * by identity for speed and re-checked on each use, so reusing and mutating them is safe.
 * One engine writes a database file at a time (a `<db>.lock` file guards it; getMetricsSystem
 * hands out the one instance per file). The WASM codec and aggregation kernels alone (no
 * SQLite) are the `emms/core` entry.
 */
import type { MetricsSystem, MetricsSystemOptions, StorageType } from './model/api.js';
import { EngineMetricsSystem } from './metrics_system.js';
import { DEFAULT_DATABASE_PATH } from './model/data_directory.js';
import { resolve } from 'node:path';

export { MetricType, MetricValidationError } from './model/metric.js';
export { AGGREGATIONS } from './model/api.js';
export { QueryLimitError } from './query/errors.js';
export { CorruptChunkError } from './storage/chunk_rows.js';
export { WriterLeaseLostError } from './storage/storage_errors.js';
export { ChunkDecodeError } from './core/codec.js';

export type {
  MetricsSystem, MetricsSystemOptions, RawQuery, AggregatedQuery, Aggregation, SeriesResult, QueryStats,
  ColumnarSeries, LatestPoint, StorageStats, TimeInput,
} from './model/api.js';
export type { MetricDataPoint, NormalizedPoint, Tags } from './model/metric.js';

/** A new engine instance; call `start()` before use. */
export function createMetricsSystem(options: MetricsSystemOptions = {}): MetricsSystem {
  return new EngineMetricsSystem(options);
}

const registry = new Map<string, MetricsSystem>();

/**
 * The process-wide engine for a store: one engine per SQLite file, PostgreSQL schema or Redis
 * key prefix (one writer per store), created on first use, and its view of `options.tenant`.
 * Start it before use; it may already be running. The engine's other options come from the
 * first call for that store.
 */
export function getMetricsSystem(storage: StorageType, options: Omit<MetricsSystemOptions, 'storage'> = {}): MetricsSystem {
  const where = storage === 'postgresql' ? `${options.postgres?.url}#${options.postgres?.schema ?? 'emms'}`
    : storage === 'redis' ? `${options.redis?.url}#${options.redis?.prefix ?? 'emms:'}`
      : resolve(options.path ?? DEFAULT_DATABASE_PATH);
  const key = `${storage}:${where}`;
  let system = registry.get(key);
  if (system === undefined) {
    system = createMetricsSystem({ ...options, storage });
    registry.set(key, system);
  }
  return system.forTenant(options.tenant ?? system.tenant);
}
