/**
 * Aggregates of one series over a trailing window [fromMs, toMs], on the raw columns the
 * engine returns (ascending timestamps), and the combination of per-series values into a
 * group value for rules with group_by.
 */
import { lowerBound } from '../core/sorted_search.js';
import type { RuleAggregation } from './rule.js';


/**
 * NaN when the window holds no point (no data: the condition is false). `rate` is the
 * per-second increase over the window, counter resets counted as restarts from zero.
 */
export function aggregateWindow(
  ts: Float64Array,
  values: Float64Array,
  fromMs: number,
  toMs: number,
  aggregation: RuleAggregation,
): number {
  const start = lowerBound(ts, fromMs);
  const end = lowerBound(ts, toMs + 1);
  const n = end - start;
  if (n <= 0) return NaN;
  switch (aggregation) {
    case 'last':
      return values[end - 1]!;
    case 'count':
      return n;
    case 'sum': {
      let s = 0;
      for (let i = start; i < end; i++) s += values[i]!;
      return s;
    }
    case 'avg': {
      let s = 0;
      for (let i = start; i < end; i++) s += values[i]!;
      return s / n;
    }
    case 'min': {
      let m = Infinity;
      for (let i = start; i < end; i++) if (values[i]! < m) m = values[i]!;
      return m;
    }
    case 'max': {
      let m = -Infinity;
      for (let i = start; i < end; i++) if (values[i]! > m) m = values[i]!;
      return m;
    }
    case 'rate': {
      if (n < 2) return NaN;
      let increase = 0;
      for (let i = start + 1; i < end; i++) {
        const d = values[i]! - values[i - 1]!;
        increase += d >= 0 ? d : values[i]!;
      }
      return increase / ((toMs - fromMs) / 1000);
    }
  }
}

/**
 * Combines per-series values of one group: counts, sums and rates add up; min and max take
 * the extreme; avg averages the series' averages; last takes the largest (the worst case for
 * the usual `>` rule).
 */
export class GroupAccumulator {
  sum = 0;
  min = Infinity;
  max = -Infinity;
  n = 0;
  newestTs = -Infinity;

  add(value: number, ts: number): void {
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    this.n++;
    if (ts > this.newestTs) this.newestTs = ts;
  }

  value(aggregation: RuleAggregation): number {
    if (this.n === 0) return NaN;
    switch (aggregation) {
      case 'sum':
      case 'count':
      case 'rate':
        return this.sum;
      case 'min':
        return this.min;
      case 'avg':
        return this.sum / this.n;
      case 'max':
      case 'last':
        return this.max;
    }
  }
}
