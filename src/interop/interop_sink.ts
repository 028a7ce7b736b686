/**
 * Where the interoperability protocols (line protocol, remote write) put what they send: the
 * caller's tenant, charged to its `ingest_points_per_second` budget, stored as one batch.
 *
 * Decoding runs in the server's decode workers, as the native protocol's does: the route hands
 * the raw body to the decode pool with the protocol's codec (line_protocol_codec.ts,
 * remote_write_codec.ts; the pool loads them by the module URLs in INTEROP_CODECS), gets back
 * columns of (series number, timestamp, value) numbered in the tenant's table of that worker,
 * and stores them through the pool's mirror SeriesTable: the same main-thread series path as
 * a native payload's. The budget is the server's one IngestRateLimiter, so a tenant has one
 * bucket across every protocol.
 *
 * `store` resolves only once the batch is durable and refuses it whole on any bad point, so a
 * 2xx here means the same as an ack on the stream, and a refused request stores nothing.
 */
import { CollectSeriesTable } from '../ingest/collect_series_table.js';
import { DecodePool } from '../ingest/decode_pool.js';
import { IngestRateLimiter } from '../ingest/ingest_rate.js';
import type { CodecOptions } from '../ingest/protocol_codec.js';
import type { MetricsSystem } from '../model/api.js';
import type { QuotaLookup } from '../tenancy/quota.js';

/** Inflated-body cap when the app sets none: 4× the default body limit of 16 MiB. */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024;

export interface InteropLimits {
  /** Most points one request may carry (`collector.batch_size`). */
  maxPoints: number;
  /** Most bytes a compressed body may inflate to. */
  maxDecompressedBytes: number;
}

/** The protocols' decode-worker codecs, by the name requests use: module URLs for the pool. */
const fromSource = import.meta.url.endsWith('.ts');
export const INTEROP_CODECS: Readonly<Record<InteropProtocol, string>> = Object.freeze({
  line_protocol: new URL(`./line_protocol_codec.${fromSource ? 'ts' : 'js'}`, import.meta.url).href,
  remote_write: new URL(`./remote_write_codec.${fromSource ? 'ts' : 'js'}`, import.meta.url).href,
});

export type InteropProtocol = 'line_protocol' | 'remote_write';

/** The server's ingest machinery the sink shares (src/server/server.ts `ingest`). */
export interface IngestServices {
  /** Started, with INTEROP_CODECS among its codecs. */
  pool: DecodePool;
  rate: IngestRateLimiter;
}

/** A refusal by the protocol's decoder: status, message and where (`line`/`column`, `field`). */
export class InteropRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: Readonly<Record<string, string | number>>,
  ) {
    super(message);
    this.name = 'InteropRefusal';
  }
}

export interface InteropStored {
  accepted: number;
  /** The codec's own counts (skippedStringFields, skippedNonFinite). */
  counts: Record<string, number>;
}

export class InteropSink {
  readonly limits: InteropLimits;
  /** Points stored through each protocol, for /metrics. */
  readonly pointsStored: Record<InteropProtocol, number> = { line_protocol: 0, remote_write: 0 };
  #ingest: IngestServices | undefined;
  /** Embedded use and tests (no server): a pool decoding on the calling thread, and a bucket of its own. */
  #standalone: Promise<IngestServices> | undefined;
  readonly #engine: MetricsSystem;
  readonly #quotas: QuotaLookup;

  constructor(engine: MetricsSystem, quotas: QuotaLookup, limits: InteropLimits) {
    this.#engine = engine;
    this.#quotas = quotas;
    this.limits = limits;
  }

  /** From now on decode in `ingest.pool` and charge `ingest.rate` (the server's). */
  attach(ingest: IngestServices): void {
    this.#ingest = ingest;
  }

  #services(): IngestServices | Promise<IngestServices> {
    if (this.#ingest !== undefined) return this.#ingest;
    this.#standalone ??= (async () => {
      const pool = new DecodePool({
        threads: 0,
        maxPointsPerBatch: this.limits.maxPoints,
        customFrameNames: [],
        codecs: { ...INTEROP_CODECS },
        createSeriesTable: (tenant) => {
          const view = this.#engine.forTenant(tenant);
          return view.createSeriesTable !== undefined ? view.createSeriesTable() : new CollectSeriesTable(view);
        },
      });
      await pool.start();
      return { pool, rate: new IngestRateLimiter(this.#quotas) };
    })();
    return this.#standalone;
  }

  /**
   * Decodes `body` (transferred: the caller must not use it again) with `protocol`'s codec in
   * a decode worker and stores it whole for `tenant`. Throws InteropRefusal for the decoder's
   * refusals, QuotaExceededError and MetricValidationError (MetricTypeConflictError: 409) as
   * the native path does; nothing is stored then.
   */
  async store(tenant: string, protocol: InteropProtocol, body: Uint8Array, options: CodecOptions): Promise<InteropStored> {
    const { pool, rate } = await this.#services();
    // The worker gets the buffer itself: a view into a larger one is copied first.
    const owned = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength ? body : body.slice();
    const outcome = await pool.decodeWithCodec(pool.pickWorker(), owned, protocol, options, tenant);
    if (outcome.kind === 'refused') throw new InteropRefusal(outcome.status, outcome.error, outcome.details);
    if (outcome.points === 0) return { accepted: 0, counts: outcome.counts };
    rate.take(tenant, outcome.points);
    const { accepted } = await outcome.table.collect(outcome.seriesOf, outcome.timestamps, outcome.values);
    this.pointsStored[protocol] += accepted;
    return { accepted, counts: outcome.counts };
  }
}
