/**
 * Where the evaluator's selectors get their points: the SeriesSource contract, and its
 * implementation over the engine's raw query path (chunks decoded by the WASM codec, heads
 * merged, tenant-scoped by the MetricsSystem view it is given).
 *
 * A selector's metric name is mapped back to EMMS ids through the tenant's PromNameMap; its
 * equality matchers on plain tag keys are pushed down as the engine's exact tag filters, and
 * every matcher is then checked on the mapped labels, so what is selected is exactly what the
 * labels say.
 */
import type { MetricsSystem } from '../model/api.js';
import type { Tags } from '../model/metric.js';
import type { LabelMatcher } from './ast.js';
import { PromQLExecutionError } from './errors.js';
import { compileMatcher, matchesAll, type CompiledMatcher } from './label_matcher.js';
import { METRIC_ID_LABEL, PromNameMap, tagKeyOfLabel, type Labels } from './name_mapping.js';
import { QueryLimitError } from '../query/errors.js';
import { evalRangeFunctionOfSeries } from '../query/range_window_functions.js';
import { newStepSeries, type StepSeries } from './step_values.js';

export interface RawSeries {
  readonly labels: Labels;
  /** Epoch ms, ascending. */
  readonly timestamps: Float64Array;
  readonly values: Float64Array;
}

/** A range function and its evaluation: the window of step t is [t - offset - range, t - offset]. */
export interface RangeSpec {
  readonly func: string;
  readonly stepsMs: Float64Array;
  readonly rangeMs: number;
  readonly offsetMs: number;
  /** quantile_over_time's φ at each step. */
  readonly param: Float64Array | undefined;
}

export interface SelectLimits {
  /** Series one selector may match. */
  readonly maxSeries: number;
  /** Points one selector may read. */
  readonly maxPoints: number;
}

/** Lifecycle: one per request; the name map is read once, on first use. */
export interface SeriesSource {
  /** Series matching every matcher, with their points in [minMs, maxMs] (both inclusive). */
  select(matchers: readonly LabelMatcher[], minMs: number, maxMs: number, limits: SelectLimits): Promise<RawSeries[]>;
  /**
   * Optional: `range.func` of every series matching every matcher, at every step, computed
   * where the points are read, so that only step values reach the evaluator. The same as
   * select() over [minMs, maxMs] followed by the function of each series (range_functions.ts):
   * series in select()'s order with its labels (metric name kept), those with no value at any
   * step left out; `points` is what select() would have counted against `limits.maxPoints`.
   */
  selectRange?(matchers: readonly LabelMatcher[], minMs: number, maxMs: number, limits: SelectLimits, range: RangeSpec): Promise<{ series: StepSeries[]; points: number }>;
  /** Labels of the series matching every matcher; at most `maxSeries` or a PromQLExecutionError. */
  series(matchers: readonly LabelMatcher[], maxSeries: number): Promise<Labels[]>;
  /** Every metric name, sorted. */
  metricNames(): string[];
}

function tooManySeries(limits: SelectLimits): PromQLExecutionError {
  return new PromQLExecutionError(`a selector matched more than ${limits.maxSeries} series; narrow it with more label matchers`);
}

function tooManyPoints(limits: SelectLimits): PromQLExecutionError {
  return new PromQLExecutionError(`a selector read more than ${limits.maxPoints} points; shorten the range or narrow the selector`);
}

export class EngineSeriesSource implements SeriesSource {
  #names: PromNameMap | undefined;

  constructor(readonly metrics: MetricsSystem) {}

