/**
 * Maps points to series ids on the ingest hot path without building a key per point.
 *
 * Tag sets are cached by object identity (WeakMap): clients that keep one tags object per
 * source (one per host, per key…) pay a map lookup per point, then a metric-id lookup in the
 * tag set's own small map. A cached tag set is re-checked against the object (same keys, same
 * values, same order: a for-in and reference compares, ~8 per point for TSBS) unless the object
 * is frozen, because a caller may mutate and reuse its tags object.
 *
 * Objects seen for the first time (a server decoding each request into fresh objects) are
 * looked up by a raw key built in their own key order (`k=<length>:v…`, unambiguous because tag
 * keys cannot contain `=`): equal to a key seen before means the same, already validated keys
 * and values, so validation, sorting and escaping are skipped. Only a new raw key is validated
 * and keyed by its canonical string, so equal tag sets in any key order share one entry.
 *
 * Anonymization (security.anonymize) happens here, at that one slow step every protocol passes
 * through (stream, HTTP, line protocol, remote write, the byte-keyed worker path, key events'
 * derived series): a new tag set is validated as sent, rewritten, and keyed by the canonical
 * string of the rewrite. So nothing downstream (series index, write-ahead records, chunks,
 * forwarded batches resolved from stored series) ever holds a raw value, and two raw tag sets
 * that rewrite alike (same /24, a dropped tag) share one entry and thus one series. The raw
 * keys and values stay in memory only, to recognize the caller's object next time.
 */
import {
  canonicalTags, validateMetricId, validateMetricType, validateTags, EMPTY_TAGS, MetricValidationError,
  type MetricType, type Tags,
} from '../model/metric.js';
import { seriesKey, type SeriesIndex } from '../storage/series_index.js';
import { QuotaExceededError } from '../tenancy/quota.js';

/**
 * A point names a metric type other than its existing series' own (a counter sent to a gauge
 * series). A series has one type for life: queries, rate() and federation read it, so a point
 * may leave the type out (it then takes the stored one) but may not contradict it. The server
 * answers 409 naming the stored type (a nack on the stream), and nothing of the batch is stored.
 */
export class MetricTypeConflictError extends MetricValidationError {
  constructor(
    readonly metricId: string,
    readonly storedType: MetricType,
    readonly sentType: string,
    index: number,
    /** `points` (row form) or `series` (columnar form). */
    where = 'points',
  ) {
    super(
      `${where}[${index}].metric_type="${sentType}" conflicts with series ${JSON.stringify(metricId)}, stored as a ${storedType}; ` +
      `send metric_type="${storedType}" or leave it out, or use another metric id`,
      index, 'metric_type', sentType,
    );
    this.name = 'MetricTypeConflictError';
  }
}

export class TagSet {
  constructor(
    /** Keys and values in the caller's object's enumeration order (for `matches`). */
    readonly keys: readonly string[],
    readonly values: readonly string[],
    /** Our frozen copy. */
    readonly tags: Tags,
    readonly canonical: string,
    /** metricId → series id, for series that exist (never a batch-local temporary id). */
    readonly ids: Map<string, number>,
  ) {}

  /**
   * An entry for `tags` (already validated), with a fresh id map; `stored` is what the series
   * carries (the anonymized tags; `tags` itself when no rule applies).
   */
  static of(tags: Tags, stored: Tags = tags): TagSet {
    const keys: string[] = [];
    const values: string[] = [];
    for (const k in tags) {
      keys.push(k);
      values.push(tags[k]!);
    }
    return new TagSet(keys, values, Object.isFrozen(stored) ? stored : Object.freeze({ ...stored }), canonicalTags(stored), new Map());
  }

  /** Whether `tags` still has exactly the keys and values this entry was built from. */
  matches(tags: Tags): boolean {
    if (Object.isFrozen(tags)) return true;
    const keys = this.keys;
    const values = this.values;
    let k = 0;
    for (const key in tags) {
      if (key !== keys[k] || tags[key] !== values[k]) return false;
      k++;
    }
    return k === keys.length;
  }
}

/**
 * `k=<value length>:value` for each own key in enumeration order, or undefined when `tags` is
 * not a plain object of strings (validation then reports why).
 */
function rawTagKey(tags: unknown): string | undefined {
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags)) return undefined;
  let key = '';
  for (const k in tags as Record<string, unknown>) {
    const v = (tags as Record<string, unknown>)[k];
    // A key holding `=` (never valid) could forge another tag set's raw key: validate it instead.
    if (typeof v !== 'string' || k.includes('=')) return undefined;
    key += `${k}=${v.length}:${v}`;
  }
  return key;
}

/** A series first seen in the batch being built; created only if the whole batch is valid. */
interface NewSeries {
  metricId: string;
  metricType: MetricType;
  tagSet: TagSet;
  /** seriesKey(metricId, tagSet.canonical), made once for the lookup and reused to create it. */
  key: string;
}

export class SeriesResolver {
  readonly #index: SeriesIndex;
  #byObject = new WeakMap<object, TagSet>();
  readonly #byCanonical = new Map<string, TagSet>();
  readonly #byRawKey = new Map<string, TagSet>();
  #empty = TagSet.of(EMPTY_TAGS);
  #generation: number;
  // Per batch: series seen for the first time, by key → temporary index.
  readonly #batchNewByKey = new Map<string, number>();
  readonly #batchNew: NewSeries[] = [];

