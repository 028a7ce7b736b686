/**
 * The engine-backed multivariate anomaly API: the series matching a pattern are grouped into
 * entities by tag (`host`), aligned on common bucket times, and each entity's joint windows are
 * scored by an isolation forest (joint_window_scores.ts). Counters are scored on their rate.
 * Validation errors are MetricValidationError naming the field, as in analytics_api.ts.
 *
 * @example
 * ```ts
 * const r = await detectJointAnomalies(ms, { metricPattern: 'system.*', entityTags: ['host'], windowHours: 24 });
 * for (const e of r.entities) console.log(e.entity, e.anomalyTimestamps);
 * ```
 */
import type { MetricsSystem, SeriesResult, TimeInput } from '../model/api.js';
import type { Tags } from '../model/metric.js';
import { parseInterval } from '../model/interval.js';
import { parseTimeInput } from '../model/time.js';
import { counterRates, MAX_ANALYTICS_POINTS, MAX_ANALYTICS_SERIES } from './analytics_api.js';
import { invalid, numberIn } from './analytics_input.js';
import { jointWindowScores, MAX_JOINT_SERIES } from './joint_window_scores.js';

export interface JointAnomaliesRequest {
  metricPattern: string;
  /** Tag keys naming an entity (`['host']`); default none: every matching series is one entity. */
  entityTags?: string[];
  tags?: Tags;
  windowHours: number;
  /** Bucket size the series are aligned on; default 5m. */
  interval?: string;
  /** Default 0.5. */
  sensitivity?: number;
  /** Points per series in a joint window; default 3. */
  windowPoints?: number;
  /** History before the window that the forest also learns from (default 168 h). */
  warmupHours?: number;
  endTime?: TimeInput;
}

export interface JointEntity {
  /** The entity's values of `entityTags`. */
  entity: Tags;
  /** The series of the entity, in column order (metric id plus tags). */
  series: Array<{ metricId: string; tags: Tags; scoredOn: 'value' | 'rate' }>;
  timestamps: Float64Array;
  /** One joint score per aligned time in the window (NaN before a full joint window). */
  scores: Float64Array;
  anomalies: number[];
  anomalyTimestamps: number[];
  threshold: number;
}

export interface JointAnomaliesResult {
  sensitivity: number;
  intervalMs: number;
  startTime: number;
  endTime: number;
  entities: JointEntity[];
}

function alignColumns(group: SeriesResult[]): { timestamps: Float64Array; columns: Float64Array[] } {
  const prepared = group.map((s) => ({ t: s.timestamps, v: s.metricType === 'counter' ? counterRates(s.timestamps, s.values) : s.values }));
  const counts = new Map<number, number>();
  for (const p of prepared) for (let i = 0; i < p.t.length; i++) if (Number.isFinite(p.v[i]!)) counts.set(p.t[i]!, (counts.get(p.t[i]!) ?? 0) + 1);
  const times = [...counts].filter(([, c]) => c === group.length).map(([t]) => t).sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const columns = prepared.map((p) => {
    const col = new Float64Array(times.length);
    for (let i = 0; i < p.t.length; i++) {
      const at = index.get(p.t[i]!);
      if (at !== undefined) col[at] = p.v[i]!;
    }
    return col;
  });
  return { timestamps: Float64Array.from(times), columns };
}

export async function detectJointAnomalies(engine: MetricsSystem, request: JointAnomaliesRequest): Promise<JointAnomaliesResult> {
  const metricPattern = request.metricPattern;
  if (typeof metricPattern !== 'string' || metricPattern.trim() === '') invalid('metricPattern', metricPattern, 'must be a non-empty string');
  const entityTags = request.entityTags ?? [];
  if (!Array.isArray(entityTags) || !entityTags.every((k) => typeof k === 'string' && k !== '')) invalid('entityTags', entityTags, 'must be an array of tag keys');
  const windowHours = numberIn('windowHours', request.windowHours, 1 / 60, 24 * 366);
  const sensitivity = numberIn('sensitivity', request.sensitivity, 0, 1, 0.5);
  const warmupHours = numberIn('warmupHours', request.warmupHours, 0, 24 * 366, 168);
  const windowPoints = numberIn('windowPoints', request.windowPoints, 1, 64, 3);
  if (!Number.isInteger(windowPoints)) invalid('windowPoints', windowPoints, 'must be a whole number of points');
  const interval = request.interval ?? '5m';
  let intervalMs: number;
  try {
    intervalMs = parseInterval(interval);
  } catch {
    return invalid('interval', interval, 'must be a duration like 1m or 5m');
  }
  const endTime = parseTimeInput(request.endTime, 'endTime', Date.now());
  const startTime = endTime - windowHours * 3_600_000;
  const found = await engine.queryAggregated({
    metricPattern, tags: request.tags, aggregation: 'avg', interval, startTime: startTime - warmupHours * 3_600_000, endTime,
    maxSeries: MAX_ANALYTICS_SERIES, maxPoints: MAX_ANALYTICS_POINTS,
  });
  const groups = new Map<string, { entity: Tags; series: SeriesResult[] }>();
  for (const s of found) {
    const entity: Tags = {};
    for (const k of entityTags) if (s.tags[k] !== undefined) entity[k] = s.tags[k]!;
    const key = JSON.stringify(entityTags.map((k) => s.tags[k] ?? null));
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { entity, series: [] }));
    g.series.push(s);
  }
  const entities: JointEntity[] = [];
  for (const g of groups.values()) {
    if (g.series.length > MAX_JOINT_SERIES) {
      invalid('metricPattern', metricPattern, `matches ${g.series.length} series of one entity; at most ${MAX_JOINT_SERIES} can be scored jointly (narrow the pattern or add entityTags)`);
    }
    g.series.sort((a, b) => a.metricId.localeCompare(b.metricId) || JSON.stringify(a.tags).localeCompare(JSON.stringify(b.tags)));
    const { timestamps, columns } = alignColumns(g.series);
    const { scores, anomalies, threshold } = jointWindowScores(columns, { windowPoints, sensitivity });
    // Report the window only; the warm-up buckets taught the forest what normal is.
    let first = 0;
    while (first < timestamps.length && timestamps[first]! < startTime) first++;
    const inWindow = anomalies.filter((i) => i >= first).map((i) => i - first);
    const ts = timestamps.subarray(first);
    entities.push({
      entity: g.entity,
      series: g.series.map((s) => ({ metricId: s.metricId, tags: s.tags, scoredOn: s.metricType === 'counter' ? 'rate' : 'value' })),
      timestamps: ts, scores: scores.subarray(first), anomalies: inWindow, anomalyTimestamps: inWindow.map((i) => ts[i]!), threshold,
    });
  }
  return { sensitivity, intervalMs, startTime, endTime, entities };
}
