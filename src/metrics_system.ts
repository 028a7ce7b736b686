/**
 * The engine: `MetricsSystem` (src/model/api.ts) over a storage back-end (SQLite by default,
 * PostgreSQL or Redis: src/storage/backends.ts). Wires ingest (batch validation, series
 * resolution, group commit), storage (StorageEngine) and queries (QueryEngine); owns their
 * lifecycle.
 *
 * Tenants: one engine serves every tenant of its database with one writer, one group commit
 * and one query pool (`EngineCore`); `forTenant()` hands out views that differ only in the
 * tenant whose series they resolve and select. A view per tenant rather than a tenant
 * argument on every call keeps the MetricsSystem contract the same for embedders and features.
 */
import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import type {
  AggregatedQuery, ColumnarSeries, LatestPoint, MetricsSystem, MetricsSystemOptions, QueryStats, RawQuery, SeriesResult, SeriesTable, StorageStats,
} from './model/api.js';
import { describeValue, type MetricDataPoint, type MetricType, type Tags } from './model/metric.js';
import { StorageEngine } from './storage/storage_engine.js';
import type { IngestBatch } from './storage/ingest_batch.js';
import { openBackend } from './storage/backends.js';
import { acquireWriterLease } from './cluster/writer_lease.js';
import type { Lease } from './cluster/lease.js';
import type { ClusterLeaseSettings } from './cluster/cluster_lease.js';
import type { PostgresStorageOptions, RangeFunctionQuery, RangeFunctionSeries, RedisStorageOptions, StorageType } from './model/api.js';
import { StoreMaintenance } from './storage/store_maintenance.js';
import type { MaintainableStorage } from './model/maintainable_storage.js';
import type { ChunkEncoding } from './storage/chunk_encoder.js';
import { SeriesResolver } from './ingest/series_resolver.js';
import { buildColumnarBatch, buildRowBatch } from './ingest/batch_builder.js';
import { GroupCommitter } from './ingest/group_commit.js';
import { ResolvedSeriesTable } from './ingest/resolved_series_table.js';
import { QueryEngine } from './query/query_engine.js';
import { TENANT_NAME_PATTERN } from './model/tenant.js';
import { DEFAULT_DATABASE_PATH } from './model/data_directory.js';

export { DEFAULT_DATABASE_PATH } from './model/data_directory.js';

/** Options after validation, with every default filled in. */
interface ResolvedOptions {
  onWriterLease: MetricsSystemOptions['onWriterLease'];
  advertiseUrl: string | undefined;
  storage: StorageType;
  postgres: PostgresStorageOptions | undefined;
  redis: RedisStorageOptions | undefined;
  path: string;
  tenant: string;
  queryWorkers: number;
  rollupMemoryBytes: number | undefined;
  retentionDays: number;
  durability: 'process' | 'full';
  seriesLimit: (tenant: string) => number;
  retentionDaysOf: ((tenant: string) => number) | undefined;
  compression: 'lz4' | 'none';
  anonymizeTags: MetricsSystemOptions['anonymizeTags'];
}

function optionError(field: string, value: unknown, rule: string): never {
  throw new RangeError(`options.${field}=${describeValue(value)} ${rule}`);
}

