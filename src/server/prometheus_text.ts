/**
 * Prometheus text exposition format (version 0.0.4) writer, used by GET /metrics and GET
 * /federate. https://prometheus.io/docs/instrumenting/exposition_formats/
 */
import type { LatestPoint } from '../model/api.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export type PrometheusType = 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';

/** Maps a metric id to a legal metric name: illegal characters become `_`. */
export function sanitizeMetricName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_:]/g, '_');
  return /^[0-9]/.test(s) ? `_${s}` : s;
}

/** Maps a tag key to a legal label name; a leading `__` (reserved by Prometheus, e.g. `__name__`) loses one `_`. */
export function sanitizeLabelName(name: string): string {
  const s = name.replace(/[^a-zA-Z0-9_]/g, '_');
  if (/^[0-9]/.test(s)) return `_${s}`;
  return s.startsWith('__') ? s.slice(1) : s;
}

export function escapeLabelValue(value: string): string {
  return value.replace(/[\\\n"]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\\\'));
}

/** Renders a float the way Prometheus parses it (`+Inf`, `-Inf`, `NaN`). */
export function formatValue(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return Number.isNaN(v) ? 'NaN' : String(v);
}

export function formatLabels(labels: Record<string, string>): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${sanitizeLabelName(k)}="${escapeLabelValue(labels[k]!)}"`).join(',')}}`;
}

/** Appends `# HELP` and `# TYPE` lines for one metric family. */
export function familyHeader(name: string, type: PrometheusType, help: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} ${type}\n`;
}

export function sampleLine(name: string, labels: Record<string, string>, value: number, timestampMs?: number): string {
  const ts = timestampMs === undefined ? '' : ` ${Math.round(timestampMs)}`;
  return `${name}${formatLabels(labels)} ${formatValue(value)}${ts}\n`;
}

const FEDERATE_TYPE: Record<string, PrometheusType> = { counter: 'counter', gauge: 'gauge' };

/**
 * Latest stored values as one family per (sanitised) metric name, each family's samples
 * together as the format requires; tags become labels and each sample carries its timestamp.
 */
export function renderFederation(points: readonly LatestPoint[]): string {
  const families = new Map<string, { type: PrometheusType; ids: Set<string>; lines: string[] }>();
  for (const p of points) {
    const name = sanitizeMetricName(p.metricId);
    let family = families.get(name);
    if (family === undefined) {
      family = { type: FEDERATE_TYPE[p.metricType] ?? 'untyped', ids: new Set(), lines: [] };
      families.set(name, family);
    }
    family.ids.add(p.metricId);
    family.lines.push(sampleLine(name, p.tags, p.value, p.timestamp));
  }
  let out = '';
  for (const [name, family] of families) {
    out += familyHeader(name, family.type, `EMMS series ${[...family.ids].join(', ')}`);
    out += family.lines.join('');
  }
  return out;
}
