/**
 * Which PromQL functions exist, which of them EMMS evaluates, and the argument types of
 * those (Prometheus `promql/parser/functions.go`). The parser checks calls against this table,
 * so a known-but-unsupported function is refused before any data is read.
 */
import type { ValueType } from './ast.js';

export interface FunctionSignature {
  readonly args: readonly ValueType[];
  /** Trailing arguments that may be left out (round's `to_nearest`). */
  readonly optional: number;
  readonly returns: 'vector' | 'scalar';
}

const MATRIX_TO_VECTOR: FunctionSignature = { args: ['matrix'], optional: 0, returns: 'vector' };

export const SUPPORTED_FUNCTIONS: Readonly<Record<string, FunctionSignature>> = {
  rate: MATRIX_TO_VECTOR,
  irate: MATRIX_TO_VECTOR,
  increase: MATRIX_TO_VECTOR,
  delta: MATRIX_TO_VECTOR,
  avg_over_time: MATRIX_TO_VECTOR,
  min_over_time: MATRIX_TO_VECTOR,
  max_over_time: MATRIX_TO_VECTOR,
  sum_over_time: MATRIX_TO_VECTOR,
  count_over_time: MATRIX_TO_VECTOR,
  last_over_time: MATRIX_TO_VECTOR,
  quantile_over_time: { args: ['scalar', 'matrix'], optional: 0, returns: 'vector' },
  histogram_quantile: { args: ['scalar', 'vector'], optional: 0, returns: 'vector' },
  abs: { args: ['vector'], optional: 0, returns: 'vector' },
  clamp_min: { args: ['vector', 'scalar'], optional: 0, returns: 'vector' },
  clamp_max: { args: ['vector', 'scalar'], optional: 0, returns: 'vector' },
  round: { args: ['vector', 'scalar'], optional: 1, returns: 'vector' },
  time: { args: [], optional: 0, returns: 'scalar' },
  vector: { args: ['scalar'], optional: 0, returns: 'vector' },
};

/** Functions of Prometheus 2.42 that EMMS does not evaluate: a 422 naming them. */
export const UNSUPPORTED_FUNCTIONS: ReadonlySet<string> = new Set([
  'absent', 'absent_over_time', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh', 'ceil', 'changes', 'clamp',
  'cos', 'cosh', 'days_in_month', 'day_of_month', 'day_of_week', 'day_of_year', 'deg', 'deriv', 'exp', 'floor',
  'histogram_count', 'histogram_sum', 'histogram_fraction', 'holt_winters', 'hour', 'idelta', 'label_replace',
  'label_join', 'ln', 'log10', 'log2', 'minute', 'month', 'pi', 'predict_linear', 'present_over_time', 'rad',
  'resets', 'scalar', 'sgn', 'sin', 'sinh', 'sort', 'sort_desc', 'sqrt', 'stddev_over_time', 'stdvar_over_time',
  'tan', 'tanh', 'timestamp', 'year',
]);

/** Aggregation operators of Prometheus 2.42 that EMMS does not evaluate. */
export const UNSUPPORTED_AGGREGATIONS: ReadonlySet<string> = new Set(['group', 'stddev', 'stdvar', 'count_values', 'quantile']);
