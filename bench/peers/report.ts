/**
 * What `npm run bench:peers` prints and draws, as pure functions of its measurements (so the
 * table and the plot are unit-tested without starting a server): the side-by-side markdown
 * table with per-round ratios against the issue's targets, and the SVG of query latency
 * against time since ingest ended. The SVG is written by hand: one plot does not justify a
 * charting dependency, and a text file diffs in review.
 */

/** Which way a ratio EMMS / VM must go to meet its target. */
export type TargetSense = 'at-least' | 'at-most';

export interface ComparisonRow {
  label: string;
  unit: string;
  /** One figure per round (NaN: not measured in that round). */
  vm: readonly number[];
  emms: readonly number[];
  target?: { sense: TargetSense; ratio: number };
  /** Digits after the point for the figures. */
  digits: number;
}

export function median(values: readonly number[]): number {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (finite.length === 0) return NaN;
  const mid = finite.length >> 1;
  return finite.length % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
}

function figure(v: number, digits: number): string {
  if (!Number.isFinite(v)) return '–';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** EMMS / VM of each round; NaN where either is missing. */
export function roundRatios(row: ComparisonRow): number[] {
  const rounds = Math.max(row.vm.length, row.emms.length);
  return Array.from({ length: rounds }, (_, i) => {
    const vm = row.vm[i] ?? NaN;
    const emms = row.emms[i] ?? NaN;
    return Number.isFinite(vm) && Number.isFinite(emms) && vm !== 0 ? emms / vm : NaN;
  });
}

/** 'yes' when every measured round meets the target, 'no' when one misses, '–' without data. */
export function targetMet(row: ComparisonRow): string {
  if (row.target === undefined) return '';
  const ratios = roundRatios(row).filter((r) => Number.isFinite(r));
  if (ratios.length === 0) return '–';
  const { sense, ratio } = row.target;
  return ratios.every((r) => (sense === 'at-least' ? r >= ratio : r <= ratio)) ? 'yes' : 'no';
}

/** The side-by-side table (GitHub markdown): every round's figure, every round's ratio. */
export function renderComparisonTable(rows: readonly ComparisonRow[]): string {
  const lines = [
    '| | VictoriaMetrics | EMMS | EMMS / VM | target | met |',
    '|---|---|---|---|---|---|',
  ];
  for (const row of rows) {
    const rounds = (xs: readonly number[]): string => xs.map((v) => figure(v, row.digits)).join(' / ');
    const ratios = roundRatios(row).map((r) => (Number.isFinite(r) ? `${r.toFixed(2)}×` : '–')).join(' / ');
    const target = row.target === undefined ? '' : `${row.target.sense === 'at-least' ? '≥' : '≤'} ${row.target.ratio}×`;
    lines.push(`| ${row.label}${row.unit === '' ? '' : `, ${row.unit}`} | ${rounds(row.vm)} | ${rounds(row.emms)} | ${ratios} | ${target} | ${targetMet(row)} |`);
  }
  return lines.join('\n');
}

export interface LatencyLine {
  label: string;
  color: string;
  dashed?: boolean;
  /** [seconds since ingest ended, latency ms]; non-finite latencies (failed queries) are gaps. */
  points: ReadonlyArray<readonly [number, number]>;
}

export interface SvgOptions {
  title: string;
  width?: number;
  height?: number;
}

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** The smallest 1, 2 or 5 × 10^k at or above `v` (axis ends on a round number). */
export function niceCeil(v: number): number {
  if (!(v > 0) || !Number.isFinite(v)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v * (1 - 1e-12)) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  return String(Math.round(v * 10) / 10);
}

/** A linear axis from 0 to a multiple of a 1/2/5 step, about 8 steps or fewer. */
export function linearAxis(max: number): { end: number; step: number } {
  const step = niceCeil(max / 8);
  return { end: Math.max(step, Math.ceil(max / step - 1e-9) * step), step };
}

/** Decades covering [min, max] for a log axis (latencies span 5 ms to seconds after a burst). */
export function logAxis(min: number, max: number): { lo: number; hi: number } {
  const lo = 10 ** Math.floor(Math.log10(min > 0 && Number.isFinite(min) ? min : 1));
  const hi = 10 ** Math.ceil(Math.log10(max > 0 && Number.isFinite(max) ? max : 10));
  return { lo, hi: hi > lo ? hi : lo * 10 };
}

/**
 * Line plot of latency against seconds since ingest ended: x linear from 0, y logarithmic
 * (one slow sample right after a burst would otherwise flatten every other line).
 */
export function renderLatencySvg(lines: readonly LatencyLine[], options: SvgOptions): string {
  const width = options.width ?? 760;
  const height = options.height ?? 380;
  const m = { left: 60, right: 200, top: 36, bottom: 46 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;
  const all = lines.flatMap((l) => l.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && y > 0));
  const x = linearAxis(Math.max(1, ...all.map(([px]) => px)));
  const y = logAxis(Math.min(...all.map(([, py]) => py)), Math.max(...all.map(([, py]) => py)));
  const decades = Math.log10(y.hi / y.lo);
  const sx = (v: number): number => m.left + (v / x.end) * plotW;
  const sy = (v: number): number => m.top + plotH - (Math.log10(Math.min(y.hi, Math.max(y.lo, v)) / y.lo) / decades) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${m.left}" y="20" font-size="14" font-weight="bold">${escapeXml(options.title)}</text>`,
  ];
  for (let d = y.lo; d <= y.hi * (1 + 1e-9); d *= 10) {
    out.push(`<line x1="${m.left}" y1="${fmt(sy(d))}" x2="${m.left + plotW}" y2="${fmt(sy(d))}" stroke="#d0d0d0"/>`);
    out.push(`<text x="${m.left - 6}" y="${fmt(sy(d) + 4)}" text-anchor="end">${d >= 1 ? String(Math.round(d)) : String(d)}</text>`);
    for (const minor of [2, 5]) {
      if (d * minor < y.hi) out.push(`<line x1="${m.left}" y1="${fmt(sy(d * minor))}" x2="${m.left + plotW}" y2="${fmt(sy(d * minor))}" stroke="#f0f0f0"/>`);
    }
  }
  for (let v = 0; v <= x.end + 1e-9; v += x.step) {
    out.push(`<text x="${fmt(sx(v))}" y="${m.top + plotH + 16}" text-anchor="middle">${fmt(v)}</text>`);
  }
  out.push(`<line x1="${m.left}" y1="${m.top + plotH}" x2="${m.left + plotW}" y2="${m.top + plotH}" stroke="#333"/>`);
  out.push(`<line x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${m.top + plotH}" stroke="#333"/>`);
  out.push(`<text x="${m.left + plotW / 2}" y="${height - 8}" text-anchor="middle">seconds since ingest ended</text>`);
  out.push(`<text transform="translate(16 ${m.top + plotH / 2}) rotate(-90)" text-anchor="middle">query latency, ms (log scale)</text>`);
  lines.forEach((line, k) => {
    const dash = line.dashed === true ? ' stroke-dasharray="6 4"' : '';
    // A failed sample breaks the line rather than being drawn as zero.
    let run: string[] = [];
    const flush = (): void => {
      if (run.length > 1) out.push(`<polyline fill="none" stroke="${escapeXml(line.color)}" stroke-width="1.8"${dash} points="${run.join(' ')}"/>`);
      else if (run.length === 1) out.push(`<circle cx="${run[0]!.split(',')[0]}" cy="${run[0]!.split(',')[1]}" r="2" fill="${escapeXml(line.color)}"/>`);
      run = [];
    };
    for (const [px, py] of line.points) {
      if (Number.isFinite(px) && Number.isFinite(py) && py > 0) run.push(`${fmt(sx(px))},${fmt(sy(py))}`);
      else flush();
    }
    flush();
    const ly = m.top + 10 + k * 20;
    const lx = m.left + plotW + 14;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 24}" y2="${ly}" stroke="${escapeXml(line.color)}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 30}" y="${ly + 4}">${escapeXml(line.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
