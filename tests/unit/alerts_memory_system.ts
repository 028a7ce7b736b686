/**
 * A small in-memory MetricsSystem for the alerting's unit tests and benchmark: the subset of
 * the contract rule evaluation reads (latest, queryMetrics, listSeries) over plain arrays,
 * plus collectMetrics to feed it. Globs follow the contract: `*` any run, `?` one character.
 *
 * Tenants are isolated as the engine isolates them: `forTenant(t)` returns a view (cached, one
 * per tenant) over that tenant's series only; `add`, `latest` and the queries of a view never
 * see another tenant's series. The instance created by the constructor is tenant `default`.
 */
import type { AggregatedQuery, LatestPoint, MetricsSystem, RawQuery, SeriesResult, StorageStats } from '../../src/model/api.js';
import { canonicalTags, type MetricDataPoint, type MetricType, type Tags } from '../../src/model/metric.js';

interface MemSeries {
  metricId: string;
  metricType: MetricType;
  tags: Tags;
  ts: number[];
  vs: number[];
}

function globRegex(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

function tagsMatch(tags: Tags, filter: Tags | undefined): boolean {
  if (!filter) return true;
  for (const k in filter) if (tags[k] !== filter[k]) return false;
  return true;
}

function toMs(t: unknown, fallback: number): number {
  if (t === undefined) return fallback;
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'string') return Date.parse(t);
  return t as number;
}

interface TenantData {
  readonly series: Map<string, MemSeries>;
  /** Series per metric id, so a literal glob (the alerting's per-metric raw queries) is a lookup. */
  readonly byMetric: Map<string, MemSeries[]>;
}

export class MemoryMetricsSystem implements MetricsSystem {
  readonly series: Map<string, MemSeries>;
  readonly #byMetric: Map<string, MemSeries[]>;
  /** Every tenant's data and view, shared by all views of one system. */
  readonly #tenants: Map<string, { data: TenantData; view?: MemoryMetricsSystem }>;
  running = true;
  latestCalls = 0;
  queryCalls = 0;

  constructor(
    readonly dataDirectory: string,
    readonly tenant: string = 'default',
    tenants?: Map<string, { data: TenantData; view?: MemoryMetricsSystem }>,
  ) {
    this.#tenants = tenants ?? new Map();
    let entry = this.#tenants.get(tenant);
    if (!entry) this.#tenants.set(tenant, (entry = { data: { series: new Map(), byMetric: new Map() } }));
    entry.view ??= this;
    this.series = entry.data.series;
    this.#byMetric = entry.data.byMetric;
  }

  /** The view of `tenant`: the same object for the same tenant, so tests can patch it. */
  forTenant(tenant: string): MemoryMetricsSystem {
    return this.#tenants.get(tenant)?.view ?? new MemoryMetricsSystem(this.dataDirectory, tenant, this.#tenants);
  }

  async start(): Promise<void> { this.running = true; }
  async stop(): Promise<void> { this.running = false; }

  add(metricId: string, tags: Tags, timestamp: number, value: number, metricType: MetricType = 'gauge'): void {
    const key = metricId + '\u0000' + canonicalTags(tags);
    let s = this.series.get(key);
    if (!s) {
      this.series.set(key, (s = { metricId, metricType, tags: { ...tags }, ts: [], vs: [] }));
      const list = this.#byMetric.get(metricId);
      if (list) list.push(s);
      else this.#byMetric.set(metricId, [s]);
    }
    // Keep points sorted; tests append in order almost always.
    let i = s.ts.length;
    while (i > 0 && s.ts[i - 1]! > timestamp) i--;
    s.ts.splice(i, 0, timestamp);
    s.vs.splice(i, 0, value);
  }

  async collectMetric(p: MetricDataPoint): Promise<void> {
    this.add(p.metricId, p.tags ?? {}, toMs(p.timestamp, Date.now()), p.value, (p.metricType ?? 'gauge') as MetricType);
  }

  async collectMetrics(points: readonly MetricDataPoint[]): Promise<{ accepted: number }> {
    for (const p of points) await this.collectMetric(p);
    return { accepted: points.length };
  }

  async collectSeries(): Promise<{ accepted: number }> {
    throw new Error('collectSeries is not used by the alerting tests');
  }

  #candidates(glob: string): Iterable<MemSeries> {
    return /[*?]/.test(glob) ? this.series.values() : this.#byMetric.get(glob) ?? [];
  }

  async queryMetrics(q: RawQuery): Promise<SeriesResult[]> {
    this.queryCalls++;
    const re = globRegex(q.metricPattern);
    const start = toMs(q.startTime, 0);
    const end = toMs(q.endTime, Date.now());
    const out: SeriesResult[] = [];
    for (const s of this.#candidates(q.metricPattern)) {
      if (!re.test(s.metricId) || !tagsMatch(s.tags, q.tags)) continue;
      const ts: number[] = [];
      const vs: number[] = [];
      for (let i = 0; i < s.ts.length; i++) {
        if (s.ts[i]! >= start && s.ts[i]! < end) { ts.push(s.ts[i]!); vs.push(s.vs[i]!); }
      }
      if (ts.length > 0) out.push({ metricId: s.metricId, metricType: s.metricType, tags: s.tags, timestamps: Float64Array.from(ts), values: Float64Array.from(vs) });
    }
    return out;
  }

  async queryAggregated(_q: AggregatedQuery): Promise<SeriesResult[]> {
    throw new Error('queryAggregated is not used by the alerting');
  }

  async queryWithStats(): Promise<never> {
    throw new Error('queryWithStats is not used by the alerting');
  }

  async latest(metricPattern: string, tags?: Tags): Promise<LatestPoint[]> {
    this.latestCalls++;
    const re = globRegex(metricPattern);
    const out: LatestPoint[] = [];
    for (const s of this.#candidates(metricPattern)) {
      if (s.ts.length === 0 || !re.test(s.metricId) || !tagsMatch(s.tags, tags)) continue;
      out.push({ metricId: s.metricId, metricType: s.metricType, tags: s.tags, timestamp: s.ts[s.ts.length - 1]!, value: s.vs[s.vs.length - 1]! });
    }
    return out;
  }

  async listSeries(metricPattern: string, tags?: Tags): Promise<Array<{ metricId: string; metricType: MetricType; tags: Tags }>> {
    const re = globRegex(metricPattern);
    return [...this.series.values()].filter((s) => re.test(s.metricId) && tagsMatch(s.tags, tags)).map((s) => ({ metricId: s.metricId, metricType: s.metricType, tags: s.tags }));
  }

  stats(): StorageStats {
    return { series: this.series.size, chunks: 0, headPoints: 0, walBytes: 0, pointsIngested: 0, batchesIngested: 0, diskBytes: 0 };
  }

  async checkWritable(): Promise<void> {}
}
