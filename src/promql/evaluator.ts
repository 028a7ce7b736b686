/**
 * Evaluates a parsed PromQL expression at every step of [start, end] (an instant query is one
 * step). First every selector's points are read once, for the whole time span the steps need
 * (the window of the last step back to the lookback or range of the first, shifted by the
 * offset); then the tree is evaluated bottom-up over all steps at once (step_values.ts).
 *
 * Semantics are Prometheus 2.42's: an instant selector takes a series' newest point at or
 * before the step time and no older than the lookback delta (5 minutes, both ends inclusive);
 * a range selector takes the points in [t - range, t]. EMMS stores no staleness markers, so a
 * series that stops reporting is seen for the lookback delta after its last point.
 *
 * Bounded: series and points per selector, points read per query, steps, and a deadline
 * checked while evaluating.
 */
import type { Call, Expr, MatrixSelector, NumberLiteral, VectorSelector } from './ast.js';
import { PromQLExecutionError, PromQLTimeoutError } from './errors.js';
import { evalAggregation } from './aggregation.js';
import { evalBinary } from './binary_ops.js';
import { evalElementwise, evalHistogramQuantile, evalTime, evalVector, isElementwiseFunction } from './instant_functions.js';
import { evalRangeFunction, rangeResultLabels } from './range_functions.js';
import { isRangeFunction } from '../query/range_window_functions.js';
import type { RawSeries, SeriesSource } from './series_source.js';
import { dropMetricName, mergeSameLabels, newStepSeries, type StepSeries, type StepValue } from './step_values.js';

export interface EvalLimits {
  /** Prometheus' default lookback delta. */
  readonly lookbackMs: number;
  /** Series one selector may match. */
  readonly maxSeriesPerSelector: number;
  /** Points one query may read, over all its selectors. */
  readonly maxPointsRead: number;
  /** Steps of a range query (Prometheus refuses more than 11,000 points per series). */
  readonly maxSteps: number;
  /** Evaluation deadline. */
  readonly timeoutMs: number;
}

export const DEFAULT_EVAL_LIMITS: EvalLimits = {
  lookbackMs: 5 * 60_000,
  maxSeriesPerSelector: 20_000,
  // 16 bytes a point in memory: 20M points is 320 MB at worst, one query at a time per core.
  maxPointsRead: 20_000_000,
  maxSteps: 11_000,
  timeoutMs: 30_000,
};

interface Context {
  readonly steps: Float64Array;
  readonly data: Map<VectorSelector, RawSeries[]>;
  /** Range function calls the source evaluated where it read the points (SeriesSource.selectRange). */
  readonly ranges: Map<Call, StepSeries[]>;
  readonly limits: EvalLimits;
  readonly deadline: number;
  checkDeadline(): void;
}

/** A selector to read, and the range function call it is the argument of when the source can evaluate that call itself. */
interface SelectorRead {
  selector: VectorSelector;
  rangeMs: number | undefined;
  call?: Call;
}

/**
 * A range function call whose points need not reach the evaluator: its parameter, if any, is a
 * literal (quantile_over_time's φ), so the source can evaluate it per series where it reads.
 */
function isPushableRangeCall(e: Call): boolean {
  if (!isRangeFunction(e.func) || e.args[e.args.length - 1]?.kind !== 'matrix_selector') return false;
  return e.args.length === 1 || (e.args.length === 2 && e.args[0]!.kind === 'number');
}

function selectorsOf(e: Expr, out: SelectorRead[], pushRanges: boolean): void {
  switch (e.kind) {
    case 'vector_selector': out.push({ selector: e, rangeMs: undefined }); return;
    case 'matrix_selector': out.push({ selector: e.selector, rangeMs: e.rangeMs }); return;
    case 'call': {
      if (pushRanges && isPushableRangeCall(e)) {
        const m = e.args[e.args.length - 1] as MatrixSelector;
        out.push({ selector: m.selector, rangeMs: m.rangeMs, call: e });
        return;
      }
      for (const a of e.args) selectorsOf(a, out, pushRanges);
      return;
    }
    case 'aggregate': selectorsOf(e.expr, out, pushRanges); if (e.param !== undefined) selectorsOf(e.param, out, pushRanges); return;
    case 'binary': selectorsOf(e.lhs, out, pushRanges); selectorsOf(e.rhs, out, pushRanges); return;
    case 'unary': case 'paren': selectorsOf(e.expr, out, pushRanges); return;
    case 'number': case 'string': return;
  }
}

