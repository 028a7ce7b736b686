/**
 * One metric panel: a title, the latest value in readable units, a chart over the page's time
 * range (bucketed by the query API, decoded from the binary form in the worker), live points
 * appended as the server pushes them, and a link that opens the same query in the explorer.
 */
import type { Aggregation } from '../../src/model/api.js';
import type { Api } from './api.js';
import { TimeChart } from './chart.js';
import type { DecodedSeries } from './columnar.js';
import { h } from './dom.js';
import type { LiveConnection, LivePoint } from './live.js';
import { intervalFor, resolve, type TimeRange } from './time_range.js';
import { formatValue, type Unit } from './units.js';

export interface PanelDef {
  id: string;
  title: string;
  metric: string;
  aggregation: Aggregation;
  unit: Unit;
  tags?: Record<string, string>;
  groupBy?: string[];
}

export interface ViewContext {
  api: Api;
  live: LiveConnection;
  range: TimeRange;
  /** Registers a clean-up to run when the view is left. */
  onLeave(fn: () => void): void;
}

export function seriesLabel(metricId: string, tags: Record<string, string>): string {
  const t = Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k}=${v}`).join(',');
  return t === '' ? metricId : `${metricId}{${t}}`;
}

export function explorerHash(def: Pick<PanelDef, 'metric' | 'aggregation' | 'tags' | 'groupBy'>, range: TimeRange): string {
  const p = new URLSearchParams({ metric: def.metric, agg: def.aggregation, range: range.key });
  if (range.key === 'custom' && range.fromMs !== undefined && range.toMs !== undefined) {
    p.set('from', String(range.fromMs));
    p.set('to', String(range.toMs));
  }
  for (const [k, v] of Object.entries(def.tags ?? {})) p.append('tag', `${k}=${v}`);
  if (def.groupBy !== undefined) p.set('group_by', def.groupBy.join(','));
  return `#/explore?${p}`;
}

/** Latest finite value of a series, or undefined. */
function lastValue(s: { values: ArrayLike<number> }): number | undefined {
  for (let i = s.values.length - 1; i >= 0; i--) if (Number.isFinite(s.values[i]!)) return s.values[i]!;
  return undefined;
}

export function renderPanel(def: PanelDef, ctx: ViewContext): HTMLElement {
  const stat = h('output', { class: 'stat', 'data-testid': `stat-${def.id}` }, '…');
  const chartEl = h('div', { class: 'chart', 'data-testid': `chart-${def.id}` });
  const note = h('small', { class: 'muted' });
  const card = h('section', { class: 'panel', 'data-panel': def.id, 'aria-label': def.title },
    h('header', {}, h('h3', {}, def.title), h('a', { href: explorerHash(def, ctx.range), class: 'drill', title: 'Open in the explorer' }, 'Explore →')),
    stat, chartEl, note);
  const chart = new TimeChart(chartEl, def.id, def.unit);
  ctx.onLeave(() => chart.destroy());

  const showStat = (v: number | undefined): void => {
    stat.textContent = formatValue(v, def.unit);
    if (v !== undefined) stat.dataset.value = String(v);
  };

  const { startMs, endMs, live } = resolve(ctx.range);
  const interval = intervalFor(endMs - startMs);
  void ctx.api.query({ metricPattern: def.metric, startMs, endMs, aggregation: def.aggregation, interval: interval.text, tags: def.tags, groupBy: def.groupBy }).then(
    (r) => {
      const series = [...r.series].sort((a, b) => (seriesLabel(a.metricId, a.tags) < seriesLabel(b.metricId, b.tags) ? -1 : 1));
      chart.setSeries(series.map((s: DecodedSeries) => ({ label: seriesLabel(s.metricId, s.tags), timestamps: s.timestamps, values: s.values })), [startMs, endMs]);
      showStat(series.length === 0 ? undefined : lastValue(series[0]!));
      card.dataset.series = String(series.length);
      card.dataset.loaded = 'true';
      // For bench/dashboard_first_chart.ts: when the page first showed a chart with data.
      if (series.length > 0 && performance.getEntriesByName('emms:first-chart').length === 0) performance.mark('emms:first-chart');
      note.textContent = series.length === 0 ? 'no data in this range' : `${series.length} series · ${interval.text} ${def.aggregation} · ${r.bytes} B`;
    },
    (err: Error) => {
      card.dataset.loaded = 'error';
      stat.textContent = '–';
      note.textContent = err.message;
      note.className = 'error';
    },
  );

  // Live points are raw values; they extend the bucketed history at their own timestamps.
  // Grouped and re-aggregated panels (group_by, rate) keep to their refresh instead.
  if (live && def.groupBy === undefined && def.aggregation !== 'rate' && def.aggregation !== 'count') {
    const stop = ctx.live.subscribe(def.metric, def.tags, (points: LivePoint[]) => {
      let first: number | undefined;
      for (const p of points) {
        const v = typeof p.v === 'number' ? p.v : Number(p.v);
        const label = seriesLabel(p.metric_id, p.tags);
        if (chart.append(label, p.t, v) && chart.lines[0]?.label === label) first = v;
      }
      if (first !== undefined) {
        showStat(first);
        card.dataset.livePoints = String(Number(card.dataset.livePoints ?? 0) + 1);
      }
    });
    ctx.onLeave(stop);
  }
  return card;
}

/** A figure tile (no chart): a label and a formatted value, with the raw value in data-value. */
export function tile(id: string, label: string, value: number | string | undefined, unit: Unit, hint?: string): HTMLElement {
  return h('div', { class: 'tile', 'data-testid': `tile-${id}`, ...(value === undefined ? {} : { 'data-value': String(value) }) },
    h('span', { class: 'tile-label' }, label), h('strong', {}, typeof value === 'string' ? value : formatValue(value, unit)), hint === undefined ? null : h('small', { class: 'muted' }, hint));
}
