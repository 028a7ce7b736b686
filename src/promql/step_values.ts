/**
 * The values an expression evaluates to, held for every evaluation step at once (Prometheus'
 * range evaluation works the same way): a scalar is one number per step; an instant vector is
 * a set of series, each with a value per step and a mask of the steps where it has a sample
 * (NaN is a legal sample value, so presence cannot be encoded in the value).
 */
import { PromQLExecutionError } from './errors.js';
import type { Labels } from './name_mapping.js';

export interface StepSeries {
  labels: Labels;
  readonly values: Float64Array;
  /** 1 where the series has a sample at that step. */
  readonly present: Uint8Array;
}

export type StepValue =
  | { readonly kind: 'scalar'; readonly values: Float64Array }
  | { readonly kind: 'vector'; readonly series: StepSeries[] }
  | { readonly kind: 'string'; readonly value: string };

export function newStepSeries(labels: Labels, steps: number): StepSeries {
  return { labels, values: new Float64Array(steps), present: new Uint8Array(steps) };
}

/** A map key for a label set: names sorted, separators that cannot occur in names. */
export function labelsKey(labels: Labels): string {
  const names = Object.keys(labels).sort();
  let key = '';
  for (const n of names) key += `${n}\u0000${labels[n]!}\u0001`;
  return key;
}

/** The labels with names sorted, as Prometheus prints them. */
export function sortedLabels(labels: Labels): Labels {
  const out: Labels = {};
  for (const n of Object.keys(labels).sort()) out[n] = labels[n]!;
  return out;
}

export function dropMetricName(labels: Labels): Labels {
  if (labels.__name__ === undefined) return labels;
  const { __name__: _dropped, ...rest } = labels;
  return rest;
}

/**
 * Merges series that ended up with the same labels (after the metric name was dropped). Two
 * that both have a sample at one step make the query fail as in Prometheus ("vector cannot
 * contain metrics with the same labelset"); otherwise they are one series over time.
 */
export function mergeSameLabels(series: StepSeries[]): StepSeries[] {
  const byKey = new Map<string, StepSeries>();
  const out: StepSeries[] = [];
  for (const s of series) {
    const key = labelsKey(s.labels);
    const into = byKey.get(key);
    if (into === undefined) {
      byKey.set(key, s);
      out.push(s);
      continue;
    }
    for (let i = 0; i < s.present.length; i++) {
      if (s.present[i] === 0) continue;
      if (into.present[i] === 1) throw new PromQLExecutionError('vector cannot contain metrics with the same labelset');
      into.present[i] = 1;
      into.values[i] = s.values[i]!;
    }
  }
  return out;
}
