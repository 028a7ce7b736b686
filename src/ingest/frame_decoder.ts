/**
 * Turns one ingest payload (a WebSocket frame, or an HTTP body) into columns grouped by series,
 * ready for `MetricsSystem.collectSeries`. Runs in the decode worker threads, so every per-point
 * step (MessagePack/JSON decoding, validation, series lookup) happens off the thread that owns
 * the SQLite writer.
 *
 * Output layout (all transferable, no per-point objects cross threads):
 *
 *   newSeries   descriptors first seen in this payload; they get the next indices of this
 *               decoder's series table (the main thread mirrors the table per worker in a
 *               SeriesTable, src/model/api.ts)
 *   seriesOf    Int32Array: series index of each point
 *   timestamps  Float64Array epoch ms
 *   values      Float64Array
 *
 * Points stay in arrival order (the engine's heads keep the last arrival of a timestamp), so
 * the three columns go to the engine as they are: no grouping by series, no copy.
 *
 * On the slow paths a series already in the table costs one string key and one Map lookup per
 * point (the row fast path, row_frame_scanner.ts, not even that); its id, type and tags are
 * validated once, when it enters the table. The slow path reads the declared point count from
 * the MessagePack headers before unpacking (payload_precheck.ts).
 *
 * One decoder holds one tenant's series table: the decode workers keep one per tenant
 * (tenant_decoders.ts).
 */
import type { EncodedColumns } from '../storage/write_ahead_log.js';
import {
  MAX_TIMESTAMP_MS,
  MIN_TIMESTAMP_MS,
  MetricValidationError,
  isStorableTime,
  describeValue,
  validateMetricId,
  validateMetricType,
  validateTags,
  type MetricType,
  type Tags,
} from '../model/metric.js';
import { didYouMean } from '../http/did_you_mean.js';
import { ByteKeyedSeriesTable } from './byte_keyed_series_table.js';
import { declaredPointCount, declaredSeq } from './payload_precheck.js';
import { scanRowFrame } from './row_frame_scanner.js';
import { STREAM_TIMESTAMP_POLICY, floorMessage, numericTimeMs, type TimestampPolicy } from './timestamp_precision.js';
import { WireField, isValidSeq, createWireUnpackr, type Seq } from './wire.js';

export interface SeriesDescriptor {
  metricId: string;
  metricType: MetricType;
  tags: Tags;
}

export interface DecodedBatch {
  seq: Seq | null;
  points: number;
  newSeries: SeriesDescriptor[];
  seriesOf: Int32Array;
  timestamps: Float64Array;
  values: Float64Array;
  /**
   * The timestamps and values as a write-ahead record stores them, made by a decode worker next
   * to the columns so that the main thread does not compress them (write_ahead_log.ts).
   */
  walColumns?: EncodedColumns;
}

/** A frame that rides the stream for another feature (`{seq, key_events: [...]}`). */
export interface DecodedCustomFrame {
  seq: Seq | null;
  handler: string;
  items: unknown[];
}

/** Why a payload was refused; `reason` labels the nack counter of /metrics. */
export type RefusalReason = 'decode' | 'validation' | 'empty' | 'too_large' | 'shape';

export class PayloadRefusedError extends Error {
  constructor(
    message: string,
    readonly reason: RefusalReason,
    /** Point index (row form) or series index (columnar form); -1 when not about one item. */
    readonly index: number = -1,
    /** Wire field path, e.g. `metric_id`, `tags.region`, `values[3]`. */
    readonly field: string = '',
    /** The seq of the frame when it could be read, so the nack can echo it. */
    public seq: Seq | null = null,
  ) {
    super(message);
    this.name = 'PayloadRefusedError';
  }
}

export type PayloadFormat = 'msgpack' | 'json';