function resolveOptions(options: MetricsSystemOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) optionError('', options, 'must be an object');
  const storage = options.storage ?? 'sqlite';
  if (storage !== 'sqlite' && storage !== 'postgresql' && storage !== 'redis') optionError('storage', storage, "must be 'sqlite', 'postgresql' or 'redis'");
  const postgres = options.postgres;
  if (storage === 'postgresql' && (typeof postgres !== 'object' || postgres === null || typeof postgres.url !== 'string' || postgres.url.length === 0)) {
    optionError('postgres.url', postgres?.url === undefined ? undefined : '(redacted)', "must be a postgres:// URL when storage is 'postgresql'");
  }
  const redis = options.redis;
  if (storage === 'redis' && (typeof redis !== 'object' || redis === null || typeof redis.url !== 'string' || redis.url.length === 0)) {
    optionError('redis.url', redis?.url === undefined ? undefined : '(redacted)', "must be a redis:// URL when storage is 'redis'");
  }
  const path = options.path ?? DEFAULT_DATABASE_PATH;
  if (typeof path !== 'string' || path.length === 0) optionError('path', path, 'must be a non-empty file path');
  const tenant = options.tenant ?? 'default';
  if (typeof tenant !== 'string' || !TENANT_NAME_PATTERN.test(tenant)) optionError('tenant', tenant, `must match ${TENANT_NAME_PATTERN.source}`);
  const queryWorkers = options.queryWorkers ?? availableParallelism();
  if (!Number.isInteger(queryWorkers) || queryWorkers < 0 || queryWorkers > 256) optionError('queryWorkers', queryWorkers, 'must be an integer in [0, 256]');
  const rollupMemoryBytes = options.rollupMemoryBytes;
  if (rollupMemoryBytes !== undefined && (!Number.isInteger(rollupMemoryBytes) || rollupMemoryBytes < 0 || rollupMemoryBytes > 2 ** 40)) {
    optionError('rollupMemoryBytes', rollupMemoryBytes, 'must be an integer number of bytes in [0, 2^40] (0 = no rollups)');
  }
  const retentionDays = options.retentionDays ?? 0;
  if (typeof retentionDays !== 'number' || !Number.isFinite(retentionDays) || retentionDays < 0) {
    optionError('retentionDays', retentionDays, 'must be a non-negative number of days (0 = keep forever)');
  }
  const durability = options.durability ?? 'process';
  if (durability !== 'process' && durability !== 'full') optionError('durability', durability, "must be 'process' or 'full'");
  const seriesLimit = options.seriesLimit ?? (() => Infinity);
  if (typeof seriesLimit !== 'function') optionError('seriesLimit', seriesLimit, 'must be a function (tenant) => number');
  const retentionDaysOf = options.retentionDaysOf;
  if (retentionDaysOf !== undefined && typeof retentionDaysOf !== 'function') optionError('retentionDaysOf', retentionDaysOf, 'must be a function (tenant) => days');
  const compression = options.compression ?? 'lz4';
  if (compression !== 'lz4' && compression !== 'none') optionError('compression', compression, "must be 'lz4' or 'none'");
  const advertiseUrl = options.advertiseUrl;
  if (advertiseUrl !== undefined && (typeof advertiseUrl !== 'string' || !/^https?:\/\/\S+$/.test(advertiseUrl) || advertiseUrl.length > 512)) {
    optionError('advertiseUrl', advertiseUrl, 'must be an http:// or https:// URL of at most 512 characters');
  }
  const anonymizeTags = options.anonymizeTags;
  if (anonymizeTags !== undefined && typeof anonymizeTags !== 'function') optionError('anonymizeTags', anonymizeTags, 'must be a function (tenant) => tag rewrite or undefined');
  return { onWriterLease: options.onWriterLease, advertiseUrl, storage, postgres, redis, path: resolve(path), tenant, queryWorkers, rollupMemoryBytes, retentionDays, durability, seriesLimit, retentionDaysOf, compression, anonymizeTags };
}

/**
 * Internal sizes, exposed so tests can exercise cuts, checkpoints and worker fan-out with few
 * points. Production code leaves them at their defaults (see each constant's comment).
 */
export interface EngineTuning {
  /** HEAD_CUT_POINTS in src/storage/store_options.ts. */
  headCutPoints?: number;
  /** WAL_CHECKPOINT_BYTES in src/storage/store_options.ts. */
  walCheckpointBytes?: number;
  /** StoreOptions.headReserveBytes: `emms serve` maps head memory before it listens (storage.head_reserve_mb). */
  headReserveBytes?: number;
  /** WORKER_MIN_POINTS in src/query/query_engine.ts. */
  workerMinPoints?: number;
  /** RANGE_WORKER_MIN_POINTS in src/query/range_function_query.ts. */
  rangeWorkerMinPoints?: number;
  /** PAGE_SIZE_BYTES in src/storage/schema.ts (new files only; bench/storage_size.bench.ts compares). */
  pageSizeBytes?: number;
  /** Where chunks are encoded and merged (src/storage/chunk_encoder.ts): 'worker' (default) or 'inline'. */
  chunkEncoding?: ChunkEncoding;
  /** The writer lease's timing (src/cluster/): tests shorten the handover. */
  writerLeaseTiming?: Pick<ClusterLeaseSettings, 'postgresTiming' | 'redisTiming'>;
}

