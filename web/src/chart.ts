/**
 * Time-series charts on uPlot: series of different timestamps are joined on the union of
 * their timestamps (bucketed queries share bucket starts, so the union is small), colours come
 * from the theme's CSS variables, the width follows the container, and live points append.
 *
 * Every chart registers its data under its panel id in `chartRegistry`, which the page exposes
 * as `window.__emms.charts()` so end-to-end tests compare what is drawn with the API.
 */
import uPlot from 'uplot';
import { formatValue, type Unit } from './units.js';

export interface ChartSeries {
  label: string;
  timestamps: ArrayLike<number>;
  values: ArrayLike<number>;
  /** Overlays: flagged points drawn as dots, forecast bands dashed. */
  style?: 'line' | 'points' | 'dashed';
}

/** Most lines one chart draws; the rest would be unreadable (the table shows them all). */
export const MAX_LINES = 12;
/** Most points a live chart keeps per line before dropping the oldest. */
const MAX_LIVE_POINTS = 5000;

export const chartRegistry = new Map<string, TimeChart>();

function palette(): string[] {
  const style = getComputedStyle(document.documentElement);
  return Array.from({ length: 8 }, (_, i) => style.getPropertyValue(`--series-${i}`).trim() || '#888');
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

export class TimeChart {
  readonly #el: HTMLElement;
  readonly #unit: Unit;
  readonly #height: number;
  #plot: uPlot | undefined;
  #observer: ResizeObserver | undefined;
  /** Per line: timestamps (ms) and values, kept for live appends and for tests. */
  lines: Array<{ label: string; t: number[]; v: number[]; style?: ChartSeries['style'] }> = [];

  /** The x range always shown (seconds), so one point or none still gets a sensible axis. */
  #span: [number, number] | undefined;

  constructor(el: HTMLElement, readonly id: string, unit: Unit, height = 180) {
    this.#el = el;
    this.#unit = unit;
    this.#height = height;
    chartRegistry.set(id, this);
  }

  setSeries(series: readonly ChartSeries[], spanMs?: readonly [number, number]): void {
    this.#span = spanMs === undefined ? undefined : [spanMs[0] / 1000, spanMs[1] / 1000];
    this.lines = series.slice(0, MAX_LINES).map((s) => ({ label: s.label, t: Array.from(s.timestamps), v: Array.from(s.values), style: s.style }));
    this.#render();
  }

  /** A live point; ignored unless newer than the line's last. Returns whether it was drawn. */
  append(label: string, t: number, v: number): boolean {
    let line = this.lines.find((l) => l.label === label);
    if (line === undefined) {
      if (this.lines.length >= MAX_LINES) return false;
      line = { label, t: [], v: [] };
      this.lines.push(line);
    }
    const last = line.t[line.t.length - 1];
    if (last !== undefined && t <= last) return false;
    line.t.push(t);
    line.v.push(v);
    if (line.t.length > MAX_LIVE_POINTS) {
      line.t.shift();
      line.v.shift();
    }
    this.#render();
    return true;
  }

  destroy(): void {
    this.#observer?.disconnect();
    this.#plot?.destroy();
    if (chartRegistry.get(this.id) === this) chartRegistry.delete(this.id);
  }

  #aligned(): uPlot.AlignedData {
    const xs = [...new Set(this.lines.flatMap((l) => l.t))].sort((a, b) => a - b);
    const index = new Map(xs.map((x, i) => [x, i]));
    const ys = this.lines.map((l) => {
      const col: Array<number | null> = new Array<number | null>(xs.length).fill(null);
      l.t.forEach((t, i) => {
        const v = l.v[i]!;
        col[index.get(t)!] = Number.isFinite(v) ? v : null;
      });
      return col;
    });
    return [xs.map((x) => x / 1000), ...ys] as uPlot.AlignedData;
  }

  /** Legend names: when every line is one metric, its tags alone say which line is which. */
  #legendNames(): string[] {
    const metricOf = (label: string): string => label.split('{')[0]!;
    const first = this.lines[0] === undefined ? '' : metricOf(this.lines[0].label);
    const shared = this.lines.length > 1 && this.lines.every((l) => metricOf(l.label) === first && l.label.includes('{'));
    return this.lines.map((l) => (shared ? l.label.slice(first.length) : l.label));
  }

  #render(): void {
    const data = this.#aligned();
    const width = Math.max(240, this.#el.clientWidth || 600);
    if (this.#plot !== undefined && this.#plot.series.length === this.lines.length + 1) {
      this.#plot.setData(data);
      return;
    }
    this.#plot?.destroy();
    const colours = palette();
    const axis = { stroke: cssVar('--muted'), grid: { stroke: cssVar('--grid'), width: 1 }, ticks: { stroke: cssVar('--grid'), width: 1 } };
    this.#plot = new uPlot({
      width,
      height: this.#height,
      legend: { show: this.lines.length <= 8 },
      cursor: { drag: { x: true, y: false } },
      scales: {
        // All-zero data would get uPlot's default 0–100 range: 10,000 % for a ratio.
        y: { range: (_u, min, max) => ((max ?? 0) <= 0 && (min ?? 0) >= 0 ? [0, this.#unit === 'ratio' ? 0.01 : 1] : uPlot.rangeNum(min ?? 0, max ?? 1, 0.1, true)) },
        x: { time: true, range: (_u, min, max) => (this.#span === undefined ? [min, max] : [Math.min(min ?? this.#span[0], this.#span[0]), Math.max(max ?? this.#span[1], this.#span[1])]) } },
      axes: [axis, { ...axis, size: 84, values: (_u, ticks) => ticks.map((t) => formatValue(t, this.#unit)) }],
      series: [
        {},
        ...this.#legendNames().map((name, i) => ({
          label: name,
          stroke: colours[i % colours.length],
          width: this.lines[i]!.style === 'points' ? 0 : 1.5,
          ...(this.lines[i]!.style === 'dashed' ? { dash: [6, 4] } : {}),
          points: { show: this.lines[i]!.style === 'points', size: 7 },
          spanGaps: this.lines[i]!.style !== 'points',
          value: (_u: uPlot, v: number | null) => formatValue(v, this.#unit),
        })),
      ],
    }, data, this.#el);
    this.#observer ??= new ResizeObserver(() => {
      const w = Math.max(240, this.#el.clientWidth);
      if (this.#plot !== undefined && Math.abs(this.#plot.width - w) > 4) this.#plot.setSize({ width: w, height: this.#height });
    });
    this.#observer.observe(this.#el);
  }
}
