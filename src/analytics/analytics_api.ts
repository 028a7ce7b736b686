/**
 * The embedded analytics API (camelCase): anomaly detection, correlations, forecasts and
 * capacity over series read through the engine's MetricsSystem. The computations are the pure
 * cores of this folder (detect_series.ts, correlation.ts, forecast.ts, capacity_planning.ts);
 * this file only selects data, validates requests and shapes answers. Validation errors are
 * MetricValidationError naming the field and value (the HTTP routes turn them into 400s).
 *
 * @example
 * ```ts
 * const { series } = await detectAnomalies(ms, { metricPattern: 'hsm.sign_rate', sensitivity: 0.5, windowHours: 24 });
 * const { pairs } = await findCorrelations(ms, { primaryMetric: 'kms.errors', secondaryPatterns: ['hsm.*'], correlationThreshold: 0.7, maxLag: 6 });
 * const fc = await forecast(ms, { metricPattern: 'hsm.partition_used', horizon: '7d', interval: '1h' });
 * const cap = await capacity(ms, { metricPattern: 'hsm.partition_used', limit: 1000, horizon: '30d' });
 * ```
 */
import type { MetricsSystem, SeriesResult, TimeInput } from '../model/api.js';
import type { MetricType, Tags } from '../model/metric.js';
import { parseTimeInput } from '../model/time.js';
import { batchMethod, detectSeries } from './detect_series.js';
import { DETECTOR_METHODS, thresholdForSensitivity } from './streaming_detector.js';
import type { DetectorMethod } from './streaming_detector_contract.js';
import { alignOnTimestamps, bestLagCorrelation, type CorrelationMethod } from './correlation.js';
import type { ForecastModelName } from './forecast.js';
import { AUTO_FORECAST_METHODS, forecastAuto, type AutoForecast, type AutoForecastMethod } from './forecast_auto.js';
import { scalingRecommendation, thresholdCrossing, type ScalingRecommendation } from './capacity_planning.js';
import { durationMs, invalid, nonEmptyString, numberIn } from './analytics_input.js';

/** Guards memory and CPU of one request. */
export const MAX_ANALYTICS_SERIES = 1000;
export const MAX_ANALYTICS_POINTS = 5_000_000;
const MAX_FORECAST_STEPS = 10_000;

// ---------------------------------------------------------------------------------------------
// detectAnomalies

export interface DetectAnomaliesRequest {
  metricPattern: string;
  tags?: Tags;
  /** In [0, 1]; higher flags more. Default 0.5. */
  sensitivity?: number;
  /** Hours of history scored, ending at endTime. */
  windowHours: number;
  method?: DetectorMethod;
  /** Default now. */
  endTime?: TimeInput;
  /**
   * Hours of history before the window that the detectors learn from without reporting
   * (default 168: a week lets the seasonal profile and the records form). 0 = cold start.
   */
  warmupHours?: number;
}

export interface AnomalySeries {
  metricId: string;
  metricType: MetricType;
  tags: Tags;
  timestamps: Float64Array;
  values: Float64Array;
  /** One causal score in [0, 1] per point. */
  scores: Float64Array;
  /** 'rate' for counters: the detectors score the per-second increase, not the running total. */
  scoredOn: 'value' | 'rate';
  /** Indices of the flagged points. */
  anomalies: number[];
  /** Their timestamps (epoch ms). */
  anomalyTimestamps: number[];
}

export interface DetectAnomaliesResult {
  /** The method that ran (`auto` resolved: detect_series.ts). */
  method: DetectorMethod;
  sensitivity: number;
  threshold: number;
  startTime: number;
  endTime: number;
  series: AnomalySeries[];
}

