/**
 * Turns user input (row objects or columnar series) into a validated, series-resolved
 * IngestBatch, or throws a MetricValidationError naming the first bad point; nothing of a
 * refused batch is stored or created (new series are created only once the whole batch passed).
 *
 * Fast path (validateRowsFast) and slow path (normalizePoint in src/model/metric.ts) are a pair:
 * the fast path checks each field with a cheap test and, as soon as any test fails, re-runs the
 * point through normalizePoint, which throws the canonical message for the first bad field in
 * the canonical order (metricId, metricType, tags, timestamp, value). So both paths accept the
 * same points and report the same error.
 *
 * A series is (tenant, metricId, tags); its metric type is the one of its first point, and a
 * later point with another (valid) type is stored in the same series.
 */
import {
  MetricType, isStorableTime, MetricValidationError, describeValue, normalizePoint,
  validateMetricType, type MetricDataPoint,
} from '../model/metric.js';
import type { ColumnarSeries } from '../model/api.js';
import type { IngestBatch } from '../storage/ingest_batch.js';
import { MetricTypeConflictError, type SeriesResolver } from './series_resolver.js';

const METRIC_TYPES: ReadonlySet<unknown> = new Set(Object.values(MetricType));

function refuse(point: unknown, index: number, nowMs: number): never {
  normalizePoint(point, index, nowMs);
  throw new Error(`BUG: the ingest fast path refused points[${index}] but normalizePoint accepted it`);
}

/** A validation failure gets the canonical message; any other error (a defect) is thrown as it is, not hidden behind refuse()'s. */
function refuseOrRethrow(error: unknown, point: unknown, index: number, nowMs: number): never {
  if (!(error instanceof MetricValidationError)) throw error;
  refuse(point, index, nowMs);
}

/** Validates and resolves row objects. */
export function buildRowBatch(points: readonly MetricDataPoint[], resolver: SeriesResolver, nowMs: number): IngestBatch {
  if (!Array.isArray(points)) {
    throw new MetricValidationError(`points=${describeValue(points)} must be an array of points`, -1, 'points', points);
  }
  const n = points.length;
  const ids = new Int32Array(n);
  const timestamps = new Float64Array(n);
  const values = new Float64Array(n);
  resolver.beginBatch();
  for (let i = 0; i < n; i++) {
    const p = points[i] as MetricDataPoint | undefined;
    if (typeof p !== 'object' || p === null) refuse(p, i, nowMs);
    const tags = p.tags;
    let tagSet;
    try {
      tagSet = resolver.tagSet(tags, i);
    } catch (error) {
      refuseOrRethrow(error, p, i, nowMs);
    }
    const metricId = p.metricId;
    let sid = tagSet.ids.get(metricId);
    if (sid === undefined) {
      try {
        sid = resolver.resolveSlow(tagSet, metricId, p.metricType, i);
      } catch (error) {
        refuseOrRethrow(error, p, i, nowMs);
      }
    } else if (p.metricType !== undefined && !METRIC_TYPES.has(p.metricType)) {
      validateMetricType(p.metricType, i);
    }
    resolver.checkType(sid, metricId, p.metricType, i);
    ids[i] = sid;
    const t = p.timestamp;
    if (typeof t === 'number') {
      if (!isStorableTime(t)) refuse(p, i, nowMs);
      timestamps[i] = t;
    } else if (t === undefined) {
      timestamps[i] = nowMs;
    } else if (t instanceof Date) {
      const ms = t.getTime();
      if (!isStorableTime(ms)) refuse(p, i, nowMs);
      timestamps[i] = ms;
    } else {
      refuse(p, i, nowMs);
    }
    const v = p.value;
    // `v - v === 0` is false exactly for NaN and ±Infinity.
    if (typeof v !== 'number' || v - v !== 0) refuse(p, i, nowMs);
    values[i] = v;
  }
  return finishBatch(resolver, ids, timestamps, values, n);
}

function columnError(s: number, field: string, value: unknown, rule: string): never {
  throw new MetricValidationError(`series[${s}].${field}=${describeValue(value)} ${rule}`, s, field, value);
}

/** Validates and resolves columnar series; errors name `series[i].field[j]`. */
export function buildColumnarBatch(series: readonly ColumnarSeries[], resolver: SeriesResolver): IngestBatch {
  if (!Array.isArray(series)) {
    throw new MetricValidationError(`series=${describeValue(series)} must be an array of columnar series`, -1, 'series', series);
  }
  let n = 0;
  for (let s = 0; s < series.length; s++) {
    const c = series[s];
    if (typeof c !== 'object' || c === null) columnError(s, '', c, 'must be an object with metricId, timestamps and values');
    const ts = c.timestamps as ArrayLike<number> | undefined;
    const vs = c.values as ArrayLike<number> | undefined;
    if (!isNumberColumn(ts)) columnError(s, 'timestamps', ts, 'must be an array or Float64Array of epoch milliseconds');
    if (!isNumberColumn(vs)) columnError(s, 'values', vs, 'must be an array or Float64Array of numbers');
    if (ts.length !== vs.length) columnError(s, 'values', vs, `must have as many entries as timestamps (${ts.length})`);
    n += ts.length;
  }
  const ids = new Int32Array(n);
  const timestamps = new Float64Array(n);
  const values = new Float64Array(n);
  resolver.beginBatch();
  let o = 0;
  for (let s = 0; s < series.length; s++) {
    const c = series[s]!;
    let sid: number;
    try {
      const tagSet = resolver.tagSet(c.tags, s);
      sid = tagSet.ids.get(c.metricId) ?? resolver.resolveSlow(tagSet, c.metricId, c.metricType, s);
      if (c.metricType !== undefined) validateMetricType(c.metricType, s);
      resolver.checkType(sid, c.metricId, c.metricType, s);
    } catch (error) {
      if (error instanceof MetricTypeConflictError) throw new MetricTypeConflictError(error.metricId, error.storedType, error.sentType, s, 'series');
      if (!(error instanceof MetricValidationError)) throw error;
      throw new MetricValidationError(error.message.replace(/^points\[/, 'series['), error.index, error.field, error.value);
    }
    const ts = c.timestamps;
    const vs = c.values;
    for (let j = 0; j < ts.length; j++) {
      const t = ts[j]!;
      if (typeof t !== 'number' || !isStorableTime(t)) {
        columnError(s, `timestamps[${j}]`, t, 'must be a finite epoch-millisecond time in [1970, 2200)');
      }
      const v = vs[j]!;
      if (typeof v !== 'number' || v - v !== 0) columnError(s, `values[${j}]`, v, 'must be a finite number');
      ids[o] = sid;
      timestamps[o] = t;
      values[o] = v;
      o++;
    }
  }
  return finishBatch(resolver, ids, timestamps, values, n);
}

function isNumberColumn(a: unknown): a is ArrayLike<number> {
  return Array.isArray(a) || a instanceof Float64Array;
}

/** Creates the batch's new series (the batch is valid by now) and patches their ids in. */
function finishBatch(resolver: SeriesResolver, ids: Int32Array, timestamps: Float64Array, values: Float64Array, n: number): IngestBatch {
  if (resolver.hasNewSeries) {
    const created = resolver.createNewSeries();
    for (let i = 0; i < n; i++) {
      const id = ids[i]!;
      if (id < 0) ids[i] = created[-1 - id]!;
    }
  }
  return { seriesIds: new Uint32Array(ids.buffer, ids.byteOffset, n), timestamps, values, length: n };
}
