/**
 * The in-memory catalogue of series: every series of the database is loaded at start, so ingest
 * resolves a point's series and queries select series without touching SQLite. New series get
 * their id here and are written by the next commit (in the same transaction as the first
 * write-ahead record that uses them), so a series row is never durable without its points
 * being durable too, and vice versa.
 */
import type { MetricType, Tags } from '../model/metric.js';

export interface SeriesInfo {
  readonly id: number;
  readonly metricId: string;
  readonly metricType: MetricType;
  /** Frozen copy of the tags. */
  readonly tags: Tags;
  /** canonicalTags(tags): keys sorted, escaped. */
  readonly canonicalTags: string;
}

/** Joins metric id and canonical tags into one map key; `\u0000` cannot occur in a metric id. */
export function seriesKey(metricId: string, canonical: string): string {
  return `${metricId}\u0000${canonical}`;
}

export class SeriesIndex {
  /** By id (ids start at 1); holes are ids of other tenants' series in the same file. */
  readonly #byId: (SeriesInfo | undefined)[] = [undefined];
  readonly #byKey = new Map<string, number>();
  readonly #byMetric = new Map<string, SeriesInfo[]>();
  #pending: SeriesInfo[] = [];
  /** Bumped by reset(): caches of ids (ingest's) must be dropped when it changes. */
  generation = 0;

  #count = 0;

  /** Series of this tenant. */
  get size(): number {
    return this.#count;
  }

  get(id: number): SeriesInfo | undefined {
    return this.#byId[id];
  }

  find(metricId: string, canonical: string): number | undefined {
    return this.#byKey.get(seriesKey(metricId, canonical));
  }

  /** Forgets every series (before reloading them from the database). */
  reset(): void {
    this.generation++;
    this.#byId.length = 1;
    this.#count = 0;
    this.#byKey.clear();
    this.#byMetric.clear();
    this.#pending = [];
  }

  /** Keeps `id` from being handed out (a series of another tenant in the same file). */
  reserve(id: number): void {
    while (this.#byId.length <= id) this.#byId.push(undefined);
  }

  /** Adds a series read from the database (at start). */
  load(info: SeriesInfo): void {
    while (this.#byId.length <= info.id) this.#byId.push(undefined);
    this.#add(info);
  }

  /** Creates a series; it is written to the database by the next commit (`takePending`). */
  create(metricId: string, metricType: MetricType, tags: Tags, canonical: string): SeriesInfo {
    const info: SeriesInfo = { id: this.#byId.length, metricId, metricType, tags: Object.freeze({ ...tags }), canonicalTags: canonical };
    this.#byId.push(undefined);
    this.#add(info);
    this.#pending.push(info);
    return info;
  }

  /** Series created since the last call: the caller inserts them in its transaction. */
  takePending(): SeriesInfo[] {
    const pending = this.#pending;
    this.#pending = [];
    return pending;
  }

  /** Distinct metric ids and their series, for selection by pattern. */
  metrics(): IterableIterator<[string, SeriesInfo[]]> {
    return this.#byMetric.entries();
  }

  seriesOfMetric(metricId: string): readonly SeriesInfo[] {
    return this.#byMetric.get(metricId) ?? [];
  }

  #add(info: SeriesInfo): void {
    this.#byId[info.id] = info;
    this.#count++;
    this.#byKey.set(seriesKey(info.metricId, info.canonicalTags), info.id);
    let list = this.#byMetric.get(info.metricId);
    if (list === undefined) {
      list = [];
      this.#byMetric.set(info.metricId, list);
    }
    list.push(info);
  }
}
