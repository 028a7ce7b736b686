/**
 * How EMMS series appear to Prometheus clients, and back.
 *
 * - `__name__` is the metric id with every character outside `[a-zA-Z0-9_:]` (in EMMS ids: `.`
 *   and `-`) replaced by `_`, and a `_` put before a leading digit: the rule of `/federate`
 *   (src/server/prometheus_text.ts `sanitizeMetricName`, which a unit test keeps equal).
 * - Tags become labels; a tag key starting with `__` (reserved by Prometheus) loses one `_`.
 * - The reverse is unambiguous: a map per tenant from Prometheus name to the EMMS ids that
 *   produce it. When one name comes from several ids (`cpu.user` and `cpu_user`), every
 *   series of those ids also carries `emms_metric_id="<id>"`, so their series stay distinct
 *   and a selector can pick one id; a name from one id has no such label.
 */
import type { Tags } from '../model/metric.js';

export type Labels = Record<string, string>;

/** Label added to series whose Prometheus name several EMMS ids share. */
export const METRIC_ID_LABEL = 'emms_metric_id';

export function promMetricName(metricId: string): string {
  const s = metricId.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

export function promLabelName(tagKey: string): string {
  const s = tagKey.replace(/[^a-zA-Z0-9_]/g, '_');
  if (/^[0-9]/.test(s)) return `_${s}`;
  return s.startsWith('__') ? s.slice(1) : s;
}

/** A label name that certainly is the same tag key (no `_` prefix games), for pushing equality filters down. */
export function tagKeyOfLabel(label: string): string | undefined {
  return /^[A-Za-z][A-Za-z0-9_]*$/.test(label) ? label : undefined;
}

export class PromNameMap {
  readonly #idsByName = new Map<string, string[]>();

  constructor(metricIds: Iterable<string>) {
    for (const id of metricIds) {
      const name = promMetricName(id);
      const ids = this.#idsByName.get(name);
      if (ids === undefined) this.#idsByName.set(name, [id]);
      else ids.push(id);
    }
    for (const ids of this.#idsByName.values()) ids.sort();
  }

  /** EMMS ids whose Prometheus name is `name`. */
  idsOf(name: string): readonly string[] {
    return this.#idsByName.get(name) ?? [];
  }

  /** Every Prometheus metric name of the tenant, sorted. */
  names(): string[] {
    return [...this.#idsByName.keys()].sort();
  }

  /** The labels of one EMMS series. */
  labelsOf(metricId: string, tags: Tags): Labels {
    const name = promMetricName(metricId);
    const labels: Labels = { __name__: name };
    for (const [k, v] of Object.entries(tags)) if (v !== '') labels[promLabelName(k)] = v;
    if ((this.#idsByName.get(name)?.length ?? 1) > 1) labels[METRIC_ID_LABEL] = metricId;
    return labels;
  }
}