export async function detectAnomalies(engine: MetricsSystem, request: DetectAnomaliesRequest): Promise<DetectAnomaliesResult> {
  const metricPattern = nonEmptyString('metricPattern', request.metricPattern);
  const sensitivity = numberIn('sensitivity', request.sensitivity, 0, 1, 0.5);
  const windowHours = numberIn('windowHours', request.windowHours, 1 / 60, 24 * 366);
  const method = request.method ?? 'auto';
  if (!DETECTOR_METHODS.includes(method)) invalid('method', method, `must be one of ${DETECTOR_METHODS.join(', ')}`);
  const warmupHours = numberIn('warmupHours', request.warmupHours, 0, 24 * 366, 168);
  const endTime = parseTimeInput(request.endTime, 'endTime', Date.now());
  const startTime = endTime - windowHours * 3_600_000;
  const found = await engine.queryMetrics({
    metricPattern, tags: request.tags, startTime: startTime - warmupHours * 3_600_000, endTime,
    maxSeries: MAX_ANALYTICS_SERIES, maxPoints: MAX_ANALYTICS_POINTS,
  });
  const series = found.map((s): AnomalySeries => {
    const isCounter = s.metricType === 'counter';
    const { scores, isAnomaly } = detectSeries(s.timestamps, isCounter ? counterRates(s.timestamps, s.values) : s.values, { method, sensitivity });
    // Report the window only; the warm-up points were scored to teach the detectors.
    let first = 0;
    while (first < s.timestamps.length && s.timestamps[first]! < startTime) first++;
    const anomalies: number[] = [];
    for (let i = first; i < isAnomaly.length; i++) if (isAnomaly[i] === 1) anomalies.push(i - first);
    const timestamps = s.timestamps.subarray(first);
    return {
      metricId: s.metricId, metricType: s.metricType, tags: s.tags, timestamps, values: s.values.subarray(first),
      scores: scores.subarray(first), scoredOn: isCounter ? 'rate' : 'value', anomalies, anomalyTimestamps: anomalies.map((i) => timestamps[i]!),
    };
  });
  // The method that ran: `auto` over a whole queried series is `cad` (detect_series.ts).
  const ran = batchMethod(method);
  return { method: ran, sensitivity, threshold: thresholdForSensitivity(sensitivity, ran), startTime, endTime, series };
}

/**
 * Per-second increase of a counter, a reset (a drop) counting as a restart from 0, so the
 * detectors see the rate (which has anomalies) rather than the ever-growing total (which would
 * look like one endless level shift). The first point, and points sharing a timestamp with the
 * previous one, have no rate: NaN, which the detectors skip.
 */