/** What every tenant view of one engine shares: the store and the parts built on it. */
class EngineCore {
  readonly views = new Map<string, EngineMetricsSystem>();
  store: StorageEngine | undefined;
  committer: GroupCommitter | undefined;
  queries: QueryEngine | undefined;
  /** A shared store's writer lease (PostgreSQL, Redis), held while running. */
  writerLease: Lease | undefined;
  /** One resolver per tenant (its caches are the tenant's), created on first ingest. */
  readonly resolvers = new Map<string, SeriesResolver>();
  starting: Promise<void> | undefined;
  stopping: Promise<void> | undefined;

  constructor(
    readonly options: ResolvedOptions,
    readonly tuning: EngineTuning,
  ) {}

  get running(): boolean {
    return this.store !== undefined && this.stopping === undefined;
  }

  async start(): Promise<void> {
    if (this.stopping !== undefined) await this.stopping;
    if (this.store !== undefined) return;
    this.starting ??= (async () => {
      const { storage, path, durability, postgres, redis } = this.options;
      // A shared store has one writer at a time: a standby waits here for the lease (and its
      // owner may forward requests to the writer meanwhile, src/server/standby/standby_forwarder.ts).
      const { advertiseUrl } = this.options;
      let advertised = advertiseUrl === undefined ? '' : ` and advertises ${advertiseUrl}`;
      const lease = storage === 'sqlite' ? undefined : await acquireWriterLease({ storage, postgres, redis, ...this.tuning.writerLeaseTiming }, {
        onWaiting: (writer) => this.options.onWriterLease?.('waiting', `another node writes ${storage}; waiting to take over`, writer),
        onAdvertiseFailed: (err) => {
          advertised = `, but publishing its address ${advertiseUrl} failed (standbys cannot forward to it): ${err.message}`;
        },
        onLost: (reason) => this.options.onWriterLease?.('lost', reason),
      }, advertiseUrl);
      if (lease !== undefined) this.options.onWriterLease?.('acquired', `this node writes ${storage}${advertised}`);
      let store: StorageEngine;
      try {
        const backend = await openBackend({ type: storage, path, durability, pageSizeBytes: this.tuning.pageSizeBytes, postgres, redis });
        store = await StorageEngine.open({
          backend, retentionDays: this.options.retentionDays, retentionDaysOf: this.options.retentionDaysOf, compression: this.options.compression,
          headCutPoints: this.tuning.headCutPoints, walCheckpointBytes: this.tuning.walCheckpointBytes, headReserveBytes: this.tuning.headReserveBytes,
          chunkEncoding: this.tuning.chunkEncoding, mayWrite: lease === undefined ? undefined : () => lease.held,
          rollupBudgetBytes: this.options.rollupMemoryBytes,
        });
      } catch (error) {
        await lease?.close();
        throw error;
      }
      this.writerLease = lease;
      this.resolvers.clear();
      this.committer = new GroupCommitter((batches: IngestBatch[]) => store.commit(batches));
      this.queries = new QueryEngine(store, {
        workers: this.options.queryWorkers, workerMinPoints: this.tuning.workerMinPoints, rangeWorkerMinPoints: this.tuning.rangeWorkerMinPoints,
      });
      this.store = store;
    })().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  async stop(): Promise<void> {
    if (this.store === undefined) return;
    this.stopping ??= (async () => {
      try {
        await this.committer!.flush();
        await this.queries!.close();
      } finally {
        // Even when a step fails the file is closed and its lock released: a later start()
        // recovers whatever the write-ahead records hold.
        try {
          await this.store!.close();
        } finally {
          await this.writerLease?.close();
          this.writerLease = undefined;
          this.store = undefined;
          this.resolvers.clear();
          this.committer = undefined;
          this.queries = undefined;
        }
      }
    })().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  partsFor(tenant: string): { store: StorageEngine; resolver: SeriesResolver; committer: GroupCommitter; queries: QueryEngine } {
    const store = this.store;
    if (store === undefined || this.stopping !== undefined) {
      throw new Error(`metrics system ${this.options.path} is not running; call start() first`);
    }
    let resolver = this.resolvers.get(tenant);
    if (resolver === undefined) {
      const limit = this.options.seriesLimit;
      resolver = new SeriesResolver(store.catalog.tenant(tenant), () => limit(tenant), this.options.anonymizeTags?.(tenant));
      this.resolvers.set(tenant, resolver);
    }
    return { store, resolver, committer: this.committer!, queries: this.queries! };
  }
}

export class EngineMetricsSystem implements MetricsSystem {
  readonly #core: EngineCore;
  readonly tenant: string;

  constructor(options: MetricsSystemOptions = {}, tuning: EngineTuning = {}, core?: EngineCore) {
    if (core !== undefined) {
      this.#core = core;
      this.tenant = options.tenant ?? core.options.tenant;
    } else {
      const resolved = resolveOptions(options);
      this.#core = new EngineCore(resolved, tuning);
      this.tenant = resolved.tenant;
    }
    this.#core.views.set(this.tenant, this);
  }

  forTenant(tenant: string): MetricsSystem {
    const known = this.#core.views.get(tenant);
    if (known !== undefined) return known;
    if (typeof tenant !== 'string' || !TENANT_NAME_PATTERN.test(tenant)) optionError('tenant', tenant, `must match ${TENANT_NAME_PATTERN.source}`);
    return new EngineMetricsSystem({ tenant }, this.#core.tuning, this.#core);
  }

  get running(): boolean {
    return this.#core.running;
  }

  get dataDirectory(): string {
    return dirname(this.#core.options.path);
  }

  /** Absolute path of the database file. */
  get databasePath(): string {
    return this.#core.options.path;
  }

  start(): Promise<void> {
    return this.#core.start();
  }

  /**
   * Resolves once background storage work (chunk encoding, checkpoint, compaction) is done.
   * Never needed for correctness: queries see pending points. For tests and benchmarks.
   */
  async settle(): Promise<void> {
    await this.#core.store?.settle();
  }

  stop(): Promise<void> {
    return this.#core.stop();
  }

  #running(): { store: StorageEngine; resolver: SeriesResolver; committer: GroupCommitter; queries: QueryEngine } {
    return this.#core.partsFor(this.tenant);
  }

  async collectMetric(point: MetricDataPoint): Promise<void> {
    await this.collectMetrics([point]);
  }

  async collectMetrics(points: readonly MetricDataPoint[]): Promise<{ accepted: number }> {
    const { resolver, committer } = this.#running();
    const batch = buildRowBatch(points, resolver, Date.now());
    if (batch.length > 0) await committer.submit(batch);
    return { accepted: batch.length };
  }

  async collectSeries(series: readonly ColumnarSeries[]): Promise<{ accepted: number }> {
    const { resolver, committer } = this.#running();
    const batch = buildColumnarBatch(series, resolver);
    if (batch.length > 0) await committer.submit(batch);
    return { accepted: batch.length };
  }

  /** The resolved ingest path (src/ingest/resolved_series_table.ts): what the server uses. */
  createSeriesTable(): SeriesTable {
    return new ResolvedSeriesTable(() => {
      const { store, resolver, committer } = this.#running();
      return { resolver, generation: store.catalog.generation, submit: (batch) => committer.submit(batch) };
    });
  }

  async queryMetrics(query: RawQuery): Promise<SeriesResult[]> {
    return (await this.#running().queries.raw(this.tenant, query)).series;
  }

  async queryAggregated(query: AggregatedQuery): Promise<SeriesResult[]> {
    return (await this.#running().queries.aggregated(this.tenant, query)).series;
  }

  async queryWithStats(query: RawQuery | AggregatedQuery): Promise<{ series: SeriesResult[]; stats: QueryStats }> {
    const { queries } = this.#running();
    const isAggregated = typeof query === 'object' && query !== null && ('aggregation' in query || 'interval' in query);
    return isAggregated ? queries.aggregated(this.tenant, query as AggregatedQuery) : queries.raw(this.tenant, query);
  }

  async latest(metricPattern: string, tags?: Tags, maxSeries?: number): Promise<LatestPoint[]> {
    return this.#running().queries.latest(this.tenant, metricPattern, tags, maxSeries);
  }

  async queryRangeFunction(query: RangeFunctionQuery): Promise<{ series: RangeFunctionSeries[]; pointsRead: number }> {
    return this.#running().queries.rangeFunction(this.tenant, query);
  }

  metricIds(): string[] {
    return this.#running().queries.metricIds(this.tenant);
  }

  async listSeries(metricPattern: string, tags?: Tags): Promise<Array<{ metricId: string; metricType: MetricType; tags: Tags }>> {
    return this.#running().queries.listSeries(this.tenant, metricPattern, tags);
  }

  stats(): StorageStats {
    return this.#running().store.stats();
  }

  /** The maintenance commands' view of the running store (src/maintenance/). */
  maintenance(): MaintainableStorage {
    return new StoreMaintenance(this.#running().store);
  }

  checkWritable(): Promise<void> {
    return this.#running().store.checkWritable();
  }
}
