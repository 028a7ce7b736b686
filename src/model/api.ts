/**
 * The embedded engine's contract: what `createMetricsSystem()` returns. Every feature
 * (server, analytics, alerts, keys, collectors) talks to storage only through this.
 *
 * Lifecycle: `start()` once (opens the database, replays the write-ahead records), then any
 * number of concurrent calls, then `stop()` (flushes every head into chunks, checkpoints and
 * closes). A stopped system can be started again.
 */
import { MetricValidationError, describeValue, type MetricDataPoint, type MetricType, type Tags } from './metric.js';
import type { MaintainableStorage } from './maintainable_storage.js';

export type TimeInput = number | Date | string;

export type Aggregation =
  | 'count' | 'sum' | 'min' | 'max' | 'first' | 'last' | 'avg' | 'stddev'
  | 'p50' | 'p90' | 'p95' | 'p99' | 'rate';

export const AGGREGATIONS: readonly Aggregation[] = [
  'count', 'sum', 'min', 'max', 'first', 'last', 'avg', 'stddev', 'p50', 'p90', 'p95', 'p99', 'rate',
];

/** `value` as an Aggregation; throws MetricValidationError (field `aggregation`) naming it. The one check, for every API. */
export function parseAggregation(value: unknown): Aggregation {
  if (typeof value !== 'string' || !(AGGREGATIONS as readonly string[]).includes(value)) {
    throw new MetricValidationError(`aggregation=${describeValue(value)} must be one of ${AGGREGATIONS.join(', ')}`, -1, 'aggregation', value);
  }
  return value as Aggregation;
}

/** Percentile aggregations: the ones `percentileAccuracy` may approximate. */
export const PERCENTILE_AGGREGATIONS: readonly Aggregation[] = ['p50', 'p90', 'p95', 'p99'];

/**
 * The relative accuracy α of every percentile sketch the engine builds (src/core/ddsketch.ts):
 * one α for rollups and raw points alike, so they merge into one estimate. A query asking for
 * any accuracy ≥ this is answered at this one (tighter than asked), and says so.
 */
export const PERCENTILE_SKETCH_ACCURACY = 0.01;

/** How an approximate percentile answer was computed, stated in the response. */
export interface PercentileMethod {
  method: 'ddsketch';
  /** α: see docs/format/aggregation.md, "Approximate percentiles", for the bound's exact meaning. */
  relativeError: number;
}

/**
 * `percentileAccuracy` of an aggregated query: undefined (the exact path) or the relative
 * error the client accepts, in [PERCENTILE_SKETCH_ACCURACY, 1), for a percentile aggregation
 * only; throws MetricValidationError (field `percentileAccuracy`) naming the value.
 */
export function parsePercentileAccuracy(value: unknown, aggregation: Aggregation): number | undefined {
  if (value === undefined || value === null) return undefined;
  const field = 'percentileAccuracy';
  if (typeof value !== 'number' || !(value >= PERCENTILE_SKETCH_ACCURACY && value < 1)) {
    throw new MetricValidationError(
      `${field}=${describeValue(value)} must be a number in [${PERCENTILE_SKETCH_ACCURACY}, 1): the relative error accepted ` +
      `(answers use sketches of relative error ${PERCENTILE_SKETCH_ACCURACY})`, -1, field, value,
    );
  }
  if (!PERCENTILE_AGGREGATIONS.includes(aggregation)) {
    throw new MetricValidationError(
      `${field}=${describeValue(value)} applies to ${PERCENTILE_AGGREGATIONS.join(', ')} only, not aggregation=${aggregation}`, -1, field, value,
    );
  }
  return value;
}

/** PostgreSQL back-end (src/storage/postgres/): one database shared by any number of EMMS nodes. */
export interface PostgresStorageOptions {
  /** `postgres://user:password@host:port/database`; the password never appears in messages. */
  url: string;
  /** Connections of the writer's pool. Default 4. */
  poolSize?: number;
  /** Longest one statement may run, ms. Default 30,000. */
  statementTimeoutMs?: number;
  /** Schema holding EMMS's tables (created if missing). Default `emms`. */
  schema?: string;
}

/** Redis back-end (src/storage/redis/). */
export interface RedisStorageOptions {
  /** `redis://[:password@]host:port[/db]`; the password never appears in messages. */
  url: string;
  /** Prefix of every key EMMS writes. Default `emms:`. */
  prefix?: string;
  /**
   * The least durability the server must be configured for, checked at open (CONFIG GET):
   * `always` (default) needs appendonly yes + appendfsync always, so an acknowledged point
   * survives a killed Redis and a power loss; `everysec` also accepts appendfsync everysec (a
   * power loss can lose the last ~2 s) and a server whose CONFIG command is disabled.
   */
  durability?: 'always' | 'everysec';
}