export interface FrameDecoderOptions {
  /** Refuse payloads holding more points than this (collector.batch_size). */
  maxPointsPerBatch: number;
  /** Names of extra frame types (`key_events`) handed to frameHandlers untouched. */
  customFrameNames?: readonly string[];
  /** Default true; false always takes the slow path (the reference in tests). */
  rowFastPath?: boolean;
}

const MODEL_TO_WIRE_FIELD: Record<string, string> = {
  metricId: WireField.metricId,
  metricType: WireField.metricType,
  value: WireField.value,
  timestamp: WireField.timestamp,
  tags: WireField.tags,
};

function wireFieldOf(modelField: string): string {
  if (modelField.startsWith('tags.')) return modelField;
  return MODEL_TO_WIRE_FIELD[modelField] ?? modelField;
}

/** ISO-8601 date or date-time, e.g. `2024-05-01T12:00:00Z` or `2024-05-01T12:00:00.5+02:00`. */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/;

/** Time of a point as epoch ms, or NaN when it is not a valid time (caller reports). */
function timeToMs(t: unknown, nowMs: number, policy: TimestampPolicy): number {
  if (typeof t === 'number') return numericTimeMs(t, policy);
  if (t === undefined || t === null) return nowMs;
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'string' && ISO_8601.test(t)) return Date.parse(t);
  return NaN;
}


/**
 * Unambiguous series key: every part is length-prefixed, so no tag value can forge another
 * series' key whatever characters it holds. Returns undefined when a part is not a string
 * (the caller then runs full validation, which reports it).
 */
function seriesKey(metricId: unknown, metricType: unknown, tags: unknown): string | undefined {
  if (typeof metricId !== 'string') return undefined;
  let key = metricId.length + ':' + metricId;
  if (metricType === undefined) key += '0:';
  else if (typeof metricType === 'string') key += metricType.length + ':' + metricType;
  else return undefined;
  if (tags === undefined || tags === null) return key;
  if (typeof tags !== 'object' || Array.isArray(tags) || tags instanceof Uint8Array) return undefined;
  for (const k in tags as Record<string, unknown>) {
    const v = (tags as Record<string, unknown>)[k];
    if (typeof v !== 'string') return undefined;
    key += k.length + ':' + k + v.length + ':' + v;
  }
  return key;
}

/**
 * Whether `tags` holds exactly the own keys `keys` of `known`, in that order, with the same
 * values: then it is valid as `known` was, and a series may share `known`. One comparison per
 * tag, against a validation and a frozen copy per new series. The main thread's side of a
 * fresh store's 4,000 new series (bench/fresh_series_creation.bench.ts, with the resolver's
 * one series key per new series; 2 runs of 8 alternated rounds at load 19–23): 193–309 ms of
 * CPU and 2,250–3,600 page faults with a tags object per host, 262–348 ms and 3,770–4,700
 * faults with one per series.
 */
function sameTags(keys: readonly string[], known: Tags, tags: unknown): boolean {
  if (tags === known) return true;
  if (typeof tags !== 'object' || tags === null || Array.isArray(tags) || tags instanceof Uint8Array) return false;
  let k = 0;
  for (const key in tags as Record<string, unknown>) {
    if (!Object.prototype.hasOwnProperty.call(tags, key)) return false;
    if (key !== keys[k] || (tags as Record<string, unknown>)[key] !== known[key]) return false;
    k++;
  }
  return k === keys.length;
}

export class FrameDecoder {
  readonly #unpackr = createWireUnpackr();
  readonly #textDecoder = new TextDecoder('utf-8', { fatal: true });
  readonly #seriesIndex = new Map<string, number>();
  /** The same series keyed by their identity bytes in a frame, for the row-form fast path. */
  readonly #byteTable = new ByteKeyedSeriesTable();
  /** Keys added while decoding the current payload, forgotten again if it is refused. */
  readonly #pendingKeys: string[] = [];
  #seriesCount = 0;
  /**
   * The frozen tags of the last new series, and its keys in order: the next new series with
   * equal tags takes the same object (see #resolve).
   */
  #lastNewTags: Tags | undefined;
  #lastNewTagKeys: readonly string[] = [];
  #fastPathFrames = 0;
  readonly #maxPoints: number;
  readonly #customNames: ReadonlySet<string>;
  readonly #rowFastPath: boolean;

