/**
 * The data the PromQL conformance tests load into both Prometheus and EMMS: generated from a
 * fixed seed, 2 hours from T0 at a 15 s scrape interval with ±200 ms jitter. Shapes chosen to
 * exercise the semantics that differ between engines: counters with resets (rate, increase),
 * gauges crossing zero, histogram buckets, a series with a 20-minute gap (lookback), a sparse
 * series (extrapolation thresholds), and a metric id with dots (`node.cpu.usage`, queried as
 * `node_cpu_usage`).
 */
import { mulberry32 } from '../../bench/data_shapes.js';

/** 2026-01-01T00:00:00Z, in Unix seconds. */
export const T0 = 1_767_225_600;
export const DURATION_S = 2 * 3600;

export interface DatasetSeries {
  /** EMMS metric id. */
  metricId: string;
  /** The Prometheus name (what the OpenMetrics file writes). */
  promName: string;
  metricType: 'counter' | 'gauge';
  tags: Record<string, string>;
  timestamps: number[];
  values: number[];
}

function scrapeTimes(rand: () => number, everyS: number, skip?: (s: number) => boolean): number[] {
  const out: number[] = [];
  for (let s = 0; s <= DURATION_S; s += everyS) {
    if (skip?.(s) === true) continue;
    out.push((T0 + s) * 1000 + Math.round((rand() - 0.5) * 400));
  }
  return out;
}

export function buildDataset(seed = 42): DatasetSeries[] {
  const rand = mulberry32(seed);
  const series: DatasetSeries[] = [];
  for (const instance of ['i0', 'i1', 'i2', 'i3']) {
    for (const code of ['200', '500']) {
      const timestamps = scrapeTimes(rand, 15);
      let v = Math.floor(rand() * 1000);
      const resetAt = (instance === 'i1' && code === '200') || (instance === 'i2' && code === '500') ? Math.floor(timestamps.length / 2) : -1;
      const values = timestamps.map((_, k) => {
        if (k === resetAt) v = Math.floor(rand() * 5);
        else v += Math.floor(rand() * (code === '200' ? 40 : 4));
        return v;
      });
      series.push({ metricId: 'http_requests_total', promName: 'http_requests_total', metricType: 'counter', tags: { code, instance, job: 'api' }, timestamps, values });
    }
  }
  for (let h = 0; h < 5; h++) {
    const timestamps = scrapeTimes(rand, 15);
    let v = h === 4 ? -5 : 30 + h * 10;
    const values = timestamps.map(() => {
      v = Math.round((v + (rand() - 0.5) * 8) * 1000) / 1000;
      return v;
    });
    series.push({ metricId: 'node.cpu.usage', promName: 'node_cpu_usage', metricType: 'gauge', tags: { host: `h${h}`, region: h % 2 === 0 ? 'eu' : 'us' }, timestamps, values });
  }
  for (const instance of ['i0', 'i1']) {
    const timestamps = scrapeTimes(rand, 15);
    const bounds = ['0.1', '0.5', '1', '+Inf'];
    const counts = [0, 0, 0, 0];
    const perBucket = bounds.map(() => [] as number[]);
    for (let k = 0; k < timestamps.length; k++) {
      const observations = Math.floor(rand() * 10);
      for (let o = 0; o < observations; o++) {
        const x = rand() * 1.5;
        for (let b = 0; b < bounds.length; b++) if (b === bounds.length - 1 || x <= Number(bounds[b])) counts[b]!++;
      }
      bounds.forEach((_, b) => perBucket[b]!.push(counts[b]!));
    }
    bounds.forEach((le, b) => {
      series.push({ metricId: 'request_duration_seconds_bucket', promName: 'request_duration_seconds_bucket', metricType: 'counter', tags: { instance, job: 'api', le }, timestamps, values: perBucket[b]! });
    });
  }
  {
    const timestamps = scrapeTimes(rand, 15, (s) => s >= 3000 && s < 4200);
    let v = 21;
    const values = timestamps.map(() => (v = Math.round((v + (rand() - 0.5)) * 100) / 100));
    series.push({ metricId: 'temperature', promName: 'temperature', metricType: 'gauge', tags: { sensor: 's0' }, timestamps, values });
  }
  {
    const timestamps = scrapeTimes(rand, 120);
    let v = 0;
    const values = timestamps.map(() => (v += Math.floor(rand() * 7)));
    series.push({ metricId: 'queue_depth', promName: 'queue_depth', metricType: 'gauge', tags: { q: 'a' }, timestamps, values });
  }
  return series;
}

/** The dataset as OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`. */
export function toOpenMetrics(series: readonly DatasetSeries[]): string {
  const lines: string[] = [];
  // OpenMetrics requires a metric family's samples to be contiguous; the dataset groups them.
  for (const s of series) {
    const labels = Object.entries(s.tags).map(([k, v]) => `${k}="${v}"`).join(',');
    s.timestamps.forEach((t, k) => lines.push(`${s.promName}{${labels}} ${s.values[k]} ${(t / 1000).toFixed(3)}`));
  }
  lines.push('# EOF');
  return `${lines.join('\n')}\n`;
}