export type StorageType = 'sqlite' | 'postgresql' | 'redis';

export interface MetricsSystemOptions {
  /** Which back-end holds the data. Default `sqlite` (the file at `path`). */
  storage?: StorageType;
  /** Required when storage is `postgresql`. */
  postgres?: PostgresStorageOptions;
  /** Required when storage is `redis`. */
  redis?: RedisStorageOptions;
  /**
   * PostgreSQL and Redis stores have one writing node at a time (the writer lease,
   * src/cluster/writer_lease.ts); start() waits while another node holds it. Called with
   * `waiting` when start() begins to wait (with `writer`, which tells where the current writer
   * can be reached, for a standby that forwards to it), with `acquired` once this node holds the
   * lease (before it opens the store: stop forwarding then), and with `lost` when this node lost
   * the lease: it writes nothing more, and its owner should stop it.
   */
  onWriterLease?: (event: 'waiting' | 'acquired' | 'lost', detail: string, writer?: { writerAddress(): Promise<string | undefined> }) => void;
  /**
   * With a PostgreSQL or Redis store: the URL other nodes reach this node's server at, published
   * next to the writer lease while this node writes (standbys forward requests to it).
   */
  advertiseUrl?: string;
  /**
   * SQLite database file; its directory is created if missing. Default `data/metrics.db`.
   * With another back-end, its directory still holds the node's own files (keys, alerts, audit).
   */
  path?: string;
  /** Tenant of every series written or read through this instance (see forTenant). Default `default`. */
  tenant?: string;
  /**
   * The active-series quota of a tenant: a batch that would create more series than this is
   * refused whole with QuotaExceededError (src/tenancy/quota.ts). Default: no limit.
   */
  seriesLimit?: (tenant: string) => number;
  /** Worker threads for large queries; default: number of CPUs. 0 runs every query inline. */
  queryWorkers?: number;
  /**
   * Memory for rollups (partial aggregates of chunks at 5 min and 1 h, src/storage/rollup/), in bytes;
   * default 64 MiB, 0 = none (every query decodes).
   */
  rollupMemoryBytes?: number;
  /** Drop chunks whose newest point is older than this many days (0 = keep forever). */
  retentionDays?: number;
  /** `lz4` (default): write-ahead records are lz4-compressed where it pays; `none` spares the CPU. */
  compression?: 'lz4' | 'none';
  /** A tenant's own retention in days (0 = keep forever), read once per retention pass; default `retentionDays`. */
  retentionDaysOf?: (tenant: string) => number;
  /**
   * A tenant's tag rewrite (security.anonymize, src/anonymize/), applied when a tag set is first
   * seen, before its series is looked up or created: stored series carry only its output, and
   * tag sets it maps to the same output are one series. undefined: tags are stored as sent.
   */
  anonymizeTags?: (tenant: string) => ((tags: Tags) => Tags) | undefined;
  /**
   * `process` (default): an acknowledged batch survives the process being killed (SIGKILL,
   * crash); `full` also survives power loss, at the cost of an fsync per group commit.
   */
  durability?: 'process' | 'full';
}

export interface RawQuery {
  /** Glob over metric ids: `*` any run of characters, `?` one character. */
  metricPattern: string;
  /** Inclusive. Date, epoch ms or ISO-8601 string. Default 0. */
  startTime?: TimeInput;
  /** Exclusive. Default now. */
  endTime?: TimeInput;
  /** Exact tag filters; every key must be present with this value. */
  tags?: Tags;
  /** Refuse (QueryLimitError) when more series than this match. */
  maxSeries?: number;
  /** Refuse (QueryLimitError) when more raw points than this would be returned. */
  maxPoints?: number;
}

export interface AggregatedQuery extends RawQuery {
  aggregation: Aggregation;
  /** `30s`, `5m`, `1h`, `1d`, `1w` …; buckets aligned to the Unix epoch. */
  interval: string;
  /** Tag keys to merge series by; `[]` merges every selected series into one. */
  groupBy?: string[];
  /**
   * Opt-in approximation of p50/p90/p95/p99: the relative error accepted (parsePercentileAccuracy).
   * Without it percentiles are exact. With it they come from DDSketches merged from rollups
   * and raw points, and stats.percentile states the method and bound.
   */
  percentileAccuracy?: number;
}