  constructor(options: FrameDecoderOptions) {
    this.#maxPoints = options.maxPointsPerBatch;
    this.#rowFastPath = options.rowFastPath ?? true;
    this.#customNames = new Set(options.customFrameNames ?? []);
  }

  /** Frames decoded by the row-form fast path (the rest took the slow path). */
  get fastPathFrames(): number {
    return this.#fastPathFrames;
  }

  /** Number of series this decoder has handed out indices for. */
  get seriesCount(): number {
    return this.#seriesCount;
  }

  /**
   * A series number for another protocol's codec (codec_decoding.ts), from this decoder's own
   * count: a tenant's series from every protocol then share one table here and one mirror on
   * the main thread. The codec keeps its own cache of what it numbered; nothing is keyed here.
   */
  takeSeriesNumber(): number {
    return this.#seriesCount++;
  }

  /** Hands the numbers from `firstNew` on out again: the codec's request was refused. */
  releaseSeriesNumbers(firstNew: number): void {
    this.#seriesCount = firstNew;
  }

  /** Forgets what the row fast path predicts for `stream` (its connection closed). */
  forgetStream(stream: number): void {
    this.#byteTable.forgetStream(stream);
  }

  /** Points the row fast path decoded as a repeat of the stream's previous frame. */
  get wholePointHits(): number {
    return this.#byteTable.wholePointHits;
  }

  /** Streams the row fast path holds a prediction for. */
  get streamsPredicted(): number {
    return this.#byteTable.streamsPredicted;
  }

  /** Parses bytes into a plain value; refusals name what was wrong with the bytes. */
  parse(bytes: Uint8Array, format: PayloadFormat): unknown {
    if (format === 'json') {
      let text: string;
      try {
        text = this.#textDecoder.decode(bytes);
      } catch {
        throw new PayloadRefusedError('body is not valid UTF-8', 'decode');
      }
      try {
        return JSON.parse(text);
      } catch (err) {
        throw new PayloadRefusedError(`body is not valid JSON: ${(err as Error).message}`, 'decode');
      }
    }
    try {
      return this.#unpackr.unpack(bytes);
    } catch (err) {
      const why = err instanceof RangeError ? 'nesting too deep' : (err as Error).message;
      throw new PayloadRefusedError(`payload is not one valid MessagePack value: ${why}`, 'decode');
    }
  }