async function readSelectors(
  expr: Expr, source: SeriesSource, startMs: number, endMs: number, steps: Float64Array, limits: EvalLimits, checkDeadline: () => void,
): Promise<{ data: Map<VectorSelector, RawSeries[]>; ranges: Map<Call, StepSeries[]> }> {
  const found: SelectorRead[] = [];
  selectorsOf(expr, found, source.selectRange !== undefined);
  const data = new Map<VectorSelector, RawSeries[]>();
  const ranges = new Map<Call, StepSeries[]>();
  let budget = limits.maxPointsRead;
  for (const { selector, rangeMs, call } of found) {
    checkDeadline();
    const minMs = startMs - selector.offsetMs - (rangeMs ?? limits.lookbackMs);
    const maxMs = endMs - selector.offsetMs;
    const selectLimits = { maxSeries: limits.maxSeriesPerSelector, maxPoints: budget };
    if (call !== undefined) {
      const literal = call.args.length === 2 ? (call.args[0] as NumberLiteral).value : undefined;
      const { series, points } = await source.selectRange!(selector.matchers, minMs, maxMs, selectLimits, {
        func: call.func, stepsMs: steps, rangeMs: rangeMs!, offsetMs: selector.offsetMs, param: literal === undefined ? undefined : new Float64Array(steps.length).fill(literal),
      });
      budget -= points;
      ranges.set(call, mergeSameLabels(series.map((s) => ({ labels: rangeResultLabels(call.func, s.labels), values: s.values, present: s.present }))));
      continue;
    }
    const series = await source.select(selector.matchers, minMs, maxMs, selectLimits);
    for (const s of series) budget -= s.timestamps.length;
    data.set(selector, series);
  }
  return { data, ranges };
}

function evalSelector(ctx: Context, selector: VectorSelector): StepSeries[] {
  const { steps, limits } = ctx;
  const out: StepSeries[] = [];
  for (const s of ctx.data.get(selector)!) {
    ctx.checkDeadline();
    const ts = s.timestamps;
    const n = ts.length;
    const r = newStepSeries(s.labels, steps.length);
    let next = 0;
    let any = false;
    for (let i = 0; i < steps.length; i++) {
      const ref = steps[i]! - selector.offsetMs;
      while (next < n && ts[next]! <= ref) next++;
      if (next === 0 || ts[next - 1]! < ref - limits.lookbackMs) continue;
      r.values[i] = s.values[next - 1]!;
      r.present[i] = 1;
      any = true;
    }
    if (any) out.push(r);
  }
  return out;
}

function scalarOf(ctx: Context, e: Expr): Float64Array {
  const v = evalExpr(ctx, e);
  if (v.kind !== 'scalar') throw new Error(`BUG: expected a scalar, got ${v.kind}`);
  return v.values;
}

function vectorOf(ctx: Context, e: Expr): StepSeries[] {
  const v = evalExpr(ctx, e);
  if (v.kind !== 'vector') throw new Error(`BUG: expected a vector, got ${v.kind}`);
  return v.series;
}

function evalCall(ctx: Context, call: Call): StepValue {
  const { func, args } = call;
  const n = ctx.steps.length;
  const evaluated = ctx.ranges.get(call);
  if (evaluated !== undefined) return { kind: 'vector', series: evaluated };
  if (isRangeFunction(func)) {
    const m = args[args.length - 1] as MatrixSelector;
    const param = args.length > 1 ? scalarOf(ctx, args[0]!) : undefined;
    return { kind: 'vector', series: evalRangeFunction(func, ctx.data.get(m.selector)!, ctx.steps, m.rangeMs, m.selector.offsetMs, param, ctx.checkDeadline) };
  }
  if (isElementwiseFunction(func)) {
    const input = vectorOf(ctx, args[0]!);
    return { kind: 'vector', series: evalElementwise(func, input, args[1] === undefined ? undefined : scalarOf(ctx, args[1])) };
  }
  switch (func) {
    case 'histogram_quantile': return { kind: 'vector', series: evalHistogramQuantile(scalarOf(ctx, args[0]!), vectorOf(ctx, args[1]!)) };
    case 'vector': return { kind: 'vector', series: evalVector(scalarOf(ctx, args[0]!)) };
    case 'time': return { kind: 'scalar', values: evalTime(ctx.steps) };
    default: throw new Error(`BUG: function ${func} passed the parser but has no evaluator (n=${n})`);
  }
}