/**
 * A PromQL range function (`rate`, `avg_over_time` … of src/query/range_window_functions.ts) of each
 * selected series at every step, evaluated where the points are read (query workers for large
 * selections): only the step values come back. See QueryEngine.rangeFunction.
 */
export interface RangeFunctionQuery {
  /** Exact metric ids (not globs), read in this order. */
  metricIds: readonly string[];
  /** Exact tag filters, as RawQuery's. */
  tags?: Tags | undefined;
  /** Further selection, asked once per candidate series, in order. */
  accept(metricId: string, tags: Tags): boolean;
  /** Points read: [startMs, endMs). */
  startMs: number;
  endMs: number;
  /** Refuse (QueryLimitError) past this many accepted series, or points read over all of them. */
  maxSeries: number;
  maxPoints: number;
  /** The function's name, its evaluation times (epoch ms, ascending), range, offset and per-step parameter. */
  func: string;
  stepsMs: Float64Array;
  rangeMs: number;
  offsetMs: number;
  param: Float64Array | undefined;
}

/** One series' result: a value and a presence flag per step (at least one present). */
export interface RangeFunctionSeries {
  metricId: string;
  tags: Tags;
  values: Float64Array;
  present: Uint8Array;
}

export interface SeriesResult {
  metricId: string;
  metricType: MetricType;
  tags: Tags;
  /** Epoch ms, ascending. For aggregates: bucket starts of non-empty buckets. */
  timestamps: Float64Array;
  values: Float64Array;
}

export interface QueryStats {
  series: number;
  pointsScanned: number;
  elapsedMs: number;
  /** Only for approximated percentiles: how they were computed. */
  percentile?: PercentileMethod;
}

/** A series given as columns: the fast ingest path for many points of one series. */
export interface ColumnarSeries {
  metricId: string;
  metricType?: MetricType | `${MetricType}`;
  tags?: Tags;
  timestamps: Float64Array | number[];
  values: Float64Array | number[];
}

/** The identity of a series: what `SeriesTable.add` takes. */
export interface SeriesIdentity {
  metricId: string;
  metricType?: MetricType | `${MetricType}`;
  tags?: Tags;
}

/**
 * The resolved ingest path, for callers that see the same series over and over (the server's
 * decode workers): the caller numbers its series 0, 1, 2 … in the order it adds them, then sends
 * points as (series number, timestamp, value) columns. Each series is validated and looked up
 * once, the first time a batch uses it; after that a point costs an array lookup, no object
 * and no key.
 *
 * Lifecycle: `add()` identities (never throws; validation happens when a batch first uses
 * one), `collect()` any number of times. A table is bound to one engine and stays valid across
 * its stop()/start() (ids are re-resolved after a restart).
 */
export interface SeriesTable {
  /** Appends a series; returns its number (the count of series added before it). */
  add(series: SeriesIdentity): number;
  /** Series added so far. */
  readonly size: number;
  /**
   * Same validation, all-or-nothing refusal and durability as collectMetrics (errors name
   * `points[i]` and the field, with the value); point i is (seriesOf[i], timestamps[i],
   * values[i]). Takes ownership of the three arrays: the caller must not touch them again.
   */
  collect(seriesOf: Int32Array, timestamps: Float64Array, values: Float64Array): Promise<{ accepted: number }>;
}

/** A stored series and its newest point (for /federate, key gauges, alert evaluation). */
export interface LatestPoint {
  metricId: string;
  metricType: MetricType;
  tags: Tags;
  timestamp: number;
  value: number;
}

export interface StorageStats {
  series: number;
  chunks: number;
  /** Points held in heads, not yet cut into chunks. */
  headPoints: number;
  /** Bytes of write-ahead records not yet checkpointed into chunks. */
  walBytes: number;
  pointsIngested: number;
  batchesIngested: number;
  /** Size of every file of the database (main, -wal, -shm) in bytes. */
  diskBytes: number;
  /** Background work of the storage engine (absent for engines without any). */
  maintenance?: StorageMaintenance;
  /** Rollups held in memory and how queries used them (src/storage/rollup/rollup_store.ts). */
  rollups?: RollupUsage;
}

/** Rollup memory and use since start. */
export interface RollupUsage {
  bytes: number;
  budgetBytes: number;
  /** Chunks with rollups held. */
  chunks: number;
  /** Chunks queries answered from rollups. */
  hits: number;
  /** Chunks queries could have answered from rollups but decoded (none held yet). */
  misses: number;
  built: number;
  evicted: number;
}