  /**
   * Decodes a stream frame or HTTP body. `requireSeq` is true for WebSocket frames; `stream`
   * names the connection (frames of one connection usually repeat their series order, which
   * the row fast path predicts; 0 for HTTP bodies).
   * Throws PayloadRefusedError (with the seq when it could be read).
   */
  decode(bytes: Uint8Array, format: PayloadFormat, requireSeq: boolean, nowMs = Date.now(), stream = 0, policy: TimestampPolicy = STREAM_TIMESTAMP_POLICY): DecodedBatch | DecodedCustomFrame {
    this.#pendingKeys.length = 0;
    // The fast path reads numbers as milliseconds; other units take the slow path, which scales.
    if (format === 'msgpack' && this.#rowFastPath && policy.unitMs === 1) {
      this.#byteTable.beginFrame(stream);
      const fast = this.#decodeRowsFast(bytes, nowMs, requireSeq, policy.floorMs);
      if (fast !== undefined) return fast;
    }
    if (format === 'msgpack') {
      // Before the unpack builds an object per point (payload_precheck.ts).
      const declared = declaredPointCount(bytes, this.#maxPoints);
      if (declared !== undefined && declared > this.#maxPoints) {
        const seq = requireSeq ? declaredSeq(bytes) ?? null : null;
        throw new PayloadRefusedError(`batch of at least ${declared} points exceeds collector.batch_size=${this.#maxPoints}`, 'too_large', -1, '', seq);
      }
    }
    const message = this.parse(bytes, format);
    if (typeof message !== 'object' || message === null || Array.isArray(message) || message instanceof Uint8Array || message instanceof Date) {
      throw new PayloadRefusedError(`payload must be a map with ${WireField.metrics} or ${WireField.series}; got ${describeValue(message)}`, 'shape');
    }
    const body = message as Record<string, unknown>;
    let seq: Seq | null = null;
    if (requireSeq) {
      const rawSeq = body[WireField.seq];
      if (!isValidSeq(rawSeq)) {
        throw new PayloadRefusedError(`${WireField.seq}=${describeValue(rawSeq)} must be an unsigned integer`, 'shape', -1, WireField.seq);
      }
      seq = rawSeq;
    }
    try {
      const rows = body[WireField.metrics];
      const series = body[WireField.series];
      if (rows !== undefined && series !== undefined) {
        throw new PayloadRefusedError(`a payload carries either ${WireField.metrics} or ${WireField.series}, not both`, 'shape');
      }
      if (rows !== undefined) return this.#decodeRows(rows, seq, nowMs, policy);
      if (series !== undefined) return this.#decodeColumns(series, seq, policy);
      for (const name of this.#customNames) {
        const items = body[name];
        if (items === undefined) continue;
        if (!Array.isArray(items)) throw new PayloadRefusedError(`${name} must be an array; got ${describeValue(items)}`, 'shape', -1, name);
        if (items.length === 0) throw new PayloadRefusedError(`empty batch: ${name} holds no items`, 'empty', -1, name);
        return { seq, handler: name, items };
      }
      throw new PayloadRefusedError(`payload must have a ${WireField.metrics} (row form) or ${WireField.series} (columnar form) array`, 'shape');
    } catch (err) {
      if (err instanceof PayloadRefusedError) err.seq = seq;
      throw err;
    }
  }

  /** Row-form fast path (row_frame_scanner.ts); undefined hands the frame to the slow path. */
  #decodeRowsFast(bytes: Uint8Array, nowMs: number, requireSeq: boolean, floorMs: number): DecodedBatch | undefined {
    const firstNew = this.#seriesCount;
    const added: SeriesDescriptor[] = [];
    const field = (start: number, end: number): unknown => (start < 0 ? undefined : this.#unpackr.unpack(bytes.subarray(start, end)));
    let scanned;
    try {
      scanned = scanRowFrame(
        bytes,
        this.#byteTable,
        (idStart, idEnd, typeStart, typeEnd, tagsStart, tagsEnd) => {
          const metricId = field(idStart, idEnd);
          const metricType = field(typeStart, typeEnd);
          const tags = field(tagsStart, tagsEnd);
          return this.#resolve(seriesKey(metricId, metricType, tags), metricId, metricType, tags, 0, WireField.metrics, added);
        },
        this.#maxPoints,
        nowMs,
        // A time below the floor gives up: the slow path names the point and the fix.
        Math.max(MIN_TIMESTAMP_MS, floorMs),
        MAX_TIMESTAMP_MS,
        requireSeq,
      );
    } catch {
      // A new series failed validation: the slow path names the point and field.
      scanned = undefined;
    }
    if (scanned === undefined) {
      this.#byteTable.rollback();
      this.#forgetFrom(firstNew);
      return undefined;
    }
    this.#byteTable.commit(scanned.seriesOf.length, bytes);
    this.#pendingKeys.length = 0;
    this.#fastPathFrames++;
    return { seq: scanned.seq, points: scanned.seriesOf.length, newSeries: added, seriesOf: scanned.seriesOf, timestamps: scanned.timestamps, values: scanned.values };
  }

  #checkCount(points: number): void {
    if (points > this.#maxPoints) {
      throw new PayloadRefusedError(`batch of ${points} points exceeds collector.batch_size=${this.#maxPoints}`, 'too_large');
    }
  }

