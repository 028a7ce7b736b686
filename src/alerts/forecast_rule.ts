/**
 * Failure prediction for alert rules with a `forecast` condition: "disk usage will pass 95%
 * within 6 h". Per watched series, the bucketed history (avg per interval over the lookback) is
 * forecast by forecastAuto (Holt-Winters, damped trend or a line, with calibrated intervals) and
 * the rule's comparison is applied along the path: the alert holds while the mean path (or,
 * with `fire_on: earliest`, the pessimistic interval bound) crosses the threshold within the
 * horizon, and resolves when it no longer does. The alert carries the crossing times: expected
 * (mean path), earliest (pessimistic bound) and latest (optimistic bound, or "beyond horizon").
 *
 * A forecast is recomputed only when a new bucket has started, not every cycle: a 15-second
 * cycle over 5-minute buckets would otherwise refit the same history twenty times.
 */
import type { MetricsSystem } from '../model/api.js';
import { fillBuckets } from '../analytics/analytics_api.js';
import { forecastAuto } from '../analytics/forecast_auto.js';
import { conditionFalse, conditionTrue, type CycleChanges } from './alert_lifecycle.js';
import type { RuleRuntime } from './rule_registry.js';
import { compare, type AlertRule, type ForecastCondition } from './rule.js';
import type { WatchedSeries } from './watched_series.js';

export interface ForecastVerdict {
  /** Start of the newest bucket the forecast saw; a new bucket means a new forecast. */
  bucket: number;
  crosses: boolean;
  /** The most extreme value of the mean path within the horizon, in the comparison's direction. */
  value: number;
  expectedAt: number | null;
  earliestAt: number | null;
  latestAt: number | null;
  method: string;
}

/** Series forecast at once: overlaps the engine's reads without crowding ingest. */
const CONCURRENCY = 8;

function firstCrossing(path: Float64Array, rule: AlertRule, threshold: number): number | undefined {
  for (let h = 0; h < path.length; h++) if (compare(rule.comparison, path[h]!, threshold)) return h + 1;
  return undefined;
}

/** The verdict for one bucketed history (exported for tests that need no engine). */
export function forecastVerdict(rule: AlertRule, fc: ForecastCondition, timestamps: Float64Array, values: Float64Array, bucket: number): ForecastVerdict | undefined {
  if (values.length < 3) return undefined;
  const intervalMs = fc.interval_seconds * 1000;
  const filled = fillBuckets({ metricId: '', metricType: 'gauge', tags: {}, timestamps, values }, intervalMs);
  const steps = Math.max(1, Math.ceil(fc.horizon_seconds / fc.interval_seconds));
  const path = forecastAuto(filled, steps, { method: fc.method, coverage: fc.coverage, stepMs: intervalMs });
  const threshold = rule.threshold_value!;
  const rising = rule.comparison === '>' || rule.comparison === '>=';
  const pessimistic = rising ? path.upper : path.lower;
  const optimistic = rising ? path.lower : path.upper;
  const expected = firstCrossing(path.mean, rule, threshold);
  const earliest = firstCrossing(pessimistic, rule, threshold);
  const latest = firstCrossing(optimistic, rule, threshold);
  const last = timestamps[timestamps.length - 1]!;
  const at = (step: number | undefined): number | null => (step === undefined ? null : last + step * intervalMs);
  let value = path.mean[0]!;
  for (const v of path.mean) value = rising ? Math.max(value, v) : Math.min(value, v);
  return {
    bucket, crosses: (fc.fire_on === 'earliest' ? earliest : expected) !== undefined, value,
    expectedAt: at(expected), earliestAt: at(earliest), latestAt: at(latest), method: path.method,
  };
}

/** Brings the rule's verdicts up to date for its series: one aggregated query per series whose bucket moved on. */
export async function refreshForecasts(system: MetricsSystem, table: WatchedSeries, rt: RuleRuntime, now: number): Promise<void> {
  const fc = rt.rule.forecast!;
  const intervalMs = fc.interval_seconds * 1000;
  const bucket = Math.floor(now / intervalMs) * intervalMs;
  const verdicts = (rt.forecasts ??= new Map());
  for (const idx of verdicts.keys()) if (!rt.series.includes(idx)) verdicts.delete(idx);
  const due = rt.series.filter((idx) => verdicts.get(idx)?.bucket !== bucket);
  for (let i = 0; i < due.length; i += CONCURRENCY) {
    await Promise.all(due.slice(i, i + CONCURRENCY).map(async (idx) => {
      const found = await system.queryAggregated({
        metricPattern: table.metricIds[idx]!, tags: table.tags[idx], aggregation: 'avg', interval: `${fc.interval_seconds}s`,
        startTime: now - fc.lookback_seconds * 1000, endTime: now + 1,
      });
      // The query's tags are a filter: a series with more tags than asked for also matches.
      const s = found.find((f) => table.indexOf(f.metricId, f.tags) === idx);
      const verdict = s === undefined ? undefined : forecastVerdict(rt.rule, fc, s.timestamps, s.values, bucket);
      verdicts.set(idx, verdict ?? { bucket, crosses: false, value: NaN, expectedAt: null, earliestAt: null, latestAt: null, method: 'none' });
    }));
  }
}

function iso(ms: number | null): string {
  return ms === null ? 'beyond horizon' : new Date(ms).toISOString();
}

/** Applies the verdicts: conditions true for crossing series, false (then resolved) for the others. */
export function evaluateForecastRule(changes: CycleChanges, rt: RuleRuntime, table: WatchedSeries, cycle: number): void {
  const now = changes.now;
  for (const idx of rt.series) {
    const v = rt.forecasts?.get(idx);
    if (v === undefined || !v.crosses) continue;
    const key = table.keys[idx]!;
    conditionTrue(changes, rt, key, v.value, now, table.metricIds[idx]!, table.tags[idx]!, null, cycle);
    const a = rt.alerts.get(key);
    if (a === undefined) continue;
    Object.assign(a.rec.annotations, {
      forecast_expected_crossing: iso(v.expectedAt),
      forecast_earliest_crossing: iso(v.earliestAt),
      forecast_latest_crossing: iso(v.latestAt),
      forecast_method: v.method,
    });
    changes.dirty.set(a.rec.alert_id, a.rec);
  }
  for (const a of [...rt.alerts.values()]) {
    if (a.seen !== cycle) {
      a.seen = cycle;
      conditionFalse(changes, rt, a);
    }
  }
}
