/**
 * Arithmetic and comparison operators between scalars and instant vectors, per step, as in
 * Prometheus 2.42's `VectorBinop`/`VectorscalarBinop`: vectors pair up one-to-one on all
 * labels but the metric name (or `on (…)` / `ignoring (…)`), arithmetic and `bool` drop the
 * metric name, a comparison without `bool` filters and keeps the vector's value, and a match
 * that is not unique on both sides fails rather than guessing.
 */
import { isComparison, type Binary, type BinaryOp } from './ast.js';
import { PromQLExecutionError } from './errors.js';
import type { Labels } from './name_mapping.js';
import { dropMetricName, labelsKey, mergeSameLabels, newStepSeries, type StepSeries, type StepValue } from './step_values.js';

/** The result of `lhs op rhs` and whether a comparison holds (always true for arithmetic). */
function apply(op: BinaryOp, l: number, r: number): [number, boolean] {
  switch (op) {
    case '+': return [l + r, true];
    case '-': return [l - r, true];
    case '*': return [l * r, true];
    case '/': return [l / r, true];
    // JS % on floats is C's fmod, the same as Go's math.Mod.
    case '%': return [l % r, true];
    case '^': return [l ** r, true];
    case '==': return [l, l === r];
    case '!=': return [l, l !== r];
    case '>': return [l, l > r];
    case '<': return [l, l < r];
    case '>=': return [l, l >= r];
    case '<=': return [l, l <= r];
  }
}

function scalarScalar(node: Binary, l: Float64Array, r: Float64Array): StepValue {
  const out = new Float64Array(l.length);
  for (let i = 0; i < l.length; i++) {
    const [v, keep] = apply(node.op, l[i]!, r[i]!);
    out[i] = isComparison(node.op) ? (keep ? 1 : 0) : v;
  }
  return { kind: 'scalar', values: out };
}

function vectorScalar(node: Binary, vector: readonly StepSeries[], scalar: Float64Array, scalarOnLeft: boolean): StepValue {
  const comparison = isComparison(node.op);
  const dropName = !comparison || node.returnBool;
  const out: StepSeries[] = [];
  for (const s of vector) {
    const result = newStepSeries(dropName ? dropMetricName(s.labels) : s.labels, scalar.length);
    let any = false;
    for (let i = 0; i < scalar.length; i++) {
      if (s.present[i] === 0) continue;
      const sv = s.values[i]!;
      let [v, keep] = scalarOnLeft ? apply(node.op, scalar[i]!, sv) : apply(node.op, sv, scalar[i]!);
      // A comparison keeps the vector's sample value, whichever side the scalar was on.
      if (comparison && scalarOnLeft) v = sv;
      if (node.returnBool) {
        v = keep ? 1 : 0;
        keep = true;
      }
      if (!keep) continue;
      result.values[i] = v;
      result.present[i] = 1;
      any = true;
    }
    if (any) out.push(result);
  }
  return { kind: 'vector', series: dropName ? mergeSameLabels(out) : out };
}

function matchSignature(labels: Labels, node: Binary): string {
  const m = node.matching;
  if (m !== undefined && m.on) {
    const kept: Labels = {};
    for (const k of m.labels) if (labels[k] !== undefined) kept[k] = labels[k];
    return labelsKey(kept);
  }
  const kept: Labels = {};
  for (const [k, v] of Object.entries(labels)) if (k !== '__name__' && !(m?.labels.includes(k) ?? false)) kept[k] = v;
  return labelsKey(kept);
}

function resultLabels(labels: Labels, node: Binary): Labels {
  let out = !isComparison(node.op) || node.returnBool ? dropMetricName(labels) : labels;
  const m = node.matching;
  if (m !== undefined) {
    const kept: Labels = {};
    for (const [k, v] of Object.entries(out)) if (m.on === m.labels.includes(k)) kept[k] = v;
    out = kept;
  }
  return out;
}

function vectorVector(node: Binary, lhs: readonly StepSeries[], rhs: readonly StepSeries[], steps: number): StepValue {
  const lhsSig = lhs.map((s) => matchSignature(s.labels, node));
  const rhsSig = rhs.map((s) => matchSignature(s.labels, node));
  const results = lhs.map((s) => newStepSeries(resultLabels(s.labels, node), steps));
  const used = new Uint8Array(lhs.length);
  const rhsBySig = new Map<string, StepSeries>();
  const lhsSeen = new Set<string>();
  for (let i = 0; i < steps; i++) {
    rhsBySig.clear();
    lhsSeen.clear();
    rhs.forEach((s, k) => {
      if (s.present[i] === 0) return;
      if (rhsBySig.has(rhsSig[k]!)) {
        throw new PromQLExecutionError('found duplicate series for the match group on the right hand-side of the operation; many-to-many matching not allowed: matching labels must be unique on one side');
      }
      rhsBySig.set(rhsSig[k]!, s);
    });
    lhs.forEach((s, k) => {
      if (s.present[i] === 0) return;
      const r = rhsBySig.get(lhsSig[k]!);
      if (r === undefined) return;
      if (lhsSeen.has(lhsSig[k]!)) throw new PromQLExecutionError('multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)');
      lhsSeen.add(lhsSig[k]!);
      let [v, keep] = apply(node.op, s.values[i]!, r.values[i]!);
      if (node.returnBool) {
        v = keep ? 1 : 0;
        keep = true;
      }
      if (!keep) return;
      results[k]!.values[i] = v;
      results[k]!.present[i] = 1;
      used[k] = 1;
    });
  }
  return { kind: 'vector', series: mergeSameLabels(results.filter((_, k) => used[k] === 1)) };
}

export function evalBinary(node: Binary, lhs: StepValue, rhs: StepValue, steps: number): StepValue {
  if (lhs.kind === 'scalar' && rhs.kind === 'scalar') return scalarScalar(node, lhs.values, rhs.values);
  if (lhs.kind === 'vector' && rhs.kind === 'scalar') return vectorScalar(node, lhs.series, rhs.values, false);
  if (lhs.kind === 'scalar' && rhs.kind === 'vector') return vectorScalar(node, rhs.series, lhs.values, true);
  if (lhs.kind === 'vector' && rhs.kind === 'vector') return vectorVector(node, lhs.series, rhs.series, steps);
  throw new Error(`BUG: binary operands ${lhs.kind} and ${rhs.kind} passed the type check`);
}
