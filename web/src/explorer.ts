/**
 * The query explorer: a metric pattern (completed from the series index), tag filters,
 * aggregation, interval and group-by; the answer as a chart, a table and a CSV download;
 * overlays from the analytics API (anomaly flags, a forecast with its interval). Each run also
 * fetches the JSON answer and checks that it carries exactly the binary answer's numbers.
 */
import { AGGREGATIONS } from '../../src/model/api.js';
import { parseInterval } from '../../src/model/interval.js';
import type { Aggregation } from '../../src/model/api.js';
import type { Api, QueryParams } from './api.js';
import { TimeChart, type ChartSeries } from './chart.js';
import { fromJson, type DecodedSeries } from './columnar.js';
import { h, table } from './dom.js';
import { seriesLabel, type ViewContext } from './panel.js';
import { intervalFor, resolve } from './time_range.js';
import { formatTime } from './units.js';

/** Rows the table shows (the CSV has them all). */
const TABLE_ROWS = 500;

/** Identical numbers: same series, same timestamps, values equal bit for bit (JSON's null = any non-finite). */
export function sameNumbers(a: DecodedSeries[], b: DecodedSeries[]): { same: boolean; points: number; detail: string } {
  if (a.length !== b.length) return { same: false, points: 0, detail: `${a.length} vs ${b.length} series` };
  let points = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.metricId !== y.metricId || x.timestamps.length !== y.timestamps.length) return { same: false, points, detail: `series ${i} differs` };
    for (let j = 0; j < x.timestamps.length; j++) {
      const xv = x.values[j]!;
      const yv = y.values[j]!;
      if (x.timestamps[j] !== y.timestamps[j] || (Number.isFinite(xv) || Number.isFinite(yv) ? xv !== yv : false)) {
        return { same: false, points, detail: `series ${i} point ${j}: ${x.timestamps[j]}=${xv} vs ${y.timestamps[j]}=${yv}` };
      }
      points++;
    }
  }
  return { same: true, points, detail: '' };
}

export async function compareJsonAndBinary(api: Api, q: QueryParams): Promise<{ same: boolean; points: number; detail: string; jsonBytes: number; binaryBytes: number }> {
  const { queryUrl } = await import('./api.js');
  const binary = await api.query(q);
  const res = await fetch(queryUrl(q), { headers: { accept: 'application/json', ...(api.tenant === undefined ? {} : { 'x-emms-tenant': api.tenant }) }, credentials: 'same-origin' });
  const text = await res.text();
  const json = fromJson(JSON.parse(text) as Parameters<typeof fromJson>[0]);
  return { ...sameNumbers(binary.series, json), jsonBytes: new TextEncoder().encode(text).length, binaryBytes: binary.bytes };
}

async function completions(api: Api, prefix: string): Promise<string[]> {
  const pattern = `${prefix.replace(/[*?]/g, '')}*`;
  try {
    const r = await api.get<{ series?: Array<{ metric_id: string }>; data?: Array<{ metric_id?: string }> }>(`/api/v1/series?match=${encodeURIComponent(pattern)}&limit=100`);
    const list = r.series ?? r.data ?? [];
    return [...new Set(list.map((s) => s.metric_id ?? '').filter((x) => x !== ''))].sort();
  } catch {
    // No series index route on this server: the metric ids of the last day's series.
    const now = Date.now();
    const r = await api.query({ metricPattern: pattern, startMs: now - 86_400_000, endMs: now, aggregation: 'count', interval: '1d' }).catch(() => undefined);
    return [...new Set((r?.series ?? []).map((s) => s.metricId))].sort();
  }
}

/** `key=value` suggestions for the tag filter, from the series index's label listing. */
async function tagCompletions(api: Api, metricPattern: string): Promise<string[]> {
  try {
    const r = await api.get<{ labels: Record<string, string[]> }>(`/api/v1/labels?match=${encodeURIComponent(metricPattern)}&limit=200`);
    return Object.entries(r.labels).flatMap(([k, values]) => values.slice(0, 50).map((v) => `${k}=${v}`)).slice(0, 500);
  } catch {
    return [];
  }
}

function csv(series: DecodedSeries[]): string {
  const lines = ['metric_id,tags,timestamp,value'];
  const quote = (s: string): string => `"${s.replace(/"/g, '""')}"`;
  for (const s of series) {
    const tags = quote(Object.entries(s.tags).map(([k, v]) => `${k}=${v}`).join(';'));
    for (let i = 0; i < s.timestamps.length; i++) lines.push(`${quote(s.metricId)},${tags},${new Date(s.timestamps[i]!).toISOString()},${s.values[i]}`);
  }
  return lines.join('\n') + '\n';
}