  /** Returns the table index of a series, validating and adding it when new. */
  #resolve(key: string | undefined, metricId: unknown, metricType: unknown, tags: unknown, index: number, prefix: string, added: SeriesDescriptor[]): number {
    if (key !== undefined) {
      const known = this.#seriesIndex.get(key);
      if (known !== undefined) return known;
    }
    // A host's series come one after another with equal tags (10 per TSBS host): the same
    // frozen object for all of them, already validated. Structured clone keeps that sharing in
    // the reply, so the main thread deserializes one tags object per host instead of one per
    // series and its resolver finds the tag set by identity (SeriesResolver.tagSet) for all but
    // the first; see sameTags for what that saved.
    const shared = this.#lastNewTags !== undefined && sameTags(this.#lastNewTagKeys, this.#lastNewTags, tags) ? this.#lastNewTags : undefined;
    let descriptor: SeriesDescriptor;
    try {
      descriptor = {
        metricId: validateMetricId(metricId, index),
        metricType: validateMetricType(metricType, index),
        tags: shared ?? validateTags(tags, index),
      };
    } catch (err) {
      throw this.#translate(err, prefix, index);
    }
    if (key === undefined) {
      // validateTags passed, so every part is a string and the key exists now.
      key = seriesKey(metricId, metricType, tags)!;
      const known = this.#seriesIndex.get(key);
      if (known !== undefined) return known;
    }
    if (shared === undefined) {
      // Freeze a private copy: the main thread mirrors this object and hands the same one to the
      // engine on every batch, so nothing may mutate it.
      descriptor.tags = Object.freeze({ ...descriptor.tags });
      this.#lastNewTags = descriptor.tags;
      this.#lastNewTagKeys = Object.keys(descriptor.tags);
    }
    const id = this.#seriesCount++;
    this.#seriesIndex.set(key, id);
    this.#pendingKeys.push(key);
    added.push(descriptor);
    return id;
  }

  #translate(err: unknown, prefix: string, index: number): Error {
    if (err instanceof MetricValidationError) {
      const field = wireFieldOf(err.field);
      const modelWhere = `points[${index}].${err.field}`;
      const message = err.message.startsWith(modelWhere)
        ? `${prefix}[${index}].${field}${err.message.slice(modelWhere.length)}`
        : err.message;
      return new PayloadRefusedError(message, 'validation', index, field);
    }
    return err as Error;
  }

  #decodeRows(rows: unknown, seq: Seq | null, nowMs: number, policy: TimestampPolicy): DecodedBatch {
    const where = WireField.metrics;
    if (!Array.isArray(rows)) throw new PayloadRefusedError(`${where} must be an array; got ${describeValue(rows)}`, 'shape', -1, where);
    const n = rows.length;
    if (n === 0) throw new PayloadRefusedError(`empty batch: ${where} holds no points`, 'empty', -1, where);
    this.#checkCount(n);
    const added: SeriesDescriptor[] = [];
    const seriesOf = new Int32Array(n);
    const ts = new Float64Array(n);
    const vs = new Float64Array(n);
    const firstNew = this.#seriesCount;
    try {
      for (let i = 0; i < n; i++) {
        const p = rows[i] as Record<string, unknown> | null;
        if (typeof p !== 'object' || p === null || Array.isArray(p)) {
          throw new PayloadRefusedError(`${where}[${i}]=${describeValue(p)} must be a map with ${WireField.metricId} and ${WireField.value}`, 'validation', i, '');
        }
        refuseUnknownFields(p, POINT_FIELDS, `${where}[${i}]`, i);
        const metricId = p[WireField.metricId];
        const metricType = p[WireField.metricType];
        const tags = p[WireField.tags];
        seriesOf[i] = this.#resolve(seriesKey(metricId, metricType, tags), metricId, metricType, tags, i, where, added);
        const v = p[WireField.value];
        if (typeof v !== 'number' || v - v !== 0) {
          throw new PayloadRefusedError(`${where}[${i}].${WireField.value}=${describeValue(v)} must be a finite number`, 'validation', i, WireField.value);
        }
        vs[i] = v;
        const t = p[WireField.timestamp];
        const ms = timeToMs(t, nowMs, policy);
        if (typeof t === 'number' && ms < policy.floorMs && isStorableTime(ms)) {
          throw new PayloadRefusedError(floorMessage(`${where}[${i}].${WireField.timestamp}`, t, policy), 'validation', i, WireField.timestamp);
        }
        if (!isStorableTime(ms)) {
          throw new PayloadRefusedError(
            `${where}[${i}].${WireField.timestamp}=${describeValue(t)} must be epoch milliseconds, an ISO-8601 string or a msgpack timestamp in [1970, 2200)`,
            'validation', i, WireField.timestamp,
          );
        }
        ts[i] = ms;
      }
    } catch (err) {
      this.#forgetFrom(firstNew);
      throw err;
    }
    return { seq, points: n, newSeries: added, seriesOf, timestamps: ts, values: vs };
  }

  #decodeColumns(series: unknown, seq: Seq | null, policy: TimestampPolicy): DecodedBatch {
    const where = WireField.series;
    if (!Array.isArray(series)) throw new PayloadRefusedError(`${where} must be an array; got ${describeValue(series)}`, 'shape', -1, where);
    if (series.length === 0) throw new PayloadRefusedError(`empty batch: ${where} holds no series`, 'empty', -1, where);
    const added: SeriesDescriptor[] = [];
    const firstNew = this.#seriesCount;
    try {
      const columns: Array<{ ts: ArrayLike<unknown>; vs: ArrayLike<unknown>; id: number }> = [];
      let total = 0;
      for (let i = 0; i < series.length; i++) {
        const s = series[i] as Record<string, unknown> | null;
        if (typeof s !== 'object' || s === null || Array.isArray(s)) {
          throw new PayloadRefusedError(`${where}[${i}]=${describeValue(s)} must be a map with ${WireField.metricId}, ${WireField.timestamps} and ${WireField.values}`, 'validation', i, '');
        }
        refuseUnknownFields(s, SERIES_FIELDS, `${where}[${i}]`, i);
        const metricId = s[WireField.metricId];
        const metricType = s[WireField.metricType];
        const tags = s[WireField.tags];
        const id = this.#resolve(seriesKey(metricId, metricType, tags), metricId, metricType, tags, i, where, added);
        const tsCol = columnOf(s[WireField.timestamps], i, WireField.timestamps);
        const vsCol = columnOf(s[WireField.values], i, WireField.values);
        if (tsCol.length !== vsCol.length) {
          throw new PayloadRefusedError(
            `${where}[${i}] has ${tsCol.length} ${WireField.timestamps} but ${vsCol.length} ${WireField.values}; they must be the same length`,
            'validation', i, WireField.values,
          );
        }
        if (tsCol.length === 0) {
          throw new PayloadRefusedError(`${where}[${i}].${WireField.timestamps} is empty; a series must carry at least one point`, 'empty', i, WireField.timestamps);
        }
        total += tsCol.length;
        this.#checkCount(total);
        columns.push({ ts: tsCol, vs: vsCol, id });
      }
      const seriesOf = new Int32Array(total);
      const ts = new Float64Array(total);
      const vs = new Float64Array(total);
      let at = 0;
      for (let c = 0; c < columns.length; c++) {
        const col = columns[c]!;
        const start = at;
        copyTimes(col.ts, ts, at, c, policy);
        copyValues(col.vs, vs, at, c);
        at += col.ts.length;
        seriesOf.fill(col.id, start, at);
      }
      return { seq, points: total, newSeries: added, seriesOf, timestamps: ts, values: vs };
    } catch (err) {
      this.#forgetFrom(firstNew);
      throw err;
    }
  }

  /**
   * Undo series added by a refused payload: the main thread only learns of new series through
   * accepted batches, so indices handed out for a refused one must be reused.
   */
  #forgetFrom(firstNew: number): void {
    for (const key of this.#pendingKeys) this.#seriesIndex.delete(key);
    this.#pendingKeys.length = 0;
    this.#seriesCount = firstNew;
  }
}

