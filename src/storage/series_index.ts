/**
 * The in-memory catalogue of series: every series of the database is loaded at start, so ingest
 * resolves a point's series and queries select series without touching SQLite. New series get
 * their id here and are written by the next commit (in the same transaction as the first
 * write-ahead record that uses them), so a series row is never durable without its points
 * being durable too, and vice versa.
 *
 * A series is (tenant, metric id, tags). Ids are global to the database (chunks and
 * write-ahead records name series by id alone); names are looked up per tenant, so one tenant
 * can never select, resolve or even learn of another tenant's series: `SeriesCatalog.tenant(t)`
 * is the only way to reach a tenant's names, and it sees that tenant's series only.
 */
import type { MetricType, Tags } from '../model/metric.js';

export interface SeriesInfo {
  readonly id: number;
  readonly tenant: string;
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

/** Every series of the database, by id; and each tenant's names. */
export class SeriesCatalog {
  /** By id (ids start at 1); holes are ids handed out by a failed commit. */
  readonly #byId: (SeriesInfo | undefined)[] = [undefined];
  readonly #tenants = new Map<string, SeriesIndex>();
  #pending: SeriesInfo[] = [];
  #count = 0;
  /** Bumped by reset(): caches of ids (ingest's) must be dropped when it changes. */
  generation = 0;

  /** Series of every tenant. */
  get size(): number {
    return this.#count;
  }

  get(id: number): SeriesInfo | undefined {
    return this.#byId[id];
  }

  /**
   * The names of one tenant's series, created empty on first use. The same object for the
   * life of the catalogue (reset() empties it in place), so resolvers may keep it.
   */
  tenant(tenant: string): SeriesIndex {
    let index = this.#tenants.get(tenant);
    if (index === undefined) {
      index = new SeriesIndex(this, tenant);
      this.#tenants.set(tenant, index);
    }
    return index;
  }

  /** Forgets every series (before reloading them from the database). */
  reset(): void {
    this.generation++;
    this.#byId.length = 1;
    this.#count = 0;
    this.#pending = [];
    for (const index of this.#tenants.values()) index.clearNames();
  }

  /** Adds a series read from the database (at start). */
  load(info: SeriesInfo): void {
    while (this.#byId.length <= info.id) this.#byId.push(undefined);
    this.#byId[info.id] = info;
    this.#count++;
    this.tenant(info.tenant).addName(info);
  }

  /**
   * Forgets series whose rows an erasure deleted (src/storage/point_erasure.ts). Bumps the
   * generation: ingest's resolvers cache ids, and a point for a removed name must create a
   * new series rather than reach the deleted id.
   */
  /** Every series of every tenant (a copy: callers may remove while iterating). */
  all(): SeriesInfo[] {
    return this.#byId.filter((s): s is SeriesInfo => s !== undefined);
  }

  remove(ids: Iterable<number>): void {
    for (const id of ids) {
      const info = this.#byId[id];
      if (info === undefined) continue;
      this.#byId[id] = undefined;
      this.#count--;
      this.#tenants.get(info.tenant)?.removeName(info);
    }
    this.generation++;
  }

  /** Series created since the last call: the caller inserts them in its transaction. */
  takePending(): SeriesInfo[] {
    const pending = this.#pending;
    this.#pending = [];
    return pending;
  }

  /** Called by SeriesIndex.create: allocates the id and queues the row for the next commit. */
  allocate(tenant: string, metricId: string, metricType: MetricType, tags: Tags, canonical: string): SeriesInfo {
    // Ingest passes its resolver's frozen copy (TagSet.tags): shared as it is, one object per tag
    // set rather than one more per series (10 per TSBS host).
    const frozen = Object.isFrozen(tags) ? tags : Object.freeze({ ...tags });
    const info: SeriesInfo = { id: this.#byId.length, tenant, metricId, metricType, tags: frozen, canonicalTags: canonical };
    this.#byId.push(info);
    this.#count++;
    this.#pending.push(info);
    return info;
  }
}

/** One tenant's series names: what ingest resolves against and queries select from. */
export class SeriesIndex {
  readonly #byKey = new Map<string, number>();
  readonly #byMetric = new Map<string, SeriesInfo[]>();

  constructor(
    readonly catalog: SeriesCatalog,
    readonly tenantName: string,
  ) {}

  /** SeriesCatalog.generation: bumped when every series was reloaded. */
  get generation(): number {
    return this.catalog.generation;
  }

  /** Series of this tenant. */
  get size(): number {
    return this.#byKey.size;
  }

  find(metricId: string, canonical: string): number | undefined {
    return this.#byKey.get(seriesKey(metricId, canonical));
  }

  /** find() by the key seriesKey(metricId, canonical) gives, for a caller that keeps it for create(). */
  findByKey(key: string): number | undefined {
    return this.#byKey.get(key);
  }

  /**
   * Creates a series of this tenant; it is written to the database by the next commit. `key`
   * is seriesKey(metricId, canonical), passed when the caller made it already (ingest looked the
   * series up by it): building and hashing that ~170-character string once per new series
   * instead of three times.
   */
  create(metricId: string, metricType: MetricType, tags: Tags, canonical: string, key = seriesKey(metricId, canonical)): SeriesInfo {
    const info = this.catalog.allocate(this.tenantName, metricId, metricType, tags, canonical);
    this.addName(info, key);
    return info;
  }

  /** Distinct metric ids and their series, for selection by pattern. */
  metrics(): IterableIterator<[string, SeriesInfo[]]> {
    return this.#byMetric.entries();
  }

  seriesOfMetric(metricId: string): readonly SeriesInfo[] {
    return this.#byMetric.get(metricId) ?? [];
  }

  /** For SeriesCatalog and create() only; `key` is seriesKey(info.metricId, info.canonicalTags). */
  addName(info: SeriesInfo, key = seriesKey(info.metricId, info.canonicalTags)): void {
    this.#byKey.set(key, info.id);
    let list = this.#byMetric.get(info.metricId);
    if (list === undefined) {
      list = [];
      this.#byMetric.set(info.metricId, list);
    }
    list.push(info);
  }

  /** For SeriesCatalog.remove only. */
  removeName(info: SeriesInfo): void {
    this.#byKey.delete(seriesKey(info.metricId, info.canonicalTags));
    const list = this.#byMetric.get(info.metricId);
    if (list === undefined) return;
    const kept = list.filter((s) => s.id !== info.id);
    if (kept.length === 0) this.#byMetric.delete(info.metricId);
    else this.#byMetric.set(info.metricId, kept);
  }

  /** For SeriesCatalog.reset only. */
  clearNames(): void {
    this.#byKey.clear();
    this.#byMetric.clear();
  }
}