  async #nameMap(): Promise<PromNameMap> {
    if (this.#names === undefined) {
      const ids = this.metrics.metricIds?.() ?? [...new Set((await this.metrics.listSeries('*')).map((s) => s.metricId))];
      this.#names = new PromNameMap(ids);
    }
    return this.#names;
  }

  metricNames(): string[] {
    if (this.#names === undefined) throw new Error('BUG: metricNames() before the name map was read');
    return this.#names.names();
  }

  /** EMMS ids whose Prometheus name is `name`. */
  async idsOf(name: string): Promise<readonly string[]> {
    return (await this.#nameMap()).idsOf(name);
  }

  async loadNames(): Promise<void> {
    await this.#nameMap();
  }

  async #plan(matchers: readonly LabelMatcher[]): Promise<{ names: PromNameMap; ids: string[]; pushdown: Tags | undefined; compiled: CompiledMatcher[] }> {
    const names = await this.#nameMap();
    const compiled = matchers.map(compileMatcher);
    const nameMatchers = compiled.filter((m) => m.name === '__name__');
    const literal = matchers.find((m) => m.name === '__name__' && m.op === '=');
    const candidates = literal !== undefined ? [literal.value] : names.names().filter((n) => nameMatchers.every((m) => m.matches(n)));
    const ids = candidates.flatMap((n) => names.idsOf(n));
    const pushdown: Tags = {};
    for (const m of matchers) {
      const key = m.op === '=' && m.value !== '' && m.name !== METRIC_ID_LABEL ? tagKeyOfLabel(m.name) : undefined;
      if (key !== undefined) pushdown[key] = m.value;
    }
    return { names, ids, pushdown: Object.keys(pushdown).length === 0 ? undefined : pushdown, compiled };
  }

  async select(matchers: readonly LabelMatcher[], minMs: number, maxMs: number, limits: SelectLimits): Promise<RawSeries[]> {
    const { names, ids, pushdown, compiled } = await this.#plan(matchers);
    const out: RawSeries[] = [];
    let points = 0;
    for (const id of ids) {
      const found = await this.metrics.queryMetrics({
        metricPattern: id, ...(pushdown === undefined ? {} : { tags: pushdown }), startTime: Math.max(0, minMs), endTime: Math.max(0, maxMs + 1),
      });
      for (const s of found) {
        const labels = names.labelsOf(s.metricId, s.tags);
        if (!matchesAll(compiled, labels)) continue;
        points += s.timestamps.length;
        if (out.length >= limits.maxSeries) throw tooManySeries(limits);
        if (points > limits.maxPoints) throw tooManyPoints(limits);
        out.push({ labels, timestamps: s.timestamps, values: s.values });
      }
    }
    return out;
  }

  async selectRange(matchers: readonly LabelMatcher[], minMs: number, maxMs: number, limits: SelectLimits, range: RangeSpec): Promise<{ series: StepSeries[]; points: number }> {
    const queryRange = this.metrics.queryRangeFunction;
    if (queryRange === undefined) {
      // An engine without the fast path: the points come here and the function runs here.
      const input = await this.select(matchers, minMs, maxMs, limits);
      const series: StepSeries[] = [];
      let points = 0;
      for (const s of input) {
        points += s.timestamps.length;
        const r = newStepSeries(s.labels, range.stepsMs.length);
        if (evalRangeFunctionOfSeries(range.func, s.timestamps, s.values, range.stepsMs, range.rangeMs, range.offsetMs, range.param, r)) series.push(r);
      }
      return { series, points };
    }
    const { names, ids, pushdown, compiled } = await this.#plan(matchers);
    try {
      const found = await queryRange.call(this.metrics, {
        metricIds: ids, tags: pushdown, accept: (metricId, tags) => matchesAll(compiled, names.labelsOf(metricId, tags)),
        startMs: Math.max(0, minMs), endMs: Math.max(0, maxMs + 1), maxSeries: limits.maxSeries, maxPoints: limits.maxPoints, ...range,
      });
      return {
        series: found.series.map((s) => ({ labels: names.labelsOf(s.metricId, s.tags), values: s.values, present: s.present })),
        points: found.pointsRead,
      };
    } catch (error) {
      if (error instanceof QueryLimitError) throw error.limit === 'maxSeries' ? tooManySeries(limits) : tooManyPoints(limits);
      throw error;
    }
  }

  async series(matchers: readonly LabelMatcher[], maxSeries: number): Promise<Labels[]> {
    const { names, ids, pushdown, compiled } = await this.#plan(matchers);
    const out: Labels[] = [];
    for (const id of ids) {
      for (const s of await this.metrics.listSeries(id, pushdown)) {
        const labels = names.labelsOf(s.metricId, s.tags);
        if (!matchesAll(compiled, labels)) continue;
        if (out.length >= maxSeries) throw new PromQLExecutionError(`more than ${maxSeries} series match; narrow match[]`);
        out.push(labels);
      }
    }
    return out;
  }
}