  readonly #seriesLimit: () => number;
  readonly #anonymize: ((tags: Tags) => Tags) | undefined;

  /**
   * @param index the tenant's series names
   * @param seriesLimit the tenant's active-series quota, read when a batch creates series
   * @param anonymize the tenant's tag rewrite (security.anonymize), applied to each new tag set
   */
  constructor(index: SeriesIndex, seriesLimit: () => number = () => Infinity, anonymize?: (tags: Tags) => Tags) {
    this.#index = index;
    this.#generation = index.generation;
    this.#seriesLimit = seriesLimit;
    this.#anonymize = anonymize;
  }

  /** Starts a batch; drops every cached id when the index was reloaded. */
  beginBatch(): void {
    if (this.#generation !== this.#index.generation) {
      this.#generation = this.#index.generation;
      this.#byObject = new WeakMap();
      this.#byCanonical.clear();
      this.#byRawKey.clear();
      this.#empty = TagSet.of(EMPTY_TAGS);
    }
    this.#batchNewByKey.clear();
    this.#batchNew.length = 0;
  }

  /**
   * The tag set of `tags` (validated; throws MetricValidationError naming points[index]).
   * Fast path: the same object as before, unchanged.
   */
  tagSet(tags: unknown, index: number): TagSet {
    if (tags === undefined || tags === null) return this.#empty;
    const cached = this.#byObject.get(tags as object);
    if (cached !== undefined && cached.matches(tags as Tags)) return cached;
    return this.tagSetSlow(tags, index);
  }

  tagSetSlow(tags: unknown, index: number): TagSet {
    const rawKey = rawTagKey(tags);
    if (rawKey !== undefined) {
      const known = this.#byRawKey.get(rawKey);
      if (known !== undefined) {
        this.#byObject.set(tags as object, known);
        return known;
      }
    }
    const valid = validateTags(tags, index);
    const fresh = this.#anonymize === undefined ? TagSet.of(valid) : TagSet.of(valid, this.#anonymize(valid));
    let entry = this.#byCanonical.get(fresh.canonical);
    if (entry === undefined) {
      entry = fresh;
      this.#byCanonical.set(entry.canonical, entry);
    }
    // The caller's object is remembered with its own key order; the ids are shared with every
    // other object holding the same tags.
    const alias = entry === fresh ? fresh : new TagSet(fresh.keys, fresh.values, entry.tags, entry.canonical, entry.ids);
    this.#byObject.set(tags as object, alias);
    if (rawKey !== undefined) this.#byRawKey.set(rawKey, alias);
    return alias;
  }

  /**
   * Series id of (metricId, tag set) when it exists, else a negative temporary id (−1 − k) of
   * a series to create when the batch is accepted (`createNewSeries`). Validates metricId and
   * metricType on this slow path (the fast path is `tagSet.ids.get(metricId)`).
   */
  resolveSlow(tagSet: TagSet, metricId: unknown, metricType: unknown, index: number): number {
    const id = validateMetricId(metricId, index);
    const type = validateMetricType(metricType, index);
    const key = seriesKey(id, tagSet.canonical);
    const existing = this.#index.findByKey(key);
    if (existing !== undefined) {
      tagSet.ids.set(id, existing);
      return existing;
    }
    let temp = this.#batchNewByKey.get(key);
    if (temp === undefined) {
      temp = this.#batchNew.length;
      this.#batchNew.push({ metricId: id, metricType: type, tagSet, key });
      this.#batchNewByKey.set(key, temp);
    }
    return -1 - temp;
  }

  /**
   * Throws MetricTypeConflictError when `metricType` (as sent; undefined takes the stored type)
   * is not the type of the existing series `id`. Ids of series the batch creates (< 0) pass.
   */
  checkType(id: number, metricId: string, metricType: unknown, index: number): void {
    if (metricType === undefined || id < 0) return;
    const stored = this.#index.catalog.get(id)?.metricType;
    if (stored !== undefined && stored !== metricType) throw new MetricTypeConflictError(metricId, stored, String(metricType), index);
  }

  get hasNewSeries(): boolean {
    return this.#batchNew.length > 0;
  }

  /**
   * Creates the batch's new series; returns their ids by temporary index. Throws
   * QuotaExceededError (creating nothing) when they would take the tenant past its
   * active-series quota: the whole batch is then refused.
   */
  createNewSeries(): Int32Array {
    const limit = this.#seriesLimit();
    const after = this.#index.size + this.#batchNew.length;
    if (after > limit) {
      const count = this.#batchNew.length;
      this.#batchNew.length = 0;
      this.#batchNewByKey.clear();
      throw new QuotaExceededError(this.#index.tenantName, 'activeSeries', limit, `the batch creates ${count} series and the tenant has ${this.#index.size}`);
    }
    const ids = new Int32Array(this.#batchNew.length);
    for (let k = 0; k < this.#batchNew.length; k++) {
      const s = this.#batchNew[k]!;
      const info = this.#index.create(s.metricId, s.metricType, s.tagSet.tags, s.tagSet.canonical, s.key);
      s.tagSet.ids.set(s.metricId, info.id);
      ids[k] = info.id;
    }
    this.#batchNew.length = 0;
    this.#batchNewByKey.clear();
    return ids;
  }
}
