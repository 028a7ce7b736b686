/**
 * The engine as the server sees it when remote write out is configured: the same MetricsSystem,
 * except that every ingest call, once the engine has made its batch durable and before it
 * resolves (so before the client is acknowledged), hands the batch's series to the forwarder's
 * durable queue. That ordering is what makes forwarding at-least-once for acknowledged data: a
 * crash between the two leaves the batch unacknowledged and the client resends it.
 *
 * Every ingest path of the server goes through here: the stream and POST /api/v1/metrics (via
 * createSeriesTable), line protocol and remote write in (collectSeries). EMMS's own collectors,
 * key events and alert bookkeeping write to the engine directly and are not forwarded.
 *
 * With security.anonymize rules, the forwarder (and so its durable queue file) gets the tags as
 * the engine stores them, rewritten by the same per-tenant function, after the engine accepted
 * the batch (so the rewrite only ever sees validated tags): raw values never reach the queue.
 * Series that the rules merge are merged here too (rows), or sent as separate series with
 * equal labels (the columnar paths), which a receiver treats as one series.
 *
 * Cost, only when forwarding is on: the resolved path's three columns are copied before the
 * engine takes ownership of them, and each batch is encoded and fsynced once more.
 */
import type { ColumnarSeries, MetricsSystem, SeriesIdentity, SeriesTable } from '../model/api.js';
import { EMPTY_TAGS, type MetricDataPoint, type Tags } from '../model/metric.js';
import type { ForwardedSeries } from './remote_write_forwarder.js';

export type ForwardSink = (tenant: string, series: readonly ForwardedSeries[]) => void;
/** A tenant's tag rewrite (MetricsSystemOptions.anonymizeTags). */
export type TagRewriteOf = (tenant: string) => ((tags: Tags) => Tags) | undefined;

function canonicalKey(metricId: string, tags: Tags): string {
  return `${metricId}\u0000${Object.keys(tags).sort().map((k) => `${k}=${tags[k]}`).join('\u0000')}`;
}

function forwardRows(points: readonly MetricDataPoint[], nowMs: number, rewrite: ((tags: Tags) => Tags) | undefined): ForwardedSeries[] {
  const bySeries = new Map<string, { metricId: string; tags: Tags; timestamps: number[]; values: number[] }>();
  for (const p of points) {
    const tags = rewrite === undefined ? p.tags ?? EMPTY_TAGS : rewrite(p.tags ?? EMPTY_TAGS);
    const key = canonicalKey(p.metricId, tags);
    let s = bySeries.get(key);
    if (s === undefined) bySeries.set(key, (s = { metricId: p.metricId, tags, timestamps: [], values: [] }));
    s.timestamps.push(p.timestamp === undefined ? nowMs : p.timestamp instanceof Date ? p.timestamp.getTime() : p.timestamp);
    s.values.push(p.value);
  }
  return [...bySeries.values()];
}

function forwardColumns(series: readonly ColumnarSeries[], rewrite: ((tags: Tags) => Tags) | undefined): ForwardedSeries[] {
  return series.map((s) => ({ metricId: s.metricId, tags: rewrite === undefined ? s.tags ?? EMPTY_TAGS : rewrite(s.tags ?? EMPTY_TAGS), timestamps: s.timestamps, values: s.values }));
}

class ForwardingSeriesTable implements SeriesTable {
  readonly #inner: SeriesTable;
  readonly #identities: SeriesIdentity[] = [];
  readonly #tenant: string;
  readonly #sink: ForwardSink;
  readonly #rewrite: ((tags: Tags) => Tags) | undefined;
  /** Rewritten tags per series number, filled once the engine accepted a batch using it. */
  readonly #stored: Array<Tags | undefined> = [];

  constructor(inner: SeriesTable, tenant: string, sink: ForwardSink, rewrite: ((tags: Tags) => Tags) | undefined) {
    this.#inner = inner;
    this.#tenant = tenant;
    this.#sink = sink;
    this.#rewrite = rewrite;
  }

  get size(): number {
    return this.#inner.size;
  }

  add(series: SeriesIdentity): number {
    this.#identities.push(series);
    return this.#inner.add(series);
  }

  async collect(seriesOf: Int32Array, timestamps: Float64Array, values: Float64Array): Promise<{ accepted: number }> {
    const ids = seriesOf.slice();
    const ts = timestamps.slice();
    const vs = values.slice();
    const result = await this.#inner.collect(seriesOf, timestamps, values);
    const bySeries = new Map<number, { timestamps: number[]; values: number[] }>();
    for (let i = 0; i < ids.length; i++) {
      let s = bySeries.get(ids[i]!);
      if (s === undefined) bySeries.set(ids[i]!, (s = { timestamps: [], values: [] }));
      s.timestamps.push(ts[i]!);
      s.values.push(vs[i]!);
    }
    const out: ForwardedSeries[] = [];
    for (const [n, s] of bySeries) {
      const identity = this.#identities[n]!;
      let tags = identity.tags ?? EMPTY_TAGS;
      if (this.#rewrite !== undefined) tags = this.#stored[n] ??= this.#rewrite(tags);
      out.push({ metricId: identity.metricId, tags, ...s });
    }
    this.#sink(this.#tenant, out);
    return result;
  }
}

/** `engine` with every acknowledged ingest batch also handed to `sink` (see the module comment). */
export function forwardingEngine(engine: MetricsSystem, sink: ForwardSink, anonymizeTags?: TagRewriteOf): MetricsSystem {
  const views = new Map<string, MetricsSystem>();
  const wrap = (view: MetricsSystem): MetricsSystem => {
    const tenant = view.tenant;
    const cached = views.get(tenant);
    if (cached !== undefined) return cached;
    const rewrite = anonymizeTags?.(tenant);
    const wrapped: MetricsSystem = Object.create(null) as MetricsSystem;
    const delegate = new Proxy(wrapped, {
      get(_target, prop) {
        switch (prop) {
          case 'forTenant':
            return (t: string) => wrap(view.forTenant(t));
          case 'collectMetric':
            return async (point: MetricDataPoint) => {
              const now = Date.now();
              await view.collectMetric(point);
              sink(tenant, forwardRows([point], now, rewrite));
            };
          case 'collectMetrics':
            return async (points: readonly MetricDataPoint[]) => {
              const now = Date.now();
              const r = await view.collectMetrics(points);
              sink(tenant, forwardRows(points, now, rewrite));
              return r;
            };
          case 'collectSeries':
            return async (series: readonly ColumnarSeries[]) => {
              const r = await view.collectSeries(series);
              sink(tenant, forwardColumns(series, rewrite));
              return r;
            };
          case 'createSeriesTable':
            return view.createSeriesTable === undefined ? undefined : () => new ForwardingSeriesTable(view.createSeriesTable!(), tenant, sink, rewrite);
          default: {
            const value = Reflect.get(view, prop, view) as unknown;
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(view) : value;
          }
        }
      },
    });
    views.set(tenant, delegate);
    return delegate;
  };
  return wrap(engine);
}
