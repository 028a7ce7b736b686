/**
 * Just enough of the engine for the key service's unit tests: points kept per series in write
 * order, one store per tenant (forTenant views share nothing but the data directory), and the
 * queries KeyService makes (latest, max grouped by key_id). The real engine is exercised by
 * tests/integration/keys_engine.test.ts.
 */
import type { AggregatedQuery, ColumnarSeries, LatestPoint, MetricsSystem, RawQuery, SeriesResult } from '../../src/model/api.js';
import { canonicalTags, type MetricDataPoint, type MetricType, type Tags } from '../../src/model/metric.js';
import { Glob } from '../../src/text/glob.js';

export interface MemorySeries { metricId: string; metricType: MetricType; tags: Tags; ts: number[]; vs: number[] }

export class MemorySystem implements Partial<MetricsSystem> {
  readonly series = new Map<string, MemorySeries>();
  failNext = false;
  readonly #views: Map<string, MemorySystem>;

  constructor(readonly dataDirectory: string, readonly tenant = 'default', views?: Map<string, MemorySystem>) {
    this.#views = views ?? new Map([[tenant, this]]);
  }

  /** The store of `tenant` (what forTenant hands the service), for assertions. */
  view(tenant: string): MemorySystem {
    let view = this.#views.get(tenant);
    if (view === undefined) this.#views.set(tenant, (view = new MemorySystem(this.dataDirectory, tenant, this.#views)));
    return view;
  }

  forTenant(tenant: string): MetricsSystem {
    return this.view(tenant).asSystem;
  }

  /** This engine as the contract type (the service only calls what is implemented here). */
  get asSystem(): MetricsSystem {
    return this as unknown as MetricsSystem;
  }

  async collectMetrics(points: readonly MetricDataPoint[]) {
    return this.collectSeries(points.map((p) => ({ metricId: p.metricId, metricType: p.metricType ?? 'gauge', tags: p.tags ?? {}, timestamps: [Number(p.timestamp ?? Date.now())], values: [p.value] })));
  }

  async collectSeries(list: readonly ColumnarSeries[]) {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('disk full');
    }
    let n = 0;
    for (const s of list) {
      const k = s.metricId + '|' + canonicalTags(s.tags ?? {});
      let e = this.series.get(k);
      if (e === undefined) this.series.set(k, (e = { metricId: s.metricId, metricType: (s.metricType ?? 'gauge') as MetricType, tags: { ...s.tags }, ts: [], vs: [] }));
      for (let i = 0; i < s.timestamps.length; i++) {
        e.ts.push(s.timestamps[i]!);
        e.vs.push(s.values[i]!);
        n++;
      }
    }
    return { accepted: n };
  }

  #match(pattern: string, tags?: Tags) {
    const glob = Glob.compile(pattern);
    return [...this.series.values()].filter((s) => glob.matches(s.metricId) && Object.entries(tags ?? {}).every(([k, v]) => s.tags[k] === v));
  }

  /** Like the engine: the point with the newest timestamp (not the last written). */
  async latest(pattern: string, tags?: Tags): Promise<LatestPoint[]> {
    return this.#match(pattern, tags).map((s) => {
      let i = 0;
      for (let j = 1; j < s.ts.length; j++) if (s.ts[j]! >= s.ts[i]!) i = j;
      return { metricId: s.metricId, metricType: s.metricType, tags: s.tags, timestamp: s.ts[i]!, value: s.vs[i]! };
    });
  }

  async queryMetrics(q: RawQuery): Promise<SeriesResult[]> {
    return this.#match(q.metricPattern, q.tags).map((s) => ({ metricId: s.metricId, metricType: s.metricType, tags: s.tags, timestamps: Float64Array.from(s.ts), values: Float64Array.from(s.vs) }));
  }

  /** Only what KeyService uses: `max` over all time, grouped by the given tag keys. */
  async queryAggregated(q: AggregatedQuery): Promise<SeriesResult[]> {
    const groups = new Map<string, { tags: Tags; max: number }>();
    for (const s of this.#match(q.metricPattern, q.tags)) {
      const tags: Tags = {};
      for (const g of q.groupBy ?? []) if (s.tags[g] !== undefined) tags[g] = s.tags[g]!;
      const k = canonicalTags(tags);
      const g = groups.get(k) ?? { tags, max: -Infinity };
      g.max = Math.max(g.max, ...s.vs);
      groups.set(k, g);
    }
    return [...groups.values()].map((g) => ({ metricId: q.metricPattern, metricType: 'counter', tags: g.tags, timestamps: Float64Array.of(0), values: Float64Array.of(g.max) }));
  }

  /** Newest value of one series by metric and key_id (the cumulative total). */
  lastValue(metricId: string, keyId: string): number | undefined {
    const s = [...this.series.values()].filter((x) => x.metricId === metricId && x.tags.key_id === keyId);
    if (s.length === 0) return undefined;
    return Math.max(...s.map((x) => x.vs.at(-1)!));
  }
}
