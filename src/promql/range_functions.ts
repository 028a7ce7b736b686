/**
 * The functions over range vectors (`rate(x[5m])`, `avg_over_time(x[1h])` …) over PromQL's
 * series: each series' values come from src/query/range_window_functions.ts (which follows
 * Prometheus 2.42's `promql/functions.go`); this file names the result series and merges
 * those that end up with the same labels.
 */
import { evalRangeFunctionOfSeries, isRangeFunction } from '../query/range_window_functions.js';
import type { Labels } from './name_mapping.js';
import type { RawSeries } from './series_source.js';
import { dropMetricName, mergeSameLabels, newStepSeries, type StepSeries } from './step_values.js';

/**
 * Applies `func` to every series' window at every step. `stepsMs` are the evaluation times;
 * the window of step t is [t - offset - range, t - offset]. `param` is quantile_over_time's φ.
 */
export function evalRangeFunction(
  func: string, input: readonly RawSeries[], stepsMs: Float64Array, rangeMs: number, offsetMs: number,
  param: Float64Array | undefined, checkDeadline: () => void,
): StepSeries[] {
  if (!isRangeFunction(func)) throw new Error(`BUG: ${func} is not a range function`);
  const out: StepSeries[] = [];
  for (const s of input) {
    checkDeadline();
    const result = newStepSeries(rangeResultLabels(func, s.labels), stepsMs.length);
    if (evalRangeFunctionOfSeries(func, s.timestamps, s.values, stepsMs, rangeMs, offsetMs, param, result)) out.push(result);
  }
  return mergeSameLabels(out);
}

/** The labels of a range function's result series: last_over_time acts like an offset and keeps the metric name; the others drop it. */
export function rangeResultLabels(func: string, labels: Labels): Labels {
  return func === 'last_over_time' ? labels : dropMetricName(labels);
}
