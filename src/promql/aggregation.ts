/**
 * Aggregation operators across series (`sum by (region) (…)`, `topk(3, …)`), per step,
 * following Prometheus 2.42's `aggregation()` in `promql/engine.go`: the groups' labels are the
 * `by` labels, or all but the `without` labels and the metric name; avg is the running mean
 * Prometheus uses (so large values do not overflow); min/max let any number replace a NaN;
 * topk/bottomk keep the selected series' own labels and order NaN below every number.
 *
 * Groups depend on labels only, so they are computed once for all steps.
 */
import type { AggregationOp } from './ast.js';
import type { Labels } from './name_mapping.js';
import { labelsKey, newStepSeries, type StepSeries } from './step_values.js';

function groupLabels(labels: Labels, grouping: readonly string[], without: boolean): Labels {
  const out: Labels = {};
  if (without) {
    for (const [k, v] of Object.entries(labels)) if (k !== '__name__' && !grouping.includes(k)) out[k] = v;
  } else {
    for (const k of grouping) if (labels[k] !== undefined) out[k] = labels[k];
  }
  return out;
}

interface Group {
  labels: Labels;
  members: StepSeries[];
}

function groupSeries(input: readonly StepSeries[], grouping: readonly string[], without: boolean): Group[] {
  const byKey = new Map<string, Group>();
  for (const s of input) {
    const labels = groupLabels(s.labels, grouping, without);
    const key = labelsKey(labels);
    let g = byKey.get(key);
    if (g === undefined) {
      g = { labels, members: [] };
      byKey.set(key, g);
    }
    g.members.push(s);
  }
  return [...byKey.values()];
}

/**
 * Folds one group's members into `value`/`count` step by step, a member at a time: each step
 * still sees the members in input order, as Prometheus' loop does, so the sums are the same
 * float for float, while the inner loop runs over typed arrays with the operator chosen once.
 */
function reduceGroup(op: AggregationOp, members: readonly StepSeries[], value: Float64Array, count: Uint32Array): void {
  const steps = value.length;
  for (const s of members) {
    const present = s.present;
    const vs = s.values;
    switch (op) {
      case 'sum':
        for (let i = 0; i < steps; i++) {
          if (present[i] === 0) continue;
          const seen = count[i]!;
          count[i] = seen + 1;
          value[i] = seen === 0 ? vs[i]! : value[i]! + vs[i]!;
        }
        break;
      case 'count':
        for (let i = 0; i < steps; i++) {
          if (present[i] === 0) continue;
          const seen = count[i]! + 1;
          count[i] = seen;
          value[i] = seen;
        }
        break;
      case 'min':
        for (let i = 0; i < steps; i++) {
          if (present[i] === 0) continue;
          const v = vs[i]!;
          const seen = count[i]!;
          count[i] = seen + 1;
          if (seen === 0 || value[i]! > v || Number.isNaN(value[i]!)) value[i] = v;
        }
        break;
      case 'max':
        for (let i = 0; i < steps; i++) {
          if (present[i] === 0) continue;
          const v = vs[i]!;
          const seen = count[i]!;
          count[i] = seen + 1;
          if (seen === 0 || value[i]! < v || Number.isNaN(value[i]!)) value[i] = v;
        }
        break;
      case 'avg':
        for (let i = 0; i < steps; i++) {
          if (present[i] === 0) continue;
          const v = vs[i]!;
          const n = count[i]! + 1;
          count[i] = n;
          if (n === 1) {
            value[i] = v;
            continue;
          }
          const mean = value[i]!;
          if (!Number.isFinite(mean) && !Number.isNaN(mean)) {
            if (!Number.isFinite(v) && !Number.isNaN(v) && (mean > 0) === (v > 0)) continue;
            if (Number.isFinite(v)) continue;
          }
          // Each side divided by the count first, to avoid overflowing float64 (Prometheus does the same).
          value[i] = mean + (v / n - mean / n);
        }
        break;
      default: throw new Error(`BUG: ${op} is not a reducing aggregation`);
    }
  }
}

/** Series order for topk (larger first) and bottomk (smaller first); NaN always last. */
function ranks(op: 'topk' | 'bottomk'): (a: number, b: number) => number {
  return (a, b) => {
    if (Number.isNaN(a)) return Number.isNaN(b) ? 0 : 1;
    if (Number.isNaN(b)) return -1;
    return op === 'topk' ? b - a : a - b;
  };
}

export function evalAggregation(
  op: AggregationOp, input: readonly StepSeries[], grouping: readonly string[], without: boolean,
  param: Float64Array | undefined, steps: number,
): StepSeries[] {
  const groups = groupSeries(input, grouping, without);
  if (op === 'topk' || op === 'bottomk') {
    const order = ranks(op);
    const picked = new Map<StepSeries, StepSeries>();
    for (let i = 0; i < steps; i++) {
      const k = Math.trunc(param![i]!);
      if (!(k >= 1)) continue;
      for (const g of groups) {
        const present = g.members.filter((s) => s.present[i] === 1);
        present.sort((a, b) => order(a.values[i]!, b.values[i]!));
        for (const s of present.slice(0, k)) {
          let out = picked.get(s);
          if (out === undefined) {
            out = newStepSeries(s.labels, steps);
            picked.set(s, out);
          }
          out.values[i] = s.values[i]!;
          out.present[i] = 1;
        }
      }
    }
    return [...picked.values()];
  }
  const out: StepSeries[] = [];
  const count = new Uint32Array(steps);
  for (const g of groups) {
    const result = newStepSeries(g.labels, steps);
    count.fill(0);
    reduceGroup(op, g.members, result.values, count);
    let any = false;
    for (let i = 0; i < steps; i++) {
      if (count[i] === 0) continue;
      result.present[i] = 1;
      any = true;
    }
    if (any) out.push(result);
  }
  return out;
}
