/**
 * The embedded engine's SeriesTable (contract in src/model/api.ts): a caller's series numbers
 * → engine series ids, resolved the first time a batch uses a number and cached in an
 * Int32Array, so a batch of already-seen series costs one validation pass and one id-mapping
 * pass over three typed arrays, and goes to the group committer without any per-point object
 * or copy (the caller's columns become the batch).
 *
 * Paired with the row/columnar builders in batch_builder.ts (the slow path): the same checks
 * (the point's series through SeriesResolver, then `validateTimestamp`/`validateValue` for the
 * error), the same refusal (nothing created or stored when any point is bad) and the same
 * group commit.
 *
 * Cached ids are dropped when the engine's series index was reloaded (a failed commit rebuilds
 * it) or the engine restarted (new resolver): `generation` and resolver identity are checked
 * once per batch.
 */
import {
  MetricValidationError, isStorableTime, describeValue, validateMetricId, validateMetricType, validateTags,
  validateTimestamp, validateValue,
} from '../model/metric.js';
import type { SeriesIdentity, SeriesTable } from '../model/api.js';
import type { IngestBatch } from '../storage/ingest_batch.js';
import type { SeriesResolver } from './series_resolver.js';

/** What the table needs from a running engine, fetched once per batch. */
export interface ResolvedIngestContext {
  resolver: SeriesResolver;
  /** SeriesIndex.generation of the running store. */
  generation: number;
  submit(batch: IngestBatch): Promise<void>;
}

/** Engine ids are ≥ 1, so 0 marks a number not resolved yet. */
const UNRESOLVED = 0;

export class ResolvedSeriesTable implements SeriesTable {
  readonly #context: () => ResolvedIngestContext;
  readonly #identities: SeriesIdentity[] = [];
  #ids = new Int32Array(256);
  #resolver: SeriesResolver | undefined;
  #generation = -1;

  /** @param context the running engine's parts; throws when it is not running. */
  constructor(context: () => ResolvedIngestContext) {
    this.#context = context;
  }

  get size(): number {
    return this.#identities.length;
  }

  add(series: SeriesIdentity): number {
    const n = this.#identities.length;
    this.#identities.push(series);
    if (n >= this.#ids.length) {
      const grown = new Int32Array(this.#ids.length * 2);
      grown.set(this.#ids);
      this.#ids = grown;
    }
    return n;
  }

  async collect(seriesOf: Int32Array, timestamps: Float64Array, values: Float64Array): Promise<{ accepted: number }> {
    const n = seriesOf.length;
    if (timestamps.length !== n || values.length !== n) {
      throw new RangeError(`SeriesTable.collect: seriesOf has ${n} entries, timestamps ${timestamps.length}, values ${values.length}; they must be equal`);
    }
    const ctx = this.#context();
    if (ctx.resolver !== this.#resolver || ctx.generation !== this.#generation) {
      this.#resolver = ctx.resolver;
      this.#generation = ctx.generation;
      this.#ids.fill(UNRESOLVED);
    }
    const size = this.#identities.length;
    const ids = this.#ids;
    // The ids overwrite the series numbers in place (the caller gave up the array): one pass
    // validates and maps while every number is resolved; from the first unresolved one on it
    // only validates, so nothing is created unless the whole batch is valid.
    const out = new Uint32Array(seriesOf.buffer, seriesOf.byteOffset, n);
    let firstUnresolved = -1;
    for (let i = 0; i < n; i++) {
      const local = seriesOf[i]!;
      if (!(local >= 0 && local < size)) {
        throw new MetricValidationError(`points[${i}].series=${describeValue(local)} must be a series number of this table in [0, ${size})`, i, 'series', local);
      }
      const t = timestamps[i]!;
      const v = values[i]!;
      // `v - v === 0` is false exactly for NaN and ±Infinity.
      if (!isStorableTime(t) || v - v !== 0) this.#refusePoint(seriesOf, i, firstUnresolved, t, v);
      if (firstUnresolved < 0) {
        const id = ids[local]!;
        if (id === UNRESOLVED) firstUnresolved = i;
        else out[i] = id;
      }
    }
    if (firstUnresolved >= 0) this.#resolveFrom(ctx.resolver, seriesOf, out, firstUnresolved);
    await ctx.submit({ seriesIds: out, timestamps, values, length: n });
    return { accepted: n };
  }

  /**
   * Resolves the unresolved numbers used by points[from…] (creating new series only after all
   * of them passed validation) and maps those points' numbers to ids in place.
   */
  #resolveFrom(resolver: SeriesResolver, seriesOf: Int32Array, out: Uint32Array, from: number): void {
    const ids = this.#ids;
    const n = seriesOf.length;
    resolver.beginBatch();
    // Negative entries in `pending` are the resolver's temporary ids of series to create.
    const pending = new Map<number, number>();
    for (let i = from; i < n; i++) {
      const local = seriesOf[i]!;
      if (ids[local] !== UNRESOLVED || pending.has(local)) continue;
      const s = this.#identities[local]!;
      validateMetricId(s.metricId, i);
      validateMetricType(s.metricType, i);
      // tagSet validates the tags when they are new to the resolver (a raw key seen before holds
      // validated tags). A decode worker sends a host's consecutive new series with one shared
      // tags object (frame_decoder.ts sameTags), found here by identity after the first; other
      // callers may send a copy per series, and validating every copy here took 51 of the 178 ms
      // a fresh server spent resolving its first 4,000 series (CPU profile,
      // bench/fresh_server_acks.bench.ts).
      const tagSet = resolver.tagSet(s.tags, i);
      const id = tagSet.ids.get(s.metricId) ?? resolver.resolveSlow(tagSet, s.metricId, s.metricType, i);
      // Once per series number of this table, not per point: a number's identity includes its type.
      resolver.checkType(id, s.metricId, s.metricType, i);
      pending.set(local, id);
    }
    const created = resolver.hasNewSeries ? resolver.createNewSeries() : undefined;
    for (const [local, id] of pending) ids[local] = id >= 0 ? id : created![-1 - id]!;
    for (let i = from; i < n; i++) out[i] = ids[seriesOf[i]!]!;
  }

  /**
   * Throws the error collectMetrics would give for this batch, whose point i has a bad time or
   * value: a not yet validated series of an earlier point (or of point i) comes first, in the
   * canonical field order (metricId, metricType, tags, timestamp, value).
   */
  #refusePoint(seriesOf: Int32Array, i: number, firstUnresolved: number, timestamp: number, value: number): never {
    const ids = this.#ids;
    for (let j = firstUnresolved >= 0 ? firstUnresolved : i; j <= i; j++) {
      const local = seriesOf[j]!;
      if (ids[local] === UNRESOLVED) validateIdentity(this.#identities[local]!, j);
    }
    validateTimestamp(timestamp, i, 0);
    validateValue(value, i);
    throw new Error(`BUG: SeriesTable refused points[${i}] but the validators accepted timestamp=${timestamp} value=${value}`);
  }
}

function validateIdentity(s: SeriesIdentity, index: number): void {
  validateMetricId(s.metricId, index);
  validateMetricType(s.metricType, index);
  validateTags(s.tags, index);
}
