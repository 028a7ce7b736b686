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

export interface RawSeries {
  readonly labels: Labels;
  /** Epoch ms, ascending. */
  readonly timestamps: Float64Array;
  readonly values: Float64Array;
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
  /** Labels of the series matching every matcher; at most `maxSeries` or a PromQLExecutionError. */
  series(matchers: readonly LabelMatcher[], maxSeries: number): Promise<Labels[]>;
  /** Every metric name, sorted. */
  metricNames(): string[];
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
        if (out.length >= limits.maxSeries) throw new PromQLExecutionError(`a selector matched more than ${limits.maxSeries} series; narrow it with more label matchers`);
        if (points > limits.maxPoints) throw new PromQLExecutionError(`a selector read more than ${limits.maxPoints} points; shorten the range or narrow the selector`);
        out.push({ labels, timestamps: s.timestamps, values: s.values });
      }
    }
    return out;
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
