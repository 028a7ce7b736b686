/**
 * The two standard queries of the server benchmarks, over the TSBS devops data that
 * tsbs_column_stream.ts loads (100 hosts from TSBS_DEFAULT_START_MS, `hours` long):
 *   - the 1 h raw query of one series (cpu.usage_user of host_42, the hour before the last);
 *   - the hourly average of 100 series (cpu.usage_user of every host) over the whole range.
 * Shared by server_query.bench.ts and storage_backends.bench.ts so both time the same requests,
 * and each checks the answers' shape before it times anything.
 */
import { TSBS_DEFAULT_START_MS } from '../workload/tsbs_devops.js';
import { TICKS_PER_HOUR } from './tsbs_column_stream.js';

const HOUR_MS = 3_600_000;

export interface StandardQueries {
  rawUrl: string;
  aggUrl: string;
  /** Points the aggregate scans (100 series × hours × 360). */
  aggPoints: number;
}

export function standardQueries(base: string, hours: number): StandardQueries {
  const start = TSBS_DEFAULT_START_MS;
  const end = start + hours * HOUR_MS;
  const rawUrl = `${base}/api/v1/query?${new URLSearchParams({
    metric_pattern: 'cpu.usage_user', 'tag.hostname': 'host_42',
    start_time: String(end - 2 * HOUR_MS), end_time: String(end - HOUR_MS),
  })}`;
  const aggUrl = `${base}/api/v1/query?${new URLSearchParams({
    metric_pattern: 'cpu.usage_user', aggregation: 'avg', interval: '1h', start_time: String(start), end_time: String(end),
  })}`;
  return { rawUrl, aggUrl, aggPoints: 100 * hours * TICKS_PER_HOUR };
}

/** Throws unless both queries answer what the loaded data holds; returns the aggregate's points scanned. */
export async function checkStandardAnswers(get: (url: string) => Promise<Response>, q: StandardQueries, hours: number): Promise<number> {
  const raw = (await (await get(q.rawUrl)).json()) as { series: Array<{ points: unknown[] }> };
  if (raw.series.length !== 1 || raw.series[0]!.points.length !== TICKS_PER_HOUR) {
    throw new Error(`raw query returned ${raw.series.length} series / ${raw.series[0]?.points.length} points; expected 1 / ${TICKS_PER_HOUR}`);
  }
  const agg = (await (await get(q.aggUrl)).json()) as { series: Array<{ points: unknown[] }>; stats: { points_scanned: number } };
  if (agg.series.length !== 100 || agg.series.some((s) => s.points.length !== hours)) {
    throw new Error(`aggregate query returned ${agg.series.length} series; expected 100 × ${hours} buckets`);
  }
  return agg.stats.points_scanned;
}