function evalExpr(ctx: Context, e: Expr): StepValue {
  ctx.checkDeadline();
  const n = ctx.steps.length;
  switch (e.kind) {
    case 'number': return { kind: 'scalar', values: new Float64Array(n).fill(e.value) };
    case 'string': return { kind: 'string', value: e.value };
    case 'paren': return evalExpr(ctx, e.expr);
    case 'vector_selector': return { kind: 'vector', series: evalSelector(ctx, e) };
    case 'matrix_selector': throw new PromQLExecutionError('a range vector can only be an argument of a function here');
    case 'call': return evalCall(ctx, e);
    case 'aggregate': {
      const param = e.param === undefined ? undefined : scalarOf(ctx, e.param);
      return { kind: 'vector', series: evalAggregation(e.op, vectorOf(ctx, e.expr), e.grouping, e.without, param, n) };
    }
    case 'binary': return evalBinary(e, evalExpr(ctx, e.lhs), evalExpr(ctx, e.rhs), n);
    case 'unary': {
      const v = evalExpr(ctx, e.expr);
      if (v.kind === 'scalar') return { kind: 'scalar', values: v.values.map((x) => -x) };
      if (v.kind !== 'vector') throw new Error(`BUG: unary minus on ${v.kind}`);
      const negated = v.series.map((s) => ({ labels: dropMetricName(s.labels), values: s.values.map((x) => -x), present: s.present }));
      return { kind: 'vector', series: mergeSameLabels(negated) };
    }
  }
}

function deadlineCheck(timeoutMs: number): { deadline: number; check: () => void } {
  const deadline = Date.now() + timeoutMs;
  let calls = 0;
  return {
    deadline,
    check: () => {
      // Date.now() costs ~25 ns; checking every 64th call keeps it out of the profile.
      if ((++calls & 63) === 0 && Date.now() > deadline) throw new PromQLTimeoutError(timeoutMs);
    },
  };
}

/** The evaluation times of [startMs, endMs] every stepMs (Prometheus: start, start+step, … ≤ end). */
export function stepTimes(startMs: number, endMs: number, stepMs: number, maxSteps: number): Float64Array {
  const count = Math.floor((endMs - startMs) / stepMs) + 1;
  if (count > maxSteps) throw new PromQLExecutionError(`exceeded maximum resolution of ${maxSteps} points per timeseries. Try decreasing the query resolution (?step=XX)`);
  const steps = new Float64Array(count);
  for (let i = 0; i < count; i++) steps[i] = startMs + i * stepMs;
  return steps;
}

/** Evaluates `expr` (scalar or instant vector typed) at every step of [startMs, endMs]. */
export async function evaluateRange(expr: Expr, source: SeriesSource, startMs: number, endMs: number, stepMs: number, limits: EvalLimits = DEFAULT_EVAL_LIMITS): Promise<{ steps: Float64Array; value: StepValue }> {
  const steps = stepTimes(startMs, endMs, stepMs, limits.maxSteps);
  const { deadline, check } = deadlineCheck(limits.timeoutMs);
  const { data, ranges } = await readSelectors(expr, source, startMs, endMs, steps, limits, check);
  if (Date.now() > deadline) throw new PromQLTimeoutError(limits.timeoutMs);
  const ctx: Context = { steps, data, ranges, limits, deadline, checkDeadline: check };
  return { steps, value: evalExpr(ctx, expr) };
}

/** An instant query of a range selector (`foo[5m]`): the raw points of each series' window. */
export async function evaluateMatrixSelector(m: MatrixSelector, source: SeriesSource, timeMs: number, limits: EvalLimits = DEFAULT_EVAL_LIMITS): Promise<RawSeries[]> {
  const { check } = deadlineCheck(limits.timeoutMs);
  const { data } = await readSelectors(m, source, timeMs, timeMs, Float64Array.of(timeMs), limits, check);
  const end = timeMs - m.selector.offsetMs;
  const start = end - m.rangeMs;
  const out: RawSeries[] = [];
  for (const s of data.get(m.selector)!) {
    let lo = 0;
    while (lo < s.timestamps.length && s.timestamps[lo]! < start) lo++;
    let hi = lo;
    while (hi < s.timestamps.length && s.timestamps[hi]! <= end) hi++;
    if (hi > lo) out.push({ labels: s.labels, timestamps: s.timestamps.subarray(lo, hi), values: s.values.subarray(lo, hi) });
  }
  return out;
}