function columnOf(raw: unknown, index: number, field: string): ArrayLike<unknown> {
  if (Array.isArray(raw)) return raw;
  if (raw instanceof Uint8Array) {
    if (raw.byteLength % 8 !== 0) {
      throw new PayloadRefusedError(
        `${WireField.series}[${index}].${field} is bin of ${raw.byteLength} bytes; little-endian float64 columns need a multiple of 8`,
        'validation', index, field,
      );
    }
    // msgpack bin is rarely 8-byte aligned inside the frame, so copy before viewing as float64.
    const aligned = new Uint8Array(raw.byteLength);
    aligned.set(raw);
    return new Float64Array(aligned.buffer);
  }
  throw new PayloadRefusedError(
    `${WireField.series}[${index}].${field}=${describeValue(raw)} must be an array of numbers or bin of little-endian float64`,
    'validation', index, field,
  );
}

/** Fields of one point (row form) and one series (columnar form); anything else is refused. */
const POINT_FIELDS: readonly string[] = [WireField.metricId, WireField.metricType, WireField.value, WireField.timestamp, WireField.tags];
const SERIES_FIELDS: readonly string[] = [WireField.metricId, WireField.metricType, WireField.tags, WireField.timestamps, WireField.values];

/**
 * A field the protocol does not have (`labels` for `tags`, `metricId`) was once dropped
 * silently, storing the point without what the client meant to send: refuse it, with a hint.
 */
