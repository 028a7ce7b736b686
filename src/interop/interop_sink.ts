/**
 * Where the interoperability protocols (line protocol, remote write) put what they decoded:
 * the caller's tenant, charged to its `ingest_points_per_second` budget, stored as one batch
 * through the engine's resolved ingest path (a SeriesTable per tenant, series_numbering.ts).
 * `collect` resolves only once the batch is durable and refuses it whole on any bad point, so
 * a 2xx here means the same as an ack on the stream, and a refused request stores nothing.
 */
import { CollectSeriesTable } from '../ingest/collect_series_table.js';
import { IngestRateLimiter } from '../ingest/ingest_rate.js';
import type { MetricsSystem, SeriesIdentity, SeriesTable } from '../model/api.js';
import type { QuotaLookup } from '../tenancy/quota.js';
import type { LineSeriesEntry, SeriesNumbering } from './series_numbering.js';

/** Inflated-body cap when the app sets none: 4× the default body limit of 16 MiB. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;
/**
 * Series a tenant's numbering remembers before it starts over with a fresh table: bounds the
 * caches' memory (a few hundred bytes per series) against a client that invents series.
 */
export const MAX_NUMBERED_SERIES = 1_000_000;

export interface InteropLimits {
  /** Most points one request may carry (`collector.batch_size`). */
  maxPoints: number;
  /** Most bytes a compressed body may inflate to. */
  maxDecompressedBytes: number;
}

/** One tenant's SeriesTable and the caches that number series into it. */
class TenantNumbering implements SeriesNumbering {
  readonly lines = new Map<string, LineSeriesEntry>();
  readonly keyed = new Map<string, number>();
  constructor(readonly table: SeriesTable) {}

  add(identity: SeriesIdentity): number {
    return this.table.add(identity);
  }

  get size(): number {
    return this.table.size;
  }
}

export interface PointColumnsIn {
  seriesOf: Int32Array;
  timestamps: Float64Array;
  values: Float64Array;
}

export class InteropSink {
  readonly #engine: MetricsSystem;
  readonly #rate: IngestRateLimiter;
  readonly #tenants = new Map<string, TenantNumbering>();
  readonly limits: InteropLimits;
  /** Points stored through each protocol, for /metrics. */
  readonly pointsStored = { line_protocol: 0, remote_write: 0 };

  constructor(engine: MetricsSystem, quotas: QuotaLookup, limits: InteropLimits) {
    this.#engine = engine;
    // A budget of its own per tenant, next to the server's: see docs/ingest_protocols.md.
    this.#rate = new IngestRateLimiter(quotas);
    this.limits = limits;
  }

  /** The numbering to decode a request of `tenant` with (hand the result to store()). */
  numbering(tenant: string): SeriesNumbering {
    let n = this.#tenants.get(tenant);
    if (n === undefined || n.size > MAX_NUMBERED_SERIES) {
      const view = this.#engine.forTenant(tenant);
      n = new TenantNumbering(view.createSeriesTable !== undefined ? view.createSeriesTable() : new CollectSeriesTable(view));
      this.#tenants.set(tenant, n);
    }
    return n;
  }

  /**
   * Stores columns numbered by `numbering` for `tenant`; rejects whole (QuotaExceededError,
   * MetricValidationError). Takes ownership of the columns.
   */
  async store(tenant: string, numbering: SeriesNumbering, columns: PointColumnsIn, protocol: keyof InteropSink['pointsStored']): Promise<number> {
    const points = columns.seriesOf.length;
    if (points === 0) return 0;
    this.#rate.take(tenant, points);
    const { accepted } = await (numbering as TenantNumbering).table.collect(columns.seriesOf, columns.timestamps, columns.values);
    this.pointsStored[protocol] += accepted;
    return accepted;
  }
}