export interface StorageMaintenance {
  /** Cut heads whose chunks are being encoded or wait to be committed. */
  pendingCuts: number;
  /** Points those cuts hold in memory. */
  pendingCutPoints: number;
  /** Cuts the writer thread encoded itself because the encoder thread had fallen behind. */
  cutsEncodedByWriter: number;
  checkpointRunning: boolean;
  compactionRunning: boolean;
  /** Tasks the chunk encoder thread failed (their work was redone on the writer thread or skipped). */
  encoderFailures: number;
  /** Background steps SQLite refused; the engine rebuilt its state from the file each time. */
  failures: number;
  /** The latest such error, or the SQLite WAL checkpointer's latest error. */
  lastError?: string | undefined;
  /**
   * Settling after ingest goes quiet (src/storage/settle_policy.ts): true when ingest is quiet
   * and no head, write-ahead record or compaction is left for settling to do.
   */
  settled?: boolean;
  /** When settling last finished its compaction (ms since the epoch), if ever. */
  lastSettledAtMs?: number | undefined;
  /** Heads settling would cut: now, or once their series have been idle long enough. */
  headsToSettle?: number;
  /** Memory holding head points and pending cuts' points. */
  headBytes?: number;
  /** Age of the oldest write-ahead record (0 when there is none). */
  walOldestAgeMs?: number;
  /** Series a compaction still has to look at (the running one's rest, and those cut since the last settle). */
  compactionBacklog?: number;
  /** Points committed per second over the settle policy's quiet window. */
  recentPointsPerSecond?: number;
}

export interface MetricsSystem {
  start(): Promise<void>;
  stop(): Promise<void>;
  readonly running: boolean;
  /** The tenant this instance reads and writes: `default`, the `tenant` option, or forTenant's. */
  readonly tenant: string;
  /**
   * The same engine bound to another tenant: it shares the database, the writer and the query
   * workers, and every read and write goes to that tenant's series only. Views are cached (one
   * per tenant) and cheap; start()/stop() on a view start and stop the whole engine. stats()
   * and checkWritable() describe the whole engine. Throws RangeError for a name outside
   * TENANT_NAME_PATTERN (src/http/route.ts).
   */
  forTenant(tenant: string): MetricsSystem;
  /**
   * Folder of the database file. Features keep their own state (alerts, keys, health
   * targets) in their own SQLite files here, so they never contend with the ingest writer.
   */
  readonly dataDirectory: string;

  /** Resolves when the point is durable. */
  collectMetric(point: MetricDataPoint): Promise<void>;
  /** Resolves when the whole batch is durable; rejects whole (nothing stored) on any bad point. */
  collectMetrics(points: readonly MetricDataPoint[]): Promise<{ accepted: number }>;
  /** Columnar form of collectMetrics: same validation and durability. */
  collectSeries(series: readonly ColumnarSeries[]): Promise<{ accepted: number }>;

  queryMetrics(query: RawQuery): Promise<SeriesResult[]>;
  queryAggregated(query: AggregatedQuery): Promise<SeriesResult[]>;
  /** Same as the two above, with statistics for the HTTP API. */
  queryWithStats(query: RawQuery | AggregatedQuery): Promise<{ series: SeriesResult[]; stats: QueryStats }>;

  /** Newest point of every series matching the glob (and tags); QueryLimitError past `maxSeries`. */
  latest(metricPattern: string, tags?: Tags, maxSeries?: number): Promise<LatestPoint[]>;
  /** Optional fast path (the embedded engine has it): RangeFunctionQuery; `pointsRead` counts the points the series held. */
  queryRangeFunction?(query: RangeFunctionQuery): Promise<{ series: RangeFunctionSeries[]; pointsRead: number }>;
  /** Distinct metric ids of this tenant's series (the Prometheus API's name map); absent for engines without it. */
  metricIds?(): string[];
  /** Series matching the glob (and tags), without points. */
  listSeries(metricPattern: string, tags?: Tags): Promise<Array<{ metricId: string; metricType: MetricType; tags: Tags }>>;

  stats(): StorageStats;
  /** Rejects when the back-end cannot be written (used by GET /health): a real one-row write. */
  checkWritable(): Promise<void>;

  /** Optional fast path (the embedded engine has it): see SeriesTable. */
  createSeriesTable?(): SeriesTable;
  /** Backup, cleanup, compaction and reindexing of the store (src/maintenance/); absent for engines without them. */
  maintenance?(): MaintainableStorage;
}