export function counterRates(timestamps: ArrayLike<number>, values: ArrayLike<number>): Float64Array {
  const out = new Float64Array(values.length).fill(NaN);
  for (let i = 1; i < values.length; i++) {
    const dt = (timestamps[i]! - timestamps[i - 1]!) / 1000;
    if (!(dt > 0)) continue;
    const v = values[i]!;
    const prev = values[i - 1]!;
    out[i] = (v >= prev ? v - prev : v) / dt;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// findCorrelations

export interface FindCorrelationsRequest {
  /** Metric id of the primary series; all its series (after `tags`) are merged by average. */
  primaryMetric: string;
  /** Globs of the candidate series; each matching series is compared on its own. */
  secondaryPatterns: string[];
  /** Minimum |r| reported, in [0, 1]. */
  correlationThreshold: number;
  /** Bucket size; default 5m. */
  interval?: string;
  /** Largest lag tried, in buckets, both directions; default 0. */
  maxLag?: number;
  /** Default 24 hours ending at endTime. */
  windowHours?: number;
  endTime?: TimeInput;
  tags?: Tags;
}

export interface CorrelationPair {
  metricId: string;
  tags: Tags;
  /** The stronger of the two coefficients (by |r|). */
  r: number;
  method: CorrelationMethod;
  /** Buckets by which the secondary follows the primary (negative: it leads). */
  lag: number;
  lagMs: number;
  pearson: { r: number; lag: number };
  spearman: { r: number; lag: number };
  /** Aligned buckets used. */
  buckets: number;
}

export async function findCorrelations(engine: MetricsSystem, request: FindCorrelationsRequest): Promise<{ primaryMetric: string; intervalMs: number; pairs: CorrelationPair[] }> {
  const primaryMetric = nonEmptyString('primaryMetric', request.primaryMetric);
  if (!Array.isArray(request.secondaryPatterns) || request.secondaryPatterns.length === 0) {
    invalid('secondaryPatterns', request.secondaryPatterns, 'must be a non-empty array of metric patterns');
  }
  request.secondaryPatterns.forEach((p, i) => nonEmptyString(`secondaryPatterns[${i}]`, p));
  const threshold = numberIn('correlationThreshold', request.correlationThreshold, 0, 1);
  const interval = request.interval ?? '5m';
  const intervalMs = durationMs('interval', interval);
  const maxLag = request.maxLag ?? 0;
  if (!Number.isInteger(maxLag) || maxLag < 0 || maxLag > 1000) invalid('maxLag', maxLag, 'must be an integer in [0, 1000]');
  const windowHours = numberIn('windowHours', request.windowHours, 1 / 60, 24 * 366, 24);
  const endTime = parseTimeInput(request.endTime, 'endTime', Date.now());
  const startTime = endTime - windowHours * 3_600_000;
  const common = { startTime, endTime, interval, aggregation: 'avg' as const, maxPoints: MAX_ANALYTICS_POINTS };
  const [primary] = await engine.queryAggregated({ ...common, metricPattern: primaryMetric, tags: request.tags, groupBy: [], maxSeries: MAX_ANALYTICS_SERIES });
  if (primary === undefined) return { primaryMetric, intervalMs, pairs: [] };
  const seen = new Set<string>();
  const pairs: CorrelationPair[] = [];
  for (const pattern of request.secondaryPatterns) {
    const candidates = await engine.queryAggregated({ ...common, metricPattern: pattern, maxSeries: MAX_ANALYTICS_SERIES });
    for (const s of candidates) {
      const key = `${s.metricId}\u0000${JSON.stringify(s.tags)}`;
      if (seen.has(key) || (s.metricId === primaryMetric && request.tags === undefined)) continue;
      seen.add(key);
      const pair = correlatePair(primary, s, maxLag, intervalMs);
      if (pair !== undefined && Math.abs(pair.r) >= threshold) pairs.push(pair);
    }
  }
  pairs.sort((a, b) => Math.abs(b.r) - Math.abs(a.r));
  return { primaryMetric, intervalMs, pairs };
}

/** Counters are compared by their rate (of bucket averages): two growing totals always correlate. */
function comparable(s: SeriesResult): { timestamps: Float64Array; values: Float64Array } {
  return s.metricType === 'counter' ? { timestamps: s.timestamps, values: counterRates(s.timestamps, s.values) } : s;
}

function correlatePair(primary: SeriesResult, secondary: SeriesResult, maxLag: number, intervalMs: number): CorrelationPair | undefined {
  const aligned = alignOnTimestamps(comparable(primary), comparable(secondary));
  const lag = Math.min(maxLag, Math.max(0, aligned.x.length - 10));
  const p = bestLagCorrelation(aligned.x, aligned.y, lag, 'pearson');
  const s = bestLagCorrelation(aligned.x, aligned.y, lag, 'spearman');
  if (Number.isNaN(p.r) && Number.isNaN(s.r)) return undefined;
  const usePearson = Number.isNaN(s.r) || (!Number.isNaN(p.r) && Math.abs(p.r) >= Math.abs(s.r));
  const best = usePearson ? p : s;
  return {
    metricId: secondary.metricId,
    tags: secondary.tags,
    r: best.r,
    method: usePearson ? 'pearson' : 'spearman',
    lag: best.lag,
    lagMs: best.lag * intervalMs,
    pearson: { r: p.r, lag: p.lag },
    spearman: { r: s.r, lag: s.lag },
    buckets: aligned.x.length,
  };
}

// ---------------------------------------------------------------------------------------------
// forecast

/** `auto` chooses by held-out error (forecast_auto.ts); the others ask for one model family. */
export type ForecastMethod = AutoForecastMethod;
export const FORECAST_METHODS: readonly ForecastMethod[] = AUTO_FORECAST_METHODS;

export interface ForecastRequest {
  metricPattern: string;
  tags?: Tags;
  /** How far ahead: a duration (`7d`) or milliseconds. */
  horizon: string | number;
  /** Bucket size of the history and of the predicted points (`1h`). */
  interval: string;
  method?: ForecastMethod;
  /** History used, as a duration; default 1,000 buckets. */
  lookback?: string | number;
  endTime?: TimeInput;
  /** Prediction-interval coverage, default 0.95. */
  coverage?: number;
}

export interface ForecastPoint {
  timestamp: number;
  value: number;
  lower: number;
  upper: number;
}

export interface SeriesForecast {
  metricId: string;
  tags: Tags;
  /** The model used; may differ from the one asked for, and then `fallback` says why. */
  method: ForecastModelName;
  /** Seasonal period in buckets (0 = none). */
  period: number;
  residualStd: number;
  fallback?: string;
  /** 'empirical': from held-out errors by horizon; 'model': a least-squares interval (short history). */
  intervalSource: 'empirical' | 'model';
  lastTimestamp: number;
  lastValue: number;
  points: ForecastPoint[];
}

interface PreparedForecast {
  series: SeriesResult;
  path: AutoForecast;
  stepMs: number;
}

async function forecastPaths(engine: MetricsSystem, request: ForecastRequest): Promise<PreparedForecast[]> {
  const metricPattern = nonEmptyString('metricPattern', request.metricPattern);
  const intervalMs = durationMs('interval', request.interval);
  const horizonMs = durationMs('horizon', request.horizon);
  const steps = Math.ceil(horizonMs / intervalMs);
  if (steps > MAX_FORECAST_STEPS) invalid('horizon', request.horizon, `must be at most ${MAX_FORECAST_STEPS} intervals ahead; got ${steps}`);
  const method = request.method ?? 'auto';
  if (!FORECAST_METHODS.includes(method)) invalid('method', method, `must be one of ${FORECAST_METHODS.join(', ')}`);
  const coverage = numberIn('coverage', request.coverage, 0.5, 0.999, 0.95);
  const lookbackMs = durationMs('lookback', request.lookback, 1000 * intervalMs);
  const endTime = parseTimeInput(request.endTime, 'endTime', Date.now());
  const found = await engine.queryAggregated({
    metricPattern, tags: request.tags, aggregation: 'avg', interval: request.interval,
    startTime: endTime - lookbackMs, endTime, maxSeries: MAX_ANALYTICS_SERIES, maxPoints: MAX_ANALYTICS_POINTS,
  });
  const out: PreparedForecast[] = [];
  for (const s of found) {
    if (s.values.length < 3) continue;
    const filled = fillBuckets(s, intervalMs);
    out.push({ series: s, path: forecastAuto(filled, steps, { method, coverage, stepMs: intervalMs }), stepMs: intervalMs });
  }
  return out;
}

/**
 * Aggregates list non-empty buckets only; Holt-Winters needs a regular grid, so a missing
 * bucket is filled by linear interpolation between its neighbours.
 */
export function fillBuckets(s: SeriesResult, intervalMs: number): Float64Array {
  const first = s.timestamps[0]!;
  const last = s.timestamps[s.timestamps.length - 1]!;
  const n = Math.round((last - first) / intervalMs) + 1;
  const values = new Float64Array(n);
  let j = 0;
  for (let i = 0; i < n; i++) {
    const t = first + i * intervalMs;
    while (j + 1 < s.timestamps.length && s.timestamps[j + 1]! <= t) j++;
    const t0 = s.timestamps[j]!;
    const v0 = s.values[j]!;
    if (t0 === t || j + 1 >= s.timestamps.length) {
      values[i] = v0;
    } else {
      const t1 = s.timestamps[j + 1]!;
      values[i] = v0 + ((s.values[j + 1]! - v0) * (t - t0)) / (t1 - t0);
    }
  }
  return values;
}

export async function forecast(engine: MetricsSystem, request: ForecastRequest): Promise<{ series: SeriesForecast[] }> {
  const prepared = await forecastPaths(engine, request);
  return {
    series: prepared.map(({ series: s, path, stepMs }) => {
      const lastTimestamp = s.timestamps[s.timestamps.length - 1]!;
      const points: ForecastPoint[] = [];
      for (let h = 0; h < path.mean.length; h++) {
        points.push({ timestamp: lastTimestamp + (h + 1) * stepMs, value: path.mean[h]!, lower: path.lower[h]!, upper: path.upper[h]! });
      }
      return {
        metricId: s.metricId, tags: s.tags, method: path.method, period: path.period, residualStd: path.residualStd,
        ...(path.fallback !== undefined ? { fallback: path.fallback } : {}), intervalSource: path.intervalSource,
        lastTimestamp, lastValue: s.values[s.values.length - 1]!, points,
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------------
// capacity

export interface CapacityRequest {
  metricPattern: string;
  tags?: Tags;
  /** The value that must not be reached (a capacity, or a floor when below the series). */
  limit: number;
  /** How far ahead to look; default 30d. */
  horizon?: string | number;
  /** Default 1h. */
  interval?: string;
  method?: ForecastMethod;
  lookback?: string | number;
  endTime?: TimeInput;
}

export interface SeriesCapacity {
  metricId: string;
  tags: Tags;
  lastTimestamp: number;
  lastValue: number;
  limit: number;
  direction: 'rising' | 'falling';
  method: ForecastModelName;
  /** Predicted crossing (epoch ms), or null if not within the horizon. */
  expectedTime: number | null;
  /** 95% range of the crossing: earliest plausible and latest (null = beyond the horizon). */
  earliestTime: number | null;
  latestTime: number | null;
  /** Probability of reaching the limit within the horizon. */
  probabilityWithinHorizon: number;
  /** "fills in 9 days ± 2": days to the expected crossing and half the range, when known. */
  daysToLimit: number | null;
  daysUncertainty: number | null;
  recommendation: ScalingRecommendation;
}

export async function capacity(engine: MetricsSystem, request: CapacityRequest): Promise<{ series: SeriesCapacity[] }> {
  if (typeof request.limit !== 'number' || !Number.isFinite(request.limit)) invalid('limit', request.limit, 'must be a finite number');
  const prepared = await forecastPaths(engine, {
    metricPattern: request.metricPattern, tags: request.tags, horizon: request.horizon ?? '30d', interval: request.interval ?? '1h',
    method: request.method ?? 'auto', lookback: request.lookback, endTime: request.endTime,
  });
  const limit = request.limit;
  return {
    series: prepared.map(({ series: s, path, stepMs }) => {
      const lastTimestamp = s.timestamps[s.timestamps.length - 1]!;
      const lastValue = s.values[s.values.length - 1]!;
      const c = thresholdCrossing(path, lastValue, limit);
      const at = (step: number | undefined): number | null => (step === undefined ? null : lastTimestamp + step * stepMs);
      const expectedTime = at(c.expectedStep);
      const earliestTime = at(c.earliestStep);
      const latestTime = at(c.latestStep);
      const dayMs = 86_400_000;
      const daysToLimit = expectedTime === null ? null : (expectedTime - lastTimestamp) / dayMs;
      const daysUncertainty = expectedTime === null || earliestTime === null || latestTime === null ? null : (latestTime - earliestTime) / (2 * dayMs);
      return {
        metricId: s.metricId, tags: s.tags, lastTimestamp, lastValue, limit, direction: c.direction, method: path.method,
        expectedTime, earliestTime, latestTime, probabilityWithinHorizon: c.probabilityWithinHorizon, daysToLimit, daysUncertainty,
        recommendation: limit > 0 ? scalingRecommendation(path, limit) : { action: 'none', peakUtilisation: NaN, recommendedCapacity: limit, reason: 'limit ≤ 0: no capacity to scale' },
      };
    }),
  };
}