export function explorerView(ctx: ViewContext, params: URLSearchParams): HTMLElement {
  const { api } = ctx;
  const metric = h('input', { name: 'metric', list: 'metric-completions', required: true, value: params.get('metric') ?? 'system.*', 'aria-label': 'Metric pattern', autocomplete: 'off' });
  const datalist = h('datalist', { id: 'metric-completions' });
  const tags = h('input', { name: 'tags', list: 'tag-completions', placeholder: 'key=value, …', value: params.getAll('tag').join(', '), 'aria-label': 'Tag filters', autocomplete: 'off' });
  const tagList = h('datalist', { id: 'tag-completions' });
  const agg = h('select', { name: 'aggregation', 'aria-label': 'Aggregation' }, h('option', { value: '' }, 'raw points'), ...AGGREGATIONS.map((a) => h('option', { value: a }, a)));
  agg.value = params.get('agg') ?? 'avg';
  const interval = h('input', { name: 'interval', placeholder: 'auto', value: params.get('interval') ?? '', size: 6, 'aria-label': 'Interval' });
  const groupBy = h('input', { name: 'group_by', placeholder: 'tag keys', value: params.get('group_by') ?? '', size: 12, 'aria-label': 'Group by' });
  const anomalies = h('input', { type: 'checkbox', name: 'anomalies' });
  const forecast = h('input', { type: 'checkbox', name: 'forecast' });
  const wasm = h('input', { type: 'checkbox', name: 'wasm' });
  const status = h('p', { class: 'status', role: 'status', 'data-testid': 'explorer-status' });
  const check = h('p', { class: 'muted', 'data-testid': 'json-binary-check' });
  const chartEl = h('div', { class: 'chart' });
  const tableEl = h('div', { class: 'scroll' });
  const chart = new TimeChart(chartEl, 'explorer', 'count', 320);
  ctx.onLeave(() => chart.destroy());
  let last: DecodedSeries[] = [];

  let completionTimer: number | undefined;
  metric.addEventListener('input', () => {
    clearTimeout(completionTimer);
    completionTimer = window.setTimeout(() => {
      void completions(api, metric.value).then((ids) => datalist.replaceChildren(...ids.map((id) => h('option', { value: id }))));
      const typed = metric.value.trim();
      void tagCompletions(api, /[*?]/.test(typed) ? typed : `${typed}*`).then((pairs) => tagList.replaceChildren(...pairs.map((p) => h('option', { value: p }))));
    }, 200);
  });

  const run = async (): Promise<void> => {
    const { startMs, endMs } = resolve(ctx.range);
    const tagFilter: Record<string, string> = {};
    for (const part of tags.value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
      const eq = part.indexOf('=');
      if (eq > 0) tagFilter[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
    }
    const aggregation = agg.value === '' ? undefined : (agg.value as Aggregation);
    const auto = intervalFor(endMs - startMs, 300);
    const q: QueryParams = {
      metricPattern: metric.value.trim(), startMs, endMs, aggregation, tags: tagFilter,
      interval: aggregation === undefined ? undefined : interval.value.trim() || auto.text,
      groupBy: groupBy.value.trim() === '' ? undefined : groupBy.value.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    };
    status.textContent = 'running…';
    status.className = 'status';
    try {
      const reaggregate = aggregation === undefined && wasm.checked ? { aggregation: 'avg' as const, intervalMs: auto.ms } : undefined;
      const r = await api.query(q, reaggregate);
      last = r.series;
      const lines: ChartSeries[] = r.series.map((s) => ({ label: seriesLabel(s.metricId, s.tags), timestamps: s.timestamps, values: s.values }));
      const overlays: string[] = [];
      const base = new URLSearchParams({ metric_pattern: q.metricPattern, end_time: String(Math.round(endMs)) });
      for (const [k, v] of Object.entries(tagFilter)) base.set(`tag.${k}`, v);
      // Each overlay on its own: one the analytics API refuses (too little history) leaves the
      // chart and the other overlay in place and says why.
      if (anomalies.checked) try {
        const a = await api.get<{ series: Array<{ metric_id: string; tags: Record<string, string>; anomaly_timestamps: number[]; timestamps: number[]; values: number[] }> }>(`/api/v1/analytics/anomalies?${base}&window_hours=${Math.max(1 / 60, (endMs - startMs) / 3600_000)}`);
        for (const s of a.series) {
          const flagged = new Set(s.anomaly_timestamps);
          const idx = s.timestamps.map((t, i) => (flagged.has(t) ? i : -1)).filter((i) => i >= 0);
          lines.push({ label: `anomalies ${seriesLabel(s.metric_id, s.tags)}`, timestamps: idx.map((i) => s.timestamps[i]!), values: idx.map((i) => s.values[i]!), style: 'points' });
        }
        overlays.push(`${a.series.reduce((n, s) => n + s.anomaly_timestamps.length, 0)} anomalies flagged`);
      } catch (err) {
        overlays.push(`anomalies: ${(err as Error).message}`);
      }
      if (forecast.checked) try {
        // A quarter of the range ahead, at most 200 buckets of the chart's interval.
        const step = q.interval ?? auto.text;
        const horizonMs = Math.min(Math.round((endMs - startMs) / 4), 200 * parseInterval(step));
        const f = await api.get<{ series: Array<{ metric_id: string; tags: Record<string, string>; points: Array<{ timestamp: number; value: number; lower: number; upper: number }> }> }>(`/api/v1/analytics/forecast?${base}&interval=${step}&horizon=${Math.max(1, Math.round(horizonMs / 1000))}s`);
        for (const s of f.series) {
          const label = seriesLabel(s.metric_id, s.tags);
          const ts = s.points.map((p) => p.timestamp);
          lines.push({ label: `forecast ${label}`, timestamps: ts, values: s.points.map((p) => p.value), style: 'dashed' },
            { label: `lower ${label}`, timestamps: ts, values: s.points.map((p) => p.lower), style: 'dashed' },
            { label: `upper ${label}`, timestamps: ts, values: s.points.map((p) => p.upper), style: 'dashed' });
        }
        overlays.push('forecast with its interval');
      } catch (err) {
        overlays.push(`forecast: ${(err as Error).message}`);
      }
      chart.setSeries(lines);
      const points = r.series.reduce((n, s) => n + s.timestamps.length, 0);
      status.textContent = `${r.series.length} series, ${points} points · ${r.bytes} B binary · decoded in ${r.decodeMs.toFixed(2)} ms${reaggregate ? `, re-aggregated in WASM in ${r.aggregateMs.toFixed(2)} ms` : ''}${overlays.length > 0 ? ` · ${overlays.join(', ')}` : ''}`;
      const rows = r.series.flatMap((s) => Array.from(s.timestamps, (t, i) => ({ s, t, v: s.values[i]! }))).slice(0, TABLE_ROWS);
      tableEl.replaceChildren(table(['Series', 'Time', 'Value'], rows, (row) => [seriesLabel(row.s.metricId, row.s.tags), formatTime(row.t), String(row.v)], { 'data-testid': 'explorer-table' }));
      if (reaggregate === undefined) {
        const c = await compareJsonAndBinary(api, q);
        check.textContent = c.same ? `JSON and binary answers carry identical numbers (${c.points} points; ${c.jsonBytes} B JSON vs ${c.binaryBytes} B binary)` : `JSON and binary differ: ${c.detail}`;
        check.dataset.same = String(c.same);
      }
    } catch (err) {
      status.textContent = (err as Error).message;
      status.className = 'status error';
    }
  };

  const download = (): void => {
    const url = URL.createObjectURL(new Blob([csv(last)], { type: 'text/csv' }));
    const a = h('a', { href: url, download: 'emms-query.csv' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };

  const form = h('form', { class: 'explorer-form', onsubmit: (e: Event) => {
    e.preventDefault();
    void run();
  } },
  h('label', {}, 'Metric', metric), datalist, h('label', {}, 'Tags', tags), tagList, h('label', {}, 'Aggregation', agg), h('label', {}, 'Interval', interval), h('label', {}, 'Group by', groupBy),
  h('label', { class: 'check' }, anomalies, 'Anomalies'), h('label', { class: 'check' }, forecast, 'Forecast'), h('label', { class: 'check' }, wasm, 'Re-aggregate raw in WASM'),
  h('button', { type: 'submit' }, 'Run'), h('button', { type: 'button', onclick: download }, 'CSV'));
  if (params.get('metric') !== null) queueMicrotask(() => void run());
  return h('div', { class: 'view' }, h('h2', {}, 'Explorer'), form, status, chartEl, check, tableEl);
}