function refuseUnknownFields(item: Record<string, unknown>, known: readonly string[], where: string, index: number): void {
  for (const key in item) {
    if (known.includes(key)) continue;
    const hint = didYouMean(key, known);
    throw new PayloadRefusedError(
      `${where}.${key} is not a known field${hint === undefined ? '' : ` (did you mean ${hint}?)`}; known: ${known.join(', ')}`,
      'validation', index, key,
    );
  }
}

function copyTimes(src: ArrayLike<unknown>, dst: Float64Array, at: number, index: number, policy: TimestampPolicy): void {
  for (let j = 0; j < src.length; j++) {
    const t = src[j];
    const ms = t instanceof Date ? t.getTime() : typeof t === 'number' ? numericTimeMs(t, policy) : t;
    if (typeof t === 'number' && (ms as number) < policy.floorMs && isStorableTime(ms as number)) {
      throw new PayloadRefusedError(floorMessage(`${WireField.series}[${index}].${WireField.timestamps}[${j}]`, t, policy), 'validation', index, `${WireField.timestamps}[${j}]`);
    }
    if (typeof ms !== 'number' || !isStorableTime(ms)) {
      throw new PayloadRefusedError(
        `${WireField.series}[${index}].${WireField.timestamps}[${j}]=${describeValue(t)} must be epoch milliseconds in [1970, 2200)`,
        'validation', index, `${WireField.timestamps}[${j}]`,
      );
    }
    dst[at + j] = ms;
  }
}

function copyValues(src: ArrayLike<unknown>, dst: Float64Array, at: number, index: number): void {
  for (let j = 0; j < src.length; j++) {
    const v = src[j];
    if (typeof v !== 'number' || v - v !== 0) {
      throw new PayloadRefusedError(
        `${WireField.series}[${index}].${WireField.values}[${j}]=${describeValue(v)} must be a finite number`,
        'validation', index, `${WireField.values}[${j}]`,
      );
    }
    dst[at + j] = v;
  }
}
